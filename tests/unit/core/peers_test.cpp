#include "daemon/core/peers.h"

#include <gtest/gtest.h>

namespace vigil::core {
namespace {

TimePoint t(double seconds) {
    return TimePoint{std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds))};
}

Policy hosts(std::uint32_t n) {
    Policy p;
    for (std::uint32_t i = 1; i <= n; ++i) p.hosts.push_back({HostId{i}, 4096});
    return p;
}

HostStatus status(std::uint32_t id, std::uint64_t seq) {
    return HostStatus{
        .host = HostId{id}, .incarnation = 1, .sequence = seq, .quorate = true, .storage_ok = true};
}

// h1's tracker of four peers, all heard at 0 through the cluster and their slots.
PeerTracker heard_at_zero() {
    PeerTracker peers(hosts(5), HostId{1}, t(0));
    std::vector<HostId> members;
    std::vector<HostStatus> slots;
    for (std::uint32_t i = 1; i <= 5; ++i) members.push_back(HostId{i});
    peers.on_membership(t(0), MembershipEvidence{.members = members, .quorate = true});
    for (std::uint32_t i = 2; i <= 5; ++i) {
        peers.on_message(t(0), status(i, 1));
        slots.push_back(status(i, 1));
    }
    peers.on_slot_read(t(0), SlotReadEvidence{.ok = true, .slots = slots});
    return peers;
}

// The slots read again, unchanged: reads must keep working for silence to count.
void read_unchanged(PeerTracker& peers, TimePoint at) {
    std::vector<HostStatus> slots;
    for (std::uint32_t i = 2; i <= 5; ++i) slots.push_back(status(i, 1));
    peers.on_slot_read(at, SlotReadEvidence{.ok = true, .slots = slots});
}

TEST(PeersTest, OneSilentPeerIsDeadAfterTheFenceDelay) {
    auto peers = heard_at_zero();
    EXPECT_EQ(peers.classify(t(0), true, t(0), false).changes.size(), 4u);  // all alive
    for (double at = 1; at <= 6; at += 1) read_unchanged(peers, t(at));
    for (std::uint32_t i = 2; i <= 4; ++i) peers.on_message(t(6.9), status(i, 7));
    read_unchanged(peers, t(6.9));
    auto c = peers.classify(t(6.9), true, t(0), false);
    ASSERT_EQ(c.changes.size(), 1u);
    EXPECT_EQ(c.changes[0].reason, Reason::kSilentInsideFenceDelay);
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kSuspect);
    for (std::uint32_t i = 2; i <= 4; ++i) peers.on_message(t(7), status(i, 8));
    read_unchanged(peers, t(7));
    c = peers.classify(t(7), true, t(0), false);
    EXPECT_FALSE(peers.storm());
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kDead);
    ASSERT_EQ(c.changes.size(), 1u);
    EXPECT_EQ(c.changes[0].peer, HostId{5});
    EXPECT_EQ(c.changes[0].reason, Reason::kFenceDelayElapsed);
    EXPECT_TRUE(c.alerts.empty());
}

TEST(PeersTest, StormGuardKeepsEveryoneSuspectWhenMostLookDeadAtOnce) {
    auto peers = heard_at_zero();
    for (double at = 1; at <= 7; at += 1) read_unchanged(peers, t(at));
    peers.on_message(t(7), status(2, 8));
    const auto c = peers.classify(t(7), true, t(0), false);
    EXPECT_TRUE(peers.storm());
    for (std::uint32_t i = 3; i <= 5; ++i)
        EXPECT_EQ(peers.peer_class(HostId{i}), PeerClass::kSuspect) << i;
    ASSERT_EQ(c.alerts.size(), 1u);
    EXPECT_EQ(c.alerts[0].kind, AlertKind::kStormGuard);
    EXPECT_EQ(c.alerts[0].evidence, (std::vector<Fact>{{"looking_dead", "3"}, {"peers", "4"}}));
    // A confirmed fence is evidence of its own and does not count towards the storm:
    // two of four looking dead is not more than half.
    peers.on_fence_confirmed(HostId{3});
    read_unchanged(peers, t(8));
    const auto after = peers.classify(t(8), true, t(0), false);
    EXPECT_FALSE(peers.storm());
    ASSERT_EQ(after.changes.size(), 3u);
    EXPECT_EQ(after.changes[0].reason, Reason::kFenceConfirmed);
    for (std::uint32_t i = 3; i <= 5; ++i)
        EXPECT_EQ(peers.peer_class(HostId{i}), PeerClass::kDead) << i;
}

