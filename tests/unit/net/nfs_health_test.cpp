// NfsHealth in simulated time, from scripted mountstats readings every 250
// ms: what makes a mount degraded, stalled and gone, when it comes back, and
// what must not count as evidence (remounts, idleness, retransmitted
// requests once answered).
#include <gtest/gtest.h>

#include "daemon/core/nfs_health.h"

namespace vigil::core {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kMount = "/var/lib/libvirt/images/shared";

class NfsHealthTest : public ::testing::Test {
  protected:
    NfsHealth health{NfsThresholds{.slow_rtt = milliseconds(100),
                                   .stall = seconds(2),
                                   .error_window = seconds(3),
                                   .hold = seconds(1),
                                   .forget_after = seconds(10)}};
    NfsMountSample sample{.mount = kMount,
                          .device = "10.20.0.5:/srv/vmstore",
                          .age = seconds(100),
                          .counters = {.ops = 1000,
                                       .retransmissions = 0,
                                       .major_timeouts = 0,
                                       .rtt = milliseconds(5000),
                                       .has_transport = true,
                                       .sends = 1010,
                                       .receives = 1000}};
    milliseconds now{0};
    std::vector<NfsTransition> seen;  // every transition so far, in order

    NfsUpdate feed(const std::vector<NfsMountSample>& mounts) {
        NfsUpdate u = health.observe(TimePoint(now), mounts);
        seen.insert(seen.end(), u.transitions.begin(), u.transitions.end());
        return u;
    }

    // One reading 250 ms after the last, after `change` has moved the counters.
    template <class F>
    NfsUpdate step(F&& change) {
        now += milliseconds(250);
        change(sample.counters);
        if (sample.age) *sample.age += milliseconds(250);
        return feed({sample});
    }
    NfsUpdate step() {
        return step([](NfsCounters&) {});
    }

    // Healthy traffic: operations sent, answered and completed in the interval.
    static void progress(NfsCounters& c, std::uint64_t n = 10) {
        c.ops += n;
        c.sends += n;
        c.receives += n;
        c.rtt += milliseconds(2) * n;
    }

    NfsMountState state() const {
        for (const auto& m : health.mounts()) {
            if (m.mount == kMount) return m.state;
        }
        ADD_FAILURE() << "no mount " << kMount;
        return NfsMountState::kGone;
    }

    NfsMountView view() const {
        for (const auto& m : health.mounts()) {
            if (m.mount == kMount) return m;
        }
        ADD_FAILURE() << "no mount " << kMount;
        return {};
    }

