// Tests of the simulator itself: that its checker catches what it claims to, and
// that the driver it runs learns outcomes only from the world, never inside its own
// calls.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "tests/sim/world.h"

namespace vigil::sim {
namespace {

const std::filesystem::path kScenarios = VIGIL_SIM_SCENARIOS;

Scenario load(const std::string& name) {
    auto s = load_scenario(kScenarios / name);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error());
    return s ? std::move(*s) : Scenario{};
}

bool any_contains(const std::vector<std::string>& lines, const std::string& what) {
    return std::ranges::any_of(lines, [&](const std::string& l) { return l.find(what) != l.npos; });
}

TEST(SimCheckerTest, CatchesAStaleWriteWhenTheCoreIgnoresInFlightIo) {
    // As it is: h3 reboots, nothing it queued lands.
    World good(load("x15-no-stale-write-after-restart"));
    const auto ok = good.run();
    EXPECT_TRUE(ok.violations.empty());
    // The same timeline with the in-flight counter broken: the core believes nothing
    // is in flight, destroys and releases the VMs, and their queued writes land at
    // 35 s on disks that run elsewhere by then.
    auto broken = load("x15-no-stale-write-after-restart");
    broken.broken_in_flight_counter = true;
    World bad(std::move(broken));
    const auto r = bad.run();
    EXPECT_TRUE(any_contains(r.violations, "destroyed instance landed after it started again"))
        << (r.violations.empty() ? "no violation" : r.violations.front());
    for (const auto& v : r.violations) EXPECT_NE(v.find("35.000"), std::string::npos) << v;
}

TEST(SimCheckerTest, CatchesAResetCausedByAnOutageThatEndedBeforeIt) {
    Scenario s = load("f01-power-loss");
    s.timeline.clear();
    for (const char* e : {"10 storage-fail all", "13 storage-heal all"}) {
        ASSERT_TRUE(parse_timeline(e, s).has_value());
    }
    // As it is: a short outage fences nobody.
    World good(s);
    EXPECT_TRUE(good.run().violations.empty());
    // A core that stops petting once it knows of the outage (12 s) is reset by its
    // watchdog at about 17 s, after the array came back at 13 s: still a fence caused
    // by the outage.
    s.broken_stops_petting_in_outage = true;
    World bad(std::move(s));
    const auto r = bad.run();
    ASSERT_FALSE(r.violations.empty());
    EXPECT_TRUE(
        any_contains(r.violations, "fenced (watchdog-reset) by a cluster-wide storage outage"))
        << r.violations.front();
    EXPECT_EQ(r.violations.front().substr(0, 3), "16.");
}

TEST(SimCheckerTest, CatchesARestartedDaemonThatDoesNotPetOnItsFirstProof) {
    // As it is: h2's restarted vigild pets when its first status comes back (18.8 s);
    // h3's comes back too late (26.1 s) for the pet its crashed run left (20.6 s), so
    // its reset at 25.6 s is the crash's, not a fence.
    World good(load("x20-restart-in-outage-with-late-deliveries"));
    EXPECT_TRUE(good.run().violations.empty());
    // A restarted vigild that never pets: h2 has had its proof at 18.8 s and is
    // reset at 19.8 s during the outage, a fence; h3 still is not.
    auto broken = load("x20-restart-in-outage-with-late-deliveries");
    broken.broken_restarted_daemon_never_pets = true;
    World bad(std::move(broken));
    const auto r = bad.run();
    ASSERT_EQ(r.violations.size(), 1u);
    EXPECT_EQ(r.violations.front(),
              "19.800 h2 fenced (watchdog-reset) by a cluster-wide storage outage while quorate");
}

TEST(SimCheckerTest, CatchesAThawedDaemonThatDoesNotPetOnItsFirstProof) {
    // As it is: h2 thaws at 32.2 s with its proof from before the freeze; its watchdog
    // fires at 32.6 s, when the status it sent after the thaw comes back: the
    // freeze's reset, not a fence.
    World good(load("x22-thaw-in-outage-with-late-deliveries"));
    EXPECT_TRUE(good.run().violations.empty());
    // With a 7 s watchdog h2 lives until 33.6 s: heard again at 32.6 s, it pets.
    auto longer = load("x22-thaw-in-outage-with-late-deliveries");
    longer.policy.watchdog_timeout = std::chrono::seconds{7};
    World lives(longer);
    const auto ok = lives.run();
    EXPECT_TRUE(ok.violations.empty()) << ok.violations.front();
    // A thawed vigild that never pets, heard at 32.6 s, is reset at 33.6 s during
    // the outage: a fence, and reported.
    longer.broken_thawed_daemon_never_pets = true;
    World bad(std::move(longer));
    const auto r = bad.run();
    ASSERT_EQ(r.violations.size(), 1u);
    EXPECT_EQ(r.violations.front(),
              "33.600 h2 fenced (watchdog-reset) by a cluster-wide storage outage while quorate");
}

TEST(SimDriverTest, OutcomesArriveOnlyAfterTheCallsThatAskedForThem) {
    World w(load("x10-failed-start-replanned"));
    std::size_t heartbeats = 0;
    std::vector<std::string> early;  // heartbeats off their host's phase
    std::size_t starts_seen_in_flight = 0;
    std::map<std::uint32_t, Duration> beat_at;
    std::size_t delivered_after_step = 0;
    w.set_after_heartbeat([&](std::uint32_t host) {
        const auto* d = w.driver_of(host);
        ASSERT_NE(d, nullptr);
        const auto snap = d->snapshot();
        ++heartbeats;
        beat_at[host] = w.now();
        // The phases: h1 at whole seconds, h2 0.3 s later, h3 0.6 s.
        const auto phase = std::chrono::milliseconds{300} * (host - 1);
        if ((w.now() - phase) % std::chrono::seconds{1} != Duration::zero()) {
            early.push_back(
                "h" + std::to_string(host) + "@" +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(w.now()).count()));
        }
        // Our own status was broadcast in this heartbeat: it cannot be back yet.
        if (snap.own_delivered) {
            EXPECT_LT(snap.own_delivered->time_since_epoch(), w.now());
        }
        // Every action issued in this heartbeat is still waiting for its outcome.
        for (const auto& [vm, a] : snap.executor.in_flight) {
            if (a.since.time_since_epoch() == w.now()) ++starts_seen_in_flight;
        }
    });
    w.begin();
    while (!w.done()) {
        w.step();
        // Once the world has stepped, the own message of each host that beat in this
        // step has come back (the cluster is quorate and whole until 10 s).
        for (const auto& [host, at] : beat_at) {
            const bool last_step = at + std::chrono::milliseconds{100} == w.now();
            if (!last_step || at >= Duration{std::chrono::seconds{10}}) continue;
            const auto snap = w.driver_of(host)->snapshot();
            ASSERT_TRUE(snap.own_delivered.has_value());
            EXPECT_EQ(snap.own_delivered->time_since_epoch(), at);
            ++delivered_after_step;
        }
    }
    const auto r = w.finish();
    // h1 beats at 0..40 s, h2 at 0.3..39.3 s, h3 at 0.6..9.6 s (off at 10 s), and
    // early where a tick then decides sooner.
    EXPECT_EQ(heartbeats - early.size(), 41u + 40u + 10u);
    // h1 when h3's fence delay runs out (16.9 s); h2 when h1's plan assigning it db
    // arrives (17.1 s: too soon, h3 is not dead in its own view yet), when h3's fence
    // delay runs out in its view (17.2 s: it starts db), and when router, which h1
    // could not start, is assigned to it (18.2 s).
    EXPECT_EQ(early, (std::vector<std::string>{"h1@16900", "h2@17100", "h2@17200", "h2@18200"}));
    EXPECT_EQ(delivered_after_step, 3u * 10);  // every heartbeat before 10 s
    EXPECT_GE(starts_seen_in_flight, 4u);      // router (failed), web, db, router again
    EXPECT_TRUE(r.violations.empty());
}

TEST(SimDriverTest, AWatchdogTimeoutTheFenceDelayCannotHonourIsRefused) {
    auto s = load("f01-power-loss");
    // The device rounded 5 s up to 6 s: 7 s of fence delay no longer covers it.
    s.watchdog_accepts = std::chrono::seconds{6};
    World w(std::move(s));
    const auto r = w.run();
    ASSERT_FALSE(r.violations.empty());
    EXPECT_TRUE(any_contains(r.violations, "the watchdog accepted a timeout of 6.000 s"))
        << r.violations.front();
}

}  // namespace
}  // namespace vigil::sim
