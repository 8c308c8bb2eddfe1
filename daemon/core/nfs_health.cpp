#include "daemon/core/nfs_health.h"

namespace vigil::core {
namespace {

// Worse states rank higher; gone is outside the ranking (it is reported at once).
int severity(NfsMountState s) {
    switch (s) {
        case NfsMountState::kOk:
            return 0;
        case NfsMountState::kDegraded:
            return 1;
        case NfsMountState::kStalled:
            return 2;
        case NfsMountState::kGone:
            return 3;
    }
    return 0;
}

std::string millis(Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

bool within(const std::optional<TimePoint>& when, TimePoint now, Duration window) {
    return when.has_value() && now - *when < window;
}

std::int64_t gap(const NfsCounters& c) {
    return static_cast<std::int64_t>(c.sends) - static_cast<std::int64_t>(c.receives);
}

bool went_back(const NfsCounters& now, const NfsCounters& before) {
    return now.ops < before.ops || now.retransmissions < before.retransmissions ||
           now.major_timeouts < before.major_timeouts || now.rtt < before.rtt ||
           now.sends < before.sends || now.receives < before.receives ||
           now.has_transport != before.has_transport;
}

}  // namespace

std::string_view name(NfsMountState state) {
    switch (state) {
        case NfsMountState::kOk:
            return "ok";
        case NfsMountState::kDegraded:
            return "degraded";
        case NfsMountState::kStalled:
            return "stalled";
        case NfsMountState::kGone:
            return "gone";
    }
    return "?";
}

std::optional<StorageHealth> storage_health(NfsMountState state) {
    switch (state) {
        case NfsMountState::kOk:
            return StorageHealth::kOk;
        case NfsMountState::kDegraded:
            return StorageHealth::kDegraded;
        case NfsMountState::kStalled:
            return StorageHealth::kStalled;
        case NfsMountState::kGone:
            return std::nullopt;
    }
    return std::nullopt;
}

void NfsHealth::start(Mount& m, const NfsMountSample& s, TimePoint now) const {
    m.device = s.device;
    m.last = s.counters;
    m.last_at = now;
    m.age = s.age;
    // Whatever was in flight before the first reading cannot be told from
    // what no reply will ever match: it is the baseline.
    m.settled_gap = gap(s.counters);
    m.unanswered = 0;
    m.waiting_since.reset();
    m.mean_rtt.reset();
    m.deltas.clear();
}

void NfsHealth::advance(Mount& m, const NfsMountSample& s, TimePoint now) const {
    const NfsCounters& c = s.counters;
    const NfsCounters& p = m.last;
    if (went_back(c, p) || (s.age && m.age && *s.age < *m.age)) {
        // Remounted (or a transport replaced): the counters start again and
        // their fall is no evidence. Recent trouble still counts.
        ++m.resets;
        start(m, s, now);
        m.deltas = "counters started again (remounted)";
        return;
    }
    const std::uint64_t d_ops = c.ops - p.ops;
    const std::uint64_t d_retrans = c.retransmissions - p.retransmissions;
    const std::uint64_t d_major = c.major_timeouts - p.major_timeouts;
    const std::uint64_t d_sends = c.sends - p.sends;
    const std::uint64_t d_receives = c.receives - p.receives;
    if (d_retrans > 0) m.last_retransmission = now;
    if (d_major > 0) m.last_major_timeout = now;
    m.mean_rtt = d_ops > 0
                     ? std::optional<Duration>((c.rtt - p.rtt) / static_cast<std::int64_t>(d_ops))
                     : std::nullopt;

    const bool progressed = d_ops > 0 || d_receives > 0;
    if (c.has_transport) {
        // A retransmission, once its operation completes, leaves one send no
        // reply matches; an operation given up after a major timeout leaves
        // at least one. Without this the gap would creep up for good.
        m.settled_gap += static_cast<std::int64_t>(d_retrans + d_major);
        if (progressed && d_sends <= d_receives) m.settled_gap = gap(c);
        std::int64_t out = gap(c) - m.settled_gap;
        if (out < 0) {
            m.settled_gap = gap(c);
            out = 0;
        }
        m.unanswered = static_cast<std::uint64_t>(out);
    } else {
        m.unanswered = 0;
    }
    if (m.unanswered == 0) {
        m.waiting_since.reset();
    } else if (!m.waiting_since || progressed) {
        // First seen waiting, or progress since the last reading: the wait
        // without progress starts now at the latest.
        m.waiting_since = now;
        m.waiting_from = p;
    }
    m.deltas = "ops +" + std::to_string(d_ops) + ", retransmissions +" + std::to_string(d_retrans) +
               ", major timeouts +" + std::to_string(d_major) +
               (c.has_transport ? ", sends +" + std::to_string(d_sends) + ", replies +" +
                                      std::to_string(d_receives)
                                : std::string()) +
               " in " + millis(now - m.last_at);
    m.device = s.device;
    m.last = c;
    m.last_at = now;
    m.age = s.age;
}

NfsHealth::Target NfsHealth::target(const Mount& m, TimePoint now) const {
    const std::string tail = m.deltas.empty() ? std::string() : " (" + m.deltas + ")";
    if (m.unanswered > 0 && m.waiting_since && now - *m.waiting_since >= thresholds_.stall) {
        // The last interval's deltas are all zero by now: what tells is
        // what moved since the wait began.
        const NfsCounters& f = m.waiting_from;
        return {NfsMountState::kStalled,
                std::to_string(m.unanswered) +
                    " requests sent and unanswered, no reply and no operation completed for " +
                    millis(now - *m.waiting_since) +
                    " (since the reading before the wait: sends +" +
                    std::to_string(m.last.sends - f.sends) + ", replies +" +
                    std::to_string(m.last.receives - f.receives) + ", ops +" +
                    std::to_string(m.last.ops - f.ops) + ", retransmissions +" +
                    std::to_string(m.last.retransmissions - f.retransmissions) + ")"};
    }
    if (within(m.last_major_timeout, now, thresholds_.error_window)) {
        return {NfsMountState::kStalled,
                "major timeouts within the last " + millis(thresholds_.error_window) + ", " +
                    std::to_string(m.last.major_timeouts) + " in all" + tail};
    }
    if (within(m.last_retransmission, now, thresholds_.error_window)) {
        return {NfsMountState::kDegraded,
                "retransmissions within the last " + millis(thresholds_.error_window) + ", " +
                    std::to_string(m.last.retransmissions) + " in all" + tail};
    }
    if (m.mean_rtt && *m.mean_rtt >= thresholds_.slow_rtt) {
        return {NfsMountState::kDegraded, "mean reply time " + millis(*m.mean_rtt) + tail};
    }
    return {NfsMountState::kOk,
            std::to_string(m.unanswered) + " requests unanswered, no retransmission or major " +
                "timeout within the last " + millis(thresholds_.error_window) + tail};
}

std::optional<NfsTransition> NfsHealth::settle(const std::string& mount, Mount& m, TimePoint now) {
    const Target t = target(m, now);
    if (t.state == m.state) {
        m.better_since.reset();
        return std::nullopt;
    }
    if (severity(t.state) < severity(m.state)) {
        if (!m.better_since) m.better_since = now;
        if (now - *m.better_since < thresholds_.hold) return std::nullopt;
    }
    m.better_since.reset();
    NfsTransition tr{.mount = mount,
                     .device = m.device,
                     .from = m.state,
                     .to = t.state,
                     .at = now,
                     .evidence = t.evidence};
    m.state = t.state;
    m.since = now;
    return tr;
}

NfsUpdate NfsHealth::observe(TimePoint now, const std::vector<NfsMountSample>& samples) {
    std::map<std::string, const NfsMountSample*> present;
    for (const auto& s : samples) present[s.mount] = &s;  // later (on top) wins

    NfsUpdate out;
    for (const auto& [name, sample] : present) {
        auto it = mounts_.find(name);
        if (it == mounts_.end()) {
            Mount m;
            start(m, *sample, now);
            m.state = NfsMountState::kOk;
            m.since = now;
            out.transitions.push_back({.mount = name,
                                       .device = m.device,
                                       .from = std::nullopt,
                                       .to = m.state,
                                       .at = now,
                                       .evidence = "first seen: " + m.device + ", " +
                                                   std::to_string(m.last.ops) +
                                                   " operations since mounted"});
            mounts_.emplace(name, std::move(m));
            continue;
        }
        Mount& m = it->second;
        if (m.state == NfsMountState::kGone) {
            // Mounted again: a new mount, judged from its own counters.
            m = Mount{};
            start(m, *sample, now);
            m.since = now;
            out.transitions.push_back({.mount = name,
                                       .device = m.device,
                                       .from = NfsMountState::kGone,
                                       .to = NfsMountState::kOk,
                                       .at = now,
                                       .evidence = "mounted again: " + m.device});
            continue;
        }
        advance(m, *sample, now);
        if (auto tr = settle(name, m, now)) out.transitions.push_back(std::move(*tr));
    }

    for (auto it = mounts_.begin(); it != mounts_.end();) {
        Mount& m = it->second;
        if (present.contains(it->first)) {
            ++it;
            continue;
        }
        if (m.state != NfsMountState::kGone) {
            out.transitions.push_back({.mount = it->first,
                                       .device = m.device,
                                       .from = m.state,
                                       .to = NfsMountState::kGone,
                                       .at = now,
                                       .evidence = "no longer in mountstats (unmounted)"});
            m.state = NfsMountState::kGone;
            m.since = now;
            m.unanswered = 0;
            m.waiting_since.reset();
            m.better_since.reset();
            ++it;
        } else if (now - m.since >= thresholds_.forget_after) {
            out.forgotten.push_back(it->first);
            it = mounts_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

std::vector<NfsMountView> NfsHealth::mounts() const {
    std::vector<NfsMountView> out;
    out.reserve(mounts_.size());
    for (const auto& [name, m] : mounts_) {
        out.push_back(NfsMountView{
            .mount = name,
            .device = m.device,
            .state = m.state,
            .since = m.since,
            .counters = m.last,
            .unanswered = m.unanswered,
            .waiting = m.waiting_since ? m.last_at - *m.waiting_since : Duration::zero(),
            .mean_rtt = m.mean_rtt,
            .resets = m.resets,
        });
    }
    return out;
}

}  // namespace vigil::core
