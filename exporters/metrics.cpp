#include "exporters/metrics.h"

#include <civetweb.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <mutex>
#include <set>
#include <sstream>

#include "daemon/core/slot_codec.h"
#include "exporters/http_server.h"

namespace vigil::exporters {
namespace {

constexpr const char* kBlockErrorsHelp =
    "Block I/O requests that completed with an error, by device, operation and errno, "
    "counted in the kernel";
constexpr const char* kBadInputHelp = "Input from outside that vigild refused, by source";
constexpr const char* kDecisionsHelp =
    "Decisions of the decision core (cluster mode), by kind and reason";
constexpr const char* kActionOutcomesHelp =
    "Outcomes of the VM actions vigild carried out (cluster mode), by action and outcome";
constexpr const char* kSlotWriteHelp =
    "Time from submit to completion of this host's heartbeat slot writes that succeeded "
    "(cluster mode)";
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

// /metrics on civetweb: 503 until the first collection is complete, then
// the exposition text of every family. prometheus-cpp's own Exposer answers
// with whatever the registry holds at that moment, which in vigild's first
// tenth of a second is a partial set.
class MetricsServer {
  public:
    static std::expected<std::unique_ptr<MetricsServer>, Error> make(const std::string& listen,
                                                                     const Metrics& metrics) {
        std::unique_ptr<MetricsServer> self(new MetricsServer(metrics));
        auto http = HttpServer::start(
            "metrics", listen, true,
            [](mg_connection* conn, void* server) {
                return static_cast<MetricsServer*>(server)->handle(conn);
            },
            self.get());
        if (!http) return std::unexpected(http.error());
        self->http_ = std::move(*http);
        return self;
    }
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    void complete() { complete_.store(true); }

  private:
    explicit MetricsServer(const Metrics& metrics) : metrics_(metrics) {}

    static int reply(mg_connection* conn, int status, const char* phrase, const char* extra,
                     const std::string& body, bool head) {
        mg_printf(conn,
                  "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
                  status, phrase, body.size(), extra);
        if (!head) mg_write(conn, body.data(), body.size());
        return status;
    }

    int handle(mg_connection* conn) const {
        const mg_request_info* info = mg_get_request_info(conn);
        const std::string method = info->request_method != nullptr ? info->request_method : "";
        const std::string uri = info->local_uri != nullptr ? info->local_uri : "";
        const bool head = method == "HEAD";
        if (uri != "/metrics") {
            return reply(conn, 404, "Not Found", "Content-Type: text/plain\r\n",
                         "vigild serves /metrics only\n", head);
        }
        if (method != "GET" && !head) {
            return reply(conn, 405, "Method Not Allowed",
                         "Allow: GET, HEAD\r\nContent-Type: text/plain\r\n", "GET or HEAD\n",
                         false);
        }
        if (!complete_.load()) {
            return reply(conn, 503, "Service Unavailable",
                         "Retry-After: 1\r\nContent-Type: text/plain\r\n",
                         "vigild is starting: metrics are served once the first collection "
                         "is complete\n",
                         head);
        }
        return reply(conn, 200, "OK", "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n",
                     metrics_.render(), head);
    }

