// The pure parts of the real ports: outcome and reason mappings, slot owners,
// the incarnation, the watchdog reopen rule and which decisions run hooks.
#include "daemon/host/mapping.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>

#include "daemon/host/event_sink.h"
#include "daemon/host/incarnation.h"

namespace vigil::host {
namespace {

using namespace std::chrono_literals;

adapters::ActionResult result(adapters::ActionOutcome o, std::string detail = "why") {
    return adapters::ActionResult{.id = 7,
                                  .action = adapters::VmAction::kStop,
                                  .vm = "vm1",
                                  .outcome = o,
                                  .detail = std::move(detail)};
}

TEST(HostMapping, AdapterOutcomesBecomeCoreOutcomes) {
    EXPECT_EQ(to_action_evidence(result(adapters::ActionOutcome::kDone)).outcome,
              core::ActionOutcome::kDone);
    const auto already = to_action_evidence(result(adapters::ActionOutcome::kAlreadyDone));
    EXPECT_EQ(already.outcome, core::ActionOutcome::kDone);
    EXPECT_EQ(already.detail, "");
    const auto missing = to_action_evidence(result(adapters::ActionOutcome::kNotFound, "no dom"));
    EXPECT_EQ(missing.outcome, core::ActionOutcome::kFailed);
    EXPECT_NE(missing.detail.find("not defined on this host"), std::string::npos);
    EXPECT_NE(missing.detail.find("no dom"), std::string::npos);
    EXPECT_EQ(to_action_evidence(result(adapters::ActionOutcome::kLockedElsewhere)).outcome,
              core::ActionOutcome::kLockedElsewhere);
    EXPECT_EQ(to_action_evidence(result(adapters::ActionOutcome::kTimedOut)).outcome,
              core::ActionOutcome::kTimedOut);
    const auto failed = to_action_evidence(result(adapters::ActionOutcome::kFailed, "boom"));
    EXPECT_EQ(failed.outcome, core::ActionOutcome::kFailed);
    EXPECT_EQ(failed.detail, "boom");
    EXPECT_EQ(failed.vm, "vm1");
    EXPECT_EQ(failed.action, core::VmAction::kStop);
    EXPECT_EQ(to_core(adapters::VmAction::kStart), core::VmAction::kStart);
    EXPECT_EQ(to_core(adapters::VmAction::kResume), core::VmAction::kResume);
    EXPECT_EQ(to_core(adapters::VmAction::kMigrate), core::VmAction::kMigrate);
}

TEST(HostMapping, OnlyASelfFenceIsFenceDecided) {
    EXPECT_EQ(withhold_reason(core::Reason::kSelfFencing), fence::WithholdReason::kFenceDecided);
    EXPECT_EQ(withhold_reason(core::Reason::kStorageLostIoInFlight),
              fence::WithholdReason::kFenceDecided);
    EXPECT_EQ(withhold_reason(core::Reason::kNoQuorumNoStorage), fence::WithholdReason::kNotSafe);
    EXPECT_EQ(withhold_reason(core::Reason::kNoVmListingYet), fence::WithholdReason::kNotSafe);
}

std::vector<config::ClusterHost> hosts() {
    return {{.name = "a", .nodeid = 3, .slot = 1},
            {.name = "b", .nodeid = 1, .slot = 0},
            {.name = "c", .nodeid = 2, .slot = 2}};
}

TEST(HostMapping, SlotOwnersInSlotOrder) {
    const auto owners = slot_owners(hosts(), core::HostId{3});
    ASSERT_TRUE(owners) << owners.error();
    ASSERT_EQ(owners->owners.size(), 3U);
    EXPECT_EQ(owners->owners[0].value, 1U);
    EXPECT_EQ(owners->owners[1].value, 3U);
    EXPECT_EQ(owners->owners[2].value, 2U);
    EXPECT_EQ(owners->own_slot, 1U);
}

TEST(HostMapping, SlotOwnersRefuseGapsTwinsAndStrangers) {
    auto h = hosts();
    h[2].slot = 5;
    EXPECT_NE(slot_owners(h, core::HostId{3}).error().message.find("out of range"),
              std::string::npos);
    h = hosts();
    h[2].slot = 0;
    EXPECT_NE(slot_owners(h, core::HostId{3}).error().message.find("two owners"),
              std::string::npos);
    EXPECT_NE(slot_owners(hosts(), core::HostId{9}).error().message.find("nodeid 9"),
              std::string::npos);
    EXPECT_FALSE(slot_owners({}, core::HostId{1}));
}

TEST(HostMapping, InventoryListsOnlyVmsWithAQemuHere) {
    std::map<std::string, adapters::HaVm> vms;
    vms["run"] = {
        .name = "run", .ha = {.priority = 5, .memory_mib = 64}, .state = core::VmState::kRunning};
    vms["off"] = {
        .name = "off", .ha = {.priority = 1, .memory_mib = 32}, .state = core::VmState::kShutOff};
    vms["unknown"] = {.name = "unknown", .ha = {.priority = 0, .memory_mib = 16}};
    vms["paused"] = {.name = "paused",
                     .ha = {.priority = 0,
                            .memory_mib = 16,
                            .io_error = core::IoErrorPolicy::kLeavePaused,
                            .storage_domain = "san-b"},
                     .state = core::VmState::kPausedIoError};
    const auto inv = vm_inventory(vms);
    ASSERT_EQ(inv.vms.size(), 2U);
    EXPECT_EQ(inv.vms[0].vm, "paused");
    EXPECT_EQ(inv.vms[1].vm, "run");
    const auto pol = vm_policies(vms);
    ASSERT_EQ(pol.vms.size(), 4U);  // every HA VM defined here has a policy
    EXPECT_EQ(pol.vms[3].name, "unknown");
    EXPECT_EQ(pol.vms[2].priority, 5U);
    EXPECT_EQ(pol.vms[2].memory_mib, 64U);
    // The metadata's I/O-error policy and storage domain reach the core.
    EXPECT_EQ(pol.vms[1].name, "paused");
    EXPECT_EQ(pol.vms[1].io_error, core::IoErrorPolicy::kLeavePaused);
    EXPECT_EQ(pol.vms[1].storage_domain, "san-b");
    EXPECT_EQ(pol.vms[2].io_error, core::IoErrorPolicy::kAutoResume);
    EXPECT_EQ(pol.vms[2].storage_domain, "shared");
}

TEST(HostMapping, IncarnationAlwaysGrows) {
    const auto t = std::chrono::system_clock::time_point(1'000'000s);
    EXPECT_EQ(next_incarnation(std::nullopt, t), 1'000'000'000'000U);
    // The clock stepped back: the counter still grows.
    EXPECT_EQ(next_incarnation(5'000'000'000'000U, t), 5'000'000'000'001U);
    EXPECT_EQ(next_incarnation(3U, t), 1'000'000'000'000U);
}

TEST(HostMapping, IncarnationFileIsStrictlyIncreasingAndRefusedWhenDamaged) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("vigil-inc-" + std::to_string(::getpid()));
    struct Cleanup {
        std::filesystem::path d;
        ~Cleanup() {
            std::error_code ec;
            std::filesystem::remove_all(d, ec);
        }
    } cleanup{dir};
    const auto file = dir / "incarnation";
    const auto t = std::chrono::system_clock::time_point(1000s);
    const auto a = take_incarnation(file, t);
    ASSERT_TRUE(a) << a.error();
    const auto b = take_incarnation(file, t - 500s);  // clock went back
    ASSERT_TRUE(b) << b.error();
    EXPECT_GT(*b, *a);
    std::ofstream(file) << "garbage";
    EXPECT_FALSE(take_incarnation(file, t));
}

TEST(HostMapping, AWatchdogLeftArmedIsOpenedOnlyAtTheFirstAllowedPet) {
    const auto timeout = std::chrono::nanoseconds(5s);
    EXPECT_EQ(reopen_verdict(std::nullopt, 100s, timeout).when, OpenWhen::kAtStart);
    const PetRecord pet{.last_pet_boottime = 100s};
    // However recent the earlier run's last pet, this run pets on its own proof.
    const auto soon = reopen_verdict(pet, 100s + 500ms, timeout);
    EXPECT_EQ(soon.when, OpenWhen::kAtFirstAllowedPet);
    EXPECT_NE(soon.why.find("0.500 s ago (it fires within 4.500 s)"), std::string::npos)
        << soon.why;
    const auto late = reopen_verdict(pet, 106s, timeout);
    EXPECT_EQ(late.when, OpenWhen::kAtFirstAllowedPet);
    EXPECT_NE(late.why.find("should have fired"), std::string::npos) << late.why;
    // From an earlier boot (CLOCK_BOOTTIME started again): that watchdog is gone.
    EXPECT_EQ(reopen_verdict(pet, 10s, timeout).when, OpenWhen::kAtStart);
}

TEST(HostMapping, PetRecordRoundTripsAndRefusesGarbage) {
    const PetRecord r{.last_pet_boottime = 123456789ns};
    const auto back = parse_pet_record(format_pet_record(r));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->last_pet_boottime, r.last_pet_boottime);
    EXPECT_FALSE(parse_pet_record("armed last_pet_boottime_ns=12x"));
    EXPECT_FALSE(parse_pet_record(""));
}

