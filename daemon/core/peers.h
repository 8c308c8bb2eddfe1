#pragma once

// Peer classification: what this host knows of every other configured host (its last
// status from the cluster or its storage slot, membership, when it was last heard)
// and the class that follows from it, with the storm guard that distrusts our own
// view when most peers look dead at once.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "daemon/core/alerts.h"
#include "daemon/core/decision.h"
#include "daemon/core/evidence.h"
#include "daemon/core/policy.h"
#include "daemon/core/types.h"

namespace vigil::core {

struct PeerView {
    std::optional<HostStatus> status;  // the newest of its messages and slot
    bool in_membership = false;
    std::optional<TimePoint> left_membership;
    std::optional<TimePoint> last_message;
    std::optional<TimePoint> last_slot_advance;
    std::optional<std::pair<std::uint64_t, std::uint64_t>> slot_key;  // incarnation, sequence
    // Records of a newer format than we read (a newer vigil): when the last came,
    // and the fingerprint of its slot as last read.
    std::optional<TimePoint> last_unreadable;
    std::optional<std::uint64_t> unreadable_slot;
    bool fence_confirmed = false;
    PeerClass cls = PeerClass::kSuspect;
    Reason reason = Reason::kNoStatusYet;  // why it has that class
    bool announced = false;                // class logged at least once
    // Silent inside the fence delay: when the delay runs out, unless it is heard.
    std::optional<TimePoint> fence_delay_ends;
};

struct Classification {
    std::vector<Decision> changes;  // kPeerClass, for the peers whose class changed
    std::vector<Alert> alerts;      // storm guard, isolated peers, peers without storage
};

class PeerTracker {
  public:
    // Every configured host but self; silence counts from started at the earliest.
    PeerTracker(const Policy& policy, HostId self, TimePoint started);

    void on_membership(TimePoint at, const MembershipEvidence& e);
    // A status message from a peer (not our own).
    void on_message(TimePoint at, const HostStatus& status);
    void on_slot_read(TimePoint at, const SlotReadEvidence& e);
    // A message from a peer in a format we cannot read: it runs, we know no more.
    void on_unreadable(TimePoint at, HostId peer);
    void on_fence_confirmed(HostId peer);
    // Peers to power off through their fence agents: suspect because silent, out of
    // the membership for at least `after` while our slot reads worked (long enough
    // for a peer that still writes its slot to have shown it: it would be isolated
    // then, never fenced), and not confirmed off yet. With when each left.
    [[nodiscard]] std::vector<std::pair<HostId, TimePoint>> fence_candidates(TimePoint now,
                                                                             Duration after) const;

    // Classifies every peer now. quorate: we are in the quorate partition, since
    // quorate_since; outside it we never call a silent peer dead.
    // own_storage_trouble: our storage fails now, so a slot's silence may be ours.
    [[nodiscard]] Classification classify(TimePoint now, bool quorate,
                                          std::optional<TimePoint> quorate_since,
                                          bool own_storage_trouble);

    [[nodiscard]] const std::map<HostId, PeerView>& peers() const { return peers_; }
    [[nodiscard]] PeerClass peer_class(HostId peer) const;
    // The earliest moment, as of the last classify(), at which a silent peer's fence
    // delay runs out: a tick then calls it dead without waiting for the next heartbeat.
    [[nodiscard]] std::optional<TimePoint> next_fence_delay_end() const;
    // Our slot reads work: the last one succeeded, within the fresh window (a read
    // that hangs on stalled storage sends nothing at all). A slot's silence means
    // something only then.
    [[nodiscard]] bool reads_ok(TimePoint now) const {
        return reads_ok_ && fresh(last_read_at_, now);
    }
    // Set by classify(): too many peers look dead at once, so none is called dead.
    [[nodiscard]] bool storm() const { return storm_; }
    // Our storage trouble is ours alone: fewer than half of the alive peers that
    // reported within the fresh window say they have trouble too.
    [[nodiscard]] bool storage_trouble_is_local(TimePoint now) const;
    // At least half of the alive peers that reported within the fresh window have
    // storage trouble too. Neither this nor the above when no peer reported: unknown.
    [[nodiscard]] bool storage_trouble_is_shared(TimePoint now) const;
    // The peer may receive VMs: alive, a member, quorate, its storage fine, not in
    // maintenance or cordoned, and saying it is ok.
    [[nodiscard]] bool placement_eligible(HostId peer) const;
    // The lowest-id peer that may coordinate: alive, a member, quorate and seeing its
    // storage.
    [[nodiscard]] std::optional<HostId> lowest_coordinator_candidate() const;

  private:
    struct Classified {
        PeerClass cls;
        Reason reason;
        std::vector<Fact> evidence;
        std::optional<TimePoint> fence_delay_ends;
    };

    [[nodiscard]] Classified classify(const PeerView& peer, TimePoint now, bool quorate,
                                      std::optional<TimePoint> quorate_since,
                                      bool own_storage_trouble) const;
    [[nodiscard]] bool fresh(const std::optional<TimePoint>& t, TimePoint now) const;
    // Its newest record is one we cannot read, within the fresh window: what status
    // we have of it is older than what it says now.
    [[nodiscard]] bool unreadable(const PeerView& peer, TimePoint now) const;
    // Alive peers that reported within the fresh window, and how many of them say
    // their storage is in trouble.
    [[nodiscard]] std::pair<std::size_t, std::size_t> storage_reports(TimePoint now) const;

    Duration fresh_window_;
    Duration fence_delay_;
    double storm_guard_share_;
    TimePoint started_;
    std::map<HostId, PeerView> peers_;
    bool reads_ok_ = false;
    std::optional<TimePoint> reads_ok_since_;
    std::optional<TimePoint> last_read_at_;
    bool storm_ = false;
};

}  // namespace vigil::core
