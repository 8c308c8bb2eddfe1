#include "daemon/daemon.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "daemon/adapters/control_protocol.h"
#include "daemon/config/duration.h"
#include "daemon/config/reload.h"
#include "daemon/core/decision.h"
#include "daemon/host/mapping.h"
#include "daemon/host/state_file.h"
#include "daemon/ports/error.h"

namespace vigil {
namespace {

using adapters::Priority;
namespace mid = adapters::message_id;

Priority priority_of(config::LogLevel level) {
    switch (level) {
        case config::LogLevel::kDebug:
            return Priority::kDebug;
        case config::LogLevel::kInfo:
            return Priority::kInfo;
        case config::LogLevel::kWarning:
            return Priority::kWarning;
        case config::LogLevel::kError:
            return Priority::kError;
    }
    return Priority::kInfo;
}

// Who asked for the maintenance cluster.maintenance_at_start begins.
constexpr const char* kFromConfig = "cluster.maintenance_at_start";

// Checking for the sunrpc hooks costs a stat() per hook; the first NFS mount
// waits for nothing from vigil, so a few seconds' delay costs only evidence
// from those seconds.
constexpr std::chrono::seconds kSunrpcRetryInterval{5};

// The storage domains' block devices, probed while failed so that VMs paused on
// their errors resume as soon as they serve again; only cluster mode resumes.
std::set<std::string> probe_devices(const config::Config& config) {
    std::set<std::string> out;
    if (config.standalone) return out;
    for (const auto& d : config.evidence_map.domains)
        out.insert(d.block_devices.begin(), d.block_devices.end());
    return out;
}

}  // namespace

Daemon::Daemon(config::Config config)
    : config_(std::move(config)), journal_(priority_of(config_.log_level)) {}

Daemon::~Daemon() = default;

std::expected<std::unique_ptr<Daemon>, Error> Daemon::make(config::Config config) {
    std::unique_ptr<Daemon> self(new Daemon(std::move(config)));
    auto loop = adapters::EventLoop::make();
    if (!loop) return std::unexpected(loop.error());
    self->loop_ = std::move(*loop);
    self->started_ = self->loop_->now();
    // Before any thread exists (the metrics server starts some): threads
    // inherit the blocked mask, so SIGTERM reaches only the loop's signalfd.
    Daemon* raw = self.get();
    // SIGTERM (systemctl stop, a package upgrade's restart) and SIGINT: cluster mode
    // may take a few heartbeats to freeze (ClusterMode::stop) before the loop ends.
    for (const int sig : {SIGTERM, SIGINT}) {
        if (auto ok = self->loop_->on_signal(sig, [raw] { raw->on_stop_signal(); }); !ok)
            return std::unexpected(ok.error());
    }
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
        [raw](const std::string& request, const adapters::ControlPeer& peer) {
            return raw->handle_request(request, peer);
        },
        [raw](const std::string& reason) { raw->refuse_input("control", reason); });
    if (!control) return std::unexpected(control.error());
    self->control_ = std::move(*control);
    // A reader of `events --follow` that stopped reading misuses the socket
    // as garbage does: refused, logged and counted the same way.
    self->control_->set_on_dropped(
        [raw](const std::string& reason) { raw->refuse_input("control", reason); });
    auto maintenance_alarm = self->loop_->add_alarm([raw] { raw->maintenance_due(); });
    if (!maintenance_alarm) return std::unexpected(maintenance_alarm.error());
    self->maintenance_alarm_ = *maintenance_alarm;

