// vigil's Prometheus metrics. The only place that includes prometheus-cpp.
// Served over HTTP on a configured address (127.0.0.1:9774 by default).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "daemon/ports/error.h"
#include "exporters/hooks.h"
#include "exporters/webhook.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace vigil::exporters {

// Where refused input comes from (vigil_bad_input_total's `source`).
inline constexpr const char* kBadInputSources[] = {"cluster",        "control",    "domain_xml",
                                                   "heartbeat_slot", "mountstats", "state_file"};

class AllFamilies;
class MetricsServer;

struct MetricsOptions {
    bool serve = true;  // false: keep the registry, open no port
    std::string host = "127.0.0.1";
    std::uint16_t port = 9774;
    std::string version;
};

// Totals from the sunrpc probes; zero while they are unavailable.
struct SunrpcMetrics {
    std::uint64_t major_timeouts = 0;
    std::uint64_t minor_timeouts = 0;
    std::uint64_t retransmits = 0;
    std::uint64_t call_errors = 0;
};

struct WatchdogMetrics {
    bool armed = false;
    double timeout_seconds = 0;
    double since_last_pet_seconds = 0;
    double time_left_seconds = 0;
    std::uint64_t pets = 0;
    std::vector<std::pair<std::string, std::uint64_t>> withheld;  // by reason
};

struct NfsMountMetrics {
    std::uint64_t operations = 0;
    std::uint64_t retransmissions = 0;
    std::uint64_t major_timeouts = 0;
    std::uint64_t unanswered = 0;
    std::string state;
};

// Cluster mode's view of the cluster, as labels and values (the host mapping
// makes it from the engine's snapshot at every heartbeat). Peers are the
// configured hosts and VMs the HA VMs the core knows: both bounded by the
// configuration, not by traffic.
struct PeerMetrics {
    std::string peer;  // its configured name
    std::string cls;   // one of ClusterMetrics::peer_classes
    double last_sign_of_life_age_seconds = 0;
    bool in_membership = false;
};

struct VmMetrics {
    std::string vm;
    std::string state;  // its qemu here: one of ClusterMetrics::vm_states
    bool running_here = false;
};

struct ClusterMetrics {
    bool quorate = false;
    std::size_t members = 0;  // hosts in the last membership view, this one included
    std::vector<PeerMetrics> peers;
    std::vector<VmMetrics> vms;
    std::vector<std::pair<std::string, std::size_t>> alerts_active;  // every kind, by kind
    std::vector<std::string> peer_classes;  // every class: one is 1, the others 0
    std::vector<std::string> vm_states;
};

class Metrics {
  public:
    [[nodiscard]] static std::expected<std::unique_ptr<Metrics>, Error> make(
        const MetricsOptions& options);
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    void set_probe_up(const std::string& probe, bool up);
    // The kernel keeps absolute error counts; this advances the counter to `total`.
    void set_block_io_errors(const std::string& device, const std::string& op,
                             const std::string& error, std::uint64_t total);
    void set_sunrpc(const SunrpcMetrics& sunrpc);
    void set_block_inflight(const std::string& device, std::uint32_t requests,
                            double oldest_seconds);
    // Log2 buckets from the kernel: slots[k] counts requests of [2^k, 2^(k+1)) us.
    void set_block_latency(const std::string& device, const std::array<std::uint64_t, 32>& slots,
                           std::uint64_t sum_us);
    // Exactly one of the states is 1 for each device.
    void set_storage_state(const std::string& device, const std::string& state,
                           const std::vector<std::string>& all_states);
    void set_writeback_errors(const std::string& device, const std::string& error,
                              std::uint64_t total);
    void set_watchdog(const WatchdogMetrics& watchdog);
    // Exactly one of the states is 1 for each interface.
    void set_link_state(const std::string& interface, const std::string& state,
                        const std::vector<std::string>& all_states);
    void set_tx_timeouts(const std::string& interface, std::uint64_t total);
    // Per NFS mount: the client's cumulative RPC counters (a remount starts
    // them again; the exported counters carry on), the requests unanswered,
    // and exactly one of the states is 1.
    void set_nfs_mount(const std::string& mount, const NfsMountMetrics& m,
                       const std::vector<std::string>& all_states);
    // An unmounted mount forgotten: its series go, so mounts that come and go
    // do not pile up.
    void forget_nfs_mount(const std::string& mount, const std::vector<std::string>& all_states);
    // Input from outside that was refused, by source: one of kBadInputSources,
    // each served from 0 (a dashboard shows "none refused", not "no data").
    void count_bad_input(const std::string& source);
    // Cluster mode: one refused peer record (source "cluster" or "heartbeat_slot"),
    // by core::name(Refusal); every pair is served at 0 from the start. Counted as
    // bad input too (count_bad_input): this is its breakdown by reason.
    void count_refused_record(const std::string& source, std::string_view reason);
    // Cluster mode: one decision of the core, by kind (core::name(DecisionKind));
    // one outcome of an action the executor carried out, by action and outcome
    // (core::name of each: 3 x 4 series at most); one status send that found
    // corosync's queue full.
    void count_decision(const std::string& kind, const std::string& reason);
    void count_action_outcome(const std::string& action, const std::string& outcome);
    void count_cluster_send_busy();
    // 1 when cluster mode runs on a corosync without knet crypto because
    // cluster.allow_unauthenticated accepts it; 0 otherwise.
    void set_cluster_unauthenticated(bool unauthenticated);
    // One hook run ended (or was dropped). Every result is served from the
    // start, at 0.
    void count_hook_run(HookResult result);
    // One webhook request answered. Every result is served from the start.
    void count_webhook_request(WebhookResult result);
    // Cluster mode: quorum, membership, peers, HA VMs and alerts as the core
    // sees them now. Series of peers and VMs no longer given are removed.
    void set_cluster(const ClusterMetrics& cluster);
    // Cluster mode: one write of this host's heartbeat slot completed, and
    // how long it took from submit; one write or read (`op`) that failed.
    void observe_slot_write(double seconds);
    void count_slot_failure(const std::string& op);

