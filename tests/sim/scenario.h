#pragma once

// A scenario as data: the cluster (cluster.txt), what happens when (timeline.txt) and
// what must be true (checks.txt). The same struct is built in memory by the
// randomized runner.

#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/policy.h"
#include "daemon/core/storage_monitor.h"

namespace vigil::sim {

using core::Duration;

struct Event {
    Duration at{};
    std::vector<std::string> words;  // verb, then arguments
    std::string text;                // as written, for the log
};

struct Check {
    std::vector<std::string> words;
    std::string text;
    int line = 0;
};

struct Placement {
    std::string vm;
    std::uint32_t host = 0;
};

struct Scenario {
    std::string name;
    core::Policy policy;
    std::vector<std::string> domains{"shared"};  // "shared" holds the heartbeat slots
    std::vector<Placement> placement;
    Duration duration = std::chrono::seconds{60};
    Duration step = std::chrono::milliseconds{100};
    Duration membership_delay = std::chrono::seconds{1};  // the cluster stack's token timeout
    Duration boot_time = std::chrono::seconds{30};
    Duration restart_delay = std::chrono::seconds{2};  // systemd Restart= delay for vigild
    // How long libvirt takes to start a qemu (lease taken, process up).
    Duration start_time = std::chrono::milliseconds{500};
    // A stop asks the guest to shut down and destroys it after this grace; simulated
    // guests never answer the request, so every stop takes the whole grace.
    Duration stop_grace = std::chrono::seconds{2};
    // What the watchdog device accepted when asked for policy.watchdog_timeout
    // (drivers round); unset: exactly what was asked.
    std::optional<Duration> watchdog_accepts;
    // How long a live migration takes, from the request to the hand-over.
    Duration migrate_time = std::chrono::seconds{2};
    // How long a BMC takes to power its host off and confirm it.
    Duration bmc_time = std::chrono::seconds{1};
    // The hosts' storage watchers: unset, a domain's evidence is exactly the path's
    // state; set ("sim storage_watcher <error_window> <recovery_hold> <stall>"), each
    // daemon run watches each domain through core::StorageMonitor, sampled every step,
    // as vigild does: every step of a failed path is an I/O error, a stalled path
    // shows as stalled once its oldest request has waited the stall time, and a state
    // improves only after the hold (F9: trouble outlasts its cause).
    std::optional<core::StorageThresholds> storage_watcher;
    // Sabotage for the checker's own tests ("sim broken in-flight-counter"): the
    // hosts' storage evidence never reports I/O in flight, as a broken counter would.
    bool broken_in_flight_counter = false;
    // "sim broken stops-petting-in-outage": once a cluster-wide outage is known, the
    // hosts' pets are withheld for good, as a core that fenced on an outage would.
    bool broken_stops_petting_in_outage = false;
    // "sim broken restarted-daemon-never-pets": a vigild restarted after a crash
    // withholds every pet, as a core that ignored its own status once restarted would.
    bool broken_restarted_daemon_never_pets = false;
    // "sim broken thawed-daemon-never-pets": a vigild frozen and thawed withholds every
    // pet after the thaw, as a core that kept its stale proof once thawed would.
    bool broken_thawed_daemon_never_pets = false;
    std::vector<Event> timeline;
    std::vector<Check> checks;
};

[[nodiscard]] std::expected<Duration, std::string> parse_duration(std::string_view text);
[[nodiscard]] std::expected<std::uint32_t, std::string> parse_host(std::string_view text);
[[nodiscard]] std::expected<Scenario, std::string> load_scenario(const std::filesystem::path& dir);
[[nodiscard]] std::expected<void, std::string> parse_cluster(std::string_view text, Scenario& s);
[[nodiscard]] std::expected<void, std::string> parse_timeline(std::string_view text, Scenario& s);
[[nodiscard]] std::expected<void, std::string> parse_checks(std::string_view text, Scenario& s);
[[nodiscard]] std::vector<std::string> split_words(std::string_view line);

}  // namespace vigil::sim
