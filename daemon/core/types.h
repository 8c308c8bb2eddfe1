#pragma once

// Value types shared by the decision core, its ports and the daemon.

#include <chrono>
#include <compare>
#include <cstdint>
#include <string>
#include <vector>

namespace vigil::core {

// Monotonic time only: the core never sees wall-clock time, so a wall-clock jump
// cannot move a deadline. The tag has no now(): time always comes in as an argument.
struct MonotonicClock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<MonotonicClock>;
    // NOLINTNEXTLINE(readability-identifier-naming): the Clock requirements name it
    static constexpr bool is_steady = true;
};
using Duration = std::chrono::nanoseconds;
using TimePoint = MonotonicClock::time_point;

struct HostId {
    std::uint32_t value = 0;
    auto operator<=>(const HostId&) const = default;
};

enum class VmState : std::uint8_t { kRunning, kPausedIoError, kPaused, kShutOff };

// What a host says about itself, in its storage heartbeat slot and in its cluster
// status message.
enum class SelfState : std::uint8_t {
    kOk,
    kIsolated,     // no quorum, storage heartbeat still written, VMs kept
    kStorageLost,  // storage lost for longer than the grace
    kFencing,      // decided to reboot itself; will not pet the watchdog again
    kReleased,     // isolated and holds no HA VM: its VMs may start elsewhere now
};

struct HeldVm {
    std::string name;
    VmState state = VmState::kRunning;
    bool operator==(const HeldVm&) const = default;
};

struct Assignment {
    std::string vm;
    HostId target;
    // The target's newest status the coordinator had when it published this: the
    // target acts only on a plan made after its last word that it takes no VM (or
    // declined this one), which the coordinator may have re-placed the VM on.
    std::uint64_t target_incarnation = 0;
    std::uint64_t target_sequence = 0;
    bool operator==(const Assignment&) const = default;
};

// The storage heartbeat slot content and the cluster status message: one record.
// It carries no timestamp on purpose: monotonic clocks of two hosts cannot be
// compared, so readers time a slot by when they saw its sequence change.
struct HostStatus {
    HostId host;
    std::uint64_t incarnation = 0;  // changes at every daemon start
    std::uint64_t sequence = 0;     // advances at every tick
    SelfState state = SelfState::kOk;
    bool quorate = false;
    bool storage_ok = false;
    bool maintenance = false;
    // Takes no new VMs (cordoned or draining). Its wire word stays "draining".
    bool cordoned = false;
    // Format 1.1: the writer knows frozen records (it reads `frozen` as below and
    // would never take a frozen host's VMs). A host freezes only when every
    // configured host's latest record says so: an older reader skips the flag and
    // would take the frozen host for dead.
    bool knows_freeze = false;
    // Format 1.1: the last record of a deliberate stop (SIGTERM): vigild exited, the
    // watchdog is disarmed and the VMs in `held` keep running here unmanaged. Peers
    // hold them as this host's until it writes again; never restarted elsewhere.
    bool frozen = false;
    std::vector<HeldVm> held;             // HA VMs with a qemu process here (or starting)
    std::vector<Assignment> assignments;  // recovery plan, when this host coordinates
    // VMs this host failed to start lately: the coordinator places them elsewhere.
    std::vector<std::string> declined;
    // Peers this host powered off through their BMC, confirmed, with the daemon run
    // (incarnation) that ended there: every member may count them dead at once.
    std::vector<std::pair<HostId, std::uint64_t>> fenced;
    bool operator==(const HostStatus&) const = default;
};

}  // namespace vigil::core
