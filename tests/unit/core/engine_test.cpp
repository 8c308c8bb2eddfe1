#include "daemon/core/engine.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace vigil::core {
namespace {

using namespace std::chrono_literals;

TimePoint t(double seconds) {
    return TimePoint{std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds))};
}

Policy cluster_policy(std::uint32_t hosts = 3) {
    Policy p;
    for (std::uint32_t i = 1; i <= hosts; ++i) p.hosts.push_back({HostId{i}, 4096});
    p.vms = {{.name = "db", .priority = 5, .memory_mib = 1024},
             {.name = "web", .priority = 10, .memory_mib = 1024},
             {.name = "dns", .priority = 10, .memory_mib = 512}};
    return p;
}

// Scripted peers: what a host would publish each second.
HostStatus peer_status(std::uint32_t id, std::uint64_t seq, std::vector<std::string> vms = {},
                       SelfState state = SelfState::kOk, bool storage_ok = true,
                       bool quorate = true) {
    HostStatus s{.host = HostId{id},
                 .incarnation = 1,
                 .sequence = seq,
                 .state = state,
                 .quorate = quorate,
                 .storage_ok = storage_ok};
    for (auto& v : vms) s.held.push_back({std::move(v), VmState::kRunning});
    return s;
}

std::vector<HostId> ids(std::initializer_list<std::uint32_t> l) {
    std::vector<HostId> out;
    for (auto i : l) out.push_back(HostId{i});
    return out;
}

std::vector<Decision> of_kind(const std::vector<Decision>& ds, DecisionKind k) {
    std::vector<Decision> out;
    std::ranges::copy_if(ds, std::back_inserter(out),
                         [&](const Decision& d) { return d.kind == k; });
    return out;
}

class EngineTest : public ::testing::Test {
  protected:
    HostEngine make(std::uint32_t self = 1, Policy p = cluster_policy(), TimePoint start = t(0)) {
        auto e = HostEngine::make(std::move(p), HostId{self}, 1, start);
        EXPECT_TRUE(e.has_value());
        e->observe(start, VmInventoryEvidence{});  // the hypervisor listed no VM here
        return std::move(*e);
    }

    // A healthy local host: quorate, storage fine, slot written and read.
    static void local_ok(HostEngine& e, TimePoint at, std::vector<HostStatus> slots = {}) {
        e.observe(at, StorageEvidence{.domain = "shared", .health = StorageHealth::kOk});
        e.observe(at, SlotWriteEvidence{.ok = true, .latency = 2ms});
        e.observe(at, SlotReadEvidence{.ok = true, .slots = std::move(slots)});
    }

    // Run a healthy 3-host cluster up to `until`, h3 holding web and db.
    std::vector<Decision> healthy_until(HostEngine& e, double until, std::uint64_t& seq) {
        std::vector<Decision> all;
        e.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
        for (double s = 0; s <= until; s += 1) {
            ++seq;
            const auto h2 = peer_status(2, seq, {"dns"});
            const auto h3 = peer_status(3, seq, {"db", "web"});
            e.observe(t(s), PeerMessageEvidence{h2});
            e.observe(t(s), PeerMessageEvidence{h3});
            local_ok(e, t(s), {h2, h3});
            auto r = e.tick(t(s));
            e.observe(t(s), PeerMessageEvidence{r.status});  // our own message comes back
            all.insert(all.end(), r.decisions.begin(), r.decisions.end());
        }
        return all;
    }
};

TEST_F(EngineTest, PetsWhileQuorateAndStopsSoonAfterLosingQuorumAndStorage) {
    auto e = make();
    std::uint64_t seq = 0;
    healthy_until(e, 5, seq);
    EXPECT_TRUE(e.tick(t(5.5)).pet_watchdog);
    // Cluster cut and storage gone at the same moment.
    e.observe(t(6), MembershipEvidence{.members = ids({1}), .quorate = false});
    e.observe(t(6), SlotWriteEvidence{.ok = false});
    EXPECT_TRUE(e.tick(t(6)).pet_watchdog);  // last slot write 1 s ago
    // The last good write was issued at 4.998 (2 ms latency): 2 s from then, not from its end.
    EXPECT_TRUE(e.tick(t(6.99)).pet_watchdog);
    const auto r = e.tick(t(7.0));
    EXPECT_FALSE(r.pet_watchdog);
    ASSERT_EQ(of_kind(r.decisions, DecisionKind::kPetStopped).size(), 1u);
    EXPECT_EQ(of_kind(r.decisions, DecisionKind::kPetStopped)[0].reason,
              Reason::kNoQuorumNoStorage);
}

TEST_F(EngineTest, AQuorumViewAloneDoesNotPetUntilOurOwnMessagesComeBack) {
    // A restarted daemon, cut off a moment ago: the membership still says quorate, but
    // nothing it sends reaches anyone, so its peers are counting its silence.
    auto e = make(3);
    e.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    e.observe(t(0), SlotWriteEvidence{.ok = false});
    for (double s = 0; s <= 3; s += 1) {
        EXPECT_FALSE(e.tick(t(s)).pet_watchdog) << s;
    }
    const auto r = e.tick(t(4));
    e.observe(t(4), PeerMessageEvidence{r.status});  // the ring works again
    EXPECT_TRUE(e.tick(t(5)).pet_watchdog);
    EXPECT_TRUE(e.tick(t(6)).pet_watchdog);
    EXPECT_FALSE(e.tick(t(6.5)).pet_watchdog);  // 2.5 s since it came back: not proof any more
}

TEST_F(EngineTest, IsolatedWithStorageKeepsPettingAndKeepsVms) {
    auto e = make(3);
    e.observe(t(0), VmEvidence{"web", VmState::kRunning});
    e.observe(t(0), LinkEvidence{NetRole::kVmUplink, LinkState::kUp});
    e.observe(t(0), MembershipEvidence{.members = ids({3}), .quorate = false});
    for (double s = 0; s <= 30; s += 1) {
        local_ok(e, t(s));
        const auto r = e.tick(t(s));
        EXPECT_TRUE(r.pet_watchdog);
        EXPECT_EQ(r.status.state, SelfState::kIsolated);
        EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kStopVm).empty());
        ASSERT_EQ(r.status.held.size(), 1u);
    }
}

TEST_F(EngineTest, IsolatedWithDeadUplinksStopsVmsThenSaysReleased) {
    auto e = make(3);
    e.observe(t(0), VmEvidence{"web", VmState::kRunning});
    e.observe(t(0), MembershipEvidence{.members = ids({3}), .quorate = false});
    e.observe(t(0), LinkEvidence{NetRole::kVmUplink, LinkState::kDown});
    local_ok(e, t(0));
    EXPECT_TRUE(
        of_kind(e.tick(t(0)).decisions, DecisionKind::kStopVm).empty());  // inside link grace
    local_ok(e, t(1));
    EXPECT_TRUE(of_kind(e.tick(t(1)).decisions, DecisionKind::kStopVm).empty());
    local_ok(e, t(2));
    auto r = e.tick(t(2));
    ASSERT_EQ(of_kind(r.decisions, DecisionKind::kStopVm).size(), 1u);
    EXPECT_EQ(of_kind(r.decisions, DecisionKind::kStopVm)[0].reason, Reason::kIsolatedUplinksDown);
    EXPECT_EQ(r.status.state, SelfState::kIsolated);  // not released until the VM is really gone
    EXPECT_FALSE(e.tick_wanted_at().has_value());
    e.observe(t(2.5), VmEvidence{"web", VmState::kShutOff});
    // The release goes out at once, not at the next heartbeat.
    EXPECT_EQ(e.tick_wanted_at(), std::optional{t(2.5)});
    r = e.tick(t(2.5));
    EXPECT_EQ(r.status.state, SelfState::kReleased);
    EXPECT_TRUE(r.status.held.empty());
    EXPECT_TRUE(r.pet_watchdog);
}

