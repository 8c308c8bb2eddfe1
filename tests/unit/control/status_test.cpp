// The status reply built from the parts' snapshots, read back as vigilctl prints it.
#include "daemon/control/status.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "daemon/control/text.h"

namespace vigil::control {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

core::TimePoint t(std::chrono::nanoseconds d) { return core::TimePoint{d}; }

// h1 drains by migration at 100 s: dns moved to h2 (asked at 90 s) and waits for h2
// to run it, web goes to h3 (asked at 98 s), db's migration to h3 timed out at 95 s.
StatusSnapshot draining_by_migration() {
    StatusSnapshot s;
    s.standalone = false;
    s.now = 100s;
    ClusterStatus c;
    c.hosts = {{1, {"h1", 0}}, {2, {"node-b", 1}}, {3, {"", 2}}};
    auto& e = c.engine;
    e.self = core::HostId{1};
    e.cordoned = true;
    e.draining = true;
    e.drain_moving = {"db", "dns", "web"};
    e.drain_migrating = {{.vm = "dns", .target = core::HostId{2}, .since = t(90s), .moved = true},
                         {.vm = "web", .target = core::HostId{3}, .since = t(98s), .moved = false}};
    e.drain_migration_failed = {{.vm = "db",
                                 .target = core::HostId{3},
                                 .outcome = core::ActionOutcome::kTimedOut,
                                 .detail = "aborted after 300000 ms",
                                 .at = t(95s)}};
    s.cluster = std::move(c);
    return s;
}

TEST(StatusJson, ADrainByMigrationListsEachMoveWithItsTargetAndSince) {
    const auto reply = json::parse(status_json(draining_by_migration()));
    const auto& drain = reply["status"]["cluster"]["host"]["drain"];
    ASSERT_TRUE(drain.is_object()) << drain;
    EXPECT_EQ(drain["moving"], json({"db", "dns", "web"}));
    EXPECT_EQ(drain["migrating"], json::parse(R"([
                {"vm": "dns", "target": {"id": 2, "name": "node-b"}, "for_seconds": 10.0,
                 "moved": true},
                {"vm": "web", "target": {"id": 3, "name": "h3"}, "for_seconds": 2.0,
                 "moved": false}])"));
    EXPECT_EQ(drain["migration_failed"], json::parse(R"([
                {"vm": "db", "target": {"id": 3, "name": "h3"}, "outcome": "timed-out",
                 "detail": "aborted after 300000 ms", "at_seconds_ago": 5.0}])"));
}

TEST(StatusJson, NoDrainNoDrainObject) {
    auto s = draining_by_migration();
    s.cluster->engine.draining = false;
    const auto reply = json::parse(status_json(s));
    EXPECT_TRUE(reply["status"]["cluster"]["host"]["drain"].is_null());
    EXPECT_FALSE(reply["status"]["cluster"]["host"]["draining"].get<bool>());
}

TEST(StatusJson, VigilctlPrintsEachMigrationUnderTheDrainLine) {
    const auto reply = json::parse(status_json(draining_by_migration()));
    const auto text = status_text(reply["status"]);
    EXPECT_NE(text.find("  drain: moving db, dns, web\n"
                        "  migrating dns to node-b for 10.0 s: moved, ours until node-b runs it\n"
                        "  migrating web to h3 for 2.0 s\n"
                        "  migration of db to h3 timed-out (aborted after 300000 ms) 5.0 s ago: "
                        "stopped here once h3 no longer holds it\n"),
              std::string::npos)
        << text;
}

}  // namespace
}  // namespace vigil::control
