// The gate with real threads and the real clock: it is the part of the file
// system whose timing tests elsewhere rely on.
#include "tests/tools/faultfs/gate.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <future>

namespace vigil::faultfs {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool wait_stalled(const Gate& gate, std::uint64_t n) {
    const auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
        if (gate.status().stalled == n) return true;
        std::this_thread::sleep_for(1ms);
    }
    return false;
}

TEST(FaultfsGate, FailsAndCountsPerMode) {
    Gate gate;
    EXPECT_EQ(gate.enter(Op::kRead), 0);
    gate.set_mode(Mode{FaultKind::kEio, Scope::kAll, 0ms});
    EXPECT_EQ(gate.enter(Op::kRead), -EIO);
    EXPECT_EQ(gate.enter(Op::kWrite), -EIO);
    gate.set_mode(Mode{FaultKind::kEnospc, Scope::kWrite, 0ms});
    EXPECT_EQ(gate.enter(Op::kWrite), -ENOSPC);
    EXPECT_EQ(gate.enter(Op::kRead), 0);
    const Status status = gate.status();
    EXPECT_EQ(status.reads, 2u);
    EXPECT_EQ(status.writes, 0u);
    EXPECT_EQ(status.injected, 3u);
}

TEST(FaultfsGate, AFileScopedFaultLeavesOtherFilesAlone) {
    Gate gate;
    Mode full{FaultKind::kEnospc, Scope::kWrite, 0ms};
    full.file = "vm1.img";
    gate.set_mode(full);
    EXPECT_EQ(gate.enter(Op::kWrite, "vm1.img"), -ENOSPC);
    EXPECT_EQ(gate.enter(Op::kWrite, "heartbeat.img"), 0);
    EXPECT_EQ(gate.enter(Op::kRead, "vm1.img"), 0);
    EXPECT_EQ(gate.enter(Op::kFlush, "vm1.img"), 0);  // nothing to allocate
    EXPECT_EQ(gate.status().injected, 1u);
    full.kind = FaultKind::kEio;
    gate.set_mode(full);
    EXPECT_EQ(gate.enter(Op::kFlush, "vm1.img"), -EIO);
}

TEST(FaultfsGate, StallBlocksUntilTheModeChanges) {
    Gate gate;
    gate.set_mode(Mode{FaultKind::kStall, Scope::kAll, 0ms});
    auto reader = std::async(std::launch::async, [&] { return gate.enter(Op::kRead); });
    auto writer = std::async(std::launch::async, [&] { return gate.enter(Op::kWrite); });
    ASSERT_TRUE(wait_stalled(gate, 2));
    EXPECT_EQ(reader.wait_for(50ms), std::future_status::timeout);
    // Switching to a fault wakes the stalled operations into that fault.
    gate.set_mode(Mode{FaultKind::kEio, Scope::kWrite, 0ms});
    EXPECT_EQ(reader.get(), 0);
    EXPECT_EQ(writer.get(), -EIO);
    EXPECT_EQ(gate.status().stalled, 0u);
}

TEST(FaultfsGate, ScopedStallLetsTheOtherDirectionThrough) {
    Gate gate;
    gate.set_mode(Mode{FaultKind::kStall, Scope::kWrite, 0ms});
    EXPECT_EQ(gate.enter(Op::kRead), 0);
    auto writer = std::async(std::launch::async, [&] { return gate.enter(Op::kWrite); });
    ASSERT_TRUE(wait_stalled(gate, 1));
    gate.set_mode(Mode{});
    EXPECT_EQ(writer.get(), 0);
}

TEST(FaultfsGate, SlowDelaysEachOperation) {
    Gate gate;
    gate.set_mode(Mode{FaultKind::kSlow, Scope::kAll, 60ms});
    const auto start = Clock::now();
    EXPECT_EQ(gate.enter(Op::kRead), 0);
    EXPECT_EQ(gate.enter(Op::kWrite), 0);
    EXPECT_GE(Clock::now() - start, 120ms);
}

TEST(FaultfsGate, ReleaseAllFreesStallsForGood) {
    Gate gate;
    gate.set_mode(Mode{FaultKind::kStall, Scope::kAll, 0ms});
    auto reader = std::async(std::launch::async, [&] { return gate.enter(Op::kRead); });
    ASSERT_TRUE(wait_stalled(gate, 1));
    gate.release_all();
    EXPECT_EQ(reader.get(), 0);
    gate.set_mode(Mode{FaultKind::kStall, Scope::kAll, 0ms});
    EXPECT_EQ(gate.status().mode, Mode{});
    EXPECT_EQ(gate.enter(Op::kRead), 0);
}

}  // namespace
}  // namespace vigil::faultfs
