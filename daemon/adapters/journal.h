// Structured log records: to journald with a stable MESSAGE_ID per kind of
// record when running under systemd, and as one key=value line on stderr
// otherwise (tests, a terminal).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::adapters {

enum class Priority { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

// Stable ids (sd-id128), one per kind of record; `journalctl MESSAGE_ID=...`.
namespace message_id {
inline constexpr std::string_view kStarted = "6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a01";
inline constexpr std::string_view kStopped = "6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a02";
inline constexpr std::string_view kProbe = "6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a03";
inline constexpr std::string_view kBlockIoError = "6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a04";
inline constexpr std::string_view kBadInput = "6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a05";
inline constexpr std::string_view kStorageState = "6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a06";
inline constexpr std::string_view kWritebackErrors = "6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a07";
inline constexpr std::string_view kWatchdog = "6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a08";
inline constexpr std::string_view kLink = "6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a09";
inline constexpr std::string_view kFlightRecord = "6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a0a";
inline constexpr std::string_view kNfsState = "6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a0b";
// A hook run ended (result, exit code, duration), one of its output lines,
// a run dropped because the queue was full.
inline constexpr std::string_view kHookRun = "217b705a8c7a49209f8c27bed240fab4";
inline constexpr std::string_view kHookOutput = "55b771daa01a4d85b1aab55d68700287";
inline constexpr std::string_view kHookDropped = "93b0cca4f20748a4910a970a503f9bed";
// A webhook request refused, and an action an alert asked for.
inline constexpr std::string_view kWebhookRefused = "644b76cb99144556b727f15c78659e9a";
inline constexpr std::string_view kWebhookAction = "a1656056b4a44c25bae1646f4810fb0e";
inline constexpr std::string_view kConfigReload = "3f5e8a2c9b7d4e61a0c4d2b6e8f1a937";
}  // namespace message_id

using Fields = std::vector<std::pair<std::string, std::string>>;

class Journal {
  public:
    explicit Journal(Priority threshold);
    void log(Priority priority, std::string_view id, const std::string& message,
             const Fields& fields = {}) const;
    // Records below `threshold` are dropped from now on (a reload).
    void set_threshold(Priority threshold) { threshold_ = threshold; }

  private:
    Priority threshold_;
    bool to_journald_;
};

}  // namespace vigil::adapters
