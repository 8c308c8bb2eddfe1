// vigil-faultfs: a passthrough FUSE file system whose data path can be told, at
// run time, to fail (EIO, ENOSPC), stall or slow down. Every file is opened with
// direct_io so each read and write of a loop device stacked on it reaches us
// instead of being served by the page cache.
#define FUSE_USE_VERSION 312

#include <dirent.h>
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/tools/faultfs/client.h"
#include "tests/tools/faultfs/gate.h"
#include "tests/tools/faultfs/protocol.h"

namespace vigil::faultfs {
namespace {

constexpr std::string_view kUsage =
    "usage: vigil-faultfs --source DIR --control SOCKET [--ready-fd N] [--mode MODE]\n"
    "                     [--max-threads N] [--no-allow-other] [--debug] [-o FUSEOPTS]\n"
    "                     MOUNTPOINT\n"
    "       vigil-faultfs ctl SOCKET MODE|status\n"
    "MODE: (ok | eio [read|write] | enospc | stall [read|write] | slow MS [read|write])\n"
    "      [file PATH]\n";

constexpr int kDefaultMaxThreads = 64;
constexpr std::chrono::milliseconds kRequestReadTimeout{2000};
constexpr std::chrono::milliseconds kWakeRetry{200};

// POSIX locks belong to a lock owner (a process), the kernel tells us which.
// Each owner of each open file gets a descriptor of its own on the source file
// and locks there as an open-file-description lock: owners exclude each other,
// also across the mounts of several hosts, and one owner's close (which FUSE
// turns into an unlock of that owner) leaves the others' locks alone.
class LockTable {
  public:
    int fd_for(std::uint64_t fh, std::uint64_t owner) {
        const std::lock_guard lock(mu_);
        const auto key = std::make_pair(fh, owner);
        if (const auto it = fds_.find(key); it != fds_.end()) return it->second;
        const int flags = ::fcntl(static_cast<int>(fh), F_GETFL);
        if (flags < 0) return -errno;
        const std::string self = "/proc/self/fd/" + std::to_string(fh);
        const int fd = ::open(self.c_str(), (flags & O_ACCMODE) | O_CLOEXEC);
        if (fd < 0) return -errno;
        fds_.emplace(key, fd);
        return fd;
    }

    void drop_file(std::uint64_t fh) {
        const std::lock_guard lock(mu_);
        for (auto it = fds_.lower_bound({fh, 0}); it != fds_.end() && it->first.first == fh;) {
            ::close(it->second);
            it = fds_.erase(it);
        }
    }

  private:
    std::mutex mu_;
    std::map<std::pair<std::uint64_t, std::uint64_t>, int> fds_;
};

// The path each open file was opened by, for faults scoped to one file.
class FileNames {
  public:
    void add(std::uint64_t fh, const char* path) {
        const std::lock_guard lock(mu_);
        names_[fh] = path;
    }
    void drop(std::uint64_t fh) {
        const std::lock_guard lock(mu_);
        names_.erase(fh);
    }
    std::string of(std::uint64_t fh) {
        const std::lock_guard lock(mu_);
        const auto it = names_.find(fh);
        return it == names_.end() ? std::string() : it->second;
    }

