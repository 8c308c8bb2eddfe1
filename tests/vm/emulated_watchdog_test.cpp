// sbd-style chaos test of the emulated watchdog (fence/emulator): a "host" is a
// network namespace holding a victim process and a watchdog client that pets
// through the emulated device. A frozen client must get the host reset within
// the timeout; a killed client restarted at once, as systemd would, must not.
#include <sys/mount.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/tools/fixtures/fixtures.h"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using vigil::testing::NetNs;
using vigil::testing::SpawnOptions;
using vigil::testing::Subprocess;
using vigil::testing::TempDir;
using vigil::testing::wait_until;

constexpr int kTimeoutSeconds = 2;
constexpr auto kTimeout = std::chrono::seconds(kTimeoutSeconds);
constexpr auto kPetInterval = 250ms;
// How late a reset may be seen after the timeout: the emulator checks its
// deadline every 20 ms (expiry_loop) and kills a namespace's processes in
// rounds 20 ms apart (kill_netns), then the test sees the victim's end. On 2
// cores shared at a load of 8-16, each of the three wakeups (emulator, its
// kill, the test's wait) may wait a scheduler slice behind others; 150 ms
// each is allowed. So: one poll + one kill round + 3 x 150 ms = 0.49 s.
constexpr double kResetLateSeconds = 0.020 + 0.020 + 3 * 0.150;
// How early: the emulator never fires before its deadline, which is the
// timeout after the last pet; the test's stop can only follow that pet, by
// up to one pet interval, and its clock reading may lag the stop by one
// scheduler slice (0.15 s).
constexpr double kResetEarlySeconds = 0.150 + std::chrono::duration<double>(kPetInterval).count();

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

class EmulatedWatchdogTest : public vigil::testing::RootTest {
  protected:
    void SetUp() override {
        RootTest::SetUp();
        if (HasFatalFailure()) return;
        auto ns = NetNs::make("wdemu");
        ASSERT_TRUE(ns) << ns.error();
        netns_.emplace(std::move(*ns));
        auto dir = TempDir::make("wdemu");
        ASSERT_TRUE(dir) << dir.error();
        dir_.emplace(std::move(*dir));
        mountpoint_ = *dir_ / "mnt";
        fs::create_directories(mountpoint_);
        SpawnOptions options;
        options.death_signal = SIGTERM;  // so it still unmounts if the test dies
        auto emulator =
            Subprocess::spawn({VIGIL_WATCHDOG_EMULATOR, "--mountpoint", mountpoint_.string(),
                               "--host-netns", netns_->path().string(), "--timeout", "30"},
                              options);
        ASSERT_TRUE(emulator) << emulator.error();
        emulator_.emplace(std::move(*emulator));
        ASSERT_TRUE(wait_until([&] { return fs::exists(device()); }, 5000ms))
            << "the emulator did not mount\n"
            << emulator_->stderr_text();
    }

    void TearDown() override {
        if (emulator_) emulator_->terminate();
        if (!mountpoint_.empty() && vigil::testing::is_mount_point(mountpoint_)) {
            ::umount2(mountpoint_.c_str(), MNT_DETACH);
        }
    }

    [[nodiscard]] fs::path device() const { return mountpoint_ / "watchdog"; }

