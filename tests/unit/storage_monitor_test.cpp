#include <gtest/gtest.h>

#include <cerrno>

#include "daemon/core/storage_monitor.h"

namespace vigil::core {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TimePoint at(milliseconds ms) { return TimePoint(ms); }

class StorageMonitorTest : public ::testing::Test {
  protected:
    StorageMonitor monitor{StorageThresholds{
        .slow = seconds(1), .stall = seconds(3), .error_window = seconds(5), .hold = seconds(1)}};
    StorageSample sample{};

    std::optional<StorageTransition> step(milliseconds now) {
        sample.now = at(now);
        return monitor.observe(sample);
    }
};

TEST(BlockErrorClass, DeviceGoneApartFromTransient) {
    EXPECT_EQ(classify_block_error(EIO), BlockErrorClass::kGone);
    EXPECT_EQ(classify_block_error(ENODATA), BlockErrorClass::kGone);
    EXPECT_EQ(classify_block_error(EREMOTEIO), BlockErrorClass::kGone);
    EXPECT_EQ(classify_block_error(EBADE), BlockErrorClass::kGone);
    EXPECT_EQ(classify_block_error(ENODEV), BlockErrorClass::kGone);
    EXPECT_EQ(classify_block_error(ENOSPC), BlockErrorClass::kNoSpace);
    EXPECT_EQ(classify_block_error(ETIMEDOUT), BlockErrorClass::kTransient);
    EXPECT_EQ(classify_block_error(ENOLINK), BlockErrorClass::kTransient);
    EXPECT_EQ(classify_block_error(EAGAIN), BlockErrorClass::kTransient);
    EXPECT_EQ(classify_block_error(EOPNOTSUPP), BlockErrorClass::kOther);
}

TEST_F(StorageMonitorTest, QuietDeviceStaysOk) {
    for (int t = 0; t < 10000; t += 250) EXPECT_FALSE(step(milliseconds(t)));
    EXPECT_EQ(monitor.health(), StorageHealth::kOk);
}

TEST_F(StorageMonitorTest, StuckRequestDegradesThenStallsThenRecoversAfterHold) {
    sample.in_flight = 1;
    sample.oldest_in_flight = milliseconds(500);
    EXPECT_FALSE(step(milliseconds(500)));
    sample.oldest_in_flight = milliseconds(1000);
    auto tr = step(milliseconds(1000));
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->to, StorageHealth::kDegraded);
    sample.oldest_in_flight = milliseconds(3000);
    tr = step(milliseconds(3000));
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->from, StorageHealth::kDegraded);
    EXPECT_EQ(tr->to, StorageHealth::kStalled);
    EXPECT_NE(tr->evidence.find("3000 ms"), std::string::npos) << tr->evidence;

    // Unblocked: better evidence must hold for a second before the state improves.
    sample.in_flight = 0;
    sample.oldest_in_flight = {};
    EXPECT_FALSE(step(milliseconds(3250)));
    EXPECT_FALSE(step(milliseconds(4000)));
    tr = step(milliseconds(4250));
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->to, StorageHealth::kOk);
}

TEST_F(StorageMonitorTest, BlipShorterThanHoldIsNotReportedAsRecovery) {
    sample.in_flight = 4;
    sample.oldest_in_flight = seconds(4);
    ASSERT_TRUE(step(milliseconds(4000)));
    EXPECT_EQ(monitor.health(), StorageHealth::kStalled);
    sample.in_flight = 0;
    sample.oldest_in_flight = {};
    EXPECT_FALSE(step(milliseconds(4250)));
    sample.in_flight = 4;
    sample.oldest_in_flight = seconds(5);
    EXPECT_FALSE(step(milliseconds(4500)));  // stalled again: no transition, and the hold restarts
    sample.in_flight = 0;
    sample.oldest_in_flight = {};
    EXPECT_FALSE(step(milliseconds(4750)));
    EXPECT_FALSE(step(milliseconds(5500)));
    EXPECT_TRUE(step(milliseconds(5750)));
}

TEST_F(StorageMonitorTest, DeviceErrorsFailAtOnceAndAgeOut) {
    sample.gone_errors = 1;
    auto tr = step(milliseconds(100));
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->to, StorageHealth::kFailed);
    EXPECT_FALSE(step(milliseconds(5000)));
    // The window (5 s) ends at 5100, then the hold (1 s).
    EXPECT_FALSE(step(milliseconds(5200)));
    EXPECT_FALSE(step(milliseconds(6100)));
    tr = step(milliseconds(6200));
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->to, StorageHealth::kOk);
}

TEST_F(StorageMonitorTest, NoSpaceAndTransientHaveTheirOwnStates) {
    sample.no_space_errors = 3;
    auto tr = step(milliseconds(100));
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->to, StorageHealth::kNoSpace);
    sample.gone_errors = 1;
    tr = step(milliseconds(200));
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->to, StorageHealth::kFailed) << "device errors outrank a full volume";

    StorageMonitor other{StorageThresholds{}};
    StorageSample s{.now = at(milliseconds(10)), .transient_errors = 2};
    tr = other.observe(s);
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->to, StorageHealth::kDegraded);
}

}  // namespace
}  // namespace vigil::core

