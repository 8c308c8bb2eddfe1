// `vigilctl format-heartbeat`: the area it creates is one the storage
// heartbeat adapter writes and reads without refusing a slot, and an area
// that holds a heartbeat is not wiped without --force. No root: the area is
// a file, as on an NFS share.
#include <gtest/gtest.h>
#include <poll.h>

#include <filesystem>
#include <variant>

#include "daemon/adapters/heartbeat.h"
#include "tests/tools/fixtures/fixtures.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;

RunResult vigilctl(std::vector<std::string> args) {
    args.insert(args.begin(), VIGILCTL_BINARY);
    return run(std::move(args), 10s);
}

// Waits for the one result of the operation just submitted.
adapters::HeartbeatResult next_result(adapters::StorageHeartbeat& hb) {
    for (;;) {
        pollfd p{.fd = hb.fd(), .events = POLLIN, .revents = 0};
        EXPECT_EQ(::poll(&p, 1, 10000), 1) << "no heartbeat result within 10 s";
        auto results = hb.dispatch();
        if (!results.empty()) return results.front();
    }
}

TEST(FormatHeartbeat, CreatesAnAreaTheAdapterAcceptsAndRefusesToWipeAUsedOne) {
    auto dir = TempDir::make("format-heartbeat");
    ASSERT_TRUE(dir) << dir.error();
    const auto area = *dir / "heartbeat";

    const auto made = vigilctl({"format-heartbeat", "--area", area.string(), "--slots", "3"});
    ASSERT_TRUE(made.ok()) << made.describe();
    EXPECT_EQ(made.out, area.string() + ": heartbeat area of 3 slots (" +
                            std::to_string(adapters::area_bytes(3)) + " bytes), all empty\n");
    EXPECT_EQ(std::filesystem::file_size(area), adapters::area_bytes(3));
    // Still empty: formatting it again is harmless.
    EXPECT_TRUE(vigilctl({"format-heartbeat", "--area", area.string(), "--slots", "3"}).ok());

    // Host 20 (slot 1) writes its status; a read finds it and refuses nothing.
    auto hb = adapters::StorageHeartbeat::make(
        {area, {core::HostId{10}, core::HostId{20}, core::HostId{30}}, 1});
    ASSERT_TRUE(hb) << hb.error().message;
    core::HostStatus status;
    status.host = core::HostId{20};
    status.incarnation = 7;
    status.sequence = 1;
    status.quorate = true;
    status.storage_ok = true;
    ASSERT_TRUE((*hb)->write(status, core::TimePoint{}));
    const auto wrote = next_result(**hb);
    ASSERT_TRUE(std::holds_alternative<adapters::SlotWriteResult>(wrote));
    EXPECT_TRUE(std::get<adapters::SlotWriteResult>(wrote).evidence.ok)
        << std::get<adapters::SlotWriteResult>(wrote).error;
    (void)(*hb)->read(core::TimePoint{});
    const auto read = next_result(**hb);
    ASSERT_TRUE(std::holds_alternative<adapters::SlotReadResult>(read));
    const auto& slots = std::get<adapters::SlotReadResult>(read);
    EXPECT_TRUE(slots.evidence.ok) << slots.error;
    EXPECT_TRUE(slots.refused.empty());
    ASSERT_EQ(slots.evidence.slots.size(), 1u);
    EXPECT_EQ(slots.evidence.slots[0], status);
    hb->reset();

    // In use now: refused without --force, and left as it was.
    const auto refused = vigilctl({"format-heartbeat", "--area", area.string(), "--slots", "3"});
    EXPECT_EQ(refused.status.code, 1) << refused.describe();
    EXPECT_NE(
        refused.err.find("vigilctl: format-heartbeat: " + area.string() + " is not empty (byte "),
        std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("it may be a live heartbeat area; not formatting it without force "
                               "(vigilctl format-heartbeat --force)"),
              std::string::npos)
        << refused.err;
    auto again = adapters::StorageHeartbeat::make(
        {area, {core::HostId{10}, core::HostId{20}, core::HostId{30}}, 0});
    ASSERT_TRUE(again) << again.error().message;
    (void)(*again)->read(core::TimePoint{});
    const auto kept = next_result(**again);
    ASSERT_TRUE(std::holds_alternative<adapters::SlotReadResult>(kept));
    EXPECT_EQ(std::get<adapters::SlotReadResult>(kept).evidence.slots.size(), 1u);
    again->reset();

    // With --force it is wiped, to the new number of slots.
    const auto forced =
        vigilctl({"format-heartbeat", "--area", area.string(), "--slots", "2", "--force"});
    ASSERT_TRUE(forced.ok()) << forced.describe();
    EXPECT_EQ(std::filesystem::file_size(area), adapters::area_bytes(2));
}

TEST(FormatHeartbeat, BadArgumentsAreRefused) {
    auto dir = TempDir::make("format-heartbeat");
    ASSERT_TRUE(dir) << dir.error();
    const auto area = *dir / "heartbeat";
    const auto zero = vigilctl({"format-heartbeat", "--area", area.string(), "--slots", "0"});
    EXPECT_EQ(zero.status.code, 1) << zero.describe();
    EXPECT_NE(zero.err.find("heartbeat area needs 1 to 256 slots"), std::string::npos) << zero.err;
    EXPECT_FALSE(std::filesystem::exists(area));
    const auto no_slots = vigilctl({"format-heartbeat", "--area", area.string()});
    EXPECT_NE(no_slots.status.code, 0);
    EXPECT_NE(no_slots.err.find("--slots is required"), std::string::npos) << no_slots.err;
    const auto missing_dir = vigilctl(
        {"format-heartbeat", "--area", (*dir / "no" / "such" / "dir").string(), "--slots", "2"});
    EXPECT_EQ(missing_dir.status.code, 1) << missing_dir.describe();
    EXPECT_NE(missing_dir.err.find("No such file or directory"), std::string::npos)
        << missing_dir.err;
}

}  // namespace
}  // namespace vigil::testing
