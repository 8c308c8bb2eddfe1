#include "daemon/core/storage_monitor.h"

#include "daemon/core/decision.h"

#include <algorithm>
#include <cerrno>
#include <utility>

namespace vigil::core {
namespace {

std::string millis(Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

bool within(const std::optional<TimePoint>& when, TimePoint now, Duration window) {
    return when.has_value() && now - *when < window;
}

}  // namespace

BlockErrorClass classify_block_error(int error) {
    switch (error) {
        case EIO:        // BLK_STS_IOERR
        case ENODATA:    // BLK_STS_MEDIUM
        case EREMOTEIO:  // BLK_STS_TARGET
        case EBADE:      // BLK_STS_NEXUS, reservation conflict
        case ENODEV:     // BLK_STS_OFFLINE
        case EILSEQ:     // BLK_STS_PROTECTION
        case ENXIO:
            return BlockErrorClass::kGone;
        case ENOSPC:  // BLK_STS_NOSPC
            return BlockErrorClass::kNoSpace;
        case ETIMEDOUT:  // BLK_STS_TIMEOUT
        case ENOLINK:    // BLK_STS_TRANSPORT
        case ENOMEM:     // BLK_STS_RESOURCE
        case EBUSY:      // BLK_STS_DEV_RESOURCE
        case EAGAIN:     // BLK_STS_AGAIN
        case ETIME:      // BLK_STS_DURATION_LIMIT
            return BlockErrorClass::kTransient;
        default:
            return BlockErrorClass::kOther;
    }
}

std::string_view name(BlockErrorClass cls) {
    switch (cls) {
        case BlockErrorClass::kGone:
            return "gone";
        case BlockErrorClass::kNoSpace:
            return "no_space";
        case BlockErrorClass::kTransient:
            return "transient";
        case BlockErrorClass::kOther:
            return "other";
    }
    return "?";
}

Duration ProgressClock::observe(TimePoint now, std::uint32_t in_flight, std::uint64_t completed,
                                Duration busy) {
    const std::optional<Last> last = std::exchange(last_, Last{now, in_flight, completed, busy});
    const bool progressed = last && completed != last->completed;
    if (in_flight == 0) {
        waiting_since_.reset();
        return Duration::zero();
    }
    if (!waiting_since_ || progressed) {
        waiting_since_ = now;
        // Idle then, nothing completed since: the device has been busy without a
        // break since the first waiting request arrived. A counter that went
        // backwards (device replaced) or ran ahead of the clock is not trusted
        // beyond the interval.
        if (last && last->in_flight == 0 && !progressed && busy > last->busy && now > last->at) {
            waiting_since_ = now - std::min(busy - last->busy, now - last->at);
        }
    }
    return now - *waiting_since_;
}

std::optional<Duration> until_next_threshold(const StorageThresholds& thresholds,
                                             const StorageSample& sample) {
    if (sample.in_flight == 0) return std::nullopt;
    std::optional<Duration> next;
    for (const Duration threshold : {thresholds.slow, thresholds.stall}) {
        if (sample.oldest_in_flight >= threshold) continue;
        const Duration left = threshold - sample.oldest_in_flight;
        if (!next || left < *next) next = left;
    }
    return next;
}

StorageMonitor::Target StorageMonitor::target(const StorageSample& s) const {
    if (within(last_gone_, s.now, thresholds_.error_window)) {
        return {StorageHealth::kFailed, "device errors (I/O error, medium, target or offline) " +
                                            std::string("within the last ") +
                                            millis(thresholds_.error_window)};
    }
    if (s.in_flight > 0 && s.oldest_in_flight >= thresholds_.stall) {
        return {StorageHealth::kStalled, std::to_string(s.in_flight) +
                                             " requests in flight, the oldest for " +
                                             millis(s.oldest_in_flight)};
    }
    if (within(last_no_space_, s.now, thresholds_.error_window)) {
        return {StorageHealth::kNoSpace,
                "writes failed with ENOSPC within the last " + millis(thresholds_.error_window)};
    }
    if (s.in_flight > 0 && s.oldest_in_flight >= thresholds_.slow) {
        return {StorageHealth::kDegraded, "oldest of " + std::to_string(s.in_flight) +
                                              " requests in flight for " +
                                              millis(s.oldest_in_flight)};
    }
    if (within(last_transient_, s.now, thresholds_.error_window)) {
        return {StorageHealth::kDegraded, "transient errors (timeout, transport) within the last " +
                                              millis(thresholds_.error_window)};
    }
    return {StorageHealth::kOk, std::to_string(s.in_flight) +
                                    " requests in flight, the oldest for " +
                                    millis(s.oldest_in_flight) + "; no recent errors"};
}

std::optional<StorageTransition> StorageMonitor::observe(const StorageSample& s) {
    // Counters only grow, from zero when vigild attached its probes.
    const StorageSample before = last_.value_or(StorageSample{});
    if (s.gone_errors > before.gone_errors) last_gone_ = s.now;
    if (s.no_space_errors > before.no_space_errors) last_no_space_ = s.now;
    if (s.transient_errors > before.transient_errors) last_transient_ = s.now;
    if (s.probe_ok_issued && (!probe_ok_issued_ || *s.probe_ok_issued > *probe_ok_issued_))
        probe_ok_issued_ = s.probe_ok_issued;
    last_ = s;

    const Target t = target(s);
    if (t.health == health_) {
        better_since_.reset();
        return std::nullopt;
    }
    if (severity(t.health) < severity(health_)) {
        if (!better_since_) better_since_ = s.now;
        if (s.now - *better_since_ < thresholds_.hold) return std::nullopt;
    }
    better_since_.reset();
    StorageTransition tr{health_, t.health, t.evidence};
    health_ = t.health;
    return tr;
}

bool StorageMonitor::answering() const {
    if (health_ != StorageHealth::kFailed || !probe_ok_issued_) return false;
    // Errors are timed by the sample that first counted them; a probe issued at
    // that sample's time was issued after the counters were read, so after them.
    for (const auto& last : {last_gone_, last_no_space_, last_transient_}) {
        if (last && *last > *probe_ok_issued_) return false;
    }
    return true;
}

}  // namespace vigil::core
