#include "daemon/daemon.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "daemon/adapters/control_protocol.h"
#include "daemon/adapters/mountstats.h"
#include "daemon/config/reload.h"
#include "daemon/core/decision.h"

namespace vigil {
namespace {

using adapters::Priority;
namespace mid = adapters::message_id;

Priority priority_of(config::LogLevel level) {
    switch (level) {
        case config::LogLevel::debug:
            return Priority::debug;
        case config::LogLevel::info:
            return Priority::info;
        case config::LogLevel::warning:
            return Priority::warning;
        case config::LogLevel::error:
            return Priority::error;
    }
    return Priority::info;
}

// Checking for the sunrpc hooks costs a stat() per hook; the first NFS mount
// waits for nothing from vigil, so a few seconds' delay costs only evidence
// from those seconds.
constexpr std::chrono::seconds kSunrpcRetryInterval{5};

std::string errno_name(int error) {
    const char* name = strerrorname_np(error);
    return name != nullptr ? name : "E" + std::to_string(error);
}

}  // namespace

Daemon::Daemon(config::Config config)
    : config_(std::move(config)),
      journal_(priority_of(config_.log_level)),
      link_health_(core::LinkThresholds{.down_hold = config_.link_down_hold,
                                        .up_hold = config_.link_up_hold,
                                        .idle_after = config_.link_idle_after}),
      nfs_health_(core::NfsThresholds{.slow_rtt = config_.nfs_slow_rtt,
                                      .stall = config_.nfs_stall,
                                      .error_window = config_.nfs_error_window,
                                      .hold = config_.nfs_recovery_hold,
                                      .forget_after = config_.nfs_forget_after}) {}

Daemon::~Daemon() = default;

std::expected<std::unique_ptr<Daemon>, Error> Daemon::make(config::Config config) {
    std::unique_ptr<Daemon> self(new Daemon(std::move(config)));
    auto loop = adapters::EventLoop::make();
    if (!loop) return std::unexpected(loop.error());
    self->loop_ = std::move(*loop);
    self->started_ = self->loop_->now();
    // Before any thread exists (the metrics server starts some): threads
    // inherit the blocked mask, so SIGTERM reaches only the loop's signalfd.
    if (auto ok = self->loop_->stop_on_signals(); !ok) return std::unexpected(ok.error());
    Daemon* raw = self.get();
    if (auto ok = self->loop_->on_signal(SIGHUP, [raw] { raw->reload(); }); !ok) {
        return std::unexpected(ok.error());
    }

    auto metrics = exporters::Metrics::make(exporters::MetricsOptions{
        .serve = self->config_.metrics_enabled,
        .host = self->config_.metrics_listen.host,
        .port = self->config_.metrics_listen.port,
        .version = kVersion,
    });
    if (!metrics) return std::unexpected(metrics.error());
    self->metrics_ = std::move(*metrics);

    auto control = adapters::ControlServer::make(
        *self->loop_, self->config_.control_socket,
        [raw](const std::string& request) { return raw->handle_request(request); },
        [raw](const std::string& reason) { raw->refuse_input("control", reason); });
    if (!control) return std::unexpected(control.error());
    self->control_ = std::move(*control);

    if (auto ok = self->loop_->enable_systemd_watchdog(); !ok) return std::unexpected(ok.error());
    self->read_previous_flight_record();
    self->start_probes();
    self->start_network();
    if (auto ok = self->arm_watchdog(); !ok) return std::unexpected(ok.error());
    auto poll_timer = self->loop_->every(self->config_.probe_poll_interval, [raw] { raw->poll(); });
    if (!poll_timer) return std::unexpected(poll_timer.error());
    self->poll_timer_ = *poll_timer;
    if (self->block_) {
        auto alarm = self->loop_->add_alarm([raw] {
            raw->block_recheck_at_.reset();
            raw->poll_block();
        });
        if (!alarm) return std::unexpected(alarm.error());
        self->block_recheck_ = *alarm;
    }
    auto nfs_timer =
        self->loop_->every(self->config_.nfs_poll_interval, [raw] { raw->poll_nfs(); });
    if (!nfs_timer) return std::unexpected(nfs_timer.error());
    self->nfs_timer_ = *nfs_timer;
    return self;
}

void Daemon::start_network() {
    auto links = adapters::LinkMonitor::make();
    if (links) {
        links_ = std::move(*links);
        if (auto ok = loop_->watch_fd(links_->fd(), [this] { on_links(); }); !ok) {
            journal_.log(Priority::error, mid::kLink, ok.error().message);
        }
        on_links();  // the initial dump may already wait
    } else {
        journal_.log(Priority::error, mid::kLink,
                     "link monitoring unavailable: " + links.error().message);
    }
    auto net = bpf::NetProbes::make();
    if (net) {
        net_ = std::move(*net);
        for (const auto& p : net_->probes()) add_probe(p);
        if (net_->event_fd() >= 0) {
            if (auto ok = loop_->watch_fd(net_->event_fd(), [this] { on_tx_timeouts(); }); !ok) {
                journal_.log(Priority::error, mid::kProbe, ok.error().message);
            }
        }
    } else {
        add_probe(
            {"net_rx", "tp_btf/netif_receive_skb", bpf::ProbeState::failed, net.error().message});
    }
}

void Daemon::read_previous_flight_record() {
    auto previous = fence::FlightRecorder::read(config_.flight_record);
    if (!previous) {
        previous_record_error_ = previous.error().message;
        journal_.log(
            Priority::error, mid::kFlightRecord,
            "the flight record " + config_.flight_record + " is damaged: " + previous_record_error_,
            {{"PATH", config_.flight_record}});
    } else if (*previous) {
        previous_record_ = **previous;
        const bool earlier_boot = previous_record_->boot_id != fence::current_boot_id();
        journal_.log(earlier_boot ? Priority::warning : Priority::notice, mid::kFlightRecord,
                     std::string(earlier_boot ? "the previous boot ended in a self-fence: "
                                              : "a self-fence was recorded in this boot: ") +
                         previous_record_->decision,
                     {{"PATH", config_.flight_record},
                      {"BOOT_ID", previous_record_->boot_id},
                      {"DECISION", previous_record_->decision},
                      {"EVIDENCE_RECORDS", std::to_string(previous_record_->evidence.size())}});
    }
    auto recorder = fence::FlightRecorder::make(config_.flight_record, 64);
    if (recorder) {
        recorder_.emplace(std::move(*recorder));
    } else {
        journal_.log(Priority::error, mid::kFlightRecord,
                     "no flight recorder: " + recorder.error().message,
                     {{"PATH", config_.flight_record}});
    }
}

void Daemon::log_evidence(Priority priority, std::string_view id, const std::string& message,
                          const adapters::Fields& fields) {
    journal_.log(priority, id, message, fields);
    if (recorder_) recorder_->note(message);
}

void Daemon::report_link(const core::LinkTransition& t) {
    const std::string to = core::to_string(t.to);
    const std::string from = t.from ? core::to_string(*t.from) : "unknown";
    const bool bad = t.to != core::LinkState::kUp;
    log_evidence(bad && t.from ? Priority::warning : Priority::info, mid::kLink,
                 "interface " + t.name + " is " + to + (t.from ? " (was " + from + ")" : "") +
                     ": " + t.evidence,
                 {{"INTERFACE", t.name},
                  {"IFINDEX", std::to_string(t.ifindex)},
                  {"STATE", to},
                  {"PREVIOUS", from},
                  {"EVIDENCE", t.evidence}});
    static const std::vector<std::string> kStates = {"up", "idle", "down"};
    metrics_->set_link_state(t.name, to, kStates);
}

void Daemon::on_links() {
    auto drained = links_->drain([this](const adapters::LinkEvent& e) {
        const auto transition = e.removed
                                    ? link_health_.remove(e.ifindex, core::TimePoint(e.monotonic))
                                    : link_health_.observe_link(e.ifindex, adapters::to_signal(e));
        if (e.removed && net_) net_->forget(e.ifindex);
        if (transition) report_link(*transition);
    });
    if (!drained) {
        journal_.log(Priority::error, mid::kLink,
                     "reading link changes: " + drained.error().message);
    }
}

void Daemon::on_tx_timeouts() {
    net_->drain([this](const bpf::TxTimeoutEvent& ev) {
        log_evidence(Priority::warning, mid::kLink,
                     "transmit timeout on " + ev.name + " queue " + std::to_string(ev.queue),
                     {{"INTERFACE", ev.name},
                      {"IFINDEX", std::to_string(ev.ifindex)},
                      {"QUEUE", std::to_string(ev.queue)}});
    });
}

std::expected<void, Error> Daemon::arm_watchdog() {
    if (!config_.watchdog_enabled) {
        export_watchdog();
        return {};
    }
    auto wd = fence::Watchdog::make(fence::WatchdogOptions{.path = config_.watchdog_device,
                                                           .timeout = config_.watchdog_timeout});
    if (!wd) {
        return std::unexpected(
            Error{"arming the watchdog " + config_.watchdog_device + ": " + wd.error().message});
    }
    watchdog_.emplace(std::move(*wd));
    const auto& caps = watchdog_->capabilities();
    journal_.log(Priority::notice, mid::kWatchdog,
                 "watchdog " + config_.watchdog_device + " armed, timeout " +
                     std::to_string(watchdog_->timeout().count()) + " s",
                 {{"DEVICE", config_.watchdog_device},
                  {"IDENTITY", caps.identity},
                  {"TIMEOUT_S", std::to_string(watchdog_->timeout().count())},
                  {"KEEPALIVE", fence::to_string(caps.keepalive)},
                  {"TIME_LEFT", caps.get_time_left ? "driver" : "estimated"}});
    // Pets come from this loop only: a stalled loop starves the watchdog.
    if (auto ok = loop_->every(watchdog_->pet_interval(), [this] { pet_watchdog(); }); !ok) {
        return std::unexpected(ok.error());
    }
    export_watchdog();
    return {};
}

void Daemon::pet_watchdog() {
    // Until the decision core drives should_pet, a live loop is reason enough.
    if (auto ok = watchdog_->pet(); !ok) {
        journal_.log(Priority::error, mid::kWatchdog,
                     "watchdog keepalive failed: " + ok.error().message,
                     {{"DEVICE", config_.watchdog_device}, {"REASON", ok.error().message}});
    }
    export_watchdog();
}

void Daemon::export_watchdog() {
    exporters::WatchdogMetrics m;
    if (watchdog_) {
        const auto st = watchdog_->status();
        m.armed = st.armed;
        m.timeout_seconds = static_cast<double>(st.timeout.count());
        m.since_last_pet_seconds =
            st.since_last_pet ? std::chrono::duration<double>(*st.since_last_pet).count() : 0;
        m.time_left_seconds =
            st.time_left ? std::chrono::duration<double>(st.time_left->value).count() : 0;
        m.pets = st.pets;
        for (const auto reason : fence::kWithholdReasons) {
            m.withheld.emplace_back(fence::to_string(reason), st.withheld[fence::to_index(reason)]);
        }
    }
    metrics_->set_watchdog(m);
}

void Daemon::refuse_input(const std::string& source, const std::string& reason) {
    metrics_->count_bad_input(source);
    journal_.log(Priority::warning, mid::kBadInput, source + " input refused: " + reason,
                 {{"SOURCE", source}, {"REASON", reason}});
}

void Daemon::start_probes() {
    auto block =
        bpf::BlockProbes::make({.events_per_second = config_.block_error_events_per_second});
    if (block) {
        block_ = std::move(*block);
        for (const auto& p : block_->probes()) add_probe(p);
        if (block_->event_fd() >= 0) {
            auto watched = loop_->watch_fd(block_->event_fd(), [this] { on_block_errors(); });
            if (!watched) {
                journal_.log(Priority::error, mid::kProbe, watched.error().message);
            }
        }
    } else {
        add_probe({"block_io_errors", "tracepoint/block/block_rq_error", bpf::ProbeState::failed,
                   block.error().message});
    }
    auto sunrpc = bpf::SunrpcProbes::make();
    if (sunrpc) {
        sunrpc_ = std::move(*sunrpc);
        for (const auto& p : sunrpc_->probes()) add_probe(p);
        if (sunrpc_->waiting()) {
            // The first NFS mount loads the sunrpc module, maybe long after vigild.
            auto ok = loop_->every(kSunrpcRetryInterval, [this] { retry_sunrpc(); });
            if (!ok) journal_.log(Priority::error, mid::kProbe, ok.error().message);
        }
    } else {
        add_probe({"sunrpc_timeouts", "tracepoint/sunrpc/rpc_timeout_status",
                   bpf::ProbeState::failed, sunrpc.error().message});
    }
}

void Daemon::retry_sunrpc() {
    if (!sunrpc_->waiting() || !sunrpc_->retry()) return;
    for (const auto& p : sunrpc_->probes()) add_probe(p);
}

void Daemon::add_probe(const bpf::ProbeStatus& p) {
    auto known = std::find_if(probes_.begin(), probes_.end(),
                              [&](const bpf::ProbeStatus& q) { return q.name == p.name; });
    if (known == probes_.end()) {
        probes_.push_back(p);
    } else if (known->state == p.state && known->reason == p.reason && known->hook == p.hook) {
        return;
    } else {
        *known = p;
    }
    const bool up = p.state == bpf::ProbeState::attached;
    metrics_->set_probe_up(p.name, up);
    journal_.log(up ? Priority::info : Priority::warning, mid::kProbe,
                 up ? "probe " + p.name + " attached to " + p.hook
                    : "probe " + p.name + " " + bpf::to_string(p.state) + ": " + p.reason,
                 {{"PROBE", p.name},
                  {"HOOK", p.hook},
                  {"STATE", bpf::to_string(p.state)},
                  {"REASON", p.reason}});
}

void Daemon::on_block_errors() {
    const auto now = adapters::monotonic_now();
    block_->drain([this, now](const bpf::BlockErrorEvent& ev) {
        // From the kernel's tracepoint to this handler, same clock on both sides.
        const auto delivery = std::chrono::duration_cast<std::chrono::microseconds>(
            now > ev.monotonic ? now - ev.monotonic : std::chrono::nanoseconds(0));
        const std::string device = device_names_.name(ev.device.major, ev.device.minor);
        const std::string error = errno_name(ev.error);
        std::string message = "block I/O error on " + device + ": " + bpf::to_string(ev.op) +
                              " of " + std::to_string(ev.sectors) + " sectors at " +
                              std::to_string(ev.sector) + " failed with " + error;
        if (ev.suppressed_before > 0) {
            message += " (" + std::to_string(ev.suppressed_before) + " earlier errors not logged)";
        }
        log_evidence(Priority::warning, mid::kBlockIoError, message,
                     {{"DEVICE", device},
                      {"DEVICE_NUMBER",
                       std::to_string(ev.device.major) + ":" + std::to_string(ev.device.minor)},
                      {"OP", bpf::to_string(ev.op)},
                      {"ERROR", error},
                      {"SECTOR", std::to_string(ev.sector)},
                      {"SECTORS", std::to_string(ev.sectors)},
                      {"RWBS", ev.rwbs},
                      {"SUPPRESSED", std::to_string(ev.suppressed_before)},
                      {"DELIVERY_US", std::to_string(delivery.count())}});
    });
    poll();
}

Daemon::Device& Daemon::device(const std::string& name) {
    auto it = devices_.find(name);
    if (it == devices_.end()) {
        it = devices_
                 .emplace(name, Device(core::StorageThresholds{
                                    .slow = config_.storage_slow,
                                    .stall = config_.storage_stall,
                                    .error_window = config_.storage_error_window,
                                    .hold = config_.storage_recovery_hold,
                                }))
                 .first;
    }
    return it->second;
}

void Daemon::poll() {
    if (sunrpc_) {
        const auto c = sunrpc_->counts();
        metrics_->set_sunrpc({.major_timeouts = c.major_timeouts,
                              .minor_timeouts = c.minor_timeouts,
                              .retransmits = c.retransmits,
                              .call_errors = c.call_errors});
    }
    if (net_) poll_network();
    if (block_) poll_block();
}

void Daemon::poll_network() {
    const core::TimePoint at(loop_->now());
    std::map<std::int32_t, bpf::InterfaceCounters> counters;
    for (const auto& c : net_->counters()) counters[c.ifindex] = c;
    const bool rx_attached =
        std::any_of(net_->probes().begin(), net_->probes().end(), [](const bpf::ProbeStatus& p) {
            return p.name == "net_rx" && p.state == bpf::ProbeState::attached;
        });
    for (const auto& view : link_health_.links()) {
        const auto it = counters.find(view.ifindex);
        // A link that never received a packet since the probe attached
        // has no counter yet: that is zero, not "unknown".
        if (it == counters.end() && !rx_attached) continue;
        const std::uint64_t rx = it == counters.end() ? 0 : it->second.rx_packets;
        if (auto t = link_health_.observe_rx(view.ifindex, {.now = at, .rx_packets = rx})) {
            report_link(*t);
        }
        if (it != counters.end()) metrics_->set_tx_timeouts(view.name, it->second.tx_timeouts);
    }
    for (const auto& t : link_health_.tick(at)) report_link(t);
}

void Daemon::poll_block() {
    const auto now = loop_->now();
    std::map<std::string, core::StorageSample> samples;
    for (auto& [name, d] : devices_) {
        samples[name] = core::StorageSample{.gone_errors = d.last.gone_errors,
                                            .no_space_errors = d.last.no_space_errors,
                                            .transient_errors = d.last.transient_errors};
    }

    std::map<std::string, std::array<std::uint64_t, 3>> by_class;  // gone, no space, transient
    for (const auto& c : block_->error_counts()) {
        const std::string name = device_names_.name(c.device.major, c.device.minor);
        ErrorKey key{name, bpf::to_string(c.op), errno_name(c.error)};
        auto& seen = block_errors_[key];
        if (c.count != seen) {
            seen = c.count;
            metrics_->set_block_io_errors(name, std::get<1>(key), std::get<2>(key), c.count);
        }
        auto& classes = by_class[name];
        switch (core::classify_block_error(c.error)) {
            case core::BlockErrorClass::kGone:
                classes[0] += c.count;
                break;
            case core::BlockErrorClass::kNoSpace:
                classes[1] += c.count;
                break;
            case core::BlockErrorClass::kTransient:
                classes[2] += c.count;
                break;
            case core::BlockErrorClass::kOther:
                break;
        }
    }
    for (const auto& [name, classes] : by_class) {
        auto& sample = samples[name];
        sample.gone_errors = classes[0];
        sample.no_space_errors = classes[1];
        sample.transient_errors = classes[2];
    }
    for (const auto& st : adapters::read_block_stats()) {
        // Devices that never saw I/O are not worth a line of status.
        if (st.completed == 0 && st.in_flight == 0 && !devices_.contains(st.name)) continue;
        auto& sample = samples[st.name];
        sample.in_flight = st.in_flight;
        sample.oldest_in_flight = device(st.name).progress.observe(
            core::TimePoint(now), st.in_flight, st.completed, st.busy);
    }
    for (const auto& h : block_->latency()) {
        metrics_->set_block_latency(device_names_.name(h.device.major, h.device.minor), h.slots,
                                    h.sum_us);
    }
    for (const auto& wb : block_->writeback_errors()) {
        const std::string name = device_names_.name(wb.device.major, wb.device.minor);
        const std::string error = errno_name(wb.error);
        auto& seen = device(name).writeback_errors[error];
        if (wb.count > seen) {
            // Counted in the kernel, summarised here once per interval.
            log_evidence(Priority::warning, mid::kWritebackErrors,
                         std::to_string(wb.count - seen) + " writeback errors (" + error + ") on " +
                             name + " since the last poll",
                         {{"DEVICE", name},
                          {"ERROR", error},
                          {"NEW", std::to_string(wb.count - seen)},
                          {"TOTAL", std::to_string(wb.count)}});
            seen = wb.count;
            metrics_->set_writeback_errors(name, error, wb.count);
        }
    }

    static const std::vector<std::string> kStates = {"ok", "degraded", "no-space", "stalled",
                                                     "failed"};
    for (auto& [name, sample] : samples) {
        sample.now = core::TimePoint(now);
        Device& d = device(name);
        d.last = sample;
        if (auto tr = d.monitor.observe(sample)) {
            const bool worse = tr->to != core::StorageHealth::kOk;
            log_evidence(worse ? Priority::warning : Priority::notice, mid::kStorageState,
                         "storage device " + name + " is " + std::string(core::name(tr->to)) +
                             " (was " + std::string(core::name(tr->from)) + "): " + tr->evidence,
                         {{"DEVICE", name},
                          {"STATE", std::string(core::name(tr->to))},
                          {"PREVIOUS", std::string(core::name(tr->from))},
                          {"EVIDENCE", tr->evidence}});
        }
        metrics_->set_block_inflight(
            name, sample.in_flight, std::chrono::duration<double>(sample.oldest_in_flight).count());
        metrics_->set_storage_state(name, std::string(core::name(d.monitor.health())), kStates);
    }
    schedule_block_recheck(now);
}

void Daemon::schedule_block_recheck(std::chrono::nanoseconds now) {
    if (!block_recheck_) return;
    if (block_recheck_at_ && *block_recheck_at_ <= now) block_recheck_at_.reset();
    std::optional<core::Duration> soonest;
    for (const auto& [name, d] : devices_) {
        const auto left = core::until_next_threshold(d.monitor.thresholds(), d.last);
        if (left && (!soonest || *left < *soonest)) soonest = left;
    }
    if (!soonest || *soonest >= config_.probe_poll_interval) return;
    // A millisecond late, so the busy time (jiffies) has certainly passed it.
    const auto at = now + *soonest + std::chrono::milliseconds(1);
    if (block_recheck_at_ && *block_recheck_at_ <= at) return;
    block_recheck_at_ = at;
    loop_->set_alarm(*block_recheck_, at);
}

void Daemon::poll_nfs() {
    static const std::vector<std::string> kStates = {"ok", "degraded", "stalled", "gone"};
    auto read = adapters::read_mountstats(config_.nfs_mountstats);
    if (!read) {
        // Counted at every refused reading, logged once per reason: a file
        // that stays broken must not flood the journal at the poll rate.
        metrics_->count_bad_input("mountstats");
        if (read.error().message != nfs_error_) {
            nfs_error_ = read.error().message;
            journal_.log(
                Priority::warning, mid::kBadInput,
                "mountstats input refused: " + nfs_error_ + "; NFS mounts keep their last state",
                {{"SOURCE", "mountstats"},
                 {"REASON", nfs_error_},
                 {"PATH", config_.nfs_mountstats}});
        }
        return;
    }
    if (!nfs_error_.empty()) {
        journal_.log(Priority::notice, mid::kNfsState,
                     "mountstats " + config_.nfs_mountstats + " is readable again",
                     {{"PATH", config_.nfs_mountstats}});
        nfs_error_.clear();
    }
    std::vector<core::NfsMountSample> samples;
    samples.reserve(read->size());
    for (const auto& m : *read) samples.push_back(adapters::to_sample(m));
    const auto update = nfs_health_.observe(core::TimePoint(loop_->now()), samples);
    for (const auto& t : update.transitions) {
        const std::string to = core::to_string(t.to);
        const std::string from = t.from ? core::to_string(*t.from) : "unknown";
        const bool bad = t.to != core::NfsMountState::kOk;
        log_evidence(bad ? Priority::warning : (t.from ? Priority::notice : Priority::info),
                     mid::kNfsState,
                     "NFS mount " + t.mount + " is " + to + (t.from ? " (was " + from + ")" : "") +
                         ": " + t.evidence,
                     {{"MOUNT", t.mount},
                      {"NFS_DEVICE", t.device},
                      {"STATE", to},
                      {"PREVIOUS", from},
                      {"EVIDENCE", t.evidence}});
    }
    for (const auto& mount : update.forgotten) metrics_->forget_nfs_mount(mount, kStates);
    for (const auto& v : nfs_health_.mounts()) {
        metrics_->set_nfs_mount(v.mount,
                                {.operations = v.counters.ops,
                                 .retransmissions = v.counters.retransmissions,
                                 .major_timeouts = v.counters.major_timeouts,
                                 .unanswered = v.unanswered,
                                 .state = core::to_string(v.state)},
                                kStates);
    }
}

void Daemon::reload() {
    sd_notify(0, "RELOADING=1");
    // Started without a file (standalone defaults): a reload takes the
    // default file if one has been written since.
    const std::string path =
        config_.source.empty() ? std::string(config::kDefaultConfigPath) : config_.source;
    std::error_code ec;
    if (config_.source.empty() && !std::filesystem::exists(path, ec)) {
        journal_.log(Priority::notice, mid::kConfigReload,
                     "reload: no " + path + "; keeping the standalone defaults", {{"PATH", path}});
        sd_notify(0, "READY=1");
        return;
    }
    auto next = config::load(path);
    if (!next) {
        journal_.log(
            Priority::error, mid::kConfigReload,
            "reload refused, the running configuration is unchanged: " + next.error().to_string(),
            {{"PATH", path}, {"REASON", next.error().to_string()}});
        sd_notify(0, "READY=1");
        return;
    }
    const auto plan = config::plan_reload(config_, *next);
    const auto previous = config_;
    config_ = plan.config;
    journal_.set_threshold(priority_of(config_.log_level));
    if (config_.probe_poll_interval != previous.probe_poll_interval && poll_timer_) {
        loop_->set_interval(*poll_timer_, config_.probe_poll_interval);
    }
    if (config_.nfs_poll_interval != previous.nfs_poll_interval && nfs_timer_) {
        loop_->set_interval(*nfs_timer_, config_.nfs_poll_interval);
    }
    for (const auto& c : plan.refused) {
        journal_.log(Priority::warning, mid::kConfigReload,
                     "reload: " + c.key + " changed from " + c.from + " to " + c.to +
                         " but takes a restart; keeping " + c.from,
                     {{"PATH", path}, {"KEY", c.key}, {"RUNNING", c.from}, {"FILE", c.to}});
    }
    std::string applied;
    for (const auto& c : plan.applied) {
        applied += (applied.empty() ? "" : ", ") + c.key + " = " + c.to;
    }
    journal_.log(
        Priority::notice, mid::kConfigReload,
        "configuration reloaded from " + path + ": " +
            (applied.empty() ? "nothing applied" : "applied " + applied) +
            (plan.refused.empty() ? ""
                                  : ", " + std::to_string(plan.refused.size()) + " need a restart"),
        {{"PATH", path},
         {"APPLIED", std::to_string(plan.applied.size())},
         {"REFUSED", std::to_string(plan.refused.size())}});
    sd_notify(0, "READY=1");
}

std::string Daemon::status_json() const {
    nlohmann::json probes = nlohmann::json::array();
    for (const auto& p : probes_) {
        probes.push_back({{"name", p.name},
                          {"hook", p.hook},
                          {"state", bpf::to_string(p.state)},
                          {"reason", p.reason}});
    }
    std::map<std::string, nlohmann::json> errors_by_device;
    for (const auto& [key, count] : block_errors_) {
        const auto& [name, op, error] = key;
        errors_by_device[name].push_back({{"op", op}, {"error", error}, {"count", count}});
    }
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& [name, d] : devices_) {
        auto errors = errors_by_device[name];
        devices.push_back(
            {{"device", name},
             {"state", std::string(core::name(d.monitor.health()))},
             {"in_flight", d.last.in_flight},
             {"oldest_in_flight_ms",
              std::chrono::duration_cast<std::chrono::milliseconds>(d.last.oldest_in_flight)
                  .count()},
             {"io_errors", errors.is_null() ? nlohmann::json::array() : errors},
             {"writeback_errors", d.writeback_errors}});
    }
    nlohmann::json interfaces = nlohmann::json::array();
    const auto now = loop_->now();
    for (const auto& l : link_health_.links()) {
        nlohmann::json j = {
            {"interface", l.name},
            {"ifindex", l.ifindex},
            {"state", core::to_string(l.state)},
            {"for_seconds",
             std::chrono::duration<double>(now - l.since.time_since_epoch()).count()},
            {"carrier", l.carrier},
            {"operstate", core::to_string(l.operstate)}};
        if (l.rx_packets) j["rx_packets"] = *l.rx_packets;
        interfaces.push_back(std::move(j));
    }
    nlohmann::json nfs_mounts = nlohmann::json::array();
    for (const auto& m : nfs_health_.mounts()) {
        nlohmann::json j = {
            {"mount", m.mount},
            {"device", m.device},
            {"state", core::to_string(m.state)},
            {"for_seconds",
             std::chrono::duration<double>(now - m.since.time_since_epoch()).count()},
            {"operations", m.counters.ops},
            {"retransmissions", m.counters.retransmissions},
            {"major_timeouts", m.counters.major_timeouts},
            {"unanswered", m.unanswered},
            {"waiting_ms",
             std::chrono::duration_cast<std::chrono::milliseconds>(m.waiting).count()},
            {"resets", m.resets}};
        if (m.mean_rtt) {
            j["mean_rtt_ms"] = std::chrono::duration<double, std::milli>(*m.mean_rtt).count();
        }
        nfs_mounts.push_back(std::move(j));
    }
    const double uptime = std::chrono::duration<double>(loop_->now() - started_).count();
    return nlohmann::json{{"ok", true},
                          {"status",
                           {{"version", kVersion},
                            {"mode", config_.standalone ? "standalone" : "cluster"},
                            {"config", config_.source},
                            {"log_level", config::to_string(config_.log_level)},
                            {"uptime_seconds", uptime},
                            {"probes", probes},
                            {"block_devices", devices},
                            {"interfaces", interfaces},
                            {"nfs_mounts", nfs_mounts},
                            {"nfs_mountstats_error", nfs_error_}}}}
        .dump();
}

