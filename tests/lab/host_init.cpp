#include "tests/lab/host_init.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

namespace vigil::lab {
namespace fs = std::filesystem;

namespace {

struct Daemon {
    std::string name;
    std::vector<std::string> argv;
    bool restart = false;  // supervised like a systemd unit with Restart=always
    pid_t pid = 0;
    double restart_at = 0;
};

void log_line(const std::string& what) {
    std::time_t t = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", std::localtime(&t));
    std::cerr << stamp << " init: " << what << std::endl;
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
    const std::pair<const char*, const char*> binds[] = {
        {"etc/libvirt", "/etc/libvirt"},         {"etc/corosync", "/etc/corosync"},
        {"var/lib/libvirt", "/var/lib/libvirt"}, {"var/cache/libvirt", "/var/cache/libvirt"},
        {"var/log/libvirt", "/var/log/libvirt"}, {"var/lib/corosync", "/var/lib/corosync"},
    };
    for (auto [from, to] : binds)
        if (auto r = bind_dir(dir / from, to); !r) return r;
    if (auto r =
            must(::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755"), "tmpfs /run");
        !r)
        return r;
    std::error_code ec;
    fs::create_directories(std::string(kInHostShared), ec);
    fs::create_directories(std::string(kInHostLockspace), ec);
    fs::create_directories("/run/lock", ec);
    fs::create_directories(std::string(kInHostWatchdogDir), ec);
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
    std::string identity(64 * 1024, '\0');
    auto name = layout.host_name(host);
    identity.replace(0, name.size(), name);
    if (auto r = write_file(std::string(kInHostIdentity), identity); !r) return r;
    return {};
}

std::vector<Daemon> daemons_of(const Layout& layout, int host, const Tools& tools) {
    std::vector<Daemon> d;
    if (tools.faultfs) {
        d.push_back(
            {"faultfs",
             {tools.faultfs->string(), "--source", layout.shared_dir().string(), "--control",
              faultfs_control(layout, host).string(), std::string(kInHostShared)},
             false});
    }
    d.push_back({"virtlogd", {"virtlogd"}, false});
    d.push_back({"virtlockd", {"virtlockd"}, false});
    d.push_back({"corosync", {"corosync", "-f", "-c", "/etc/corosync/corosync.conf"}, false});
    // libvirtd.service restarts libvirtd on failure; so does this init.
    d.push_back({"libvirtd", {"libvirtd"}, true});
    if (tools.watchdog) {
        // fence/'s emulated watchdog: expiry resets this host (kills its
        // processes), as a hardware watchdog would.
        d.push_back({"watchdog",
                     {tools.watchdog->string(), "--mountpoint", std::string(kInHostWatchdogDir),
                      "--host-netns", "/run/netns/" + layout.host_netns(host)},
                     false});
    }
    if (tools.vigild) {
        // vigild runs standalone until it has cluster code; its config path
        // is where the lab writes one.
        d.push_back({"vigild", {tools.vigild->string()}, true});
    }
    return d;
}

[[noreturn]] void init_main(const Layout& layout, int host, const Tools& tools, int ready_fd) {
    auto dir = layout.host_dir(host);
    ::setsid();
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

    auto daemons = daemons_of(layout, host, tools);
    auto start = [&](Daemon& d) {
        auto pid = spawn(d.argv, dir / "log" / (d.name + ".log"));
        if (!pid) {
            log_line("cannot start " + d.name + ": " + pid.error().what);
            return false;
        }
        d.pid = *pid;
        log_line("started " + d.name + " pid " + std::to_string(d.pid));
        return true;
    };
    for (auto& d : daemons) {
        if (!start(d)) fatal("cannot start " + d.name);
        if (d.name == "faultfs" &&
            !wait_until([] { return is_mount_point(std::string(kInHostShared)); },
                        std::chrono::seconds(10)))
            fatal("storage view did not appear at " + std::string(kInHostShared));
    }
    (void)!::write(ready_fd, "+", 1);
    ::close(ready_fd);

    for (;;) {
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
                if (d.restart) d.restart_at = now_s() + 1.0;
            }
        }
        for (auto& d : daemons)
            if (d.pid == 0 && d.restart && d.restart_at > 0 && now_s() >= d.restart_at) {
                d.restart_at = 0;
                start(d);
            }
    }
}

}  // namespace

fs::path faultfs_control(const Layout& layout, int host) {
    return layout.host_dir(host) / "faultfs.sock";
}

Result<pid_t> start_host_init(const Layout& layout, int host, const Tools& tools) {
    std::error_code ec;
    fs::create_directories(layout.host_dir(host) / "log", ec);
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
    pid_t pid = ::fork();
    if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::close(pipefd[0]);
        init_main(layout, host, tools, pipefd[1]);
    }
    ::close(pipefd[1]);
    std::string reply;
    char buf[512];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;)
        reply.append(buf, static_cast<size_t>(n));
    ::close(pipefd[0]);
    if (reply != "+") {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return fail("host " + layout.host_name(host) +
                    " did not start: " + (reply.empty() ? std::string("its init died") : reply));
    }
    return pid;
}

}  // namespace vigil::lab
