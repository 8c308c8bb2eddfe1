#include "daemon/core/peers.h"

#include <algorithm>
#include <utility>

#include "daemon/core/facts.h"

namespace vigil::core {
namespace {

void accept_status(PeerView& peer, const HostStatus& status) {
    if (peer.status && peer.status->incarnation == status.incarnation &&
        peer.status->sequence > status.sequence) {
        return;  // older than what we already have through the other channel
    }
    if (peer.status && peer.status->incarnation != status.incarnation) {
        peer.fence_confirmed = false;  // a new daemon run: the old fence no longer describes it
    }
    peer.status = status;
}

}  // namespace

PeerTracker::PeerTracker(const Policy& policy, HostId self, TimePoint started)
    : fresh_window_(policy.slot_fresh_window()),
      fence_delay_(policy.fence_delay),
      storm_guard_share_(policy.storm_guard_share),
      started_(started) {
    for (const auto& h : policy.hosts) {
        if (h.id != self) peers_.emplace(h.id, PeerView{});
    }
}

PeerClass PeerTracker::peer_class(HostId peer) const {
    const auto it = peers_.find(peer);
    return it == peers_.end() ? PeerClass::kSuspect : it->second.cls;
}

std::optional<TimePoint> PeerTracker::next_fence_delay_end() const {
    std::optional<TimePoint> out;
    for (const auto& [id, p] : peers_) {
        if (p.fence_delay_ends && (!out || *p.fence_delay_ends < *out)) out = p.fence_delay_ends;
    }
    return out;
}

bool PeerTracker::fresh(const std::optional<TimePoint>& t, TimePoint now) const {
    return t && now - *t <= fresh_window_;
}

void PeerTracker::on_membership(TimePoint at, const MembershipEvidence& e) {
    for (auto& [id, peer] : peers_) {
        const bool in = std::ranges::find(e.members, id) != e.members.end();
        if (peer.in_membership && !in) peer.left_membership = at;
        peer.in_membership = in;
    }
}

void PeerTracker::on_message(TimePoint at, const HostStatus& status) {
    auto it = peers_.find(status.host);
    if (it == peers_.end()) return;
    it->second.last_message = at;
    it->second.fence_delay_ends.reset();  // heard: the delay starts again, if ever
    accept_status(it->second, status);
    // A member that powered a peer off through its BMC says so; the claim holds for
    // the daemon run it ended, as we know it.
    for (const auto& [host, incarnation] : status.fenced) {
        auto target = peers_.find(host);
        if (target == peers_.end()) continue;
        auto& peer = target->second;
        const auto known = peer.status ? peer.status->incarnation : 0;
        if (known == incarnation) peer.fence_confirmed = true;
    }
}

bool PeerTracker::unreadable(const PeerView& peer, TimePoint now) const {
    const auto& unreadable_at = peer.last_unreadable;
    return unreadable_at && fresh(unreadable_at, now) &&
           (!peer.last_message || *peer.last_message < *unreadable_at);
}

void PeerTracker::on_unreadable(TimePoint at, HostId peer) {
    auto it = peers_.find(peer);
    if (it != peers_.end()) it->second.last_unreadable = at;
}

void PeerTracker::on_slot_read(TimePoint at, const SlotReadEvidence& e) {
    if (!e.ok) {
        reads_ok_ = false;
        return;
    }
    // The first read after a gap is a new baseline: a slot that moved during the gap
    // may have moved long ago (a peer that died since), so it is no sign of life now.
    const bool after_gap = !reads_ok_ || !fresh(last_read_at_, at);
    if (after_gap) {
        reads_ok_ = true;
        // While we could not read, any peer may have written: count its silence from
        // now, not from before the gap.
        reads_ok_since_ = at;
    }
    last_read_at_ = at;
    for (const auto& slot : e.slots) {
        auto it = peers_.find(slot.host);
        if (it == peers_.end()) continue;
        PeerView& peer = it->second;
        const std::pair key{slot.incarnation, slot.sequence};
        if (peer.slot_key && *peer.slot_key != key) {
            if (!after_gap) peer.last_slot_advance = at;
            accept_status(peer, slot);
        } else if (!peer.status || (peer.status->incarnation == slot.incarnation &&
                                    peer.status->sequence < slot.sequence)) {
            // Our first read: who held what, even if stale, and newer than the
            // messages we have of the same daemon run (a backlog after a freeze).
            accept_status(peer, slot);
        }
        peer.slot_key = key;
        peer.unreadable_slot.reset();
    }
    // A slot we cannot read still shows its owner writing when its bytes change.
    for (const auto& slot : e.unreadable) {
        auto it = peers_.find(slot.host);
        if (it == peers_.end()) continue;
        PeerView& peer = it->second;
        if (peer.unreadable_slot && *peer.unreadable_slot != slot.fingerprint) {
            if (!after_gap) peer.last_slot_advance = at;
            peer.last_unreadable = at;
        }
        peer.unreadable_slot = slot.fingerprint;
    }
}

std::vector<std::pair<HostId, TimePoint>> PeerTracker::fence_candidates(TimePoint now,
                                                                        Duration after) const {
    std::vector<std::pair<HostId, TimePoint>> out;
    for (const auto& [id, p] : peers_) {
        if (p.cls != PeerClass::kSuspect || p.reason != Reason::kSilentInsideFenceDelay) continue;
        if (p.in_membership || !p.left_membership || p.fence_confirmed) continue;
        // Silent for `after`: since it left, since its slot last moved (it may pet
        // for two heartbeats after a write), and while our reads worked (a slot we
        // could not read may have moved).
        if (!reads_ok_since_) continue;
        TimePoint silent_since = std::max(*p.left_membership, *reads_ok_since_);
        if (p.last_slot_advance) silent_since = std::max(silent_since, *p.last_slot_advance);
        if (p.last_message) silent_since = std::max(silent_since, *p.last_message);
        if (now - silent_since < after) continue;
        out.emplace_back(id, *p.left_membership);
    }
    return out;
}

void PeerTracker::on_fence_confirmed(HostId peer) {
    auto it = peers_.find(peer);
    if (it != peers_.end()) it->second.fence_confirmed = true;
}

PeerTracker::Classified PeerTracker::classify(const PeerView& peer, TimePoint now, bool quorate,
                                              std::optional<TimePoint> quorate_since,
                                              bool own_storage_trouble) const {
    if (peer.fence_confirmed) return {PeerClass::kDead, Reason::kFenceConfirmed, {}};
    // Its newest record is the last one of a deliberate stop: it disarmed its
    // watchdog and left its VMs running unmanaged. Whatever we hear or do not hear
    // of it now (it left, it is silent, corosync shows it again without a status),
    // its VMs are its own until it writes a record that is not frozen (its vigild
    // started again). If it really died, the operator decides (docs/operations.md).
    if (peer.status && peer.status->frozen) {
        std::string held;
        for (const auto& h : peer.status->held) held += (held.empty() ? "" : ",") + h.name;
        return {PeerClass::kFrozen, Reason::kStoppedDeliberately, {fact("holds", held)}};
    }
    const bool cluster_fresh = peer.in_membership && fresh(peer.last_message, now);
    if (cluster_fresh && peer.status) {
        if (peer.status->maintenance) return {PeerClass::kAlive, Reason::kMaintenance, {}};
        return {PeerClass::kAlive, Reason::kInMembership, {}};
    }
    // A member that speaks a newer format: alive as far as we can tell, but what we
    // know of it is older than what it says. Never dead while it is a member and
    // heard; not a place for VMs either (placement asks for kAlive).
    if (peer.in_membership && unreadable(peer, now))
        return {PeerClass::kSuspect, Reason::kUnreadableFormat, {}};
    if (peer.status && peer.status->state == SelfState::kReleased) {
        return {PeerClass::kReleased, Reason::kReleasedInSlot, {}};
    }
    // Isolated: still writing its slot after it left the membership. A slot that only
    // advanced before it left says nothing yet: a dead host looks the same for a while.
    const bool advanced_since_left =
        peer.last_slot_advance &&
        (!peer.left_membership || *peer.last_slot_advance > *peer.left_membership);
    if (reads_ok(now) && fresh(peer.last_slot_advance, now) && advanced_since_left) {
        // Still a member (a few messages lost in a blip) and writing its slot: alive.
        if (peer.in_membership && peer.status)
            return {PeerClass::kAlive, Reason::kSlotAdvancing, {}};
        return {PeerClass::kIsolated, Reason::kSlotAdvancing, {}};
    }
    if (!peer.status) return {PeerClass::kSuspect, Reason::kNoStatusYet, {}};
    // Outside the quorate partition a silent peer may well be alive inside it, petting
    // its watchdog because it is quorate: we cannot tell, so we never call it dead.
    if (!quorate) return {PeerClass::kSuspect, Reason::kQuorumLost, {}};
    // A read that worked a moment ago says nothing once our own storage fails: the
    // silence may be the storage's, not the peer's.
    if (!reads_ok(now) || !reads_ok_since_ || own_storage_trouble)
        return {PeerClass::kSuspect, Reason::kCannotReadSlots, {}};
    // Silence counts only from when we could hear it: since we started, since our
    // slot reads work again, and since we are back in the quorate partition.
    TimePoint last_sign = std::max({started_, *reads_ok_since_, quorate_since.value_or(now)});
    if (peer.last_message) last_sign = std::max(last_sign, *peer.last_message);
    if (peer.last_slot_advance) last_sign = std::max(last_sign, *peer.last_slot_advance);
    if (peer.last_unreadable) last_sign = std::max(last_sign, *peer.last_unreadable);
    std::vector<Fact> evidence{age("silent_for", now, last_sign)};
    if (now - last_sign >= fence_delay_) {
        evidence.push_back(fact("fence_delay", format_seconds(fence_delay_)));
        return {PeerClass::kDead, Reason::kFenceDelayElapsed, std::move(evidence)};
    }
    return {PeerClass::kSuspect, Reason::kSilentInsideFenceDelay, std::move(evidence),
            last_sign + fence_delay_};
}

Classification PeerTracker::classify(TimePoint now, bool quorate,
                                     std::optional<TimePoint> quorate_since,
                                     bool own_storage_trouble) {
    Classification out;
    std::map<HostId, Classified> result;
    std::size_t looking_dead = 0;
    for (const auto& [id, peer] : peers_) {
        auto c = classify(peer, now, quorate, quorate_since, own_storage_trouble);
        if ((c.cls == PeerClass::kDead || c.cls == PeerClass::kSuspect) &&
            c.reason != Reason::kFenceConfirmed && c.reason != Reason::kUnreadableFormat &&
            peer.status) {
            ++looking_dead;
        }
        result.emplace(id, std::move(c));
    }
    const double share =
        peers_.empty() ? 0.0
                       : static_cast<double>(looking_dead) / static_cast<double>(peers_.size());
    // Outside the quorate partition nobody is called dead anyway, and every peer looks
    // silent from here: that is the partition, not a storm.
    storm_ = quorate && share > storm_guard_share_;
    if (storm_) {
        out.alerts.push_back(Alert{.key = "storm-guard",
                                   .kind = AlertKind::kStormGuard,
                                   .reason = Reason::kStormGuard,
                                   .evidence = {fact("looking_dead", std::to_string(looking_dead)),
                                                fact("peers", std::to_string(peers_.size()))}});
        for (auto& [id, c] : result) {
            if (c.cls == PeerClass::kDead && c.reason != Reason::kFenceConfirmed) {
                c.cls = PeerClass::kSuspect;
                c.reason = Reason::kStormGuard;
            }
        }
    }
    for (auto& [id, c] : result) {
        PeerView& peer = peers_.at(id);
        // Within a class the reason is not news, except that we cannot read the peer
        // (or can again): an operator must hear that one.
        const bool unreadable_news = peer.announced && (peer.reason == Reason::kUnreadableFormat) !=
                                                           (c.reason == Reason::kUnreadableFormat);
        if (!peer.announced || peer.cls != c.cls || unreadable_news) {
            // The first view of a peer is only worth a line when it says more than "not heard yet".
            if (peer.announced || c.reason != Reason::kNoStatusYet) {
                Decision d{.kind = DecisionKind::kPeerClass,
                           .reason = c.reason,
                           .peer = id,
                           .peer_class = c.cls};
                d.evidence = c.evidence;
                out.changes.push_back(std::move(d));
                peer.announced = true;
            }
            peer.cls = c.cls;
        }
        peer.reason = c.reason;
        peer.fence_delay_ends = c.fence_delay_ends;
        if (c.cls == PeerClass::kIsolated) {
            out.alerts.push_back(Alert{.key = "peer-isolated:" + host_name(id),
                                       .kind = AlertKind::kPeerIsolated,
                                       .reason = Reason::kPeerIsolated,
                                       .peer = id});
        }
        if (c.cls == PeerClass::kAlive && peer.status && !peer.status->storage_ok &&
            peer.status->state == SelfState::kStorageLost) {
            out.alerts.push_back(Alert{.key = "peer-storage-lost:" + host_name(id),
                                       .kind = AlertKind::kPeerStorageLost,
                                       .reason = Reason::kPeerStorageLost,
                                       .peer = id});
        }
    }
    return out;
}

std::pair<std::size_t, std::size_t> PeerTracker::storage_reports(TimePoint now) const {
    std::size_t reporting = 0;
    std::size_t troubled_peers = 0;
    for (const auto& [id, p] : peers_) {
        if (p.cls != PeerClass::kAlive || !fresh(p.last_message, now) || !p.status) continue;
        ++reporting;
        if (!p.status->storage_ok) ++troubled_peers;
    }
    return {reporting, troubled_peers};
}

bool PeerTracker::storage_trouble_is_local(TimePoint now) const {
    const auto [reporting, troubled] = storage_reports(now);
    return reporting > 0 && troubled * 2 < reporting;
}

bool PeerTracker::storage_trouble_is_shared(TimePoint now) const {
    const auto [reporting, troubled] = storage_reports(now);
    return reporting > 0 && troubled * 2 >= reporting;
}

bool PeerTracker::placement_eligible(HostId peer) const {
    const PeerView& p = peers_.at(peer);
    return p.cls == PeerClass::kAlive && p.in_membership && p.status && p.status->quorate &&
           p.status->storage_ok && !p.status->maintenance && !p.status->cordoned &&
           p.status->state == SelfState::kOk;
}

std::optional<HostId> PeerTracker::lowest_coordinator_candidate() const {
    for (const auto& [id, peer] : peers_) {
        // A member we cannot read may coordinate by its own view (it reads us): we
        // do not plan over it, since two coordinators could place one VM twice.
        if (peer.reason == Reason::kUnreadableFormat) return id;
        if (peer.cls != PeerClass::kAlive || !peer.in_membership || !peer.status) continue;
        if (!peer.status->quorate || !peer.status->storage_ok) continue;
        return id;
    }
    return std::nullopt;
}

}  // namespace vigil::core
