#include "exporters/hooks.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <nlohmann/json.hpp>

namespace vigil::exporters {

std::string_view name(HookEvent event) {
    switch (event) {
        case HookEvent::kPeerDead:
            return "peer-dead";
        case HookEvent::kPeerIsolated:
            return "peer-isolated";
        case HookEvent::kVmRestartedHere:
            return "vm-restarted-here";
        case HookEvent::kVmPausedIoError:
            return "vm-paused-io-error";
        case HookEvent::kVmResumed:
            return "vm-resumed";
        case HookEvent::kVmMigrated:
            return "vm-migrated";
        case HookEvent::kVmMigrationFailed:
            return "vm-migration-failed";
        case HookEvent::kSelfFence:
            return "self-fence";
        case HookEvent::kQuorumLost:
            return "quorum-lost";
        case HookEvent::kQuorumRegained:
            return "quorum-regained";
        case HookEvent::kStorageDomainLost:
            return "storage-domain-lost";
        case HookEvent::kMaintenanceOn:
            return "maintenance-on";
        case HookEvent::kMaintenanceOff:
            return "maintenance-off";
    }
    return "unknown";
}

std::string_view name(HookResult result) {
    switch (result) {
        case HookResult::kSucceeded:
            return "succeeded";
        case HookResult::kFailed:
            return "failed";
        case HookResult::kTimedOut:
            return "timeout";
        case HookResult::kDropped:
            return "dropped";
        case HookResult::kError:
            return "error";
    }
    return "unknown";
}

namespace {

constexpr std::string_view kReservedKeys[] = {"event", "event_id", "time", "host", "hook"};
constexpr const char* kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::size_t kMaxLine = 4096;                          // longer lines are logged in pieces
constexpr std::size_t kReadPerWakeup = std::size_t{64} * 1024;  // then other sources get their turn

// What the namespace init and the hook tell vigild through the status pipe.
struct StatusRecord {
    std::int32_t kind;   // kExited or a failed step
    std::int32_t value;  // wait status, or errno
};
// NOLINTNEXTLINE(performance-enum-size): the values travel in StatusRecord::kind, an int32
enum : std::int32_t {
    kExited = 1,
    kCloneFailed,
    kSetgroupsFailed,
    kSetgidFailed,
    kSetuidFailed,
    kExecFailed
};

const char* describe_step(std::int32_t kind) {
    switch (kind) {
        case kCloneFailed:
            return "starting the hook inside its PID namespace";
        case kSetgroupsFailed:
            return "setgroups";
        case kSetgidFailed:
            return "setgid";
        case kSetuidFailed:
            return "setuid";
        case kExecFailed:
            return "execve";
        default:
            return "?";
    }
}

// The layout of struct clone_args up to tls (CLONE_ARGS_SIZE_VER0).
struct CloneArgs {
    std::uint64_t flags = 0;
    std::uint64_t pidfd = 0;
    std::uint64_t child_tid = 0;
    std::uint64_t parent_tid = 0;
    std::uint64_t exit_signal = 0;
    std::uint64_t stack = 0;
    std::uint64_t stack_size = 0;
    std::uint64_t tls = 0;
};

// Raw clone3, not fork(): the copy must not run glibc's fork handlers, and
// the namespace init forks again without taking locks another vigild
// thread may have held at the moment of the copy.
pid_t raw_clone(std::uint64_t flags, int* pidfd) {
    CloneArgs args;
    args.flags = flags;
    args.pidfd = reinterpret_cast<std::uint64_t>(pidfd);
    args.exit_signal = SIGCHLD;
    return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

int pidfd_send(int pidfd, int sig) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

void write_status(int fd, std::int32_t kind, std::int32_t value) {
    const StatusRecord record{kind, value};
    (void)!::write(fd, &record, sizeof record);
}

// Everything the two copies need, prepared before the copy: after it, only
// async-signal-safe calls, no allocation.
struct ChildSetup {
    const char* path = nullptr;
    char* const* argv = nullptr;
    char* const* envp = nullptr;
    int stdin_fd = -1;
    int out_fd = -1;
    int status_fd = -1;
    bool as_user = false;
    uid_t uid = 0;
    gid_t gid = 0;
    const gid_t* groups = nullptr;
    std::size_t ngroups = 0;
};

// The namespace init forwards SIGTERM to every other process of its
// namespace (the hook and whatever it started).
void forward_term(int) { ::kill(-1, SIGTERM); }

[[noreturn]] void exec_hook(const ChildSetup& s) {
    ::setsid();
    ::dup2(s.stdin_fd, 0);
    ::dup2(s.out_fd, 1);
    ::dup2(s.out_fd, 2);
    // The status pipe stays open (close-on-exec) to report a failed exec.
    const int keep = s.status_fd;
    if (keep > 3) ::close_range(3, static_cast<unsigned>(keep - 1), 0);
    ::close_range(static_cast<unsigned>(keep + 1), ~0U, 0);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (s.as_user) {
        if (::setgroups(s.ngroups, s.groups) != 0) {
            write_status(keep, kSetgroupsFailed, errno);
            ::_exit(126);
        }
        if (::setgid(s.gid) != 0) {
            write_status(keep, kSetgidFailed, errno);
            ::_exit(126);
        }
        if (::setuid(s.uid) != 0) {
            write_status(keep, kSetuidFailed, errno);
            ::_exit(126);
        }
    }
    if (::chdir("/") != 0) {
        // Nothing to do about it: the hook runs in whatever directory it is in.
    }
    ::execve(s.path, s.argv, s.envp);
    write_status(keep, kExecFailed, errno);
    ::_exit(127);
}

[[noreturn]] void namespace_init(const ChildSetup& s) {
    // vigild's death ends the namespace, and with it every hook.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct sigaction term {};
    term.sa_handler = forward_term;
    sigemptyset(&term.sa_mask);
    ::sigaction(SIGTERM, &term, nullptr);
    const pid_t hook = raw_clone(0, nullptr);
    if (hook == 0) exec_hook(s);
    if (hook < 0) {
        write_status(s.status_fd, kCloneFailed, errno);
        ::_exit(1);
    }
    ::close(s.stdin_fd);
    ::close(s.out_fd);
    // vigild blocks SIGTERM for its signalfd; the init takes it as a signal.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (;;) {
        // As init, it also reaps whatever the hook left orphaned.
        int status = 0;
        const pid_t done = ::waitpid(-1, &status, 0);
        if (done == hook) {
            write_status(s.status_fd, kExited, status);
            // Returning ends the namespace: the kernel kills what is left.
            ::_exit(0);
        }
        if (done < 0 && errno != EINTR) ::_exit(1);
    }
}

std::string rfc3339(std::chrono::system_clock::time_point at) {
    const std::time_t t = std::chrono::system_clock::to_time_t(at);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string upper(std::string_view key) {
    std::string out(key);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

std::string without_nul(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c != '\0') out.push_back(c);
    }
    return out;
}

bool valid_hook_name(const std::string& n) {
    return !n.empty() && std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

std::string errno_text(int err) { return Error::from_errno("", err).message.substr(2); }

}  // namespace

bool valid_hook_field_key(std::string_view key) {
    if (key.empty()) return false;
    for (char c : key) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return std::find(std::begin(kReservedKeys), std::end(kReservedKeys), key) ==
           std::end(kReservedKeys);
}

std::string hook_event_json(std::uint64_t event_id, HookEvent event,
                            std::chrono::system_clock::time_point at, const HookFields& fields) {
    nlohmann::json doc;
    doc["version"] = 1;
    doc["event"] = std::string(name(event));
    doc["event_id"] = event_id;
    doc["time"] = rfc3339(at);
    nlohmann::json f = nlohmann::json::object();
    for (const auto& [key, value] : fields) f[key] = value;
    doc["fields"] = std::move(f);
    // Values come from VM names and the like: never fail on bad UTF-8.
    return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

HookScan scan_hooks(const std::filesystem::path& dir) {
    HookScan scan;
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) return scan;
    const uid_t self = ::geteuid();
    for (const auto& entry : it) {
        const std::string file = entry.path().filename().string();
        if (!valid_hook_name(file)) continue;
        struct stat st {};
        if (::stat(entry.path().c_str(), &st) != 0) continue;  // a dangling link
        if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) continue;
        if (st.st_uid != 0 && st.st_uid != self) {
            scan.refused.emplace_back(
                file, "owned by uid " + std::to_string(st.st_uid) + ", not by root");
        } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
            scan.refused.emplace_back(file, "writable by group or others");
        } else {
            scan.hooks.push_back(file);
        }
    }
    std::sort(scan.hooks.begin(), scan.hooks.end());
    std::sort(scan.refused.begin(), scan.refused.end());
    return scan;
}

