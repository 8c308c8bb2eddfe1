// Boots a Debian kernel under qemu (TCG) with an emulated i6300esb watchdog and
// vigil's watchdog code as /init, and times what the guest reports on its serial
// console against when qemu ends. qemu runs with -no-reboot, so the watchdog's
// reset of the guest ends the qemu process.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kTimeoutSeconds = 4;
// How late the test may see a reset: the guest's console lines and qemu's exit
// reach the test through a pipe it polls, and under TCG on a loaded host the
// guest's clock, the console and qemu's exit each lag the host by up to a
// scheduling delay of the emulator thread (vcpu and I/O thread on 2 shared
// cores). 2 s covers the three, and stays at half the timeout, so a watchdog
// that waited a whole timeout more (a pet the close did not end, say) still
// fails the bound.
constexpr double kResetSlackSeconds = 2.0;
// How early: a reset before the timeout is premature; the console line the
// reset is counted from can only be late, so half a second below the timeout
// is already a reset that did not wait for it.
constexpr double kPrematureSlackSeconds = 0.5;

// A guest that panicked reboots at once (panic=-1) and, under -no-reboot,
// ends qemu just as a watchdog reset does: every mode must rule that out.
::testing::AssertionResult no_panic(const std::string& transcript) {
    const auto at = transcript.find("Kernel panic");
    if (at == std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "the guest panicked: qemu ended by a panic, not by the watchdog\n"
           << transcript.substr(at, 300);
}

std::string env_or_empty(const char* name) {
    const char* value = std::getenv(name);
    return value ? value : "";
}

// The "newc" cpio format the kernel unpacks as an initramfs.
class CpioWriter {
  public:
    void add_file(const std::string& name, const std::string& data, unsigned mode) {
        entry(name, 0100000 | mode, data);
    }
    std::string finish() {
        entry("TRAILER!!!", 0, "");
        return out_;
    }

  private:
    void entry(const std::string& name, unsigned mode, const std::string& data) {
        char header[111];
        std::snprintf(header, sizeof(header),
                      "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ++ino_, mode,
                      0u, 0u, 1u, 0u, static_cast<unsigned>(data.size()), 0u, 0u, 0u, 0u,
                      static_cast<unsigned>(name.size() + 1), 0u);
        out_.append(header, 110);
        out_.append(name);
        out_.push_back('\0');
        pad();
        out_.append(data);
        pad();
    }
    void pad() {
        while (out_.size() % 4 != 0) out_.push_back('\0');
    }

    std::string out_;
    unsigned ino_ = 0;
};

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Line {
    Clock::time_point at;
    std::string text;
};

struct QemuRun {
    std::vector<Line> lines;
    std::optional<Clock::time_point> exited_at;
    int exit_status = -1;

    [[nodiscard]] std::optional<Clock::time_point> first(const std::string& needle) const {
        for (const auto& l : lines) {
            if (l.text.find(needle) != std::string::npos) return l.at;
        }
        return std::nullopt;
    }
    [[nodiscard]] std::string transcript() const {
        std::string all;
        for (const auto& l : lines) all += l.text + "\n";
        return all;
    }
};

// Runs qemu to its end (or kills it at `limit`), collecting the serial console
// line by line with the time each line arrived.
class Qemu {
  public:
    Qemu(const fs::path& kernel, const fs::path& initrd, const std::string& append) {
        int out[2];
        if (::pipe2(out, O_CLOEXEC) != 0) return;
        std::vector<std::string> args = {"qemu-system-x86_64",
                                         "-machine",
                                         "pc,accel=tcg",
                                         "-m",
                                         "256",
                                         "-smp",
                                         "1",
                                         "-nodefaults",
                                         "-no-user-config",
                                         "-display",
                                         "none",
                                         "-monitor",
                                         "none",
                                         "-serial",
                                         "stdio",
                                         "-no-reboot",
                                         "-action",
                                         "watchdog=reset",
                                         "-device",
                                         "i6300esb",
                                         "-kernel",
                                         kernel.string(),
                                         "-initrd",
                                         initrd.string(),
                                         "-append",
                                         append};
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(out[1], STDOUT_FILENO);
            ::dup2(out[1], STDERR_FILENO);
            const int null = ::open("/dev/null", O_RDONLY);
            ::dup2(null, STDIN_FILENO);
            std::vector<char*> argv;
            argv.reserve(args.size() + 1);
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp(argv[0], argv.data());
            ::_exit(127);
        }
        ::close(out[1]);
        fd_ = out[0];
    }
    ~Qemu() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0) ::close(fd_);
    }
    Qemu(const Qemu&) = delete;
    Qemu& operator=(const Qemu&) = delete;

    QemuRun run(std::chrono::seconds limit) {
        QemuRun result;
        const auto deadline = Clock::now() + limit;
        std::string partial;
        while (fd_ >= 0 && Clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            const auto wait =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) continue;
            char buf[4096];
            const ssize_t n = ::read(fd_, buf, sizeof(buf));
            const auto now = Clock::now();
            if (n <= 0) {
                ::close(fd_);
                fd_ = -1;
                break;
            }
            partial.append(buf, static_cast<size_t>(n));
            for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n')) {
                std::string text = partial.substr(0, nl);
                if (!text.empty() && text.back() == '\r') text.pop_back();
                result.lines.push_back({now, std::move(text)});
                partial.erase(0, nl + 1);
            }
        }
        if (fd_ < 0 && pid_ > 0) {
            int status = 0;
            ::waitpid(pid_, &status, 0);
            result.exited_at = Clock::now();
            result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            pid_ = -1;
        }
        if (!partial.empty()) result.lines.push_back({Clock::now(), partial});
        return result;
    }

  private:
    pid_t pid_ = -1;
    int fd_ = -1;
};

class WatchdogVmTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const fs::path kernel_dir = env_or_empty("VIGIL_VM_KERNEL_DIR");
        const fs::path guest = env_or_empty("VIGIL_VM_GUEST_INIT");
        ASSERT_TRUE(fs::exists(kernel_dir / "vmlinuz")) << "no kernel in " << kernel_dir;
        for (const char* module : {"watchdog.ko", "i6300esb.ko"}) {
            ASSERT_TRUE(fs::exists(kernel_dir / module)) << "no " << module << " in " << kernel_dir;
        }
        ASSERT_TRUE(fs::exists(guest)) << "no guest init at " << guest;
        kernel_ = kernel_dir / "vmlinuz";
        work_ = fs::temp_directory_path() / ("vigil-vm-" + std::to_string(::getpid()));
        fs::create_directories(work_);
        CpioWriter cpio;
        cpio.add_file("init", slurp(guest), 0755);
        for (const char* module : {"watchdog.ko", "i6300esb.ko"}) {
            cpio.add_file(module, slurp(kernel_dir / module), 0644);
        }
        initrd_ = work_ / "initramfs.cpio";
        std::ofstream(initrd_, std::ios::binary) << cpio.finish();
    }
    void TearDown() override {
        std::error_code ec;
        if (!work_.empty()) fs::remove_all(work_, ec);
    }

    QemuRun boot(const std::string& mode, std::chrono::seconds limit) {
        Qemu qemu(kernel_, initrd_,
                  "console=ttyS0 quiet panic=-1 vigil.mode=" + mode +
                      " vigil.timeout=" + std::to_string(kTimeoutSeconds));
        return qemu.run(limit);
    }

    fs::path kernel_;
    fs::path initrd_;
    fs::path work_;
};

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

TEST_F(WatchdogVmTest, PettingKeepsTheGuestAliveAndStoppingResetsItWithinTheTimeout) {
    const auto run = boot("stop", 120s);
    const auto armed = run.first("vigil: armed");
    const auto last_pet = run.first("vigil: last pet");
    ASSERT_TRUE(armed) << run.transcript();
    EXPECT_NE(run.transcript().find("identity=i6300ESB"), std::string::npos) << run.transcript();
    // Debian's kernel leaves nowayout off and the driver has the magic close.
    EXPECT_NE(run.transcript().find("magic_close=1 nowayout=0"), std::string::npos)
        << run.transcript();
    ASSERT_TRUE(last_pet) << "the guest did not survive 3 timeouts of petting\n"
                          << run.transcript();
    // Three timeouts of pets, one second apart: the last comes at most one pet
    // interval before the end of the third.
    EXPECT_GE(seconds_between(*armed, *last_pet), 3.0 * kTimeoutSeconds - 1.0);
    ASSERT_TRUE(run.exited_at) << "no reset within the limit\n" << run.transcript();
    const double reset_after = seconds_between(*last_pet, *run.exited_at);
    std::printf("reset %.2f s after the last pet (timeout %d s)\n", reset_after, kTimeoutSeconds);
    EXPECT_LE(reset_after, kTimeoutSeconds + kResetSlackSeconds) << run.transcript();
    // Not a premature reset either: the guest was heard after most of the timeout.
    EXPECT_GE(reset_after, kTimeoutSeconds - kPrematureSlackSeconds) << run.transcript();
    EXPECT_TRUE(no_panic(run.transcript()));
    EXPECT_EQ(run.transcript().find("FAIL"), std::string::npos) << run.transcript();
}

TEST_F(WatchdogVmTest, TheMagicCloseDisarms) {
    const auto run = boot("magic", 120s);
    ASSERT_TRUE(run.first("vigil: disarmed")) << run.transcript();
    ASSERT_TRUE(run.first("vigil: survived")) << "reset after the magic close\n"
                                              << run.transcript();
    ASSERT_TRUE(run.exited_at) << run.transcript();
    EXPECT_EQ(run.exit_status, 0);
    EXPECT_TRUE(no_panic(run.transcript()));
    EXPECT_EQ(run.transcript().find("FAIL"), std::string::npos) << run.transcript();
}

TEST_F(WatchdogVmTest, ACloseWithoutTheMagicCharacterLeavesTheTimerRunning) {
    const auto run = boot("close", 120s);
    const auto closed = run.first("vigil: closed without the magic character");
    ASSERT_TRUE(closed) << run.transcript();
    ASSERT_TRUE(run.exited_at) << "no reset after a crash-like close\n" << run.transcript();
    const double reset_after = seconds_between(*closed, *run.exited_at);
    std::printf("reset %.2f s after a close without the magic character\n", reset_after);
    EXPECT_LE(reset_after, kTimeoutSeconds + kResetSlackSeconds) << run.transcript();
    // The timer ran on after the close, and the guest with it: not a panic
    // (which ends qemu as a reset does) nor any other early end.
    EXPECT_GE(reset_after, kTimeoutSeconds - kPrematureSlackSeconds) << run.transcript();
    EXPECT_TRUE(no_panic(run.transcript()));
    EXPECT_TRUE(run.first("ms after the close")) << "the guest was never heard after the close\n"
                                                 << run.transcript();
    EXPECT_EQ(run.transcript().find("FAIL"), std::string::npos) << run.transcript();
}

}  // namespace
