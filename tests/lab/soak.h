// The lab soak (`vigil-lab soak`): randomized schedules of the nemesis's
// faults, each played on a lab of its own with the checker sampling
// throughout, and judged by what holds under any schedule:
//   - never two writers of one VM's disk (the checker's stamps),
//   - no reset of a host the schedule only cut from the cluster network, or
//     only hit with a cluster-wide storage outage (or left alone),
//   - every HA VM writing again, and still writing at the end, within a
//     bound after the last heal: the longest recovery bound of the rows the
//     schedule's faults belong to, plus one heartbeat.
// The generator (make_schedule) and the judge (judge_soak) are pure and
// unit-tested; play_soak runs one schedule on the lab that is up.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/lab/lab.h"
#include "tests/lab/matrix.h"

namespace vigil::lab {

// What one fault of a schedule does, and how it is healed. The first group
// are the major faults (one per schedule, on its victim host), the rest
// ride along on the other hosts, or on every host.
enum class SoakFault : std::uint8_t {
    kPowerOff,            // F1: power-off H; healed by power-on H
    kHang,                // F2: hang H; its watchdog resets it; power-on H
    kCutCluster,          // F3: cut H cluster; heal
    kCutClusterVm,        // F4: cut H cluster,vm; heal
    kCutAll,              // F4-all: cut H all; heal; its watchdog resets it; power-on H
    kStorageFail,         // F5b: storage H fail; storage H ok
    kStorageStall,        // F5a: storage H stall until H is reset; storage H ok; power-on H
    kPartitionCluster,    // F7: partition H alone on the cluster network; heal
    kPartitionClusterVm,  // F7-vm: partition H alone on the cluster and VM networks; heal
    kKillDaemon,          // F8: kill-daemon H (its init restarts vigild)
    kFlap,                // F9: cut H cluster,vm for less than the link grace; reconnect
    kStallBlip,           // F9: storage H|all stall for less than the storage grace; ok
    kStorageSlow,         // F9: storage H|all slow; ok
    kStorageAllFail,      // F6: storage all fail; storage all ok
};
[[nodiscard]] std::string_view soak_fault_name(SoakFault kind);
// The fault matrix row the fault belongs to ("F1" ...).
[[nodiscard]] std::string_view soak_fault_row(SoakFault kind);
[[nodiscard]] bool soak_fault_is_major(SoakFault kind);

struct SoakStep {
    SoakFault kind = SoakFault::kKillDaemon;
    int host = 0;       // 1..hosts; 0: every host (the storage faults)
    double at_s = 0;    // from the start of the schedule
    double hold_s = 0;  // until its heal; for a fault healed after a reset, the least
    // The fault's words as the nemesis's commands say them ("cut h1 cluster,vm").
    [[nodiscard]] std::string text() const;
    [[nodiscard]] double end_s() const { return at_s + hold_s; }
};

struct SoakSchedule {
    uint64_t seed = 0;
    int hosts = 3;
    int victim = 1;               // the host of the major fault
    std::vector<SoakStep> steps;  // by at_s; steps[0] is the major fault
    // The most faults active at one instant (a fault is active from its start
    // to its heal; kill-daemon until vigild is back, kKillDaemonSpanS).
    [[nodiscard]] int max_overlap() const;
    // The rows of its faults, and the bound after the last heal (s): the
    // longest of those rows' recovery bounds plus one heartbeat.
    [[nodiscard]] std::set<std::string> rows() const;
    [[nodiscard]] double bound_after_heal_s() const;
    // Whether the promise of no reset covers `host` (see judge_soak).
    [[nodiscard]] bool reset_forbidden(int host) const;
    // The schedule, one step a line, as `--seed S --schedules 1` plays it.
    [[nodiscard]] std::string text() const;
};

// How long a killed vigild counts as a fault: its init restarts it at once
// and it is back within a couple of seconds (F8).
inline constexpr double kKillDaemonSpanS = 2;

// The schedule of `seed` for a lab of `hosts` hosts (3 or more): a major
// fault on one host and two to four riders, at least three faults active at
// once, every fault healed. Pure: the same seed gives the same schedule.
[[nodiscard]] SoakSchedule make_schedule(uint64_t seed, int hosts = 3);

// Judges a played schedule from its run (the checker's timeline and the
// lab's status afterwards) into run.failures and run.figures. The last heal
// is the timeline's last repair event.
void judge_soak(const SoakSchedule& schedule, RowRun& run);

// Plays `schedule` on the lab that is up under `root` (vigild in cluster
// mode): waits for vigild to settle and every guest to write, starts the
// checker, runs the steps, observes until the bound after the last heal has
// passed, judges. An error means it could not be played (the lab never
// settled, a guest was not writing at the start).
[[nodiscard]] Result<RowRun> play_soak(const std::filesystem::path& root,
                                       const SoakSchedule& schedule, std::ostream& log);

// `vigil-lab soak`: `count` schedules from seeds first, first + 1, ..., each
// on a fresh lab under `root` taken down after; prints each result, the
// failures with their seed, schedule and timeline, and a summary. Returns the
// number of schedules that broke a promise or could not be played.
struct SoakSummary {
    int schedules = 0;
    int faults = 0;
    int failed = 0;
    std::vector<uint64_t> failed_seeds;
    double seconds = 0;
    bool interrupted = false;
};
[[nodiscard]] SoakSummary run_soak(const std::filesystem::path& root, uint64_t first, int count,
                                   std::ostream& out);

}  // namespace vigil::lab
