#pragma once

// The health of one block device from the kernel's evidence: errors by class,
// requests in flight and the age of the oldest. A state gets worse at once and
// better only after the better evidence has held for a while (hysteresis), so
// a blip does not flap the state.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/core/evidence.h"
#include "daemon/core/types.h"

namespace vigil::core {

enum class BlockErrorClass : std::uint8_t {
    kGone,       // the device or target says it failed or is gone: medium, target, nexus,
                 // offline, protection, plain EIO: recover elsewhere
    kNoSpace,    // the volume is full: wait for space, then resume
    kTransient,  // timeouts, transport, resources: wait
    kOther,      // not about the device's health (unsupported operation, ...)
};

// Classifies a positive errno as the block layer derives it from blk_status_t.
[[nodiscard]] BlockErrorClass classify_block_error(int error);
[[nodiscard]] std::string_view name(BlockErrorClass cls);

struct StorageThresholds {
    Duration slow = std::chrono::seconds(1);          // oldest request older: degraded
    Duration stall = std::chrono::seconds(5);         // oldest request older: stalled
    Duration error_window = std::chrono::seconds(5);  // errors count for this long
    Duration hold = std::chrono::seconds(1);          // better evidence must hold this long
};

// One scan of the device, with cumulative error counts by class.
struct StorageSample {
    TimePoint now;
    std::uint32_t in_flight = 0;
    Duration oldest_in_flight{};
    std::uint64_t gone_errors = 0;
    std::uint64_t no_space_errors = 0;
    std::uint64_t transient_errors = 0;
    // When the latest request that vigild issued itself to test the device (a
    // probe read) and that completed without error was issued; empty when none
    // has. Only a request issued after the last error says the storage serves
    // again: absence of errors says nothing while nothing does I/O.
    std::optional<TimePoint> probe_ok_issued;
};

struct StorageTransition {
    StorageHealth from = StorageHealth::kOk;
    StorageHealth to = StorageHealth::kOk;
    std::string evidence;  // why, for the log and `vigilctl explain`
};

// How long a device has gone without progress while requests wait, from the
// kernel's per-device counters sampled at each poll: the time since it last
// completed a request or since requests began to wait, whichever is later.
// It needs no per-request bookkeeping; it reads a device that completes
// nothing as stalled however many requests wait, but one stuck request among
// others that complete shows only as latency, not here.
//
// When requests are first seen waiting on a device that was idle at the last
// sample and has completed nothing since, the device's busy time (io_ticks)
// since that sample says when the first of them arrived, so the wait is not
// under-counted by up to a poll interval. Otherwise the wait starts at the
// sample, the latest it can have started.
class ProgressClock {
  public:
    [[nodiscard]] Duration observe(TimePoint now, std::uint32_t in_flight, std::uint64_t completed,
                                   Duration busy);

  private:
    std::optional<TimePoint> waiting_since_;
    struct Last {
        TimePoint at;
        std::uint32_t in_flight;
        std::uint64_t completed;
        Duration busy;
    };
    std::optional<Last> last_;
};

// How much longer the oldest request may wait before it crosses the next age
// threshold (slow, then stall); empty when nothing waits or every threshold is
// crossed. The daemon samples again then, so a stall is reported when it
// reaches the threshold rather than at the next regular poll.
[[nodiscard]] std::optional<Duration> until_next_threshold(const StorageThresholds& thresholds,
                                                           const StorageSample& sample);

class StorageMonitor {
  public:
    explicit StorageMonitor(StorageThresholds thresholds) : thresholds_(thresholds) {}

    // Feeds one sample; returns the transition when the state changes.
    [[nodiscard]] std::optional<StorageTransition> observe(const StorageSample& sample);
    [[nodiscard]] StorageHealth health() const { return health_; }
    // Failed, yet a probe issued after the last error of any class completed:
    // the device serves again while its error window and hold run out. The
    // health keeps its hysteresis (it decides fences, stops and placement);
    // this is for what is harmless when wrong, resuming a VM that qemu paused
    // on an I/O error (it pauses again and keeps the failed request).
    [[nodiscard]] bool answering() const;
    [[nodiscard]] const StorageThresholds& thresholds() const { return thresholds_; }

  private:
    struct Target {
        StorageHealth health;
        std::string evidence;
    };
    [[nodiscard]] Target target(const StorageSample& sample) const;

    StorageThresholds thresholds_;
    StorageHealth health_ = StorageHealth::kOk;
    std::optional<StorageSample> last_;
    std::optional<TimePoint> last_gone_;
    std::optional<TimePoint> last_no_space_;
    std::optional<TimePoint> last_transient_;
    std::optional<TimePoint> probe_ok_issued_;
    std::optional<TimePoint> better_since_;  // when the evidence first pointed to a better state
};

}  // namespace vigil::core
