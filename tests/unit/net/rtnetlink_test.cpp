// The link monitor's initial dump, which needs no privilege: every
// namespace has a loopback device, and the dump must report it once, marked
// as part of the dump, before initial_dump_done().
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <chrono>

#include "daemon/adapters/rtnetlink.h"

namespace vigil::adapters {
namespace {

TEST(LinkMonitor, InitialDumpReportsLoopback) {
    auto monitor = LinkMonitor::make();
    ASSERT_TRUE(monitor.has_value()) << monitor.error().message;
    std::vector<LinkEvent> seen;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!(*monitor)->initial_dump_done() && std::chrono::steady_clock::now() < deadline) {
        pollfd p{(*monitor)->fd(), POLLIN, 0};
        ASSERT_GE(::poll(&p, 1, 100), 0);
        auto n = (*monitor)->drain([&](const LinkEvent& e) { seen.push_back(e); });
        ASSERT_TRUE(n.has_value()) << n.error().message;
    }
    ASSERT_TRUE((*monitor)->initial_dump_done());
    const auto lo =
        std::find_if(seen.begin(), seen.end(), [](const LinkEvent& e) { return e.name == "lo"; });
    ASSERT_NE(lo, seen.end());
    EXPECT_TRUE(lo->from_dump);
    EXPECT_FALSE(lo->removed);
    EXPECT_GT(lo->ifindex, 0);
    EXPECT_GT(lo->monotonic.count(), 0);
    EXPECT_EQ(
        std::count_if(seen.begin(), seen.end(), [](const LinkEvent& e) { return e.name == "lo"; }),
        1);
    EXPECT_EQ((*monitor)->resyncs(), 0u);
    // Nothing more waits: a drain returns at once with nothing.
    auto again = (*monitor)->drain([](const LinkEvent&) {});
    ASSERT_TRUE(again.has_value());
}

}  // namespace
}  // namespace vigil::adapters
