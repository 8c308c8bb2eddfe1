#include "fence/fence_agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

extern char** environ;

namespace vigil::fence {

namespace {

constexpr std::size_t kMaxOutput = std::size_t{64} * 1024;
constexpr std::size_t kMaxStdin = std::size_t{32} * 1024;  // well inside a pipe's buffer

bool has_line_break(const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; }

std::string first_line_with(const std::string& text, std::string_view needle) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.find(needle) != std::string::npos) return line;
    }
    return {};
}

// The agents' own words, from fencing.py.
std::optional<PowerState> state_from(const std::string& text, bool status_line) {
    if (status_line) {
        if (!first_line_with(text, "Status: ON").empty()) return PowerState::kOn;
        if (!first_line_with(text, "Status: OFF").empty()) return PowerState::kOff;
        return std::nullopt;
    }
    if (!first_line_with(text, "Success: Powered OFF").empty() ||
        !first_line_with(text, "Success: Already OFF").empty()) {
        return PowerState::kOff;
    }
    if (!first_line_with(text, "Success: Powered ON").empty() ||
        !first_line_with(text, "Success: Already ON").empty()) {
        return PowerState::kOn;
    }
    return std::nullopt;
}

}  // namespace

FenceAgentResult interpret_agent_output(FenceAction action, int exit_code, std::string output) {
    FenceAgentResult r;
    r.exit_code = exit_code;
    r.output = std::move(output);
    const std::string error_line = first_line_with(r.output, "ERROR");
    switch (action) {
        case FenceAction::kStatus:
            // fencing.py: exit 0 = on, 2 = off, anything else = could not tell.
            r.power = state_from(r.output, true);
            if (exit_code != 0 && exit_code != 2) {
                r.outcome = FenceOutcome::kFailed;
                r.detail =
                    error_line.empty() ? "exit code " + std::to_string(exit_code) : error_line;
                r.power.reset();
            } else if (!r.power || (*r.power == PowerState::kOn) != (exit_code == 0)) {
                r.outcome = FenceOutcome::kBadOutput;
                r.detail = "status exit code " + std::to_string(exit_code) +
                           " without a matching Status line";
                r.power.reset();
            } else {
                r.outcome = FenceOutcome::kSucceeded;
            }
            return r;
        case FenceAction::kOff:
        case FenceAction::kOn:
        case FenceAction::kReboot:
        case FenceAction::kMonitor:
            break;
    }
    if (exit_code != 0) {
        r.outcome = FenceOutcome::kFailed;
        r.detail = error_line.empty() ? "exit code " + std::to_string(exit_code) : error_line;
        return r;
    }
    switch (action) {
        case FenceAction::kOff:
        case FenceAction::kOn: {
            const auto want = action == FenceAction::kOff ? PowerState::kOff : PowerState::kOn;
            r.power = state_from(r.output, false);
            if (r.power != want) {
                r.outcome = FenceOutcome::kBadOutput;
                r.detail = std::string("exit code 0 but no \"Success: ... ") +
                           (want == PowerState::kOff ? "OFF" : "ON") + "\" line";
                r.power.reset();
                return r;
            }
            break;
        }
        case FenceAction::kReboot:
            if (first_line_with(r.output, "Success: Rebooted").empty()) {
                r.outcome = FenceOutcome::kBadOutput;
                r.detail = "exit code 0 but no \"Success: Rebooted\" line";
                return r;
            }
            break;
        case FenceAction::kMonitor:
        case FenceAction::kStatus:
            break;
    }
    r.outcome = FenceOutcome::kSucceeded;
    return r;
}