  private:
    std::mutex mu_;
    std::map<std::uint64_t, std::string> names_;
};

struct Context {
    int source_fd = -1;
    Gate gate;
    LockTable locks;
    FileNames names;
};

Context& context() { return *static_cast<Context*>(fuse_get_context()->private_data); }

// Paths from FUSE start with '/'; the source directory is reached through its
// fd so the process never depends on its working directory.
const char* rel(const char* path) {
    while (*path == '/') ++path;
    return *path == '\0' ? "." : path;
}

int fail(int rc) { return rc < 0 ? -errno : rc; }

// New files belong to whoever asked for them, not to the server.
void give_to_caller(const char* path) {
    const fuse_context* caller = fuse_get_context();
    if (caller->uid == 0 && caller->gid == 0) return;
    (void)::fchownat(context().source_fd, rel(path), caller->uid, caller->gid, AT_SYMLINK_NOFOLLOW);
}

void* op_init(fuse_conn_info* /*conn*/, fuse_config* cfg) {
    cfg->use_ino = 1;
    cfg->nullpath_ok = 1;
    cfg->hard_remove = 1;
    cfg->direct_io = 1;
    // Several hosts may view one source directory through their own mounts;
    // cached attributes would hide each other's writes.
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    return fuse_get_context()->private_data;
}

int op_getattr(const char* path, struct stat* st, fuse_file_info* fi) {
    if (fi != nullptr) return fail(::fstat(static_cast<int>(fi->fh), st));
    return fail(::fstatat(context().source_fd, rel(path), st, AT_SYMLINK_NOFOLLOW));
}

int op_access(const char* path, int mask) {
    return fail(::faccessat(context().source_fd, rel(path), mask, 0));
}

int op_readlink(const char* path, char* buf, size_t size) {
    const ssize_t n = ::readlinkat(context().source_fd, rel(path), buf, size - 1);
    if (n < 0) return -errno;
    buf[n] = '\0';
    return 0;
}

int op_opendir(const char* path, fuse_file_info* fi) {
    const int fd = ::openat(context().source_fd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
        const int err = errno;
        ::close(fd);
        return -err;
    }
    fi->fh = reinterpret_cast<std::uint64_t>(dir);
    return 0;
}

int op_readdir(const char* /*path*/, void* buf, fuse_fill_dir_t filler, off_t /*offset*/,
               fuse_file_info* fi, fuse_readdir_flags /*flags*/) {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): FUSE keeps our DIR* in its uint64_t fh
    DIR* dir = reinterpret_cast<DIR*>(fi->fh);
    ::rewinddir(dir);
    while (const dirent* entry = ::readdir(dir)) {
        struct stat st {};
        st.st_ino = entry->d_ino;
        st.st_mode = static_cast<mode_t>(DTTOIF(entry->d_type));
        if (filler(buf, entry->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) break;
    }
    return 0;
}

int op_releasedir(const char* /*path*/, fuse_file_info* fi) {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): FUSE keeps our DIR* in its uint64_t fh
    ::closedir(reinterpret_cast<DIR*>(fi->fh));
    return 0;
}

int op_mknod(const char* path, mode_t mode, dev_t rdev) {
    const int rc = ::mknodat(context().source_fd, rel(path), mode, rdev);
    if (rc == 0) give_to_caller(path);
    return fail(rc);
}

int op_mkdir(const char* path, mode_t mode) {
    const int rc = ::mkdirat(context().source_fd, rel(path), mode);
    if (rc == 0) give_to_caller(path);
    return fail(rc);
}

int op_unlink(const char* path) { return fail(::unlinkat(context().source_fd, rel(path), 0)); }

int op_rmdir(const char* path) {
    return fail(::unlinkat(context().source_fd, rel(path), AT_REMOVEDIR));
}

int op_symlink(const char* target, const char* path) {
    const int rc = ::symlinkat(target, context().source_fd, rel(path));
    if (rc == 0) give_to_caller(path);
    return fail(rc);
}

int op_rename(const char* from, const char* to, unsigned int flags) {
    const int src = context().source_fd;
    return fail(::renameat2(src, rel(from), src, rel(to), flags));
}

int op_link(const char* from, const char* to) {
    const int src = context().source_fd;
    return fail(::linkat(src, rel(from), src, rel(to), 0));
}

int op_chmod(const char* path, mode_t mode, fuse_file_info* fi) {
    if (fi != nullptr) return fail(::fchmod(static_cast<int>(fi->fh), mode));
    return fail(::fchmodat(context().source_fd, rel(path), mode, 0));
}

int op_chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
    if (fi != nullptr) return fail(::fchown(static_cast<int>(fi->fh), uid, gid));
    return fail(::fchownat(context().source_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

int op_truncate(const char* path, off_t size, fuse_file_info* fi) {
    if (fi != nullptr) return fail(::ftruncate(static_cast<int>(fi->fh), size));
    const int fd = ::openat(context().source_fd, rel(path), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    const int rc = fail(::ftruncate(fd, size));
    ::close(fd);
    return rc;
}

int op_utimens(const char* path, const timespec tv[2], fuse_file_info* fi) {
    if (fi != nullptr) return fail(::futimens(static_cast<int>(fi->fh), tv));
    return fail(::utimensat(context().source_fd, rel(path), tv, AT_SYMLINK_NOFOLLOW));
}

// The kernel alone decides about O_DIRECT alignment; the source may be a file
// system (tmpfs on old kernels) that refuses O_DIRECT.
int source_flags(int flags) { return (flags & ~O_DIRECT) | O_CLOEXEC; }

int op_create(const char* path, mode_t mode, fuse_file_info* fi) {
    const int fd =
        ::openat(context().source_fd, rel(path), source_flags(fi->flags) | O_CREAT, mode);
    if (fd < 0) return -errno;
    give_to_caller(path);
    fi->fh = static_cast<std::uint64_t>(fd);
    fi->direct_io = 1;
    context().names.add(fi->fh, rel(path));
    return 0;
}

int op_open(const char* path, fuse_file_info* fi) {
    const int fd = ::openat(context().source_fd, rel(path), source_flags(fi->flags));
    if (fd < 0) return -errno;
    fi->fh = static_cast<std::uint64_t>(fd);
    fi->direct_io = 1;
    context().names.add(fi->fh, rel(path));
    return 0;
}

int op_read(const char* /*path*/, char* buf, size_t size, off_t offset, fuse_file_info* fi) {
    if (const int rc = context().gate.enter(Op::kRead, context().names.of(fi->fh)); rc != 0)
        return rc;
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(static_cast<int>(fi->fh), buf + done, size - done,
                                  offset + static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return done > 0 ? static_cast<int>(done) : -errno;
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    return static_cast<int>(done);
}

int op_write(const char* /*path*/, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
    if (const int rc = context().gate.enter(Op::kWrite, context().names.of(fi->fh)); rc != 0)
        return rc;
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pwrite(static_cast<int>(fi->fh), buf + done, size - done,
                                   offset + static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return done > 0 ? static_cast<int>(done) : -errno;
        done += static_cast<std::size_t>(n);
    }
    return static_cast<int>(done);
}

int op_statfs(const char* /*path*/, struct statvfs* st) {
    return fail(::fstatvfs(context().source_fd, st));
}

int op_flush(const char* /*path*/, fuse_file_info* fi) {
    // close() of a duplicate reports errors of the source the way the caller's
    // own close() would, without giving up our descriptor.
    const int dup = ::dup(static_cast<int>(fi->fh));
    if (dup < 0) return -errno;
    return fail(::close(dup));
}

int op_release(const char* /*path*/, fuse_file_info* fi) {
    context().locks.drop_file(fi->fh);
    context().names.drop(fi->fh);
    ::close(static_cast<int>(fi->fh));
    return 0;
}

int op_fsync(const char* /*path*/, int datasync, fuse_file_info* fi) {
    if (const int rc = context().gate.enter(Op::kFlush, context().names.of(fi->fh)); rc != 0)
        return rc;
    const int fd = static_cast<int>(fi->fh);
    return fail(datasync != 0 ? ::fdatasync(fd) : ::fsync(fd));
}

int op_fallocate(const char* /*path*/, int mode, off_t offset, off_t length, fuse_file_info* fi) {
    if (const int rc = context().gate.enter(Op::kWrite, context().names.of(fi->fh)); rc != 0)
        return rc;
    return fail(::fallocate(static_cast<int>(fi->fh), mode, offset, length));
}

off_t op_lseek(const char* /*path*/, off_t offset, int whence, fuse_file_info* fi) {
    const off_t rc = ::lseek(static_cast<int>(fi->fh), offset, whence);
    return rc < 0 ? -errno : rc;
}

int op_lock(const char* /*path*/, fuse_file_info* fi, int cmd, struct flock* lock) {
    int ofd_cmd = F_OFD_SETLK;
    switch (cmd) {
        case F_GETLK:
            ofd_cmd = F_OFD_GETLK;
            break;
        case F_SETLK:
            ofd_cmd = F_OFD_SETLK;
            break;
        case F_SETLKW:
            ofd_cmd = F_OFD_SETLKW;
            break;
        default:
            return -EINVAL;
    }
    const int fd = context().locks.fd_for(fi->fh, fi->lock_owner);
    if (fd < 0) return fd;
    lock->l_pid = 0;
    return fail(::fcntl(fd, ofd_cmd, lock));
}

// flock locks belong to the open file itself, exactly what the source fd is.
int op_flock(const char* /*path*/, fuse_file_info* fi, int op) {
    return fail(::flock(static_cast<int>(fi->fh), op));
}

fuse_operations make_operations() {
    fuse_operations ops{};
    ops.init = op_init;
    ops.getattr = op_getattr;
    ops.access = op_access;
    ops.readlink = op_readlink;
    ops.opendir = op_opendir;
    ops.readdir = op_readdir;
    ops.releasedir = op_releasedir;
    ops.mknod = op_mknod;
    ops.mkdir = op_mkdir;
    ops.unlink = op_unlink;
    ops.rmdir = op_rmdir;
    ops.symlink = op_symlink;
    ops.rename = op_rename;
    ops.link = op_link;
    ops.chmod = op_chmod;
    ops.chown = op_chown;
    ops.truncate = op_truncate;
    ops.utimens = op_utimens;
    ops.create = op_create;
    ops.open = op_open;
    ops.read = op_read;
    ops.write = op_write;
    ops.statfs = op_statfs;
    ops.flush = op_flush;
    ops.release = op_release;
    ops.fsync = op_fsync;
    ops.fallocate = op_fallocate;
    ops.lseek = op_lseek;
    ops.lock = op_lock;
    ops.flock = op_flock;
    return ops;
}

class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&&) = delete;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] int get() const { return fd_; }

  private:
    int fd_ = -1;
};

struct ServeArgs {
    std::filesystem::path source;
    std::filesystem::path control;
    std::filesystem::path mountpoint;
    std::optional<int> ready_fd;
    Mode initial_mode;
    int max_threads = kDefaultMaxThreads;
    bool allow_other = true;
    bool debug = false;
    std::vector<std::string> fuse_options;
};

std::expected<int, std::string> parse_int(std::string_view text, std::string_view what) {
    int value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || value < 0) {
        return std::unexpected(std::string(what) + " needs a non-negative integer, got '" +
                               std::string(text) + "'");
    }
    return value;
}

std::expected<ServeArgs, std::string> parse_serve_args(const std::vector<std::string_view>& args) {
    ServeArgs out;
    std::vector<std::string_view> positional;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        const auto value = [&]() -> std::expected<std::string_view, std::string> {
            if (i + 1 >= args.size()) return std::unexpected(std::string(arg) + " needs a value");
            return args[++i];
        };
        if (arg == "--source" || arg == "--control" || arg == "--ready-fd" || arg == "--mode" ||
            arg == "--max-threads" || arg == "-o") {
            auto v = value();
            if (!v) return std::unexpected(v.error());
            if (arg == "--source") {
                out.source = *v;
            } else if (arg == "--control") {
                out.control = *v;
            } else if (arg == "--ready-fd") {
                auto n = parse_int(*v, arg);
                if (!n) return std::unexpected(n.error());
                out.ready_fd = *n;
            } else if (arg == "--mode") {
                auto mode = parse_mode(*v);
                if (!mode) return std::unexpected(mode.error());
                out.initial_mode = *mode;
            } else if (arg == "--max-threads") {
                auto n = parse_int(*v, arg);
                if (!n) return std::unexpected(n.error());
                if (*n < 2) return std::unexpected(std::string("--max-threads must be >= 2"));
                out.max_threads = *n;
            } else {
                out.fuse_options.emplace_back(*v);
            }
        } else if (arg == "--no-allow-other") {
            out.allow_other = false;
        } else if (arg == "--debug") {
            out.debug = true;
        } else if (arg.starts_with("-")) {
            return std::unexpected("unknown option " + std::string(arg));
        } else {
            positional.push_back(arg);
        }
    }
    if (out.source.empty()) return std::unexpected(std::string("--source is required"));
    if (out.control.empty()) return std::unexpected(std::string("--control is required"));
    if (positional.size() != 1) return std::unexpected(std::string("need exactly one MOUNTPOINT"));
    out.mountpoint = positional[0];
    return out;
}