    // Until this is called, /metrics answers 503: a scrape gets either every
    // family with every series the first collection makes, or no sample at
    // all, never a partial set (absent() rules would flap at each restart).
    // The port is bound by make(), so a bad address still fails the start.
    void collection_complete();

    // The exposition text, as served on /metrics.
    [[nodiscard]] std::string render() const;

  private:
    Metrics() = default;
    // The series every cluster-mode vigild serves from its first scrape.
    void cluster_series();
    std::shared_ptr<prometheus::Registry> registry_;
    std::shared_ptr<AllFamilies> all_;  // what is served: the registry and kernel histograms
    std::unique_ptr<MetricsServer> server_;
    prometheus::Family<prometheus::Gauge>* probe_up_ = nullptr;
    prometheus::Family<prometheus::Counter>* block_io_errors_ = nullptr;
    prometheus::Family<prometheus::Counter>* bad_input_ = nullptr;
    prometheus::Family<prometheus::Counter>* refused_records_ = nullptr;
    prometheus::Family<prometheus::Counter>* hook_runs_ = nullptr;
    prometheus::Family<prometheus::Counter>* decisions_ = nullptr;
    prometheus::Family<prometheus::Counter>* action_outcomes_ = nullptr;
    prometheus::Counter* cluster_send_busy_ = nullptr;
    prometheus::Gauge* cluster_unauthenticated_ = nullptr;
    prometheus::Family<prometheus::Counter>* webhook_requests_ = nullptr;
    prometheus::Family<prometheus::Gauge>* cluster_quorate_ = nullptr;
    prometheus::Family<prometheus::Gauge>* cluster_members_ = nullptr;
    prometheus::Family<prometheus::Gauge>* peer_class_ = nullptr;
    prometheus::Family<prometheus::Gauge>* peer_last_seen_ = nullptr;
    prometheus::Family<prometheus::Gauge>* peer_in_membership_ = nullptr;
    prometheus::Family<prometheus::Gauge>* vm_state_ = nullptr;
    prometheus::Family<prometheus::Gauge>* vm_running_here_ = nullptr;
    prometheus::Family<prometheus::Gauge>* alerts_active_ = nullptr;
    prometheus::Family<prometheus::Histogram>* slot_write_duration_ = nullptr;
    prometheus::Histogram* slot_write_ = nullptr;
    prometheus::Family<prometheus::Counter>* slot_failures_ = nullptr;
    ClusterMetrics cluster_seen_;  // what set_cluster() exported last
    prometheus::Family<prometheus::Gauge>* inflight_ = nullptr;
    prometheus::Family<prometheus::Gauge>* oldest_inflight_ = nullptr;
    prometheus::Family<prometheus::Gauge>* storage_state_ = nullptr;
    prometheus::Family<prometheus::Counter>* writeback_errors_ = nullptr;
    std::map<std::pair<std::string, std::string>, std::uint64_t> writeback_seen_;
    prometheus::Gauge* watchdog_armed_ = nullptr;
    prometheus::Gauge* watchdog_timeout_ = nullptr;
    prometheus::Gauge* watchdog_last_pet_ = nullptr;
    prometheus::Gauge* watchdog_time_left_ = nullptr;
    prometheus::Counter* watchdog_pets_ = nullptr;
    prometheus::Family<prometheus::Counter>* watchdog_withheld_ = nullptr;
    std::uint64_t pets_seen_ = 0;
    prometheus::Family<prometheus::Gauge>* link_state_ = nullptr;
    prometheus::Family<prometheus::Counter>* tx_timeouts_ = nullptr;
    std::map<std::string, std::uint64_t> tx_timeouts_seen_;
    std::map<std::string, std::uint64_t> withheld_seen_;
    prometheus::Counter* sunrpc_major_timeouts_ = nullptr;
    prometheus::Counter* sunrpc_minor_timeouts_ = nullptr;
    prometheus::Counter* sunrpc_retransmits_ = nullptr;
    prometheus::Counter* sunrpc_call_errors_ = nullptr;
    SunrpcMetrics sunrpc_seen_{};
    std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> block_seen_;
    prometheus::Family<prometheus::Counter>* nfs_operations_ = nullptr;
    prometheus::Family<prometheus::Counter>* nfs_retransmissions_ = nullptr;
    prometheus::Family<prometheus::Counter>* nfs_major_timeouts_ = nullptr;
    prometheus::Family<prometheus::Gauge>* nfs_unanswered_ = nullptr;
    prometheus::Family<prometheus::Gauge>* nfs_state_ = nullptr;
    struct NfsSeen {
        std::uint64_t operations = 0;
        std::uint64_t retransmissions = 0;
        std::uint64_t major_timeouts = 0;
    };
    std::map<std::string, NfsSeen> nfs_seen_;
};

}  // namespace vigil::exporters