std::expected<FenceAgentRun, Error> FenceAgentRun::start(const FenceAgentRequest& request,
                                                         TimePoint now) {
    if (!request.agent.is_absolute()) {
        return std::unexpected(
            Error{ErrorKind::kInvalidArgument,
                  "fence agent must be an absolute path: " + request.agent.string()});
    }
    if (::access(request.agent.c_str(), X_OK) != 0) {
        return std::unexpected(Error::from_errno("fence agent " + request.agent.string(), errno));
    }
    std::string input;
    for (const auto& [name, value] : request.parameters) {
        // A line break would let a value smuggle in another parameter.
        if (name.empty() || has_line_break(name) || has_line_break(value) ||
            name.find('=') != std::string::npos || name == "action") {
            return std::unexpected(Error{ErrorKind::kInvalidArgument,
                                         "bad fence agent parameter name or value: " + name});
        }
        input += name;
        input += '=';
        input += value;
        input += '\n';
    }
    input += std::string("action=") + std::string(name(request.action)) + "\n";
    if (input.size() > kMaxStdin) {
        return std::unexpected(
            Error{ErrorKind::kInvalidArgument, "fence agent parameters too long"});
    }

    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return std::unexpected(Error::from_errno("pipe", errno));
    if (::pipe2(out, O_CLOEXEC) != 0) {
        const int err = errno;
        ::close(in[0]);
        ::close(in[1]);
        return std::unexpected(Error::from_errno("pipe", err));
    }
    // All of stdin is written before the agent exists, so an agent that exits
    // early can never raise SIGPIPE in the daemon.
    const bool wrote =
        ::write(in[1], input.data(), input.size()) == static_cast<ssize_t>(input.size());
    ::close(in[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Its own process group, so a timeout kills the helpers it runs (ipmitool) too.
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    std::string path = request.agent.string();
    char* argv[] = {path.data(), nullptr};
    pid_t pid = -1;
    const int rc = wrote ? posix_spawn(&pid, path.c_str(), &actions, &attr, argv, environ) : EIO;
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(out[1]);
    if (rc != 0) {
        ::close(out[0]);
        return std::unexpected(Error::from_errno("start fence agent " + path, rc));
    }
    ::fcntl(out[0], F_SETFL, ::fcntl(out[0], F_GETFL) | O_NONBLOCK);

    FenceAgentRun run;
    run.action_ = request.action;
    run.pid_ = pid;
    run.out_fd_ = out[0];
    run.started_ = now;
    run.deadline_ = now + request.timeout;
    return run;
}

FenceAgentRun::FenceAgentRun(FenceAgentRun&& other) noexcept
    : action_(other.action_),
      pid_(std::exchange(other.pid_, -1)),
      out_fd_(std::exchange(other.out_fd_, -1)),
      started_(other.started_),
      deadline_(other.deadline_),
      output_(std::move(other.output_)) {}

FenceAgentRun& FenceAgentRun::operator=(FenceAgentRun&& other) noexcept {
    if (this != &other) {
        kill_group();
        if (out_fd_ >= 0) ::close(out_fd_);
        action_ = other.action_;
        pid_ = std::exchange(other.pid_, -1);
        out_fd_ = std::exchange(other.out_fd_, -1);
        started_ = other.started_;
        deadline_ = other.deadline_;
        output_ = std::move(other.output_);
    }
    return *this;
}

FenceAgentRun::~FenceAgentRun() {
    kill_group();
    if (out_fd_ >= 0) ::close(out_fd_);
}

void FenceAgentRun::kill_group() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
}

void FenceAgentRun::drain() {
    if (out_fd_ < 0) return;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(out_fd_, buf, sizeof(buf));
        if (n > 0) {
            if (output_.size() < kMaxOutput) {
                output_.append(buf,
                               std::min(static_cast<std::size_t>(n), kMaxOutput - output_.size()));
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) {
            ::close(out_fd_);
            out_fd_ = -1;
        }
        return;  // EAGAIN: nothing more for now
    }
}

std::optional<FenceAgentResult> FenceAgentRun::poll(TimePoint now) {
    if (pid_ <= 0) return std::nullopt;
    drain();
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
        pid_ = -1;
        // Helpers it left behind hold no claim on the result.
        ::kill(-done, SIGKILL);
        drain();
        const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        auto result = code >= 0
                          ? interpret_agent_output(action_, code, std::move(output_))
                          : FenceAgentResult{FenceOutcome::kFailed,
                                             std::nullopt,
                                             -1,
                                             "killed by signal " + std::to_string(WTERMSIG(status)),
                                             std::move(output_),
                                             {}};
        result.took = std::chrono::duration_cast<std::chrono::milliseconds>(now - started_);
        return result;
    }
    if (now >= deadline_) {
        kill_group();
        drain();
        FenceAgentResult result;
        result.outcome = FenceOutcome::kTimedOut;
        result.detail = "no answer within the timeout; killed";
        result.output = std::move(output_);
        result.took = std::chrono::duration_cast<std::chrono::milliseconds>(now - started_);
        return result;
    }
    return std::nullopt;
}

std::expected<FenceAgentResult, Error> run_fence_agent(const FenceAgentRequest& request) {
    auto run = FenceAgentRun::start(request, std::chrono::steady_clock::now());
    if (!run) return std::unexpected(std::move(run.error()));
    for (;;) {
        if (auto result = run->poll(std::chrono::steady_clock::now())) return std::move(*result);
        if (run->output_fd() >= 0) {
            pollfd p{run->output_fd(), POLLIN, 0};
            ::poll(&p, 1, 50);
        } else {
            ::usleep(20000);
        }
    }
}

}  // namespace vigil::fence