std::string errno_text(std::string_view what) {
    return std::string(what) + ": " + std::strerror(errno);
}

// A socket file left by a crashed run is replaced; one still answering is not.
std::expected<Fd, std::string> listen_control(const std::filesystem::path& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string text = path.string();
    if (text.size() >= sizeof(addr.sun_path)) {
        return std::unexpected("control socket path too long: " + text);
    }
    std::memcpy(addr.sun_path, text.c_str(), text.size() + 1);
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(path, ec))) {
        if (send_request(path, "status", std::chrono::milliseconds(500))) {
            return std::unexpected("control socket " + text + " is served by a running instance");
        }
        std::filesystem::remove(path, ec);
    }
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return std::unexpected(errno_text("socket"));
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        return std::unexpected(errno_text("bind " + text));
    }
    if (::listen(fd.get(), 16) != 0) return std::unexpected(errno_text("listen " + text));
    return fd;
}

std::string handle_line(Gate& gate, std::string_view line) {
    auto request = parse_request(line);
    if (!request) return format_error(request.error());
    if (const auto* set = std::get_if<SetMode>(&*request)) {
        gate.set_mode(set->mode);
        std::cerr << "vigil-faultfs: mode " << format_mode(set->mode) << '\n';
        return format_ok();
    }
    return format_status(gate.status());
}