TEST(PeersTest, ReadsThatStopComingAreNoReads) {
    auto peers = heard_at_zero();
    for (std::uint32_t i = 2; i <= 4; ++i) peers.on_message(t(7), status(i, 8));
    // The last read finished at 0: a read hung since (stalled storage) proves nothing.
    const auto c = peers.classify(t(7), true, t(0), false);
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kSuspect);
    EXPECT_FALSE(peers.reads_ok(t(7)));
    // Reads work again: h5's silence counts from now, not from before the gap.
    for (double at = 8; at <= 14; at += 1) read_unchanged(peers, t(at));
    for (std::uint32_t i = 2; i <= 4; ++i) peers.on_message(t(14.9), status(i, 9));
    read_unchanged(peers, t(14.9));
    (void)peers.classify(t(14.9), true, t(0), false);
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kSuspect);
    for (std::uint32_t i = 2; i <= 4; ++i) peers.on_message(t(15), status(i, 10));
    read_unchanged(peers, t(15));
    (void)peers.classify(t(15), true, t(0), false);
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kDead);
    (void)c;
}

TEST(PeersTest, ASlotThatMovedDuringAReadGapIsNoSignOfLife) {
    auto peers = heard_at_zero();
    // h5 wrote once more at 1 s, then died; it left the membership at 3 s. Our reads
    // stopped from 0 s to 4 s (a frozen daemon, a stalled read).
    peers.on_membership(t(3),
                        MembershipEvidence{.members = {HostId{1}, HostId{2}, HostId{3}, HostId{4}},
                                           .quorate = true});
    std::vector<HostStatus> slots;
    for (std::uint32_t i = 2; i <= 4; ++i) slots.push_back(status(i, 1));
    slots.push_back(status(5, 2));
    peers.on_slot_read(t(4), SlotReadEvidence{.ok = true, .slots = slots});
    for (std::uint32_t i = 2; i <= 4; ++i) peers.on_message(t(4), status(i, 5));
    (void)peers.classify(t(4), true, t(0), false);
    // Not "isolated": nothing shows it wrote after it left.
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kSuspect);
}

TEST(PeersTest, TheFirstReadTakesASlotNewerThanTheMessagesOfTheSameRun) {
    PeerTracker peers(hosts(3), HostId{1}, t(0));
    peers.on_membership(
        t(0), MembershipEvidence{.members = {HostId{1}, HostId{2}, HostId{3}}, .quorate = true});
    // A backlog of old messages, then our first read ever: the slot is newer.
    peers.on_message(t(1), status(2, 5));
    auto newer = status(2, 9);
    newer.held = {{"web", VmState::kRunning}};
    peers.on_slot_read(t(1), SlotReadEvidence{.ok = true, .slots = {newer}});
    ASSERT_TRUE(peers.peers().at(HostId{2}).status.has_value());
    EXPECT_EQ(peers.peers().at(HostId{2}).status->sequence, 9u);
    EXPECT_EQ(peers.peers().at(HostId{2}).status->held.size(), 1u);
    // An older slot of the same run does not replace a newer message.
    peers.on_message(t(2), status(3, 7));
    peers.on_slot_read(t(2), SlotReadEvidence{.ok = true, .slots = {newer, status(3, 4)}});
    EXPECT_EQ(peers.peers().at(HostId{3}).status->sequence, 7u);
}

TEST(PeersTest, NoPeerIsDeadWhileOurOwnStorageFails) {
    auto peers = heard_at_zero();
    for (double at = 1; at <= 7; at += 1) read_unchanged(peers, t(at));
    for (std::uint32_t i = 2; i <= 4; ++i) peers.on_message(t(7), status(i, 8));
    (void)peers.classify(t(7), true, t(0), true);
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kSuspect);
    (void)peers.classify(t(7), true, t(0), false);
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kDead);
}