TEST_F(EngineTest, PeerIsDeadOnlyAfterTheFenceDelayThenPlannedByPriority) {
    auto e = make(1);
    std::uint64_t seq = 0;
    healthy_until(e, 10, seq);  // h3's last sign of life at t=10
    e.observe(t(11), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    std::optional<double> dead_at;
    std::vector<Decision> assigns;
    for (double s = 11; s <= 20; s += 0.5) {
        ++seq;
        const auto h2 = peer_status(2, seq, {"dns"});
        e.observe(t(s), PeerMessageEvidence{h2});
        // h3's slot no longer changes
        local_ok(e, t(s), {h2, peer_status(3, 11, {"db", "web"})});
        const auto r = e.tick(t(s));
        for (const auto& d : r.decisions) {
            if (d.kind == DecisionKind::kPeerClass && d.peer == HostId{3} &&
                d.peer_class == PeerClass::kDead) {
                dead_at = s;
                EXPECT_EQ(d.reason, Reason::kFenceDelayElapsed);
            }
            if (d.kind == DecisionKind::kAssignVm) assigns.push_back(d);
        }
        if (s < 17) {
            EXPECT_EQ(e.peer_class(HostId{3}), PeerClass::kSuspect) << s;  // never "isolated"
        }
    }
    ASSERT_TRUE(dead_at.has_value());
    EXPECT_DOUBLE_EQ(*dead_at, 17.0);
    ASSERT_EQ(assigns.size(), 2u);
    EXPECT_EQ(assigns[0].vm, "web");  // priority 10 before 5
    EXPECT_EQ(assigns[1].vm, "db");
    EXPECT_EQ(assigns[0].reason, Reason::kOwnerDead);
    // By free capacity: h1 has 4096, h2 3584 (dns): web to h1, then db to h2 (3584 > 3072).
    EXPECT_EQ(assigns[0].target, HostId{1});
    EXPECT_EQ(assigns[1].target, HostId{2});
}

TEST_F(EngineTest, WantsATickTheMomentASilentPeersFenceDelayRunsOut) {
    auto e = make(1);
    std::uint64_t seq = 0;
    healthy_until(e, 10, seq);  // h3's last message and slot write at t=10
    const auto h3_last = peer_status(3, seq, {"db", "web"});
    EXPECT_FALSE(e.tick_wanted_at().has_value());  // everyone heard: nothing to wait for
    e.observe(t(10.4), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    // Heartbeats every 0.6 s, off the fence delay's phase: each asks for the moment
    // h3's fence delay (7 s) runs out, counted from its last sign of life.
    for (double s = 10.6; s < 17; s += 0.6) {
        const auto h2 = peer_status(2, ++seq, {"dns"});
        e.observe(t(s), PeerMessageEvidence{h2});
        local_ok(e, t(s), {h2, h3_last});
        (void)e.tick(t(s));
        EXPECT_EQ(e.peer_class(HostId{3}), PeerClass::kSuspect) << s;
        EXPECT_EQ(e.tick_wanted_at(), std::optional{t(17)}) << s;
    }
    // A tick then calls it dead and plans its VMs; nothing more is waited for.
    const auto r = e.tick(t(17));
    EXPECT_EQ(e.peer_class(HostId{3}), PeerClass::kDead);
    EXPECT_EQ(of_kind(r.decisions, DecisionKind::kAssignVm).size(), 2u);
    EXPECT_FALSE(e.tick_wanted_at().has_value());
}

TEST_F(EngineTest, AHeardPeerIsNoLongerWaitedFor) {
    auto e = make(1);
    std::uint64_t seq = 0;
    healthy_until(e, 10, seq);
    const auto h3_last = peer_status(3, seq, {"db", "web"});
    e.observe(t(10.4), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    ++seq;
    local_ok(e, t(11), {peer_status(2, seq, {"dns"}), h3_last});
    (void)e.tick(t(11));
    ASSERT_TRUE(e.tick_wanted_at().has_value());
    e.observe(t(11.5), PeerMessageEvidence{peer_status(3, seq, {"db", "web"})});
    EXPECT_FALSE(e.tick_wanted_at().has_value());
}

TEST_F(EngineTest, WantsATickAtOnceWhenTheCoordinatorAssignsItAVm) {
    // As OnlyTheCoordinatorPlansAndOthersStartOnlyWhatItAssigns: h3 (web, db) has been
    // dead since t=7 in h2's view, h1 coordinates.
    auto h2 = make(2);
    h2.observe(t(0), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    for (double s = 0; s <= 10; s += 1) {
        const auto h1 = peer_status(1, static_cast<std::uint64_t>(s) + 1);
        h2.observe(t(s), PeerMessageEvidence{h1});
        local_ok(h2, t(s), {h1, peer_status(3, 1, {"db", "web"})});
        (void)h2.tick(t(s));
    }
    ASSERT_EQ(h2.peer_class(HostId{3}), PeerClass::kDead);
    EXPECT_FALSE(h2.tick_wanted_at().has_value());
    auto h1 = peer_status(1, 12);
    h1.assignments = {{"web", HostId{2}, h2.incarnation(), h2.snapshot().sequence},
                      {"db", HostId{1}}};
    h2.observe(t(10.5), PeerMessageEvidence{h1});
    EXPECT_EQ(h2.tick_wanted_at(), std::optional{t(10.5)});
    const auto r = h2.tick(t(10.6));
    ASSERT_EQ(of_kind(r.decisions, DecisionKind::kStartVm).size(), 1u);
    EXPECT_FALSE(h2.tick_wanted_at().has_value());
    // The same plan again is no news: the regular heartbeats carry on.
    h1.sequence = 13;
    h2.observe(t(11), PeerMessageEvidence{h1});
    EXPECT_FALSE(h2.tick_wanted_at().has_value());
}

TEST_F(EngineTest, AnIsolatedPeerWithStorageIsNeverRecovered) {
    auto e = make(1);
    std::uint64_t seq = 0;
    healthy_until(e, 5, seq);
    e.observe(t(6), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    for (double s = 6; s <= 60; s += 1) {
        ++seq;
        const auto h2 = peer_status(2, seq, {"dns"});
        e.observe(t(s), PeerMessageEvidence{h2});
        local_ok(e, t(s),
                 {h2, peer_status(3, seq, {"db", "web"}, SelfState::kIsolated, true, false)});
        const auto r = e.tick(t(s));
        EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kAssignVm).empty()) << s;
        EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kStartVm).empty()) << s;
    }
    EXPECT_EQ(e.peer_class(HostId{3}), PeerClass::kIsolated);
}

TEST_F(EngineTest, AReleasedPeerIsRecoveredWithoutWaitingForTheFenceDelay) {
    auto e = make(1);
    std::uint64_t seq = 0;
    healthy_until(e, 5, seq);
    e.observe(t(6), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    ++seq;
    const auto h2 = peer_status(2, seq, {"dns"});
    e.observe(t(6), PeerMessageEvidence{h2});
    local_ok(e, t(6), {h2, peer_status(3, seq, {}, SelfState::kReleased, true, false)});
    const auto r = e.tick(t(6));
    EXPECT_EQ(e.peer_class(HostId{3}), PeerClass::kReleased);
    const auto assigns = of_kind(r.decisions, DecisionKind::kAssignVm);
    ASSERT_EQ(assigns.size(), 2u);
    EXPECT_EQ(assigns[0].reason, Reason::kOwnerReleased);
    // The plan travels in our status; we start what is assigned to us.
    EXPECT_EQ(r.status.assignments.size(), 2u);
    EXPECT_EQ(of_kind(r.decisions, DecisionKind::kStartVm).size(), 1u);
}

TEST_F(EngineTest, NeverDeclaresDeadWhileItCannotReadTheSlots) {
    auto e = make(1);
    std::uint64_t seq = 0;
    healthy_until(e, 5, seq);
    e.observe(t(6), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    for (double s = 6; s <= 40; s += 1) {
        ++seq;
        const auto h2 = peer_status(2, seq, {}, SelfState::kOk, false);
        e.observe(t(s), PeerMessageEvidence{h2});
        e.observe(t(s), SlotReadEvidence{.ok = false});
        const auto r = e.tick(t(s));
        e.observe(t(s), PeerMessageEvidence{r.status});
        EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kAssignVm).empty());
        EXPECT_TRUE(r.pet_watchdog);  // quorate: a storage outage alone never fences
    }
    EXPECT_EQ(e.peer_class(HostId{3}), PeerClass::kSuspect);
    // Reads come back: the silence is counted from then, not from t=5.
    for (double s = 41; s <= 48; s += 1) {
        ++seq;
        const auto h2 = peer_status(2, seq);
        e.observe(t(s), PeerMessageEvidence{h2});
        local_ok(e, t(s), {h2, peer_status(3, 6, {"db", "web"})});  // as last read at t=5
        (void)e.tick(t(s));
        if (s < 48) {
            EXPECT_EQ(e.peer_class(HostId{3}), PeerClass::kSuspect) << s;
        }
    }
    EXPECT_EQ(e.peer_class(HostId{3}), PeerClass::kDead);
}

TEST_F(EngineTest, LocalStorageLossWithIoInFlightRebootsAndNeverPetsAgain) {
    auto e = make(3);
    e.observe(t(0), VmEvidence{"web", VmState::kRunning});
    e.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    std::optional<double> reboot_at;
    for (double s = 0; s <= 20; s += 1) {
        e.observe(t(s), PeerMessageEvidence{peer_status(1, static_cast<std::uint64_t>(s) + 1)});
        e.observe(t(s), PeerMessageEvidence{peer_status(2, static_cast<std::uint64_t>(s) + 1)});
        // Lost from 10 s to 18 s; storage returning does not undo the decision.
        if (s >= 10 && s < 18) {
            e.observe(t(s), StorageEvidence{.domain = "shared",
                                            .health = StorageHealth::kFailed,
                                            .io_in_flight = true});
            e.observe(t(s), SlotWriteEvidence{.ok = false});
            e.observe(t(s), SlotReadEvidence{.ok = false});
        } else {
            local_ok(e, t(s));
        }
        const auto r = e.tick(t(s));
        if (!of_kind(r.decisions, DecisionKind::kSelfFenceReboot).empty()) reboot_at = s;
        if (reboot_at) {
            EXPECT_FALSE(r.pet_watchdog) << s;
        }
        EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kResumeVm).empty());
    }
    ASSERT_TRUE(reboot_at.has_value());
    // Storage grace 5 s, then a heartbeat for peers to see it and the membership
    // timeout for their reports to arrive.
    EXPECT_DOUBLE_EQ(*reboot_at, 17.0);
}

TEST_F(EngineTest, LocalStorageLossWithNothingInFlightStopsTheVmsInstead) {
    auto e = make(3);
    e.observe(t(0), VmEvidence{"web", VmState::kRunning});
    e.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    std::vector<Decision> all;
    for (double s = 0; s <= 16; s += 1) {
        e.observe(t(s), PeerMessageEvidence{peer_status(1, static_cast<std::uint64_t>(s) + 1)});
        e.observe(t(s), PeerMessageEvidence{peer_status(2, static_cast<std::uint64_t>(s) + 1)});
        if (s < 10) {
            local_ok(e, t(s));
        } else {
            e.observe(t(s), StorageEvidence{.domain = "shared", .health = StorageHealth::kFailed});
            e.observe(t(s), SlotWriteEvidence{.ok = false});
            e.observe(t(s), VmEvidence{"web", VmState::kPausedIoError});
        }
        auto r = e.tick(t(s));
        e.observe(t(s), PeerMessageEvidence{r.status});
        if (s > 0) {
            EXPECT_TRUE(r.pet_watchdog) << s;  // from the tick after our first status came back
        }
        all.insert(all.end(), r.decisions.begin(), r.decisions.end());
    }
    EXPECT_TRUE(of_kind(all, DecisionKind::kSelfFenceReboot).empty());
    const auto stops = of_kind(all, DecisionKind::kStopVm);
    ASSERT_EQ(stops.size(), 1u);
    EXPECT_EQ(stops[0].reason, Reason::kStorageLostNothingInFlight);
}

