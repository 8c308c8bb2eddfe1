// vigil-watchdog-emulator: a watchdog device for hosts that have none (the
// namespace lab). It serves one file, MOUNTPOINT/watchdog, through FUSE with the
// semantics of the kernel's watchdog character device, so vigild opens it
// through the same code path as /dev/watchdog:
//   - one opener at a time (EBUSY otherwise); opening starts the timer;
//   - any write is a keepalive, a 'V' in the last write arms the magic close;
//   - WDIOC_GETSUPPORT, _SETTIMEOUT, _GETTIMEOUT, _GETTIMELEFT, _KEEPALIVE;
//     every other ioctl is ENOTTY, as from a driver that lacks it;
//   - a release after the magic close stops the timer, any other release
//     (a crash) leaves it running.
// When the timer expires the emulator "resets" the host: it SIGKILLs every
// process of the host, then stops the timer as a rebooted machine's would be.
// A host is the processes in a network namespace (--host-netns PATH, e.g.
// /run/netns/h1), those in a cgroup v2 directory (--host-cgroup DIR, killed
// through cgroup.kill), or a PID namespace, ended by killing its init whose pid
// is read from a file at reset time (--host-init-pidfile FILE). The emulator
// never kills itself, and refuses a network or PID namespace that is its own
// or PID 1's. MOUNTPOINT/status
// reads back "armed timeout_s time_left_ms resets".
#define FUSE_USE_VERSION 35
#include <fuse.h>

#include <linux/watchdog.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kDeviceName = "/watchdog";
constexpr const char* kStatusName = "/status";
constexpr int kMaxTimeout = 3600;

struct Options {
    fs::path mountpoint;
    int timeout = 5;
    fs::path host_netns;
    fs::path host_cgroup;
    fs::path host_init_pidfile;
};

struct State {
    std::mutex mutex;
    int timeout = 5;
    bool armed = false;
    bool expect_close = false;
    Clock::time_point deadline{};
    std::optional<std::uint64_t> holder_fh;
    pid_t holder_pid = 0;
    std::uint64_t next_fh = 1;
    std::uint64_t resets = 0;
};

Options g_options;
State g_state;
std::atomic<bool> g_stop{false};

void log(const std::string& text) {
    std::fprintf(stderr, "vigil-watchdog-emulator: %s\n", text.c_str());
    std::fflush(stderr);
}

bool process_alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

std::optional<std::string> netns_of(const fs::path& proc_entry) {
    std::error_code ec;
    const auto link = fs::read_symlink(proc_entry / "ns" / "net", ec);
    if (ec) return std::nullopt;
    return link.string();
}

ino_t ns_inode(const fs::path& link) {
    struct stat st {};
    return ::stat(link.c_str(), &st) == 0 ? st.st_ino : 0;
}

// A host is never the emulator's own namespace nor PID 1's: "every process of
// the host" would then be every process of the machine.
bool foreign_ns(const char* kind, ino_t ino, const std::string& what) {
    const ino_t own = ns_inode(std::string("/proc/self/ns/") + kind);
    const ino_t pid1 = ns_inode(std::string("/proc/1/ns/") + kind);
    if (ino == 0 || ino == own || ino == pid1) {
        log("refusing to reset " + what + ": its " + kind +
            " namespace is this emulator's or PID 1's");
        return false;
    }
    return true;
}

// The host's init, PID 1 of the host's own PID namespace: when it dies the
// kernel kills every process of that namespace, as a reset would.
int kill_init(const fs::path& pidfile) {
    std::ifstream in(pidfile);
    pid_t pid = 0;
    if (!(in >> pid) || pid <= 1) {
        log("no host init in " + pidfile.string());
        return 0;
    }
    const auto proc = "/proc/" + std::to_string(pid);
    if (!foreign_ns("pid", ns_inode(proc + "/ns/pid"), "init " + std::to_string(pid))) return 0;
    if (pid == ::getpid() || !process_alive(pid)) return 0;
    return ::kill(pid, SIGKILL) == 0 ? 1 : 0;
}

// Kills until nothing is left, since a dying host may still fork.
int kill_netns(const fs::path& netns) {
    struct stat st {};
    if (::stat(netns.c_str(), &st) != 0) {
        log("cannot stat " + netns.string() + ": " + std::strerror(errno));
        return 0;
    }
    if (!foreign_ns("net", st.st_ino, netns.string())) return 0;
    const std::string wanted = "net:[" + std::to_string(st.st_ino) + "]";
    const pid_t self = ::getpid();
    int killed = 0;
    for (int round = 0; round < 50; ++round) {
        int found = 0;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator("/proc", ec)) {
            const auto name = entry.path().filename().string();
            pid_t pid = 0;
            if (std::from_chars(name.data(), name.data() + name.size(), pid).ec != std::errc{})
                continue;
            if (pid == self || netns_of(entry.path()) != wanted || !process_alive(pid)) continue;
            ++found;
            if (::kill(pid, SIGKILL) == 0) ++killed;
        }
        if (found == 0) break;
        std::this_thread::sleep_for(20ms);
    }
    return killed;
}

