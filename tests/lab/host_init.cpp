#include "tests/lab/host_init.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/lab/loops.h"

namespace vigil::lab {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSysrqTrigger = "/proc/sysrq-trigger";

struct Daemon {
    std::string name;
    std::vector<std::string> argv;
    bool restart = false;  // supervised like a systemd unit with Restart=always
    // Started only once the lab has checked the host's safety (safety.h):
    // what may reboot waits for proof that a reboot ends only this host.
    bool after_safety = false;
    // Run in a forked child of the init instead of exec'ing argv.
    std::function<void()> body = {};
    pid_t pid = 0;
    double restart_at = 0;
};

void log_line(const std::string& what) {
    std::time_t t = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", std::localtime(&t));
    // std::cerr is unit-buffered: the line is out before the next step.
    std::cerr << stamp << " init: " << what << '\n';
}

bool is_mount_point(const std::string& path) {
    struct stat self {};
    struct stat parent {};
    if (::stat(path.c_str(), &self) != 0) return false;
    if (::stat(fs::path(path).parent_path().c_str(), &parent) != 0) return false;
    return self.st_dev != parent.st_dev;
}

Result<> must(int rc, const std::string& what) {
    if (rc != 0) return fail(what + ": " + std::strerror(errno));
    return {};
}

Result<> bind_dir(const fs::path& from, const std::string& to) {
    std::error_code ec;
    fs::create_directories(from, ec);
    return must(::mount(from.c_str(), to.c_str(), nullptr, MS_BIND, nullptr),
                "bind " + from.string() + " on " + to);
}

// The host's private view of the machine: its own /run, its own libvirt and
// corosync configuration and state, its own view of the shared storage.
Result<> make_mounts(const Layout& layout, int host, const Tools& tools) {
    auto dir = layout.host_dir(host);
    std::error_code ec;
    if (::unshare(CLONE_NEWNS) != 0)
        return fail(std::string("unshare mnt: ") + std::strerror(errno));
    if (auto r =
            must(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make / private");
        !r)
        return r;
    // sysfs shows the namespace that mounted it: remount it so /sys/class/net
    // lists this host's links, not the machine's.
    ::umount2("/sys", MNT_DETACH);
    if (auto r = must(::mount("sysfs", "/sys", "sysfs", 0, nullptr), "mount /sys"); !r) return r;
    // The host's own /proc, of its own PID namespace: /proc/self resolves for
    // what runs in the host, and only the host's processes are listed.
    if (auto r = must(::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr),
                      "mount /proc");
        !r)
        return r;
    // SysRq is the machine's whatever the namespace: a regular file of the
    // host's run folder covers the trigger, so a write lands there. A kernel
    // without SysRq has no trigger at all, and a write finds nothing.
    if (fs::exists(kSysrqTrigger, ec)) {
        if (auto r = must(::mount(sysrq_cover(layout, host).c_str(), kSysrqTrigger, nullptr,
                                  MS_BIND, nullptr),
                          std::string("cover ") + kSysrqTrigger);
            !r)
            return r;
    }
    // Each host has its own vigil configuration and state (its flight
    // record): the lab made the machine's mount points, empty, if missing.
    const std::pair<const char*, const char*> binds[] = {
        {"etc/libvirt", "/etc/libvirt"},
        {"etc/corosync", "/etc/corosync"},
        {"var/lib/libvirt", "/var/lib/libvirt"},
        {"var/cache/libvirt", "/var/cache/libvirt"},
        {"var/log/libvirt", "/var/log/libvirt"},
        {"var/lib/corosync", "/var/lib/corosync"},
        {"etc/vigil", "/etc/vigil"},
        {"var/lib/vigil", "/var/lib/vigil"},
    };
    for (auto [from, to] : binds)
        if (auto r = bind_dir(dir / from, to); !r) return r;
    if (auto r =
            must(::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755"), "tmpfs /run");
        !r)
        return r;
    // Device nodes of the shared storage's loop devices: /run is nodev.
    fs::create_directories(std::string(kInHostDisks), ec);
    if (auto r = must(
            ::mount("tmpfs", std::string(kInHostDisks).c_str(), "tmpfs", MS_NOSUID, "mode=755"),
            "tmpfs " + std::string(kInHostDisks));
        !r)
        return r;
    fs::create_directories(std::string(kInHostShared), ec);
    fs::create_directories(std::string(kInHostLockspace), ec);
    fs::create_directories("/run/lock", ec);
    fs::create_directories(std::string(kInHostWatchdogDir), ec);
    // The emulated watchdog runs outside the host, as hardware does, mounted
    // in the host's run folder before this namespace was made.
    if (tools.watchdog) {
        if (auto r =
                must(::mount((dir / "watchdog").c_str(), std::string(kInHostWatchdogDir).c_str(),
                             nullptr, MS_BIND, nullptr),
                     "bind the watchdog on " + std::string(kInHostWatchdogDir));
            !r)
            return r;
    }
    // The host's own namespace keeps its /run/netns name inside the host, so
    // tools there (the emulated watchdog) can name it as they would outside.
    fs::create_directories("/run/netns", ec);
    auto own = "/run/netns/" + layout.host_netns(host);
    if (auto r = write_file(own, ""); !r) return r;
    if (auto r = must(::mount("/proc/self/ns/net", own.c_str(), nullptr, MS_BIND, nullptr),
                      "bind " + own);
        !r)
        return r;
    // Leases go straight to the shared directory, not through the host's
    // fault-injecting view: one kernel then sees every host's fcntl lock on
    // the same inode, as hosts sharing a real NFS or cluster file system do.
    if (auto r = bind_dir(layout.shared_dir() / "lockspace", std::string(kInHostLockspace)); !r)
        return r;
    if (!tools.faultfs) {
        // Until vigil-faultfs is built the view is a plain bind mount: the
        // lab runs, but storage faults are refused.
        if (auto r = bind_dir(layout.shared_dir(), std::string(kInHostShared)); !r) return r;
    }
    std::string identity(std::size_t{64} * 1024, '\0');
    auto name = layout.host_name(host);
    identity.replace(0, name.size(), name);
    if (auto r = write_file(std::string(kInHostIdentity), identity); !r) return r;
    return {};
}

// Real hosts' VM and storage networks carry traffic all the time, and
// vigild calls a link with carrier but nothing received "idle". Lab guests
// have no NIC, so each host sends a datagram to the broadcast address of its
// VM and storage networks every 300 ms (to the discard port: nobody answers,
// nothing is sent back); the other hosts on the bridge receive it.
[[noreturn]] void traffic_main(const Layout& layout) {
    ::close_range(3, ~0U, 0);
    struct Out {
        int fd;
        sockaddr_in to;
    };
    std::vector<Out> outs;
    for (Net n : {Net::kVm, Net::kStorage}) {
        int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int on = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on);
        auto ifname = Layout::host_ifname(n);
        ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                     static_cast<socklen_t>(ifname.size()));
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(9);
        ::inet_pton(AF_INET, Layout::broadcast(n).c_str(), &to.sin_addr);
        outs.push_back({fd, to});
    }
    const std::string text = "vigil-lab " + layout.run_id();
    for (;;) {
        // A cut link refuses the send (ENETDOWN); the next one may go.
        for (const auto& o : outs)
            (void)::sendto(o.fd, text.data(), text.size(), 0,
                           reinterpret_cast<const sockaddr*>(&o.to), sizeof o.to);
        timespec pause{0, 300'000'000};
        ::nanosleep(&pause, nullptr);
    }
}

