#include "fence/watchdog.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/unit/fence/fake_watchdog_device.h"

namespace vigil::fence {
namespace {

using namespace std::chrono_literals;
using testing::FakeDeviceState;
using testing::FakeWatchdogDevice;

class WatchdogTest : public ::testing::Test {
  protected:
    std::expected<Watchdog, Error> make(std::chrono::seconds timeout = 5s) {
        return Watchdog::make(WatchdogOptions{"/dev/fake-watchdog", timeout},
                              std::make_unique<FakeWatchdogDevice>(state_),
                              [this] { return now_; });
    }

    std::shared_ptr<FakeDeviceState> state_ = std::make_shared<FakeDeviceState>();
    SteadyClock::time_point now_{};
};

TEST_F(WatchdogTest, SetsTheTimeoutAndPetsOnceAtStart) {
    auto dog = make(5s);
    ASSERT_TRUE(dog) << dog.error().message;
    EXPECT_EQ(state_->timeout, 5);
    EXPECT_EQ(state_->keepalives, 1);
    EXPECT_TRUE(dog->armed());
    EXPECT_EQ(dog->capabilities().keepalive, KeepaliveMethod::kIoctl);
    EXPECT_TRUE(dog->capabilities().magic_close);
    EXPECT_EQ(dog->capabilities().identity, "fake");
    EXPECT_EQ(dog->pet_interval(), 1250ms);
}

TEST_F(WatchdogTest, RefusesATimeoutTheDriverRoundsAndReleasesTheDevice) {
    state_->granularity = 4;
    auto dog = make(5s);
    ASSERT_FALSE(dog);
    EXPECT_EQ(dog.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_NE(dog.error().message.find("driver set 8 s"), std::string::npos) << dog.error().message;
    // Refusing to start must not leave a running timer that resets the host.
    EXPECT_TRUE(state_->closed);
    EXPECT_TRUE(state_->stopped_by_close);
}

TEST_F(WatchdogTest, RefusesATimeoutOutsideTheDriverRange) {
    state_->max_timeout = 3;
    auto dog = make(5s);
    ASSERT_FALSE(dog);
    EXPECT_EQ(dog.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_TRUE(state_->stopped_by_close);
}

TEST_F(WatchdogTest, AcceptsAFixedTimeoutThatMatches) {
    state_->has_settimeout = false;
    state_->timeout = 5;
    auto dog = make(5s);
    ASSERT_TRUE(dog) << dog.error().message;
    EXPECT_FALSE(dog->capabilities().set_timeout);
    EXPECT_TRUE(dog->capabilities().get_timeout);
}

TEST_F(WatchdogTest, RefusesAFixedTimeoutThatDiffers) {
    state_->has_settimeout = false;
    state_->timeout = 60;
    auto dog = make(5s);
    ASSERT_FALSE(dog);
    EXPECT_EQ(dog.error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(WatchdogTest, RefusesADeviceThatCannotTellItsTimeout) {
    state_->has_settimeout = false;
    state_->has_gettimeout = false;
    auto dog = make(5s);
    ASSERT_FALSE(dog);
    EXPECT_EQ(dog.error().kind, ErrorKind::kUnsupported);
}

TEST_F(WatchdogTest, AnIoErrorAtStartLeavesTheTimerRunning) {
    // A restart after a crash may meet a flaky device while HA VMs run here:
    // the host must still be reset if vigild does not come back.
    state_->keepalive_errors = {EIO};
    auto dog = make(5s);
    ASSERT_FALSE(dog);
    EXPECT_EQ(dog.error().kind, ErrorKind::kIo);
    EXPECT_TRUE(state_->closed);
    EXPECT_FALSE(state_->stopped_by_close);
}

TEST_F(WatchdogTest, FallsBackToWritesWithoutTheKeepaliveIoctl) {
    state_->has_keepalive_ioctl = false;
    state_->has_getsupport = false;
    state_->has_gettimeleft = false;
    auto dog = make(5s);
    ASSERT_TRUE(dog) << dog.error().message;
    EXPECT_EQ(dog->capabilities().keepalive, KeepaliveMethod::kWrite);
    EXPECT_EQ(dog->capabilities().identity, "");
    ASSERT_TRUE(dog->pet());
    EXPECT_EQ(state_->written.size(), 2u);
    EXPECT_EQ(state_->written.find('V'), std::string::npos);
}

TEST_F(WatchdogTest, CountsPetsLatePetsAndAge) {
    auto dog = make(4s);
    ASSERT_TRUE(dog);
    now_ += 1s;
    ASSERT_TRUE(dog->pet());
    now_ += 2s;  // exactly half the timeout: on time
    ASSERT_TRUE(dog->pet());
    now_ += 2500ms;  // a stalled loop
    ASSERT_TRUE(dog->pet());
    now_ += 700ms;
    const auto s = dog->status();
    EXPECT_EQ(s.pets, 4u);
    EXPECT_EQ(s.late_pets, 1u);
    ASSERT_TRUE(s.since_last_pet);
    EXPECT_EQ(*s.since_last_pet, 700ms);
    EXPECT_EQ(s.timeout, 4s);
    EXPECT_TRUE(s.armed);
}

TEST_F(WatchdogTest, TimeLeftFromTheDriverWhenItCanTell) {
    auto dog = make(5s);
    ASSERT_TRUE(dog);
    state_->time_left = 3;
    auto left = dog->time_left();
    ASSERT_TRUE(left);
    EXPECT_TRUE(left->from_device);
    EXPECT_EQ(left->value, 3s);
}

TEST_F(WatchdogTest, TimeLeftEstimatedWhenTheDriverCannotTell) {
    state_->has_gettimeleft = false;
    auto dog = make(5s);
    ASSERT_TRUE(dog);
    now_ += 1200ms;
    auto left = dog->time_left();
    ASSERT_TRUE(left);
    EXPECT_FALSE(left->from_device);
    EXPECT_EQ(left->value, 3800ms);
    now_ += 10s;
    EXPECT_EQ(dog->time_left()->value, 0ms);
}

TEST_F(WatchdogTest, AKeepaliveErrorIsReportedAndCounted) {
    auto dog = make(5s);
    ASSERT_TRUE(dog);
    state_->keepalive_errors = {EIO, 0};
    now_ += 1s;
    auto failed = dog->pet();
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().kind, ErrorKind::kIo);
    // The failed pet does not count as a pet: the age keeps growing.
    EXPECT_EQ(*dog->status().since_last_pet, 1s);
    ASSERT_TRUE(dog->pet());
    const auto s = dog->status();
    EXPECT_EQ(s.withheld[to_index(WithholdReason::kDeviceError)], 1u);
    EXPECT_EQ(s.pets, 2u);
}

TEST_F(WatchdogTest, APetFromAnotherThreadIsRefused) {
    auto dog = make(5s);
    ASSERT_TRUE(dog);
    std::expected<void, Error> from_helper;
    std::thread([&] { from_helper = dog->pet(); }).join();
    ASSERT_FALSE(from_helper);
    EXPECT_EQ(state_->keepalives, 1);
    EXPECT_TRUE(dog->pet());
}

TEST_F(WatchdogTest, WithheldPetsAreCountedByReason) {
    auto dog = make(5s);
    ASSERT_TRUE(dog);
    dog->withhold(WithholdReason::kFenceDecided);
    dog->withhold(WithholdReason::kFenceDecided);
    dog->withhold(WithholdReason::kNotSafe);
    const auto s = dog->status();
    EXPECT_EQ(s.withheld[to_index(WithholdReason::kFenceDecided)], 2u);
    EXPECT_EQ(s.withheld[to_index(WithholdReason::kNotSafe)], 1u);
    EXPECT_EQ(s.withheld[to_index(WithholdReason::kDeviceError)], 0u);
    EXPECT_EQ(state_->keepalives, 1);  // withholding never touches the device
}

TEST_F(WatchdogTest, DisarmWritesTheMagicCharacterAndCloses) {
    auto dog = make(5s);
    ASSERT_TRUE(dog);
    ASSERT_TRUE(dog->disarm());
    EXPECT_TRUE(state_->closed);
    EXPECT_TRUE(state_->stopped_by_close);
    EXPECT_FALSE(dog->armed());
    EXPECT_FALSE(dog->pet());
    EXPECT_FALSE(dog->time_left());
}

TEST_F(WatchdogTest, DisarmOnANowayoutDeviceSaysTheHostWillReset) {
    state_->nowayout = true;
    auto dog = make(5s);
    ASSERT_TRUE(dog);
    EXPECT_EQ(dog->capabilities().nowayout, true);
    auto off = dog->disarm();
    ASSERT_FALSE(off);
    EXPECT_EQ(off.error().kind, ErrorKind::kUnsupported);
    EXPECT_FALSE(state_->stopped_by_close);
}

TEST_F(WatchdogTest, DestructionWithoutDisarmLeavesTheTimerRunning) {
    {
        auto dog = make(5s);
        ASSERT_TRUE(dog);
        ASSERT_TRUE(dog->pet());
    }
    EXPECT_TRUE(state_->closed);
    EXPECT_FALSE(state_->stopped_by_close);
}

TEST(WatchdogDeviceTest, OpeningAMissingDeviceIsNotFound) {
    auto dog = Watchdog::make(WatchdogOptions{"/nonexistent/watchdog", 5s});
    ASSERT_FALSE(dog);
    EXPECT_EQ(dog.error().kind, ErrorKind::kNotFound);
}

TEST(WatchdogDeviceTest, ARegularFileIsRefusedAndReleasedWithTheMagicCharacter) {
    // The real device class on a file that answers every ioctl with ENOTTY, as
    // a driver lacking them all would.
    const auto path = std::filesystem::temp_directory_path() /
                      ("vigil-not-a-watchdog-" + std::to_string(::getpid()));
    std::ofstream(path).close();
    auto dog = Watchdog::make(WatchdogOptions{path, 5s});
    ASSERT_FALSE(dog);
    EXPECT_EQ(dog.error().kind, ErrorKind::kUnsupported) << dog.error().message;
    std::string written;
    std::ifstream(path) >> written;
    EXPECT_EQ(written, "V");
    std::filesystem::remove(path);
}

TEST(WatchdogDeviceTest, FindsTheHolderOfAnOpenFile) {
    const auto path =
        std::filesystem::temp_directory_path() / ("vigil-held-" + std::to_string(::getpid()));
    std::ofstream held(path);
    const auto holders = find_holders(path);
    ASSERT_EQ(holders.size(), 1u);
    EXPECT_EQ(holders[0].pid, ::getpid());
    held.close();
    EXPECT_TRUE(find_holders(path).empty());
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace vigil::fence
