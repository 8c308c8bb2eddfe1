// vigil-faultfs and the root fixtures together, through a real loop device on a
// file served by the FUSE file system: what the BPF and lab tests rely on.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>

#include "tests/tools/faultfs/client.h"
#include "tests/tools/fixtures/fixtures.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kBlock = 4096;
constexpr std::uint64_t kBackingMiB = 8;

struct AlignedBuffer {
    AlignedBuffer() {
        void* p = nullptr;
        if (::posix_memalign(&p, kBlock, kBlock) == 0) data.reset(static_cast<char*>(p));
    }
    struct Free {
        void operator()(char* p) const { std::free(p); }
    };
    std::unique_ptr<char, Free> data;
};

// One O_DIRECT block I/O on the device; 0 or the errno it failed with.
int direct_io(const std::filesystem::path& dev, bool write, off_t offset, char fill = 0,
              std::string* read_back = nullptr) {
    const int fd = ::open(dev.c_str(), (write ? O_WRONLY : O_RDONLY) | O_DIRECT | O_CLOEXEC);
    if (fd < 0) return errno;
    AlignedBuffer buf;
    std::memset(buf.data.get(), fill, kBlock);
    const ssize_t n = write ? ::pwrite(fd, buf.data.get(), kBlock, offset)
                            : ::pread(fd, buf.data.get(), kBlock, offset);
    const int err = n < 0 ? errno : (n == static_cast<ssize_t>(kBlock) ? 0 : EIO);
    ::close(fd);
    if (read_back != nullptr && err == 0) read_back->assign(buf.data.get(), kBlock);
    return err;
}

int direct_read(const std::filesystem::path& dev, off_t offset = 0,
                std::string* read_back = nullptr) {
    return direct_io(dev, false, offset, 0, read_back);
}

int direct_write(const std::filesystem::path& dev, char fill, off_t offset = 0) {
    return direct_io(dev, true, offset, fill);
}

// The whole file, or the errno that reading it failed with.
std::expected<std::string, int> read_text(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno);
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            return std::unexpected(err);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

std::string slurp(const std::filesystem::path& path) { return read_text(path).value_or("<error>"); }

// Tries a POSIX write lock from another process; 0 or the errno it failed with.
int posix_lock_in_child(const std::filesystem::path& file) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
        struct flock lock {};
        lock.l_type = F_WRLCK;
        lock.l_whence = SEEK_SET;
        ::_exit(fd < 0 ? 100 : (::fcntl(fd, F_SETLK, &lock) == 0 ? 0 : errno));
    }
    int wstatus = 0;
    if (pid < 0 || ::waitpid(pid, &wstatus, 0) != pid || !WIFEXITED(wstatus)) return -1;
    return WEXITSTATUS(wstatus);
}

class FaultFsLoopTest : public RootTest {
  protected:
    void SetUp() override {
        RootTest::SetUp();
        if (HasFatalFailure()) return;
        auto fs = FaultFs::make({.backing_mib = kBackingMiB});
        ASSERT_TRUE(fs.has_value()) << fs.error();
        fs_.emplace(std::move(*fs));
        auto loop = LoopDevice::make(fs_->backing_file());
        ASSERT_TRUE(loop.has_value()) << loop.error();
        loop_.emplace(std::move(*loop));
        server_pid_ = fs_->pid();
        mountpoint_ = fs_->mountpoint();
        backing_ = fs_->backing_file();
    }

    // Whatever the test did, nothing of it may outlive it.
    void TearDown() override {
        if (loop_) {
            auto detached = loop_->detach();
            EXPECT_TRUE(detached.has_value()) << detached.error();
            loop_.reset();
        }
        if (fs_) {
            auto stopped = fs_->stop();
            EXPECT_TRUE(stopped.has_value()) << stopped.error();
            fs_.reset();
        }
        for (const auto& file : loop_backing_files()) {
            EXPECT_NE(file, backing_.string()) << "loop device left on " << file;
        }
        if (!mountpoint_.empty()) {
            EXPECT_FALSE(is_mount_point(mountpoint_)) << mountpoint_ << " still mounted";
        }
        if (server_pid_ > 0) {
            EXPECT_FALSE(process_exists(server_pid_)) << "vigil-faultfs " << server_pid_ << " left";
        }
    }

