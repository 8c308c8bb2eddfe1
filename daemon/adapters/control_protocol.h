// What vigilctl and vigild say to each other: one JSON object per line.
// Request: {"command": "status"}, {"command": "explain"} or
// {"command": "explain", "subject": "vm1"} (a VM or a host). Reply:
// {"ok": true, "status": {...}} (or "explain") or {"ok": false, "error": "..."}.
#pragma once

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>

namespace vigil::adapters {

enum class ControlCommand { status, explain };

[[nodiscard]] const char* to_string(ControlCommand command);

struct ControlRequest {
    ControlCommand command = ControlCommand::status;
    // explain only: the VM or host to explain; empty: the latest decisions overall.
    std::string subject;
    bool operator==(const ControlRequest&) const = default;
};

// A subject is a VM or host name: 1 to kMaxSubject bytes, no control characters.
inline constexpr std::size_t kMaxSubject = 128;

// Checks a request line from the socket; the error says what is wrong with it.
[[nodiscard]] std::expected<ControlRequest, std::string> parse_control_request(
    std::string_view line);
// Checks a subject the same way the daemon does (vigilctl refuses before sending).
[[nodiscard]] std::expected<void, std::string> check_subject(std::string_view subject);
[[nodiscard]] std::string format_control_request(const ControlRequest& request);
[[nodiscard]] std::string format_control_error(std::string_view message);

}  // namespace vigil::adapters
