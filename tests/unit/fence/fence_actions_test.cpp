#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>

#include "fence/flight_recorder.h"
#include "fence/reboot.h"
#include "fence/vm_stop.h"

namespace vigil::fence {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// ---- reboot -----------------------------------------------------------------

struct FakeRebootCalls final : RebootCalls {
    int syscall_errno = EPERM;
    int sysrq_errno = 0;
    std::string sysrq_written;
    int syscalls = 0;

    int reboot_syscall() override {
        ++syscalls;
        return syscall_errno;
    }
    int sysrq(char command) override {
        sysrq_written += command;
        return sysrq_errno;
    }
};

TEST(RebootTest, FallsBackToSysrqWhenTheSyscallIsRefused) {
    FakeRebootCalls calls;
    const auto error = reboot_now(calls);
    EXPECT_EQ(calls.syscalls, 1);
    EXPECT_EQ(calls.sysrq_written, "b");
    EXPECT_EQ(error.kind, ErrorKind::kFailed);
    EXPECT_NE(error.message.find("still up"), std::string::npos) << error.message;
}

TEST(RebootTest, ReportsBothFailures) {
    FakeRebootCalls calls;
    calls.sysrq_errno = ENOENT;
    const auto error = reboot_now(calls);
    EXPECT_NE(error.message.find("Operation not permitted"), std::string::npos) << error.message;
    EXPECT_NE(error.message.find("No such file"), std::string::npos) << error.message;
}

TEST(RebootTest, TheRealSysrqWriterWritesTheCommandCharacter) {
    // Pointed at a plain file: never the real trigger in a test.
    const fs::path trigger =
        fs::temp_directory_path() / ("vigil-sysrq-" + std::to_string(::getpid()));
    std::ofstream(trigger).close();
    LinuxRebootCalls calls(trigger);
    EXPECT_EQ(calls.sysrq('b'), 0);
    std::string content;
    std::ifstream(trigger) >> content;
    EXPECT_EQ(content, "b");
    fs::remove(trigger);
    EXPECT_EQ(LinuxRebootCalls("/nonexistent/sysrq").sysrq('b'), ENOENT);
}

// ---- stopping HA VMs --------------------------------------------------------

// A hypervisor whose guests obey (or ignore) shutdown requests as scripted.
struct FakeDomains final : DomainControl {
    struct Vm {
        DomainState state = DomainState::kRunning;
        int shutdown_after_steps = -1;  // -1: ignores shutdown
        bool destroy_fails = false;
        int shutdowns = 0;
        int destroys = 0;
    };
    std::map<std::string, Vm> vms;

    std::expected<DomainState, Error> state(const std::string& name) override {
        auto it = vms.find(name);
        if (it == vms.end()) return DomainState::kMissing;
        auto& vm = it->second;
        if (vm.shutdowns > 0 && vm.shutdown_after_steps == 0) vm.state = DomainState::kShutOff;
        if (vm.shutdowns > 0 && vm.shutdown_after_steps > 0) --vm.shutdown_after_steps;
        return vm.state;
    }
    std::expected<void, Error> shutdown(const std::string& name) override {
        ++vms.at(name).shutdowns;
        return {};
    }
    std::expected<void, Error> destroy(const std::string& name) override {
        auto& vm = vms.at(name);
        ++vm.destroys;
        if (vm.destroy_fails) return std::unexpected(Error{ErrorKind::kFailed, "destroy refused"});
        vm.state = DomainState::kShutOff;
        return {};
    }
};

TEST(VmStopTest, GracefulShutdownThenDestroyAfterTheGrace) {
    FakeDomains hv;
    hv.vms["polite"] = {DomainState::kRunning, 1};
    hv.vms["stubborn"] = {DomainState::kRunning, -1};
    hv.vms["off"] = {DomainState::kShutOff};
    const auto t0 = std::chrono::steady_clock::time_point{};
    auto job = VmStopJob::start(hv, {"polite", "stubborn", "off", "elsewhere"}, 10s, t0);
    EXPECT_FALSE(job.step(t0 + 1s));
    EXPECT_FALSE(job.step(t0 + 2s));
    EXPECT_EQ(job.results()[0].outcome, VmStopOutcome::kShutDown);
    EXPECT_EQ(job.results()[1].outcome, VmStopOutcome::kPending);
    EXPECT_EQ(hv.vms["stubborn"].destroys, 0);
    EXPECT_TRUE(job.step(t0 + 10s));
    EXPECT_EQ(job.results()[1].outcome, VmStopOutcome::kDestroyed);
    EXPECT_EQ(job.results()[2].outcome, VmStopOutcome::kAlreadyStopped);
    EXPECT_EQ(job.results()[3].outcome, VmStopOutcome::kAlreadyStopped);
    EXPECT_EQ(hv.vms["polite"].destroys, 0);
    EXPECT_EQ(hv.vms["off"].shutdowns, 0);
    EXPECT_TRUE(job.all_stopped());
}

TEST(VmStopTest, APausedGuestIsDestroyedAtOnce) {
    FakeDomains hv;
    hv.vms["paused"] = {DomainState::kPaused, 0};
    auto job = VmStopJob::start(hv, {"paused"}, 30s, {});
    EXPECT_TRUE(job.done());
    EXPECT_EQ(job.results()[0].outcome, VmStopOutcome::kDestroyed);
    EXPECT_EQ(hv.vms["paused"].shutdowns, 0);
}

TEST(VmStopTest, AVmThatCannotBeStoppedIsAFailure) {
    FakeDomains hv;
    hv.vms["stuck"] = {DomainState::kRunning, -1, true};
    const auto t0 = std::chrono::steady_clock::time_point{};
    auto job = VmStopJob::start(hv, {"stuck"}, 1s, t0);
    EXPECT_TRUE(job.step(t0 + 1s));
    EXPECT_EQ(job.results()[0].outcome, VmStopOutcome::kFailed);
    EXPECT_EQ(job.results()[0].detail, "destroy refused");
    EXPECT_FALSE(job.all_stopped());
}

TEST(VmStopTest, AgainstLibvirtsTestDriver) {
    // libvirt's built-in test hypervisor: real API, in-process, one running
    // domain named "test".
    auto hv = LibvirtDomainControl::make("test:///default");
    ASSERT_TRUE(hv) << hv.error().message;
    ASSERT_EQ(hv->state("test").value(), DomainState::kRunning);
    EXPECT_EQ(hv->state("no-such-vm").value(), DomainState::kMissing);
    const auto t0 = std::chrono::steady_clock::now();
    auto job = VmStopJob::start(*hv, {"test", "no-such-vm"}, 5s, t0);
    EXPECT_TRUE(job.step(t0));
    EXPECT_EQ(job.results()[0].outcome, VmStopOutcome::kShutDown);
    EXPECT_EQ(job.results()[1].outcome, VmStopOutcome::kAlreadyStopped);
    EXPECT_EQ(hv->state("test").value(), DomainState::kShutOff);
    auto bad = hv->shutdown("no-such-vm");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, ErrorKind::kNotFound);
}