    void set_mode(std::string_view mode) {
        auto done = fs_->set_mode(mode);
        ASSERT_TRUE(done.has_value()) << mode << ": " << done.error();
    }

    faultfs::Status status() {
        auto s = fs_->status();
        EXPECT_TRUE(s.has_value()) << s.error();
        return s.value_or(faultfs::Status{});
    }

    std::optional<FaultFs> fs_;
    std::optional<LoopDevice> loop_;
    pid_t server_pid_ = -1;
    std::filesystem::path mountpoint_;
    std::filesystem::path backing_;
};

TEST_F(FaultFsLoopTest, LoopDeviceIdentifiesItself) {
    EXPECT_TRUE(loop_->name().starts_with("loop")) << loop_->name();
    EXPECT_EQ(loop_->path(), "/dev/" + loop_->name());
    EXPECT_EQ(loop_->dev_major(), 7u);
    const std::string dev = slurp("/sys/block/" + loop_->name() + "/dev");
    EXPECT_EQ(dev, loop_->major_minor() + "\n");
    EXPECT_EQ(slurp("/sys/block/" + loop_->name() + "/loop/backing_file"),
              backing_.string() + "\n");
}

TEST_F(FaultFsLoopTest, DirectIoReachesTheFileSystemEveryTime) {
    // Data written behind the mount shows through the loop device...
    {
        std::fstream src(fs_->source() / "disk.img",
                         std::ios::in | std::ios::out | std::ios::binary);
        src.seekp(static_cast<std::streamoff>(kBlock));
        src << std::string(kBlock, 'v');
    }
    const auto before = status();
    std::string got;
    ASSERT_EQ(direct_read(loop_->path(), kBlock, &got), 0);
    EXPECT_EQ(got, std::string(kBlock, 'v'));
    // ...and a second read of the same block is not served from any cache.
    ASSERT_EQ(direct_read(loop_->path(), kBlock), 0);
    const auto after = status();
    EXPECT_GE(after.reads, before.reads + 2) << "reads are cached above the file system";
    // Writes through the device land in the source file.
    ASSERT_EQ(direct_write(loop_->path(), 'w', 2 * kBlock), 0);
    EXPECT_GE(status().writes, after.writes + 1);
    const std::string image = slurp(fs_->source() / "disk.img");
    ASSERT_EQ(image.size(), kBackingMiB * 1024 * 1024);
    EXPECT_EQ(image.substr(2 * kBlock, kBlock), std::string(kBlock, 'w'));
}

TEST_F(FaultFsLoopTest, EioFailsReadsAndWritesAndTheKernelSaysSo) {
    auto kmsg = KernelLog::make();
    ASSERT_TRUE(kmsg.has_value()) << kmsg.error();
    set_mode("eio");
    EXPECT_EQ(direct_read(loop_->path()), EIO);
    EXPECT_TRUE(kmsg->wait_for("I/O error, dev " + loop_->name(), 5s));
    EXPECT_EQ(direct_write(loop_->path(), 'x'), EIO);
    EXPECT_GE(status().injected, 2u);
    set_mode("ok");
    EXPECT_EQ(direct_read(loop_->path()), 0);
}

TEST_F(FaultFsLoopTest, EnospcFailsWritesButNotReads) {
    auto kmsg = KernelLog::make();
    ASSERT_TRUE(kmsg.has_value()) << kmsg.error();
    set_mode("enospc");
    EXPECT_EQ(direct_write(loop_->path(), 'x'), ENOSPC);
    EXPECT_TRUE(kmsg->wait_for("critical space allocation error, dev " + loop_->name(), 5s));
    EXPECT_EQ(direct_read(loop_->path()), 0);
    set_mode("ok");
    EXPECT_EQ(direct_write(loop_->path(), 'x'), 0);
}

TEST_F(FaultFsLoopTest, ScopedFaultsTouchOneDirectionOnly) {
    set_mode("eio write");
    EXPECT_EQ(direct_read(loop_->path()), 0);
    EXPECT_EQ(direct_write(loop_->path(), 'x'), EIO);
    set_mode("eio read");
    EXPECT_EQ(direct_read(loop_->path()), EIO);
    EXPECT_EQ(direct_write(loop_->path(), 'x'), 0);
}