    if (auto ok = self->loop_->enable_systemd_watchdog(); !ok) return std::unexpected(ok.error());
    self->read_previous_flight_record();
    self->block_ = watch::BlockWatcher::make(
        *self->loop_, self->outputs(),
        watch::BlockWatcherOptions{
            .thresholds =
                core::StorageThresholds{.slow = self->config_.storage_slow,
                                        .stall = self->config_.storage_stall,
                                        .error_window = self->config_.storage_error_window,
                                        .hold = self->config_.storage_recovery_hold},
            .events_per_second = self->config_.block_error_events_per_second,
            .poll_interval = self->config_.probe_poll_interval,
            .probe_devices = probe_devices(self->config_)},
        [raw] { raw->poll(); });
    self->start_sunrpc();
    self->links_ =
        watch::LinkWatcher::make(*self->loop_, self->outputs(),
                                 core::LinkThresholds{.down_hold = self->config_.link_down_hold,
                                                      .up_hold = self->config_.link_up_hold,
                                                      .idle_after = self->config_.link_idle_after});
    self->nfs_ = std::make_unique<watch::NfsWatcher>(
        self->outputs(),
        core::NfsThresholds{.slow_rtt = self->config_.nfs_slow_rtt,
                            .stall = self->config_.nfs_stall,
                            .error_window = self->config_.nfs_error_window,
                            .hold = self->config_.nfs_recovery_hold,
                            .forget_after = self->config_.nfs_forget_after},
        self->config_.nfs_mountstats);
    if (self->config_.standalone) {
        if (auto ok = self->arm_watchdog(); !ok) return std::unexpected(ok.error());
    } else {
        fence::FlightRecorder* recorder = nullptr;
        if (auto& r = self->recorder_; r) recorder = &*r;
        auto cluster = ClusterMode::make(
            self->config_,
            ClusterMode::Deps{
                .loop = *self->loop_,
                .journal = self->journal_,
                .metrics = *self->metrics_,
                .recorder = recorder,
                .on_ready =
                    [raw] {
                        sd_notify(0, "READY=1\nSTATUS=in the cluster");
                        raw->journal_.log(Priority::kNotice, mid::kCluster,
                                          "first membership view arrived: ready", {});
                    },
                .on_admin =
                    [raw](adapters::AdminAction action, const std::string& by,
                          const exporters::HookFields& hook_fields) {
                        if (auto ok = raw->admin_action(action, std::nullopt, by, {{"BY", by}},
                                                        hook_fields);
                            !ok) {
                            raw->journal_.log(Priority::kError, mid::kAdminCommand,
                                              ok.error().message, {{"BY", by}});
                        }
                    },
                .on_event = [raw](control::Event e) { raw->record_event(std::move(e)); }});
        if (!cluster) return std::unexpected(cluster.error());
        self->cluster_ = std::move(*cluster);
        ClusterMode* cm = self->cluster_.get();
        self->block_->set_on_device([cm](const std::string& d, core::StorageHealth h, bool f,
                                         bool a) { cm->on_block(d, h, f, a); });
        self->block_->set_on_gone([cm](const std::string& d) { cm->on_block_gone(d); });
        self->nfs_->set_on_mount(
            [cm](const std::string& m, core::NfsMountState st, bool f) { cm->on_nfs(m, st, f); });
        self->links_->set_on_link(
            [cm](const std::string& i, core::LinkState st) { cm->on_link(i, st); });
        // The watcher's first dump came before there was a cluster mode to
        // tell: without this the core never hears of a link that stays up.
        for (const auto& l : self->links_->snapshot().links) cm->on_link(l.name, l.state);
        self->export_watchdog();
    }
    self->load_admin();
    auto poll_timer = self->loop_->every(self->config_.probe_poll_interval, [raw] { raw->poll(); });
    if (!poll_timer) return std::unexpected(poll_timer.error());
    self->poll_timer_ = *poll_timer;
    if (auto ok = self->block_->start_rechecks(); !ok) return std::unexpected(ok.error());
    auto nfs_timer =
        self->loop_->every(self->config_.nfs_poll_interval, [raw] { raw->poll_nfs(); });
    if (!nfs_timer) return std::unexpected(nfs_timer.error());
    self->nfs_timer_ = *nfs_timer;
    return self;
}