struct HookRunner::Run {
    std::uint64_t id = 0;
    Job job;
    std::string path;
    std::vector<std::string> env;
    std::vector<char*> envp;
    pid_t pid = -1;
    int pidfd = -1;
    int out_fd = -1;
    int status_fd = -1;
    adapters::EventLoop::WatchId pid_watch = 0;
    adapters::EventLoop::WatchId out_watch = 0;
    adapters::EventLoop::WatchId alarm = 0;
    std::chrono::nanoseconds started{};
    bool terminated = false;  // SIGTERM sent at the time limit
    bool killed = false;      // SIGKILL sent after the grace
    std::size_t output_bytes = 0;
    std::size_t output_logged = 0;
    std::string pending;  // a line not yet ended
    std::string logged;

    ~Run() {
        for (int fd : {pidfd, out_fd, status_fd}) {
            if (fd >= 0) ::close(fd);
        }
    }
};

HookRunner::HookRunner(adapters::EventLoop& loop, const adapters::Journal& journal,
                       HookOptions options, Observer on_run)
    : loop_(loop), journal_(journal), options_(std::move(options)), on_run_(std::move(on_run)) {}

std::expected<std::unique_ptr<HookRunner>, Error> HookRunner::make(adapters::EventLoop& loop,
                                                                   const adapters::Journal& journal,
                                                                   HookOptions options,
                                                                   Observer on_run) {
    if (options.max_concurrent == 0) return std::unexpected(Error{"hooks: max_concurrent is 0"});
    std::unique_ptr<HookRunner> self(
        new HookRunner(loop, journal, std::move(options), std::move(on_run)));
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) self->hostname_ = host;
    const std::string& user = self->options_.user;
    if (!user.empty()) {
        passwd pw{};
        passwd* found = nullptr;
        std::vector<char> buf(16384);
        const int r = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
        if (found == nullptr) {
            return std::unexpected(r != 0 ? Error::from_errno("hooks: looking up user " + user, r)
                                          : Error{"hooks: no user \"" + user + "\""});
        }
        self->as_user_ = true;
        self->uid_ = pw.pw_uid;
        self->gid_ = pw.pw_gid;
        self->home_ = pw.pw_dir != nullptr ? pw.pw_dir : "/";
        int n = 64;
        std::vector<gid_t> groups(static_cast<std::size_t>(n));
        if (::getgrouplist(user.c_str(), pw.pw_gid, groups.data(), &n) < 0) {
            groups.resize(static_cast<std::size_t>(n));
            if (::getgrouplist(user.c_str(), pw.pw_gid, groups.data(), &n) < 0) {
                return std::unexpected(Error{"hooks: cannot list the groups of " + user});
            }
        }
        groups.resize(static_cast<std::size_t>(n));
        self->groups_.assign(groups.begin(), groups.end());
    }
    return self;
}