    void start() {
        const auto u = feed({sample});
        ASSERT_EQ(u.transitions.size(), 1u);
        EXPECT_FALSE(u.transitions[0].from.has_value());
        EXPECT_EQ(u.transitions[0].to, NfsMountState::kOk);
        EXPECT_NE(u.transitions[0].evidence.find("first seen: 10.20.0.5:/srv/vmstore"),
                  std::string::npos)
            << u.transitions[0].evidence;
    }
};

TEST_F(NfsHealthTest, HealthyProgressStaysOkAndReportsOnlyTheFirstSighting) {
    start();
    for (int i = 0; i < 40; ++i) {
        EXPECT_TRUE(step([](NfsCounters& c) { progress(c); }).transitions.empty()) << i;
    }
    EXPECT_EQ(seen.size(), 1u);
    const auto v = view();
    EXPECT_EQ(v.counters.ops, 1400u);
    EXPECT_EQ(v.unanswered, 0u);
    ASSERT_TRUE(v.mean_rtt.has_value());
    EXPECT_EQ(*v.mean_rtt, milliseconds(2));
}

TEST_F(NfsHealthTest, AnIdleMountNeverStalls) {
    start();
    // sends - receives is 10 from before vigil looked: a baseline, not waiting.
    for (int i = 0; i < 240; ++i) (void)step();
    EXPECT_EQ(seen.size(), 1u);
    EXPECT_EQ(state(), NfsMountState::kOk);
    EXPECT_EQ(view().unanswered, 0u);
}

TEST_F(NfsHealthTest, RetransmissionsDegradeAtOnceAndRecoverAfterTheWindowAndHold) {
    start();
    (void)step([](NfsCounters& c) { progress(c); });
    const auto u = step([](NfsCounters& c) {
        progress(c, 4);
        c.retransmissions += 2;
        c.sends += 2;
    });
    ASSERT_EQ(u.transitions.size(), 1u);
    const auto& t = u.transitions[0];
    EXPECT_EQ(t.from, NfsMountState::kOk);
    EXPECT_EQ(t.to, NfsMountState::kDegraded);
    EXPECT_EQ(t.at, TimePoint(milliseconds(500)));
    EXPECT_NE(t.evidence.find("retransmissions +2"), std::string::npos) << t.evidence;
    EXPECT_NE(t.evidence.find("ops +4"), std::string::npos) << t.evidence;
    EXPECT_EQ(view().unanswered, 0u) << "the retransmitted requests were answered";

    // The window (3 s) runs out at 3.5 s; ok must then hold for 1 s: 4.5 s.
    while (now < milliseconds(4250)) {
        EXPECT_TRUE(step([](NfsCounters& c) { progress(c); }).transitions.empty()) << now.count();
    }
    const auto back = step([](NfsCounters& c) { progress(c); });
    ASSERT_EQ(back.transitions.size(), 1u) << now.count();
    EXPECT_EQ(back.transitions[0].to, NfsMountState::kOk);
    EXPECT_EQ(back.transitions[0].at, TimePoint(milliseconds(4500)));
}

TEST_F(NfsHealthTest, SlowRepliesDegrade) {
    start();
    const auto u = step([](NfsCounters& c) {
        progress(c, 2);
        c.rtt += milliseconds(600);  // 2 replies, 302 ms each on average
    });
    ASSERT_EQ(u.transitions.size(), 1u);
    EXPECT_EQ(u.transitions[0].to, NfsMountState::kDegraded);
    EXPECT_NE(u.transitions[0].evidence.find("mean reply time 302 ms"), std::string::npos)
        << u.transitions[0].evidence;
    // Fast replies again: ok after the hold, not before.
    for (int i = 0; i < 4; ++i) {
        EXPECT_TRUE(step([](NfsCounters& c) { progress(c); }).transitions.empty()) << i;
    }
    const auto back = step([](NfsCounters& c) { progress(c); });
    ASSERT_EQ(back.transitions.size(), 1u);
    EXPECT_EQ(back.transitions[0].to, NfsMountState::kOk);
}

TEST_F(NfsHealthTest, RequestsUnansweredWithoutProgressStallWithinTheThreshold) {
    start();
    (void)step([](NfsCounters& c) { progress(c); });
    // The server answers 5 of the 8 requests sent in this interval, then nothing.
    (void)step([](NfsCounters& c) {
        c.ops += 5;
        c.sends += 8;
        c.receives += 5;
    });
    const milliseconds last_progress = now;
    EXPECT_EQ(view().unanswered, 3u);
    while (now < last_progress + milliseconds(1750)) {
        EXPECT_TRUE(step().transitions.empty()) << now.count();
        EXPECT_EQ(state(), NfsMountState::kOk);
    }
    const auto u = step();
    ASSERT_EQ(u.transitions.size(), 1u);
    EXPECT_EQ(u.transitions[0].to, NfsMountState::kStalled);
    EXPECT_EQ(u.transitions[0].at, TimePoint(last_progress + seconds(2)));
    EXPECT_NE(u.transitions[0].evidence.find("3 requests sent and unanswered"), std::string::npos)
        << u.transitions[0].evidence;
    EXPECT_NE(u.transitions[0].evidence.find("for 2000 ms"), std::string::npos)
        << u.transitions[0].evidence;
    // The interval that last made progress: 8 sent, 5 answered.
    EXPECT_NE(u.transitions[0].evidence.find("sends +8, replies +5, ops +5"), std::string::npos)
        << u.transitions[0].evidence;
    EXPECT_EQ(view().waiting, seconds(2));

    // A retransmission (timeo) while stalled changes nothing.
    EXPECT_TRUE(step([](NfsCounters& c) { c.sends += 1; }).transitions.empty());
    EXPECT_EQ(view().unanswered, 4u);

    // The server answers: the retransmitted request completes with its
    // retransmission counted. Retransmissions within the window: degraded,
    // which is better than stalled, so only after the hold.
    EXPECT_TRUE(step([](NfsCounters& c) {
                    c.ops += 3;
                    c.receives += 3;
                    c.retransmissions += 1;
                }).transitions.empty());
    EXPECT_EQ(view().unanswered, 0u);
    const milliseconds answered = now;
    while (now < answered + milliseconds(750)) {
        EXPECT_TRUE(step([](NfsCounters& c) { progress(c); }).transitions.empty());
    }
    const auto better = step([](NfsCounters& c) { progress(c); });
    ASSERT_EQ(better.transitions.size(), 1u);
    EXPECT_EQ(better.transitions[0].from, NfsMountState::kStalled);
    EXPECT_EQ(better.transitions[0].to, NfsMountState::kDegraded);
    EXPECT_EQ(better.transitions[0].at, TimePoint(answered + seconds(1)));
}

TEST_F(NfsHealthTest, AnsweredRetransmissionsLeaveNoPhantomRequest) {
    start();
    // A request sent, sent again after a timeout, and answered once: the
    // transport has one send more than replies for good.
    (void)step([](NfsCounters& c) { c.sends += 1; });
    (void)step([](NfsCounters& c) { c.sends += 1; });
    (void)step([](NfsCounters& c) {
        c.ops += 1;
        c.receives += 1;
        c.retransmissions += 1;
    });
    EXPECT_EQ(view().unanswered, 0u);
    for (int i = 0; i < 80; ++i) (void)step();
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[1].to, NfsMountState::kDegraded);
    EXPECT_EQ(seen[2].to, NfsMountState::kOk);
}

