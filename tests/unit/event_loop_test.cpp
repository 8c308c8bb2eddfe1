// The event loop's timers (periodic ticks, alarms set again and again) and
// signals delivered through it.
#include "daemon/adapters/event_loop.h"

#include <gtest/gtest.h>

#include <csignal>
#include <optional>
#include <vector>

namespace vigil::adapters {
namespace {

using namespace std::chrono_literals;

TEST(EventLoop, AnAlarmFiresOncePerSettingAndTheLastSettingWins) {
    auto loop = EventLoop::make();
    ASSERT_TRUE(loop.has_value()) << loop.error().message;
    EventLoop& l = **loop;
    std::vector<std::chrono::nanoseconds> fired;
    std::optional<EventLoop::WatchId> alarm;
    auto id = l.add_alarm([&] {
        fired.push_back(monotonic_now());
        // Set again from its own callback: fires once more, then the loop ends.
        if (fired.size() == 1) l.set_alarm(*alarm, monotonic_now() + 20ms);
        if (fired.size() == 2) l.exit(0);
    });
    ASSERT_TRUE(id.has_value()) << id.error().message;
    alarm = *id;
    const auto start = monotonic_now();
    // The later setting replaces the earlier one.
    l.set_alarm(*alarm, start + 10ms);
    l.set_alarm(*alarm, start + 50ms);
    // Only a bound on a broken alarm: a loaded machine may wake late.
    ASSERT_TRUE(l.every(5s, [&] { l.exit(1); }).has_value());
    EXPECT_EQ(l.run(), 0) << "the alarm did not fire twice within 5 s";
    ASSERT_EQ(fired.size(), 2U);
    EXPECT_GE(fired[0] - start, 50ms) << "the earlier 10 ms setting fired";
    EXPECT_GE(fired[1] - fired[0], 20ms);
}

TEST(EventLoop, AnAlarmNeverSetNeverFires) {
    auto loop = EventLoop::make();
    ASSERT_TRUE(loop.has_value()) << loop.error().message;
    EventLoop& l = **loop;
    int fired = 0;
    ASSERT_TRUE(l.add_alarm([&] { ++fired; }).has_value());
    int ticks = 0;
    ASSERT_TRUE(l.every(20ms, [&] {
                     if (++ticks == 3) l.exit(0);
                 }).has_value());
    EXPECT_EQ(l.run(), 0);
    EXPECT_EQ(ticks, 3);
    EXPECT_EQ(fired, 0);
}

TEST(EventLoop, ASignalRunsItsCallbackFromTheLoopEachTimeItArrives) {
    auto loop = EventLoop::make();
    ASSERT_TRUE(loop.has_value()) << loop.error().message;
    EventLoop& l = **loop;
    int hups = 0;
    ASSERT_TRUE(l.on_signal(SIGHUP, [&] {
                     if (++hups == 2) l.exit(0);
                 }).has_value());
    // Blocked now: raising it only queues it for the loop's signalfd. Two
    // deliveries, the second sent from the loop after the first was handled.
    ASSERT_EQ(::raise(SIGHUP), 0);
    ASSERT_TRUE(l.every(10ms, [&] {
                     if (hups == 1) ::raise(SIGHUP);
                 }).has_value());
    ASSERT_TRUE(l.every(5s, [&] { l.exit(1); }).has_value());
    EXPECT_EQ(l.run(), 0) << "SIGHUP did not arrive twice within 5 s";
    EXPECT_EQ(hups, 2);
}

TEST(EventLoop, ATickerTakesANewIntervalFromNow) {
    auto loop = EventLoop::make();
    ASSERT_TRUE(loop.has_value()) << loop.error().message;
    EventLoop& l = **loop;
    std::vector<std::chrono::nanoseconds> ticks;
    std::optional<EventLoop::WatchId> ticker;
    auto id = l.every(10ms, [&] {
        ticks.push_back(l.now());
        if (ticks.size() == 2) l.set_interval(*ticker, 100ms);
        if (ticks.size() == 4) l.exit(0);
    });
    ASSERT_TRUE(id.has_value()) << id.error().message;
    ticker = *id;
    ASSERT_TRUE(l.every(5s, [&] { l.exit(1); }).has_value());
    EXPECT_EQ(l.run(), 0) << "four ticks did not come within 5 s";
    ASSERT_EQ(ticks.size(), 4U);
    // The loop's own time of each wake-up; lower bounds only: a loaded
    // machine may wake late, never early. The ticks after the change keep
    // to a schedule 100 ms apart from the moment of the change (no drift),
    // so a late wake-up shortens the gap to the next one.
    EXPECT_GE(ticks[2] - ticks[1], 100ms);
    EXPECT_GE(ticks[3] - ticks[1], 200ms);
}

}  // namespace
}  // namespace vigil::adapters