TEST(PeersTest, APeerStillWritingItsSlotAfterLeavingIsIsolatedAndNeverDead) {
    auto peers = heard_at_zero();
    peers.on_membership(t(1),
                        MembershipEvidence{.members = {HostId{1}, HostId{2}, HostId{3}, HostId{4}},
                                           .quorate = true});
    for (double s = 1; s <= 20; s += 1) {
        const auto seq = static_cast<std::uint64_t>(s) + 1;
        std::vector<HostStatus> slots;
        for (std::uint32_t i = 2; i <= 5; ++i) slots.push_back(status(i, seq));
        for (std::uint32_t i = 2; i <= 4; ++i) peers.on_message(t(s), status(i, seq));
        peers.on_slot_read(t(s), SlotReadEvidence{.ok = true, .slots = slots});
        const auto c = peers.classify(t(s), true, t(0), false);
        // The slot that advanced when it left says nothing yet: only the next one does.
        const bool isolated = s >= 2;
        EXPECT_EQ(peers.peer_class(HostId{5}) == PeerClass::kIsolated, isolated) << s;
        EXPECT_EQ(c.alerts.size(), isolated ? 1u : 0u) << s;
    }
    EXPECT_FALSE(peers.placement_eligible(HostId{5}));
    EXPECT_TRUE(peers.placement_eligible(HostId{2}));
    EXPECT_EQ(peers.lowest_coordinator_candidate(), HostId{2});
}

// A mixed cluster mid-upgrade: peer 5 runs a vigil that writes a newer major
// format. We read none of its records, but corosync says it sends: alive as far as
// we can tell while it is a member, so never dead, and never given VMs.
TEST(PeersTest, AMemberWritingANewerFormatIsNeverCalledDead) {
    auto peers = heard_at_zero();
    (void)peers.classify(t(0), true, t(0), false);
    for (double at = 1; at <= 60; at += 1) {
        for (std::uint32_t i = 2; i <= 4; ++i)
            peers.on_message(t(at), status(i, static_cast<std::uint64_t>(at) + 1));
        peers.on_unreadable(t(at), HostId{5});
        read_unchanged(peers, t(at));
        (void)peers.classify(t(at), true, t(0), false);
        ASSERT_NE(peers.peer_class(HostId{5}), PeerClass::kDead) << "at " << at;
    }
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kSuspect);
    EXPECT_EQ(peers.peers().at(HostId{5}).reason, Reason::kUnreadableFormat);
    EXPECT_FALSE(peers.placement_eligible(HostId{5}));
    EXPECT_FALSE(peers.storm());
    EXPECT_EQ(peers.lowest_coordinator_candidate(), HostId{2});
    // A fence agent is never pointed at it either.
    EXPECT_TRUE(peers.fence_candidates(t(60), std::chrono::seconds{2}).empty());
}

// When the lowest peer writes a format we cannot read, we do not plan over it: it
// reads us and may well coordinate.
TEST(PeersTest, ALowerMemberWeCannotReadIsLeftToCoordinate) {
    auto peers = heard_at_zero();
    for (double at = 1; at <= 5; at += 1) {
        for (std::uint32_t i = 3; i <= 5; ++i)
            peers.on_message(t(at), status(i, static_cast<std::uint64_t>(at) + 1));
        peers.on_unreadable(t(at), HostId{2});
        read_unchanged(peers, t(at));
        (void)peers.classify(t(at), true, t(0), false);
    }
    EXPECT_EQ(peers.peers().at(HostId{2}).reason, Reason::kUnreadableFormat);
    EXPECT_EQ(peers.lowest_coordinator_candidate(), HostId{2});
    // Read again (its vigil went back to a format we know): an ordinary member.
    peers.on_message(t(6), status(2, 9));
    (void)peers.classify(t(6), true, t(0), false);
    EXPECT_EQ(peers.peer_class(HostId{2}), PeerClass::kAlive);
    EXPECT_TRUE(peers.placement_eligible(HostId{2}));
}