std::vector<Daemon> daemons_of(const Layout& layout, int host, const Tools& tools,
                               bool vigild_config) {
    std::vector<Daemon> d;
    if (tools.faultfs) {
        d.push_back(
            {"faultfs",
             {tools.faultfs->string(), "--source", layout.shared_dir().string(), "--control",
              faultfs_control(layout, host).string(), std::string(kInHostShared)},
             false});
    }
    d.push_back({"traffic", {}, true, false, [&layout] { traffic_main(layout); }});
    d.push_back({"virtlogd", {"virtlogd"}, false});
    d.push_back({"virtlockd", {"virtlockd"}, false});
    d.push_back({"corosync", {"corosync", "-f", "-c", "/etc/corosync/corosync.conf"}, false});
    // libvirtd.service restarts libvirtd on failure; so does this init. It
    // listens on the cluster address for the other hosts' migrations.
    d.push_back({"libvirtd", {"libvirtd", "--listen"}, true});
    if (tools.vigild) {
        std::vector<std::string> argv{tools.vigild->string()};
        if (vigild_config) argv.insert(argv.end(), {"--config", std::string(kInHostVigilConfig)});
        d.push_back({"vigild", argv, true, true});
    }
    return d;
}

Result<pid_t> fork_body(const std::function<void()>& body, const fs::path& log) {
    pid_t pid = ::fork();
    if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        body();
        ::_exit(0);
    }
    return pid;
}

