#include "daemon/cluster_mode.h"

#include <filesystem>
#include <optional>

#include "daemon/adapters/corosync_cmap.h"
#include "daemon/config/cluster.h"
#include "daemon/control/admin.h"
#include "daemon/host/incarnation.h"
#include "daemon/host/mapping.h"

namespace vigil {

using adapters::Priority;
namespace mid = adapters::message_id;

ClusterPaths cluster_paths(const config::Config& config) {
    const auto state = std::filesystem::path(config.flight_record).parent_path();
    const auto run = std::filesystem::path(config.control_socket).parent_path();
    return ClusterPaths{.incarnation = state / "incarnation", .pet_file = run / "watchdog-pet"};
}

ClusterMode::~ClusterMode() = default;

namespace {

// The config's rule table as the webhook takes it; the config has checked
// every action name (config.cpp keeps its list in step with HostAction).
exporters::WebhookOptions webhook_options(const config::Config& config) {
    exporters::WebhookOptions o{.host = config.webhook_listen.host,
                                .port = config.webhook_listen.port,
                                .token_file = config.webhook_token_file,
                                .max_body_bytes = config.webhook_max_body};
    for (const auto& r : config.webhook_rules) {
        exporters::AlertRule rule{.alert = r.alert,
                                  .labels = {r.labels.begin(), r.labels.end()},
                                  .action = exporters::parse_host_action(r.action).value_or(
                                      exporters::HostAction::kDrain),
                                  .host = r.host,
                                  .host_label = r.host_label};
        if (!r.resolved_action.empty())
            rule.resolved_action = exporters::parse_host_action(r.resolved_action);
        o.rules.push_back(std::move(rule));
    }
    return o;
}

}  // namespace

std::expected<std::unique_ptr<ClusterMode>, Error> ClusterMode::make(const config::Config& config,
                                                                     Deps deps) {
    std::unique_ptr<ClusterMode> self(new ClusterMode(std::move(deps)));
    ClusterMode* raw = self.get();
    self->config_ = config;
    self->paths_ = cluster_paths(config);
    const auto& journal = self->deps_.journal;
    if (!config.watchdog_enabled) {
        return std::unexpected(
            Error{"cluster mode needs the watchdog ([watchdog] enabled = true): without it a "
                  "hung host is never reset, and peers would restart its VMs while they run"});
    }

    // F8: a restarted vigild finds the watchdog its predecessor left armed and
    // opens it only at the first pet the core allows this run (mapping.h).
    auto record = host::read_pet_file(self->paths_.pet_file);
    std::optional<host::PetRecord> previous;
    if (!record) {
        // Damaged: armed, and no telling since when.
        previous = host::PetRecord{.last_pet_boottime = std::chrono::nanoseconds(0)};
    } else {
        previous = *record;
    }
    const auto verdict = host::reopen_verdict(
        previous, host::boottime_now(),
        std::chrono::duration_cast<std::chrono::nanoseconds>(config.watchdog_timeout));
    journal.log(verdict.when == host::OpenWhen::kAtStart ? Priority::kInfo : Priority::kNotice,
                mid::kIncarnation, verdict.why, {{"PET_FILE", self->paths_.pet_file.string()}});

    // The policy, checked against what the running corosync says of itself
    // (token, consensus, crypto, nodelist): cluster mode needs corosync.
    auto facts = adapters::read_corosync_facts();
    if (!facts) return std::unexpected(Error{"cluster mode: " + facts.error().message});
    journal.log(Priority::kInfo, mid::kCluster,
                "corosync: token " + std::to_string(facts->token.count()) + " ms, consensus " +
                    std::to_string(facts->consensus.count()) + " ms, crypto " +
                    (facts->authenticated ? facts->crypto_cipher + "/" + facts->crypto_hash
                                          : std::string("off")),
                {{"TOKEN_MS", std::to_string(facts->token.count())},
                 {"CONSENSUS_MS", std::to_string(facts->consensus.count())},
                 {"AUTHENTICATED", facts->authenticated ? "yes" : "no"}});
    if (!facts->authenticated && config.allow_unauthenticated_cluster) {
        journal.log(Priority::kWarning, mid::kCluster,
                    "corosync runs without authentication and cluster.allow_unauthenticated "
                    "accepts it: any host on the cluster network can steer restarts",
                    {{"AUTHENTICATED", "no"}});
    }
    self->deps_.metrics.set_cluster_unauthenticated(!facts->authenticated);
    auto policy = config::cluster_policy(config, config.watchdog_timeout, *facts);
    if (!policy) return std::unexpected(Error{"cluster mode refused: " + policy.error().message});
    auto map = core::EvidenceMap::make(config.evidence_map);
    if (!map)
        return std::unexpected(Error{"storage domains and interfaces: " + map.error().message});
    self->map_.emplace(std::move(*map));

    auto corosync = adapters::Cluster::make(
        adapters::ClusterOptions{.group = config.cluster_group},
        adapters::ClusterHandlers{
            .on_membership =
                [raw](const core::MembershipEvidence& e) {
                    raw->membership_seen_ = true;
                    raw->members_ = e.members.size();
                    raw->observe(e);
                    if (!raw->ready_ && raw->deps_.on_ready) {
                        raw->ready_ = true;
                        raw->deps_.on_ready();
                    }
                },
            .on_message =
                [raw](const core::PeerMessageEvidence& e) {
                    raw->refusals_.accepted("node " + std::to_string(e.status.host.value));
                    raw->observe(e);
                },
            .on_refused =
                [raw](std::uint32_t nodeid, const core::DecodeError& why) {
                    raw->refusals_.refused("node " + std::to_string(nodeid), why,
                                           {{"NODEID", std::to_string(nodeid)}});
                },
            .on_unreadable = [raw](const core::PeerUnreadableEvidence& e) { raw->observe(e); }});
    if (!corosync) {
        return std::unexpected(Error{"cluster mode: corosync: " + corosync.error().message});
    }
    self->corosync_ = std::move(*corosync);
    const auto self_id = self->corosync_->self();

    auto owners = host::slot_owners(config.cluster_hosts, self_id);
    if (!owners) return std::unexpected(Error{"heartbeat slots: " + owners.error().message});
    auto incarnation = host::take_incarnation(self->paths_.incarnation, self->clock_.wall());
    if (!incarnation) return std::unexpected(Error{"incarnation: " + incarnation.error().message});
    journal.log(
        Priority::kNotice, mid::kIncarnation,
        "this run of vigild is incarnation " + std::to_string(*incarnation) + " of " +
            core::host_name(self_id),
        {{"INCARNATION", std::to_string(*incarnation)}, {"HOST", core::host_name(self_id)}});

    auto store = adapters::StorageHeartbeat::make(adapters::HeartbeatConfig{
        .area = config.heartbeat_area, .owners = owners->owners, .own_slot = owners->own_slot});
    if (!store) return std::unexpected(Error{"heartbeat area: " + store.error().message});
    self->store_ = std::move(*store);

    self->hv_events_ = std::make_shared<host::HypervisorEvents>();
    auto hv = adapters::LibvirtHypervisor::make(
        adapters::HypervisorConfig{.uri = config.libvirt_uri,
                                   .start_timeout = config.vm_start_timeout,
                                   .resume_timeout = config.vm_resume_timeout,
                                   .stop_grace = config.vm_stop_grace,
                                   .stop_timeout = config.vm_stop_timeout,
                                   .migrate_timeout = config.vm_migrate_timeout},
        host::HypervisorPort::sink(self->hv_events_, &self->hv_view_));
    if (!hv) return std::unexpected(Error{"libvirt: " + hv.error().message});
    self->hv_ = std::move(*hv);
    self->hv_view_ = self->hv_.get();

    auto hooks = exporters::HookRunner::make(
        self->deps_.loop, journal,
        exporters::HookOptions{.dir = config.hooks_dir,
                               .timeout = config.hooks_timeout,
                               .max_concurrent = config.hooks_max_concurrent,
                               .queue_size = config.hooks_queue_size,
                               .user = config.hooks_user},
        [raw](const exporters::HookRun& r) {
            raw->deps_.metrics.count_hook_run(r.result);
            if (!raw->deps_.on_event) return;
            control::Event e{.wall = std::chrono::system_clock::now(),
                             .kind = control::EventKind::kHook,
                             .message = "hook " + r.hook + " for " +
                                        std::string(exporters::name(r.event)) + ": " +
                                        std::string(exporters::name(r.result))};
            e.fields = {{"hook", r.hook},
                        {"event", std::string(exporters::name(r.event))},
                        {"result", std::string(exporters::name(r.result))}};
            if (r.exit_code) e.fields.emplace_back("exit_code", std::to_string(*r.exit_code));
            raw->deps_.on_event(std::move(e));
        });
    if (hooks) {
        self->hooks_ = std::move(*hooks);
    } else {
        journal.log(Priority::kError, mid::kHookRun, "no hooks: " + hooks.error().message);
    }

    if (config.webhook_enabled) {
        auto webhook = exporters::WebhookReceiver::make(
            self->deps_.loop, journal, webhook_options(config),
            [raw](const exporters::AlertAction& a) { raw->on_alert_action(a); },
            [raw](exporters::WebhookResult r) { raw->deps_.metrics.count_webhook_request(r); });
        if (!webhook) return std::unexpected(Error{"webhook: " + webhook.error().message});
        self->webhook_ = std::move(*webhook);
    }

    // The watchdog last: every refusal above leaves nothing armed (or, when an
    // earlier run left it armed, leaves it as it was).
    self->watchdog_port_ = std::make_unique<host::WatchdogPort>(
        [options = fence::WatchdogOptions{.path = config.watchdog_device,
                                          .timeout = config.watchdog_timeout}] {
            return fence::Watchdog::make(options);
        },
        config.watchdog_timeout, self->paths_.pet_file, journal);
    if (verdict.when == host::OpenWhen::kAtStart) {
        if (auto ok = self->watchdog_port_->open_now(); !ok) {
            return std::unexpected(
                Error{"arming the watchdog " + config.watchdog_device + ": " + ok.error().message});
        }
        journal.log(Priority::kNotice, mid::kWatchdog,
                    "watchdog " + config.watchdog_device + " armed, timeout " +
                        std::to_string(self->watchdog_port_->timeout().count()) +
                        " s (cluster mode)",
                    {{"DEVICE", config.watchdog_device},
                     {"TIMEOUT_S", std::to_string(self->watchdog_port_->timeout().count())}});
    } else {
        self->watchdog_port_->open_at_first_pet(previous->last_pet_boottime);
    }

    self->cluster_port_ = std::make_unique<host::ClusterPort>(*self->corosync_, journal);
    self->heartbeat_port_ =
        std::make_unique<host::HeartbeatPort>(*self->store_, journal, self->deps_.metrics,
                                              [raw](const core::Evidence& e) { raw->observe(e); });
    std::map<core::HostId, std::string> migration_uris;
    for (const auto& h : config.cluster_hosts) {
        if (!h.migration_uri.empty())
            migration_uris.emplace(core::HostId{h.nodeid}, h.migration_uri);
    }
    self->hypervisor_port_ =
        std::make_unique<host::HypervisorPort>(*self->hv_, std::move(migration_uris));
    const auto area = std::filesystem::path(config.heartbeat_area);
    const auto own_slot = owners->own_slot;
    self->fencer_ = std::make_unique<host::Fencer>(
        host::FencerParts{
            .recorder = self->deps_.recorder,
            .last_words =
                [area, own_slot](const adapters::LastWords& w) {
                    return adapters::write_last_words(area, own_slot, w);
                },
            .reboot = self->reboot_,
            .later = [raw](std::function<void()> fn) { raw->later(std::move(fn)); },
            .on_fence =
                [raw](ports::RequestId id, bool confirmed, const std::string& detail) {
                    if (raw->driver_) raw->driver().on_fence(id, confirmed, detail);
                }},
        self_id, *incarnation, journal);
    self->sink_ = std::make_unique<host::EventSink>(host::SinkParts{
        .journal = journal,
        .metrics = self->deps_.metrics,
        .note = [raw](std::string line) { raw->fencer_->note(std::move(line)); },
        .hooks = self->hooks_.get(),
        .on_decision =
            [raw](core::TimePoint at, const core::Decision& d) {
                raw->history().record(at, raw->clock_.wall(), d);
                if (raw->deps_.on_event) {
                    raw->deps_.on_event(control::decision_event(d, raw->clock_.wall()));
                }
            }});
    self->history_.emplace(self_id);

    // Early heartbeats (ports::Pacer) begin as the regular ones do.
    auto early_alarm = self->deps_.loop.add_alarm([raw] {
        if (raw->driver_) raw->tick_read();
    });
    if (!early_alarm) return std::unexpected(early_alarm.error());
    self->pacer_ = std::make_unique<host::LoopPacer>(self->deps_.loop, *early_alarm);

    auto driver = driver::HostDriver::make(
        *policy, self_id, *incarnation,
        std::chrono::duration_cast<core::Duration>(self->watchdog_port_->timeout()),
        driver::Ports{.clock = self->clock_,
                      .hypervisor = *self->hypervisor_port_,
                      .heartbeat = *self->heartbeat_port_,
                      .cluster = *self->cluster_port_,
                      .watchdog = *self->watchdog_port_,
                      .fencer = *self->fencer_,
                      .events = *self->sink_,
                      .pacer = *self->pacer_});
    if (!driver) return std::unexpected(Error{"cluster mode refused: " + driver.error().message});
    self->driver_.emplace(std::move(*driver));

    self->hv_events_->on_action = [raw](ports::RequestId id, const core::ActionEvidence& e) {
        raw->driver().on_action(id, e);
    };
    self->hv_events_->on_evidence = [raw](const core::Evidence& e) { raw->observe(e); };
    self->hv_events_->on_io_error = [raw](const adapters::IoErrorEvent& e) {
        raw->deps_.journal.log(
            Priority::kWarning, mid::kHypervisor,
            "VM " + e.vm + " reported an I/O error (" + e.reason + ") on " + e.device,
            {{"VM", e.vm}, {"DISK", e.device}, {"REASON", e.reason}});
    };
    self->hv_events_->on_connection = [raw](bool up, const std::string& why) {
        raw->deps_.journal.log(up ? Priority::kNotice : Priority::kWarning, mid::kHypervisor,
                               std::string(up ? "libvirt connected: " : "libvirt away: ") + why,
                               {{"REASON", why}});
    };
    self->hv_events_->on_bad_input = [raw](const std::string& vm, const Error& why) {
        raw->deps_.metrics.count_bad_input("domain_xml");
        raw->deps_.journal.log(Priority::kWarning, mid::kBadInput,
                               "domain_xml input refused: " + vm + ": " + why.message,
                               {{"SOURCE", "domain_xml"}, {"VM", vm}, {"REASON", why.message}});
    };

    auto& loop = self->deps_.loop;
    if (auto ok = loop.watch_fd(self->store_->fd(),
                                [raw] {
                                    raw->heartbeat_port_->dispatch();
                                    raw->note_previous_run();
                                    raw->advance_stop();
                                });
        !ok) {
        return std::unexpected(ok.error());
    }
    if (auto ok = loop.watch_fd(self->hv_->fd(),
                                [raw] {
                                    raw->hv_->dispatch();
                                    raw->sync_vm_policies();
                                    raw->first_beat_when_listed();
                                });
        !ok) {
        return std::unexpected(ok.error());
    }
    self->watch_corosync();
    auto alarm = loop.add_alarm([raw] {
        if (!raw->driver_) return;
        raw->driver().heartbeat();
        raw->export_metrics();
    });
    if (!alarm) return std::unexpected(alarm.error());
    self->beat_alarm_ = *alarm;
    auto later_alarm = loop.add_alarm([raw] {
        auto due = std::move(raw->later_);
        raw->later_.clear();
        for (auto& fn : due) fn();
    });
    if (!later_alarm) return std::unexpected(later_alarm.error());
    self->later_alarm_ = *later_alarm;
    for (const auto& e : self->map().current()) self->observe(e);
    return self;
}

void ClusterMode::sync_vm_policies() {
    // A listing sends the policies itself; an HA VM defined, undefined or
    // given new metadata between listings comes only as an event, and the
    // core must know it as soon as the hypervisor does.
    auto now = host::vm_policies(hv_->vms());
    if (now.vms == sent_policies_) return;
    sent_policies_ = now.vms;
    observe(now);
}

void ClusterMode::later(std::function<void()> fn) {
    later_.push_back(std::move(fn));
    deps_.loop.set_alarm(later_alarm_, deps_.loop.now());
}

void ClusterMode::on_alert_action(const exporters::AlertAction& a) {
    const adapters::Fields fields{{"ACTION", std::string(exporters::name(a.action))},
                                  {"HOST", a.host},
                                  {"ALERT", a.alert},
                                  {"FINGERPRINT", a.fingerprint}};
    // The configured name of this host; "h<nodeid>" when the list lacks it.
    const auto self = driver().engine().self();
    std::string mine = core::host_name(self);
    for (const auto& h : config_.cluster_hosts) {
        if (h.nodeid == self.value) mine = h.name;
    }
    if (a.host != mine) {
        // Each host acts on itself only: point the alert's route at the
        // named host's own receiver.
        deps_.journal.log(Priority::kWarning, mid::kWebhookAction,
                          "alert " + a.alert + " asks for " +
                              std::string(exporters::name(a.action)) + " on " + a.host +
                              ", not on this host (" + mine + "): ignored",
                          fields);
        return;
    }
    adapters::AdminAction action = adapters::AdminAction::kDrain;
    switch (a.action) {
        case exporters::HostAction::kDrain:  // the real drain: hand the VMs over, then cordon
            action = adapters::AdminAction::kDrain;
            break;
        case exporters::HostAction::kCordon:
            action = adapters::AdminAction::kCordon;
            break;
        case exporters::HostAction::kUncordon:
            action = adapters::AdminAction::kUncordon;
            break;
        case exporters::HostAction::kMaintenanceOn:
            action = adapters::AdminAction::kMaintenanceOn;
            break;
        case exporters::HostAction::kMaintenanceOff:
            action = adapters::AdminAction::kMaintenanceOff;
            break;
    }
    deps_.journal.log(Priority::kNotice, mid::kWebhookAction,
                      std::string(exporters::name(a.action)) + " on this host, asked by alert " +
                          a.alert + " through the webhook",
                      fields);
    const std::string by = "alert " + a.alert + " through the webhook";
    const exporters::HookFields hook_fields{{"alert", a.alert}, {"by", "webhook"}};
    if (deps_.on_admin) {
        deps_.on_admin(action, by, hook_fields);
    } else {
        admin(control::admin_command(action), hook_fields, true);
    }
}

void ClusterMode::admin(core::AdminCommand command, const exporters::HookFields& hook_fields,
                        bool hooks) {
    observe(core::AdminEvidence{command});
    std::optional<exporters::HookEvent> event;
    switch (command) {
        case core::AdminCommand::kMaintenanceOn:
            event = exporters::HookEvent::kMaintenanceOn;
            break;
        case core::AdminCommand::kMaintenanceOff:
            event = exporters::HookEvent::kMaintenanceOff;
            break;
        case core::AdminCommand::kCordon:
        case core::AdminCommand::kUncordon:
        case core::AdminCommand::kDrain:
            break;
    }
    if (hooks && hooks_ && event) hooks_->submit(*event, hook_fields);
}

void ClusterMode::observe(const core::Evidence& e) {
    if (driver_) driver().observe(e);
}

void ClusterMode::watch_corosync() {
    auto cpg = deps_.loop.watch_fd(corosync_->cpg_fd(), [this] { on_corosync(); });
    auto quorum = deps_.loop.watch_fd(corosync_->quorum_fd(), [this] { on_corosync(); });
    if (cpg) cpg_watch_ = *cpg;
    if (quorum) quorum_watch_ = *quorum;
    if (!cpg || !quorum) {
        deps_.journal.log(Priority::kError, mid::kCluster,
                          "watching corosync: " + (!cpg ? cpg.error() : quorum.error()).message);
    }
}

void ClusterMode::on_corosync() {
    if (auto ok = corosync_->dispatch(); ok)
        return;
    else if (!corosync_lost_) {
        corosync_lost_ = true;
        deps_.journal.log(Priority::kError, mid::kCluster,
                          "lost the connection to corosync: " + ok.error().message +
                              "; reconnecting every heartbeat",
                          {{"GROUP", corosync_->group()}, {"REASON", ok.error().message}});
    }
    if (cpg_watch_) deps_.loop.unwatch(*cpg_watch_);
    if (quorum_watch_) deps_.loop.unwatch(*quorum_watch_);
    cpg_watch_.reset();
    quorum_watch_.reset();
}

void ClusterMode::reconnect_corosync() {
    if (corosync_->connected()) return;
    if (auto ok = corosync_->reconnect(); !ok) return;
    deps_.journal.log(Priority::kNotice, mid::kCluster, "connected to corosync again",
                      {{"GROUP", corosync_->group()}});
    corosync_lost_ = false;
    watch_corosync();
}

void ClusterMode::tick_read() {
    reconnect_corosync();
    if (cluster_port_->busy() != busy_seen_) {
        for (; busy_seen_ < cluster_port_->busy(); ++busy_seen_) {
            deps_.metrics.count_cluster_send_busy();
        }
    }
    driver().read_slots();
    deps_.loop.set_alarm(beat_alarm_, deps_.loop.now() + driver().read_lead());
}

void ClusterMode::first_beat_when_listed() {
    // The first status goes out as soon as the core knows what runs here, not
    // up to a heartbeat later: a restarted vigild that found the watchdog left
    // armed has only what is left of the earlier run's timeout to pet it.
    if (early_beat_done_ || !driver().engine().snapshot().listed) return;
    early_beat_done_ = true;
    tick_read();
}

std::expected<void, Error> ClusterMode::start() {
    started_ = core::TimePoint(deps_.loop.now());
    driver().start();
    export_metrics();
    auto timer = deps_.loop.every(
        std::chrono::duration_cast<std::chrono::milliseconds>(config_.heartbeat_interval),
        [this] { tick_read(); });
    if (!timer) return std::unexpected(timer.error());
    return {};
}

void ClusterMode::export_metrics() {
    std::map<std::uint32_t, std::string> names;
    for (const auto& h : config_.cluster_hosts) names[h.nodeid] = h.name;
    const auto engine = driver().engine().snapshot();
    deps_.metrics.set_cluster(
        host::cluster_metrics(host::ClusterView{.engine = engine,
                                                .members = members_,
                                                .names = names,
                                                .now = core::TimePoint(deps_.loop.now()),
                                                .started = started_}));
    deps_.metrics.set_watchdog(host::watchdog_metrics(watchdog_port_->status()));
}

void ClusterMode::on_block(const std::string& device, core::StorageHealth health, bool in_flight,
                           bool answering) {
    if (auto m = map().observe_block(device, health, in_flight, answering); m.evidence)
        observe(*m.evidence);
}

void ClusterMode::on_block_gone(const std::string& device) {
    if (auto m = map().block_device_gone(device); m.evidence) observe(*m.evidence);
}

void ClusterMode::on_nfs(const std::string& mount, core::NfsMountState state, bool in_flight) {
    if (auto m = map().observe_nfs(mount, state, in_flight); m.evidence) observe(*m.evidence);
}

void ClusterMode::on_link(const std::string& interface, core::LinkState state) {
    if (auto m = map().observe_link(interface, state); m.evidence) observe(*m.evidence);
}

std::vector<std::string> ClusterMode::running_here() const {
    const auto engine = driver().engine().snapshot();
    std::vector<std::string> running;
    for (const auto& vm : engine.vms) {
        if (vm.here && *vm.here != core::VmState::kShutOff) running.push_back(vm.name);
    }
    // Before the first listing nobody knows what runs here.
    if (!engine.listed) running.emplace_back("(not listed yet)");
    return running;
}

namespace {

std::string joined(const std::vector<std::string>& items, std::string_view sep = ", ") {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : std::string(sep)) + i;
    return out;
}

}  // namespace

