// Maintenance and cordon as vigild keeps them: the durations operators type,
// the state file's contents (good, damaged, expired), the timer's arithmetic,
// and the one mapping from control verbs to the core's commands.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/config/duration.h"
#include "daemon/control/admin.h"
#include "daemon/control/events.h"
#include "daemon/control/status.h"
#include "daemon/control/text.h"

namespace vigil::control {
namespace {

using namespace std::chrono_literals;
using adapters::AdminAction;
using std::chrono::milliseconds;

const WallTime kNow = WallTime(std::chrono::seconds(1'800'000'000));

TEST(Duration, PartsAndUnitsAddUp) {
    struct Case {
        std::string text;
        milliseconds want;
    };
    for (const auto& c : std::vector<Case>{{"90s", 90s},
                                           {"15m", 15min},
                                           {"2h", 2h},
                                           {"1h30m", 90min},
                                           {"1d", 24h},
                                           {"1500ms", 1500ms},
                                           {"1m30s500ms", 90500ms}}) {
        auto d = config::parse_duration(c.text, 1s, 31 * 24h);
        ASSERT_TRUE(d) << c.text << ": " << d.error();
        EXPECT_EQ(*d, c.want) << c.text;
        EXPECT_EQ(config::parse_duration(config::format_duration(*d), 1s, 31 * 24h), *d);
    }
}

TEST(Duration, BadTextAndLimitsAreRefusedWithWhy) {
    struct Case {
        std::string text;
        std::string says;
    };
    for (const auto& c : std::vector<Case>{{"", "empty"},
                                           {"30", "needs a unit"},
                                           {"2x", "unknown unit"},
                                           {"-5m", "expected a number"},
                                           {"h", "expected a number"},
                                           {"1h 30m", "expected a number at \" 30m\""},
                                           {"500ms", "between 1s and 31d"},
                                           {"32d", "between 1s and 31d"},
                                           {"99999999999999999999d", "far too long"}}) {
        auto d = config::parse_duration(c.text, 1s, 31 * 24h);
        ASSERT_FALSE(d) << c.text;
        EXPECT_NE(d.error().message.find(c.says), std::string::npos)
            << c.text << ": " << d.error().message;
    }
}

TEST(Admin, EachVerbHasItsCoreCommand) {
    EXPECT_EQ(admin_command(AdminAction::kMaintenanceOn), core::AdminCommand::kMaintenanceOn);
    EXPECT_EQ(admin_command(AdminAction::kMaintenanceOff), core::AdminCommand::kMaintenanceOff);
    EXPECT_EQ(admin_command(AdminAction::kCordon), core::AdminCommand::kCordon);
    EXPECT_EQ(admin_command(AdminAction::kUncordon), core::AdminCommand::kUncordon);
    EXPECT_EQ(admin_command(AdminAction::kDrain), core::AdminCommand::kDrain);
}

TEST(Admin, TimedMaintenanceEndsWhenItsTimeIsUp) {
    auto s = apply_admin({}, AdminAction::kMaintenanceOn, 3s, "uid 0 pid 7 (vigilctl)", kNow);
    EXPECT_TRUE(s.maintenance);
    ASSERT_TRUE(s.maintenance_until);
    EXPECT_EQ(*s.maintenance_until, kNow + 3s);
    EXPECT_EQ(maintenance_left(s, kNow), milliseconds(3000));
    EXPECT_EQ(maintenance_left(s, kNow + 2500ms), milliseconds(500));
    EXPECT_EQ(maintenance_left(s, kNow + 3s), milliseconds(0));
    EXPECT_EQ(maintenance_left(s, kNow + 1h), milliseconds(0));
    // Again without --for: open-ended, no timer; with another --for: re-armed.
    auto open = apply_admin(s, AdminAction::kMaintenanceOn, std::nullopt, "x", kNow + 1s);
    EXPECT_FALSE(open.maintenance_until);
    EXPECT_EQ(open.maintenance_since, kNow) << "still the same maintenance";
    EXPECT_EQ(maintenance_left(open, kNow + 1h), std::nullopt);
    auto longer = apply_admin(s, AdminAction::kMaintenanceOn, 1h, "x", kNow + 1s);
    EXPECT_EQ(*longer.maintenance_until, kNow + 1s + 1h);
    auto off = apply_admin(s, AdminAction::kMaintenanceOff, std::nullopt, "y", kNow + 1s);
    EXPECT_FALSE(off.maintenance);
    EXPECT_EQ(maintenance_left(off, kNow), std::nullopt);
}

TEST(Admin, CordonIsIndependentOfMaintenance) {
    auto s = apply_admin({}, AdminAction::kCordon, std::nullopt, "uid 0 pid 9", kNow);
    EXPECT_TRUE(s.cordoned);
    EXPECT_FALSE(s.maintenance);
    s = apply_admin(s, AdminAction::kMaintenanceOn, 1h, "a", kNow);
    s = apply_admin(s, AdminAction::kMaintenanceOff, std::nullopt, "b", kNow);
    EXPECT_TRUE(s.cordoned) << "maintenance off does not uncordon";
    s = apply_admin(s, AdminAction::kUncordon, std::nullopt, "c", kNow);
    EXPECT_FALSE(s.cordoned);
}

TEST(Admin, DrainCordonsAndUncordonEndsBoth) {
    auto s = apply_admin({}, AdminAction::kDrain, std::nullopt, "uid 0 pid 9", kNow);
    EXPECT_TRUE(s.cordoned);
    EXPECT_TRUE(s.draining);
    EXPECT_EQ(s.cordoned_by, "uid 0 pid 9");
    s = apply_admin(s, AdminAction::kCordon, std::nullopt, "x", kNow);
    EXPECT_TRUE(s.draining) << "cordon does not stop a drain (the core keeps draining)";
    s = apply_admin(s, AdminAction::kUncordon, std::nullopt, "c", kNow);
    EXPECT_FALSE(s.cordoned);
    EXPECT_FALSE(s.draining);
}

TEST(AdminFile, ADrainIsKeptAndAFileWithoutTheKeyHasNone) {
    const auto s = apply_admin({}, AdminAction::kDrain, std::nullopt, "u", kNow);
    auto back = decode_admin_state(encode_admin_state(s));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, s);
    // A file written before drains were kept.
    auto old = decode_admin_state(
        R"({"version":1,"maintenance":false,"cordoned":true,"maintenance_since_ms":0,"maintenance_until_ms":null,"maintenance_by":"","cordoned_by":"u"})");
    ASSERT_TRUE(old) << old.error();
    EXPECT_TRUE(old->cordoned);
    EXPECT_FALSE(old->draining);
    for (
        const char* bad :
        {R"({"version":1,"maintenance":false,"cordoned":true,"maintenance_since_ms":0,"maintenance_until_ms":null,"maintenance_by":"","cordoned_by":"u","draining":1})",
         R"({"version":1,"maintenance":false,"cordoned":false,"maintenance_since_ms":0,"maintenance_until_ms":null,"maintenance_by":"","cordoned_by":"","draining":true})"}) {
        EXPECT_FALSE(decode_admin_state(bad)) << bad;
    }
}

TEST(AdminFile, RoundTrips) {
    auto s = apply_admin({}, AdminAction::kMaintenanceOn, 2h, "uid 0 pid 1 (vigilctl \"x\")", kNow);
    s = apply_admin(s, AdminAction::kCordon, std::nullopt, "alert HostBad through the webhook",
                    kNow);
    auto back = decode_admin_state(encode_admin_state(s));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, s);
    auto open = apply_admin({}, AdminAction::kMaintenanceOn, std::nullopt, "u", kNow);
    auto back2 = decode_admin_state(encode_admin_state(open));
    ASSERT_TRUE(back2) << back2.error();
    EXPECT_EQ(*back2, open);
}

TEST(AdminFile, DamagedFilesAreRefusedNeverReadAsMaintenance) {
    const std::string good =
        encode_admin_state(apply_admin({}, AdminAction::kMaintenanceOn, 1h, "u", kNow));
    std::vector<std::string> bad = {
        "",
        good.substr(0, good.size() / 2),  // torn
        "[]",
        "{\"version\":2,\"maintenance\":true}",
        R"({"version":1,"maintenance":"yes","cordoned":false,"maintenance_since_ms":0,"maintenance_until_ms":null,"maintenance_by":"","cordoned_by":""})",
        R"({"version":1,"maintenance":true,"cordoned":false,"maintenance_since_ms":0,"maintenance_until_ms":"soon","maintenance_by":"","cordoned_by":""})",
        R"({"version":1,"maintenance":false,"cordoned":false,"maintenance_since_ms":0,"maintenance_until_ms":5,"maintenance_by":"","cordoned_by":""})",
        R"({"version":1,"cordoned":false,"maintenance_since_ms":0,"maintenance_until_ms":null,"maintenance_by":"","cordoned_by":""})",
        std::string("\x00\xff\xfe", 3)};
    for (const auto& text : bad) {
        auto r = decode_admin_state(text);
        EXPECT_FALSE(r) << text;
        if (!r) {
            EXPECT_FALSE(r.error().message.empty());
        }
    }
}

TEST(AdminFile, AtStartAnEndThatPassedMeansOutOfMaintenanceAndSaysSo) {
    auto s = apply_admin({}, AdminAction::kMaintenanceOn, 3s, "uid 0 pid 5 (vigilctl)", kNow);
    s = apply_admin(s, AdminAction::kCordon, std::nullopt, "u", kNow);
    // Restarted before the end: the same end.
    auto early = admin_at_start(s, kNow + 1s);
    EXPECT_FALSE(early.expired);
    EXPECT_TRUE(early.note.empty());
    EXPECT_EQ(early.state, s);
    EXPECT_EQ(maintenance_left(early.state, kNow + 1s), milliseconds(2000));
    // Restarted after it: out of maintenance, still cordoned, and a note.
    auto late = admin_at_start(s, kNow + 10s);
    EXPECT_TRUE(late.expired);
    EXPECT_FALSE(late.state.maintenance);
    EXPECT_FALSE(late.state.maintenance_until);
    EXPECT_TRUE(late.state.cordoned);
    EXPECT_NE(late.note.find("ended at " + iso_time(kNow + 3s)), std::string::npos) << late.note;
    EXPECT_NE(late.note.find("out of maintenance"), std::string::npos) << late.note;
    // No file: nothing set.
    auto none = admin_at_start(std::nullopt, kNow);
    EXPECT_EQ(none.state, AdminState{});
    EXPECT_FALSE(none.expired);
}

TEST(AdminText, StatusShowsMaintenanceWithItsEndAndCordon) {
    auto s = apply_admin({}, AdminAction::kMaintenanceOn, 90min, "uid 0 pid 3 (vigilctl)", kNow);
    auto text = admin_text(admin_json(s, kNow + 30min, false));
    EXPECT_NE(text.find("maintenance: ON until " + iso_time(kNow + 90min)), std::string::npos)
        << text;
    EXPECT_NE(text.find("0d 01:00:00 left"), std::string::npos) << text;
    EXPECT_NE(text.find("cordon: off"), std::string::npos) << text;
    s = apply_admin(s, AdminAction::kCordon, std::nullopt, "uid 0 pid 4", kNow);
    text = admin_text(admin_json(s, kNow, true));
    EXPECT_NE(text.find("cordon: ON"), std::string::npos) << text;
    EXPECT_NE(text.find("standalone mode"), std::string::npos) << text;
    EXPECT_EQ(admin_text(admin_json({}, kNow, false)), "maintenance: off\ncordon: off\n");
}

TEST(Events, NumberedNewestLastAndBounded) {
    EventLog log;
    for (std::size_t i = 0; i < EventLog::kKeep + 10; ++i) {
        log.add({.wall = kNow, .kind = EventKind::kAdmin, .message = "e" + std::to_string(i)});
    }
    const auto all = log.all();
    ASSERT_EQ(all.size(), EventLog::kKeep);
    EXPECT_EQ(all.front().number, 11u);
    EXPECT_EQ(all.back().number, EventLog::kKeep + 10);
    EXPECT_EQ(all.back().message, "e" + std::to_string(EventLog::kKeep + 9));
    EXPECT_EQ(log.recorded(), EventLog::kKeep + 10);
    const auto j = event_json(all.back());
    EXPECT_EQ(j["kind"], "admin");
    EXPECT_EQ(j["time"], iso_time(kNow));
    const auto line = event_text(j);
    EXPECT_NE(line.find(iso_time(kNow)), std::string::npos);
    EXPECT_EQ(line.back(), '\n');
}

TEST(Events, ADecisionSaysWhatItIsAbout) {
    core::Decision d{.kind = core::DecisionKind::kAssignVm,
                     .reason = core::Reason::kAssignedByCoordinator,
                     .peer = core::HostId{2},
                     .vm = "vm1",
                     .target = core::HostId{3}};
    const auto e = decision_event(d, kNow);
    EXPECT_EQ(e.kind, EventKind::kDecision);
    EXPECT_NE(e.message.find("vm1"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("to h3"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find(std::string(core::name(core::Reason::kAssignedByCoordinator))),
              std::string::npos);
}

}  // namespace
}  // namespace vigil::control
