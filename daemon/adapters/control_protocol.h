// What vigilctl and vigild say to each other: one JSON object per line.
// Requests:
//   {"command": "status"}
//   {"command": "explain"} or {"command": "explain", "subject": "vm1"} (a VM or a host)
//   {"command": "events"} or {"command": "events", "follow": true}
//   {"command": "admin", "action": "maintenance-on", "for_ms": 7200000}
//   {"command": "admin", "action": "maintenance-off" | "cordon" | "uncordon"}
// Replies: {"ok": true, "<command>": ...} or {"ok": false, "error": "..."}.
// events with follow: the reply line, then one {"ok": true, "event": {...}}
// line per new event for as long as the connection stays open.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include "daemon/ports/error.h"

namespace vigil::adapters {

enum class ControlCommand : std::uint8_t { kStatus, kExplain, kEvents, kAdmin };

// What an operator asks of this host. To add one: a value here, its name in
// to_string(), its core command in control::admin_command(), a vigilctl verb.
enum class AdminAction : std::uint8_t {
    kMaintenanceOn,
    kMaintenanceOff,
    kCordon,
    kUncordon,
    kDrain
};

inline constexpr AdminAction kAllAdminActions[] = {
    AdminAction::kMaintenanceOn, AdminAction::kMaintenanceOff, AdminAction::kCordon,
    AdminAction::kUncordon, AdminAction::kDrain};

[[nodiscard]] std::string_view name(ControlCommand command);
// "maintenance-on", "maintenance-off", "cordon", "uncordon", "drain".
[[nodiscard]] std::string_view name(AdminAction action);

// `maintenance on --for`: at least a second, at most 31 days.
inline constexpr std::chrono::milliseconds kMinMaintenanceFor{1000};
inline constexpr std::chrono::milliseconds kMaxMaintenanceFor{31LL * 24 * 3600 * 1000};

struct ControlRequest {
    ControlCommand command = ControlCommand::kStatus;
    // explain only: the VM or host to explain; empty: the latest decisions overall.
    std::string subject;
    // events only: keep the connection open and stream new events.
    bool follow = false;
    // admin only.
    AdminAction action = AdminAction::kMaintenanceOn;
    // admin maintenance-on only: when it ends by itself; nullopt: it lasts until turned off.
    std::optional<std::chrono::milliseconds> for_duration;
    bool operator==(const ControlRequest&) const = default;
};

// A subject is a VM or host name: 1 to kMaxSubject bytes, no control characters.
inline constexpr std::size_t kMaxSubject = 128;

// Checks a request line from the socket; the error says what is wrong with it.
[[nodiscard]] std::expected<ControlRequest, Error> parse_control_request(std::string_view line);
// Checks a subject the same way the daemon does (vigilctl refuses before sending).
[[nodiscard]] std::expected<void, Error> check_subject(std::string_view subject);
[[nodiscard]] std::string format_control_request(const ControlRequest& request);
[[nodiscard]] std::string format_control_error(std::string_view message);

}  // namespace vigil::adapters
