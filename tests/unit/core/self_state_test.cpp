#include "daemon/core/self_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

namespace vigil::core {
namespace {

using namespace std::chrono_literals;

TimePoint t(double seconds) {
    return TimePoint{std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds))};
}

Policy three_hosts() {
    Policy p;
    for (std::uint32_t i = 1; i <= 3; ++i) p.hosts.push_back({HostId{i}, 4096});
    return p;
}

SelfStateMachine make(const Policy& p = three_hosts()) { return SelfStateMachine(p, HostId{1}, 7); }

void quorate(SelfStateMachine& s, TimePoint at) {
    s.on_membership(at, MembershipEvidence{.members = {HostId{1}, HostId{2}}, .quorate = true});
}

void cut_off(SelfStateMachine& s, TimePoint at) {
    s.on_membership(at, MembershipEvidence{.members = {HostId{1}}, .quorate = false});
}

bool has_change(const SelfAssessment& a, DecisionKind kind) {
    return std::ranges::any_of(a.changes, [&](const Decision& d) { return d.kind == kind; });
}

TEST(SelfStateTest, PetsOnlyWhileOurOwnMessageOrSlotWriteIsFresh) {
    auto s = make();
    EXPECT_EQ(s.pet_rule(t(0)), std::pair(false, Reason::kNoQuorumNoStorage));
    quorate(s, t(0));
    EXPECT_FALSE(s.pet_rule(t(0)).first);  // a quorate view alone proves nothing
    s.on_own_message(t(1), 6);             // the previous daemon run's message
    EXPECT_FALSE(s.pet_rule(t(1)).first);
    s.on_own_message(t(1), 7);
    EXPECT_EQ(s.pet_rule(t(3)), std::pair(true, Reason::kQuorate));
    EXPECT_FALSE(s.pet_rule(t(3.01)).first);  // fresh window: 2 heartbeats

    // Without quorum the slot write keeps us alive, counted from when it was issued.
    cut_off(s, t(4));
    s.on_own_message(t(4), 7);
    EXPECT_FALSE(s.pet_rule(t(4)).first);
    s.on_slot_write(t(4), SlotWriteEvidence{.ok = true, .latency = 500ms});
    EXPECT_EQ(s.pet_rule(t(5.5)), std::pair(true, Reason::kSlotWritesOk));
    EXPECT_FALSE(s.pet_rule(t(5.6)).first);
}

TEST(SelfStateTest, AnnouncesPetAndStateOnlyWhenTheyChange) {
    auto s = make();
    quorate(s, t(0));
    s.on_slot_write(t(0), SlotWriteEvidence{.ok = true});
    auto a = s.assess(t(0), SelfInputs{.trouble_is_local = true});
    EXPECT_TRUE(a.pet);
    EXPECT_EQ(a.state, SelfState::kOk);
    ASSERT_EQ(a.changes.size(), 2u);
    EXPECT_EQ(a.changes[0].kind, DecisionKind::kPetStarted);
    EXPECT_EQ(a.changes[0].reason, Reason::kSlotWritesOk);
    EXPECT_EQ(a.changes[1].kind, DecisionKind::kSelfState);
    EXPECT_TRUE(s.assess(t(1), SelfInputs{.trouble_is_local = true}).changes.empty());
    a = s.assess(t(3), SelfInputs{.trouble_is_local = true});
    EXPECT_FALSE(a.pet);
    ASSERT_EQ(a.changes.size(), 1u);
    EXPECT_EQ(a.changes[0].kind, DecisionKind::kPetStopped);
}

TEST(SelfStateTest, IsolatedKeepsItsVmsUntilItsUplinksAreDeadThenReleases) {
    auto s = make();
    s.on_link(t(0), LinkEvidence{NetRole::kVmUplink, LinkState::kUp});
    cut_off(s, t(0));
    s.on_slot_write(t(0), SlotWriteEvidence{.ok = true});
    auto a = s.assess(t(0), SelfInputs{.holds_vms = true});
    EXPECT_EQ(a.state, SelfState::kIsolated);
    EXPECT_FALSE(a.stop_all);
    ASSERT_EQ(a.alerts.size(), 1u);
    EXPECT_EQ(a.alerts[0].kind, AlertKind::kQuorumLost);

    s.on_link(t(1), LinkEvidence{NetRole::kVmUplink, LinkState::kDown});
    s.on_slot_write(t(2), SlotWriteEvidence{.ok = true});
    EXPECT_FALSE(s.assess(t(2.5), SelfInputs{.holds_vms = true}).stop_all);  // link grace
    s.on_slot_write(t(3), SlotWriteEvidence{.ok = true});
    a = s.assess(t(3), SelfInputs{.holds_vms = true});
    EXPECT_EQ(a.stop_all, Reason::kIsolatedUplinksDown);
    EXPECT_EQ(a.state, SelfState::kIsolated);  // until the VMs are gone
    a = s.assess(t(3.5), SelfInputs{.holds_vms = false});
    EXPECT_EQ(a.state, SelfState::kReleased);

    // In maintenance, nothing is stopped.
    EXPECT_FALSE(s.assess(t(3.5), SelfInputs{.maintenance = true, .holds_vms = true}).stop_all);
}

TEST(SelfStateTest, AlwaysStopStopsAtOnceButOnlyWhileItsSlotIsFresh) {
    auto p = three_hosts();
    p.isolation_response = IsolationResponse::kAlwaysStop;
    auto s = make(p);
    cut_off(s, t(0));
    s.on_slot_write(t(0), SlotWriteEvidence{.ok = true});
    EXPECT_EQ(s.assess(t(0), SelfInputs{.holds_vms = true}).stop_all,
              Reason::kIsolatedPolicyAlwaysStop);
    // Nobody can read a stale slot saying "released": it stops nothing and stays isolated.
    const auto a = s.assess(t(2.5), SelfInputs{.holds_vms = false});
    EXPECT_FALSE(a.stop_all);
    EXPECT_EQ(a.state, SelfState::kIsolated);
}

