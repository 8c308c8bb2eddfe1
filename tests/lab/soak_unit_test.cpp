// The soak's pure parts: the schedule generator's rules over many seeds, and
// the judge fed made-up timelines.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/lab/soak.h"

namespace vigil::lab {
namespace {

using json = nlohmann::json;

constexpr uint64_t kSeeds = 3000;

bool ends_in_power_on(SoakFault k) {
    return k == SoakFault::kPowerOff || k == SoakFault::kHang || k == SoakFault::kCutAll ||
           k == SoakFault::kStorageStall;
}

bool storage_fault(SoakFault k) {
    return k == SoakFault::kStorageFail || k == SoakFault::kStorageStall ||
           k == SoakFault::kStallBlip || k == SoakFault::kStorageSlow ||
           k == SoakFault::kStorageAllFail;
}

double active_end(const SoakStep& s) {
    return s.kind == SoakFault::kKillDaemon ? s.at_s + kKillDaemonSpanS : s.end_s();
}

TEST(SoakSchedule, TheSameSeedGivesTheSameScheduleAndSeedsDiffer) {
    std::set<std::string> texts;
    for (uint64_t seed = 1; seed <= 100; ++seed) {
        const auto a = make_schedule(seed);
        EXPECT_EQ(a.text(), make_schedule(seed).text());
        EXPECT_NE(a.text().find("seed " + std::to_string(seed) + ":"), std::string::npos);
        texts.insert(a.text());
    }
    EXPECT_EQ(texts.size(), 100u);
}

TEST(SoakSchedule, EverySeedKeepsTheRules) {
    std::map<SoakFault, int> kinds;
    for (uint64_t seed = 0; seed < kSeeds; ++seed) {
        const auto s = make_schedule(seed);
        SCOPED_TRACE(s.text());
        ASSERT_EQ(s.hosts, 3);
        ASSERT_GE(s.steps.size(), 3u);
        ASSERT_LE(s.steps.size(), 5u);
        EXPECT_GE(s.max_overlap(), 3);
        const auto& major = s.steps.front();
        EXPECT_TRUE(soak_fault_is_major(major.kind));
        EXPECT_EQ(major.host, s.victim);
        EXPECT_GE(s.victim, 1);
        EXPECT_LE(s.victim, 3);
        for (size_t i = 0; i < s.steps.size(); ++i) {
            const auto& st = s.steps[i];
            ++kinds[st.kind];
            EXPECT_GE(st.at_s, 0);
            // Every fault is healed after a while (a killed vigild by its init).
            if (st.kind != SoakFault::kKillDaemon) {
                EXPECT_GT(st.hold_s, 0);
                EXPECT_LT(st.hold_s, 30);
            }
            if (i == 0) continue;
            EXPECT_FALSE(soak_fault_is_major(st.kind)) << "two major faults";
            EXPECT_NE(st.host, s.victim) << "a rider on the victim would end its fault";
            EXPECT_LE(st.host, 3);
            if (st.host == 0) {
                EXPECT_TRUE(storage_fault(st.kind));
                EXPECT_FALSE(ends_in_power_on(major.kind))
                    << "every host's storage faulted at a power-on";
            }
            if (st.kind == SoakFault::kStorageAllFail) {
                EXPECT_TRUE(major.kind == SoakFault::kCutCluster ||
                            major.kind == SoakFault::kCutClusterVm ||
                            major.kind == SoakFault::kPartitionCluster ||
                            major.kind == SoakFault::kPartitionClusterVm);
            }
            if (st.kind == SoakFault::kFlap) {
                EXPECT_LT(st.hold_s, kF9FlapBoundS);
            }
            if (st.kind == SoakFault::kStallBlip) {
                EXPECT_LT(st.hold_s, kF9StallBoundS);
            }
        }
        // No two storage faults of one host at once.
        for (size_t i = 0; i < s.steps.size(); ++i)
            for (size_t j = i + 1; j < s.steps.size(); ++j) {
                const auto &a = s.steps[i], &b = s.steps[j];
                const bool at_once = a.at_s < active_end(b) && b.at_s < active_end(a);
                const bool one_host = a.host == 0 || b.host == 0 || a.host == b.host;
                EXPECT_FALSE(at_once && one_host && storage_fault(a.kind) && storage_fault(b.kind))
                    << a.text() << " with " << b.text();
            }
        // The text lists every step.
        for (const auto& st : s.steps) EXPECT_NE(s.text().find(st.text()), std::string::npos);
    }
    // Every fault the nemesis has appears in some schedule.
    for (int k = 0; k <= static_cast<int>(SoakFault::kStorageAllFail); ++k)
        EXPECT_GT(kinds[static_cast<SoakFault>(k)], 0)
            << soak_fault_name(static_cast<SoakFault>(k)) << " never drawn";
}

SoakSchedule hand_made(SoakFault major, const std::vector<SoakStep>& riders) {
    SoakSchedule s;
    s.seed = 7;
    s.victim = 1;
    s.steps.push_back({.kind = major, .host = 1, .at_s = 1, .hold_s = 10});
    for (const auto& r : riders) s.steps.push_back(r);
    return s;
}

TEST(SoakSchedule, TheBoundIsTheLongestRowsPlusAHeartbeat) {
    const auto s = hand_made(SoakFault::kPowerOff,
                             {{.kind = SoakFault::kKillDaemon, .host = 2, .at_s = 2},
                              {.kind = SoakFault::kFlap, .host = 3, .at_s = 2, .hold_s = 0.4}});
    EXPECT_EQ(s.rows(), (std::set<std::string>{"F1", "F8", "F9"}));
    EXPECT_DOUBLE_EQ(s.bound_after_heal_s(),
                     row_recovery_bound_s("F1") + kHeartbeatIntervalMs / 1000.0);
    // The spec's F1 bound at the lab's timings: watchdog 5 s + 5 s.
    EXPECT_DOUBLE_EQ(row_recovery_bound_s("F1"), 10);
    const auto stall = hand_made(SoakFault::kStorageStall, {});
    EXPECT_DOUBLE_EQ(stall.bound_after_heal_s(), row_recovery_bound_s("F5a") + 1);
    EXPECT_GT(row_recovery_bound_s("F5a"), row_recovery_bound_s("F7-vm"));
    EXPECT_DOUBLE_EQ(row_recovery_bound_s("F3"), 0.0);
    EXPECT_DOUBLE_EQ(row_recovery_bound_s("nothing"), 0.0);
}

TEST(SoakSchedule, WhoMustNotBeReset) {
    // A hang allows its host's reset, nobody else's.
    const auto hang = hand_made(SoakFault::kHang, {});
    EXPECT_FALSE(hang.reset_forbidden(1));
    EXPECT_TRUE(hang.reset_forbidden(2));
    EXPECT_TRUE(hang.reset_forbidden(3));
    // Cut from the cluster network only: no reset.
    const auto cut =
        hand_made(SoakFault::kCutCluster,
                  {{.kind = SoakFault::kStorageSlow, .host = 0, .at_s = 2, .hold_s = 3}});
    EXPECT_TRUE(cut.reset_forbidden(1));
    // Cut while every host's storage fails: no proof of life at all, no promise.
    auto both =
        hand_made(SoakFault::kCutCluster,
                  {{.kind = SoakFault::kStorageAllFail, .host = 0, .at_s = 5, .hold_s = 3}});
    EXPECT_FALSE(both.reset_forbidden(1));
    EXPECT_TRUE(both.reset_forbidden(2));  // a survivor in a storage outage everywhere
    // And h1's VMs may then have to be restarted as after F4-all.
    EXPECT_TRUE(both.rows().contains("F4-all"));
    EXPECT_DOUBLE_EQ(both.bound_after_heal_s(), row_recovery_bound_s("F4-all") + 1);
    // The same outage after the cable is back: both promises hold.
    both.steps[1].at_s = 12;
    EXPECT_TRUE(both.reset_forbidden(1));
    EXPECT_FALSE(both.rows().contains("F4-all"));
}

// A timeline as the checker writes it: vm1 stops at 5 s and writes again on
// h2 at `vm1_back`; vm2 writes throughout; the schedule's heal at 10 s.
RowRun made_up(double vm1_back) {
    RowRun run;
    run.timeline = {
        {"end", 30.0},
        {"violations", json::array()},
        {"recoveries", json::array()},
        {"writers",
         {{"vm1",
           json::array({{{"instance", "a"}, {"host", "h1"}}, {{"instance", "b"}, {"host", "h2"}}})},
          {"vm2", json::array({{{"instance", "c"}, {"host", "h2"}}})}}},
        {"events",
         json::array({
             {{"t", 3.0}, {"kind", "fault"}, {"text", "power-off h1"}},
             {{"t", 5.0}, {"kind", "vm"}, {"text", "vm1: not running"}},
             {{"t", 10.0}, {"kind", "repair"}, {"text", "power-on h1"}},
             {{"t", vm1_back}, {"kind", "vm"}, {"text", "vm1: new instance b writing on h2"}},
             {{"t", vm1_back}, {"kind", "vm"}, {"text", "vm1: writing on h2"}},
         })},
    };
    run.lab_after = {
        {"vms", 2},
        {"partition", json::array()},
        {"host_status",
         json::array({
             {{"name", "h1"}, {"power", "on"}, {"cut", json::array()}, {"storage", "ok"}},
             {{"name", "h2"}, {"power", "on"}, {"cut", json::array()}, {"storage", "ok"}},
             {{"name", "h3"}, {"power", "on"}, {"cut", json::array()}, {"storage", "ok"}},
         })}};
    return run;
}

const SoakSchedule& power_off_h1() {
    static const auto kSchedule = hand_made(SoakFault::kPowerOff, {});
    return kSchedule;
}

TEST(SoakJudge, KeptPromisesAreNoFailure) {
    auto run = made_up(14);
    judge_soak(power_off_h1(), run);
    EXPECT_TRUE(run.ok()) << run.failures.front();
    EXPECT_DOUBLE_EQ(run.figures.at("vm1 writing after the last heal s"), 4);
    EXPECT_DOUBLE_EQ(run.figures.at("vm2 writing after the last heal s"), 0);
    EXPECT_DOUBLE_EQ(run.bounds.at("vm1 writing after the last heal s"), 11);
}

TEST(SoakJudge, WritingTooLateAfterTheHealIsAFailure) {
    auto run = made_up(10 + 11.5);
    judge_soak(power_off_h1(), run);
    ASSERT_EQ(run.failures.size(), 1u);
    EXPECT_NE(run.failures[0].find("vm1 wrote again 11.5 s after the last heal"),
              std::string::npos);
}

TEST(SoakJudge, AGuestThatStopsAgainAfterTheHealIsAFailure) {
    auto run = made_up(14);
    run.timeline["events"].push_back({{"t", 20.0}, {"kind", "vm"}, {"text", "vm2: not running"}});
    judge_soak(power_off_h1(), run);
    ASSERT_EQ(run.failures.size(), 1u);
    EXPECT_NE(run.failures[0].find("vm2 is not writing at the end"), std::string::npos);
}

TEST(SoakJudge, AShortGapAfterTheHealIsNoFailure) {
    auto run = made_up(14);
    run.timeline["events"].push_back(
        {{"t", 20.0}, {"kind", "vm"}, {"text", "vm2: not writing, qemu on h2"}});
    run.timeline["events"].push_back({{"t", 20.8}, {"kind", "vm"}, {"text", "vm2: writing on h2"}});
    judge_soak(power_off_h1(), run);
    EXPECT_TRUE(run.ok()) << run.failures.front();
    EXPECT_DOUBLE_EQ(run.figures.at("vm2 writing after the last heal s"), 0);
}

TEST(SoakJudge, TwoWritersAreAFailure) {
    auto run = made_up(14);
    run.timeline["violations"].push_back(
        {{"t", 12.0}, {"vm", "vm1"}, {"kind", "double-writer"}, {"detail", "a and b"}});
    judge_soak(power_off_h1(), run);
    ASSERT_EQ(run.failures.size(), 1u);
    EXPECT_NE(run.failures[0].find("double-writer"), std::string::npos);
}

TEST(SoakJudge, AResetOfAHostThePromiseCoversIsAFailure) {
    auto run = made_up(14);
    // h1 lost power (a reset would be allowed); h3 had no fault at all.
    run.timeline["events"].push_back(
        {{"t", 8.0}, {"kind", "watchdog"}, {"text", "h1: watchdog expired: reset the host"}});
    judge_soak(power_off_h1(), run);
    EXPECT_TRUE(run.ok());
    run.timeline["events"].push_back(
        {{"t", 9.0}, {"kind", "watchdog"}, {"text", "h3: watchdog expired: reset the host"}});
    run.timeline["events"].push_back(
        {{"t", 9.0},
         {"kind", "vigild"},
         {"text", "h2: decision self-fence-reboot reason=storage-lost-io-in-flight"}});
    run.lab_after["host_status"][2]["power"] = "reset";
    run.lab_after["host_status"][2]["reset"] = "init killed by signal 9";
    judge_soak(power_off_h1(), run);
    std::string all;
    for (const auto& f : run.failures) all += f + "\n";
    EXPECT_NE(all.find("h3 was reset, which no fault it had allows (its watchdog at 9.0 s)"),
              std::string::npos)
        << all;
    EXPECT_NE(all.find("h3 was reset, which no fault it had allows (down at the end"),
              std::string::npos)
        << all;
    EXPECT_NE(all.find("h2 was reset, which no fault it had allows (decided: "), std::string::npos)
        << all;
    EXPECT_NE(all.find("h3 is reset at the end"), std::string::npos) << all;
}

TEST(SoakJudge, AResetTheFaultsAllowIsNoUnhealedFault) {
    auto run = made_up(14);
    const auto hang = hand_made(SoakFault::kHang, {});
    run.lab_after["host_status"][0]["power"] = "reset";
    judge_soak(hang, run);
    EXPECT_TRUE(run.ok()) << run.failures.front();
}

TEST(SoakJudge, AFaultLeftUnhealedIsAFailure) {
    auto run = made_up(14);
    run.lab_after["host_status"][1]["cut"] = json::array({"cluster"});
    run.lab_after["host_status"][2]["storage"] = "slow";
    run.lab_after["partition"] = json::array({json::array({1, 2}), json::array({3})});
    judge_soak(power_off_h1(), run);
    EXPECT_EQ(run.failures.size(), 3u);
}

TEST(SoakJudge, NoHealInTheTimelineIsAFailure) {
    auto run = made_up(14);
    run.timeline["events"].erase(2);
    judge_soak(power_off_h1(), run);
    ASSERT_FALSE(run.ok());
    EXPECT_EQ(run.failures.back(), "no heal in the timeline");
}

}  // namespace
}  // namespace vigil::lab
