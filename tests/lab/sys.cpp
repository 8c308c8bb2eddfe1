#include "tests/lab/sys.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace vigil::lab {
namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
    std::vector<char*> out;
    out.reserve(argv.size() + 1);
    for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
    out.push_back(nullptr);
    return out;
}

std::string joined(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
    return s;
}

void drain(int fd, std::string& into) {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return;
        into.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace

Result<> enter(const Place& place) {
    // The PID namespace is opened first: once in the host's mount namespace,
    // /proc is the host's and the init's outside pid means nothing there.
    int pid_fd = -1;
    if (place.pid_of) {
        auto path = "/proc/" + std::to_string(*place.pid_of) + "/ns/pid";
        pid_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (pid_fd < 0) return fail(errno_text("open " + path));
    }
    if (place.netns) {
        int fd = ::open(place.netns->c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return fail(errno_text("open " + place.netns->string()));
        if (::setns(fd, CLONE_NEWNET) != 0) return fail(errno_text("setns net"));
        ::close(fd);
    }
    if (place.mount_of) {
        auto path = "/proc/" + std::to_string(*place.mount_of) + "/ns/mnt";
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return fail(errno_text("open " + path));
        if (::setns(fd, CLONE_NEWNS) != 0) return fail(errno_text("setns mnt"));
        ::close(fd);
        if (::chdir("/") != 0) return fail(errno_text("chdir /"));
    }
    if (pid_fd >= 0) {
        if (::setns(pid_fd, CLONE_NEWPID) != 0) return fail(errno_text("setns pid"));
        ::close(pid_fd);
    }
    return {};
}

namespace {
volatile sig_atomic_t g_exec_child = 0;
void pass_on(int sig) {
    if (g_exec_child > 0) ::kill(g_exec_child, sig);
}
}  // namespace

void exec_in(const Place& place, const std::vector<std::string>& argv) {
    auto die = [](const std::string& msg, int code) {
        auto text = msg + "\n";
        (void)!::write(2, text.data(), text.size());
        ::_exit(code);
    };
    if (argv.empty()) die("nothing to run", 127);
    if (auto r = enter(place); !r) die(r.error().what, 126);
    auto args = c_argv(argv);
    if (!place.pid_of) {
        ::execvp(args[0], args.data());
        die(errno_text("exec " + argv[0]), 127);
    }
    pid_t child = ::fork();
    if (child < 0) die(errno_text("fork"), 126);
    if (child == 0) {
        // Dies with the process that waits for it (a timeout kills that one).
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::execvp(args[0], args.data());
        die(errno_text("exec " + argv[0]), 127);
    }
    g_exec_child = child;
    struct sigaction sa {};
    sa.sa_handler = pass_on;
    for (int s : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(s, &sa, nullptr);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

Result<Output> run(const std::vector<std::string>& argv, const Place& place,
                   std::chrono::milliseconds timeout) {
    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
        return fail(errno_text("pipe"));
    pid_t pid = ::fork();
    if (pid < 0) return fail(errno_text("fork"));
    if (pid == 0) {
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, 0);
        exec_in(place, argv);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    ::fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
    ::fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
    Output result;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool open_out = true;
    bool open_err = true;
    bool timed_out = false;
    while (open_out || open_err) {
        pollfd fds[2] = {{open_out ? out_pipe[0] : -1, POLLIN, 0},
                         {open_err ? err_pipe[0] : -1, POLLIN, 0}};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        int n = ::poll(fds, 2, static_cast<int>(left.count()));
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            std::string& into = i == 0 ? result.out : result.err;
            char buf[4096];
            ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                into.append(buf, static_cast<size_t>(got));
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                (i == 0 ? open_out : open_err) = false;
            }
        }
    }
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    drain(out_pipe[0], result.out);
    drain(err_pipe[0], result.err);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    if (timed_out)
        return fail("'" + joined(argv) + "' did not finish within " +
                    std::to_string(timeout.count()) + " ms");
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

Result<std::string> run_ok(const std::vector<std::string>& argv, const Place& place,
                           std::chrono::milliseconds timeout) {
    auto r = run(argv, place, timeout);
    if (!r) return std::unexpected(r.error());
    if (r->status != 0)
        return fail("'" + joined(argv) + "' exited " + std::to_string(r->status) + ": " + r->err +
                    r->out);
    return r->out;
}

Result<pid_t> spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) {
    pid_t pid = ::fork();
    if (pid < 0) return fail(errno_text("fork"));
    if (pid == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, 0);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        auto args = c_argv(argv);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

ino_t ns_inode(const std::filesystem::path& link) {
    struct stat st {};
    if (::stat(link.c_str(), &st) != 0) return 0;
    return st.st_ino;
}

namespace {
std::vector<pid_t> all_pids() {
    std::vector<pid_t> pids;
    DIR* d = ::opendir("/proc");
    if (!d) return pids;
    while (auto* e = ::readdir(d)) {
        char* end = nullptr;
        long v = std::strtol(e->d_name, &end, 10);
        if (end && *end == '\0' && v > 0) pids.push_back(static_cast<pid_t>(v));
    }
    ::closedir(d);
    return pids;
}
}  // namespace

std::vector<pid_t> pids_in_ns(const char* kind, ino_t ino) {
    std::vector<pid_t> out;
    if (ino == 0) return out;
    for (pid_t pid : all_pids()) {
        if (ns_inode("/proc/" + std::to_string(pid) + "/ns/" + kind) == ino) out.push_back(pid);
    }
    return out;
}

std::string comm_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string s;
    std::getline(in, s);
    return s;
}

std::vector<std::string> cmdline_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::vector<std::string> out;
    std::string arg;
    while (std::getline(in, arg, '\0')) out.push_back(arg);
    return out;
}

namespace {
// Fields of /proc/PID/stat after the parenthesised command name.
std::vector<std::string> stat_fields(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(in, line);
    auto close = line.rfind(')');
    std::vector<std::string> out;
    if (close == std::string::npos) return out;
    std::istringstream rest(line.substr(close + 1));
    std::string f;
    while (rest >> f) out.push_back(f);
    return out;
}
}  // namespace

char state_of(pid_t pid) {
    auto f = stat_fields(pid);
    return f.empty() ? '\0' : f[0][0];
}

pid_t parent_of(pid_t pid) {
    auto f = stat_fields(pid);
    return f.size() < 2 ? 0 : static_cast<pid_t>(std::stol(f[1]));
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit,
                std::chrono::milliseconds step) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(step);
    }
}

Result<std::string> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail("cannot read " + path.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

Result<> write_file(const std::filesystem::path& path, const std::string& text) {
    auto tmp = path;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return fail("cannot write " + tmp.string());
        out << text;
        if (!out.flush()) return fail("cannot write " + tmp.string());
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) return fail("cannot rename " + tmp.string() + ": " + ec.message());
    return {};
}

Result<> append_line(const std::filesystem::path& path, const std::string& line) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return fail(errno_text("open " + path.string()));
    auto text = line + "\n";
    // One write() with O_APPEND keeps lines from concurrent writers whole.
    ssize_t n = ::write(fd, text.data(), text.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size())) return fail(errno_text("write " + path.string()));
    return {};
}

double now_s() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace vigil::lab