void serve_connection(Gate& gate, int listen_fd) {
    const Fd conn(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (conn.get() < 0) return;
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + kRequestReadTimeout;
    char buf[256];
    while (line.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return;
        pollfd pfd{conn.get(), POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready <= 0) continue;
        const ssize_t n = ::recv(conn.get(), buf, sizeof(buf), 0);
        if (n <= 0) break;
        line.append(buf, static_cast<std::size_t>(n));
        if (line.size() > 4096) return;
    }
    const std::string reply = handle_line(gate, line.substr(0, line.find('\n'))) + "\n";
    (void)::send(conn.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
}

struct ControlLoop {
    Gate* gate;
    fuse* fs;
    pthread_t main_thread;
    int listen_fd;
    int signal_fd;
    int stop_fd;  // written by the main thread once the FUSE loop has returned
};

// Runs until the FUSE loop has ended. On SIGTERM/SIGINT/SIGHUP it first lets
// every stalled operation go, then ends the FUSE loop.
void run_control(const ControlLoop& loop) {
    bool stopping = false;
    for (;;) {
        pollfd fds[3] = {
            {loop.stop_fd, POLLIN, 0}, {loop.signal_fd, POLLIN, 0}, {loop.listen_fd, POLLIN, 0}};
        // While stopping, the wake-up signal is repeated: it may land just before
        // the FUSE loop starts waiting, and then it would be lost.
        const int ready = ::poll(fds, 3, stopping ? static_cast<int>(kWakeRetry.count()) : -1);
        if (ready < 0 && errno == EINTR) continue;
        if (fds[0].revents != 0) return;
        if (fds[1].revents != 0) {
            signalfd_siginfo info{};
            if (::read(loop.signal_fd, &info, sizeof(info)) == sizeof(info)) {
                std::cerr << "vigil-faultfs: signal " << info.ssi_signo
                          << ", releasing stalled operations and unmounting\n";
            }
            loop.gate->release_all();
            fuse_exit(loop.fs);
            stopping = true;
        }
        if (fds[2].revents != 0) serve_connection(*loop.gate, loop.listen_fd);
        if (stopping) ::pthread_kill(loop.main_thread, SIGUSR1);
    }
}

void on_wake(int /*signo*/) {}

int serve(const ServeArgs& args) {
    // Every thread created from here on inherits this mask, so these signals
    // are only ever seen through the signalfd.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    // Interrupts the FUSE loop's wait; no SA_RESTART so the wait really returns.
    struct sigaction wake {};
    wake.sa_handler = on_wake;
    sigemptyset(&wake.sa_mask);
    ::sigaction(SIGUSR1, &wake, nullptr);

    const Fd signal_fd(::signalfd(-1, &stop_signals, SFD_CLOEXEC));
    const Fd stop_fd(::eventfd(0, EFD_CLOEXEC));
    if (signal_fd.get() < 0 || stop_fd.get() < 0) {
        std::cerr << "vigil-faultfs: " << errno_text("signalfd/eventfd") << '\n';
        return 1;
    }

    Context ctx;
    ctx.gate.set_mode(args.initial_mode);
    const Fd source_fd(::open(args.source.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (source_fd.get() < 0) {
        std::cerr << "vigil-faultfs: " << errno_text("open source " + args.source.string()) << '\n';
        return 1;
    }
    ctx.source_fd = source_fd.get();

    auto listen_fd = listen_control(args.control);
    if (!listen_fd) {
        std::cerr << "vigil-faultfs: " << listen_fd.error() << '\n';
        return 1;
    }

    std::string options = "default_permissions,fsname=vigil-faultfs,subtype=vigil-faultfs";
    if (args.allow_other) options += ",allow_other";
    for (const auto& extra : args.fuse_options) options += "," + extra;
    std::vector<std::string> argv_store = {"vigil-faultfs", "-o", options};
    if (args.debug) argv_store.emplace_back("-d");
    std::vector<char*> argv;
    argv.reserve(argv_store.size());
    for (auto& s : argv_store) argv.push_back(s.data());
    fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

    const fuse_operations ops = make_operations();
    fuse* fs = fuse_new(&fargs, &ops, sizeof(ops), &ctx);
    if (fs == nullptr) {
        std::cerr << "vigil-faultfs: fuse_new failed\n";
        std::error_code ec;
        std::filesystem::remove(args.control, ec);
        return 1;
    }
    if (fuse_mount(fs, args.mountpoint.c_str()) != 0) {
        std::cerr << "vigil-faultfs: cannot mount on " << args.mountpoint << '\n';
        fuse_destroy(fs);
        std::error_code ec;
        std::filesystem::remove(args.control, ec);
        return 1;
    }

    const ControlLoop loop{&ctx.gate,       fs,           ::pthread_self(), listen_fd->get(),
                           signal_fd.get(), stop_fd.get()};
    std::thread control([&loop] { run_control(loop); });

    std::cerr << "vigil-faultfs: serving " << args.source << " on " << args.mountpoint
              << ", control " << args.control << ", mode " << format_mode(args.initial_mode)
              << '\n';
    if (args.ready_fd) {
        constexpr std::string_view kReady = "READY\n";
        (void)::write(*args.ready_fd, kReady.data(), kReady.size());
        ::close(*args.ready_fd);
    }

    fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(config, static_cast<unsigned>(args.max_threads));
    fuse_loop_cfg_set_idle_threads(config, 4);
    const int rc = fuse_loop_mt(fs, config);
    fuse_loop_cfg_destroy(config);

    // The loop may also end from outside (fusermount -u): nothing may stay blocked.
    ctx.gate.release_all();
    const std::uint64_t one = 1;
    (void)::write(stop_fd.get(), &one, sizeof(one));
    control.join();

    fuse_unmount(fs);
    fuse_destroy(fs);
    std::error_code ec;
    std::filesystem::remove(args.control, ec);
    std::cerr << "vigil-faultfs: unmounted " << args.mountpoint << '\n';
    return rc == 0 ? 0 : 1;
}

int run_ctl(const std::vector<std::string_view>& args) {
    if (args.size() < 2) {
        std::cerr << kUsage;
        return 2;
    }
    std::string line;
    for (std::size_t i = 1; i < args.size(); ++i) {
        if (!line.empty()) line += ' ';
        line += args[i];
    }
    // Refuse locally what the server would refuse, with the same words.
    if (auto request = parse_request(line); !request) {
        std::cerr << "vigil-faultfs ctl: " << request.error() << '\n';
        return 2;
    }
    auto reply = send_request(std::filesystem::path(args[0]), line);
    if (!reply) {
        std::cerr << "vigil-faultfs ctl: " << reply.error() << '\n';
        return 2;
    }
    std::cout << *reply << '\n';
    return parse_reply(*reply) ? 0 : 1;
}

}  // namespace
}  // namespace vigil::faultfs

int main(int argc, char** argv) {
    using namespace vigil::faultfs;
    std::vector<std::string_view> args(argv + 1, argv + argc);
    if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) {
        std::cout << kUsage;
        return 0;
    }
    if (!args.empty() && args[0] == "ctl") {
        return run_ctl(std::vector<std::string_view>(args.begin() + 1, args.end()));
    }
    auto parsed = parse_serve_args(args);
    if (!parsed) {
        std::cerr << "vigil-faultfs: " << parsed.error() << '\n' << kUsage;
        return 2;
    }
    return serve(*parsed);
}
