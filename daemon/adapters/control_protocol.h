// What vigilctl and vigild say to each other: one JSON object per line.
// Request: {"command": "status"} (or "explain"). Reply: {"ok": true, "status": {...}} or
// {"ok": false, "error": "..."}.
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace vigil::adapters {

enum class ControlCommand { status, explain };

[[nodiscard]] const char* to_string(ControlCommand command);

// Checks a request line from the socket; the error says what is wrong with it.
[[nodiscard]] std::expected<ControlCommand, std::string> parse_control_request(
    std::string_view line);
[[nodiscard]] std::string format_control_request(ControlCommand command);
[[nodiscard]] std::string format_control_error(std::string_view message);

}  // namespace vigil::adapters