TEST(SelfStateTest, LocalStorageLossWithIoInFlightFencesOncePeersReportsCouldArrive) {
    auto s = make();
    quorate(s, t(0));
    s.on_storage(t(0),
                 StorageEvidence{
                     .domain = "shared", .health = StorageHealth::kStalled, .io_in_flight = true});
    s.on_own_message(t(4.9), 7);
    EXPECT_EQ(s.assess(t(4.9), SelfInputs{.trouble_is_local = true}).state, SelfState::kOk);
    auto a = s.assess(t(5), SelfInputs{.trouble_is_local = true});
    EXPECT_EQ(a.state, SelfState::kStorageLost);  // grace over; fence pending
    EXPECT_FALSE(a.reboot);
    EXPECT_TRUE(a.local_problem);
    EXPECT_EQ(a.alerts.at(0).reason, Reason::kStorageLostIoInFlight);
    s.on_own_message(t(5.5), 7);
    // A heartbeat for peers to see an outage, the membership timeout for their
    // reports to reach us: not before 7 s.
    EXPECT_FALSE(s.assess(t(6), SelfInputs{.trouble_is_local = true}).reboot);
    s.on_own_message(t(6.5), 7);
    a = s.assess(t(7), SelfInputs{.trouble_is_local = true});
    ASSERT_TRUE(a.reboot);
    EXPECT_EQ(a.reboot->reason, Reason::kStorageLostIoInFlight);
    EXPECT_EQ(a.state, SelfState::kFencing);
    EXPECT_FALSE(a.pet);
    EXPECT_TRUE(has_change(a, DecisionKind::kPetStopped));
    EXPECT_TRUE(s.fencing());
    // Storage back: too late, it never pets again.
    s.on_storage(t(8), StorageEvidence{.domain = "shared", .health = StorageHealth::kOk});
    s.on_own_message(t(8), 7);
    a = s.assess(t(8), SelfInputs{.trouble_is_local = true});
    EXPECT_EQ(a.state, SelfState::kFencing);
    EXPECT_FALSE(a.reboot);
    EXPECT_EQ(s.pet_rule(t(8)), std::pair(false, Reason::kSelfFencing));
}

TEST(SelfStateTest, AFencePendingIsDroppedWhenPeersTurnOutToShareTheOutage) {
    auto s = make();
    quorate(s, t(0));
    s.on_storage(t(0),
                 StorageEvidence{
                     .domain = "shared", .health = StorageHealth::kFailed, .io_in_flight = true});
    EXPECT_FALSE(s.assess(t(5), SelfInputs{.trouble_is_local = true}).reboot);
    // A peer reports trouble too: cluster-wide, for as long as this trouble lasts.
    auto a = s.assess(t(6), SelfInputs{.trouble_is_local = false, .trouble_is_shared = true});
    EXPECT_FALSE(a.reboot);
    EXPECT_FALSE(a.local_problem);
    EXPECT_EQ(a.alerts.at(1).kind, AlertKind::kGlobalStorageOutage);
    a = s.assess(t(9), SelfInputs{.trouble_is_local = true});
    EXPECT_FALSE(a.reboot);
    EXPECT_FALSE(a.local_problem);
}

TEST(SelfStateTest, NoReportAtAllLatchesNothing) {
    auto s = make();
    quorate(s, t(0));
    s.on_storage(t(0),
                 StorageEvidence{
                     .domain = "shared", .health = StorageHealth::kFailed, .io_in_flight = true});
    // No peer reported in this tick (a gap in messages): neither local nor shared.
    auto a = s.assess(t(5), SelfInputs{});
    EXPECT_FALSE(a.reboot);
    EXPECT_FALSE(a.local_problem);
    // The peers report again, storage fine: ours alone, so the fence goes ahead.
    a = s.assess(t(6), SelfInputs{.trouble_is_local = true});
    EXPECT_TRUE(a.local_problem);
    EXPECT_FALSE(s.assess(t(7), SelfInputs{.trouble_is_local = true}).reboot);
    a = s.assess(t(8), SelfInputs{.trouble_is_local = true});
    EXPECT_TRUE(a.reboot);
}

TEST(SelfStateTest, LocalStorageLossWithNothingInFlightStopsTheVmsInstead) {
    auto s = make();
    quorate(s, t(0));
    s.on_storage(t(0), StorageEvidence{.domain = "shared", .health = StorageHealth::kStalled});
    const auto a = s.assess(t(5), SelfInputs{.trouble_is_local = true, .holds_vms = true});
    EXPECT_EQ(a.stop_all, Reason::kStorageLostNothingInFlight);
    EXPECT_EQ(a.state, SelfState::kStorageLost);
    EXPECT_FALSE(a.reboot);
}

TEST(SelfStateTest, AFullVolumeOrAFailedSlotWriteIsNotTheSameTrouble) {
    auto s = make();
    s.on_storage(t(0), StorageEvidence{.domain = "vol", .health = StorageHealth::kNoSpace});
    EXPECT_FALSE(s.storage_trouble());
    EXPECT_FALSE(s.domain_writable("vol"));
    EXPECT_TRUE(s.domain_writable("other"));
    s.on_slot_write(t(1), SlotWriteEvidence{.ok = false});
    EXPECT_TRUE(s.storage_trouble());
    EXPECT_FALSE(s.domain_writable("other"));  // unknown domains follow the host's storage
}

}  // namespace
}  // namespace vigil::core
