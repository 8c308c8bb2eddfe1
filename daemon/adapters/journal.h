// Structured log records: to journald with a stable MESSAGE_ID per kind of
// record when running under systemd, and as one key=value line on stderr
// otherwise (tests, a terminal).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::adapters {

enum class Priority : std::uint8_t { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

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
// An operator's command through the control socket (who asked, what), and
// maintenance beginning or ending (also by its --for running out) or its
// state file being unreadable.
inline constexpr std::string_view kAdminCommand = "75007f41178e4d0098bbab48366dc83c";
inline constexpr std::string_view kMaintenance = "0d3f3e192f7d4e158e4fdbb43eb3f9f8";
inline constexpr std::string_view kConfigReload = "3f5e8a2c9b7d4e61a0c4d2b6e8f1a937";
// Cluster mode: its connections, the self-fence, and one id per kind of
// decision of the core (and one for the outcome of an action).
inline constexpr std::string_view kCluster = "92fa4d327f174712a5821f3cb411122d";
inline constexpr std::string_view kHeartbeat = "ee5a3e8d9fa34e02ab6dbf6f58cdcb7d";
inline constexpr std::string_view kHypervisor = "e8029a5b308c4e4c8c455a3bd5ec44c8";
inline constexpr std::string_view kSelfFence = "0910708e609d42f5922dc11b7061658a";
inline constexpr std::string_view kIncarnation = "d5442d4bc48347cbb36b3d199b0eafda";
inline constexpr std::string_view kDecisionPet = "4adbd1d7976e43aeb3a79ec511516716";
inline constexpr std::string_view kDecisionSelfFence = "601cf664f86445299a1e704bbc343faa";
inline constexpr std::string_view kDecisionVm = "9dcfdcc426a843938a1d0617058ea747";
inline constexpr std::string_view kDecisionAssign = "07b8efd1cfe14160ad4c4ff3eb27b70b";
inline constexpr std::string_view kDecisionPeer = "7535c11f4c444549940c136a71c6a138";
inline constexpr std::string_view kDecisionSelfState = "fb4cde43fe824564a1db3808ce249a47";
inline constexpr std::string_view kDecisionFencePeer = "365b6bc11196437bb3c918365a78ebe6";
inline constexpr std::string_view kDecisionAlert = "23e6447d1a5144cfb54a4fc805ad787b";
inline constexpr std::string_view kActionOutcome = "2135e2c76bc242e48ece8da7f0f3e36d";
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
