// vigild's wiring: the event loop, the kernel probes, metrics, the control
// socket and the journal, and how evidence flows between them.
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bpf/sunrpc_probes.h"
#include "daemon/adapters/control_server.h"
#include "daemon/adapters/event_loop.h"
#include "daemon/adapters/journal.h"
#include "daemon/cluster_mode.h"
#include "daemon/config/config.h"
#include "daemon/control/admin.h"
#include "daemon/control/events.h"
#include "daemon/control/status.h"
#include "daemon/ports/error.h"
#include "daemon/watch/block_watcher.h"
#include "daemon/watch/link_watcher.h"
#include "daemon/watch/nfs_watcher.h"
#include "exporters/metrics.h"
#include "fence/flight_recorder.h"
#include "fence/watchdog.h"

namespace vigil {

// project(VERSION) in CMakeLists.txt, the one place the version is written.
inline constexpr const char* kVersion = VIGIL_VERSION;

class Daemon {
  public:
    [[nodiscard]] static std::expected<std::unique_ptr<Daemon>, Error> make(config::Config config);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Runs until SIGTERM/SIGINT; returns the exit code.
    int run();

    // Answers one control request (a JSON line) from `peer`; public for tests.
    [[nodiscard]] adapters::ControlServer::Reply handle_request(const std::string& request,
                                                                const adapters::ControlPeer& peer);

  private:
    explicit Daemon(config::Config config);
    [[nodiscard]] watch::Outputs outputs();
    // Records a probe's status, exports it and logs it; a probe seen before
    // is updated, and logged again only when its status changed.
    void add_probe(const bpf::ProbeStatus& probe);
    void start_sunrpc();
    // Attaches the sunrpc probes once the module has appeared.
    void retry_sunrpc();
    // Reads the kernel's counters and advances every device's and link's
    // health; every poll interval.
    void poll();
    // Reads mountstats and advances every NFS mount's health; every NFS poll interval.
    void poll_nfs();
    void refuse_input(const std::string& source, const std::string& reason);
    // SIGHUP: reads the configuration file again and applies what can change
    // live; a file that does not parse changes nothing.
    void reload();
    // SIGTERM or SIGINT: ends the loop, in cluster mode once ClusterMode::stop is done.
    void on_stop_signal();
    [[nodiscard]] std::expected<void, Error> arm_watchdog();
    void pet_watchdog();
    void export_watchdog();
    [[nodiscard]] control::StatusSnapshot status_snapshot() const;
    [[nodiscard]] control::ExplainSnapshot explain_snapshot() const;
    void read_previous_flight_record();
    // The operators' maintenance and cordon: read back at start, changed by
    // vigilctl and alerts, written to admin_file_ before the change is
    // acted on, given to the core in cluster mode.
    void load_admin();
    [[nodiscard]] std::expected<void, Error> admin_action(
        adapters::AdminAction action, std::optional<std::chrono::milliseconds> for_duration,
        const std::string& by, const adapters::Fields& who,
        const exporters::HookFields& hook_fields);
    [[nodiscard]] std::string admin_reply(const adapters::ControlRequest& request,
                                          const adapters::ControlPeer& peer);
    // A timed maintenance's end: sets the alarm, or ends it when due.
    void arm_maintenance_end();
    void maintenance_due();
    void tell_core(adapters::AdminAction action, const exporters::HookFields& hook_fields);
    // Keeps an event for `vigilctl events` and streams it to followers.
    void record_event(control::Event e);
    [[nodiscard]] std::string events_reply() const;
    // Every piece of evidence that is logged is also kept for the flight recorder.
    void log_evidence(adapters::Priority priority, std::string_view id, const std::string& message,
                      const adapters::Fields& fields);

    config::Config config_;
    adapters::Journal journal_;
    std::unique_ptr<adapters::EventLoop> loop_;
    std::unique_ptr<exporters::Metrics> metrics_;
    std::unique_ptr<watch::BlockWatcher> block_;
    std::unique_ptr<bpf::SunrpcProbes> sunrpc_;
    std::unique_ptr<watch::LinkWatcher> links_;
    std::unique_ptr<watch::NfsWatcher> nfs_;
    std::vector<bpf::ProbeStatus> probes_;
    std::unique_ptr<adapters::ControlServer> control_;
    std::optional<fence::Watchdog> watchdog_;
    std::optional<fence::FlightRecorder> recorder_;
    std::optional<fence::FlightRecord> previous_record_;
    std::string previous_record_error_;
    std::optional<adapters::EventLoop::WatchId> poll_timer_;
    std::optional<adapters::EventLoop::WatchId> nfs_timer_;
    std::chrono::nanoseconds started_{};
    std::unique_ptr<ClusterMode> cluster_;  // cluster mode only
    control::AdminState admin_;
    std::filesystem::path admin_file_;  // <state directory>/admin-state
    std::string admin_file_error_;      // the last read or write failure; empty: none
    std::optional<adapters::EventLoop::WatchId> maintenance_alarm_;
    control::EventLog events_;
    bool stopping_ = false;  // a stop signal came
};

}  // namespace vigil