// Its silence counts from its last unreadable record: once it leaves the
// membership and stops, it is dead a fence delay later, as any peer.
TEST(PeersTest, ANewerFormatPeerThatDiesIsDeadAFenceDelayAfterItsLastRecord) {
    auto peers = heard_at_zero();
    std::vector<HostId> members;
    for (std::uint32_t i = 1; i <= 4; ++i) members.push_back(HostId{i});
    for (double at = 1; at <= 20; at += 1) {
        for (std::uint32_t i = 2; i <= 4; ++i)
            peers.on_message(t(at), status(i, static_cast<std::uint64_t>(at) + 1));
        if (at <= 10) peers.on_unreadable(t(at), HostId{5});
        if (at == 11)
            peers.on_membership(t(at), MembershipEvidence{.members = members, .quorate = true});
        read_unchanged(peers, t(at));
        (void)peers.classify(t(at), true, t(0), false);
        if (at < 17) {
            ASSERT_NE(peers.peer_class(HostId{5}), PeerClass::kDead) << "at " << at;
        }
    }
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kDead);
}

// Cut off from the cluster, it still writes its slot: the slot's bytes change at
// every read, so it is isolated, not dead (F3 in a mixed cluster).
TEST(PeersTest, ANewerFormatSlotThatKeepsChangingShowsAnIsolatedPeer) {
    auto peers = heard_at_zero();
    std::vector<HostId> members;
    for (std::uint32_t i = 1; i <= 4; ++i) members.push_back(HostId{i});
    peers.on_membership(t(1), MembershipEvidence{.members = members, .quorate = true});
    for (double at = 1; at <= 30; at += 1) {
        for (std::uint32_t i = 2; i <= 4; ++i)
            peers.on_message(t(at), status(i, static_cast<std::uint64_t>(at) + 1));
        std::vector<HostStatus> slots;
        for (std::uint32_t i = 2; i <= 4; ++i) slots.push_back(status(i, 1));
        peers.on_slot_read(
            t(at), SlotReadEvidence{.ok = true,
                                    .slots = slots,
                                    .unreadable = {{HostId{5}, static_cast<std::uint64_t>(at)}}});
        (void)peers.classify(t(at), true, t(0), false);
        ASSERT_NE(peers.peer_class(HostId{5}), PeerClass::kDead) << "at " << at;
    }
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kIsolated);
}

HostStatus frozen(std::uint32_t id, std::uint64_t seq) {
    auto s = status(id, seq);
    s.knows_freeze = true;
    s.frozen = true;
    s.held = {{"vm1", VmState::kRunning}};
    return s;
}