// ---- flight recorder --------------------------------------------------------

class FlightRecorderTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("vigil-flight-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(FlightRecorderTest, KeepsTheLastNEvidenceRecordsAndReadsThemBack) {
    auto rec = FlightRecorder::make(dir_ / "record", 3);
    ASSERT_TRUE(rec);
    for (int i = 1; i <= 5; ++i) rec->note("evidence " + std::to_string(i));
    rec->note("multi\nline \\ text");
    const auto when = std::chrono::system_clock::time_point(1700000000123ms);
    ASSERT_TRUE(rec->commit("reboot: I/O in flight on sdb after storage loss", when));
    EXPECT_FALSE(fs::exists(dir_ / "record.tmp"));

    auto back = FlightRecorder::read(dir_ / "record");
    ASSERT_TRUE(back) << back.error().message;
    ASSERT_TRUE(*back);
    EXPECT_EQ((*back)->decision, "reboot: I/O in flight on sdb after storage loss");
    EXPECT_EQ((*back)->evidence,
              (std::vector<std::string>{"evidence 4", "evidence 5", "multi\nline \\ text"}));
    EXPECT_EQ((*back)->written_at, when);
    EXPECT_EQ((*back)->boot_id, current_boot_id());
    EXPECT_FALSE((*back)->boot_id.empty());
}

TEST_F(FlightRecorderTest, NoRecordIsNotAnError) {
    auto back = FlightRecorder::read(dir_ / "none");
    ASSERT_TRUE(back);
    EXPECT_FALSE(*back);
}

TEST_F(FlightRecorderTest, ADamagedRecordIsReportedNotTrusted) {
    auto rec = FlightRecorder::make(dir_ / "record", 4);
    ASSERT_TRUE(rec);
    rec->note("e");
    ASSERT_TRUE(rec->commit("stop VMs", std::chrono::system_clock::now()));
    std::string text;
    {
        std::ifstream in(dir_ / "record");
        text.assign(std::istreambuf_iterator<char>(in), {});
    }
    text[text.find("stop")] = 'S';
    std::ofstream(dir_ / "record", std::ios::trunc) << text;
    auto back = FlightRecorder::read(dir_ / "record");
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error().kind, ErrorKind::kBadOutput);

    std::ofstream(dir_ / "record", std::ios::trunc) << text.substr(0, text.size() / 2);
    back = FlightRecorder::read(dir_ / "record");
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error().kind, ErrorKind::kBadOutput);
}

TEST_F(FlightRecorderTest, ANewRecordReplacesTheOld) {
    auto rec = FlightRecorder::make(dir_ / "record", 2);
    ASSERT_TRUE(rec);
    ASSERT_TRUE(rec->commit("first", std::chrono::system_clock::now()));
    ASSERT_TRUE(rec->commit("second", std::chrono::system_clock::now()));
    EXPECT_EQ(FlightRecorder::read(dir_ / "record").value()->decision, "second");
}

TEST_F(FlightRecorderTest, RefusesAMissingDirectory) {
    auto rec = FlightRecorder::make(dir_ / "missing" / "record", 2);
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().kind, ErrorKind::kNotFound);
}

}  // namespace
}  // namespace vigil::fence