HookRunner::~HookRunner() {
    // At shutdown only: end every namespace and reap its init. SIGKILL to a
    // namespace init is immediate, so the wait is short.
    for (auto& [id, run] : running_) {
        pidfd_send(run->pidfd, SIGKILL);
        pollfd pfd{run->pidfd, POLLIN, 0};
        ::poll(&pfd, 1, 5000);
        siginfo_t info{};
        ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(run->pidfd), &info,
                 WEXITED | WNOHANG);
        loop_.unwatch(run->pid_watch);
        if (run->out_watch != 0) loop_.unwatch(run->out_watch);
        loop_.unwatch(run->alarm);
    }
}

std::uint64_t HookRunner::count(HookResult result) const {
    const auto it = counts_.find(result);
    return it == counts_.end() ? 0 : it->second;
}

std::uint64_t HookRunner::submit(HookEvent event, const HookFields& fields) {
    const std::uint64_t event_id = next_event_++;
    const auto now = std::chrono::system_clock::now();
    auto env = std::make_shared<std::vector<std::string>>();
    env->push_back(kPath);
    env->push_back("HOME=" + (as_user_ ? home_ : std::string("/")));
    if (as_user_) {
        env->push_back("USER=" + options_.user);
        env->push_back("LOGNAME=" + options_.user);
    }
    env->push_back("VIGIL_EVENT=" + std::string(name(event)));
    env->push_back("VIGIL_EVENT_ID=" + std::to_string(event_id));
    env->push_back("VIGIL_TIME=" + rfc3339(now));
    env->push_back("VIGIL_HOST=" + hostname_);
    HookFields kept;
    for (const auto& [key, value] : fields) {
        if (!valid_hook_field_key(key)) {
            journal_.log(adapters::Priority::kWarning, adapters::message_id::kHookDropped,
                         "hook event field left out: bad key",
                         {{"EVENT", std::string(name(event))}, {"KEY", without_nul(key)}});
            continue;
        }
        kept.emplace_back(key, without_nul(value));
        env->push_back("VIGIL_" + upper(key) + "=" + kept.back().second);
    }
    auto json = std::make_shared<const std::string>(hook_event_json(event_id, event, now, kept));

    const HookScan scan = scan_hooks(options_.dir);
    for (const auto& [file, reason] : scan.refused) {
        journal_.log(adapters::Priority::kWarning, adapters::message_id::kHookDropped,
                     "hook not run: " + reason,
                     {{"HOOK", file}, {"EVENT", std::string(name(event))}});
    }
    for (const auto& hook : scan.hooks) {
        Job job{event_id, event, hook, env, json};
        if (running_.size() < options_.max_concurrent) {
            start(std::move(job));
        } else if (queue_.size() < options_.queue_size) {
            queue_.push_back(std::move(job));
        } else {
            HookRun r;
            r.event_id = event_id;
            r.event = event;
            r.hook = hook;
            r.result = HookResult::kDropped;
            r.detail = "queue full (" + std::to_string(options_.queue_size) + " waiting, " +
                       std::to_string(running_.size()) + " running)";
            report(std::move(r));
        }
    }
    return event_id;
}