void ClusterMode::stop(std::function<void()> done) {
    if (stop_done_) return;  // a stop is under way; it ends on its own, bounded
    stop_done_ = std::move(done);
    if (!watchdog_port_ || !driver_) return finish_stop();
    auto* device = watchdog_port_->device();
    const auto running = running_here();
    const auto names = joined(running);
    if (!device) {
        // Disarming needs the device open, and opening pets: not without proof.
        deps_.journal.log(Priority::kWarning, mid::kWatchdog,
                          "watchdog left armed on a clean stop: it was left armed by an earlier "
                          "run and not reopened; the host will be reset unless vigild is started "
                          "again in time",
                          {{"DEVICE", config_.watchdog_device}, {"VMS", names}});
        return finish_stop();
    }
    if (running.empty()) {
        if (auto ok = device->disarm(); ok) {
            std::error_code ec;
            std::filesystem::remove(paths_.pet_file, ec);
            deps_.journal.log(Priority::kNotice, mid::kWatchdog,
                              "watchdog disarmed on a clean stop: no HA VM runs here",
                              {{"DEVICE", config_.watchdog_device}});
        } else {
            deps_.journal.log(Priority::kError, mid::kWatchdog,
                              "watchdog could not be disarmed: " + ok.error().message,
                              {{"DEVICE", config_.watchdog_device}});
        }
        return finish_stop();
    }
    // HA VMs run here: freeze (leave them running unmanaged, tell the peers,
    // disarm) when the core allows it and the device can be disarmed at all.
    std::vector<std::string> why;
    const auto caps = device->status().capabilities;
    if (!caps.magic_close) why.emplace_back("the watchdog device has no magic close");
    if (caps.nowayout == true) why.emplace_back("the watchdog device has nowayout set");
    std::string unaware;
    if (why.empty()) {
        const auto check = driver().freeze();
        for (const auto b : check.blockers) why.emplace_back(core::name(b));
        std::vector<std::string> hosts;
        for (const auto id : check.unaware) {
            std::string n = core::host_name(id);
            for (const auto& h : config_.cluster_hosts) {
                if (h.nodeid == id.value) n = h.name;
            }
            hosts.push_back(n);
        }
        unaware = joined(hosts);
        if (!unaware.empty()) why.back() += " (" + unaware + ")";
    }
    if (!why.empty()) {
        deps_.journal.log(Priority::kWarning, mid::kWatchdog,
                          "watchdog left armed on a stop with HA VMs running here (" + names +
                              "): no freeze: " + joined(why, "; ") +
                              "; the host will be reset unless vigild is started again in time",
                          {{"DEVICE", config_.watchdog_device},
                           {"VMS", names},
                           {"REASON", joined(why, "; ")},
                           {"HOSTS", unaware}});
        return finish_stop();
    }
    deps_.journal.log(
        Priority::kNotice, mid::kWatchdog,
        "stopping deliberately with HA VMs running here (" + names + "): writing the frozen record",
        {{"VMS", names}});
    auto alarm = deps_.loop.add_alarm([this] { advance_stop(); });
    stop_deadline_ = deps_.loop.now() + driver().freeze_wait();
    if (alarm) {
        stop_alarm_ = *alarm;
        deps_.loop.set_alarm(*alarm, stop_deadline_);
    }
    advance_stop();  // a write refused at once has failed already
}