// PID 1 of the host's PID namespace.
[[noreturn]] void init_main(const Layout& layout, int host, const Tools& tools, bool vigild_config,
                            int ready_fd) {
    auto dir = layout.host_dir(host);
    auto title = "lab-init-" + layout.host_name(host);
    ::prctl(PR_SET_NAME, title.c_str());
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    int log =
        ::open((dir / "log" / "init.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(log, 1);
    ::dup2(log, 2);

    auto fatal = [&](const std::string& what) {
        log_line(what);
        (void)!::write(ready_fd, what.data(), what.size());
        ::_exit(1);
    };
    Place net{.netns = fs::path("/run/netns") / layout.host_netns(host), .mount_of = {}};
    if (auto r = enter(net); !r) fatal(r.error().what);
    if (auto r = make_mounts(layout, host, tools); !r) fatal(r.error().what);

    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);

    auto daemons = daemons_of(layout, host, tools, vigild_config);
    auto start = [&](Daemon& d) {
        auto pid = d.body ? fork_body(d.body, dir / "log" / (d.name + ".log"))
                          : spawn(d.argv, dir / "log" / (d.name + ".log"));
        if (!pid) {
            log_line("cannot start " + d.name + ": " + pid.error().what);
            return false;
        }
        d.pid = *pid;
        log_line("started " + d.name + " pid " + std::to_string(d.pid));
        return true;
    };
    for (auto& d : daemons) {
        if (d.after_safety) continue;
        if (!start(d)) fatal("cannot start " + d.name);
        if (d.name == "faultfs" &&
            !wait_until([] { return is_mount_point(std::string(kInHostShared)); },
                        std::chrono::seconds(10)))
            fatal("storage view did not appear at " + std::string(kInHostShared));
        // libvirtd's QEMU driver gives up at once (and exits) when
        // virtlockd's socket is not there yet.
        if (d.name == "virtlockd" &&
            !wait_until([] { return fs::exists("/run/libvirt/virtlockd-sock"); },
                        std::chrono::seconds(10)))
            fatal("virtlockd did not make its socket");
    }
    // The shared storage as block devices over this host's view: the init
    // holds each open, so the kernel detaches them when the host ends.
    std::vector<Loop> loops;
    nlohmann::json names = nlohmann::json::object();
    for (const auto& disk : layout.disks()) {
        auto loop = attach_loop(disk.backing_in_host);
        if (!loop) fatal(loop.error().what);
        auto node = std::string(kInHostDisks) + "/" + disk.name;
        if (::mknod(node.c_str(), S_IFBLK | 0600, loop->dev) != 0)
            fatal("mknod " + node + ": " + std::strerror(errno));
        log_line("attached /dev/" + loop->name + " (" + node + ") to " + disk.backing_in_host);
        names[disk.name] = loop->name;
        loops.push_back(*loop);
    }
    if (auto r = write_file(loops_file(layout, host), names.dump() + "\n"); !r)
        fatal(r.error().what);
    (void)!::write(ready_fd, "+", 1);
    ::close(ready_fd);

    bool safe = false;
    for (;;) {
        if (!safe && fs::exists(safety_mark(layout, host))) {
            safe = true;
            log_line("the lab checked this host's safety");
            for (auto& d : daemons)
                if (d.after_safety) start(d);
        }
        timespec tick{0, 200'000'000};
        siginfo_t info{};
        int sig = ::sigtimedwait(&mask, &info, &tick);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            // An orderly stop of the whole host: the lab tears it down, so
            // nothing below the init may outlive it.
            auto mine = ns_inode("/proc/self/ns/net");
            for (pid_t p : pids_in_ns("net", mine))
                if (p != ::getpid()) ::kill(p, SIGKILL);
            (void)wait_until(
                [&] {
                    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
                    }
                    return pids_in_ns("net", mine).size() <= 1;
                },
                std::chrono::seconds(5));
            log_line("stopped");
            ::_exit(0);
        }
        int status = 0;
        for (pid_t p; (p = ::waitpid(-1, &status, WNOHANG)) > 0;) {
            for (auto& d : daemons) {
                if (d.pid != p) continue;
                log_line(d.name + " exited with status " + std::to_string(status));
                d.pid = 0;
                // As the unit's RestartSec=200ms (packaging/vigild.service).
                if (d.restart) d.restart_at = now_s() + 0.2;
            }
        }
        const bool vigild_stopped = fs::exists(vigild_stopped_mark(layout, host));
        for (auto& d : daemons)
            if ((safe || !d.after_safety) && d.pid == 0 && d.restart && d.restart_at > 0 &&
                now_s() >= d.restart_at && !(d.name == "vigild" && vigild_stopped)) {
                d.restart_at = 0;
                start(d);
            }
    }
}

