#include "daemon/core/planner.h"

#include <gtest/gtest.h>

#include <vector>

namespace vigil::core {
namespace {

const std::vector<VmPolicy> kVms = {{.name = "db", .priority = 5, .memory_mib = 1024},
                                    {.name = "web", .priority = 10, .memory_mib = 1024},
                                    {.name = "dns", .priority = 10, .memory_mib = 512}};

// h1 plans; h3 held every VM and is dead; h1 and h2 can take VMs.
RecoveryView dead_owner_view() {
    return RecoveryView{.self = HostId{1},
                        .peers = {{HostId{2}, PeerClass::kAlive}, {HostId{3}, PeerClass::kDead}},
                        .held = {},
                        .last_holders = {{"db", HostId{3}}, {"web", HostId{3}}, {"dns", HostId{3}}},
                        .capacity_mib = {{HostId{1}, 4096}, {HostId{2}, 4096}},
                        .vms = kVms};
}

std::vector<std::string> vm_order(const RecoveryPlan& plan) {
    std::vector<std::string> out;
    out.reserve(plan.assigned.size());
    for (const auto& d : plan.assigned) out.push_back(d.vm);
    return out;
}

TEST(PlannerTest, PlacesByPriorityThenNameEachOnTheHostWithMostRoom) {
    RecoveryPlanner planner;
    const auto plan = planner.plan(dead_owner_view());
    EXPECT_EQ(vm_order(plan), (std::vector<std::string>{"dns", "web", "db"}));
    ASSERT_EQ(plan.assigned.size(), 3u);
    // Equal room: the lowest id first; then whoever has more left.
    EXPECT_EQ(plan.assigned[0].target, HostId{1});
    EXPECT_EQ(plan.assigned[1].target, HostId{2});
    EXPECT_EQ(plan.assigned[2].target, HostId{1});
    EXPECT_EQ(plan.assigned[0].reason, Reason::kOwnerDead);
    EXPECT_EQ(plan.assigned[0].peer, HostId{3});
    EXPECT_EQ(to_string(plan.assigned[2]),
              to_string(Decision{.kind = DecisionKind::kAssignVm,
                                 .reason = Reason::kOwnerDead,
                                 .peer = HostId{3},
                                 .vm = "db",
                                 .target = HostId{1},
                                 .evidence = {{"priority", "5"}, {"free_mib", "3584"}}}));
    EXPECT_TRUE(plan.alerts.empty());
    EXPECT_EQ(planner.assignments().size(), 3u);
}

TEST(PlannerTest, HeldVmsUseTheirHostsMemory) {
    auto view = dead_owner_view();
    view.vms = std::span(kVms).subspan(0, 1);  // db only
    view.held = {{"big", HostId{1}}};          // not an HA VM: takes nothing
    view.capacity_mib = {{HostId{1}, 2048}, {HostId{2}, 2048}};
    RecoveryPlanner planner;
    EXPECT_EQ(planner.plan(view).assigned.at(0).target, HostId{1});

    std::vector<VmPolicy> vms = kVms;
    vms.push_back({.name = "cache", .priority = 1, .memory_mib = 1536});
    view.vms = vms;
    view.held = {{"cache", HostId{1}}};  // 512 left on h1
    RecoveryPlanner again;
    const auto plan = again.plan(view);
    for (const auto& d : plan.assigned) EXPECT_NE(d.target, HostId{1}) << d.vm;
}

// h1 drains: it holds every VM; h2 (1536 MiB) and h3 (1024 MiB) may take VMs.
RecoveryView draining_view() {
    return RecoveryView{.self = HostId{1},
                        .peers = {{HostId{2}, PeerClass::kAlive}, {HostId{3}, PeerClass::kAlive}},
                        .held = {{"db", HostId{1}}, {"web", HostId{1}}, {"dns", HostId{1}}},
                        .last_holders = {},
                        .capacity_mib = {{HostId{2}, 1536}, {HostId{3}, 1024}},
                        .vms = kVms};
}

TEST(PlannerTest, ADrainCountsTheHostsWithRoomLeftByTheVmsOnTheirWay) {
    auto view = draining_view();
    EXPECT_EQ(hosts_with_room(view, "web", {}), 2u);
    // The draining host's own room never counts, eligible or not.
    view.capacity_mib[HostId{1}] = 8192;
    EXPECT_EQ(hosts_with_room(view, "web", {}), 2u);
    // web is on its way (still stopping here, then held nowhere): it takes h2's
    // room, the most, so only h3 can take db.
    EXPECT_EQ(hosts_with_room(view, "db", {}), 2u);
    EXPECT_EQ(hosts_with_room(view, "db", {"web"}), 1u);
    view.held.erase("web");
    EXPECT_EQ(hosts_with_room(view, "db", {"web"}), 1u);
    // dns too: placed as plan() would, dns then web both on h2 (the most room, the
    // lowest id on a tie), which leaves h3 to db; with less on h3, nobody has room.
    view.held.erase("dns");
    EXPECT_EQ(hosts_with_room(view, "db", {"web", "dns"}), 1u);
    view.capacity_mib[HostId{3}] = 768;
    EXPECT_EQ(hosts_with_room(view, "db", {"web", "dns"}), 0u);
    view.capacity_mib[HostId{3}] = 1024;
    // A VM held elsewhere takes its host's room, whether or not it is on its way.
    view.held["web"] = HostId{2};
    EXPECT_EQ(hosts_with_room(view, "db", {"dns"}), 0u);
    EXPECT_EQ(hosts_with_room(view, "dns", {}), 2u);
    // A host that declined the VM lately does not count.
    view.declined["dns"] = {HostId{3}};
    EXPECT_EQ(hosts_with_room(view, "dns", {}), 1u);
    EXPECT_EQ(hosts_with_room(view, "not-ha", {}), 0u);
}

TEST(PlannerTest, ADrainByMigrationPicksTheHostPlanWould) {
    auto view = draining_view();
    // The most free memory: h2 (1536) over h3 (1024).
    auto to = drain_target(view, "web", {}, {});
    ASSERT_TRUE(to.has_value());
    EXPECT_EQ(to->host, HostId{2});
    EXPECT_EQ(to->free_mib, 1536);
    // Never the draining host itself, however much room it has.
    view.capacity_mib[HostId{1}] = 65536;
    EXPECT_EQ(drain_target(view, "web", {}, {})->host, HostId{2});
    // dns (512) migrating to h3 takes its room there, not where plan() would put it:
    // h3 has 512 left, h2 still 1536, and db (1024) goes to h2.
    EXPECT_EQ(drain_target(view, "db", {"dns"}, {{"dns", HostId{3}}})->host, HostId{2});
    // ... and with dns migrating to h2 instead, h2 has 1024 left and h3 1024: the
    // lowest id on a tie.
    EXPECT_EQ(drain_target(view, "db", {"dns"}, {{"dns", HostId{2}}})->host, HostId{2});
    EXPECT_EQ(hosts_with_room(view, "db", {"dns"}, {{"dns", HostId{2}}}), 2u);
    // A host that declined the VM lately is not picked; no room: no target.
    view.declined["web"] = {HostId{2}};
    EXPECT_EQ(drain_target(view, "web", {}, {})->host, HostId{3});
    view.capacity_mib.erase(HostId{3});
    EXPECT_FALSE(drain_target(view, "web", {}, {}).has_value());
    EXPECT_FALSE(drain_target(view, "not-ha", {}, {}).has_value());
}

TEST(PlannerTest, AnAssignmentStaysWhileItsTargetIsEligible) {
    RecoveryPlanner planner;
    auto view = dead_owner_view();
    ASSERT_EQ(planner.plan(view).assigned.size(), 3u);
    const auto first = planner.assignments();
    // h2 grows: a fresh plan would move VMs there, a standing one does not move.
    view.capacity_mib[HostId{2}] = 65536;
    const auto again = planner.plan(view);
    EXPECT_TRUE(again.assigned.empty());
    EXPECT_EQ(planner.assignments(), first);
}

TEST(PlannerTest, AnAssignmentWhoseTargetIsNoLongerEligibleIsPlacedAgain) {
    RecoveryPlanner planner;
    auto view = dead_owner_view();
    ASSERT_EQ(planner.plan(view).assigned.size(), 3u);
    view.capacity_mib.erase(HostId{2});  // h2 went into maintenance, say
    // h2 is no longer eligible, but until its own status says it takes no assignment
    // it may be starting what it read: nothing moves.
    EXPECT_TRUE(planner.plan(view).assigned.empty());
    view.refusing.insert(HostId{2});
    const auto plan = planner.plan(view);
    ASSERT_EQ(vm_order(plan), std::vector<std::string>{"web"});
    EXPECT_EQ(plan.assigned[0].target, HostId{1});
    for (const auto& [vm, target] : planner.assignments()) EXPECT_EQ(target, HostId{1}) << vm;
}

TEST(PlannerTest, AnAssignmentWhoseTargetLeftMovesOnlyOnceTheTargetIsDead) {
    RecoveryPlanner planner;
    auto view = dead_owner_view();
    ASSERT_EQ(planner.plan(view).assigned.size(), 3u);
    const auto before = planner.assignments();
    view.capacity_mib.erase(HostId{2});  // h2 left the membership
    view.peers[HostId{2}] = PeerClass::kSuspect;
    EXPECT_TRUE(planner.plan(view).assigned.empty());
    EXPECT_EQ(planner.assignments(), before);
    view.peers[HostId{2}] = PeerClass::kDead;
    EXPECT_FALSE(planner.plan(view).assigned.empty());
    for (const auto& [vm, target] : planner.assignments()) EXPECT_NE(target, HostId{2}) << vm;
}

TEST(PlannerTest, AVmHeldAgainIsNoLongerAssigned) {
    RecoveryPlanner planner;
    auto view = dead_owner_view();
    ASSERT_EQ(planner.plan(view).assigned.size(), 3u);
    view.held = {{"web", HostId{2}}};
    EXPECT_TRUE(planner.plan(view).assigned.empty());
    EXPECT_FALSE(planner.assignments().contains("web"));
    planner.clear();
    EXPECT_TRUE(planner.assignments().empty());
}

TEST(PlannerTest, NoRoomAnywhereRaisesANoCapacityAlert) {
    auto view = dead_owner_view();
    view.capacity_mib = {{HostId{1}, 1024}, {HostId{2}, 256}};
    RecoveryPlanner planner;
    const auto plan = planner.plan(view);
    // dns (512) fits on h1 first; then nothing fits web or db.
    ASSERT_EQ(vm_order(plan), std::vector<std::string>{"dns"});
    ASSERT_EQ(plan.alerts.size(), 2u);
    EXPECT_EQ(plan.alerts[0].key, "no-capacity:web");
    EXPECT_EQ(plan.alerts[0].kind, AlertKind::kNoCapacity);
    EXPECT_EQ(plan.alerts[0].vm, "web");
    EXPECT_EQ(plan.alerts[0].evidence, (std::vector<Fact>{{"memory_mib", "1024"}}));
    EXPECT_EQ(plan.alerts[1].key, "no-capacity:db");
    EXPECT_FALSE(planner.assignments().contains("web"));
}

TEST(PlannerTest, IneligibleHostsReceiveNothing) {
    auto view = dead_owner_view();
    view.capacity_mib = {{HostId{2}, 4096}};  // h1 (self) is not eligible
    RecoveryPlanner planner;
    const auto plan = planner.plan(view);
    ASSERT_EQ(plan.assigned.size(), 3u);
    for (const auto& d : plan.assigned) EXPECT_EQ(d.target, HostId{2}) << d.vm;

    view.capacity_mib.clear();
    RecoveryPlanner none;
    const auto nothing = none.plan(view);
    EXPECT_TRUE(nothing.assigned.empty());
    EXPECT_EQ(nothing.alerts.size(), 3u);
}

TEST(PlannerTest, OnlyVmsNobodyCanStillWriteAreRecoverable) {
    auto view = dead_owner_view();
    EXPECT_EQ(recoverable(view, "web")->reason, Reason::kOwnerDead);

    view.held = {{"web", HostId{2}}};
    EXPECT_FALSE(recoverable(view, "web"));

    view.held.clear();
    view.peers[HostId{3}] = PeerClass::kSuspect;  // silent, inside the fence delay
    EXPECT_FALSE(recoverable(view, "web"));
    EXPECT_TRUE(RecoveryPlanner{}.plan(view).assigned.empty());

    for (const auto cls : {PeerClass::kAlive, PeerClass::kIsolated, PeerClass::kReleased}) {
        view.peers[HostId{3}] = cls;  // speaks for itself and no longer lists it
        ASSERT_TRUE(recoverable(view, "web")) << name(cls);
        EXPECT_EQ(recoverable(view, "web")->reason, Reason::kOwnerReleased);
        EXPECT_EQ(recoverable(view, "web")->owner, HostId{3});
    }

    view.last_holders = {{"web", HostId{1}}};  // we held it and let it go
    EXPECT_EQ(recoverable(view, "web")->owner, HostId{1});

    // Never seen held: only once nobody is suspect.
    view.last_holders.clear();
    view.peers = {{HostId{2}, PeerClass::kAlive}, {HostId{3}, PeerClass::kSuspect}};
    EXPECT_FALSE(recoverable(view, "web"));
    view.peers[HostId{3}] = PeerClass::kDead;
    EXPECT_EQ(recoverable(view, "web")->reason, Reason::kNotRunningAnywhere);
    EXPECT_FALSE(recoverable(view, "web")->owner);
}

}  // namespace
}  // namespace vigil::core