int kill_cgroup(const fs::path& cgroup) {
    int count = 0;
    {
        std::ifstream procs(cgroup / "cgroup.procs");
        for (pid_t pid = 0; procs >> pid;) count += pid != ::getpid() ? 1 : 0;
    }
    std::ofstream kill_file(cgroup / "cgroup.kill");
    kill_file << "1";
    kill_file.flush();
    if (!kill_file) log("cannot write " + (cgroup / "cgroup.kill").string());
    return count;
}

void reset_host() {
    int killed = 0;
    std::string what;
    if (!g_options.host_init_pidfile.empty()) {
        killed += kill_init(g_options.host_init_pidfile);
        what += " init of " + g_options.host_init_pidfile.string();
    }
    if (!g_options.host_netns.empty()) {
        killed += kill_netns(g_options.host_netns);
        what += " netns " + g_options.host_netns.string();
    }
    if (!g_options.host_cgroup.empty()) {
        killed += kill_cgroup(g_options.host_cgroup);
        what += " cgroup " + g_options.host_cgroup.string();
    }
    log("expired: reset the host (" + std::to_string(killed) + " processes killed in" + what + ")");
}

void expiry_loop() {
    while (!g_stop.load()) {
        std::this_thread::sleep_for(20ms);
        bool expired = false;
        {
            std::lock_guard lock(g_state.mutex);
            if (g_state.armed && Clock::now() >= g_state.deadline) {
                expired = true;
                // A reset machine comes back with its watchdog stopped.
                g_state.armed = false;
                g_state.expect_close = false;
                ++g_state.resets;
            }
        }
        if (expired) reset_host();
    }
}

void ping_locked() { g_state.deadline = Clock::now() + std::chrono::seconds(g_state.timeout); }

std::string status_text() {
    std::lock_guard lock(g_state.mutex);
    long long left = 0;
    if (g_state.armed) {
        left =
            std::chrono::duration_cast<std::chrono::milliseconds>(g_state.deadline - Clock::now())
                .count();
        if (left < 0) left = 0;
    }
    return "armed " + std::to_string(g_state.armed ? 1 : 0) + "\ntimeout_s " +
           std::to_string(g_state.timeout) + "\ntime_left_ms " + std::to_string(left) +
           "\nresets " + std::to_string(g_state.resets) + "\n";
}

int op_getattr(const char* path, struct stat* st, fuse_file_info*) {
    std::memset(st, 0, sizeof(*st));
    if (std::strcmp(path, "/") == 0) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
    } else if (std::strcmp(path, kDeviceName) == 0) {
        st->st_mode = S_IFREG | 0600;
        st->st_nlink = 1;
    } else if (std::strcmp(path, kStatusName) == 0) {
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = 4096;
    } else {
        return -ENOENT;
    }
    return 0;
}

int op_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
               fuse_readdir_flags) {
    if (std::strcmp(path, "/") != 0) return -ENOENT;
    fill(buf, ".", nullptr, 0, FUSE_FILL_DIR_PLUS);
    fill(buf, "..", nullptr, 0, FUSE_FILL_DIR_PLUS);
    fill(buf, kDeviceName + 1, nullptr, 0, FUSE_FILL_DIR_PLUS);
    fill(buf, kStatusName + 1, nullptr, 0, FUSE_FILL_DIR_PLUS);
    return 0;
}

int op_open(const char* path, fuse_file_info* fi) {
    fi->direct_io = 1;
    fi->nonseekable = 1;
    if (std::strcmp(path, kStatusName) == 0) return 0;
    if (std::strcmp(path, kDeviceName) != 0) return -ENOENT;
    const pid_t opener = fuse_get_context()->pid;
    std::lock_guard lock(g_state.mutex);
    // The kernel releases a dead holder's file itself; here the release may
    // still be in flight when a restarted daemon opens again.
    // A holder in another pid namespace shows as pid 0: assume it lives.
    if (g_state.holder_fh && (g_state.holder_pid <= 0 || process_alive(g_state.holder_pid))) {
        return -EBUSY;
    }
    fi->fh = g_state.next_fh++;
    g_state.holder_fh = fi->fh;
    g_state.holder_pid = opener;
    g_state.armed = true;
    g_state.expect_close = false;
    ping_locked();
    log("opened by pid " + std::to_string(opener) + ", armed for " +
        std::to_string(g_state.timeout) + " s");
    return 0;
}

int op_read(const char* path, char* buf, size_t size, off_t off, fuse_file_info*) {
    if (std::strcmp(path, kStatusName) != 0) return -EINVAL;
    const auto text = status_text();
    if (off >= static_cast<off_t>(text.size())) return 0;
    const size_t n = std::min(size, text.size() - static_cast<size_t>(off));
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result): a read of a file, not a C string
    std::memcpy(buf, text.data() + off, n);
    return static_cast<int>(n);
}