TEST_F(FaultFsLoopTest, StallBlocksUntilTheModeChanges) {
    set_mode("stall");
    const auto start = Clock::now();
    auto reader =
        std::async(std::launch::async, [dev = loop_->path()] { return direct_read(dev); });
    const ScopeExit release([this] {
        const auto released = fs_->set_mode("ok");
        EXPECT_TRUE(released) << released.error();
    });
    ASSERT_TRUE(fs_->wait_stalled(1, 5s)) << fs_->log();
    EXPECT_EQ(reader.wait_for(600ms), std::future_status::timeout);
    EXPECT_GT(Clock::now() - start, 500ms);
    set_mode("ok");
    ASSERT_EQ(reader.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(reader.get(), 0);
    EXPECT_EQ(status().stalled, 0u);
}

TEST_F(FaultFsLoopTest, SlowDelaysEachRead) {
    set_mode("slow 100");
    const auto start = Clock::now();
    ASSERT_EQ(direct_read(loop_->path()), 0);
    EXPECT_GE(Clock::now() - start, 100ms);
}

TEST_F(FaultFsLoopTest, SigtermReleasesStalledIoThenUnmounts) {
    set_mode("stall");
    auto reader =
        std::async(std::launch::async, [dev = loop_->path()] { return direct_read(dev); });
    // Only for a test that ends early: after stop() no faultfs answers.
    const ScopeExit release([this] {
        // NOLINTNEXTLINE(bugprone-unused-return-value): fails after stop(), as it should
        if (fs_) (void)fs_->set_mode("ok");
    });
    ASSERT_TRUE(fs_->wait_stalled(1, 5s)) << fs_->log();
    const auto stopped = fs_->stop();
    ASSERT_TRUE(stopped.has_value()) << stopped.error();
    ASSERT_EQ(reader.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(reader.get(), 0) << "the released read completes";
    EXPECT_FALSE(is_mount_point(mountpoint_));
    EXPECT_FALSE(process_exists(server_pid_));
}

TEST_F(FaultFsLoopTest, CtlClientSpeaksTheProtocol) {
    const std::string bin = faultfs_binary().string();
    const std::string sock = fs_->control_socket().string();
    const RunResult slow = run({bin, "ctl", sock, "slow", "50", "read"});
    EXPECT_TRUE(slow.ok()) << slow.describe();
    EXPECT_EQ(slow.out, "OK\n");
    EXPECT_EQ(status().mode,
              (faultfs::Mode{faultfs::FaultKind::kSlow, faultfs::Scope::kRead, 50ms}));
    const RunResult query = run({bin, "ctl", sock, "status"});
    EXPECT_TRUE(query.ok()) << query.describe();
    EXPECT_TRUE(query.out.starts_with("OK reads=")) << query.out;
    const RunResult bad = run({bin, "ctl", sock, "explode"});
    EXPECT_EQ(bad.status.code, 2) << bad.describe();
    EXPECT_NE(bad.err.find("unknown mode"), std::string::npos) << bad.err;
    const RunResult nobody = run({bin, "ctl", sock + ".missing", "ok"});
    EXPECT_EQ(nobody.status.code, 2) << nobody.describe();
    // The server refuses on its own too, whatever the client checked.
    auto raw = faultfs::send_request(fs_->control_socket(), "slow 0");
    ASSERT_TRUE(raw.has_value()) << raw.error();
    EXPECT_TRUE(raw->starts_with("ERR ")) << *raw;
}

TEST(FaultFsCrashTest, StopReportsADeadServerAndDetachesItsMount) {
    VIGIL_REQUIRE_ROOT();
    auto fs = FaultFs::make();
    ASSERT_TRUE(fs.has_value()) << fs.error();
    const auto mountpoint = fs->mountpoint();
    ASSERT_TRUE(is_mount_point(mountpoint));
    ASSERT_EQ(::kill(fs->pid(), SIGKILL), 0);
    auto stopped = fs->stop();
    ASSERT_FALSE(stopped.has_value());
    EXPECT_NE(stopped.error().find("signal 9"), std::string::npos) << stopped.error();
    EXPECT_NE(stopped.error().find("mounted"), std::string::npos) << stopped.error();
    EXPECT_FALSE(is_mount_point(mountpoint));
}

// A test process that dies (crash, SIGKILL from a CI timeout) must not leave
// the mount or the loop device behind: the server gets SIGTERM as a death
// signal and the loop device was attached with autoclear.
TEST(FaultFsCrashTest, ADyingTestProcessLeavesNothingMounted) {
    VIGIL_REQUIRE_ROOT();
    int report[2];
    ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(report[0]);
        auto fs = FaultFs::make({.backing_mib = 1});
        if (!fs) ::_exit(1);
        auto loop = LoopDevice::make(fs->backing_file());
        if (!loop) ::_exit(2);
        const std::string line = fs->mountpoint().string() + "\n" + loop->name() + "\n" +
                                 std::to_string(fs->pid()) + "\n";
        (void)::write(report[1], line.data(), line.size());
        ::pause();
        ::_exit(3);
    }
    ::close(report[1]);
    std::string got;
    char buf[512];
    ssize_t n = 0;
    while (std::count(got.begin(), got.end(), '\n') < 3 &&
           (n = ::read(report[0], buf, sizeof(buf))) > 0) {
        got.append(buf, static_cast<std::size_t>(n));
    }
    ::close(report[0]);
    ::kill(child, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
    std::istringstream lines(got);
    std::string mountpoint, loop_name, server;
    ASSERT_TRUE(std::getline(lines, mountpoint) && std::getline(lines, loop_name) &&
                std::getline(lines, server))
        << "child did not set up: " << got;
    const pid_t server_pid = std::stoi(server);
    EXPECT_TRUE(wait_until([&] { return !process_running(server_pid); }, 10s))
        << "vigil-faultfs outlived the test process";
    EXPECT_TRUE(wait_until([&] { return !is_mount_point(mountpoint); }, 5s)) << mountpoint;
    EXPECT_TRUE(wait_until(
        [&] { return !std::filesystem::exists("/sys/block/" + loop_name + "/loop"); }, 5s))
        << loop_name << " still attached";
    // The dead child's temporary directory is ours to remove, once nothing is
    // mounted below it.
    if (!is_mount_point(mountpoint)) {
        std::error_code ec;
        std::filesystem::remove_all(std::filesystem::path(mountpoint).parent_path(), ec);
    }
}

// Two hosts of the lab: two mounts of one shared directory.
TEST(FaultFsSharedTest, TwoMountsShareDataAndLocks) {
    VIGIL_REQUIRE_ROOT();
    auto shared = TempDir::make("shared");
    ASSERT_TRUE(shared.has_value()) << shared.error();
    auto a = FaultFs::make({.source = shared->path()});
    ASSERT_TRUE(a.has_value()) << a.error();
    auto b = FaultFs::make({.source = shared->path()});
    ASSERT_TRUE(b.has_value()) << b.error();

    const auto file_a = a->mountpoint() / "lease";
    const auto file_b = b->mountpoint() / "lease";
    {
        std::ofstream out(file_a);
        out << "held by a";
    }
    EXPECT_EQ(slurp(file_b), "held by a");

    const int fd = ::open(file_a.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0) << std::strerror(errno);
    struct flock posix {};
    posix.l_type = F_WRLCK;
    posix.l_whence = SEEK_SET;
    ASSERT_EQ(::fcntl(fd, F_SETLK, &posix), 0) << std::strerror(errno);
    // Another process, through the other mount, is refused both kinds of lock.
    const RunResult flock_b =
        run({"flock", "--nonblock", "--conflict-exit-code", "42", file_b.string(), "true"});
    EXPECT_EQ(flock_b.status.code, 42) << flock_b.describe();
    // The flock child above closed its inherited copy of fd on exec; that close
    // must not have dropped this process's POSIX lock.
    EXPECT_EQ(posix_lock_in_child(file_b), EAGAIN);
    ::close(fd);
    const RunResult after =
        run({"flock", "--nonblock", "--conflict-exit-code", "42", file_b.string(), "true"});
    EXPECT_TRUE(after.ok()) << after.describe();

    // Failing one mount leaves the other working: one host's storage path.
    ASSERT_TRUE(a->set_mode("eio").has_value());
    EXPECT_EQ(read_text(file_a), std::unexpected(EIO));
    EXPECT_EQ(slurp(file_b), "held by a");
}

}  // namespace
}  // namespace vigil::testing