void HookRunner::start_next() {
    while (!queue_.empty() && running_.size() < options_.max_concurrent) {
        Job job = std::move(queue_.front());
        queue_.pop_front();
        start(std::move(job));
    }
}

void HookRunner::start(Job job) {
    auto run = std::make_unique<Run>();
    run->id = next_run_++;
    run->path = (options_.dir / job.hook).string();
    run->env = *job.env;
    run->env.push_back("VIGIL_HOOK=" + job.hook);
    for (auto& e : run->env) run->envp.push_back(e.data());
    run->envp.push_back(nullptr);
    run->job = std::move(job);
    run->started = adapters::monotonic_now();

    auto fail = [&](std::string detail) {
        HookRun r;
        r.event_id = run->job.event_id;
        r.event = run->job.event;
        r.hook = run->job.hook;
        r.result = HookResult::kError;
        r.detail = std::move(detail);
        report(std::move(r));
    };

    // stdin: the JSON in a memfd, so that writing it can never block.
    const int stdin_fd = ::memfd_create("vigil-hook-event", MFD_CLOEXEC);
    if (stdin_fd < 0) return fail("memfd_create: " + errno_text(errno));
    const std::string& json = *run->job.json;
    if (::write(stdin_fd, json.data(), json.size()) != static_cast<ssize_t>(json.size()) ||
        ::lseek(stdin_fd, 0, SEEK_SET) != 0) {
        const int err = errno;
        ::close(stdin_fd);
        return fail("writing the event: " + errno_text(err));
    }
    int out[2] = {-1, -1};
    int status[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(status, O_CLOEXEC) != 0) {
        const int err = errno;
        for (int fd : {stdin_fd, out[0], out[1], status[0], status[1]}) {
            if (fd >= 0) ::close(fd);
        }
        return fail("pipe2: " + errno_text(err));
    }
    // Only vigild's ends are non-blocking; the hook's stdout stays ordinary.
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    ::fcntl(status[0], F_SETFL, O_NONBLOCK);

    char* argv[] = {run->path.data(), nullptr};
    std::vector<gid_t> groups(groups_.begin(), groups_.end());
    ChildSetup setup;
    setup.path = run->path.c_str();
    setup.argv = argv;
    setup.envp = run->envp.data();
    setup.stdin_fd = stdin_fd;
    setup.out_fd = out[1];
    setup.status_fd = status[1];
    setup.as_user = as_user_;
    setup.uid = uid_;
    setup.gid = gid_;
    setup.groups = groups.data();
    setup.ngroups = groups.size();

    int pidfd = -1;
    const pid_t pid = raw_clone(CLONE_PIDFD | CLONE_NEWPID, &pidfd);
    if (pid == 0) namespace_init(setup);
    const int clone_err = errno;
    ::close(stdin_fd);
    ::close(out[1]);
    ::close(status[1]);
    run->out_fd = out[0];
    run->status_fd = status[0];
    if (pid < 0) {
        return fail("creating the hook's PID namespace (clone3 CLONE_NEWPID): " +
                    errno_text(clone_err));
    }
    run->pid = pid;
    run->pidfd = pidfd;

    const std::uint64_t id = run->id;
    auto pid_watch = loop_.watch_fd(pidfd, [this, id] {
        if (auto it = running_.find(id); it != running_.end()) on_exit(*it->second);
    });
    auto out_watch = loop_.watch_fd(run->out_fd, [this, id] {
        if (auto it = running_.find(id); it != running_.end()) on_output(*it->second);
    });
    auto alarm = loop_.add_alarm([this, id] {
        if (auto it = running_.find(id); it != running_.end()) on_deadline(*it->second);
    });
    if (!pid_watch || !out_watch || !alarm) {
        pidfd_send(pidfd, SIGKILL);
        pollfd pfd{pidfd, POLLIN, 0};
        ::poll(&pfd, 1, 5000);
        siginfo_t info{};
        ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
                 WEXITED | WNOHANG);
        for (auto& w : {pid_watch, out_watch, alarm}) {
            if (w) loop_.unwatch(*w);
        }
        return fail("watching the run from the event loop");
    }
    run->pid_watch = *pid_watch;
    run->out_watch = *out_watch;
    run->alarm = *alarm;
    loop_.set_alarm(run->alarm, run->started + options_.timeout);
    running_.emplace(id, std::move(run));
}