    [[nodiscard]] std::string status() const {
        std::ifstream in(mountpoint_ / "status");
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    [[nodiscard]] int resets() const {
        const auto text = status();
        const auto at = text.find("resets ");
        return at == std::string::npos ? -1 : std::stoi(text.substr(at + 7));
    }

    Subprocess spawn_in_host(std::vector<std::string> argv) {
        auto proc = netns_->spawn(std::move(argv));
        EXPECT_TRUE(proc) << proc.error();
        return std::move(*proc);
    }

    // A client that has opened the device and petted it once.
    Subprocess start_client() {
        auto client =
            spawn_in_host({VIGIL_WATCHDOG_PET_CLIENT, device().string(),
                           std::to_string(kTimeoutSeconds), std::to_string(kPetInterval.count())});
        EXPECT_TRUE(wait_until(
            [&] { return client.stdout_text().find("armed") != std::string::npos; }, 5000ms))
            << "client did not arm: " << client.stderr_text();
        return client;
    }

    std::string log() const { return emulator_ ? emulator_->stderr_text() : ""; }

    // The real vigild in the host, arming the emulated device from its config.
    Subprocess start_vigild(int run) {
        const auto config = *dir_ / ("vigil-" + std::to_string(run) + ".toml");
        std::ofstream(config) << "[metrics]\nenabled = false\n"
                              << "[control]\nsocket = \"" << (*dir_ / "ctl.sock").string() << "\"\n"
                              << "[watchdog]\nenabled = true\ndevice = \"" << device().string()
                              << "\"\ntimeout_s = " << kVigildTimeoutSeconds << "\n";
        auto vigild = spawn_in_host({VIGILD_BINARY, "--config", config.string()});
        EXPECT_TRUE(wait_until(
            [&] { return vigild.stderr_text().find("armed, timeout") != std::string::npos; },
            10000ms))
            << "vigild did not arm the watchdog: " << vigild.stderr_text();
        return vigild;
    }

    static constexpr int kVigildTimeoutSeconds = 3;

    std::optional<NetNs> netns_;
    std::optional<TempDir> dir_;
    fs::path mountpoint_;
    std::optional<Subprocess> emulator_;
};

TEST_F(EmulatedWatchdogTest, AFrozenClientGetsItsHostResetWithinTheTimeout) {
    auto victim = spawn_in_host({"sleep", "600"});
    auto client = start_client();
    std::this_thread::sleep_for(1s);
    client.send_signal(SIGSTOP);
    const auto stopped = Clock::now();
    const auto end = victim.wait_for(kTimeout + 3s);
    const double after = seconds_since(stopped);
    ASSERT_TRUE(end) << "the host was not reset\n" << log();
    EXPECT_EQ(end->signal, SIGKILL);
    std::printf("host reset %.2f s after SIGSTOP (timeout %d s)\n", after, kTimeoutSeconds);
    // The last pet came at most one interval before the stop.
    EXPECT_LE(after, kTimeoutSeconds + kResetLateSeconds) << log();
    EXPECT_GE(after, kTimeoutSeconds - kResetEarlySeconds) << log();
    const auto client_end = client.wait_for(2s);
    ASSERT_TRUE(client_end) << "the frozen client survived the reset";
    EXPECT_EQ(client_end->signal, SIGKILL);
    EXPECT_EQ(resets(), 1);
}

TEST_F(EmulatedWatchdogTest, AKilledClientRestartedInTimeCausesNoReset) {
    auto victim = spawn_in_host({"sleep", "600"});
    auto first = start_client();
    std::this_thread::sleep_for(1s);
    first.send_signal(SIGKILL);
    ASSERT_TRUE(first.wait_for(2s));
    // Supervision restarts it at once; the device must not refuse it as busy.
    auto second = start_client();
    std::this_thread::sleep_for(3 * kTimeout);
    EXPECT_TRUE(victim.running()) << log();
    EXPECT_TRUE(second.running()) << second.stderr_text();
    EXPECT_EQ(resets(), 0) << log();

    // A deliberate clean stop disarms with the magic close: still no reset.
    second.send_signal(SIGTERM);
    const auto stop = second.wait_for(2s);
    ASSERT_TRUE(stop);
    EXPECT_TRUE(stop->ok()) << second.stderr_text();
    std::this_thread::sleep_for(kTimeout + 1s);
    EXPECT_TRUE(victim.running()) << log();
    EXPECT_EQ(resets(), 0) << log();
    EXPECT_NE(status().find("armed 0"), std::string::npos) << status();
}

TEST_F(EmulatedWatchdogTest, AKilledClientNotRestartedGetsItsHostReset) {
    auto victim = spawn_in_host({"sleep", "600"});
    auto client = start_client();
    client.send_signal(SIGKILL);
    const auto killed = Clock::now();
    const auto end = victim.wait_for(kTimeout + 3s);
    ASSERT_TRUE(end) << "a crash without restart did not reset the host\n" << log();
    EXPECT_LE(seconds_since(killed), kTimeoutSeconds + kResetLateSeconds);
    EXPECT_EQ(resets(), 1);
}

TEST_F(EmulatedWatchdogTest, ASecondOpenerIsRefusedAsBusy) {
    auto client = start_client();
    auto second = spawn_in_host(
        {VIGIL_WATCHDOG_PET_CLIENT, device().string(), std::to_string(kTimeoutSeconds), "250"});
    const auto end = second.wait_for(5s);
    ASSERT_TRUE(end);
    EXPECT_EQ(end->code, 1);
    EXPECT_NE(second.stderr_text().find("Device or resource busy"), std::string::npos)
        << second.stderr_text();
    EXPECT_NE(second.stderr_text().find("watchdog_pet_cl"), std::string::npos)
        << second.stderr_text();
    client.send_signal(SIGTERM);
    ASSERT_TRUE(client.wait_for(2s));
}

// The same promises with vigild itself petting from its event loop.
TEST_F(EmulatedWatchdogTest, AFrozenVigildGetsItsHostReset) {
    auto victim = spawn_in_host({"sleep", "600"});
    auto vigild = start_vigild(1);
    std::this_thread::sleep_for(1s);
    vigild.send_signal(SIGSTOP);
    const auto stopped = Clock::now();
    const auto end = victim.wait_for(std::chrono::seconds(kVigildTimeoutSeconds) + 3s);
    const double after = seconds_since(stopped);
    ASSERT_TRUE(end) << "the host of a frozen vigild was not reset\n" << log();
    EXPECT_EQ(end->signal, SIGKILL);
    std::printf("host reset %.2f s after SIGSTOP of vigild (timeout %d s)\n", after,
                kVigildTimeoutSeconds);
    EXPECT_LE(after, kVigildTimeoutSeconds + kResetLateSeconds) << log();
    const auto vigild_end = vigild.wait_for(2s);
    ASSERT_TRUE(vigild_end) << "the frozen vigild survived the reset";
    EXPECT_EQ(resets(), 1);
}

TEST_F(EmulatedWatchdogTest, ACrashedVigildRestartedInTimeCausesNoReset) {
    auto victim = spawn_in_host({"sleep", "600"});
    auto first = start_vigild(1);
    std::this_thread::sleep_for(1s);
    first.send_signal(SIGKILL);
    ASSERT_TRUE(first.wait_for(2s));
    // As systemd's Restart=always would: at once, and it reopens the device.
    auto second = start_vigild(2);
    std::this_thread::sleep_for(std::chrono::seconds(3 * kVigildTimeoutSeconds));
    EXPECT_TRUE(victim.running()) << log();
    EXPECT_TRUE(second.running()) << second.stderr_text();
    EXPECT_EQ(resets(), 0) << log();

    // A clean stop disarms with the magic close.
    second.send_signal(SIGTERM);
    const auto stop = second.wait_for(5s);
    ASSERT_TRUE(stop);
    EXPECT_TRUE(stop->ok()) << second.stderr_text();
    EXPECT_NE(second.stderr_text().find("watchdog disarmed"), std::string::npos)
        << second.stderr_text();
    std::this_thread::sleep_for(std::chrono::seconds(kVigildTimeoutSeconds) + 1s);
    EXPECT_TRUE(victim.running()) << log();
    EXPECT_EQ(resets(), 0) << log();
}

}  // namespace
