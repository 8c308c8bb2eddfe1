#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "daemon/adapters/block_stats.h"

namespace vigil::adapters {
namespace {

TEST(BlockStats, ParsesTheKernelsStatFile) {
    BlockDeviceStats s;
    // 6.x: 17 fields (read, write, in flight, io ticks, discard, flush).
    ASSERT_TRUE(parse_block_stat(
        "  107783    15665  5136458    43113   203470    48237 47812920   313880        2    91280"
        "   406038    36244       75 41421456    22815    45150    26228\n",
        s));
    EXPECT_EQ(s.in_flight, 2U);
    EXPECT_EQ(s.completed, 107783U + 203470U + 36244U + 45150U);
    EXPECT_EQ(s.busy, std::chrono::milliseconds(91280));
    // 4.x: 11 fields, no discard or flush.
    ASSERT_TRUE(parse_block_stat("10 0 80 5 20 0 160 9 1 14 14\n", s));
    EXPECT_EQ(s.in_flight, 1U);
    EXPECT_EQ(s.completed, 30U);
    EXPECT_EQ(s.busy, std::chrono::milliseconds(14));
}

TEST(BlockStats, RefusesMalformedText) {
    BlockDeviceStats s;
    EXPECT_FALSE(parse_block_stat("", s));
    EXPECT_FALSE(parse_block_stat("1 2 3", s));
    EXPECT_FALSE(parse_block_stat("1 2 3 4 5 6 7 8 x 10 11 12", s));
}

TEST(BlockStats, ReadsASysBlockTree) {
    const auto root =
        std::filesystem::temp_directory_path() / ("vigil-sysblock-" + std::to_string(::getpid()));
    std::filesystem::create_directories(root / "loop3");
    std::filesystem::create_directories(root / "broken");
    std::ofstream(root / "loop3" / "dev") << "7:3\n";
    std::ofstream(root / "loop3" / "stat") << "4 0 32 1 0 0 0 0 1 1 1 0 0 0 0 0 0\n";
    std::ofstream(root / "broken" / "dev") << "garbage\n";
    const auto stats = read_block_stats(root);
    std::filesystem::remove_all(root);
    ASSERT_EQ(stats.size(), 1U);
    EXPECT_EQ(stats[0].name, "loop3");
    EXPECT_EQ(stats[0].major, 7U);
    EXPECT_EQ(stats[0].minor, 3U);
    EXPECT_EQ(stats[0].in_flight, 1U);
    EXPECT_EQ(stats[0].completed, 4U);
}

}  // namespace
}  // namespace vigil::adapters