void HookRunner::log_line(const Run& run, std::string_view line) {
    journal_.log(adapters::Priority::kInfo, adapters::message_id::kHookOutput, std::string(line),
                 {{"HOOK", run.job.hook},
                  {"EVENT", std::string(name(run.job.event))},
                  {"EVENT_ID", std::to_string(run.job.event_id)}});
}

void HookRunner::on_output(Run& run) {
    char buf[16384];
    std::size_t got_now = 0;
    while (got_now < kReadPerWakeup) {
        const ssize_t n = ::read(run.out_fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // EAGAIN: drained for now
        }
        if (n == 0) {
            // Everything that held the pipe is gone; the exit follows.
            loop_.unwatch(run.out_watch);
            run.out_watch = 0;
            break;
        }
        got_now += static_cast<std::size_t>(n);
        run.output_bytes += static_cast<std::size_t>(n);
        const std::size_t room = options_.output_limit - run.output_logged - run.pending.size();
        run.pending.append(buf, std::min(room, static_cast<std::size_t>(n)));
        for (;;) {
            const auto nl = run.pending.find('\n');
            if (nl == std::string::npos && run.pending.size() < kMaxLine) break;
            const std::size_t len = nl == std::string::npos ? kMaxLine : nl;
            log_line(run, std::string_view(run.pending).substr(0, len));
            run.logged.append(run.pending, 0, len).push_back('\n');
            const std::size_t used = nl == std::string::npos ? len : len + 1;
            run.output_logged += used;
            run.pending.erase(0, used);
        }
    }
}

