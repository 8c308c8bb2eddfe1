#include "daemon/driver/executor.h"

#include <gtest/gtest.h>

#include "tests/unit/driver/fakes.h"

namespace vigil::driver {
namespace {

using namespace std::chrono_literals;
using testing::FakeWorld;
using Calls = std::vector<std::string>;

core::Decision vm_decision(core::DecisionKind kind, std::string vm) {
    return core::Decision{
        .kind = kind, .reason = core::Reason::kAssignedByCoordinator, .vm = std::move(vm)};
}
core::Decision start(std::string vm) {
    return vm_decision(core::DecisionKind::kStartVm, std::move(vm));
}
core::Decision stop(std::string vm) {
    return vm_decision(core::DecisionKind::kStopVm, std::move(vm));
}
core::Decision resume(std::string vm) {
    return vm_decision(core::DecisionKind::kResumeVm, std::move(vm));
}

core::ActionEvidence done(std::string vm, core::VmAction action) {
    return core::ActionEvidence{
        .vm = std::move(vm), .action = action, .outcome = core::ActionOutcome::kDone};
}

class ExecutorTest : public ::testing::Test {
  protected:
    FakeWorld w;
    Executor ex{w.clock, w.hypervisor, w.watchdog, w.fencer};
};

TEST_F(ExecutorTest, AStartDecisionIssuesOneStart) {
    w.clock.advance(3s);
    EXPECT_TRUE(ex.carry_out(start("web")).empty());
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.start web #1"}));
    const auto s = ex.snapshot();
    EXPECT_EQ(s.issued, 1u);
    ASSERT_EQ(s.in_flight.size(), 1u);
    EXPECT_EQ(
        s.in_flight.at("web"),
        (InFlightAction{.id = 1, .action = core::VmAction::kStart, .since = core::TimePoint{3s}}));
}

TEST_F(ExecutorTest, StopAndResumeGoToTheirOwnCalls) {
    (void)ex.carry_out(stop("web"));
    (void)ex.carry_out(resume("db"));
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.stop web #1", "hypervisor.resume db #2"}));
}

// A migration goes to the decision's target, its outcome back as a migration,
// and what waited behind it (a stop the core asked for meanwhile) follows.
TEST_F(ExecutorTest, AMigrationGoesToItsTargetAndItsOutcomeComesBack) {
    auto migrate = vm_decision(core::DecisionKind::kMigrateVm, "web");
    migrate.target = core::HostId{2};
    (void)ex.carry_out(migrate);
    (void)ex.carry_out(migrate);  // asked again while it runs: not issued twice
    auto elsewhere = migrate;
    elsewhere.target = core::HostId{3};
    (void)ex.carry_out(elsewhere);  // nor to another host
    (void)ex.carry_out(stop("web"));
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.migrate web to h2 #1"}));
    const auto r = ex.finish(1, core::ActionEvidence{.vm = "web",
                                                     .action = core::VmAction::kStart,
                                                     .outcome = core::ActionOutcome::kFailed,
                                                     .detail = "connection lost"});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->action, core::VmAction::kMigrate);
    EXPECT_EQ(r->outcome, core::ActionOutcome::kFailed);
    // The outcome names where the migration that ran was to go.
    EXPECT_EQ(r->target, core::HostId{2});
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.migrate web to h2 #1", "hypervisor.stop web #2"}));
    const auto stopped = ex.finish(2, core::ActionEvidence{.vm = "web"});
    ASSERT_TRUE(stopped.has_value());
    EXPECT_FALSE(stopped->target.has_value()) << "only a migration has a target";
    // A migration without a target asks for nothing.
    (void)ex.carry_out(vm_decision(core::DecisionKind::kMigrateVm, "db"));
    EXPECT_EQ(w.log.calls.size(), 2u);
}

TEST_F(ExecutorTest, DecisionsThatAskForNothingAreIgnored) {
    using K = core::DecisionKind;
    for (const auto kind :
         {K::kPetStarted, K::kPetStopped, K::kAssignVm, K::kPeerClass, K::kSelfState, K::kAlert}) {
        EXPECT_TRUE(ex.carry_out(vm_decision(kind, "web")).empty());
    }
    EXPECT_TRUE(w.log.calls.empty());
    EXPECT_EQ(ex.snapshot().issued, 0u);
}

TEST_F(ExecutorTest, TheSameDecisionWhileItsActionRunsIsNotIssuedAgain) {
    (void)ex.carry_out(start("web"));
    EXPECT_TRUE(ex.carry_out(start("web")).empty());
    EXPECT_TRUE(ex.carry_out(start("web")).empty());
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.start web #1"}));
    const auto s = ex.snapshot();
    EXPECT_EQ(s.issued, 1u);
    EXPECT_EQ(s.repeated, 2u);
    EXPECT_TRUE(s.waiting.empty());
}

TEST_F(ExecutorTest, ActionsOnDifferentVmsDoNotWaitForEachOther) {
    (void)ex.carry_out(start("web"));
    (void)ex.carry_out(start("db"));
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.start web #1", "hypervisor.start db #2"}));
}

TEST_F(ExecutorTest, ADifferentActionWaitsAndIsIssuedWhenTheFirstFinishes) {
    (void)ex.carry_out(start("web"));
    EXPECT_TRUE(ex.carry_out(stop("web")).empty());
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.start web #1"}));  // not yet
    EXPECT_EQ(ex.snapshot().waiting.at("web"), core::VmAction::kStop);

    w.clock.advance(2s);
    const auto evidence = ex.finish(1, done("web", core::VmAction::kStart));
    ASSERT_TRUE(evidence.has_value());
    EXPECT_EQ(evidence->vm, "web");
    EXPECT_EQ(evidence->action, core::VmAction::kStart);
    EXPECT_EQ(evidence->outcome, core::ActionOutcome::kDone);
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.start web #1", "hypervisor.stop web #2"}));
    const auto s = ex.snapshot();
    EXPECT_TRUE(s.waiting.empty());
    EXPECT_EQ(
        s.in_flight.at("web"),
        (InFlightAction{.id = 2, .action = core::VmAction::kStop, .since = core::TimePoint{2s}}));
    EXPECT_EQ(s.issued, 2u);
}

TEST_F(ExecutorTest, ANewerWaitingActionSupersedesTheOlderOneWhichIsReportedFailed) {
    (void)ex.carry_out(start("web"));
    EXPECT_TRUE(ex.carry_out(stop("web")).empty());
    const auto dropped = ex.carry_out(resume("web"));
    ASSERT_EQ(dropped.size(), 1u);
    EXPECT_EQ(dropped[0].vm, "web");
    EXPECT_EQ(dropped[0].action, core::VmAction::kStop);
    EXPECT_EQ(dropped[0].outcome, core::ActionOutcome::kFailed);
    EXPECT_EQ(dropped[0].detail, "superseded");
    const auto s = ex.snapshot();
    EXPECT_EQ(s.superseded, 1u);
    EXPECT_EQ(s.waiting.at("web"), core::VmAction::kResume);

    (void)ex.finish(1, done("web", core::VmAction::kStart));
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.start web #1", "hypervisor.resume web #2"}));
}

TEST_F(ExecutorTest, TheWaitingDecisionRepeatedIsNotQueuedTwice) {
    (void)ex.carry_out(start("web"));
    (void)ex.carry_out(stop("web"));
    EXPECT_TRUE(ex.carry_out(stop("web")).empty());
    const auto s = ex.snapshot();
    EXPECT_EQ(s.repeated, 1u);
    EXPECT_EQ(s.superseded, 0u);
    (void)ex.finish(1, done("web", core::VmAction::kStart));
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.start web #1", "hypervisor.stop web #2"}));
}

TEST_F(ExecutorTest, TheRunningActionAskedForAgainDropsTheOneThatWaited) {
    (void)ex.carry_out(resume("web"));
    (void)ex.carry_out(stop("web"));
    const auto dropped = ex.carry_out(resume("web"));  // the core's newest word: resume
    ASSERT_EQ(dropped.size(), 1u);
    EXPECT_EQ(dropped[0].action, core::VmAction::kStop);
    EXPECT_EQ(dropped[0].outcome, core::ActionOutcome::kFailed);
    EXPECT_EQ(dropped[0].detail, "superseded");
    const auto s = ex.snapshot();
    EXPECT_TRUE(s.waiting.empty());
    EXPECT_EQ(s.repeated, 1u);
    EXPECT_EQ(s.superseded, 1u);
    (void)ex.finish(1, done("web", core::VmAction::kResume));
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.resume web #1"}));  // no stop after it
}

TEST_F(ExecutorTest, AnOutcomeWithAnUnknownIdIsIgnored) {
    (void)ex.carry_out(start("web"));
    EXPECT_FALSE(ex.finish(7, done("web", core::VmAction::kStart)).has_value());
    // The right id under another VM's name is not this action's outcome either.
    EXPECT_FALSE(ex.finish(1, done("db", core::VmAction::kStart)).has_value());
    EXPECT_EQ(ex.snapshot().in_flight.at("web").id, 1u);
    // The real one still settles it, once.
    EXPECT_TRUE(ex.finish(1, done("web", core::VmAction::kStart)).has_value());
    EXPECT_FALSE(ex.finish(1, done("web", core::VmAction::kStart)).has_value());
    EXPECT_TRUE(ex.snapshot().in_flight.empty());
}

TEST_F(ExecutorTest, TheOutcomeNamesTheActionThatWasIssued) {
    (void)ex.carry_out(stop("web"));
    const auto evidence = ex.finish(1, core::ActionEvidence{.vm = "web",
                                                            .action = core::VmAction::kStart,
                                                            .outcome = core::ActionOutcome::kFailed,
                                                            .detail = "no such domain"});
    ASSERT_TRUE(evidence.has_value());
    EXPECT_EQ(evidence->action, core::VmAction::kStop);
    EXPECT_EQ(evidence->outcome, core::ActionOutcome::kFailed);
    EXPECT_EQ(evidence->detail, "no such domain");
}

TEST_F(ExecutorTest, ASelfFenceWithholdsThenWritesLastWordsThenReboots) {
    w.clock.advance(16s);
    w.clock.step_wall(-3h);  // only the wall clock stamps the last words
    const core::Decision fence{.kind = core::DecisionKind::kSelfFenceReboot,
                               .reason = core::Reason::kStorageLostIoInFlight,
                               .evidence = {{"lost_for", "6.000"}}};
    EXPECT_TRUE(ex.carry_out(fence).empty());
    EXPECT_EQ(w.log.calls,
              (Calls{"watchdog.withhold self-fencing", "fencer.write_last_words self-fence-reboot",
                     "fencer.reboot_now"}));
    ASSERT_EQ(w.fencer.last_words.size(), 1u);
    EXPECT_EQ(w.fencer.last_words[0].first, fence);
    EXPECT_EQ(w.fencer.last_words[0].second, w.clock.wall());
    EXPECT_TRUE(ex.fenced());
    EXPECT_EQ(ex.snapshot().self_fences, 1u);

    // Nothing more is carried out, a second fence included.
    EXPECT_TRUE(ex.carry_out(start("web")).empty());
    EXPECT_TRUE(ex.carry_out(fence).empty());
    EXPECT_EQ(w.log.calls.size(), 3u);
    EXPECT_EQ(ex.snapshot().self_fences, 1u);
}

TEST_F(ExecutorTest, AfterASelfFenceTheActionThatWaitedIsNotIssued) {
    (void)ex.carry_out(start("web"));
    (void)ex.carry_out(stop("web"));
    (void)ex.carry_out(core::Decision{.kind = core::DecisionKind::kSelfFenceReboot,
                                      .reason = core::Reason::kStorageLostIoInFlight});
    const auto mark = w.log.calls.size();
    (void)ex.finish(1, done("web", core::VmAction::kStart));
    EXPECT_TRUE(w.log.since(mark).empty());
}

}  // namespace
}  // namespace vigil::driver