std::string Daemon::explain_json() const {
    nlohmann::json previous = nullptr;
    if (previous_record_) {
        previous = {{"boot_id", previous_record_->boot_id},
                    {"earlier_boot", previous_record_->boot_id != fence::current_boot_id()},
                    {"written_at",
                     std::chrono::duration<double>(previous_record_->written_at.time_since_epoch())
                         .count()},
                    {"decision", previous_record_->decision},
                    {"evidence", previous_record_->evidence}};
    }
    return nlohmann::json{{"ok", true},
                          {"explain",
                           {{"flight_record", config_.flight_record},
                            {"previous_self_fence", previous},
                            {"flight_record_error", previous_record_error_}}}}
        .dump();
}

std::string Daemon::handle_request(const std::string& request) {
    const auto command = adapters::parse_control_request(request);
    if (!command) {
        refuse_input("control", command.error());
        return adapters::format_control_error(command.error());
    }
    switch (*command) {
        case adapters::ControlCommand::status:
            return status_json();
        case adapters::ControlCommand::explain:
            return explain_json();
    }
    return adapters::format_control_error("unhandled command");
}

int Daemon::run() {
    poll();
    poll_nfs();
    journal_.log(Priority::notice, mid::kStarted,
                 std::string("vigild ") + kVersion + " started (" +
                     (config_.standalone ? "standalone" : "cluster") + " mode)",
                 {{"MODE", config_.standalone ? "standalone" : "cluster"},
                  {"CONFIG", config_.source.empty() ? "(defaults)" : config_.source}});
    sd_notify(0, "READY=1\nSTATUS=watching the local kernel");
    const int code = loop_->run();
    sd_notify(0, "STOPPING=1");
    if (watchdog_) {
        // A deliberate, clean stop: this vigild runs no HA VM yet, so the
        // watchdog may be disarmed. A crash never gets here and leaves it armed.
        if (auto ok = watchdog_->disarm(); ok) {
            journal_.log(Priority::notice, mid::kWatchdog, "watchdog disarmed on a clean stop",
                         {{"DEVICE", config_.watchdog_device}});
        } else {
            journal_.log(Priority::error, mid::kWatchdog,
                         "watchdog could not be disarmed: " + ok.error().message,
                         {{"DEVICE", config_.watchdog_device}});
        }
    }
    journal_.log(Priority::notice, mid::kStopped, "vigild stopping", {});
    return code;
}

}  // namespace vigil
