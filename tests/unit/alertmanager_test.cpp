// Alertmanager's webhook format and the rule table, from the documented
// version 4 shape and the corpus Alertmanager itself sends.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "exporters/alertmanager.h"

namespace vigil::exporters {
namespace {

std::string corpus(const char* name) {
    std::ifstream in(std::string(VIGIL_WEBHOOK_CORPUS) + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<AlertRule> rules() {
    return {AlertRule{.alert = "HostHardwareDegraded",
                      .labels = {{"severity", "critical"}},
                      .action = HostAction::kDrain},
            AlertRule{.alert = "HostPlannedWork",
                      .action = HostAction::kMaintenanceOn,
                      .resolved_action = HostAction::kMaintenanceOff,
                      .host_label = "instance"}};
}

TEST(Alertmanager, ParsesVersion4) {
    const auto m = parse_alertmanager_webhook(corpus("firing.json"));
    ASSERT_TRUE(m) << m.error();
    EXPECT_EQ(m->receiver, "vigil");
    EXPECT_EQ(m->status, AlertStatus::kFiring);
    ASSERT_EQ(m->alerts.size(), 1u);
    EXPECT_EQ(m->alerts[0].labels.at("host"), "h2");
    EXPECT_EQ(m->alerts[0].fingerprint, "4a6f1c3e2b1d0c9a");
    EXPECT_EQ(m->alerts[0].annotations.at("summary"), "ECC errors");
}

TEST(Alertmanager, RefusesWhatIsNotAVersion4Message) {
    const std::pair<const char*, const char*> cases[] = {
        {"", "not JSON"},
        {"[]", "not a JSON object"},
        {"{\"version\":\"3\",\"receiver\":\"r\",\"status\":\"firing\",\"alerts\":[]}",
         "version \"3\""},
        {"{\"version\":4,\"receiver\":\"r\",\"status\":\"firing\",\"alerts\":[]}",
         "\"version\" is not a string"},
        {"{\"version\":\"4\",\"status\":\"firing\",\"alerts\":[]}", "missing \"receiver\""},
        {"{\"version\":\"4\",\"receiver\":\"r\",\"status\":\"burning\",\"alerts\":[]}",
         "unknown status"},
        {"{\"version\":\"4\",\"receiver\":\"r\",\"status\":\"firing\",\"alerts\":{}}",
         "not an array"},
        {"{\"version\":\"4\",\"receiver\":\"r\",\"status\":\"firing\",\"alerts\":[{\"status\":"
         "\"firing\",\"labels\":{\"host\":\"h1\"}}]}",
         "alerts[0]: no \"alertname\" label"},
        {"{\"version\":\"4\",\"receiver\":\"r\",\"status\":\"firing\",\"alerts\":[{\"status\":"
         "\"firing\",\"labels\":{\"alertname\":7}}]}",
         "labels.alertname is not a string"},
    };
    for (const auto& [body, reason] : cases) {
        const auto m = parse_alertmanager_webhook(body);
        ASSERT_FALSE(m) << body;
        EXPECT_NE(m.error().message.find(reason), std::string::npos)
            << body << " -> " << m.error().message;
    }
}

TEST(Alertmanager, RulesActOncePerFiringAlert) {
    AlertActions actions(rules());
    const auto m = parse_alertmanager_webhook(corpus("firing.json"));
    ASSERT_TRUE(m);
    const auto first = actions.apply(*m);
    ASSERT_EQ(first.actions.size(), 1u);
    EXPECT_EQ(first.actions[0].action, HostAction::kDrain);
    EXPECT_EQ(first.actions[0].host, "h2");
    EXPECT_EQ(first.actions[0].rule, 0u);
    for (int repeat = 0; repeat < 3; ++repeat) {
        const auto again = actions.apply(*m);
        EXPECT_TRUE(again.actions.empty());
        EXPECT_EQ(again.duplicates, 1u);
    }
}

TEST(Alertmanager, ResolvedActionFollowsOnceAndOnlyAfterFiring) {
    AlertActions actions(rules());
    const auto resolved = parse_alertmanager_webhook(corpus("resolved.json"));
    ASSERT_TRUE(resolved);
    // Never seen firing: nothing to undo.
    EXPECT_TRUE(actions.apply(*resolved).actions.empty());
    AlertmanagerMessage firing = *resolved;
    firing.alerts[0].status = AlertStatus::kFiring;
    const auto on = actions.apply(firing);
    ASSERT_EQ(on.actions.size(), 1u);
    EXPECT_EQ(on.actions[0].action, HostAction::kMaintenanceOn);
    EXPECT_EQ(on.actions[0].host, "h3");
    const auto off = actions.apply(*resolved);
    ASSERT_EQ(off.actions.size(), 1u);
    EXPECT_EQ(off.actions[0].action, HostAction::kMaintenanceOff);
    EXPECT_TRUE(off.actions[0].resolved);
    EXPECT_TRUE(actions.apply(*resolved).actions.empty());
    // It fires again later, with a new start: a new episode acts again.
    firing.alerts[0].starts_at = "2026-12-02T10:00:00Z";
    EXPECT_EQ(actions.apply(firing).actions.size(), 1u);
}

TEST(Alertmanager, UnmatchedAndHostlessAlertsAreCountedNotActedOn) {
    AlertActions actions(rules());
    const auto m = parse_alertmanager_webhook(corpus("mixed.json"));
    ASSERT_TRUE(m) << m.error();
    const auto out = actions.apply(*m);
    ASSERT_EQ(out.actions.size(), 1u);  // HostPlannedWork on h1
    EXPECT_EQ(out.actions[0].host, "h1");
    EXPECT_EQ(out.unmatched, 1u);       // Unrelated
    EXPECT_EQ(out.duplicates, 1u);      // resolved, never seen firing
    ASSERT_EQ(out.skipped.size(), 1u);  // no host label
    EXPECT_NE(out.skipped[0].reason.find("\"host\""), std::string::npos);
}

TEST(Alertmanager, FixedHostAndBoundedMemory) {
    AlertActions actions({AlertRule{.alert = "A", .action = HostAction::kDrain, .host = "h7"}}, 2);
    auto one = [](const std::string& fp) {
        AlertmanagerMessage m;
        Alert a;
        a.labels = {{"alertname", "A"}};
        a.fingerprint = fp;
        m.alerts.push_back(a);
        return m;
    };
    EXPECT_EQ(actions.apply(one("x")).actions.at(0).host, "h7");
    EXPECT_TRUE(actions.apply(one("x")).actions.empty());
    EXPECT_EQ(actions.apply(one("y")).actions.size(), 1u);
    EXPECT_EQ(actions.apply(one("z")).actions.size(), 1u);  // forgets x
    EXPECT_EQ(actions.apply(one("x")).actions.size(), 1u);
}

TEST(Alertmanager, ActionNamesAreTheConfigNames) {
    for (const char* n : {"drain", "maintenance-on", "maintenance-off", "cordon", "uncordon"}) {
        const auto a = parse_host_action(n);
        ASSERT_TRUE(a) << n;
        EXPECT_EQ(name(*a), n);
    }
    EXPECT_FALSE(parse_host_action("reboot"));
}

}  // namespace
}  // namespace vigil::exporters