TEST_F(EngineTest, StorageLostEverywhereNeitherFencesNorStopsAndResumesAtOnce) {
    auto e = make(3);
    e.observe(t(0), VmEvidence{"web", VmState::kRunning});
    e.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    std::vector<Decision> all;
    std::optional<double> resumed_at;
    for (double s = 0; s <= 40; s += 1) {
        const bool down = s >= 10 && s < 30;
        const auto seq = static_cast<std::uint64_t>(s) + 1;
        e.observe(t(s), PeerMessageEvidence{peer_status(
                            1, seq, {}, down ? SelfState::kStorageLost : SelfState::kOk, !down)});
        e.observe(t(s), PeerMessageEvidence{peer_status(
                            2, seq, {}, down ? SelfState::kStorageLost : SelfState::kOk, !down)});
        if (down) {
            e.observe(t(s), StorageEvidence{.domain = "shared",
                                            .health = StorageHealth::kFailed,
                                            .io_in_flight = true});
            e.observe(t(s), SlotWriteEvidence{.ok = false});
            e.observe(t(s), VmEvidence{"web", VmState::kPausedIoError});
        } else {
            // Domain back first; the slot write of this tick has not happened yet.
            e.observe(t(s), StorageEvidence{.domain = "shared", .health = StorageHealth::kOk});
        }
        auto r = e.tick(t(s));
        e.observe(t(s), PeerMessageEvidence{r.status});
        if (s > 0) {
            EXPECT_TRUE(r.pet_watchdog) << s;
        }
        if (!of_kind(r.decisions, DecisionKind::kResumeVm).empty()) resumed_at = s;
        all.insert(all.end(), r.decisions.begin(), r.decisions.end());
        if (!down) e.observe(t(s), SlotWriteEvidence{.ok = true});
        if (resumed_at && *resumed_at == s)
            e.observe(t(s + 0.1), VmEvidence{"web", VmState::kRunning});
    }
    EXPECT_TRUE(of_kind(all, DecisionKind::kSelfFenceReboot).empty());
    EXPECT_TRUE(of_kind(all, DecisionKind::kStopVm).empty());
    ASSERT_TRUE(resumed_at.has_value());
    EXPECT_DOUBLE_EQ(*resumed_at, 30.0);
    const auto alerts = of_kind(all, DecisionKind::kAlert);
    EXPECT_TRUE(std::ranges::any_of(
        alerts, [](const Decision& d) { return d.alert == AlertKind::kGlobalStorageOutage; }));
}

TEST_F(EngineTest, StormGuardHoldsRecoveryWhenMostPeersLookDeadAtOnce) {
    Policy p = cluster_policy(5);
    auto e = make(1, p);
    const auto all = ids({1, 2, 3, 4, 5});
    e.observe(t(0), MembershipEvidence{.members = all, .quorate = true});
    for (double s = 0; s <= 30; s += 1) {
        const auto seq =
            static_cast<std::uint64_t>(std::min(s, 5.0)) + 1;  // everyone silent after t=5
        std::vector<HostStatus> slots;
        for (std::uint32_t id = 2; id <= 5; ++id) {
            const char* vm = id == 5 ? "web" : id == 4 ? "db" : id == 3 ? "dns" : nullptr;
            slots.push_back(peer_status(
                id, seq, vm ? std::vector<std::string>{vm} : std::vector<std::string>{}));
            if (s <= 5) e.observe(t(s), PeerMessageEvidence{slots.back()});
        }
        local_ok(e, t(s), slots);
        const auto r = e.tick(t(s));
        EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kAssignVm).empty()) << s;
    }
    for (std::uint32_t id = 2; id <= 5; ++id)
        EXPECT_EQ(e.peer_class(HostId{id}), PeerClass::kSuspect);
}

TEST_F(EngineTest, ARestartedEngineWaitsTheFullFenceDelayFromItsStart) {
    auto e = make(1, cluster_policy(), t(100));
    e.observe(t(100), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    std::optional<double> dead_at;
    for (double s = 100; s <= 110; s += 1) {
        const auto h2 = peer_status(2, static_cast<std::uint64_t>(s));
        e.observe(t(s), PeerMessageEvidence{h2});
        local_ok(e, t(s), {h2, peer_status(3, 3, {"web"})});  // h3's slot long stale
        const auto r = e.tick(t(s));
        for (const auto& d : of_kind(r.decisions, DecisionKind::kPeerClass)) {
            if (d.peer == HostId{3} && d.peer_class == PeerClass::kDead && !dead_at) dead_at = s;
        }
    }
    ASSERT_TRUE(dead_at.has_value());
    EXPECT_DOUBLE_EQ(*dead_at, 107.0);
}

TEST_F(EngineTest, OnlyTheCoordinatorPlansAndOthersStartOnlyWhatItAssigns) {
    auto h2 = make(2);
    h2.observe(t(0), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    for (double s = 0; s <= 12; s += 1) {
        const auto seq = static_cast<std::uint64_t>(s) + 1;
        auto h1 = peer_status(1, seq);
        // Stamped with h2's newest status, as a coordinator that read it would.
        if (s >= 10)
            h1.assignments = {{"web", HostId{2}, h2.incarnation(), h2.snapshot().sequence},
                              {"db", HostId{1}}};
        h2.observe(t(s), PeerMessageEvidence{h1});
        local_ok(h2, t(s), {h1, peer_status(3, 1, {"db", "web"})});
        const auto r = h2.tick(t(s));
        EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kAssignVm).empty());
        const auto starts = of_kind(r.decisions, DecisionKind::kStartVm);
        if (s < 10) {
            EXPECT_TRUE(starts.empty()) << s;
        } else if (s == 10) {
            ASSERT_EQ(starts.size(), 1u);
            EXPECT_EQ(starts[0].vm, "web");
            EXPECT_EQ(r.status.held.size(), 1u);  // claimed in the same tick's status
        } else {
            EXPECT_TRUE(starts.empty());  // no second start while it is starting
        }
    }
}

TEST_F(EngineTest, APlanMadeBeforeOurLastRefusalIsNotActedOn) {
    // h2 said it takes no assignment (maintenance) at its sequence 3; a plan stamped
    // with an older status of h2 may since have moved web elsewhere.
    auto h2 = make(2);
    h2.observe(t(0), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    std::uint64_t refused_at = 0;
    for (double s = 0; s <= 8; s += 1) {
        const auto seq = static_cast<std::uint64_t>(s) + 1;
        if (s == 2) h2.observe(t(s), AdminEvidence{AdminCommand::kMaintenanceOn});
        if (s == 3) h2.observe(t(s), AdminEvidence{AdminCommand::kMaintenanceOff});
        auto h1 = peer_status(1, seq);
        // From 4 s the plan is stamped with h2's status of 2 s, before it refused.
        if (s >= 4) h1.assignments = {{"web", HostId{2}, h2.incarnation(), 2}};
        // From 7 s with h2's newest, after it refused: acted on.
        if (s >= 7) h1.assignments = {{"web", HostId{2}, h2.incarnation(), h2.snapshot().sequence}};
        h2.observe(t(s), PeerMessageEvidence{h1});
        local_ok(h2, t(s), {h1, peer_status(3, 1, {"web"})});
        const auto r = h2.tick(t(s));
        if (r.status.maintenance) refused_at = r.status.sequence;
        const auto starts = of_kind(r.decisions, DecisionKind::kStartVm);
        EXPECT_EQ(starts.size(), s == 7 ? 1u : 0u) << s;
    }
    EXPECT_GT(refused_at, 2u);
}

TEST_F(EngineTest, AssignedButOwnerStillAliveInOurViewIsNotStarted) {
    auto h2 = make(2);
    h2.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    for (double s = 0; s <= 5; s += 1) {
        const auto seq = static_cast<std::uint64_t>(s) + 1;
        auto h1 = peer_status(1, seq);
        // a wrong plan
        h1.assignments = {{"web", HostId{2}, h2.incarnation(), h2.snapshot().sequence}};
        const auto h3 = peer_status(3, seq, {"web"});
        h2.observe(t(s), PeerMessageEvidence{h1});
        h2.observe(t(s), PeerMessageEvidence{h3});
        local_ok(h2, t(s), {h1, h3});
        EXPECT_TRUE(of_kind(h2.tick(t(s)).decisions, DecisionKind::kStartVm).empty());
    }
}

TEST_F(EngineTest, OutsideTheQuoratePartitionNobodyIsDead) {
    auto e = make(1);
    e.observe(t(0), MembershipEvidence{.members = ids({1}), .quorate = false});
    for (double s = 0; s <= 30; s += 1) {
        // h3's slot never moves (its path is stalled) but it may be quorate elsewhere.
        local_ok(e, t(s),
                 {peer_status(2, static_cast<std::uint64_t>(s) + 1, {}, SelfState::kOk, true, true),
                  peer_status(3, 4, {"web"})});
        const auto r = e.tick(t(s));
        EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kAssignVm).empty());
    }
    EXPECT_EQ(e.peer_class(HostId{3}), PeerClass::kSuspect);
}

