// vigild's wiring: the event loop, the kernel probes, metrics, the control
// socket and the journal, and how evidence flows between them.
#pragma once

#include <chrono>
#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "bpf/block_probes.h"
#include "bpf/net_probes.h"
#include "bpf/sunrpc_probes.h"
#include "daemon/adapters/block_devices.h"
#include "daemon/adapters/block_stats.h"
#include "daemon/adapters/control_server.h"
#include "daemon/adapters/event_loop.h"
#include "daemon/adapters/journal.h"
#include "daemon/adapters/rtnetlink.h"
#include "daemon/config/config.h"
#include "daemon/core/link_health.h"
#include "daemon/core/nfs_health.h"
#include "daemon/core/storage_monitor.h"
#include "daemon/ports/error.h"
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

    // Answers one control request (a JSON line); public for tests.
    [[nodiscard]] std::string handle_request(const std::string& request);

  private:
    explicit Daemon(config::Config config);
    void start_probes();
    // Records a probe's status, exports it and logs it; a probe seen before
    // is updated, and logged again only when its status changed.
    void add_probe(const bpf::ProbeStatus& probe);
    // Attaches the sunrpc probes once the module has appeared.
    void retry_sunrpc();
    void on_block_errors();
    // Reads the kernel's counters and per-device block statistics, advances every
    // device's health, and updates metrics; every poll interval.
    void poll();
    void poll_network();
    void poll_block();
    // Samples the block devices again when the oldest waiting request will
    // cross the next age threshold, if that comes before the next poll.
    void schedule_block_recheck(std::chrono::nanoseconds now);
    // Reads mountstats, advances every NFS mount's health, and updates
    // metrics; every NFS poll interval.
    void poll_nfs();
    void refuse_input(const std::string& source, const std::string& reason);
    // SIGHUP: reads the configuration file again and applies what can change
    // live; a file that does not parse changes nothing.
    void reload();
    [[nodiscard]] std::expected<void, Error> arm_watchdog();
    void pet_watchdog();
    void start_network();
    void on_links();
    void on_tx_timeouts();
    void report_link(const core::LinkTransition& transition);
    void export_watchdog();
    [[nodiscard]] std::string status_json() const;
    [[nodiscard]] std::string explain_json() const;
    void read_previous_flight_record();
    // Every piece of evidence that is logged is also kept for the flight recorder.
    void log_evidence(adapters::Priority priority, std::string_view id, const std::string& message,
                      const adapters::Fields& fields);

    using ErrorKey = std::tuple<std::string, std::string, std::string>;  // device, op, error

    struct Device {
        explicit Device(core::StorageThresholds t) : monitor(t) {}
        core::StorageMonitor monitor;
        core::ProgressClock progress;
        core::StorageSample last{};
        std::map<std::string, std::uint64_t> writeback_errors;  // by errno name
    };
    Device& device(const std::string& name);

    config::Config config_;
    adapters::Journal journal_;
    std::unique_ptr<adapters::EventLoop> loop_;
    std::unique_ptr<exporters::Metrics> metrics_;
    std::unique_ptr<bpf::BlockProbes> block_;
    std::unique_ptr<bpf::SunrpcProbes> sunrpc_;
    std::unique_ptr<bpf::NetProbes> net_;
    std::unique_ptr<adapters::LinkMonitor> links_;
    core::LinkHealth link_health_;
    std::vector<bpf::ProbeStatus> probes_;
    std::unique_ptr<adapters::ControlServer> control_;
    std::optional<fence::Watchdog> watchdog_;
    std::optional<fence::FlightRecorder> recorder_;
    std::optional<fence::FlightRecord> previous_record_;
    std::string previous_record_error_;
    adapters::BlockDeviceNames device_names_;
    std::map<ErrorKey, std::uint64_t> block_errors_;
    std::map<std::string, Device> devices_;
    std::optional<adapters::EventLoop::WatchId> poll_timer_;
    std::optional<adapters::EventLoop::WatchId> nfs_timer_;
    std::optional<adapters::EventLoop::WatchId> block_recheck_;
    std::optional<std::chrono::nanoseconds> block_recheck_at_;
    core::NfsHealth nfs_health_;
    std::string nfs_error_;  // why the last mountstats reading was refused; logged once
    std::chrono::nanoseconds started_{};
};

}  // namespace vigil
