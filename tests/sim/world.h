#pragma once

// The simulated world: hosts (power, hang, daemon crash, links, storage paths, qemu
// processes, watchdog), shared storage holding the heartbeat slots, and the cluster
// stack's membership. Every host runs the daemon's own driver::HostDriver through
// simulated ports (HostPorts, in world.cpp) that behave like the real adapters: every call
// returns at once and its outcome arrives as a later world event. The world decides
// nothing; it checks safety after every step.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/core/engine.h"
#include "daemon/driver/host_driver.h"
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
    // Per VM, total time it ran nowhere, and when it last started running again
    // after not running anywhere.
    std::map<std::string, Duration> downtime;
    std::map<std::string, Duration> last_back;
};

[[nodiscard]] std::string format_line(const LogLine& l);

class HostPorts;

class World {
  public:
    explicit World(Scenario scenario);
    ~World();
    World(const World&) = delete;
    World& operator=(const World&) = delete;

    // Runs the whole timeline, checking safety after every step and the scenario's
    // checks at the end.
    [[nodiscard]] RunResult run();

    // Stepping by hand, for tests of the simulator itself: run() is begin(), then
    // step() until done(), then finish().
    void begin();
    void step();
    [[nodiscard]] bool done() const { return now_ > s_.duration; }
    [[nodiscard]] RunResult finish();
    // The driver running on host `id` now, if any.
    [[nodiscard]] const driver::HostDriver* driver_of(std::uint32_t id) const;
    [[nodiscard]] Duration now() const { return now_; }
    // Called right after a host's heartbeat returns, before the world has moved on:
    // what the driver shows then is all it could have learnt inside its own calls.
    void set_after_heartbeat(std::function<void(std::uint32_t host)> fn) {
        after_heartbeat_ = std::move(fn);
    }

  private:
    friend class HostPorts;
    struct Host;
    struct Qemu {
        core::VmState state = core::VmState::kRunning;
        std::uint64_t generation = 0;  // which start made this process
        // The target's side of a live migration: paused, receiving the guest; it
        // runs only once the migration hands over.
        bool incoming = false;
    };
    // A live migration of `vm` from `source` (which runs it) to `target` (incoming).
    struct Move {
        std::uint64_t id = 0;
        std::uint32_t source = 0;
        std::uint32_t target = 0;
        std::uint64_t source_epoch = 0;
        std::uint64_t target_epoch = 0;
        Duration done_at{};
        std::string scripted;  // "failed" or "timeout" (fail-migrate), else empty
    };
    struct SlotOp {
        bool write = false;
        core::HostStatus status;
        Duration submitted{};
        std::uint64_t incarnation = 0;  // the daemon run that asked
    };
    struct Lane {
        std::optional<SlotOp> in_flight;
        Duration started{};
        std::optional<SlotOp> waiting;
    };
    // A world event: runs at `at` unless its host was reset or powered off since.
    struct Pending {
        Duration at{};
        std::uint64_t seq = 0;
        std::uint32_t host = 0;
        std::uint64_t host_epoch = 0;
        std::function<void()> run;
    };
    struct StaleWrite {
        std::string vm;
        std::string domain;
        std::uint64_t generation = 0;
    };

