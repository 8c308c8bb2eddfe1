#include "exporters/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <mutex>
#include <sstream>

namespace vigil::exporters {
namespace {

constexpr const char* kBlockErrorsHelp =
    "Block I/O requests that completed with an error, by device, operation and errno, "
    "counted in the kernel";
constexpr const char* kBadInputHelp = "Input from outside that vigild refused, by source";
constexpr const char* kDecisionsHelp = "Decisions of the decision core (cluster mode), by kind";
constexpr const char* kActionOutcomesHelp =
    "Outcomes of the VM actions vigild carried out (cluster mode), by action and outcome";
constexpr const char* kLatencyHelp =
    "Block requests by time from issue to completion, per device, counted in the kernel";
constexpr const char* kWritebackHelp =
    "Writeback errors (page cache to device) by device and errno, counted in the kernel";
constexpr const char* kNfsOperationsHelp =
    "RPC operations an NFS mount completed, with or without an error (mountstats)";
constexpr const char* kNfsRetransmissionsHelp =
    "RPC requests an NFS mount sent again after a timeout (mountstats)";
constexpr const char* kNfsMajorTimeoutsHelp =
    "RPC operations of an NFS mount that hit a major timeout (mountstats)";

// A counter that mirrors a kernel count which starts again from zero when
// the thing it counts is recreated (an NFS remount): the new count is added.
void advance_restartable(prometheus::Counter& counter, std::uint64_t& seen, std::uint64_t total) {
    if (total < seen) seen = 0;
    if (total > seen) {
        counter.Increment(static_cast<double>(total - seen));
        seen = total;
    }
}

// A counter that mirrors an absolute count kept elsewhere (the kernel).
void advance(prometheus::Counter& counter, std::uint64_t& seen, std::uint64_t total) {
    if (total > seen) {
        counter.Increment(static_cast<double>(total - seen));
        seen = total;
    }
}

}  // namespace

// prometheus-cpp leaves out families that have no series yet. A scraper
// should still see every family vigil offers (with its HELP and TYPE) before
// the first error happens, so the empty ones are added back here.
class AllFamilies : public prometheus::Collectable {
  public:
    explicit AllFamilies(std::shared_ptr<prometheus::Registry> registry)
        : registry_(std::move(registry)) {}

    void declare(std::string name, std::string help, prometheus::MetricType type) {
        declared_.push_back(prometheus::MetricFamily{std::move(name), std::move(help), type, {}});
    }

    // Histograms whose buckets the kernel counts: set whole, not observed.
    void set_histogram(const std::string& device, const std::array<std::uint64_t, 32>& slots,
                       std::uint64_t sum_us) {
        prometheus::ClientMetric m;
        m.label.push_back({"device", device});
        std::uint64_t cumulative = 0;
        for (std::size_t k = 0; k < slots.size(); ++k) {
            cumulative += slots[k];
            // Slot k holds [2^k, 2^(k+1)) us; the bucket bound is its upper edge.
            m.histogram.bucket.push_back(
                {cumulative, static_cast<double>(std::uint64_t{2} << k) / 1e6});
        }
        m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
        m.histogram.sample_count = cumulative;
        m.histogram.sample_sum = static_cast<double>(sum_us) / 1e6;
        std::lock_guard lock(mutex_);
        histograms_[device] = std::move(m);
    }

    std::vector<prometheus::MetricFamily> Collect() const override {
        auto families = registry_->Collect();
        {
            std::lock_guard lock(mutex_);
            prometheus::MetricFamily latency{"vigil_block_request_duration_seconds",
                                             kLatencyHelp,
                                             prometheus::MetricType::Histogram,
                                             {}};
            for (const auto& [device, m] : histograms_) latency.metric.push_back(m);
            families.push_back(std::move(latency));
        }
        for (const auto& d : declared_) {
            const bool present = std::any_of(families.begin(), families.end(),
                                             [&](const auto& f) { return f.name == d.name; });
            if (!present) families.push_back(d);
        }
        return families;
    }

