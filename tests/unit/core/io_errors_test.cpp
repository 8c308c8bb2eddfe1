#include "daemon/core/io_errors.h"

#include <gtest/gtest.h>

namespace vigil::core {
namespace {

using namespace std::chrono_literals;

TimePoint t(double seconds) {
    return TimePoint{std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds))};
}

PausedVm paused(IoErrorPolicy policy, bool writable, bool in_flight = false) {
    return PausedVm{.name = "db",
                    .policy = policy,
                    .domain = "shared",
                    .domain_writable = writable,
                    .io_in_flight = in_flight};
}

TEST(IoErrorsTest, AutoResumeOnceWritableAndAgainIfItDidNotTake) {
    IoErrorResponder r(5s);
    auto out = r.respond(t(0), {paused(IoErrorPolicy::kAutoResume, false)}, false, true);
    EXPECT_TRUE(out.decisions.empty());
    ASSERT_EQ(out.alerts.size(), 1u);
    EXPECT_EQ(out.alerts[0].key, "vm-io-error:db");

    out = r.respond(t(1), {paused(IoErrorPolicy::kAutoResume, true)}, false, true);
    ASSERT_EQ(out.decisions.size(), 1u);
    EXPECT_EQ(out.decisions[0].kind, DecisionKind::kResumeVm);
    EXPECT_EQ(out.decisions[0].reason, Reason::kStorageBack);
    EXPECT_TRUE(r.respond(t(5.9), {paused(IoErrorPolicy::kAutoResume, true)}, false, true)
                    .decisions.empty());
    EXPECT_EQ(
        r.respond(t(6), {paused(IoErrorPolicy::kAutoResume, true)}, false, true).decisions.size(),
        1u);
    // It ran, then paused again: a new resume at once.
    r.on_vm_state("db", VmState::kRunning);
    EXPECT_EQ(
        r.respond(t(7), {paused(IoErrorPolicy::kAutoResume, true)}, false, true).decisions.size(),
        1u);
}

TEST(IoErrorsTest, LeavePausedOnlyRaisesAnAlert) {
    IoErrorResponder r(5s);
    const auto out = r.respond(t(0), {paused(IoErrorPolicy::kLeavePaused, true)}, true, true);
    EXPECT_TRUE(out.decisions.empty());
    ASSERT_EQ(out.alerts.size(), 2u);
    EXPECT_EQ(out.alerts[1].kind, AlertKind::kVmLeftPaused);
}

TEST(IoErrorsTest, RecoverElsewhereStopsOnlyALocalProblemWhileQuorateWithNothingInFlight) {
    IoErrorResponder r(5s);
    const auto vm = paused(IoErrorPolicy::kRecoverElsewhere, false);
    EXPECT_TRUE(r.respond(t(0), {vm}, false, true).decisions.empty());  // everyone has it
    EXPECT_TRUE(r.respond(t(0), {vm}, true, false).decisions.empty());  // nobody could place it
    EXPECT_TRUE(r.respond(t(0), {paused(IoErrorPolicy::kRecoverElsewhere, false, true)}, true, true)
                    .decisions.empty());
    const auto out = r.respond(t(0), {vm}, true, true);
    ASSERT_EQ(out.decisions.size(), 1u);
    EXPECT_EQ(out.decisions[0].kind, DecisionKind::kStopVm);
    EXPECT_EQ(out.decisions[0].reason, Reason::kIoErrorPolicyRecoverElsewhere);
}

}  // namespace
}  // namespace vigil::core
