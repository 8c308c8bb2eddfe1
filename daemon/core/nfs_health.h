#pragma once

// The health of each NFS mount from the client's own RPC counters
// (/proc/self/mountstats), read at every poll. The kernel counts an
// operation only when it completes, so a request the server never answers
// shows nowhere in the per-operation counters; it shows in the transport's
// sends running ahead of its replies. States follow StorageMonitor's rule:
// worse at once, better only after the better evidence has held for a while;
// each change is reported once, with the counter deltas that caused it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/evidence.h"
#include "daemon/core/types.h"

namespace vigil::core {

enum class NfsMountState : std::uint8_t {
    kOk,
    kDegraded,  // retransmissions, or replies slower than the threshold
    kStalled,   // requests sent and nothing answered for the stall time, or major timeouts
    kGone,      // the mount is no longer in mountstats
};

[[nodiscard]] std::string_view name(NfsMountState state);
// What a present mount says about its storage domain, for StorageEvidence.
[[nodiscard]] std::optional<StorageHealth> storage_health(NfsMountState state);

struct NfsThresholds {
    Duration slow_rtt = std::chrono::seconds(1);       // mean reply time above: degraded
    Duration stall = std::chrono::seconds(10);         // unanswered this long: stalled
    Duration error_window = std::chrono::seconds(30);  // retransmissions, major timeouts count
    Duration hold = std::chrono::seconds(1);           // better evidence must hold this long
    Duration forget_after = std::chrono::minutes(10);  // a gone mount is then forgotten
};

// One mount's cumulative counters: per-operation ones summed over every
// operation, transport ones summed over every transport (nconnect).
struct NfsCounters {
    std::uint64_t ops = 0;  // completed, with or without an error
    std::uint64_t retransmissions = 0;
    std::uint64_t major_timeouts = 0;
    Duration rtt{};              // summed over completed operations
    bool has_transport = false;  // no "xprt:" line: unanswered requests cannot be seen
    std::uint64_t sends = 0;     // retransmissions included
    std::uint64_t receives = 0;  // replies matched to a request
};

struct NfsMountSample {
    std::string mount;            // the mount point: what a mount is known by
    std::string device;           // "server:/export"
    std::optional<Duration> age;  // since mounted; a smaller one than before is a remount
    NfsCounters counters;
};

struct NfsTransition {
    std::string mount;
    std::string device;
    std::optional<NfsMountState> from;  // empty: first seen
    NfsMountState to = NfsMountState::kOk;
    TimePoint at;
    std::string evidence;  // why, with the counter deltas, for the log and `vigilctl explain`
};

struct NfsUpdate {
    std::vector<NfsTransition> transitions;
    std::vector<std::string> forgotten;  // gone mounts dropped after forget_after
};

// What is known of one mount now, for status output and metrics.
struct NfsMountView {
    std::string mount;
    std::string device;
    NfsMountState state = NfsMountState::kOk;
    TimePoint since;  // when `state` was entered
    NfsCounters counters;
    std::uint64_t unanswered = 0;      // requests sent since the transport last settled, unanswered
    Duration waiting{};                // time without progress while requests are unanswered
    std::optional<Duration> mean_rtt;  // over the operations completed in the last interval
    std::uint64_t resets = 0;          // times the counters started again (remounts)
};

class NfsHealth {
  public:
    explicit NfsHealth(NfsThresholds thresholds) : thresholds_(thresholds) {}

    // One complete reading of every NFS mount; mounts missing from it are
    // gone. When two mounts share a mount point the later one (on top) wins.
    [[nodiscard]] NfsUpdate observe(TimePoint now, const std::vector<NfsMountSample>& mounts);

    [[nodiscard]] std::vector<NfsMountView> mounts() const;

  private:
    struct Mount {
        std::string device;
        NfsMountState state = NfsMountState::kOk;
        TimePoint since;
        NfsCounters last;
        TimePoint last_at;
        std::optional<Duration> age;
        // sends - receives when the transport last settled (progress and no
        // more sent than answered), plus the retransmissions and major
        // timeouts since: each leaves a send that no reply will match.
        std::int64_t settled_gap = 0;
        std::uint64_t unanswered = 0;
        std::optional<TimePoint> waiting_since;
        NfsCounters waiting_from;  // the counters just before the wait began
        std::optional<TimePoint> last_retransmission;
        std::optional<TimePoint> last_major_timeout;
        std::optional<TimePoint> better_since;
        std::optional<Duration> mean_rtt;
        std::string deltas;  // the last interval's counter deltas, as text
        std::uint64_t resets = 0;
    };
    struct Target {
        NfsMountState state;
        std::string evidence;
    };

    void start(Mount& m, const NfsMountSample& s, TimePoint now) const;
    void advance(Mount& m, const NfsMountSample& s, TimePoint now) const;
    [[nodiscard]] Target target(const Mount& m, TimePoint now) const;
    [[nodiscard]] std::optional<NfsTransition> settle(const std::string& mount, Mount& m,
                                                      TimePoint now);

    NfsThresholds thresholds_;
    std::map<std::string, Mount> mounts_;
};

}  // namespace vigil::core