void ClusterMode::advance_stop() {
    if (!stop_done_) return;
    const auto now = deps_.loop.now();
    if (retracting_) {
        // Until the retraction is on storage (or the deadline): the peers read it
        // instead of the frozen record, if that one landed after all.
        if (!store_->write_pending_since() || now >= stop_deadline_) finish_stop();
        return;
    }
    const auto stage = driver().freeze_stage();
    const auto names = joined(running_here());
    if (stage == driver::FreezeStage::kOnStorage) {
        auto ok = watchdog_port_->device()->disarm();
        if (ok) {
            std::error_code ec;
            std::filesystem::remove(paths_.pet_file, ec);
            deps_.journal.log(
                Priority::kNotice, mid::kWatchdog,
                "stopped deliberately: HA VMs left running here unmanaged (" + names +
                    "); the peers hold them as this host's (frozen) until vigild starts again; "
                    "watchdog disarmed",
                {{"DEVICE", config_.watchdog_device}, {"VMS", names}});
            return finish_stop();
        }
        deps_.journal.log(Priority::kError, mid::kWatchdog,
                          "frozen record written but the watchdog could not be disarmed (" +
                              ok.error().message +
                              "): retracting the freeze; the host will be reset unless vigild is "
                              "started again in time",
                          {{"DEVICE", config_.watchdog_device}, {"VMS", names}});
    } else if (stage == driver::FreezeStage::kFailed || now >= stop_deadline_) {
        deps_.journal.log(
            Priority::kError, mid::kWatchdog,
            std::string("the frozen record was not written (") +
                (stage == driver::FreezeStage::kFailed ? "the slot write failed"
                                                       : "the slot write is late") +
                "): retracting the freeze, the watchdog stays armed; the host will be "
                "reset unless vigild is started again in time",
            {{"DEVICE", config_.watchdog_device}, {"VMS", names}});
    } else {
        return;  // the write is on its way
    }
    driver().retract_freeze();
    retracting_ = true;
    stop_deadline_ = now + driver().freeze_wait();
    if (stop_alarm_) deps_.loop.set_alarm(*stop_alarm_, stop_deadline_);
}