namespace vigil::core {
namespace {

TEST(ProgressClock, CountsTimeWithoutProgressWhileRequestsWait) {
    using std::chrono::milliseconds;
    ProgressClock clock;
    auto at = [](int ms) { return TimePoint(milliseconds(ms)); };
    // Busy time that does not say when the requests arrived (they come after
    // completions) leaves the clock starting at the sample.
    EXPECT_EQ(clock.observe(at(0), 0, 100, milliseconds(0)), Duration::zero());
    EXPECT_EQ(clock.observe(at(250), 1, 101, milliseconds(200)), Duration::zero())
        << "first seen waiting, after a completion";
    EXPECT_EQ(clock.observe(at(500), 1, 101, milliseconds(450)), milliseconds(250));
    EXPECT_EQ(clock.observe(at(1250), 3, 101, milliseconds(1200)), milliseconds(1000))
        << "more waiting, still none done";
    EXPECT_EQ(clock.observe(at(1500), 2, 102, milliseconds(1450)), Duration::zero())
        << "progress restarts the clock";
    EXPECT_EQ(clock.observe(at(1750), 2, 102, milliseconds(1700)), milliseconds(250));
    EXPECT_EQ(clock.observe(at(2000), 0, 104, milliseconds(1900)), Duration::zero())
        << "nothing waits";
}

TEST(ProgressClock, BusyTimeSinceAnIdleSampleDatesTheFirstWaitingRequest) {
    using std::chrono::milliseconds;
    ProgressClock clock;
    auto at = [](int ms) { return TimePoint(milliseconds(ms)); };
    EXPECT_EQ(clock.observe(at(0), 0, 100, milliseconds(5000)), Duration::zero());
    // Idle at 0, nothing completed since, busy for 180 ms: the request has
    // waited since 70.
    EXPECT_EQ(clock.observe(at(250), 1, 100, milliseconds(5180)), milliseconds(180));
    EXPECT_EQ(clock.observe(at(500), 1, 100, milliseconds(5430)), milliseconds(430));
    EXPECT_EQ(clock.observe(at(1000), 1, 100, milliseconds(5930)), milliseconds(930));
}

TEST(ProgressClock, DistrustsBusyTimeThatCannotBeRight) {
    using std::chrono::milliseconds;
    auto at = [](int ms) { return TimePoint(milliseconds(ms)); };
    {
        ProgressClock clock;
        (void)clock.observe(at(0), 0, 100, milliseconds(5000));
        EXPECT_EQ(clock.observe(at(250), 1, 100, milliseconds(9000)), milliseconds(250))
            << "more busy time than wall time: capped at the interval";
    }
    {
        ProgressClock clock;
        (void)clock.observe(at(0), 0, 100, milliseconds(5000));
        EXPECT_EQ(clock.observe(at(250), 1, 100, milliseconds(10)), Duration::zero())
            << "a counter that went backwards (device replaced) dates nothing";
    }
    {
        ProgressClock clock;
        EXPECT_EQ(clock.observe(at(250), 1, 100, milliseconds(10)), Duration::zero())
            << "the first sample has nothing to compare with";
    }
}

TEST(StorageThresholds, TheNextCrossingIsTheNearestThresholdNotYetReached) {
    using std::chrono::milliseconds;
    const StorageThresholds t{.slow = milliseconds(300), .stall = milliseconds(1000)};
    StorageSample s{.in_flight = 1, .oldest_in_flight = milliseconds(100)};
    EXPECT_EQ(until_next_threshold(t, s), milliseconds(200));
    s.oldest_in_flight = milliseconds(300);
    EXPECT_EQ(until_next_threshold(t, s), milliseconds(700));
    s.oldest_in_flight = milliseconds(1000);
    EXPECT_EQ(until_next_threshold(t, s), std::nullopt) << "stalled already";
    s.in_flight = 0;
    s.oldest_in_flight = Duration::zero();
    EXPECT_EQ(until_next_threshold(t, s), std::nullopt) << "nothing waits";
}

TEST_F(StorageMonitorTest, ProbeIssuedAfterTheLastErrorAnswersWhileTheWindowRuns) {
    sample.gone_errors = 1;
    ASSERT_TRUE(step(milliseconds(1000)));
    EXPECT_EQ(monitor.health(), StorageHealth::kFailed);
    EXPECT_FALSE(monitor.answering());
    // A probe issued before the error proves nothing about the storage since.
    sample.probe_ok_issued = at(milliseconds(750));
    EXPECT_FALSE(step(milliseconds(1250)));
    EXPECT_FALSE(monitor.answering());
    // Issued at the sample that counted the error, after its counters were read.
    sample.probe_ok_issued = at(milliseconds(1000));
    EXPECT_FALSE(step(milliseconds(1500)));
    EXPECT_TRUE(monitor.answering());
    // The health keeps its window and hold.
    EXPECT_EQ(monitor.health(), StorageHealth::kFailed);
    // A new error of any class takes the answer back until a later probe.
    sample.no_space_errors = 1;
    EXPECT_FALSE(step(milliseconds(1750)));
    EXPECT_FALSE(monitor.answering());
    sample.probe_ok_issued = at(milliseconds(1750));
    EXPECT_FALSE(step(milliseconds(2000)));
    EXPECT_TRUE(monitor.answering());
    // Once the state is better, there is nothing left to answer for.
    for (int t = 2250; t <= 10000; t += 250) (void)step(milliseconds(t));
    EXPECT_EQ(monitor.health(), StorageHealth::kOk);
    EXPECT_FALSE(monitor.answering());
}

}  // namespace
}  // namespace vigil::core
