// Cluster mode's parts, built and connected by the composition root: the
// adapters (corosync, the storage heartbeat, libvirt), the real ports over
// them, the host driver, the evidence map the watchers feed, and the timers
// of the heartbeat. Standalone mode builds none of this.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/adapters/cluster.h"
#include "daemon/adapters/control_protocol.h"
#include "daemon/adapters/event_loop.h"
#include "daemon/adapters/heartbeat.h"
#include "daemon/adapters/hypervisor.h"
#include "daemon/adapters/journal.h"
#include "daemon/config/config.h"
#include "daemon/control/events.h"
#include "daemon/control/status.h"
#include "daemon/core/evidence_map.h"
#include "daemon/driver/host_driver.h"
#include "daemon/host/clock.h"
#include "daemon/host/cluster_port.h"
#include "daemon/host/event_sink.h"
#include "daemon/host/fencer.h"
#include "daemon/host/heartbeat_port.h"
#include "daemon/host/hypervisor_port.h"
#include "daemon/host/pacer.h"
#include "daemon/host/refusal_log.h"
#include "daemon/host/watchdog_port.h"
#include "exporters/hooks.h"
#include "exporters/metrics.h"
#include "exporters/webhook.h"
#include "fence/flight_recorder.h"
#include "fence/reboot.h"
#include "fence/watchdog.h"

namespace vigil {

// Where cluster mode keeps its small state files.
struct ClusterPaths {
    std::filesystem::path incarnation;  // /var/lib/vigil/incarnation
    std::filesystem::path pet_file;     // /run/vigil/watchdog-pet
};
[[nodiscard]] ClusterPaths cluster_paths(const config::Config& config);

class ClusterMode {
  public:
    struct Deps {
        adapters::EventLoop& loop;
        const adapters::Journal& journal;
        exporters::Metrics& metrics;
        fence::FlightRecorder* recorder;
        // Called when READY=1 may be sent (first membership view).
        std::function<void()> on_ready;
        // What an alert asks of this host through the webhook goes the way
        // vigilctl's commands go (the daemon keeps the state and its file,
        // then calls admin()); `by` names the alert.
        std::function<void(adapters::AdminAction, const std::string& by,
                           const exporters::HookFields& hook_fields)>
            on_admin;
        // Every decision and hook run, for `vigilctl events`; may be empty.
        std::function<void(control::Event)> on_event;
    };

    // Reads the previous run's pet record (refuses a watchdog left unpetted
    // too long), builds the policy (refuses an unsafe one), connects to
    // corosync, then arms the watchdog, and builds the rest. Nothing armed is
    // left behind by a refusal before the watchdog is opened.
    [[nodiscard]] static std::expected<std::unique_ptr<ClusterMode>, Error> make(
        const config::Config& config, Deps deps);
    ~ClusterMode();
    ClusterMode(const ClusterMode&) = delete;
    ClusterMode& operator=(const ClusterMode&) = delete;

    // The watchers' observations, through the evidence map.
    void on_block(const std::string& device, core::StorageHealth health, bool in_flight,
                  bool answering);
    void on_block_gone(const std::string& device);
    void on_nfs(const std::string& mount, core::NfsMountState state, bool in_flight);
    void on_link(const std::string& interface, core::LinkState state);

    // Asks for the first VM listing and starts the heartbeat timers.
    [[nodiscard]] std::expected<void, Error> start();
    // A deliberate stop (SIGTERM): calls `done` once vigild may exit. With no HA
    // VM here the watchdog is disarmed. With HA VMs running the host freezes when
    // the core allows it (every host knows the freeze, quorate, storage fine,
    // nothing in flight) and the device can be disarmed: the frozen record is
    // written, and once it is on storage broadcast, and the watchdog disarmed;
    // the VMs run on unmanaged. Otherwise (or when the write fails or is late:
    // retracted) the watchdog stays armed and the host is reset unless vigild
    // starts again in time. Bounded by two freeze_wait()s. A second call while
    // one runs is ignored.
    void stop(std::function<void()> done);

    // An operator's command (vigilctl, an alert, the state file at start)
    // to the core; maintenance on and off also run the hooks with
    // `hook_fields` (who asked: "by" vigilctl, webhook, timer). `hooks`: false
    // when the command restores the state at start.
    void admin(core::AdminCommand command, const exporters::HookFields& hook_fields, bool hooks);

    [[nodiscard]] control::ClusterStatus status() const;
    // What explain needs: the decision history and what names mean.
    [[nodiscard]] control::ExplainSnapshot::Cluster explain(std::chrono::nanoseconds now) const;
    [[nodiscard]] fence::WatchdogStatus watchdog_status() { return watchdog_port_->status(); }
    [[nodiscard]] bool membership_seen() const { return membership_seen_; }