// h5's vigild stops deliberately: its frozen record comes through the cluster and
// its slot, then it leaves the CPG group and goes silent. Far past the fence delay
// (7 s) it is frozen, not dead: no fence candidate, no storm even when a second
// peer goes silent with it.
TEST(PeersTest, AFrozenPeerIsNeverDeadNorFencedNorAStorm) {
    auto peers = heard_at_zero();
    (void)peers.classify(t(0), true, t(0), false);
    peers.on_message(t(1), frozen(5, 2));
    std::vector<HostStatus> slots{status(2, 1), status(3, 1), status(4, 1), frozen(5, 2)};
    peers.on_slot_read(t(1), SlotReadEvidence{.ok = true, .slots = slots});
    auto c = peers.classify(t(1), true, t(0), false);
    ASSERT_EQ(c.changes.size(), 1u);
    EXPECT_EQ(c.changes[0].peer_class, PeerClass::kFrozen);
    EXPECT_EQ(c.changes[0].reason, Reason::kStoppedDeliberately);
    EXPECT_EQ(c.changes[0].evidence, (std::vector<Fact>{{"holds", "vm1"}}));
    peers.on_membership(t(1.5),
                        MembershipEvidence{.members = {HostId{1}, HostId{2}, HostId{3}, HostId{4}},
                                           .quorate = true});
    for (int at = 2; at <= 60; ++at) {
        for (std::uint32_t i = 2; i <= 3; ++i)
            peers.on_message(t(at), status(i, static_cast<std::uint64_t>(at) + 1));
        std::vector<HostStatus> again{status(2, static_cast<std::uint64_t>(at) + 1),
                                      status(3, static_cast<std::uint64_t>(at) + 1), status(4, 1),
                                      frozen(5, 2)};
        peers.on_slot_read(t(at), SlotReadEvidence{.ok = true, .slots = again});
        c = peers.classify(t(at), true, t(0), false);
        EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kFrozen) << at;
        EXPECT_TRUE(peers.fence_candidates(t(at), Duration{}).size() <= 1u);
        for (const auto& [id, left] : peers.fence_candidates(t(at), Duration{}))
            EXPECT_NE(id, HostId{5});
    }
    // h4 is dead (silent since 0, with h5 frozen that is one of four looking dead).
    EXPECT_FALSE(peers.storm());
    EXPECT_EQ(peers.peer_class(HostId{4}), PeerClass::kDead);
    EXPECT_FALSE(peers.placement_eligible(HostId{5}));
    // Corosync shows h5 again (the node rejoined) without a status: still frozen.
    peers.on_membership(t(61),
                        MembershipEvidence{.members = {HostId{1}, HostId{2}, HostId{3}, HostId{5}},
                                           .quorate = true});
    (void)peers.classify(t(61), true, t(0), false);
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kFrozen);
}

// Its vigild comes back: a new run's first record (through the slot or the
// cluster) ends the freeze, and from then on h5 is a peer like any other, dead a
// fence delay after it goes silent again.
TEST(PeersTest, ANewRunOfAFrozenPeerEndsTheFreeze) {
    auto peers = heard_at_zero();
    (void)peers.classify(t(0), true, t(0), false);
    peers.on_message(t(1), frozen(5, 2));
    (void)peers.classify(t(1), true, t(0), false);
    ASSERT_EQ(peers.peer_class(HostId{5}), PeerClass::kFrozen);
    auto back = status(5, 1);
    back.incarnation = 2;
    back.knows_freeze = true;
    back.held = {{"vm1", VmState::kRunning}};
    std::vector<HostStatus> slots{status(2, 1), status(3, 1), status(4, 1), frozen(5, 2)};
    for (int at = 2; at <= 19; ++at) {
        for (std::uint32_t i = 2; i <= 4; ++i)
            peers.on_message(t(at), status(i, static_cast<std::uint64_t>(at)));
        peers.on_slot_read(t(at), SlotReadEvidence{.ok = true, .slots = slots});
        (void)peers.classify(t(at), true, t(0), false);
        EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kFrozen) << at;
    }
    slots.back() = back;
    for (std::uint32_t i = 2; i <= 4; ++i) peers.on_message(t(20), status(i, 20));
    peers.on_slot_read(t(20), SlotReadEvidence{.ok = true, .slots = slots});
    auto c = peers.classify(t(20), true, t(0), false);
    EXPECT_EQ(peers.peer_class(HostId{5}), PeerClass::kAlive);
    ASSERT_EQ(c.changes.size(), 1u);
    EXPECT_EQ(c.changes[0].reason, Reason::kSlotAdvancing);
    // Power lost now: dead a fence delay (7 s) after its last sign of life.
    peers.on_membership(t(20.5),
                        MembershipEvidence{.members = {HostId{1}, HostId{2}, HostId{3}, HostId{4}},
                                           .quorate = true});
    for (int at = 21; at <= 27; ++at) {
        for (std::uint32_t i = 2; i <= 4; ++i)
            peers.on_message(t(at), status(i, static_cast<std::uint64_t>(at)));
        peers.on_slot_read(t(at), SlotReadEvidence{.ok = true, .slots = slots});
        (void)peers.classify(t(at), true, t(0), false);
        EXPECT_EQ(peers.peer_class(HostId{5}) == PeerClass::kDead, at >= 27) << at;
    }
}

}  // namespace
}  // namespace vigil::core