TEST_F(EngineTest, SilenceIsCountedFromRegainingQuorum) {
    auto e = make(2);
    e.observe(t(0), MembershipEvidence{.members = ids({2}), .quorate = false});
    for (double s = 0; s <= 30; s += 1) {
        local_ok(e, t(s),
                 {peer_status(1, 3, {"web"}), peer_status(3, static_cast<std::uint64_t>(s) + 1)});
        (void)e.tick(t(s));
    }
    e.observe(t(30.5), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    std::optional<double> dead_at;
    for (double s = 31; s <= 40; s += 1) {
        e.observe(t(s), PeerMessageEvidence{peer_status(3, static_cast<std::uint64_t>(s) + 1)});
        local_ok(e, t(s),
                 {peer_status(1, 3, {"web"}), peer_status(3, static_cast<std::uint64_t>(s) + 1)});
        (void)e.tick(t(s));
        if (!dead_at && e.peer_class(HostId{1}) == PeerClass::kDead) dead_at = s;
    }
    ASSERT_TRUE(dead_at.has_value());
    EXPECT_DOUBLE_EQ(*dead_at, 38.0);  // 30.5 + 7, at the next tick
}

TEST_F(EngineTest, InFlightIoMustPersistAHeartbeatBeforeItFences) {
    auto e = make(3);
    e.observe(t(0), VmEvidence{"web", VmState::kRunning});
    e.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    for (double s = 0; s <= 12; s += 1) {
        // Local loss from t=5; in flight only from t=11, when peers also lose storage.
        const bool outage = s >= 11;
        const auto seq = static_cast<std::uint64_t>(s) + 1;
        e.observe(t(s), PeerMessageEvidence{peer_status(1, seq, {}, SelfState::kOk, s < 11.5)});
        e.observe(t(s), PeerMessageEvidence{peer_status(2, seq, {}, SelfState::kOk, s < 11.5)});
        if (s < 5) {
            local_ok(e, t(s));
        } else {
            e.observe(t(s), StorageEvidence{.domain = "shared",
                                            .health = StorageHealth::kFailed,
                                            .io_in_flight = outage});
            e.observe(t(s), SlotWriteEvidence{.ok = false});
        }
        const auto r = e.tick(t(s));
        EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kSelfFenceReboot).empty()) << s;
    }
}

TEST_F(EngineTest, AMemberStillWritingItsSlotStaysAliveThroughLostMessages) {
    auto e = make(1);
    std::uint64_t seq = 0;
    healthy_until(e, 5, seq);
    for (double s = 6; s <= 9; s += 1) {
        ++seq;  // h3's messages are lost, its slot keeps moving, membership unchanged
        const auto h2 = peer_status(2, seq, {"dns"});
        e.observe(t(s), PeerMessageEvidence{h2});
        local_ok(e, t(s), {h2, peer_status(3, seq, {"db", "web"})});
        (void)e.tick(t(s));
        EXPECT_EQ(e.peer_class(HostId{3}), PeerClass::kAlive) << s;
    }
}

TEST_F(EngineTest, DecisionsCarryTheirEvidenceInOneStableLine) {
    Decision d{.kind = DecisionKind::kPeerClass,
               .reason = Reason::kFenceDelayElapsed,
               .peer = HostId{3},
               .peer_class = PeerClass::kDead};
    d.evidence = {{"silent_for", "7.000"}};
    EXPECT_EQ(to_string(d),
              "peer-class peer=h3 class=dead reason=fence-delay-elapsed silent_for=7.000");
}

TEST_F(EngineTest, RefusesAHostThatIsNotConfigured) {
    const auto e = HostEngine::make(cluster_policy(), HostId{9}, 1, t(0));
    ASSERT_FALSE(e.has_value());
    EXPECT_NE(e.error().message.find("h9"), std::string::npos);
}

}  // namespace
}  // namespace vigil::core

// --- what the engine learns from the hypervisor and from its own actions ---