    void apply(const Event& e);
    void settle();
    void run_pending();
    void advance_lanes();
    void drain_inboxes();
    void step_hosts();
    void heartbeat(Host& h);
    void update_membership();
    void update_views();
    void update_vm_io();
    void land_stale_writes();
    void check_safety();
    void evaluate_checks(RunResult& r);
    // Decodes a record `writer` wrote in the newer format as `reader` would:
    // refused as newer (counted), else a violation.
    bool refused_as_newer(Host& reader, Host& writer, const std::string& text);
    void reset(Host& h, const std::string& why, bool reboot);
    void boot(Host& h);
    void start_daemon(Host& h);
    void stop_daemon(Host& h);
    void log(const std::string& who, std::string text);
    void violation(const std::string& text);
    void later(Host& h, Duration delay, std::function<void()> run);
    // Hands `fn` to the daemon now running on h (through its inbox: a frozen daemon
    // gets it when it thaws); dropped when no daemon runs.
    void deliver(Host& h, std::function<void(driver::HostDriver&)> fn);
    void set_qemu(Host& h, const std::string& vm, core::VmState state);
    void erase_qemu(Host& h, const std::string& vm);
    void complete_start(Host& h, std::uint64_t id, const std::string& vm);
    void complete_stop(Host& h, std::uint64_t id, const std::string& vm);
    void complete_resume(Host& h, std::uint64_t id, const std::string& vm);
    void complete_refresh(Host& h);
    void begin_migration(Host& h, std::uint64_t id, const std::string& vm, core::HostId target);
    // Each step: a migration whose hosts lost each other fails; one that is due
    // hands the VM over at once (the source's qemu ends, the target's runs).
    void advance_migrations();
    void request_fence(Host& h, std::uint64_t id, core::HostId peer);
    void broadcast(Host& h, const core::HostStatus& status);
    [[nodiscard]] std::vector<core::VmEvidence> inventory(const Host& h) const;
    core::StorageEvidence watch_storage(Host& h, const std::string& d);
    [[nodiscard]] core::StorageEvidence storage_view(const Host& h,
                                                     const std::string& domain) const;
    [[nodiscard]] core::MembershipEvidence membership_view(const Host& h) const;
    [[nodiscard]] std::string domain_of(const std::string& vm) const;
    [[nodiscard]] bool up(const Host& h) const;
    [[nodiscard]] bool daemon_live(const Host& h) const;
    [[nodiscard]] bool storage_reachable(const Host& h, const std::string& domain) const;
    [[nodiscard]] bool storage_stalled(const Host& h, const std::string& domain) const;
    [[nodiscard]] bool global_storage_outage() const;
    // Whether `t` falls in a cluster-wide outage every host could know of by then:
    // peers see it at their next tick and report it; we read that at ours. Two
    // heartbeats after it began, until it ended.
    [[nodiscard]] bool known_outage_at(Duration t) const;
    [[nodiscard]] bool in_quorate_partition(const Host& h) const;
    [[nodiscard]] std::vector<std::vector<std::uint32_t>> raw_partitions() const;
    [[nodiscard]] const std::vector<std::uint32_t>* effective_partition(std::uint32_t id) const;
    [[nodiscard]] bool ring_intact(const Host& h) const;
    [[nodiscard]] core::TimePoint time() const { return core::TimePoint{now_}; }
    Host& host(std::uint32_t id);

    Scenario s_;
    Duration now_{};
    std::map<std::uint32_t, std::unique_ptr<Host>> hosts_;
    std::map<std::string, std::string> slots_;             // host name -> encoded slot, on "shared"
    std::map<std::string, core::HostStatus> slot_status_;  // ... and what it encodes
    // Records refused as a newer format, by reader and writer.
    std::map<std::pair<std::string, std::string>, std::uint64_t> refused_;
    // Cluster-wide outages of the array: start, and end once healed.
    std::vector<std::pair<Duration, std::optional<Duration>>> outages_;
    std::set<std::string> failed_domains_;
    std::set<std::string> stalled_domains_;
    std::set<std::string> full_domains_;
    std::set<std::string> leased_;        // disks leased by something outside the cluster
    std::set<std::uint32_t> bmc_broken_;  // hosts whose fence agent does not answer
    std::map<std::uint32_t, int> partition_group_;
    std::vector<std::vector<std::uint32_t>> effective_;
    std::vector<std::vector<std::uint32_t>> pending_;
    Duration pending_since_{};
    std::map<std::string, std::uint64_t> generation_;  // per VM, the newest start
    std::map<std::string, Move> moves_;                // live migrations, by VM
    std::vector<core::VmPolicy> vm_policies_;          // the HA metadata, as libvirt has it
    std::vector<Pending> pending_events_;              // a heap on (at, seq)
    std::uint64_t seq_ = 0;
    std::uint64_t next_request_ = 0;
    RunResult result_;
    std::set<Duration> snapshot_times_;
    std::size_t next_event_ = 0;
    std::map<Duration, std::map<std::string, std::set<std::uint32_t>>> snapshots_;
    std::map<std::string, bool> was_running_;
    std::function<void(std::uint32_t)> after_heartbeat_;
};

}  // namespace vigil::sim