void ClusterMode::note_previous_run() {
    const auto& previous = driver().engine().previous_run();
    if (previous_run_noted_ || !previous) return;
    previous_run_noted_ = true;
    if (!previous->frozen) return;
    std::vector<std::string> held;
    for (const auto& h : previous->held) held.push_back(h.name);
    const auto names = joined(held);
    deps_.journal.log(
        Priority::kNotice, mid::kIncarnation,
        "the run before (incarnation " + std::to_string(previous->incarnation) +
            ") stopped deliberately and froze holding " +
            (names.empty() ? std::string("no VM") : names) +
            "; this run holds what runs here now, and its first status ends the "
            "freeze for the peers",
        {{"PREVIOUS_INCARNATION", std::to_string(previous->incarnation)}, {"VMS", names}});
}

void ClusterMode::finish_stop() {
    auto done = std::move(stop_done_);
    if (done) done();
}

control::ClusterStatus ClusterMode::status() const {
    control::ClusterStatus s{.engine = driver().engine().snapshot(),
                             .driver = driver().snapshot(),
                             .corosync_connected = corosync_->connected(),
                             .waiting_for = ready_ ? "" : "the first membership view"};
    for (const auto& h : config_.cluster_hosts) {
        s.hosts[h.nodeid] = control::HostName{.name = h.name, .slot = h.slot};
    }
    for (const auto& e : map().current()) {
        if (const auto* sd = std::get_if<core::StorageEvidence>(&e))
            s.storage_domains.push_back(*sd);
        if (const auto* l = std::get_if<core::LinkEvidence>(&e)) s.links.push_back(*l);
    }
    return s;
}

control::ExplainSnapshot::Cluster ClusterMode::explain(std::chrono::nanoseconds now) const {
    control::ExplainSnapshot::Cluster c{.history = history(), .now = now};
    for (const auto& h : config_.cluster_hosts) {
        c.hosts[h.nodeid] = control::HostName{.name = h.name, .slot = h.slot};
    }
    for (const auto& vm : driver().engine().snapshot().vms) c.vms.push_back(vm.name);
    return c;
}

}  // namespace vigil