namespace vigil::core {
namespace {

class EngineFeedbackTest : public EngineTest {
  protected:
    // h2 follows coordinator h1, which assigns web to h2 from t=10; h3's slot never
    // moves (dead from the start's fence delay). Returns the decisions of tick `s`.
    TickResult follower_tick(HostEngine& h2, double s) {
        const auto seq = static_cast<std::uint64_t>(s * 2) + 1;
        auto h1 = peer_status(1, seq);
        if (s >= 10)
            h1.assignments = {{"web", HostId{2}, h2.incarnation(), h2.snapshot().sequence}};
        h2.observe(t(s), PeerMessageEvidence{h1});
        local_ok(h2, t(s), {h1, peer_status(3, 1, {"db", "web"})});
        return h2.tick(t(s));
    }
};

TEST_F(EngineTest, PublishesAndDecidesNothingBeforeTheHypervisorHasListedItsVms) {
    auto e = HostEngine::make(cluster_policy(), HostId{1}, 1, t(0));
    ASSERT_TRUE(e.has_value());
    e->observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    local_ok(*e, t(0));
    const auto before = e->tick(t(1));
    EXPECT_FALSE(before.publish);
    EXPECT_FALSE(before.pet_watchdog);
    EXPECT_EQ(before.pet_reason, Reason::kNoVmListingYet);
    EXPECT_TRUE(before.decisions.empty());
    EXPECT_EQ(e->should_pet(t(1)), (PetVerdict{false, Reason::kNoVmListingYet}));
    e->observe(t(1.5), VmInventoryEvidence{.vms = {{.vm = "web", .state = VmState::kRunning}}});
    const auto after = e->tick(t(2));
    EXPECT_TRUE(after.publish);
    ASSERT_EQ(after.status.held.size(), 1u);
    EXPECT_EQ(after.status.held[0].name, "web");
    EXPECT_EQ(after.status.sequence, 1u);  // the first status it ever published
}

TEST_F(EngineTest, ShouldPetSaysWhyNot) {
    auto e = make();
    std::uint64_t seq = 0;
    healthy_until(e, 3, seq);
    EXPECT_EQ(e.should_pet(t(3)), (PetVerdict{true, Reason::kQuorate}));
    e.observe(t(4), MembershipEvidence{.members = ids({1}), .quorate = false});
    e.observe(t(4), SlotWriteEvidence{.ok = false});
    EXPECT_EQ(e.should_pet(t(6)), (PetVerdict{false, Reason::kNoQuorumNoStorage}));
    const auto r = e.tick(t(6));
    EXPECT_FALSE(r.pet_watchdog);
    EXPECT_EQ(r.pet_reason, Reason::kNoQuorumNoStorage);
}

TEST_F(EngineFeedbackTest, AFailedStartIsDeclinedForTheHoldThenTriedAgain) {
    auto h2 = make(2);
    h2.observe(t(0), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    std::vector<double> starts;
    std::size_t alerts = 0;
    for (double s = 0; s <= 45; s += 0.5) {
        if (s == 10.5) {
            h2.observe(t(s), ActionEvidence{.vm = "web",
                                            .action = VmAction::kStart,
                                            .outcome = ActionOutcome::kFailed,
                                            .detail = "qemu exited"});
        }
        const auto r = follower_tick(h2, s);
        if (!of_kind(r.decisions, DecisionKind::kStartVm).empty()) starts.push_back(s);
        for (const auto& d : of_kind(r.decisions, DecisionKind::kAlert)) {
            if (d.alert == AlertKind::kVmStartFailed) {
                ++alerts;
                EXPECT_EQ(d.reason, Reason::kStartFailed);
                EXPECT_EQ(d.vm, "web");
            }
        }
        if (s >= 10.5 && s < 40.5) {
            // Nothing "starting" is left behind, and the coordinator is told why.
            EXPECT_TRUE(r.status.held.empty()) << s;
            EXPECT_EQ(r.status.declined, std::vector<std::string>{"web"}) << s;
        }
    }
    EXPECT_EQ(alerts, 1u);  // raised once, while it lasts
    // Once at 10 s, again once the hold (30 s from the failure) is over: its 40.5 s
    // status no longer declines web, and the plan stamped with it comes at 41 s (a
    // plan made before that may have placed web elsewhere).
    EXPECT_EQ(starts, (std::vector<double>{10, 41}));
}

TEST_F(EngineFeedbackTest, AStartRefusedByTheLockSaysSo) {
    auto h2 = make(2);
    h2.observe(t(0), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    for (double s = 0; s <= 10; s += 0.5) (void)follower_tick(h2, s);
    h2.observe(t(10.2), ActionEvidence{.vm = "web",
                                       .action = VmAction::kStart,
                                       .outcome = ActionOutcome::kLockedElsewhere});
    const auto r = follower_tick(h2, 10.5);
    const auto alerts = of_kind(r.decisions, DecisionKind::kAlert);
    ASSERT_EQ(alerts.size(), 1u);
    EXPECT_EQ(alerts[0].reason, Reason::kLockedElsewhere);
    EXPECT_EQ(r.status.declined, std::vector<std::string>{"web"});
}

TEST_F(EngineFeedbackTest, ATimedOutStartStaysHeldUntilAListingSettlesIt) {
    for (const bool came_up : {false, true}) {
        auto h2 = make(2);
        h2.observe(t(0), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
        for (double s = 0; s <= 10; s += 0.5) (void)follower_tick(h2, s);
        h2.observe(t(10.2), ActionEvidence{.vm = "web",
                                           .action = VmAction::kStart,
                                           .outcome = ActionOutcome::kTimedOut});
        // An old "shut off" event does not settle it either: the call may still finish.
        h2.observe(t(10.3), VmEvidence{.vm = "web", .state = VmState::kShutOff});
        for (double s = 10.5; s <= 12; s += 0.5) {
            const auto r = follower_tick(h2, s);
            ASSERT_EQ(r.status.held.size(), 1u) << s;  // may be running: still ours
            EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kStartVm).empty()) << s;
        }
        VmInventoryEvidence listing;
        if (came_up) listing.vms.push_back({.vm = "web", .state = VmState::kRunning});
        h2.observe(t(12.2), listing);
        const auto r = follower_tick(h2, 12.5);
        if (came_up) {
            ASSERT_EQ(r.status.held.size(), 1u);
            EXPECT_EQ(r.status.held[0].state, VmState::kRunning);
            EXPECT_TRUE(r.status.declined.empty());
        } else {
            EXPECT_TRUE(r.status.held.empty());
            EXPECT_EQ(r.status.declined, std::vector<std::string>{"web"});
        }
    }
}

TEST_F(EngineTest, TheCoordinatorPlacesADeclinedVmElsewhere) {
    auto e = make(1);
    std::uint64_t seq = 0;
    healthy_until(e, 10, seq);  // h3's last sign of life at t=10
    e.observe(t(11), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    std::vector<Decision> assigns;
    for (double s = 11; s <= 22; s += 0.5) {
        ++seq;
        auto h2 = peer_status(2, seq, {"dns"});
        // h2 got db at 17 s and could not start it.
        if (s >= 18) h2.declined = {"db"};
        e.observe(t(s), PeerMessageEvidence{h2});
        local_ok(e, t(s), {h2, peer_status(3, 11, {"db", "web"})});
        const auto r = e.tick(t(s));
        for (const auto& d : of_kind(r.decisions, DecisionKind::kAssignVm)) assigns.push_back(d);
    }
    ASSERT_EQ(assigns.size(), 3u);
    EXPECT_EQ(assigns[1].vm, "db");
    EXPECT_EQ(assigns[1].target, HostId{2});
    EXPECT_EQ(assigns[2].vm, "db");
    EXPECT_EQ(assigns[2].target, HostId{1});  // placed again, away from the decliner
    EXPECT_EQ(assigns[2].evidence.back(), (Fact{"declined_by", "h2"}));
}

TEST_F(EngineTest, PolicyComesFromTheHypervisorAndMayChangeWhileRunning) {
    auto e = make(1);
    std::uint64_t seq = 0;
    healthy_until(e, 2, seq);
    // The hypervisor reports HA VMs only: one it reports before its metadata has
    // reached us is ours already (left out, a peer could start a second one).
    e.observe(t(3), VmEvidence{.vm = "cache", .state = VmState::kRunning});
    EXPECT_EQ(e.tick(t(3)).status.held.size(), 1u);
    auto vms = cluster_policy().vms;
    vms.push_back({.name = "cache", .priority = 1, .memory_mib = 256});
    e.observe(t(4), VmPolicyEvidence{.vms = vms});
    e.observe(t(4), VmEvidence{.vm = "cache", .state = VmState::kRunning});
    auto r = e.tick(t(4));
    ASSERT_EQ(r.status.held.size(), 1u);
    EXPECT_EQ(r.status.held[0].name, "cache");
    // Its metadata removed while qemu still runs here: still held, or a peer could
    // start a second one.
    vms.pop_back();
    e.observe(t(5), VmPolicyEvidence{.vms = vms});
    r = e.tick(t(5));
    ASSERT_EQ(r.status.held.size(), 1u);
    e.observe(t(6), VmEvidence{.vm = "cache", .state = VmState::kShutOff});
    EXPECT_TRUE(e.tick(t(6)).status.held.empty());
    // Bad entries are dropped, the rest kept.
    e.observe(t(7), VmPolicyEvidence{.vms = {{.name = "", .memory_mib = 1},
                                             {.name = "zero", .memory_mib = 0},
                                             {.name = "web", .priority = 10, .memory_mib = 1024}}});
    ASSERT_NE(e.policy().vm("web"), nullptr);
    EXPECT_EQ(e.policy().vm("db"), nullptr);
    EXPECT_EQ(e.policy().vm("zero"), nullptr);
    EXPECT_EQ(e.policy().vms.size(), 1u);
}

TEST_F(EngineTest, AVmWhoseStorageStillHasWritesInFlightIsNeverDestroyedNorReleased) {
    auto e = make(3);
    e.observe(t(0), VmEvidence{"web", VmState::kPausedIoError});
    e.observe(t(0), MembershipEvidence{.members = ids({3}), .quorate = false});
    e.observe(t(0), LinkEvidence{NetRole::kVmUplink, LinkState::kDown});
    local_ok(e, t(0));
    // web's domain stalls with requests queued: destroying qemu would not take them back.
    e.observe(t(0.5),
              StorageEvidence{
                  .domain = "shared", .health = StorageHealth::kStalled, .io_in_flight = true});
    for (double s = 1; s <= 4; s += 1) {
        e.observe(t(s), SlotWriteEvidence{.ok = true, .latency = 2ms});
        const auto r = e.tick(t(s));
        EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kStopVm).empty()) << s;
        EXPECT_NE(r.status.state, SelfState::kReleased) << s;
        ASSERT_EQ(r.status.held.size(), 1u) << s;  // still ours: nobody may start it
    }
    // The path is back and nothing is queued any more: now it may go.
    e.observe(t(4.5), StorageEvidence{.domain = "shared", .health = StorageHealth::kOk});
    local_ok(e, t(5));
    EXPECT_EQ(of_kind(e.tick(t(5)).decisions, DecisionKind::kStopVm).size(), 1u);
}

TEST_F(EngineTest, AListingBeforeThePolicyKeepsEveryVmItLists) {
    Policy p = cluster_policy();
    p.vms.clear();  // as in the daemon: the policies come from the hypervisor
    auto e = HostEngine::make(p, HostId{1}, 1, t(0));
    ASSERT_TRUE(e.has_value());
    e->observe(t(0), VmInventoryEvidence{.vms = {{.vm = "web", .state = VmState::kRunning}}});
    e->observe(t(0), VmPolicyEvidence{.vms = cluster_policy().vms});
    const auto r = e->tick(t(1));
    ASSERT_EQ(r.status.held.size(), 1u);
    EXPECT_EQ(r.status.held[0].name, "web");
}

TEST_F(EngineTest, AStopDoneWhileItsStorageHasWritesInFlightKeepsTheVmOurs) {
    auto e = make(3);
    e.observe(t(0), VmEvidence{"web", VmState::kRunning});
    local_ok(e, t(0));
    (void)e.tick(t(0));
    // The stop was asked while storage was fine; during its grace the domain stalls
    // with writes queued, and then qemu is gone.
    e.observe(t(1),
              StorageEvidence{
                  .domain = "shared", .health = StorageHealth::kStalled, .io_in_flight = true});
    e.observe(t(2), ActionEvidence{.vm = "web", .action = VmAction::kStop});
    auto r = e.tick(t(2));
    ASSERT_EQ(r.status.held.size(), 1u);  // its writes may still land: nobody may start it
    EXPECT_NE(r.status.state, SelfState::kReleased);
    e.observe(t(3), StorageEvidence{.domain = "shared", .health = StorageHealth::kOk});
    local_ok(e, t(3));
    r = e.tick(t(3));
    EXPECT_TRUE(r.status.held.empty());  // the path is back: nothing is queued any more
}

TEST_F(EngineTest, AStopDoneBeforeTheStorageReadingOfItsPauseKeepsTheVmOurs) {
    auto e = make(3);
    e.observe(t(0), VmEvidence{"web", VmState::kRunning});
    local_ok(e, t(0));
    (void)e.tick(t(0));
    // The path fails with writes queued: qemu pauses and the stop destroys it before
    // the storage watcher's reading of the failure comes in (x23).
    e.observe(t(1), VmEvidence{"web", VmState::kPausedIoError});
    e.observe(t(1), VmEvidence{"web", VmState::kShutOff});
    e.observe(t(1), ActionEvidence{.vm = "web", .action = VmAction::kStop});
    auto r = e.tick(t(1));
    ASSERT_EQ(r.status.held.size(), 1u);  // not known yet whether its writes are queued
    e.observe(t(1.2),
              StorageEvidence{
                  .domain = "shared", .health = StorageHealth::kFailed, .io_in_flight = true});
    for (double s = 2; s <= 10; s += 1) {
        e.observe(t(s), SlotWriteEvidence{.ok = true, .latency = 2ms});
        r = e.tick(t(s));
        ASSERT_EQ(r.status.held.size(), 1u) << s;  // they are: it stays ours
    }
    e.observe(t(10.5), StorageEvidence{.domain = "shared", .health = StorageHealth::kOk});
    local_ok(e, t(11));
    EXPECT_TRUE(e.tick(t(11)).status.held.empty());
}

TEST_F(EngineTest, AnUnexplainedPauseHoldsAGoneVmUntilAReadingOrTheGrace) {
    auto e = make(3);
    e.observe(t(0), VmEvidence{"web", VmState::kRunning});
    e.observe(t(0), VmEvidence{"db", VmState::kRunning});
    local_ok(e, t(0));
    (void)e.tick(t(0));
    e.observe(t(1), VmEvidence{"web", VmState::kPausedIoError});
    e.observe(t(1), VmEvidence{"db", VmState::kPausedIoError});
    e.observe(t(1), ActionEvidence{.vm = "web", .action = VmAction::kStop});
    e.observe(t(1), ActionEvidence{.vm = "db", .action = VmAction::kStop});
    // A failed reading with nothing queued settles both at once.
    e.observe(t(1.5), StorageEvidence{.domain = "shared", .health = StorageHealth::kFailed});
    EXPECT_TRUE(e.tick(t(2)).status.held.empty());
    // A pause no reading ever explains holds a gone VM for the storage grace only.
    e.observe(t(3), StorageEvidence{.domain = "shared", .health = StorageHealth::kOk});
    e.observe(t(3), VmEvidence{"dns", VmState::kPausedIoError});
    e.observe(t(3), ActionEvidence{.vm = "dns", .action = VmAction::kStop});
    const auto grace_end = t(3) + e.policy().storage_grace;
    e.observe(t(4), SlotWriteEvidence{.ok = true, .latency = 2ms});
    EXPECT_EQ(e.tick(t(4)).status.held.size(), 1u);
    e.observe(grace_end, SlotWriteEvidence{.ok = true, .latency = 2ms});
    EXPECT_TRUE(e.tick(grace_end).status.held.empty());
}

TEST_F(EngineTest, APauseAlreadyReadBeforeTheStopReleasesAtOnce) {
    auto e = make(3);
    e.observe(t(0), VmEvidence{"web", VmState::kPausedIoError});
    // The reading after the pause: storage is back, nothing queued; the stop that
    // comes later leaves nothing behind (r255's recover-elsewhere after the heal).
    local_ok(e, t(0.5));
    e.observe(t(1), ActionEvidence{.vm = "web", .action = VmAction::kStop});
    local_ok(e, t(1));
    EXPECT_TRUE(e.tick(t(1)).status.held.empty());
}

TEST_F(EngineFeedbackTest, AQemuThatExitedDuringItsStartIsNotTakenForRunning) {
    auto h2 = make(2);
    h2.observe(t(0), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    for (double s = 0; s <= 10; s += 0.5) (void)follower_tick(h2, s);
    h2.observe(t(10.2), VmEvidence{.vm = "web", .state = VmState::kShutOff});
    h2.observe(t(10.3), ActionEvidence{.vm = "web", .action = VmAction::kStart});
    const auto r = follower_tick(h2, 10.5);
    EXPECT_TRUE(std::ranges::none_of(r.status.held, [](const HeldVm& v) {
        return v.name == "web" && v.state == VmState::kRunning;
    }));
}

TEST_F(EngineTest, AStalledSlotReadIsNoReadAtAll) {
    auto e = make(1);
    std::uint64_t seq = 0;
    healthy_until(e, 10, seq);
    e.observe(t(11), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    // Reads hang from now on: no result comes, good or bad. h3 must never be dead.
    for (double s = 11; s <= 30; s += 1) {
        ++seq;
        const auto h2 = peer_status(2, seq, {"dns"});
        e.observe(t(s), PeerMessageEvidence{h2});
        e.observe(t(s), SlotWriteEvidence{.ok = true, .latency = 2ms});
        (void)e.tick(t(s));
        EXPECT_NE(e.peer_class(HostId{3}), PeerClass::kDead) << s;
    }
}

// A 3-host cluster of this release: h1 (self) runs web, h2 dns, h3 db; every
// record says knows-freeze. Returns the last sequence used.
std::uint64_t knowing_cluster(HostEngine& e, double until) {
    std::uint64_t seq = 0;
    e.observe(t(0), VmInventoryEvidence{.vms = {{"web", VmState::kRunning}}});
    e.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    for (double s = 0; s <= until; s += 1) {
        ++seq;
        auto h2 = peer_status(2, seq, {"dns"});
        auto h3 = peer_status(3, seq, {"db"});
        h2.knows_freeze = h3.knows_freeze = true;
        e.observe(t(s), PeerMessageEvidence{h2});
        e.observe(t(s), PeerMessageEvidence{h3});
        e.observe(t(s), StorageEvidence{.domain = "shared", .health = StorageHealth::kOk});
        e.observe(t(s), SlotWriteEvidence{.ok = true, .latency = 2ms});
        e.observe(t(s), SlotReadEvidence{.ok = true, .slots = {h2, h3}});
        auto r = e.tick(t(s));
        EXPECT_TRUE(r.status.knows_freeze);  // every record of this release says so
        e.observe(t(s), PeerMessageEvidence{r.status});
    }
    return seq;
}

TEST_F(EngineTest, AHealthyHostWhosePeersAllKnowTheFreezeFreezes) {
    auto e = make(1);
    knowing_cluster(e, 5);
    const auto check = e.freeze_check(t(5.5));
    EXPECT_TRUE(check.ok()) << name(check.blockers.front());
    const auto before = e.snapshot().sequence;
    const auto st = e.freeze(t(5.5));
    EXPECT_TRUE(st.frozen);
    EXPECT_TRUE(st.knows_freeze);
    EXPECT_EQ(st.sequence, before + 1);
    EXPECT_EQ(st.state, SelfState::kOk);
    EXPECT_EQ(st.held, (std::vector<HeldVm>{{"web", VmState::kRunning}}));
    // Nothing more is said after the frozen record: a later status would end the
    // freeze for the peers.
    const auto r = e.tick(t(6));
    EXPECT_FALSE(r.publish);
    EXPECT_FALSE(r.pet_watchdog);
    EXPECT_TRUE(r.decisions.empty());
    EXPECT_EQ(e.freeze_check(t(6)).blockers,
              (std::vector<FreezeBlocker>{FreezeBlocker::kAlreadyFrozen}));
}

// A peer of the older release (its records lack knows-freeze) would read the frozen
// record as an ordinary one and call the silent host dead: no freeze, naming it.
TEST_F(EngineTest, APeerOfAnOlderReleaseBlocksTheFreeze) {
    auto e = make(1);
    std::uint64_t seq = 0;
    healthy_until(e, 5, seq);  // h2 and h3 write records without knows-freeze
    const auto check = e.freeze_check(t(5.5));
    EXPECT_EQ(check.blockers, (std::vector<FreezeBlocker>{FreezeBlocker::kPeersUnaware}));
    EXPECT_EQ(check.unaware, ids({2, 3}));
}

// A host never heard from may run any release: it blocks the freeze too.
TEST_F(EngineTest, AHostNeverHeardFromBlocksTheFreeze) {
    auto e = make(1, cluster_policy(4));
    knowing_cluster(e, 5);
    const auto check = e.freeze_check(t(5.5));
    EXPECT_EQ(check.blockers, (std::vector<FreezeBlocker>{FreezeBlocker::kPeersUnaware}));
    EXPECT_EQ(check.unaware, ids({4}));
}

TEST_F(EngineTest, NoFreezeWithoutQuorumStorageOrWithAnActionInFlight) {
    {
        auto e = make(1);
        knowing_cluster(e, 5);
        e.observe(t(6), MembershipEvidence{.members = ids({1}), .quorate = false});
        (void)e.tick(t(6));
        const auto b = e.freeze_check(t(6)).blockers;
        EXPECT_NE(std::ranges::find(b, FreezeBlocker::kNotQuorate), b.end());
    }
    {
        auto e = make(1);
        knowing_cluster(e, 5);
        e.observe(t(6), SlotWriteEvidence{.ok = false});
        const auto b = e.freeze_check(t(6)).blockers;
        EXPECT_NE(std::ranges::find(b, FreezeBlocker::kStorageTrouble), b.end());
    }
    {
        // h3 dies; h1 coordinates and takes db itself (h2 drains), and the stop comes
        // while that start is on its way.
        auto e = make(1);
        auto seq = knowing_cluster(e, 5);
        bool started = false;
        for (double s = 6; s <= 14 && !started; s += 1) {
            ++seq;
            auto h2 = peer_status(2, seq, {"dns"});
            h2.knows_freeze = true;
            h2.cordoned = true;
            e.observe(t(s), PeerMessageEvidence{h2});
            e.observe(t(s), SlotWriteEvidence{.ok = true, .latency = 2ms});
            e.observe(t(s), SlotReadEvidence{.ok = true, .slots = {h2, peer_status(3, 5, {"db"})}});
            if (s == 6)
                e.observe(t(s), MembershipEvidence{.members = ids({1, 2}), .quorate = true});
            const auto r = e.tick(t(s));
            e.observe(t(s), PeerMessageEvidence{r.status});
            started = !of_kind(r.decisions, DecisionKind::kStartVm).empty();
        }
        ASSERT_TRUE(started);
        const auto b = e.freeze_check(t(15)).blockers;
        EXPECT_NE(std::ranges::find(b, FreezeBlocker::kActionsInFlight), b.end());
    }
}

// h2's view: h1 froze holding web. Long past the fence delay web is not planned
// anywhere; h1's next run ends the freeze and still holds web; when h1 then dies,
// web is recovered a fence delay later.
TEST_F(EngineTest, AFrozenPeersVmIsNeverRecoveredUntilItRunsAgainAndDies) {
    auto e = make(2);
    const auto h1 = [](std::uint64_t inc, std::uint64_t seq, bool frozen) {
        auto s = peer_status(1, seq, {"web"});
        s.incarnation = inc;
        s.knows_freeze = true;
        s.frozen = frozen;
        return s;
    };
    e.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    std::uint64_t seq = 0;
    HostStatus h1_slot = h1(1, 1, false);
    const auto beat = [&](double s, bool h1_speaks) {
        ++seq;
        auto h3 = peer_status(3, seq, {"db"});
        h3.knows_freeze = true;
        if (h1_speaks) e.observe(t(s), PeerMessageEvidence{h1_slot});
        e.observe(t(s), PeerMessageEvidence{h3});
        e.observe(t(s), StorageEvidence{.domain = "shared", .health = StorageHealth::kOk});
        e.observe(t(s), SlotWriteEvidence{.ok = true, .latency = 2ms});
        e.observe(t(s), SlotReadEvidence{.ok = true, .slots = {h1_slot, h3}});
        auto r = e.tick(t(s));
        e.observe(t(s), PeerMessageEvidence{r.status});
        return r;
    };
    for (double s = 0; s <= 5; s += 1) {
        h1_slot = h1(1, seq + 1, false);
        beat(s, true);
    }
    h1_slot = h1(1, seq + 1, true);  // the frozen record, then h1's vigild is gone
    beat(6, true);
    e.observe(t(6.5), MembershipEvidence{.members = ids({2, 3}), .quorate = true});
    for (double s = 7; s <= 60; s += 1) {
        const auto r = beat(s, false);
        EXPECT_EQ(e.peer_class(HostId{1}), PeerClass::kFrozen) << s;
        for (const auto& d : of_kind(r.decisions, DecisionKind::kAssignVm))
            EXPECT_NE(d.vm, "web") << s;
        EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kFencePeer).empty()) << s;
    }
    // h1's vigild starts again (incarnation 2) and lists web running there.
    e.observe(t(60.5), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    for (double s = 61; s <= 63; s += 1) {
        h1_slot = h1(2, seq + 1, false);
        beat(s, true);
        EXPECT_EQ(e.peer_class(HostId{1}), PeerClass::kAlive) << s;
    }
    // Power lost at 63.5: dead a fence delay (watchdog 5 s + 2 heartbeats) after its
    // last record at 63, and web is planned then, not before.
    e.observe(t(63.5), MembershipEvidence{.members = ids({2, 3}), .quorate = true});
    std::optional<double> assigned_at;
    for (double s = 64; s <= 75; s += 1) {
        const auto r = beat(s, false);
        for (const auto& d : of_kind(r.decisions, DecisionKind::kAssignVm)) {
            if (d.vm == "web" && !assigned_at) assigned_at = s;
        }
    }
    ASSERT_TRUE(assigned_at);
    EXPECT_GE(*assigned_at, 63 + 7);
    EXPECT_LE(*assigned_at, 63 + 7 + 1);  // plus the heartbeat a settled coordinator waits
}

// A run that starts after a freeze finds its own slot as the frozen run left it.
TEST_F(EngineTest, ARunAfterAFreezeReadsItsOwnLastRecord) {
    auto e = make(1);
    auto mine = peer_status(1, 40, {"web"});
    mine.incarnation = 0;  // the run before; this one is incarnation 1
    mine.knows_freeze = mine.frozen = true;
    e.observe(t(0), SlotReadEvidence{.ok = true, .slots = {mine, peer_status(2, 3)}});
    ASSERT_TRUE(e.previous_run());
    EXPECT_TRUE(e.previous_run()->frozen);
    EXPECT_EQ(e.previous_run()->held, mine.held);
    // Its own records since do not count as the run before.
    auto now = mine;
    now.incarnation = 1;
    now.frozen = false;
    e.observe(t(1), SlotReadEvidence{.ok = true, .slots = {now}});
    EXPECT_TRUE(e.previous_run()->frozen);
}

}  // namespace
}  // namespace vigil::core

namespace vigil::core {
namespace {

// h3 holds db, web and dns; h1 and h2 are fine and hold nothing.
class DrainTest : public EngineTest {
  protected:
    DrainTest() : e_(make(3)) {
        e_.observe(t(0), VmInventoryEvidence{.vms = {{"db"}, {"web"}, {"dns"}}});
        e_.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    }