  private:
    explicit ClusterMode(Deps deps) : deps_(std::move(deps)) {}
    void observe(const core::Evidence& e);
    void watch_corosync();
    void on_corosync();
    void reconnect_corosync();
    void tick_read();
    void sync_vm_policies();
    void first_beat_when_listed();
    // Quorum, membership, peers, HA VMs, alerts and the watchdog to /metrics:
    // at start and after every heartbeat.
    void export_metrics();
    void later(std::function<void()> fn);
    // The stop's next step, after every heartbeat store result and at the deadline.
    void advance_stop();
    void finish_stop();
    // Once, at the first slot read that shows this host's slot as the run before
    // left it: a frozen one is logged with what it held and what runs here now.
    void note_previous_run();
    // HA VMs with a qemu here, or "(not listed yet)" before the first listing.
    [[nodiscard]] std::vector<std::string> running_here() const;
    // An action an alert asked for through the webhook: this host's go to the
    // core as an operator's command would, another host's are logged only.
    void on_alert_action(const exporters::AlertAction& a);

    Deps deps_;
    host::RefusalLog refusals_{"cluster", deps_.journal, deps_.metrics};  // cluster messages
    config::Config config_;
    ClusterPaths paths_;
    host::RealClock clock_;
    std::optional<core::EvidenceMap> map_;
    std::unique_ptr<adapters::Cluster> corosync_;
    std::unique_ptr<adapters::StorageHeartbeat> store_;
    std::unique_ptr<adapters::LibvirtHypervisor> hv_;
    const adapters::LibvirtHypervisor* hv_view_ = nullptr;
    std::shared_ptr<host::HypervisorEvents> hv_events_;
    // The VM policies the core was last given (sync_vm_policies()).
    std::vector<core::VmPolicy> sent_policies_;
    fence::LinuxRebootCalls reboot_;
    std::unique_ptr<exporters::HookRunner> hooks_;
    std::unique_ptr<exporters::WebhookReceiver> webhook_;
    std::unique_ptr<host::ClusterPort> cluster_port_;
    std::unique_ptr<host::HeartbeatPort> heartbeat_port_;
    std::unique_ptr<host::HypervisorPort> hypervisor_port_;
    std::unique_ptr<host::WatchdogPort> watchdog_port_;
    std::unique_ptr<host::Fencer> fencer_;
    std::unique_ptr<host::EventSink> sink_;
    std::unique_ptr<host::LoopPacer> pacer_;
    std::optional<driver::HostDriver> driver_;
    std::optional<control::DecisionHistory> history_;
    std::optional<adapters::EventLoop::WatchId> cpg_watch_;
    std::optional<adapters::EventLoop::WatchId> quorum_watch_;
    adapters::EventLoop::WatchId beat_alarm_ = 0;   // set by make()
    adapters::EventLoop::WatchId later_alarm_ = 0;  // set by make()
    std::deque<std::function<void()>> later_;
    std::uint64_t busy_seen_ = 0;
    bool early_beat_done_ = false;
    std::size_t members_ = 0;  // hosts in the last membership view
    core::TimePoint started_{};
    bool corosync_lost_ = false;       // logged once per outage
    std::function<void()> stop_done_;  // set while a stop runs
    bool retracting_ = false;
    bool previous_run_noted_ = false;
    std::chrono::nanoseconds stop_deadline_{};
    std::optional<adapters::EventLoop::WatchId> stop_alarm_;
    bool membership_seen_ = false;
    bool ready_ = false;

    // make() sets map_, driver_ and history_ before it hands the object out;
    // only the callbacks it registers before that run earlier, and they test
    // driver_ themselves. Everything else reaches them through these.
    // NOLINTNEXTLINE(bugprone-unchecked-optional-access): see above
    core::EvidenceMap& map() { return *map_; }
    // NOLINTNEXTLINE(bugprone-unchecked-optional-access): see above
    driver::HostDriver& driver() { return *driver_; }
    // NOLINTNEXTLINE(bugprone-unchecked-optional-access): see above
    control::DecisionHistory& history() { return *history_; }
    // NOLINTNEXTLINE(bugprone-unchecked-optional-access): see above
    const core::EvidenceMap& map() const { return *map_; }
    // NOLINTNEXTLINE(bugprone-unchecked-optional-access): see above
    const driver::HostDriver& driver() const { return *driver_; }
    // NOLINTNEXTLINE(bugprone-unchecked-optional-access): see above
    const control::DecisionHistory& history() const { return *history_; }
};

}  // namespace vigil
