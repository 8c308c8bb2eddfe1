// The control API's answers, built from the snapshots the parts export (the
// watchers, the probes, the host driver and its engine, the watchdog, the
// flight record). Knows nothing of Daemon: what it prints is what it is given.
// The JSON shape is documented in daemon/README.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/probes.h"
#include "daemon/control/admin.h"
#include "daemon/control/history.h"
#include "daemon/core/engine.h"
#include "daemon/driver/host_driver.h"
#include "daemon/watch/block_watcher.h"
#include "daemon/watch/link_watcher.h"
#include "daemon/watch/nfs_watcher.h"
#include "fence/flight_recorder.h"
#include "fence/watchdog.h"

namespace vigil::control {

struct HostName {
    std::string name;
    std::uint32_t slot = 0;
};

// Cluster mode only.
struct ClusterStatus {
    core::EngineSnapshot engine;
    driver::DriverSnapshot driver;
    std::map<std::uint32_t, HostName> hosts;  // by nodeid, from the configuration
    bool corosync_connected = false;
    std::string waiting_for;  // what READY=1 still waits for; empty once sent
    // The storage domains and network roles as last given to the core.
    std::vector<core::StorageEvidence> storage_domains;
    std::vector<core::LinkEvidence> links;
};

struct StatusSnapshot {
    std::string version;
    bool standalone = true;
    std::string config;
    std::string log_level;
    std::chrono::nanoseconds now{};  // the loop's monotonic time
    double uptime_seconds = 0;
    std::vector<bpf::ProbeStatus> probes;
    watch::BlockSnapshot block;
    watch::LinkSnapshot links;
    watch::NfsSnapshot nfs;
    std::optional<fence::WatchdogStatus> watchdog;  // when armed
    std::optional<ClusterStatus> cluster;
    // Maintenance and cordon as operators set them (vigilctl, alerts).
    AdminState admin;
    std::chrono::system_clock::time_point wall_now{};
    std::string admin_file;
    std::string admin_file_error;  // empty: read and written fine
    std::uint64_t events_recorded = 0;
    std::size_t event_followers = 0;
    std::uint64_t event_followers_dropped = 0;
};

struct ExplainSnapshot {
    std::string flight_record;
    std::optional<fence::FlightRecord> previous;
    std::string boot_id;  // this boot's, to tell the record's boot from this one
    std::string error;    // why the previous record could not be read
    // Cluster mode only: the decisions kept for explain, and what names mean.
    struct Cluster {
        DecisionHistory history{core::HostId{}};
        std::map<std::uint32_t, HostName> hosts;  // by nodeid, from the configuration
        std::vector<std::string> vms;             // the HA VMs the core knows
        std::chrono::nanoseconds now{};           // the loop's monotonic time
    };
    std::optional<Cluster> cluster;
};

[[nodiscard]] std::string status_json(const StatusSnapshot& s);
// {"maintenance": bool, "maintenance_until": "…Z" | null, "maintenance_left_seconds",
//  "maintenance_by", "cordoned", "cordoned_by", "effective": bool (false in standalone mode)}.
[[nodiscard]] nlohmann::json admin_json(const AdminState& a,
                                        std::chrono::system_clock::time_point now, bool standalone);
// The subject (a VM or host name, checked by the protocol) picks the decisions
// about it; empty: the latest decisions overall. An unknown subject, or one
// in standalone mode, gets {"ok": false, "error": ...}.
[[nodiscard]] std::string explain_json(const ExplainSnapshot& s, const std::string& subject = {});

}  // namespace vigil::control