// The host's power supply: outside the host, in the machine's namespaces. It
// makes the host's PID namespace, forks the init into it as its PID 1, and
// waits for the init to end, however it ends (the lab's power-off, a watchdog
// reset, the host's own reboot(2), which ends a PID namespace's init with
// SIGHUP), and writes down how, so the lab can tell a reset from a power-off.
[[noreturn]] void power_main(const Layout& layout, int host, const Tools& tools, bool vigild_config,
                             int pid_fd, int ready_fd) {
    ::setsid();
    auto title = "lab-power-" + layout.host_name(host);
    ::prctl(PR_SET_NAME, title.c_str());
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    // Its working directory names the run, so a down finds it by that.
    if (::chdir(layout.host_dir(host).c_str()) != 0) ::_exit(1);
    auto fatal = [&](const std::string& what) {
        (void)!::write(ready_fd, what.data(), what.size());
        ::_exit(1);
    };
    if (::unshare(CLONE_NEWPID) != 0) fatal(std::string("unshare pid: ") + std::strerror(errno));
    pid_t init = ::fork();
    if (init < 0) fatal(std::string("fork: ") + std::strerror(errno));
    if (init == 0) {
        ::close(pid_fd);
        init_main(layout, host, tools, vigild_config, ready_fd);
    }
    auto line = std::to_string(init);
    (void)!::write(pid_fd, line.data(), line.size());
    ::close(pid_fd);
    ::close(ready_fd);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) ::signal(s, SIG_IGN);
    int status = 0;
    while (::waitpid(init, &status, 0) < 0 && errno == EINTR) {
    }
    std::string how = WIFSIGNALED(status) ? "signal" : "exit";
    int code = WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status);
    char text[160];
    std::snprintf(text, sizeof text, "{\"t\": %.3f, \"init\": %d, \"%s\": %d}\n", now_s(), init,
                  how.c_str(), code);
    // stdio is /dev/null here: a failing exit status is all a lost record
    // can leave behind (the lab reads a missing file as an unknown end).
    ::_exit(write_file(init_exit_file(layout, host), text) ? 0 : 1);
}

}  // namespace

fs::path loops_file(const Layout& layout, int host) { return layout.host_dir(host) / "loops.json"; }

fs::path faultfs_control(const Layout& layout, int host) {
    return layout.host_dir(host) / "faultfs.sock";
}

Result<pid_t> start_host_init(const Layout& layout, int host, const Tools& tools,
                              bool vigild_config) {
    std::error_code ec;
    fs::remove(safety_mark(layout, host), ec);
    fs::create_directories(layout.host_dir(host) / "log", ec);
    // The file a SysRq write inside the host lands in, and the record of how
    // the host's last init ended, both fresh for this boot.
    if (auto r = write_file(sysrq_cover(layout, host), ""); !r) return std::unexpected(r.error());
    fs::remove(init_exit_file(layout, host), ec);
    fs::remove(loops_file(layout, host), ec);
    int pid_pipe[2];
    int pipefd[2];
    if (::pipe2(pid_pipe, O_CLOEXEC) != 0 || ::pipe2(pipefd, O_CLOEXEC) != 0)
        return fail(std::string("pipe: ") + std::strerror(errno));
    pid_t pid = ::fork();
    if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::close(pid_pipe[0]);
        ::close(pipefd[0]);
        power_main(layout, host, tools, vigild_config, pid_pipe[1], pipefd[1]);
    }
    ::close(pid_pipe[1]);
    ::close(pipefd[1]);
    auto read_all = [](int fd) {
        std::string text;
        char buf[512];
        for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
            text.append(buf, static_cast<size_t>(n));
        ::close(fd);
        return text;
    };
    // The init's pid from the power process, then "+" from the init once it is up.
    const pid_t init = static_cast<pid_t>(std::atol(read_all(pid_pipe[0]).c_str()));
    const auto rest = read_all(pipefd[0]);
    // The power process has forked the init and waits for it; it is not
    // ours to reap (it outlives this process), but a failed start reaps it.
    if (init <= 0 || rest != "+") {
        if (init > 0) ::kill(init, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return fail("host " + layout.host_name(host) +
                    " did not start: " + (rest.empty() ? std::string("its init died") : rest));
    }
    return init;
}

fs::path sysrq_cover(const Layout& layout, int host) {
    return layout.host_dir(host) / "sysrq-trigger";
}

fs::path vigild_stopped_mark(const Layout& layout, int host) {
    return layout.host_dir(host) / "vigild-stopped";
}

fs::path safety_mark(const Layout& layout, int host) {
    return layout.host_dir(host) / "safety-checked";
}

fs::path init_exit_file(const Layout& layout, int host) {
    return layout.host_dir(host) / "init-exit.json";
}

}  // namespace vigil::lab
