// Out-of-band fencing of a peer through an installed fence-agents program
// (fence_ipmilan, fence_redfish, ...): the parameters from config go to the
// agent's stdin as name=value lines, never through a shell and never on the
// command line (where `ps` would show the password). The run is bounded by a
// timeout, after which the agent's whole process group is killed. Only an
// unambiguous "Success: ... OFF" (or "Status: OFF") with exit code 0 counts as
// a confirmed fence, which lets the core skip the fence delay.
#pragma once

#include <sys/types.h>
#include <cstdint>

#include <chrono>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/ports/error.h"

namespace vigil::fence {

enum class FenceAction : std::uint8_t { kOff, kOn, kReboot, kStatus, kMonitor };

[[nodiscard]] constexpr std::string_view name(FenceAction action) {
    switch (action) {
        case FenceAction::kOff:
            return "off";
        case FenceAction::kOn:
            return "on";
        case FenceAction::kReboot:
            return "reboot";
        case FenceAction::kStatus:
            return "status";
        case FenceAction::kMonitor:
            return "monitor";
    }
    return "unknown";
}

struct FenceAgentRequest {
    std::filesystem::path agent;  // absolute path, e.g. /usr/sbin/fence_ipmilan
    // e.g. {"ip", "10.0.0.5"}, {"username", "admin"}, {"password", "..."}, {"lanplus", "1"}
    std::vector<std::pair<std::string, std::string>> parameters;
    FenceAction action = FenceAction::kOff;
    std::chrono::milliseconds timeout{60000};
};

enum class PowerState : std::uint8_t { kOn, kOff };

enum class FenceOutcome : std::uint8_t {
    kSucceeded,  // the action was confirmed (for status: the state was read)
    kFailed,     // the agent ran and reported failure (login denied, no route...)
    kTimedOut,   // killed after the timeout
    kBadOutput,  // exit code and output disagree or say nothing we recognise
};

[[nodiscard]] constexpr std::string_view name(FenceOutcome outcome) {
    switch (outcome) {
        case FenceOutcome::kSucceeded:
            return "succeeded";
        case FenceOutcome::kFailed:
            return "failed";
        case FenceOutcome::kTimedOut:
            return "timed_out";
        case FenceOutcome::kBadOutput:
            return "bad_output";
    }
    return "unknown";
}

struct FenceAgentResult {
    FenceOutcome outcome = FenceOutcome::kFailed;
    std::optional<PowerState> power;  // known after status, off and on
    int exit_code = -1;               // -1 when killed
    std::string detail;               // the agent's error line, or why the output was refused
    std::string output;               // stdout and stderr, capped, for the log
    std::chrono::milliseconds took{0};

    // The peer is known to be powered off: safe to take over its VMs at once.
    [[nodiscard]] bool confirmed_off() const {
        return outcome == FenceOutcome::kSucceeded && power == PowerState::kOff;
    }
};

// One run of an agent. Never blocks: the event loop calls poll() (from a short
// timer, or when output_fd() is readable) until it returns the result.
class FenceAgentRun {
  public:
    using TimePoint = std::chrono::steady_clock::time_point;

    [[nodiscard]] static std::expected<FenceAgentRun, Error> start(const FenceAgentRequest& request,
                                                                   TimePoint now);
    FenceAgentRun(FenceAgentRun&& other) noexcept;
    FenceAgentRun& operator=(FenceAgentRun&& other) noexcept;
    FenceAgentRun(const FenceAgentRun&) = delete;
    FenceAgentRun& operator=(const FenceAgentRun&) = delete;
    // Kills the agent's process group if it still runs.
    ~FenceAgentRun();

    [[nodiscard]] std::optional<FenceAgentResult> poll(TimePoint now);
    [[nodiscard]] int output_fd() const { return out_fd_; }
    [[nodiscard]] pid_t pid() const { return pid_; }

  private:
    FenceAgentRun() = default;
    void drain();
    void kill_group();

    FenceAction action_ = FenceAction::kOff;
    pid_t pid_ = -1;
    int out_fd_ = -1;
    TimePoint started_{};
    TimePoint deadline_{};
    std::string output_;
};

// Runs an agent to the end, blocking; for tools and tests.
[[nodiscard]] std::expected<FenceAgentResult, Error> run_fence_agent(
    const FenceAgentRequest& request);

// How an agent's exit code and output map to a result (exposed for tests).
[[nodiscard]] FenceAgentResult interpret_agent_output(FenceAction action, int exit_code,
                                                      std::string output);

}  // namespace vigil::fence