void Daemon::read_previous_flight_record() {
    auto previous = fence::FlightRecorder::read(config_.flight_record);
    if (!previous) {
        previous_record_error_ = previous.error().message;
        journal_.log(
            Priority::kError, mid::kFlightRecord,
            "the flight record " + config_.flight_record + " is damaged: " + previous_record_error_,
            {{"PATH", config_.flight_record}});
    } else if (const auto& record = *previous; record) {
        previous_record_ = *record;
        const bool earlier_boot = previous_record_->boot_id != fence::current_boot_id();
        journal_.log(earlier_boot ? Priority::kWarning : Priority::kNotice, mid::kFlightRecord,
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
        journal_.log(Priority::kError, mid::kFlightRecord,
                     "no flight recorder: " + recorder.error().message,
                     {{"PATH", config_.flight_record}});
    }
}

void Daemon::log_evidence(Priority priority, std::string_view id, const std::string& message,
                          const adapters::Fields& fields) {
    journal_.log(priority, id, message, fields);
    if (recorder_) recorder_->note(message);
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
    journal_.log(Priority::kNotice, mid::kWatchdog,
                 "watchdog " + config_.watchdog_device + " armed, timeout " +
                     std::to_string(watchdog_->timeout().count()) + " s",
                 {{"DEVICE", config_.watchdog_device},
                  {"IDENTITY", caps.identity},
                  {"TIMEOUT_S", std::to_string(watchdog_->timeout().count())},
                  {"KEEPALIVE", std::string(fence::name(caps.keepalive))},
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
    if (!watchdog_) return;
    if (auto ok = watchdog_->pet(); !ok) {
        journal_.log(Priority::kError, mid::kWatchdog,
                     "watchdog keepalive failed: " + ok.error().message,
                     {{"DEVICE", config_.watchdog_device}, {"REASON", ok.error().message}});
    }
    export_watchdog();
}

void Daemon::export_watchdog() {
    std::optional<fence::WatchdogStatus> status;
    if (watchdog_) status = watchdog_->status();
    if (cluster_) status = cluster_->watchdog_status();
    metrics_->set_watchdog(status ? host::watchdog_metrics(*status) : exporters::WatchdogMetrics{});
}

void Daemon::refuse_input(const std::string& source, const std::string& reason) {
    metrics_->count_bad_input(source);
    journal_.log(Priority::kWarning, mid::kBadInput, source + " input refused: " + reason,
                 {{"SOURCE", source}, {"REASON", reason}});
}

watch::Outputs Daemon::outputs() {
    return watch::Outputs{
        .journal = journal_,
        .metrics = *metrics_,
        .evidence =
            [this](Priority priority, std::string_view id, const std::string& message,
                   const adapters::Fields& fields) { log_evidence(priority, id, message, fields); },
        .probe = [this](const bpf::ProbeStatus& p) { add_probe(p); }};
}

void Daemon::start_sunrpc() {
    auto sunrpc = bpf::SunrpcProbes::make();
    if (sunrpc) {
        sunrpc_ = std::move(*sunrpc);
        for (const auto& p : sunrpc_->probes()) add_probe(p);
        if (sunrpc_->waiting()) {
            // The first NFS mount loads the sunrpc module, maybe long after vigild.
            auto ok = loop_->every(kSunrpcRetryInterval, [this] { retry_sunrpc(); });
            if (!ok) journal_.log(Priority::kError, mid::kProbe, ok.error().message);
        }
    } else {
        add_probe({"sunrpc_timeouts", "tracepoint/sunrpc/rpc_timeout_status",
                   bpf::ProbeState::kFailed, sunrpc.error().message});
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
    const bool up = p.state == bpf::ProbeState::kAttached;
    metrics_->set_probe_up(p.name, up);
    journal_.log(up ? Priority::kInfo : Priority::kWarning, mid::kProbe,
                 up ? "probe " + p.name + " attached to " + p.hook
                    : "probe " + p.name + " " + std::string(bpf::name(p.state)) + ": " + p.reason,
                 {{"PROBE", p.name},
                  {"HOOK", p.hook},
                  {"STATE", std::string(bpf::name(p.state))},
                  {"REASON", p.reason}});
}

void Daemon::poll() {
    if (sunrpc_) {
        const auto c = sunrpc_->counts();
        metrics_->set_sunrpc({.major_timeouts = c.major_timeouts,
                              .minor_timeouts = c.minor_timeouts,
                              .retransmits = c.retransmits,
                              .call_errors = c.call_errors});
    }
    links_->poll();
    block_->poll();
}

void Daemon::poll_nfs() { nfs_->poll(core::TimePoint(loop_->now())); }

void Daemon::on_stop_signal() {
    if (stopping_) return;
    stopping_ = true;
    sd_notify(0, "STOPPING=1");
    if (!cluster_) return loop_->exit(0);
    cluster_->stop([this] { loop_->exit(0); });
}

void Daemon::reload() {
    sd_notify(0, "RELOADING=1");
    // Started without a file (standalone defaults): a reload takes the
    // default file if one has been written since.
    const std::string path =
        config_.source.empty() ? std::string(config::kDefaultConfigPath) : config_.source;
    std::error_code ec;
    if (config_.source.empty() && !std::filesystem::exists(path, ec)) {
        journal_.log(Priority::kNotice, mid::kConfigReload,
                     "reload: no " + path + "; keeping the standalone defaults", {{"PATH", path}});
        sd_notify(0, "READY=1");
        return;
    }
    auto next = config::load(path);
    if (!next) {
        journal_.log(
            Priority::kError, mid::kConfigReload,
            "reload refused, the running configuration is unchanged: " + next.error().text(),
            {{"PATH", path}, {"REASON", next.error().text()}});
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
    nfs_->set_mountstats(config_.nfs_mountstats);
    if (config_.nfs_poll_interval != previous.nfs_poll_interval && nfs_timer_) {
        loop_->set_interval(*nfs_timer_, config_.nfs_poll_interval);
    }
    for (const auto& c : plan.refused) {
        journal_.log(Priority::kWarning, mid::kConfigReload,
                     "reload: " + c.key + " changed from " + c.from + " to " + c.to +
                         " but takes a restart; keeping " + c.from,
                     {{"PATH", path}, {"KEY", c.key}, {"RUNNING", c.from}, {"FILE", c.to}});
    }
    std::string applied;
    for (const auto& c : plan.applied) {
        applied += (applied.empty() ? "" : ", ") + c.key + " = " + c.to;
    }
    journal_.log(
        Priority::kNotice, mid::kConfigReload,
        "configuration reloaded from " + path + ": " +
            (applied.empty() ? "nothing applied" : "applied " + applied) +
            (plan.refused.empty() ? ""
                                  : ", " + std::to_string(plan.refused.size()) + " need a restart"),
        {{"PATH", path},
         {"APPLIED", std::to_string(plan.applied.size())},
         {"REFUSED", std::to_string(plan.refused.size())}});
    sd_notify(0, "READY=1");
}

control::StatusSnapshot Daemon::status_snapshot() const {
    const auto now = loop_->now();
    return control::StatusSnapshot{
        .version = kVersion,
        .standalone = config_.standalone,
        .config = config_.source,
        .log_level = std::string(config::name(config_.log_level)),
        .now = now,
        .uptime_seconds = std::chrono::duration<double>(now - started_).count(),
        .probes = probes_,
        .block = block_->snapshot(),
        .links = links_->snapshot(),
        .nfs = nfs_->snapshot(),
        .watchdog = cluster_ ? std::optional(cluster_->watchdog_status()) : std::nullopt,
        .cluster = cluster_ ? std::optional(cluster_->status()) : std::nullopt,
        .admin = admin_,
        .wall_now = std::chrono::system_clock::now(),
        .admin_file = admin_file_.string(),
        .admin_file_error = admin_file_error_,
        .events_recorded = events_.recorded(),
        .event_followers = control_->followers(),
        .event_followers_dropped = control_->followers_dropped()};
}

control::ExplainSnapshot Daemon::explain_snapshot() const {
    return control::ExplainSnapshot{
        .flight_record = config_.flight_record,
        .previous = previous_record_,
        .boot_id = fence::current_boot_id(),
        .error = previous_record_error_,
        .cluster = cluster_ ? std::optional(cluster_->explain(loop_->now())) : std::nullopt};
}

adapters::ControlServer::Reply Daemon::handle_request(const std::string& request,
                                                      const adapters::ControlPeer& peer) {
    const auto parsed = adapters::parse_control_request(request);
    if (!parsed) {
        refuse_input("control", parsed.error().message);
        return {adapters::format_control_error(parsed.error().message)};
    }
    switch (parsed->command) {
        case adapters::ControlCommand::kStatus:
            return {control::status_json(status_snapshot())};
        case adapters::ControlCommand::kExplain:
            return {control::explain_json(explain_snapshot(), parsed->subject)};
        case adapters::ControlCommand::kEvents:
            return {events_reply(), parsed->follow};
        case adapters::ControlCommand::kAdmin:
            return {admin_reply(*parsed, peer)};
    }
    return {adapters::format_control_error("unhandled command")};
}

void Daemon::record_event(control::Event e) {
    const auto& stored = events_.add(std::move(e));
    if (control_ && control_->followers() > 0) {
        control_->publish(
            nlohmann::json{{"ok", true}, {"event", control::event_json(stored)}}.dump());
    }
}

std::string Daemon::events_reply() const {
    auto list = nlohmann::json::array();
    for (const auto& e : events_.all()) list.push_back(control::event_json(e));
    return nlohmann::json{
        {"ok", true},
        {"events",
         {{"recorded", events_.recorded()}, {"kept", control::EventLog::kKeep}, {"list", list}}}}
        .dump();
}

void Daemon::load_admin() {
    admin_file_ = std::filesystem::path(config_.flight_record).parent_path() / "admin-state";
    const auto now = std::chrono::system_clock::now();
    std::optional<control::AdminState> saved;
    auto text = host::read_state_file(admin_file_);
    if (!text) {
        admin_file_error_ = text.error().message;
    } else if (const auto& stored = *text; stored) {
        auto decoded = control::decode_admin_state(*stored);
        if (decoded) {
            saved = *decoded;
        } else {
            admin_file_error_ = admin_file_.string() + " is damaged: " + decoded.error().message;
        }
    }
    if (!admin_file_error_.empty()) {
        // Never into maintenance by accident: what cannot be read is not obeyed.
        metrics_->count_bad_input("state_file");
        const std::string message = "the maintenance and cordon state cannot be read (" +
                                    admin_file_error_ +
                                    "); starting out of maintenance and not cordoned";
        journal_.log(Priority::kError, mid::kMaintenance, message,
                     {{"PATH", admin_file_.string()}, {"REASON", admin_file_error_}});
        record_event({.wall = now, .kind = control::EventKind::kMaintenance, .message = message});
    }
    const auto start = control::admin_at_start(saved, now);
    admin_ = start.state;
    if (start.expired) {
        journal_.log(Priority::kNotice, mid::kMaintenance, start.note,
                     {{"PATH", admin_file_.string()}});
        record_event(
            {.wall = now, .kind = control::EventKind::kMaintenance, .message = start.note});
        if (auto ok = host::write_state_file(admin_file_, control::encode_admin_state(admin_));
            !ok) {
            admin_file_error_ = ok.error().message;
        }
    } else if (admin_.maintenance) {
        const std::string message =
            "still in maintenance after the restart, asked by " + admin_.maintenance_by +
            (admin_.maintenance_until ? ", until " + control::iso_time(*admin_.maintenance_until)
                                      : std::string(", until turned off"));
        journal_.log(Priority::kNotice, mid::kMaintenance, message,
                     {{"PATH", admin_file_.string()}, {"BY", admin_.maintenance_by}});
        record_event({.wall = now, .kind = control::EventKind::kMaintenance, .message = message});
    }
    if (cluster_) {
        if (admin_.maintenance) {
            cluster_->admin(core::AdminCommand::kMaintenanceOn, {}, false);
        } else if (config_.maintenance_at_start) {
            // The core starts in maintenance (policy.maintenance); show it, and
            // let `vigilctl maintenance off` end it. Not written: the
            // configuration says it again at the next start.
            admin_.maintenance = true;
            admin_.maintenance_since = now;
            admin_.maintenance_by = kFromConfig;
        }
        if (admin_.draining) {
            cluster_->admin(control::admin_command(adapters::AdminAction::kDrain), {}, false);
        } else if (admin_.cordoned) {
            cluster_->admin(control::admin_command(adapters::AdminAction::kCordon), {}, false);
        }
    }
    arm_maintenance_end();
}

void Daemon::tell_core(adapters::AdminAction action, const exporters::HookFields& hook_fields) {
    if (cluster_) cluster_->admin(control::admin_command(action), hook_fields, true);
}

std::expected<void, Error> Daemon::admin_action(
    adapters::AdminAction action, std::optional<std::chrono::milliseconds> for_duration,
    const std::string& by, const adapters::Fields& who, const exporters::HookFields& hook_fields) {
    const auto now = std::chrono::system_clock::now();
    const auto next = control::apply_admin(admin_, action, for_duration, by, now);
    // Written before it is acted on: what vigild obeys, it finds again after
    // a restart. The configuration's maintenance is the configuration's to
    // say again, not the file's.
    auto saved = next;
    if (saved.maintenance && saved.maintenance_by == kFromConfig) {
        saved = control::apply_admin(saved, adapters::AdminAction::kMaintenanceOff, std::nullopt,
                                     "", now);
    }
    if (auto ok = host::write_state_file(admin_file_, control::encode_admin_state(saved)); !ok) {
        admin_file_error_ = ok.error().message;
        return std::unexpected(std::string(adapters::name(action)) +
                               " not done: it could not be recorded in " + admin_file_.string() +
                               ": " + ok.error().message);
    }
    admin_file_error_.clear();
    admin_ = next;
    tell_core(action, hook_fields);
    arm_maintenance_end();
    std::string message = std::string(adapters::name(action));
    if (action == adapters::AdminAction::kMaintenanceOn) {
        const auto& until = admin_.maintenance_until;
        message += until && for_duration ? " for " + config::format_duration(*for_duration) +
                                               " (until " + control::iso_time(*until) + ")"
                                         : std::string(" until turned off");
    }
    message += ", asked by " + by;
    if (!cluster_) message += " (standalone mode: recorded, nothing to hold back)";
    adapters::Fields fields = who;
    fields.emplace_back("ACTION", adapters::name(action));
    if (admin_.maintenance_until && action == adapters::AdminAction::kMaintenanceOn) {
        fields.emplace_back("UNTIL", control::iso_time(*admin_.maintenance_until));
    }
    journal_.log(Priority::kNotice, mid::kAdminCommand, message, fields);
    control::Event e{.wall = now, .kind = control::EventKind::kAdmin, .message = message};
    for (const auto& [k, v] : fields) {
        std::string key = k;
        std::transform(key.begin(), key.end(), key.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        e.fields.emplace_back(key, v);
    }
    record_event(std::move(e));
    return {};
}

std::string Daemon::admin_reply(const adapters::ControlRequest& request,
                                const adapters::ControlPeer& peer) {
    const control::Requester r{.uid = peer.uid, .pid = peer.pid, .command = peer.command};
    const adapters::Fields who{{"UID", std::to_string(peer.uid)},
                               {"PID", std::to_string(peer.pid)},
                               {"COMMAND", peer.command}};
    const exporters::HookFields hook_fields{
        {"by", "vigilctl"}, {"uid", std::to_string(peer.uid)}, {"pid", std::to_string(peer.pid)}};
    if (auto ok =
            admin_action(request.action, request.for_duration, r.describe(), who, hook_fields);
        !ok) {
        journal_.log(Priority::kError, mid::kAdminCommand, ok.error().message, who);
        return adapters::format_control_error(ok.error().message);
    }
    return nlohmann::json{
        {"ok", true},
        {"admin", control::admin_json(admin_, std::chrono::system_clock::now(), !cluster_)}}
        .dump();
}

void Daemon::arm_maintenance_end() {
    const auto left = control::maintenance_left(admin_, std::chrono::system_clock::now());
    if (!left || !maintenance_alarm_) return;
    loop_->set_alarm(*maintenance_alarm_, loop_->now() + *left);
}

void Daemon::maintenance_due() {
    const auto now = std::chrono::system_clock::now();
    const auto left = control::maintenance_left(admin_, now);
    const auto until = admin_.maintenance_until;
    if (!left || !until) return;  // turned off, or made open-ended, since the alarm was set
    if (left->count() > 0) {
        // Early (the wall clock was set back): wait for what is left.
        arm_maintenance_end();
        return;
    }
    const std::string by = "the --for duration ran out (maintenance asked by " +
                           admin_.maintenance_by + ", until " + control::iso_time(*until) + ")";
    if (auto ok = admin_action(adapters::AdminAction::kMaintenanceOff, std::nullopt, by,
                               {{"BY", "timer"}}, {{"by", "timer"}});
        !ok) {
        // Ended all the same: the file's end time has passed too, so a
        // restart finds it over.
        journal_.log(Priority::kError, mid::kMaintenance, ok.error().message, {{"BY", "timer"}});
        admin_ = control::apply_admin(admin_, adapters::AdminAction::kMaintenanceOff, std::nullopt,
                                      by, now);
        tell_core(adapters::AdminAction::kMaintenanceOff, {{"by", "timer"}});
        record_event({.wall = now,
                      .kind = control::EventKind::kMaintenance,
                      .message = "maintenance ended: " + by});
    }
}

int Daemon::run() {
    poll();
    poll_nfs();
    journal_.log(Priority::kNotice, mid::kStarted,
                 std::string("vigild ") + kVersion + " started (" +
                     (config_.standalone ? "standalone" : "cluster") + " mode)",
                 {{"MODE", config_.standalone ? "standalone" : "cluster"},
                  {"CONFIG", config_.source.empty() ? "(defaults)" : config_.source}});
    if (cluster_) {
        // READY=1 comes with the first membership view (the probes are attached by now).
        sd_notify(0, "STATUS=probes attached; waiting for the first membership view");
        if (auto ok = cluster_->start(); !ok) {
            journal_.log(Priority::kError, mid::kCluster,
                         "cluster mode could not start: " + ok.error().message);
            return 1;
        }
    }
    // Every probe is known, the kernel's counters, the links, the NFS mounts
    // and (in cluster mode) the cluster are exported once: from now on a
    // scrape gets the whole set. Before READY=1, so that a ready vigild
    // always answers one.
    record_event({.wall = std::chrono::system_clock::now(),
                  .kind = control::EventKind::kDaemon,
                  .message = std::string("vigild ") + kVersion + " started (" +
                             (config_.standalone ? "standalone" : "cluster") + " mode)"});
    metrics_->collection_complete();
    if (!cluster_) sd_notify(0, "READY=1\nSTATUS=watching the local kernel");
    const int code = loop_->run();
    if (watchdog_) {
        // A deliberate, clean stop: this vigild runs no HA VM yet, so the
        // watchdog may be disarmed. A crash never gets here and leaves it armed.
        if (auto ok = watchdog_->disarm(); ok) {
            journal_.log(Priority::kNotice, mid::kWatchdog, "watchdog disarmed on a clean stop",
                         {{"DEVICE", config_.watchdog_device}});
        } else {
            journal_.log(Priority::kError, mid::kWatchdog,
                         "watchdog could not be disarmed: " + ok.error().message,
                         {{"DEVICE", config_.watchdog_device}});
        }
    }
    journal_.log(Priority::kNotice, mid::kStopped, "vigild stopping", {});
    return code;
}

}  // namespace vigil
