#include "daemon/core/policy.h"

#include <gtest/gtest.h>

namespace vigil::core {
namespace {

using namespace std::chrono_literals;

Policy three_hosts() {
    Policy p;
    p.hosts = {{HostId{1}, 4096}, {HostId{2}, 4096}, {HostId{3}, 4096}};
    p.vms = {{.name = "web", .priority = 1, .memory_mib = 512}};
    return p;
}

TEST(Policy, DefaultsFollowTheSpec) {
    const Policy p = three_hosts();
    EXPECT_EQ(p.heartbeat_interval, 1s);
    EXPECT_EQ(p.watchdog_timeout, 5s);
    EXPECT_EQ(p.fence_delay, p.watchdog_timeout + 2 * p.heartbeat_interval);
    EXPECT_EQ(p.isolation_response, IsolationResponse::kStopWhenUplinksDead);
    EXPECT_TRUE(p.validate().has_value());
}

TEST(Policy, FenceDelayMustExceedWatchdogTimeout) {
    Policy p = three_hosts();
    p.fence_delay = 5s;
    const auto r = p.validate();
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("larger than the watchdog timeout"), std::string::npos)
        << r.error().message;
}

TEST(Policy, FenceDelayMustCoverTheWindowAHostMayStillPet) {
    Policy p = three_hosts();
    p.fence_delay = 6s;  // > watchdog, but a cut-off host may pet for 2 more seconds
    EXPECT_FALSE(p.validate().has_value());
    p.fence_delay = 7s;
    p.membership_timeout = 3s;  // slow cluster stack: it must be covered too
    const auto r = p.validate();
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("8 s"), std::string::npos) << r.error().message;
}

TEST(Policy, WatchdogMustOutlastTheClusterStacksDelivery) {
    Policy p = three_hosts();
    p.membership_timeout = 3500ms;  // 3.5 s + 2 heartbeats > 5 s
    p.fence_delay = 9s;
    const auto r = p.validate();
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("5.5 s"), std::string::npos) << r.error().message;
    p.watchdog_timeout = 6s;
    p.fence_delay = 10s;
    EXPECT_TRUE(p.validate().has_value());
}

TEST(Policy, RefusesDuplicatesAndNonsense) {
    Policy p = three_hosts();
    p.vms.push_back({.name = "web", .memory_mib = 1});
    EXPECT_FALSE(p.validate().has_value());
    p = three_hosts();
    p.hosts.push_back({HostId{2}, 1});
    EXPECT_FALSE(p.validate().has_value());
    p = three_hosts();
    p.storm_guard_share = 0;
    EXPECT_FALSE(p.validate().has_value());
    p = three_hosts();
    p.vms[0].memory_mib = 0;
    EXPECT_FALSE(p.validate().has_value());
    p = three_hosts();
    p.watchdog_timeout = 1s;
    p.fence_delay = 10s;
    EXPECT_FALSE(p.validate().has_value());
}

}  // namespace
}  // namespace vigil::core
