// config::check_cluster() and cluster_policy(): the timing chain of cluster
// mode against the watchdog timeout and corosync's facts, every refusal with
// its numbers and the key to change.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "daemon/config/cluster.h"

namespace vigil::config {
namespace {

using namespace std::chrono_literals;

Config three_hosts() {
    Config c;
    c.standalone = false;
    c.heartbeat_area = "/var/lib/vigil/shared/heartbeat";
    c.cluster_hosts = {{"h1", 1, 0, 4096}, {"h2", 2, 1, 8192}, {"h3", 3, 2, 2048}};
    return c;
}

CorosyncFacts corosync(std::chrono::milliseconds token, std::chrono::milliseconds consensus,
                       bool authenticated = true) {
    CorosyncFacts f;
    f.token = token;
    f.consensus = consensus;
    f.authenticated = authenticated;
    f.crypto_cipher = authenticated ? "aes256" : "none";
    f.crypto_hash = authenticated ? "sha256" : "none";
    f.nodes = {{1, "h1"}, {2, "h2"}, {3, "h3"}};
    return f;
}

bool has(const std::vector<std::string>& lines, std::string_view text) {
    return std::ranges::any_of(
        lines, [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

std::string all(const ClusterCheck& c) { return c.to_string(); }

// The shipped timings (heartbeat 1 s, watchdog 5 s, fence delay 7 s) with a
// corosync of token 500 and consensus 600: safe, and the policy says so.
TEST(ClusterPolicy, TheDefaultChainIsAccepted) {
    Config c = three_hosts();
    c.isolation_response = core::IsolationResponse::kAlwaysStop;
    c.maintenance_at_start = true;
    c.storm_guard_share = 0.25;
    const auto check = check_cluster(c, 5s, corosync(500ms, 600ms));
    EXPECT_TRUE(check.refused.empty()) << all(check);
    EXPECT_TRUE(check.not_checked.empty()) << all(check);
    ASSERT_TRUE(check.policy.has_value()) << all(check);
    EXPECT_TRUE(has(check.passed, "corosync: token 500 ms, consensus 600 ms, crypto aes256/sha256"))
        << all(check);
    EXPECT_TRUE(has(check.passed,
                    "membership timeout 1100 ms = corosync's token 500 ms + consensus 600 ms"))
        << all(check);
    EXPECT_TRUE(has(check.passed,
                    "fence delay 7000 ms >= watchdog timeout 5000 ms + proof window 2000 ms (max "
                    "of 2 heartbeats = 2000 ms and corosync's token 500 ms + consensus 600 ms) = "
                    "7000 ms"))
        << all(check);
    EXPECT_TRUE(has(check.passed, "corosync's nodelist = cluster.hosts (nodeids 1, 2, 3)"))
        << all(check);

    const core::Policy& p = *check.policy;
    EXPECT_EQ(p.heartbeat_interval, 1s);
    EXPECT_EQ(p.watchdog_timeout, 5s);
    EXPECT_EQ(p.fence_delay, 7s);
    EXPECT_EQ(p.membership_timeout, 1100ms);
    EXPECT_EQ(p.storage_grace, 5s);
    EXPECT_EQ(p.link_grace, 2s);
    EXPECT_EQ(p.start_failure_hold, 30s);
    EXPECT_EQ(p.isolation_response, core::IsolationResponse::kAlwaysStop);
    EXPECT_DOUBLE_EQ(p.storm_guard_share, 0.25);
    EXPECT_TRUE(p.maintenance);
    EXPECT_FALSE(p.fence_agents);
    ASSERT_EQ(p.hosts.size(), 3u);
    EXPECT_EQ(p.hosts[1].id, core::HostId{2});
    EXPECT_EQ(p.hosts[1].memory_mib, 8192u);
    EXPECT_TRUE(p.vms.empty());
    EXPECT_TRUE(p.validate().has_value());

    auto policy = cluster_policy(c, 5s, corosync(500ms, 600ms));
    ASSERT_TRUE(policy.has_value()) << policy.error();
    EXPECT_EQ(policy->membership_timeout, 1100ms);
}

// A three-host corosync with token 1000 runs token 1650 and consensus 1980:
// the default fence delay and watchdog are both too short for it.
TEST(ClusterPolicy, AFenceDelayShorterThanWatchdogAndProofWindowIsRefusedWithTheNumbers) {
    Config c = three_hosts();
    c.fence_delay = 7000ms;
    const auto check = check_cluster(c, 6s, corosync(1650ms, 1980ms));
    EXPECT_FALSE(check.policy.has_value());
    ASSERT_EQ(check.refused.size(), 1u) << all(check);
    EXPECT_EQ(check.refused[0],
              "cluster.fence_delay_ms = 7000 is shorter than watchdog timeout 6000 ms + proof "
              "window 3630 ms (max of 2 heartbeats = 2000 ms and corosync's token 1650 ms + "
              "consensus 1980 ms): a silent peer's watchdog may not have fired yet; raise it to "
              "at least 9630");
    auto policy = cluster_policy(c, 6s, corosync(1650ms, 1980ms));
    ASSERT_FALSE(policy.has_value());
    EXPECT_EQ(policy.error().message, check.refused[0]);

    c.fence_delay = 9630ms;
    EXPECT_TRUE(cluster_policy(c, 6s, corosync(1650ms, 1980ms)).has_value());
}

TEST(ClusterPolicy, AWatchdogShorterThanMembershipAndTwoHeartbeatsIsRefused) {
    Config c = three_hosts();
    c.fence_delay = 20000ms;
    const auto check = check_cluster(c, 5s, corosync(1650ms, 1980ms));
    ASSERT_EQ(check.refused.size(), 1u) << all(check);
    EXPECT_EQ(check.refused[0],
              "watchdog.timeout_s = 5 is shorter than membership timeout 3630 ms (corosync's "
              "token 1650 ms + consensus 1980 ms) + 2 heartbeats = 2000 ms "
              "(cluster.heartbeat_interval_ms = 1000), 5630 ms: while corosync re-forms the "
              "membership nothing is delivered, and in a storage outage nothing else shows this "
              "host lives, so its watchdog would fire; raise it to at least 6");
}

TEST(ClusterPolicy, AWatchdogShorterThanTwoHeartbeatsIsRefused) {
    Config c = three_hosts();
    c.heartbeat_interval = 3000ms;
    c.fence_delay = 60000ms;
    c.membership_timeout = 2000ms;
    const auto check = check_cluster(c, 5s, std::nullopt);
    EXPECT_TRUE(has(check.refused,
                    "watchdog.timeout_s = 5 is shorter than 2 heartbeats = 6000 ms "
                    "(cluster.heartbeat_interval_ms = 3000): a single late tick would reset the "
                    "host; raise it to at least 6"))
        << all(check);
}

// Several unsafe links are all reported at once.
TEST(ClusterPolicy, EveryUnsafeLinkIsListed) {
    Config c = three_hosts();
    c.start_failure_hold = 500ms;
    const auto check = check_cluster(c, 5s, corosync(3000ms, 3600ms, false));
    EXPECT_TRUE(has(check.refused, "watchdog.timeout_s = 5 is shorter than membership timeout"));
    EXPECT_TRUE(has(check.refused, "cluster.fence_delay_ms = 7000 is shorter than"));
    EXPECT_TRUE(has(check.refused,
                    "cluster.start_failure_hold_ms = 500 is shorter than one heartbeat "
                    "(cluster.heartbeat_interval_ms = 1000)"));
    EXPECT_TRUE(has(check.refused, "corosync runs without authentication"));
    EXPECT_EQ(check.refused.size(), 4u) << all(check);
    auto policy = cluster_policy(c, 5s, corosync(3000ms, 3600ms, false));
    ASSERT_FALSE(policy.has_value());
    // One per line.
    EXPECT_EQ(std::ranges::count(policy.error().message, '\n'), 3) << policy.error().message;
}

TEST(ClusterPolicy, AConfiguredMembershipTimeoutShorterThanCorosyncsIsRefused) {
    Config c = three_hosts();
    c.membership_timeout = 1000ms;
    const auto check = check_cluster(c, 5s, corosync(500ms, 600ms));
    ASSERT_EQ(check.refused.size(), 1u) << all(check);
    EXPECT_EQ(check.refused[0],
              "cluster.membership_timeout_ms = 1000 is shorter than corosync's token 500 ms + "
              "consensus 600 ms = 1100 ms: the core would count a silent member gone before "
              "corosync has dropped it; set it to 0 (read from corosync) or at least 1100");
}

TEST(ClusterPolicy, AConfiguredMembershipTimeoutAtLeastCorosyncsIsUsed) {
    Config c = three_hosts();
    c.membership_timeout = 2000ms;
    const auto check = check_cluster(c, 5s, corosync(500ms, 600ms));
    ASSERT_TRUE(check.policy.has_value()) << all(check);
    EXPECT_EQ(check.policy->membership_timeout, 2000ms);
    EXPECT_TRUE(has(check.passed,
                    "membership timeout 2000 ms (cluster.membership_timeout_ms) >= corosync's "
                    "token 500 ms + consensus 600 ms = 1100 ms"))
        << all(check);
}

// check-config on a host being set up: what needs corosync is "not checked",
// the rest of the chain still is, and the daemon refuses to start.
TEST(ClusterPolicy, WithoutCorosyncAndMembershipFromCorosyncNothingStartsButTheRestIsChecked) {
    Config c = three_hosts();
    const auto check = check_cluster(c, 5s, std::nullopt);
    EXPECT_TRUE(check.refused.empty()) << all(check);
    EXPECT_FALSE(check.policy.has_value());
    ASSERT_EQ(check.not_checked.size(), 1u);
    EXPECT_TRUE(
        check.not_checked[0].starts_with("corosync not running: the membership timeout "
                                         "(cluster.membership_timeout_ms = 0"))
        << all(check);
    EXPECT_TRUE(has(check.passed,
                    "fence delay 7000 ms >= watchdog timeout 5000 ms + proof window "
                    "2000 ms"))
        << all(check);
    EXPECT_NE(all(check).find("not checked: corosync not running"), std::string::npos);
    auto policy = cluster_policy(c, 5s, std::nullopt);
    ASSERT_FALSE(policy.has_value());
    EXPECT_EQ(policy.error().message,
              "cluster.membership_timeout_ms = 0 reads the membership timeout from corosync, "
              "which is not running");

    // Unsafe whatever corosync says: refused even so.
    c.fence_delay = 6000ms;
    const auto unsafe = check_cluster(c, 5s, std::nullopt);
    EXPECT_TRUE(
        has(unsafe.refused,
            "cluster.fence_delay_ms = 6000 is shorter than watchdog timeout 5000 ms + "
            "proof window 2000 ms (max of 2 heartbeats = 2000 ms and membership timeout "
            "taken as 0 ms (corosync not running)): a silent peer's watchdog may not have fired "
            "yet; raise it to at least 7000"))
        << all(unsafe);
}

TEST(ClusterPolicy, WithoutCorosyncAConfiguredMembershipTimeoutIsUsed) {
    Config c = three_hosts();
    c.membership_timeout = 1500ms;
    const auto check = check_cluster(c, 5s, std::nullopt);
    ASSERT_TRUE(check.policy.has_value()) << all(check);
    EXPECT_EQ(check.policy->membership_timeout, 1500ms);
    ASSERT_EQ(check.not_checked.size(), 1u);
    EXPECT_NE(check.not_checked[0].find("authentication and nodelist are not checked"),
              std::string::npos);
    EXPECT_TRUE(cluster_policy(c, 5s, std::nullopt).has_value());
}

TEST(ClusterPolicy, AnUnauthenticatedCorosyncIsRefusedUnlessAccepted) {
    Config c = three_hosts();
    const auto refused = check_cluster(c, 5s, corosync(500ms, 600ms, false));
    ASSERT_EQ(refused.refused.size(), 1u) << all(refused);
    EXPECT_EQ(refused.refused[0],
              "corosync runs without authentication (totem.crypto_cipher = none, "
              "totem.crypto_hash = none): anyone on the cluster network could forge the status "
              "messages that steer restarts; set crypto_cipher and crypto_hash in corosync.conf "
              "(with an authkey), or accept the risk with cluster.allow_unauthenticated = true");
    EXPECT_FALSE(refused.policy.has_value());

    c.allow_unauthenticated_cluster = true;
    const auto accepted = check_cluster(c, 5s, corosync(500ms, 600ms, false));
    EXPECT_TRUE(accepted.refused.empty()) << all(accepted);
    EXPECT_TRUE(accepted.policy.has_value());
    EXPECT_TRUE(has(accepted.passed, "accepted by cluster.allow_unauthenticated = true"));
}

TEST(ClusterPolicy, HostsCorosyncDoesNotListAndTheOtherWayRoundAreRefused) {
    Config c = three_hosts();
    auto facts = corosync(500ms, 600ms);
    facts.nodes = {{1, "h1"}, {2, "h2"}, {4, "h4"}};
    const auto check = check_cluster(c, 5s, facts);
    ASSERT_EQ(check.refused.size(), 2u) << all(check);
    EXPECT_EQ(check.refused[0],
              "cluster.hosts: \"h3\" (nodeid 3) is not in corosync's nodelist (nodeids 1, 2, 4): "
              "corosync would never count it a member");
    EXPECT_EQ(check.refused[1],
              "corosync's nodelist has nodeid 4 (\"h4\"), which cluster.hosts lacks: its VMs "
              "would have no placement and its slot no owner; add a [[cluster.hosts]] table for "
              "it");
    EXPECT_FALSE(cluster_policy(c, 5s, facts).has_value());
}

TEST(ClusterPolicy, NoHostsIsRefused) {
    Config c = three_hosts();
    c.cluster_hosts.clear();
    auto facts = corosync(500ms, 600ms);
    facts.nodes.clear();
    const auto check = check_cluster(c, 5s, facts);
    EXPECT_TRUE(has(check.refused, "cluster.hosts: no hosts configured")) << all(check);
}

// What the checks above leave to the core is still refused, in the core's
// words with the keys they come from.
TEST(ClusterPolicy, TheCoresOwnRefusalNamesTheKeys) {
    Config c = three_hosts();
    c.storm_guard_share = 0.0;  // the parser refuses it; a Config built in code may not
    auto policy = cluster_policy(c, 5s, corosync(500ms, 600ms));
    ASSERT_FALSE(policy.has_value());
    EXPECT_EQ(policy.error().message,
              "the decision core refuses the policy: storm guard share "
              "[cluster.storm_guard_share] must be in (0, 1]");
}

TEST(ClusterPolicy, ToStringMarksEachLine) {
    Config c = three_hosts();
    c.fence_delay = 6000ms;
    const auto text = check_cluster(c, 5s, std::nullopt).to_string();
    EXPECT_NE(text.find("ok: watchdog timeout 5000 ms >= 2 heartbeats = 2000 ms\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("not checked: corosync not running"), std::string::npos) << text;
    EXPECT_NE(text.find("unsafe: cluster.fence_delay_ms = 6000"), std::string::npos) << text;
}

}  // namespace
}  // namespace vigil::config