    // One heartbeat at `s`: h1 holds `on_h1`, then h3 ticks.
    TickResult beat(double s, std::vector<std::string> on_h1 = {}, bool quorate = true) {
        ++seq_;
        const auto h1 = peer_status(1, seq_, std::move(on_h1));
        const auto h2 = peer_status(2, seq_);
        if (quorate) {
            e_.observe(t(s), PeerMessageEvidence{h1});
            e_.observe(t(s), PeerMessageEvidence{h2});
        }
        local_ok(e_, t(s), {h1, h2});
        auto r = e_.tick(t(s));
        if (quorate) e_.observe(t(s), PeerMessageEvidence{r.status});
        return r;
    }

    void stop_done(double s, const std::string& vm) {
        e_.observe(t(s), ActionEvidence{.vm = vm, .action = VmAction::kStop});
    }

    HostEngine e_;
    std::uint64_t seq_ = 0;
};

std::vector<std::string> stopped(const TickResult& r) {
    std::vector<std::string> out;
    for (const auto& d : of_kind(r.decisions, DecisionKind::kStopVm)) {
        EXPECT_EQ(d.reason, Reason::kDrain) << to_string(d);
        out.push_back(d.vm);
    }
    return out;
}

TEST_F(DrainTest, CordonKeepsTheVmsAndTakesNoNewOnes) {
    for (double s = 0; s <= 2; s += 1) beat(s);
    e_.observe(t(2.5), AdminEvidence{AdminCommand::kCordon});
    for (double s = 3; s <= 10; s += 1) {
        const auto r = beat(s);
        EXPECT_TRUE(stopped(r).empty()) << s;
        EXPECT_TRUE(r.status.cordoned);
        EXPECT_FALSE(takes_assignments(r.status));
        EXPECT_EQ(r.status.held.size(), 3u);
    }
    EXPECT_FALSE(e_.snapshot().draining);
    e_.observe(t(10.5), AdminEvidence{AdminCommand::kUncordon});
    EXPECT_FALSE(beat(11).status.cordoned);
}

TEST_F(DrainTest, HandsOneVmOverAtATimeByPriorityOnlyOnceTheLastRunsElsewhere) {
    for (double s = 0; s <= 2; s += 1) beat(s);
    e_.observe(t(2.5), AdminEvidence{AdminCommand::kDrain});
    // dns and web share the highest priority: by name, dns first; one at a time.
    auto r = beat(3);
    EXPECT_EQ(stopped(r), (std::vector<std::string>{"dns"}));
    EXPECT_TRUE(r.status.cordoned);
    const auto s3 = e_.snapshot();
    EXPECT_TRUE(s3.draining);
    EXPECT_EQ(s3.drain_moving, (std::vector<std::string>{"dns"}));
    EXPECT_EQ(s3.drain_left, (std::vector<std::string>{"web", "db"}));
    // Still stopping: it is still ours, and nothing else goes.
    r = beat(4);
    EXPECT_TRUE(stopped(r).empty());
    EXPECT_EQ(r.status.held.size(), 3u);
    // Stopped: the status that says so is wanted at once, and holds it no more.
    stop_done(4.5, "dns");
    EXPECT_EQ(e_.tick_wanted_at(), t(4.5));
    r = beat(4.5);
    EXPECT_TRUE(stopped(r).empty()) << "nobody holds dns yet";
    EXPECT_EQ(r.status.held.size(), 2u);
    // h1 holds dns now: web goes, then db, each once the one before runs on h1.
    r = beat(5, {"dns"});
    EXPECT_EQ(stopped(r), (std::vector<std::string>{"web"}));
    stop_done(6, "web");
    EXPECT_TRUE(stopped(beat(6, {"dns"})).empty());
    EXPECT_EQ(stopped(beat(7, {"dns", "web"})), (std::vector<std::string>{"db"}));
    stop_done(8, "db");
    r = beat(9, {"dns", "web", "db"});
    EXPECT_TRUE(r.status.held.empty());
    EXPECT_TRUE(r.status.cordoned) << "a drained host stays cordoned";
    const auto done = e_.snapshot();
    EXPECT_TRUE(done.drain_moving.empty());
    EXPECT_TRUE(done.drain_left.empty());
    EXPECT_TRUE(done.drain_blocked.empty());
}

TEST_F(DrainTest, AStopThatDidNotTakeIsAskedAgain) {
    for (double s = 0; s <= 2; s += 1) beat(s);
    e_.observe(t(2.5), AdminEvidence{AdminCommand::kDrain});
    EXPECT_EQ(stopped(beat(3)), (std::vector<std::string>{"dns"}));
    e_.observe(t(3.5), ActionEvidence{.vm = "dns",
                                      .action = VmAction::kStop,
                                      .outcome = ActionOutcome::kFailed,
                                      .detail = "no"});
    // Retried after five heartbeats (retry_after), never another VM meanwhile.
    for (double s = 4; s <= 7; s += 1) EXPECT_TRUE(stopped(beat(s)).empty()) << s;
    EXPECT_EQ(stopped(beat(8)), (std::vector<std::string>{"dns"}));
}

TEST_F(DrainTest, AVmNoOtherHostCanTakeStaysAndSaysWhy) {
    auto p = cluster_policy();
    p.hosts = {{HostId{1}, 768}, {HostId{2}, 768}, {HostId{3}, 4096}};
    e_ = make(3, p);
    e_.observe(t(0), VmInventoryEvidence{.vms = {{"db"}, {"web"}, {"dns"}}});
    e_.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    for (double s = 0; s <= 2; s += 1) beat(s);
    e_.observe(t(2.5), AdminEvidence{AdminCommand::kDrain});
    const auto r = beat(3);
    EXPECT_EQ(stopped(r), (std::vector<std::string>{"dns"}));
    const auto alerts = of_kind(r.decisions, DecisionKind::kAlert);
    ASSERT_EQ(alerts.size(), 2u);  // web and db, each logged once
    for (const auto& a : alerts) {
        EXPECT_EQ(a.alert, AlertKind::kDrainBlocked);
        EXPECT_EQ(a.reason, Reason::kNoHostCanTake);
    }
    EXPECT_TRUE(of_kind(beat(4).decisions, DecisionKind::kAlert).empty());
    EXPECT_EQ(e_.snapshot().drain_blocked, (std::vector<std::string>{"db", "web"}));
}

TEST_F(DrainTest, ACutOffHostHandsNothingOverUntilItIsBack) {
    for (double s = 0; s <= 2; s += 1) beat(s);
    e_.observe(t(2.5), MembershipEvidence{.members = ids({3}), .quorate = false});
    e_.observe(t(2.5), AdminEvidence{AdminCommand::kDrain});
    for (double s = 3; s <= 10; s += 1) EXPECT_TRUE(stopped(beat(s, {}, false)).empty()) << s;
    e_.observe(t(10.5), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    bool moved = false;
    for (double s = 11; s <= 14 && !moved; s += 1) moved = !stopped(beat(s)).empty();
    EXPECT_TRUE(moved);
}

TEST_F(DrainTest, UncordonEndsTheDrain) {
    for (double s = 0; s <= 2; s += 1) beat(s);
    e_.observe(t(2.5), AdminEvidence{AdminCommand::kDrain});
    EXPECT_EQ(stopped(beat(3)), (std::vector<std::string>{"dns"}));
    stop_done(3.5, "dns");
    e_.observe(t(3.6), AdminEvidence{AdminCommand::kUncordon});
    const auto r = beat(4, {"dns"});
    EXPECT_TRUE(stopped(r).empty());
    EXPECT_FALSE(r.status.cordoned);
    EXPECT_FALSE(e_.snapshot().draining);
    EXPECT_TRUE(stopped(beat(5, {"dns"})).empty());
}

}  // namespace
}  // namespace vigil::core

namespace vigil::core {
namespace {

// As DrainTest, with drain_migrate: h3 migrates db, web and dns to h1 or h2.
class DrainMigrateTest : public EngineTest {
  protected:
    static Policy migrating_policy() {
        auto p = cluster_policy();
        p.drain_migrate = true;
        return p;
    }
    DrainMigrateTest() : e_(make(3, migrating_policy())) {
        e_.observe(t(0), VmInventoryEvidence{.vms = {{"db"}, {"web"}, {"dns"}}});
        e_.observe(t(0), MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    }

    // One heartbeat at `s`: h1 holds `on_h1` (with their states), then h3 ticks.
    TickResult beat(double s, std::vector<HeldVm> on_h1 = {}) {
        ++seq_;
        auto h1 = peer_status(1, seq_);
        h1.held = std::move(on_h1);
        const auto h2 = peer_status(2, seq_);
        e_.observe(t(s), PeerMessageEvidence{h1});
        e_.observe(t(s), PeerMessageEvidence{h2});
        local_ok(e_, t(s), {h1, h2});
        auto r = e_.tick(t(s));
        e_.observe(t(s), PeerMessageEvidence{r.status});
        return r;
    }
    static bool holds(const TickResult& r, const std::string& vm) {
        return std::ranges::find(r.status.held, vm, &HeldVm::name) != r.status.held.end();
    }

    HostEngine e_;
    std::uint64_t seq_ = 0;
};

TEST_F(DrainMigrateTest, TheSourceClaimsTheVmUntilTheTargetRunsIt) {
    for (double s = 0; s <= 2; s += 1) beat(s);
    e_.observe(t(2.5), AdminEvidence{AdminCommand::kDrain});
    // dns first (priority 10, by name), to h1 (h1 and h2 have as much room: the lowest
    // id), by migration: no stop.
    auto r = beat(3);
    auto moves = of_kind(r.decisions, DecisionKind::kMigrateVm);
    ASSERT_EQ(moves.size(), 1u);
    EXPECT_EQ(moves[0].vm, "dns");
    EXPECT_EQ(moves[0].target, HostId{1});
    EXPECT_EQ(moves[0].reason, Reason::kDrain);
    EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kStopVm).empty());
    EXPECT_EQ(e_.snapshot().drain_moving, (std::vector<std::string>{"dns"}));
    EXPECT_FALSE(e_.freeze_check(t(3)).ok()) << "a migration in flight blocks a freeze";
    // The target holds it incoming (paused): still ours, nothing else goes.
    r = beat(4, {{"dns", VmState::kPaused}});
    EXPECT_TRUE(holds(r, "dns"));
    EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kMigrateVm).empty());
    // Moved: no qemu here any more, and still ours in every status until h1's status
    // holds it running.
    e_.observe(t(4.5), VmEvidence{.vm = "dns", .state = VmState::kShutOff});
    e_.observe(t(4.5), ActionEvidence{.vm = "dns", .action = VmAction::kMigrate});
    r = beat(5, {{"dns", VmState::kPaused}});
    ASSERT_TRUE(holds(r, "dns"));
    EXPECT_EQ(std::ranges::find(r.status.held, "dns", &HeldVm::name)->state, VmState::kShutOff);
    EXPECT_EQ(e_.snapshot().vms[1].owner, HostId{3});  // db, dns, web: dns ours
    EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kMigrateVm).empty());
    // h1 runs it: the claim ends and web goes, in the same tick.
    r = beat(6, {{"dns", VmState::kRunning}});
    EXPECT_FALSE(holds(r, "dns"));
    moves = of_kind(r.decisions, DecisionKind::kMigrateVm);
    ASSERT_EQ(moves.size(), 1u);
    EXPECT_EQ(moves[0].vm, "web");
    // h1 has 512 MiB less now: web goes to h2.
    EXPECT_EQ(moves[0].target, HostId{2});
}

