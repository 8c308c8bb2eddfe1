// LinkHealth in simulated time: every step feeds what the daemon would feed
// (rtnetlink signals, a receive-counter reading every 100 ms, ticks) and the
// tests check which transitions come out, when, and with what evidence.
#include <gtest/gtest.h>

#include "daemon/core/decision.h"
#include "daemon/core/link_health.h"

namespace vigil::core {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::int32_t kIf = 7;
constexpr milliseconds kPoll{100};

TimePoint at(milliseconds ms) { return TimePoint(ms); }

class LinkHealthTest : public ::testing::Test {
  protected:
    LinkHealth health{
        LinkThresholds{.down_hold = seconds(1), .up_hold = seconds(2), .idle_after = seconds(5)}};
    milliseconds now{0};
    std::uint64_t rx = 0;
    std::vector<LinkTransition> log;

    void keep(std::optional<LinkTransition> t) {
        if (t) log.push_back(std::move(*t));
    }

    void link(bool carrier, OperState operstate = OperState::kUp, bool admin_up = true) {
        keep(health.observe_link(kIf, LinkSignal{.now = at(now),
                                                 .name = "eth0",
                                                 .admin_up = admin_up,
                                                 .carrier = carrier,
                                                 .operstate = operstate}));
    }

    // Advances simulated time to `until` in poll steps; at each step reads the
    // counter (which grows by `per_poll`) and ticks, as the daemon's timer does.
    void run_until(milliseconds until, std::uint64_t per_poll, bool feed_rx = true) {
        while (now + kPoll <= until) {
            now += kPoll;
            rx += per_poll;
            if (feed_rx) keep(health.observe_rx(kIf, RxSample{.now = at(now), .rx_packets = rx}));
            for (auto& t : health.tick(at(now))) log.push_back(std::move(t));
        }
    }

    // A link that is up and receiving, with the log cleared.
    void start_up_and_receiving() {
        link(true);
        run_until(seconds(3), 10);
        ASSERT_EQ(health.state(kIf), LinkState::kUp);
        log.clear();
    }
};

TEST_F(LinkHealthTest, FirstReportGivesTheInitialStateOnce) {
    link(true);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_FALSE(log[0].from.has_value());
    EXPECT_EQ(log[0].to, LinkState::kUp);
    EXPECT_EQ(log[0].name, "eth0");
    EXPECT_NE(log[0].evidence.find("carrier up"), std::string::npos) << log[0].evidence;
    link(true);
    run_until(seconds(2), 10);
    EXPECT_EQ(log.size(), 1u) << "a steady link must not be reported again";
}

TEST_F(LinkHealthTest, InitiallyWithoutCarrierIsDown) {
    link(false, OperState::kLowerLayerDown);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].to, LinkState::kDown);
}

TEST_F(LinkHealthTest, FlapShorterThanTheHoldIsNoTransition) {
    start_up_and_receiving();
    link(false, OperState::kLowerLayerDown);
    run_until(now + milliseconds(900), 0);
    link(true);
    run_until(now + seconds(3), 10);
    EXPECT_TRUE(log.empty()) << log.front().evidence;
    EXPECT_EQ(health.state(kIf), LinkState::kUp);
}

TEST_F(LinkHealthTest, CarrierLostForTheHoldIsDownOnce) {
    start_up_and_receiving();
    const milliseconds lost = now;
    link(false, OperState::kLowerLayerDown);
    EXPECT_TRUE(log.empty()) << "down must wait for the hold time";
    run_until(lost + seconds(4), 0);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].from, LinkState::kUp);
    EXPECT_EQ(log[0].to, LinkState::kDown);
    EXPECT_EQ(log[0].at, at(lost + seconds(1))) << "reported at the first tick after the hold";
    EXPECT_NE(log[0].evidence.find("no carrier (operstate lowerlayerdown) for 1000 ms"),
              std::string::npos)
        << log[0].evidence;
}

TEST_F(LinkHealthTest, AdministrativelyDownAndDormantAreDown) {
    start_up_and_receiving();
    link(true, OperState::kDown, /*admin_up=*/false);
    run_until(now + seconds(2), 0);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].to, LinkState::kDown);
    EXPECT_NE(log[0].evidence.find("administratively down"), std::string::npos);

    LinkHealth other{LinkThresholds{}};
    ASSERT_TRUE(other.observe_link(1, LinkSignal{.now = at(now),
                                                 .name = "eth1",
                                                 .admin_up = true,
                                                 .carrier = true,
                                                 .operstate = OperState::kDormant}));
    EXPECT_EQ(other.state(1), LinkState::kDown) << "dormant (e.g. 802.1X pending) carries nothing";
}

TEST_F(LinkHealthTest, CarrierUpButNothingReceivedIsIdleAfterTheThreshold) {
    start_up_and_receiving();
    const milliseconds last_packet = now;
    run_until(last_packet + milliseconds(4900), 0);
    EXPECT_TRUE(log.empty()) << "idle before the threshold: " << log.front().evidence;
    run_until(last_packet + seconds(8), 0);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].from, LinkState::kUp);
    EXPECT_EQ(log[0].to, LinkState::kIdle);
    EXPECT_EQ(log[0].at, at(last_packet + seconds(5)));
    EXPECT_NE(log[0].evidence.find("carrier up (operstate up) but no packet received for 5000 ms"),
              std::string::npos)
        << log[0].evidence;
    EXPECT_NE(log[0].evidence.find("rx_packets " + std::to_string(rx)), std::string::npos)
        << log[0].evidence;
}