TEST_F(NfsHealthTest, MajorTimeoutsStallAtOnceAndAbandonedRequestsAreNotWaitedFor) {
    start();
    // A soft mount: a request sent three times, never answered, then given up.
    for (int i = 0; i < 3; ++i) (void)step([](NfsCounters& c) { c.sends += 1; });
    const auto u = step([](NfsCounters& c) {
        c.ops += 1;
        c.retransmissions += 2;
        c.major_timeouts += 1;
    });
    ASSERT_EQ(u.transitions.size(), 1u);
    EXPECT_EQ(u.transitions[0].to, NfsMountState::kStalled);
    EXPECT_NE(u.transitions[0].evidence.find("major timeouts +1"), std::string::npos)
        << u.transitions[0].evidence;
    EXPECT_EQ(view().unanswered, 0u);
    // Window 3 s plus hold 1 s, and no phantom wait after it.
    for (int i = 0; i < 15; ++i) EXPECT_TRUE(step().transitions.empty()) << i;
    const auto back = step();
    ASSERT_EQ(back.transitions.size(), 1u);
    EXPECT_EQ(back.transitions[0].to, NfsMountState::kOk);
    for (int i = 0; i < 40; ++i) EXPECT_TRUE(step().transitions.empty()) << i;
}

TEST_F(NfsHealthTest, ARemountIsNotEvidence) {
    start();
    (void)step([](NfsCounters& c) { progress(c); });
    // Unmounted and mounted again between two readings: every counter
    // starts again, the age too.
    sample.age = seconds(1);
    sample.counters = {.ops = 3,
                       .retransmissions = 0,
                       .major_timeouts = 0,
                       .rtt = milliseconds(3),
                       .has_transport = true,
                       .sends = 3,
                       .receives = 3};
    now += milliseconds(250);
    EXPECT_TRUE(feed({sample}).transitions.empty());
    EXPECT_EQ(view().resets, 1u);
    EXPECT_EQ(view().unanswered, 0u);
    for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(step([](NfsCounters& c) { progress(c); }).transitions.empty()) << i;
    }
    EXPECT_EQ(view().counters.ops, 203u);

    // Only the age tells: a remount between readings that did more work
    // than before. No delta may be taken across it.
    sample.age = seconds(2);
    sample.counters.retransmissions += 50;
    sample.counters.sends += 500;
    now += milliseconds(250);
    EXPECT_TRUE(feed({sample}).transitions.empty());
    EXPECT_EQ(view().resets, 2u);
    EXPECT_EQ(state(), NfsMountState::kOk);
}