    const Metrics& metrics_;
    std::unique_ptr<HttpServer> http_;  // last: stopped (its threads joined) first
    std::atomic<bool> complete_{false};
};

std::expected<std::unique_ptr<Metrics>, Error> Metrics::make(const MetricsOptions& options) {
    std::unique_ptr<Metrics> self(new Metrics());
    self->registry_ = std::make_shared<prometheus::Registry>();
    auto& reg = *self->registry_;
    auto all = std::make_shared<AllFamilies>(self->registry_);
    // Every family is declared as it is registered, so that it is served
    // (HELP and TYPE) before its first series exists.
    auto counters = [&reg, &all](const char* name,
                                 const char* help) -> prometheus::Family<prometheus::Counter>& {
        all->declare(name, help, prometheus::MetricType::Counter);
        return prometheus::BuildCounter().Name(name).Help(help).Register(reg);
    };
    auto gauges = [&reg, &all](const char* name,
                               const char* help) -> prometheus::Family<prometheus::Gauge>& {
        all->declare(name, help, prometheus::MetricType::Gauge);
        return prometheus::BuildGauge().Name(name).Help(help).Register(reg);
    };

    self->probe_up_ = &gauges("vigil_probe_up",
                              "1 when the probe's kernel hook is attached, 0 when it is "
                              "unavailable on this kernel or failed to attach");
    self->block_io_errors_ = &counters("vigil_block_io_errors_total", kBlockErrorsHelp);
    self->bad_input_ = &counters("vigil_bad_input_total", kBadInputHelp);
    for (const char* source : kBadInputSources) self->bad_input_->Add({{"source", source}});
    self->refused_records_ =
        &counters("vigil_peer_records_refused_total",
                  "Peer heartbeat slots and cluster messages refused (cluster mode), by source "
                  "and reason: corrupt, malformed, newer-format (written by a newer vigil), "
                  "wrong-sender");
    self->sunrpc_major_timeouts_ =
        &counters("vigil_sunrpc_major_timeouts_total",
                  "RPC major timeouts (\"server not responding\", sunrpc/rpc_timeout_status)")
             .Add({});
    self->sunrpc_minor_timeouts_ =
        &counters("vigil_sunrpc_minor_timeouts_total",
                  "RPC requests whose timer expired without a reply (sunrpc/xprt_timer)")
             .Add({});
    self->sunrpc_retransmits_ = &counters("vigil_sunrpc_retransmits_total",
                                          "RPC requests sent again (sunrpc/xprt_retransmit)")
                                     .Add({});
    self->sunrpc_call_errors_ = &counters("vigil_sunrpc_call_errors_total",
                                          "RPC calls that failed back to their caller, signals "
                                          "excepted (sunrpc/rpc_call_rpcerror)")
                                     .Add({});
    self->hook_runs_ = &counters("vigil_hook_runs_total",
                                 "Hook runs by result: succeeded, failed (exit code or signal), "
                                 "timeout (ended at the time limit), dropped (queue full), "
                                 "error (could not start)");
    for (const HookResult r : kAllHookResults) {
        self->hook_runs_->Add({{"result", std::string(name(r))}});
    }
    self->webhook_requests_ =
        &counters("vigil_webhook_requests_total",
                  "Alertmanager webhook requests by how they were answered: accepted (200), "
                  "bad-request (400), unauthorized (401), not-found (404), method-not-allowed "
                  "(405), too-large (413), unsupported-media-type (415), busy (503)");
    for (const WebhookResult r : kAllWebhookResults) {
        self->webhook_requests_->Add({{"result", std::string(name(r))}});
    }
    self->decisions_ = &counters("vigil_decisions_total", kDecisionsHelp);
    self->action_outcomes_ = &counters("vigil_action_outcomes_total", kActionOutcomesHelp);
    self->cluster_send_busy_ =
        &counters("vigil_cluster_send_busy_total",
                  "Status messages not sent because corosync's queue was full (cluster mode)")
             .Add({});
    self->cluster_unauthenticated_ = &gauges("vigil_cluster_unauthenticated",
                                             "1 when cluster mode accepts a corosync without "
                                             "authentication (cluster.allow_unauthenticated)")
                                          .Add({});
    // Cluster mode's gauges get their series from the first set_cluster():
    // a standalone vigild has no quorum to report, not a lost one.
    self->cluster_quorate_ = &gauges("vigil_cluster_quorate",
                                     "1 while this host is in a quorate corosync partition "
                                     "(cluster mode)");
    self->cluster_members_ = &gauges("vigil_cluster_members",
                                     "Hosts in this host's last corosync membership view, itself "
                                     "included (cluster mode)");
    self->peer_class_ = &gauges("vigil_peer_class",
                                "1 for the peer's current class (alive, isolated, suspect, dead, "
                                "released), 0 for the others (cluster mode)");
    self->peer_last_seen_ = &gauges("vigil_peer_last_sign_of_life_age_seconds",
                                    "Time since the peer's last status message or slot advance, "
                                    "or since vigild started when there was none (cluster mode)");
    self->peer_in_membership_ =
        &gauges("vigil_peer_in_membership",
                "1 while the peer is in this host's corosync membership (cluster mode)");
    self->vm_state_ = &gauges("vigil_vm_state",
                              "1 for the HA VM's state on this host (running, paused-io-error, "
                              "paused, shut-off; absent: no qemu for it here), 0 for the others "
                              "(cluster mode)");
    self->vm_running_here_ =
        &gauges("vigil_vm_running_here",
                "1 while a qemu process of the HA VM runs on this host (cluster mode)");
    self->alerts_active_ = &gauges("vigil_alerts_active",
                                   "Alerts of the decision core whose condition holds now, by "
                                   "kind (cluster mode)");
    all->declare("vigil_heartbeat_slot_write_duration_seconds", kSlotWriteHelp,
                 prometheus::MetricType::Histogram);
    self->slot_write_duration_ = &prometheus::BuildHistogram()
                                      .Name("vigil_heartbeat_slot_write_duration_seconds")
                                      .Help(kSlotWriteHelp)
                                      .Register(reg);
    self->slot_failures_ = &counters("vigil_heartbeat_slot_failures_total",
                                     "Writes of this host's heartbeat slot and reads of the "
                                     "heartbeat area that failed, by op (cluster mode)");
    prometheus::BuildGauge()
        .Name("vigil_build_info")
        .Help("Always 1; the version is a label")
        .Register(reg)
        .Add({{"version", options.version}})
        .Set(1);
    self->inflight_ = &gauges("vigil_block_inflight_requests",
                              "Block requests issued and not yet completed, per device");
    self->oldest_inflight_ =
        &gauges("vigil_block_oldest_inflight_seconds",
                "Age of the oldest block request in flight, per device (0 when none)");
    self->storage_state_ = &gauges("vigil_storage_device_state",
                                   "1 for the device's current state (ok, degraded, no-space, "
                                   "stalled, failed), 0 for the others");
    self->writeback_errors_ = &counters("vigil_writeback_errors_total", kWritebackHelp);
    self->all_ = all;
    auto gauge = [&gauges](const char* name, const char* help) {
        return &gauges(name, help).Add({});
    };
    self->watchdog_armed_ =
        gauge("vigil_watchdog_armed", "1 while vigild holds the hardware watchdog armed");
    self->watchdog_timeout_ = gauge("vigil_watchdog_timeout_seconds", "The watchdog's timeout");
    self->watchdog_last_pet_ =
        gauge("vigil_watchdog_last_pet_age_seconds", "Time since vigild last petted the watchdog");
    self->watchdog_time_left_ = gauge("vigil_watchdog_time_left_seconds",
                                      "Time before the watchdog resets the host, from the driver "
                                      "where it tells, else estimated from the last pet");
    self->watchdog_pets_ =
        &counters("vigil_watchdog_pets_total", "Keepalives sent to the watchdog").Add({});
    self->watchdog_withheld_ =
        &counters("vigil_watchdog_pets_withheld_total", "Pets vigild chose not to send, by reason");
    self->link_state_ = &gauges("vigil_link_state",
                                "1 for the interface's current state (up, idle: carrier but "
                                "nothing received, down), 0 for the others");
    self->tx_timeouts_ = &counters("vigil_net_tx_timeouts_total",
                                   "Transmit queue timeouts the driver reported, per interface");
    self->nfs_operations_ = &counters("vigil_nfs_rpc_operations_total", kNfsOperationsHelp);
    self->nfs_retransmissions_ =
        &counters("vigil_nfs_rpc_retransmissions_total", kNfsRetransmissionsHelp);
    self->nfs_major_timeouts_ =
        &counters("vigil_nfs_rpc_major_timeouts_total", kNfsMajorTimeoutsHelp);
    self->nfs_unanswered_ = &gauges("vigil_nfs_rpc_unanswered_requests",
                                    "RPC requests an NFS mount's transport sent since it last "
                                    "settled and got no reply for (mountstats)");
    self->nfs_state_ = &gauges("vigil_nfs_mount_state",
                               "1 for the NFS mount's current state (ok, degraded, stalled, "
                               "gone), 0 for the others");
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    gauges("vigil_start_time_seconds", "When vigild started, in seconds since the epoch")
        .Add({})
        .Set(std::chrono::duration<double>(now).count());

    if (options.serve) {
        const std::string listen =
            (options.host.find(':') != std::string::npos ? "[" + options.host + "]"
                                                         : options.host) +
            ":" + std::to_string(options.port);
        auto server = MetricsServer::make(listen, *self);
        if (!server) return std::unexpected(server.error());
        self->server_ = std::move(*server);
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

void Metrics::count_decision(const std::string& kind, const std::string& reason) {
    decisions_->Add({{"kind", kind}, {"reason", reason}}).Increment();
}

namespace {

// Around the 1 s heartbeat: a write normally takes milliseconds; one that
// takes seconds eats into the watchdog timeout (5 s by default).
const prometheus::Histogram::BucketBoundaries kSlotWriteBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
constexpr const char* kSlotOps[] = {"write", "read"};

}  // namespace

void Metrics::cluster_series() {
    if (slot_write_ != nullptr) return;
    slot_write_ = &slot_write_duration_->Add({}, kSlotWriteBuckets);
    for (const char* op : kSlotOps) slot_failures_->Add({{"op", op}});
    for (const char* source : {"cluster", "heartbeat_slot"}) {
        for (const auto r : core::kAllRefusals)
            refused_records_->Add({{"source", source}, {"reason", std::string(core::name(r))}});
    }
}

void Metrics::set_cluster(const ClusterMetrics& c) {
    cluster_series();
    cluster_quorate_->Add({}).Set(c.quorate ? 1 : 0);
    cluster_members_->Add({}).Set(static_cast<double>(c.members));
    std::set<std::string> peers;
    for (const auto& p : c.peers) {
        peers.insert(p.peer);
        for (const auto& cls : c.peer_classes) {
            peer_class_->Add({{"peer", p.peer}, {"class", cls}}).Set(cls == p.cls ? 1 : 0);
        }
        peer_last_seen_->Add({{"peer", p.peer}}).Set(p.last_sign_of_life_age_seconds);
        peer_in_membership_->Add({{"peer", p.peer}}).Set(p.in_membership ? 1 : 0);
    }
    for (const auto& p : cluster_seen_.peers) {
        if (peers.contains(p.peer)) continue;
        for (const auto& cls : cluster_seen_.peer_classes) {
            peer_class_->Remove(&peer_class_->Add({{"peer", p.peer}, {"class", cls}}));
        }
        peer_last_seen_->Remove(&peer_last_seen_->Add({{"peer", p.peer}}));
        peer_in_membership_->Remove(&peer_in_membership_->Add({{"peer", p.peer}}));
    }
    std::set<std::string> vms;
    for (const auto& v : c.vms) {
        vms.insert(v.vm);
        for (const auto& st : c.vm_states) {
            vm_state_->Add({{"vm", v.vm}, {"state", st}}).Set(st == v.state ? 1 : 0);
        }
        vm_running_here_->Add({{"vm", v.vm}}).Set(v.running_here ? 1 : 0);
    }
    for (const auto& v : cluster_seen_.vms) {
        if (vms.contains(v.vm)) continue;
        for (const auto& st : cluster_seen_.vm_states) {
            vm_state_->Remove(&vm_state_->Add({{"vm", v.vm}, {"state", st}}));
        }
        vm_running_here_->Remove(&vm_running_here_->Add({{"vm", v.vm}}));
    }
    for (const auto& [kind, active] : c.alerts_active) {
        alerts_active_->Add({{"kind", kind}}).Set(static_cast<double>(active));
    }
    cluster_seen_ = c;
}

void Metrics::observe_slot_write(double seconds) {
    cluster_series();
    slot_write_->Observe(seconds);
}

void Metrics::count_slot_failure(const std::string& op) {
    cluster_series();
    slot_failures_->Add({{"op", op}}).Increment();
}

void Metrics::collection_complete() {
    if (server_) server_->complete();
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

void Metrics::count_refused_record(const std::string& source, std::string_view reason) {
    cluster_series();
    refused_records_->Add({{"source", source}, {"reason", std::string(reason)}}).Increment();
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