TEST_F(LinkHealthTest, TrafficResumingIsUpAfterTheHoldButOneStrayPacketIsNot) {
    start_up_and_receiving();
    run_until(now + seconds(6), 0);
    ASSERT_EQ(health.state(kIf), LinkState::kIdle);
    log.clear();

    // One packet, then silence again: still idle.
    run_until(now + kPoll, 1);
    run_until(now + seconds(6), 0);
    EXPECT_TRUE(log.empty()) << log.front().evidence;

    const milliseconds resumed = now + kPoll;
    run_until(now + seconds(4), 10);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].from, LinkState::kIdle);
    EXPECT_EQ(log[0].to, LinkState::kUp);
    EXPECT_EQ(log[0].at, at(resumed + seconds(2)));
    EXPECT_NE(log[0].evidence.find("receiving for 2000 ms"), std::string::npos) << log[0].evidence;
}

TEST_F(LinkHealthTest, DownThenCarrierAndTrafficBackIsUp) {
    start_up_and_receiving();
    link(false, OperState::kLowerLayerDown);
    run_until(now + seconds(2), 0);
    ASSERT_EQ(health.state(kIf), LinkState::kDown);
    log.clear();

    // Back for less than the up hold, then lost again: stays down, no report.
    link(true);
    run_until(now + seconds(1), 10);
    link(false, OperState::kLowerLayerDown);
    run_until(now + seconds(2), 0);
    EXPECT_TRUE(log.empty()) << log.front().evidence;

    const milliseconds back = now;
    link(true);
    run_until(now + seconds(3), 10);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].from, LinkState::kDown);
    EXPECT_EQ(log[0].to, LinkState::kUp);
    EXPECT_GE(log[0].at, at(back + seconds(2)));
    EXPECT_LE(log[0].at, at(back + seconds(2) + kPoll));
}

TEST_F(LinkHealthTest, CarrierBackWithNothingReceivedGoesFromDownToIdle) {
    start_up_and_receiving();
    link(false, OperState::kLowerLayerDown);
    run_until(now + seconds(2), 0);
    log.clear();
    const milliseconds back = now;
    link(true);
    run_until(now + seconds(7), 0);
    ASSERT_EQ(log.size(), 1u) << "never up without traffic";
    EXPECT_EQ(log[0].from, LinkState::kDown);
    EXPECT_EQ(log[0].to, LinkState::kIdle);
    EXPECT_EQ(log[0].at, at(back + seconds(5))) << "the idle clock starts when carrier returns";
}

TEST_F(LinkHealthTest, WithoutReceiveCountersALinkIsNeverIdle) {
    link(true);
    run_until(seconds(30), 0, /*feed_rx=*/false);
    EXPECT_EQ(log.size(), 1u);
    EXPECT_EQ(health.state(kIf), LinkState::kUp);
    const auto views = health.links();
    ASSERT_EQ(views.size(), 1u);
    EXPECT_FALSE(views[0].rx_packets.has_value());
}

TEST_F(LinkHealthTest, CountingStartsTheIdleClock) {
    link(true);
    run_until(seconds(30), 0, /*feed_rx=*/false);
    log.clear();
    const milliseconds first_reading = now + kPoll;
    run_until(now + seconds(6), 0);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].to, LinkState::kIdle);
    EXPECT_EQ(log[0].at, at(first_reading + seconds(5)));
}

TEST_F(LinkHealthTest, ACounterGoingBackwardsIsNoTraffic) {
    start_up_and_receiving();
    run_until(now + seconds(6), 0);
    ASSERT_EQ(health.state(kIf), LinkState::kIdle);
    log.clear();
    now += kPoll;
    keep(health.observe_rx(kIf, RxSample{.now = at(now), .rx_packets = 3}));
    rx = 3;
    run_until(now + seconds(3), 0);
    EXPECT_TRUE(log.empty()) << log.front().evidence;
}

TEST_F(LinkHealthTest, RemovedIsDownOnceAndForgotten) {
    start_up_and_receiving();
    auto t = health.remove(kIf, at(now));
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->from, LinkState::kUp);
    EXPECT_EQ(t->to, LinkState::kDown);
    EXPECT_EQ(t->evidence, "interface removed");
    EXPECT_FALSE(health.state(kIf).has_value());
    EXPECT_FALSE(health.remove(kIf, at(now)).has_value());
    EXPECT_FALSE(health.observe_rx(kIf, RxSample{.now = at(now), .rx_packets = 99}).has_value());
}

TEST(LinkStateNames, AreStable) {
    EXPECT_EQ(std::string(name(LinkState::kUp)), "up");
    EXPECT_EQ(std::string(name(LinkState::kIdle)), "idle");
    EXPECT_EQ(std::string(name(LinkState::kDown)), "down");
    EXPECT_EQ(name(OperState::kLowerLayerDown), "lowerlayerdown");
}

}  // namespace
}  // namespace vigil::core