TEST_F(NfsHealthTest, AVanishedMountIsGoneOnceThenForgotten) {
    start();
    (void)step([](NfsCounters& c) { progress(c); });
    now += milliseconds(250);
    auto u = feed({});
    ASSERT_EQ(u.transitions.size(), 1u);
    EXPECT_EQ(u.transitions[0].from, NfsMountState::kOk);
    EXPECT_EQ(u.transitions[0].to, NfsMountState::kGone);
    EXPECT_EQ(u.transitions[0].mount, kMount);
    EXPECT_EQ(state(), NfsMountState::kGone);
    const milliseconds gone_at = now;
    while (now < gone_at + seconds(10) - milliseconds(250)) {
        now += milliseconds(250);
        u = feed({});
        EXPECT_TRUE(u.transitions.empty());
        EXPECT_TRUE(u.forgotten.empty());
    }
    now += milliseconds(250);
    u = feed({});
    EXPECT_TRUE(u.transitions.empty());
    ASSERT_EQ(u.forgotten.size(), 1u);
    EXPECT_EQ(u.forgotten[0], kMount);
    EXPECT_TRUE(health.mounts().empty());
    now += milliseconds(250);
    EXPECT_TRUE(feed({}).forgotten.empty());
}

TEST_F(NfsHealthTest, AMountBackBeforeItIsForgottenIsANewMount) {
    start();
    // Stalled, then unmounted (umount -f), then mounted again.
    (void)step([](NfsCounters& c) { c.sends += 4; });
    for (int i = 0; i < 8; ++i) (void)step();
    ASSERT_EQ(state(), NfsMountState::kStalled);
    now += milliseconds(250);
    (void)feed({});
    ASSERT_EQ(state(), NfsMountState::kGone);
    sample.age = seconds(0);
    sample.counters = {.has_transport = true};
    now += milliseconds(250);
    const auto u = feed({sample});
    ASSERT_EQ(u.transitions.size(), 1u);
    EXPECT_EQ(u.transitions[0].from, NfsMountState::kGone);
    EXPECT_EQ(u.transitions[0].to, NfsMountState::kOk);
    EXPECT_NE(u.transitions[0].evidence.find("mounted again"), std::string::npos);
    for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(step([](NfsCounters& c) { progress(c); }).transitions.empty()) << i;
    }
}

TEST_F(NfsHealthTest, WithoutATransportLineOnlyCompletedOperationsTell) {
    sample.counters.has_transport = false;
    sample.counters.sends = 0;
    sample.counters.receives = 0;
    start();
    for (int i = 0; i < 40; ++i) EXPECT_TRUE(step().transitions.empty());
    EXPECT_EQ(view().unanswered, 0u);
    const auto u = step([](NfsCounters& c) {
        c.ops += 1;
        c.major_timeouts += 1;
    });
    ASSERT_EQ(u.transitions.size(), 1u);
    EXPECT_EQ(u.transitions[0].to, NfsMountState::kStalled);
}

TEST_F(NfsHealthTest, MountsAreJudgedApartAndTheTopOfAStackWins) {
    NfsMountSample other = sample;
    other.mount = "/mnt/backup";
    other.device = "10.20.0.6:/backup";
    NfsMountSample under = sample;
    under.device = "10.20.0.9:/hidden";
    now = milliseconds(0);
    auto u = feed({under, sample, other});
    EXPECT_EQ(u.transitions.size(), 2u);
    EXPECT_EQ(view().device, "10.20.0.5:/srv/vmstore");
    now += milliseconds(250);
    other.counters.major_timeouts += 1;
    other.counters.ops += 1;
    sample.counters.ops += 5;
    sample.counters.sends += 5;
    sample.counters.receives += 5;
    u = feed({sample, other});
    ASSERT_EQ(u.transitions.size(), 1u);
    EXPECT_EQ(u.transitions[0].mount, "/mnt/backup");
    EXPECT_EQ(u.transitions[0].to, NfsMountState::kStalled);
    EXPECT_EQ(state(), NfsMountState::kOk);
}

TEST(NfsMountState, NamesAndStorageHealth) {
    EXPECT_EQ(std::string(name(NfsMountState::kOk)), "ok");
    EXPECT_EQ(std::string(name(NfsMountState::kDegraded)), "degraded");
    EXPECT_EQ(std::string(name(NfsMountState::kStalled)), "stalled");
    EXPECT_EQ(std::string(name(NfsMountState::kGone)), "gone");
    EXPECT_EQ(storage_health(NfsMountState::kStalled), StorageHealth::kStalled);
    EXPECT_EQ(storage_health(NfsMountState::kDegraded), StorageHealth::kDegraded);
    EXPECT_EQ(storage_health(NfsMountState::kOk), StorageHealth::kOk);
    EXPECT_FALSE(storage_health(NfsMountState::kGone).has_value());
}

}  // namespace
}  // namespace vigil::core