TEST(HostHooks, DecisionsAndOutcomesBecomeHookEvents) {
    using exporters::HookEvent;
    HookMapper m;
    const auto dead = m.on_decision(core::Decision{.kind = core::DecisionKind::kPeerClass,
                                                   .reason = core::Reason::kFenceDelayElapsed,
                                                   .peer = core::HostId{2},
                                                   .peer_class = core::PeerClass::kDead});
    ASSERT_EQ(dead.size(), 1U);
    EXPECT_EQ(dead[0].event, HookEvent::kPeerDead);
    const core::Decision lost{.kind = core::DecisionKind::kAlert,
                              .reason = core::Reason::kQuorumLost,
                              .alert = core::AlertKind::kQuorumLost};
    ASSERT_EQ(m.on_decision(lost).size(), 1U);
    EXPECT_TRUE(m.on_decision(lost).empty());  // once per loss
    EXPECT_TRUE(m.on_decision(core::Decision{.kind = core::DecisionKind::kSelfState,
                                             .self_state = core::SelfState::kIsolated})
                    .empty());
    const auto back = m.on_decision(
        core::Decision{.kind = core::DecisionKind::kSelfState, .self_state = core::SelfState::kOk});
    ASSERT_EQ(back.size(), 1U);
    EXPECT_EQ(back[0].event, HookEvent::kQuorumRegained);
    EXPECT_EQ(m.on_decision(core::Decision{.kind = core::DecisionKind::kSelfFenceReboot})[0].event,
              HookEvent::kSelfFence);
    const auto started = m.on_outcome({.vm = "vm1", .action = core::VmAction::kStart});
    ASSERT_EQ(started.size(), 1U);
    EXPECT_EQ(started[0].event, HookEvent::kVmRestartedHere);
    EXPECT_TRUE(m.on_outcome({.vm = "vm1",
                              .action = core::VmAction::kStart,
                              .outcome = core::ActionOutcome::kFailed})
                    .empty());
    EXPECT_EQ(m.on_outcome({.vm = "vm1", .action = core::VmAction::kResume})[0].event,
              HookEvent::kVmResumed);
}

