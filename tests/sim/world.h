#pragma once

// The simulated world: hosts (power, hang, daemon crash, links, storage paths, qemu
// processes, watchdog), shared storage holding the heartbeat slots, and the cluster
// stack's membership. Every host runs its own core::HostEngine driven through the
// same ports the daemon uses. Safety properties are checked after every step.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/core/engine.h"
#include "tests/sim/scenario.h"

namespace vigil::sim {

struct LogLine {
    Duration at{};
    std::string who;  // "h3" or "world"
    std::string text;
};

struct RunResult {
    std::vector<LogLine> log;
    std::vector<std::string> violations;  // safety
    std::vector<std::string> check_failures;
    std::size_t steps = 0;
    // Where each VM has a qemu process at the end, and in which state.
    std::map<std::string, std::vector<std::pair<std::string, core::VmState>>> final_vms;
};

[[nodiscard]] std::string format_line(const LogLine& l);

class World {
  public:
    explicit World(Scenario scenario);
    ~World();
    World(const World&) = delete;
    World& operator=(const World&) = delete;

    // Runs the whole timeline, checking safety after every step and the scenario's
    // checks at the end.
    [[nodiscard]] RunResult run();

  private:
    struct Host;

    void apply(const Event& e);
    void step_hosts();
    void tick_host(Host& h);
    void update_membership();
    void update_vm_io();
    void check_safety();
    void evaluate_checks(RunResult& r);
    void reset(Host& h, const std::string& why, bool reboot);
    void boot(Host& h);
    void start_daemon(Host& h);
    void log(const std::string& who, std::string text);
    void violation(std::string text);
    [[nodiscard]] bool up(const Host& h) const;
    [[nodiscard]] bool storage_reachable(const Host& h, const std::string& domain) const;
    [[nodiscard]] bool global_storage_outage() const;
    // An outage every host can know of by now: peers see it at their next tick and
    // report it; we read that report at ours. Two heartbeats.
    [[nodiscard]] bool known_global_storage_outage() const;
    [[nodiscard]] bool in_quorate_partition(const Host& h) const;
    [[nodiscard]] std::vector<std::vector<std::uint32_t>> raw_partitions() const;
    [[nodiscard]] const std::vector<std::uint32_t>* effective_partition(std::uint32_t id) const;
    [[nodiscard]] core::TimePoint time() const { return core::TimePoint{now_}; }
    Host& host(std::uint32_t id);

    Scenario s_;
    Duration now_{};
    std::map<std::uint32_t, std::unique_ptr<Host>> hosts_;
    std::map<std::string, std::string> slots_;  // host name -> encoded slot, on "shared"
    std::optional<Duration> outage_since_;      // when the array last went down
    std::set<std::string> failed_domains_;
    std::set<std::string> stalled_domains_;
    std::set<std::string> full_domains_;
    std::map<std::uint32_t, int> partition_group_;
    std::vector<std::vector<std::uint32_t>> effective_;
    std::vector<std::vector<std::uint32_t>> pending_;
    Duration pending_since_{};
    RunResult result_;
    // For checks: per VM, total time not running anywhere, and snapshots at check times.
    std::map<std::string, Duration> downtime_;
    std::map<Duration, std::map<std::string, std::set<std::uint32_t>>> snapshots_;
};

}  // namespace vigil::sim