int op_write(const char* path, const char* buf, size_t size, off_t, fuse_file_info* fi) {
    if (std::strcmp(path, kDeviceName) != 0) return -EBADF;
    std::lock_guard lock(g_state.mutex);
    if (g_state.holder_fh != fi->fh) return -EBADF;
    g_state.expect_close = std::memchr(buf, 'V', size) != nullptr;
    if (g_state.armed) ping_locked();
    return static_cast<int>(size);
}

int op_ioctl(const char* path, unsigned int cmd, void*, fuse_file_info* fi, unsigned int,
             void* data) {
    if (std::strcmp(path, kDeviceName) != 0) return -ENOTTY;
    std::lock_guard lock(g_state.mutex);
    if (g_state.holder_fh != fi->fh) return -EBADF;
    auto* value = static_cast<int*>(data);
    switch (cmd) {
        case WDIOC_GETSUPPORT: {
            watchdog_info info{};
            info.options = WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE | WDIOF_KEEPALIVEPING;
            info.firmware_version = 1;
            std::snprintf(reinterpret_cast<char*>(info.identity), sizeof(info.identity),
                          "vigil emulated");
            std::memcpy(data, &info, sizeof(info));
            return 0;
        }
        case WDIOC_KEEPALIVE:
            if (g_state.armed) ping_locked();
            return 0;
        case WDIOC_SETTIMEOUT:
            if (*value < 1 || *value > kMaxTimeout) return -EINVAL;
            g_state.timeout = *value;
            if (g_state.armed) ping_locked();
            return 0;
        case WDIOC_GETTIMEOUT:
            *value = g_state.timeout;
            return 0;
        case WDIOC_GETTIMELEFT: {
            const auto left =
                std::chrono::duration_cast<std::chrono::seconds>(g_state.deadline - Clock::now());
            *value = g_state.armed && left.count() > 0 ? static_cast<int>(left.count()) : 0;
            return 0;
        }
        default:
            return -ENOTTY;
    }
}

int op_release(const char* path, fuse_file_info* fi) {
    if (std::strcmp(path, kDeviceName) != 0) return 0;
    std::lock_guard lock(g_state.mutex);
    if (g_state.holder_fh != fi->fh) return 0;
    g_state.holder_fh.reset();
    if (g_state.expect_close) {
        g_state.armed = false;
        log("magic close: stopped");
    } else if (g_state.armed) {
        log("closed without the magic character: still armed");
    }
    g_state.expect_close = false;
    return 0;
}

int usage() {
    std::fprintf(stderr,
                 "usage: vigil-watchdog-emulator --mountpoint DIR [--timeout SECONDS]\n"
                 "       (--host-netns PATH | --host-cgroup DIR | --host-init-pidfile FILE)...\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) return usage();
        const std::string value = argv[++i];
        if (arg == "--mountpoint") {
            g_options.mountpoint = value;
        } else if (arg == "--timeout") {
            g_options.timeout = std::stoi(value);
        } else if (arg == "--host-netns") {
            g_options.host_netns = value;
        } else if (arg == "--host-cgroup") {
            g_options.host_cgroup = value;
        } else if (arg == "--host-init-pidfile") {
            g_options.host_init_pidfile = value;
        } else {
            return usage();
        }
    }
    if (g_options.mountpoint.empty() ||
        (g_options.host_netns.empty() && g_options.host_cgroup.empty() &&
         g_options.host_init_pidfile.empty()) ||
        g_options.timeout < 1 || g_options.timeout > kMaxTimeout) {
        return usage();
    }
    g_state.timeout = g_options.timeout;

    fuse_operations ops{};
    ops.getattr = op_getattr;
    ops.readdir = op_readdir;
    ops.open = op_open;
    ops.read = op_read;
    ops.write = op_write;
    ops.ioctl = op_ioctl;
    ops.release = op_release;

    std::string program = "vigil-watchdog-emulator";
    std::vector<char*> fuse_argv = {program.data()};
    fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fuse_argv.size()), fuse_argv.data());
    fuse* fs = fuse_new(&args, &ops, sizeof(ops), nullptr);
    if (!fs) return 1;
    if (fuse_mount(fs, g_options.mountpoint.c_str()) != 0) {
        fuse_destroy(fs);
        return 1;
    }
    fuse_set_signal_handlers(fuse_get_session(fs));
    log("serving " + (g_options.mountpoint / "watchdog").string());
    std::thread expiry(expiry_loop);
    // Single-threaded: one request at a time keeps the device's state simple.
    const int rc = fuse_loop(fs);
    g_stop = true;
    expiry.join();
    fuse_remove_signal_handlers(fuse_get_session(fs));
    fuse_unmount(fs);
    fuse_destroy(fs);
    // Ending on SIGTERM/SIGINT/SIGHUP is the normal way to stop.
    return rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP || rc == -SIGTERM ? 0 : 1;
}