// A migration's outcome names its target (the executor's): the hook events
// carry it; asking for a migration runs no hook.
TEST(HostHooks, MigrationOutcomesNameTheirTarget) {
    using exporters::HookEvent;
    HookMapper m;
    EXPECT_TRUE(m.on_decision(core::Decision{.kind = core::DecisionKind::kMigrateVm,
                                             .reason = core::Reason::kDrain,
                                             .vm = "dns",
                                             .target = core::HostId{1}})
                    .empty());
    EXPECT_EQ(m.on_outcome({.vm = "web",
                            .action = core::VmAction::kMigrate,
                            .outcome = core::ActionOutcome::kTimedOut,
                            .detail = "aborted after 300000 ms",
                            .target = core::HostId{2}}),
              (std::vector<HookCall>{{HookEvent::kVmMigrationFailed,
                                      {{"vm", "web"},
                                       {"target", "h2"},
                                       {"outcome", "timed-out"},
                                       {"detail", "aborted after 300000 ms"}}}}));
    EXPECT_EQ(
        m.on_outcome({.vm = "dns", .action = core::VmAction::kMigrate, .target = core::HostId{1}}),
        (std::vector<HookCall>{{HookEvent::kVmMigrated, {{"vm", "dns"}, {"target", "h1"}}}}));
    EXPECT_EQ(m.on_outcome({.vm = "dns",
                            .action = core::VmAction::kMigrate,
                            .outcome = core::ActionOutcome::kFailed,
                            .detail = "no migration_uri for h3",
                            .target = core::HostId{3}}),
              (std::vector<HookCall>{{HookEvent::kVmMigrationFailed,
                                      {{"vm", "dns"},
                                       {"target", "h3"},
                                       {"outcome", "failed"},
                                       {"detail", "no migration_uri for h3"}}}}));
    // A migration's stop, or a start, is no migration event.
    EXPECT_TRUE(m.on_outcome({.vm = "dns", .action = core::VmAction::kStop}).empty());
    EXPECT_EQ(m.on_outcome({.vm = "dns", .action = core::VmAction::kStart})[0].event,
              HookEvent::kVmRestartedHere);
}

TEST(HostHooks, EveryHookEventHasItsOwnName) {
    std::set<std::string_view> names;
    for (const auto e : exporters::kAllHookEvents) {
        EXPECT_NE(exporters::name(e), "unknown");
        EXPECT_TRUE(names.insert(exporters::name(e)).second) << exporters::name(e);
    }
    EXPECT_EQ(exporters::name(exporters::HookEvent::kVmMigrated), "vm-migrated");
    EXPECT_EQ(exporters::name(exporters::HookEvent::kVmMigrationFailed), "vm-migration-failed");
}

TEST(HostHooks, EveryDecisionKindHasItsOwnMessageIdFamily) {
    EXPECT_NE(message_id_of(core::DecisionKind::kSelfFenceReboot),
              message_id_of(core::DecisionKind::kPeerClass));
    EXPECT_EQ(message_id_of(core::DecisionKind::kPetStarted),
              message_id_of(core::DecisionKind::kPetStopped));
}

}  // namespace
}  // namespace vigil::host