TEST_F(DrainMigrateTest, AFailedMigrationIsReplacedByAStopOnceTheTargetLetsGo) {
    for (double s = 0; s <= 2; s += 1) beat(s);
    e_.observe(t(2.5), AdminEvidence{AdminCommand::kDrain});
    ASSERT_EQ(of_kind(beat(3).decisions, DecisionKind::kMigrateVm).size(), 1u);
    beat(4, {{"dns", VmState::kPaused}});
    e_.observe(t(4.5), ActionEvidence{.vm = "dns",
                                      .action = VmAction::kMigrate,
                                      .outcome = ActionOutcome::kTimedOut,
                                      .detail = "aborted"});
    // It runs here still. While h1's status holds it (incoming), no stop: nobody
    // would place it meanwhile.
    EXPECT_EQ(e_.tick_wanted_at(), t(4.5));
    auto r = beat(5, {{"dns", VmState::kPaused}});
    EXPECT_TRUE(holds(r, "dns"));
    EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kStopVm).empty());
    EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kMigrateVm).empty());
    r = beat(6);
    const auto stops = of_kind(r.decisions, DecisionKind::kStopVm);
    ASSERT_EQ(stops.size(), 1u);
    EXPECT_EQ(stops[0].vm, "dns");
    EXPECT_EQ(stops[0].reason, Reason::kMigrationFailed);
    EXPECT_NE(to_string(stops[0]).find("outcome=timed-out"), std::string::npos)
        << to_string(stops[0]);
    EXPECT_TRUE(of_kind(r.decisions, DecisionKind::kMigrateVm).empty());
}