void HookRunner::on_deadline(Run& run) {
    if (!run.terminated) {
        run.terminated = true;
        pidfd_send(run.pidfd, SIGTERM);
        loop_.set_alarm(run.alarm, loop_.now() + options_.kill_grace);
    } else if (!run.killed) {
        run.killed = true;
        // SIGKILL to the namespace init: the kernel kills all of the namespace.
        pidfd_send(run.pidfd, SIGKILL);
    }
}

void HookRunner::on_exit(Run& run) {
    siginfo_t info{};
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(run.pidfd), &info,
                 WEXITED | WNOHANG) != 0 ||
        info.si_pid == 0) {
        return;  // not yet
    }
    // Everything in the namespace has ended with its init: the pipe holds
    // the last of the output, and then its end.
    if (run.out_watch != 0) on_output(run);
    if (!run.pending.empty()) {
        log_line(run, run.pending);
        run.logged += run.pending;
        run.output_logged += run.pending.size();
        run.pending.clear();
    }
    HookRun r;
    r.event_id = run.job.event_id;
    r.event = run.job.event;
    r.hook = run.job.hook;
    r.duration = adapters::monotonic_now() - run.started;
    r.output_bytes = run.output_bytes;
    r.output_logged = run.output_logged;
    r.output = std::move(run.logged);
    std::optional<int> wait_status;
    StatusRecord record{};
    while (::read(run.status_fd, &record, sizeof record) == sizeof record) {
        if (record.kind == kExited) {
            wait_status = record.value;
        } else {
            r.result = HookResult::kError;
            r.detail = std::string(describe_step(record.kind)) + ": " + errno_text(record.value);
        }
    }
    if (wait_status) {
        if (WIFEXITED(*wait_status)) r.exit_code = WEXITSTATUS(*wait_status);
        if (WIFSIGNALED(*wait_status)) r.signal = WTERMSIG(*wait_status);
    }
    if (!r.detail.empty()) {
        // kError, set above
    } else if (run.terminated) {
        r.result = HookResult::kTimedOut;
        r.detail = run.killed ? "killed after the time limit and the grace"
                              : "ended by SIGTERM at the time limit";
    } else if (!wait_status) {
        r.result = HookResult::kError;
        r.detail = "the run ended without a status (its namespace init was killed)";
    } else if (r.exit_code == 0) {
        r.result = HookResult::kSucceeded;
    } else {
        r.result = HookResult::kFailed;
    }
    const std::uint64_t id = run.id;
    loop_.unwatch(run.pid_watch);
    if (run.out_watch != 0) loop_.unwatch(run.out_watch);
    loop_.unwatch(run.alarm);
    running_.erase(id);  // `run` is gone from here on
    report(std::move(r));
    start_next();
}

void HookRunner::report(HookRun r) {
    ++counts_[r.result];
    adapters::Fields fields{{"HOOK", r.hook},
                            {"EVENT", std::string(name(r.event))},
                            {"EVENT_ID", std::to_string(r.event_id)},
                            {"RESULT", std::string(name(r.result))}};
    if (r.result == HookResult::kDropped) {
        journal_.log(adapters::Priority::kWarning, adapters::message_id::kHookDropped,
                     "hook run dropped: " + r.detail, fields);
    } else {
        if (r.exit_code) fields.emplace_back("EXIT_CODE", std::to_string(*r.exit_code));
        if (r.signal != 0) fields.emplace_back("SIGNAL", std::to_string(r.signal));
        fields.emplace_back(
            "DURATION_MS",
            std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(r.duration).count()));
        fields.emplace_back("OUTPUT_BYTES", std::to_string(r.output_bytes));
        if (r.output_bytes > r.output_logged) {
            fields.emplace_back("OUTPUT_NOT_LOGGED",
                                std::to_string(r.output_bytes - r.output_logged));
        }
        if (!r.detail.empty()) fields.emplace_back("DETAIL", r.detail);
        journal_.log(r.result == HookResult::kSucceeded ? adapters::Priority::kInfo
                                                        : adapters::Priority::kWarning,
                     adapters::message_id::kHookRun,
                     "hook " + r.hook + " " + std::string(name(r.result)), fields);
    }
    if (on_run_) on_run_(r);
}

}  // namespace vigil::exporters