  private:
    std::shared_ptr<prometheus::Registry> registry_;
    std::vector<prometheus::MetricFamily> declared_;
    mutable std::mutex mutex_;  // the exposer collects from its own threads
    std::map<std::string, prometheus::ClientMetric> histograms_;
};

std::expected<std::unique_ptr<Metrics>, Error> Metrics::make(const MetricsOptions& options) {
    std::unique_ptr<Metrics> self(new Metrics());
    self->registry_ = std::make_shared<prometheus::Registry>();
    auto& reg = *self->registry_;

    self->probe_up_ = &prometheus::BuildGauge()
                           .Name("vigil_probe_up")
                           .Help(
                               "1 when the probe's kernel hook is attached, 0 when it is "
                               "unavailable on this kernel or failed to attach")
                           .Register(reg);
    self->block_io_errors_ = &prometheus::BuildCounter()
                                  .Name("vigil_block_io_errors_total")
                                  .Help(kBlockErrorsHelp)
                                  .Register(reg);
    self->bad_input_ =
        &prometheus::BuildCounter().Name("vigil_bad_input_total").Help(kBadInputHelp).Register(reg);
    self->sunrpc_major_timeouts_ =
        &prometheus::BuildCounter()
             .Name("vigil_sunrpc_major_timeouts_total")
             .Help("RPC major timeouts (\"server not responding\", sunrpc/rpc_timeout_status)")
             .Register(reg)
             .Add({});
    self->sunrpc_minor_timeouts_ =
        &prometheus::BuildCounter()
             .Name("vigil_sunrpc_minor_timeouts_total")
             .Help("RPC requests whose timer expired without a reply (sunrpc/xprt_timer)")
             .Register(reg)
             .Add({});
    self->sunrpc_retransmits_ = &prometheus::BuildCounter()
                                     .Name("vigil_sunrpc_retransmits_total")
                                     .Help("RPC requests sent again (sunrpc/xprt_retransmit)")
                                     .Register(reg)
                                     .Add({});
    self->sunrpc_call_errors_ =
        &prometheus::BuildCounter()
             .Name("vigil_sunrpc_call_errors_total")
             .Help(
                 "RPC calls that failed back to their caller, signals excepted "
                 "(sunrpc/rpc_call_rpcerror)")
             .Register(reg)
             .Add({});
    self->hook_runs_ = &prometheus::BuildCounter()
                            .Name("vigil_hook_runs_total")
                            .Help(
                                "Hook runs by result: succeeded, failed (exit code or signal), "
                                "timeout (ended at the time limit), dropped (queue full), "
                                "error (could not start)")
                            .Register(reg);
    for (const HookResult r : kAllHookResults) {
        self->hook_runs_->Add({{"result", std::string(name(r))}});
    }
    self->webhook_requests_ =
        &prometheus::BuildCounter()
             .Name("vigil_webhook_requests_total")
             .Help(
                 "Alertmanager webhook requests by how they were answered: accepted (200), "
                 "bad-request (400), unauthorized (401), not-found (404), method-not-allowed "
                 "(405), too-large (413), unsupported-media-type (415), busy (503)")
             .Register(reg);
    for (const WebhookResult r : kAllWebhookResults) {
        self->webhook_requests_->Add({{"result", std::string(name(r))}});
    }
    self->decisions_ = &prometheus::BuildCounter()
                            .Name("vigil_decisions_total")
                            .Help(kDecisionsHelp)
                            .Register(reg);
    self->action_outcomes_ = &prometheus::BuildCounter()
                                  .Name("vigil_action_outcomes_total")
                                  .Help(kActionOutcomesHelp)
                                  .Register(reg);
    self->cluster_send_busy_ =
        &prometheus::BuildCounter()
             .Name("vigil_cluster_send_busy_total")
             .Help("Status messages not sent because corosync's queue was full (cluster mode)")
             .Register(reg)
             .Add({});
    self->cluster_unauthenticated_ =
        &prometheus::BuildGauge()
             .Name("vigil_cluster_unauthenticated")
             .Help(
                 "1 when cluster mode accepts a corosync without authentication "
                 "(cluster.allow_unauthenticated)")
             .Register(reg)
             .Add({});
    prometheus::BuildGauge()
        .Name("vigil_build_info")
        .Help("Always 1; the version is a label")
        .Register(reg)
        .Add({{"version", options.version}})
        .Set(1);
    auto all = std::make_shared<AllFamilies>(self->registry_);
    all->declare("vigil_block_io_errors_total", kBlockErrorsHelp, prometheus::MetricType::Counter);
    all->declare("vigil_bad_input_total", kBadInputHelp, prometheus::MetricType::Counter);
    all->declare("vigil_decisions_total", kDecisionsHelp, prometheus::MetricType::Counter);
    all->declare("vigil_action_outcomes_total", kActionOutcomesHelp,
                 prometheus::MetricType::Counter);
    all->declare("vigil_writeback_errors_total", kWritebackHelp, prometheus::MetricType::Counter);
    self->inflight_ = &prometheus::BuildGauge()
                           .Name("vigil_block_inflight_requests")
                           .Help("Block requests issued and not yet completed, per device")
                           .Register(reg);
    self->oldest_inflight_ = &prometheus::BuildGauge()
                                  .Name("vigil_block_oldest_inflight_seconds")
                                  .Help(
                                      "Age of the oldest block request in flight, per device "
                                      "(0 when none)")
                                  .Register(reg);
    self->storage_state_ = &prometheus::BuildGauge()
                                .Name("vigil_storage_device_state")
                                .Help(
                                    "1 for the device's current state (ok, degraded, "
                                    "no-space, stalled, failed), 0 for the others")
                                .Register(reg);
    self->writeback_errors_ = &prometheus::BuildCounter()
                                   .Name("vigil_writeback_errors_total")
                                   .Help(kWritebackHelp)
                                   .Register(reg);
    self->all_ = all;
    auto gauge = [&reg](const char* name, const char* help) {
        return &prometheus::BuildGauge().Name(name).Help(help).Register(reg).Add({});
    };
    self->watchdog_armed_ =
        gauge("vigil_watchdog_armed", "1 while vigild holds the hardware watchdog armed");
    self->watchdog_timeout_ = gauge("vigil_watchdog_timeout_seconds", "The watchdog's timeout");
    self->watchdog_last_pet_ =
        gauge("vigil_watchdog_last_pet_age_seconds", "Time since vigild last petted the watchdog");
    self->watchdog_time_left_ = gauge("vigil_watchdog_time_left_seconds",
                                      "Time before the watchdog resets the host, from the driver "
                                      "where it tells, else estimated from the last pet");
    self->watchdog_pets_ = &prometheus::BuildCounter()
                                .Name("vigil_watchdog_pets_total")
                                .Help("Keepalives sent to the watchdog")
                                .Register(reg)
                                .Add({});
    self->watchdog_withheld_ = &prometheus::BuildCounter()
                                    .Name("vigil_watchdog_pets_withheld_total")
                                    .Help("Pets vigild chose not to send, by reason")
                                    .Register(reg);
    self->link_state_ = &prometheus::BuildGauge()
                             .Name("vigil_link_state")
                             .Help(
                                 "1 for the interface's current state (up, idle: carrier but "
                                 "nothing received, down), 0 for the others")
                             .Register(reg);
    self->tx_timeouts_ = &prometheus::BuildCounter()
                              .Name("vigil_net_tx_timeouts_total")
                              .Help("Transmit queue timeouts the driver reported, per interface")
                              .Register(reg);
    self->nfs_operations_ = &prometheus::BuildCounter()
                                 .Name("vigil_nfs_rpc_operations_total")
                                 .Help(kNfsOperationsHelp)
                                 .Register(reg);
    self->nfs_retransmissions_ = &prometheus::BuildCounter()
                                      .Name("vigil_nfs_rpc_retransmissions_total")
                                      .Help(kNfsRetransmissionsHelp)
                                      .Register(reg);
    self->nfs_major_timeouts_ = &prometheus::BuildCounter()
                                     .Name("vigil_nfs_rpc_major_timeouts_total")
                                     .Help(kNfsMajorTimeoutsHelp)
                                     .Register(reg);
    self->nfs_unanswered_ = &prometheus::BuildGauge()
                                 .Name("vigil_nfs_rpc_unanswered_requests")
                                 .Help(
                                     "RPC requests an NFS mount's transport sent since it last "
                                     "settled and got no reply for (mountstats)")
                                 .Register(reg);
    self->nfs_state_ = &prometheus::BuildGauge()
                            .Name("vigil_nfs_mount_state")
                            .Help(
                                "1 for the NFS mount's current state (ok, degraded, stalled, "
                                "gone), 0 for the others")
                            .Register(reg);
    all->declare("vigil_nfs_rpc_operations_total", kNfsOperationsHelp,
                 prometheus::MetricType::Counter);
    all->declare("vigil_nfs_rpc_retransmissions_total", kNfsRetransmissionsHelp,
                 prometheus::MetricType::Counter);
    all->declare("vigil_nfs_rpc_major_timeouts_total", kNfsMajorTimeoutsHelp,
                 prometheus::MetricType::Counter);
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    prometheus::BuildGauge()
        .Name("vigil_start_time_seconds")
        .Help("When vigild started, in seconds since the epoch")
        .Register(reg)
        .Add({})
        .Set(std::chrono::duration<double>(now).count());

    if (options.serve) {
        const std::string bind =
            (options.host.find(':') != std::string::npos ? "[" + options.host + "]"
                                                         : options.host) +
            ":" + std::to_string(options.port);
        try {
            self->exposer_ = std::make_unique<prometheus::Exposer>(bind, 2);
        } catch (const std::exception& e) {
            return std::unexpected(Error{"serving metrics on " + bind + ": " + e.what()});
        }
        self->exposer_->RegisterCollectable(self->all_);
    }
    return self;
}

Metrics::~Metrics() = default;

void Metrics::set_probe_up(const std::string& probe, bool up) {
    probe_up_->Add({{"probe", probe}}).Set(up ? 1 : 0);
}

void Metrics::set_block_io_errors(const std::string& device, const std::string& op,
                                  const std::string& error, std::uint64_t total) {
    auto& counter = block_io_errors_->Add({{"device", device}, {"op", op}, {"error", error}});
    advance(counter, block_seen_[{device, op, error}], total);
}

void Metrics::set_sunrpc(const SunrpcMetrics& sunrpc) {
    advance(*sunrpc_major_timeouts_, sunrpc_seen_.major_timeouts, sunrpc.major_timeouts);
    advance(*sunrpc_minor_timeouts_, sunrpc_seen_.minor_timeouts, sunrpc.minor_timeouts);
    advance(*sunrpc_retransmits_, sunrpc_seen_.retransmits, sunrpc.retransmits);
    advance(*sunrpc_call_errors_, sunrpc_seen_.call_errors, sunrpc.call_errors);
}

void Metrics::set_block_inflight(const std::string& device, std::uint32_t requests,
                                 double oldest_seconds) {
    inflight_->Add({{"device", device}}).Set(requests);
    oldest_inflight_->Add({{"device", device}}).Set(oldest_seconds);
}

void Metrics::set_block_latency(const std::string& device,
                                const std::array<std::uint64_t, 32>& slots, std::uint64_t sum_us) {
    all_->set_histogram(device, slots, sum_us);
}

void Metrics::set_storage_state(const std::string& device, const std::string& state,
                                const std::vector<std::string>& all_states) {
    for (const auto& s : all_states) {
        storage_state_->Add({{"device", device}, {"state", s}}).Set(s == state ? 1 : 0);
    }
}

void Metrics::set_writeback_errors(const std::string& device, const std::string& error,
                                   std::uint64_t total) {
    auto& counter = writeback_errors_->Add({{"device", device}, {"error", error}});
    advance(counter, writeback_seen_[{device, error}], total);
}

void Metrics::set_watchdog(const WatchdogMetrics& w) {
    watchdog_armed_->Set(w.armed ? 1 : 0);
    watchdog_timeout_->Set(w.timeout_seconds);
    watchdog_last_pet_->Set(w.since_last_pet_seconds);
    watchdog_time_left_->Set(w.time_left_seconds);
    advance(*watchdog_pets_, pets_seen_, w.pets);
    for (const auto& [reason, count] : w.withheld) {
        advance(watchdog_withheld_->Add({{"reason", reason}}), withheld_seen_[reason], count);
    }
}

void Metrics::set_link_state(const std::string& interface, const std::string& state,
                             const std::vector<std::string>& all_states) {
    for (const auto& s : all_states) {
        link_state_->Add({{"interface", interface}, {"state", s}}).Set(s == state ? 1 : 0);
    }
}

void Metrics::set_tx_timeouts(const std::string& interface, std::uint64_t total) {
    advance(tx_timeouts_->Add({{"interface", interface}}), tx_timeouts_seen_[interface], total);
}

void Metrics::set_nfs_mount(const std::string& mount, const NfsMountMetrics& m,
                            const std::vector<std::string>& all_states) {
    auto& seen = nfs_seen_[mount];
    advance_restartable(nfs_operations_->Add({{"mount", mount}}), seen.operations, m.operations);
    advance_restartable(nfs_retransmissions_->Add({{"mount", mount}}), seen.retransmissions,
                        m.retransmissions);
    advance_restartable(nfs_major_timeouts_->Add({{"mount", mount}}), seen.major_timeouts,
                        m.major_timeouts);
    nfs_unanswered_->Add({{"mount", mount}}).Set(static_cast<double>(m.unanswered));
    for (const auto& s : all_states) {
        nfs_state_->Add({{"mount", mount}, {"state", s}}).Set(s == m.state ? 1 : 0);
    }
}

void Metrics::forget_nfs_mount(const std::string& mount,
                               const std::vector<std::string>& all_states) {
    nfs_seen_.erase(mount);
    const prometheus::Labels labels{{"mount", mount}};
    nfs_operations_->Remove(&nfs_operations_->Add(labels));
    nfs_retransmissions_->Remove(&nfs_retransmissions_->Add(labels));
    nfs_major_timeouts_->Remove(&nfs_major_timeouts_->Add(labels));
    nfs_unanswered_->Remove(&nfs_unanswered_->Add(labels));
    for (const auto& s : all_states) {
        nfs_state_->Remove(&nfs_state_->Add({{"mount", mount}, {"state", s}}));
    }
}

void Metrics::count_decision(const std::string& kind) {
    decisions_->Add({{"kind", kind}}).Increment();
}

void Metrics::count_action_outcome(const std::string& action, const std::string& outcome) {
    action_outcomes_->Add({{"action", action}, {"outcome", outcome}}).Increment();
}

void Metrics::count_cluster_send_busy() { cluster_send_busy_->Increment(); }

void Metrics::set_cluster_unauthenticated(bool unauthenticated) {
    cluster_unauthenticated_->Set(unauthenticated ? 1 : 0);
}

void Metrics::count_bad_input(const std::string& source) {
    bad_input_->Add({{"source", source}}).Increment();
}

void Metrics::count_hook_run(HookResult result) {
    hook_runs_->Add({{"result", std::string(name(result))}}).Increment();
}

void Metrics::count_webhook_request(WebhookResult result) {
    webhook_requests_->Add({{"result", std::string(name(result))}}).Increment();
}

std::string Metrics::render() const {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, all_->Collect());
    return out.str();
}

}  // namespace vigil::exporters