// vigilctl status: each migration with its target and since when, moved or not, and
// each failed one until the stop that replaces it.
TEST_F(DrainMigrateTest, TheSnapshotShowsEachMigrationAndEachFailedOneUntilItsStop) {
    for (double s = 0; s <= 2; s += 1) beat(s);
    EXPECT_TRUE(e_.snapshot().drain_migrating.empty());
    e_.observe(t(2.5), AdminEvidence{AdminCommand::kDrain});
    ASSERT_EQ(of_kind(beat(3).decisions, DecisionKind::kMigrateVm).size(), 1u);
    auto snap = e_.snapshot();
    ASSERT_EQ(snap.drain_migrating.size(), 1u);
    EXPECT_EQ(snap.drain_migrating[0].vm, "dns");
    EXPECT_EQ(snap.drain_migrating[0].target, HostId{1});
    EXPECT_EQ(snap.drain_migrating[0].since, t(3));
    EXPECT_FALSE(snap.drain_migrating[0].moved);
    EXPECT_TRUE(snap.drain_migration_failed.empty());
    beat(4, {{"dns", VmState::kPaused}});
    // Moved: still shown (and still ours) until h1's status runs it.
    e_.observe(t(4.5), VmEvidence{.vm = "dns", .state = VmState::kShutOff});
    e_.observe(t(4.5), ActionEvidence{.vm = "dns", .action = VmAction::kMigrate});
    beat(5, {{"dns", VmState::kPaused}});
    snap = e_.snapshot();
    ASSERT_EQ(snap.drain_migrating.size(), 1u);
    EXPECT_TRUE(snap.drain_migrating[0].moved);
    EXPECT_EQ(snap.drain_migrating[0].since, t(3)) << "since the request, not the move";
    // h1 runs it: dns is done, web goes to h2.
    beat(6, {{"dns", VmState::kRunning}});
    snap = e_.snapshot();
    ASSERT_EQ(snap.drain_migrating.size(), 1u);
    EXPECT_EQ(snap.drain_migrating[0].vm, "web");
    EXPECT_EQ(snap.drain_migrating[0].target, HostId{2});
    EXPECT_EQ(snap.drain_migrating[0].since, t(6));
    // web's migration fails: it is still moving, no longer migrating, and shown as
    // failed until the stop that replaces it.
    e_.observe(t(6.5), ActionEvidence{.vm = "web",
                                      .action = VmAction::kMigrate,
                                      .outcome = ActionOutcome::kFailed,
                                      .detail = "no route to host"});
    snap = e_.snapshot();
    EXPECT_TRUE(snap.drain_migrating.empty());
    EXPECT_EQ(snap.drain_moving, (std::vector<std::string>{"web"}));
    ASSERT_EQ(snap.drain_migration_failed.size(), 1u);
    EXPECT_EQ(snap.drain_migration_failed[0].vm, "web");
    EXPECT_EQ(snap.drain_migration_failed[0].target, HostId{2});
    EXPECT_EQ(snap.drain_migration_failed[0].outcome, ActionOutcome::kFailed);
    EXPECT_EQ(snap.drain_migration_failed[0].detail, "no route to host");
    EXPECT_EQ(snap.drain_migration_failed[0].at, t(6.5));
    const auto stops =
        of_kind(beat(7, {{"dns", VmState::kRunning}}).decisions, DecisionKind::kStopVm);
    ASSERT_EQ(stops.size(), 1u);
    EXPECT_EQ(stops[0].reason, Reason::kMigrationFailed);
    snap = e_.snapshot();
    EXPECT_TRUE(snap.drain_migration_failed.empty());
    EXPECT_EQ(snap.drain_moving, (std::vector<std::string>{"web"})) << "stopping it";
    // An uncordon ends the drain, and what the status shows of it.
    e_.observe(t(7.5), AdminEvidence{AdminCommand::kUncordon});
    snap = e_.snapshot();
    EXPECT_TRUE(snap.drain_migrating.empty());
    EXPECT_TRUE(snap.drain_migration_failed.empty());
}

TEST_F(DrainMigrateTest, AMovedVmIsLetGoWhenItsTargetDies) {
    for (double s = 0; s <= 2; s += 1) beat(s);
    e_.observe(t(2.5), AdminEvidence{AdminCommand::kDrain});
    ASSERT_EQ(of_kind(beat(3).decisions, DecisionKind::kMigrateVm).size(), 1u);
    e_.observe(t(3.5), VmEvidence{.vm = "dns", .state = VmState::kShutOff});
    e_.observe(t(3.5), ActionEvidence{.vm = "dns", .action = VmAction::kMigrate});
    // h1 goes silent and leaves before its status ever said it runs dns: ours while
    // h1 is suspect, let go once it is dead (its watchdog has fired).
    e_.observe(t(4), MembershipEvidence{.members = ids({2, 3}), .quorate = true});
    double s = 4;
    for (; s <= 20 && e_.peer_class(HostId{1}) != PeerClass::kDead; s += 1) {
        ++seq_;
        const auto h2 = peer_status(2, seq_);
        e_.observe(t(s), PeerMessageEvidence{h2});
        local_ok(e_, t(s), {h2});
        auto r = e_.tick(t(s));
        e_.observe(t(s), PeerMessageEvidence{r.status});
        if (e_.peer_class(HostId{1}) != PeerClass::kDead)
            EXPECT_TRUE(holds(r, "dns")) << s;
        else
            EXPECT_FALSE(holds(r, "dns")) << s;
    }
    EXPECT_EQ(e_.peer_class(HostId{1}), PeerClass::kDead);
}

}  // namespace
}  // namespace vigil::core
