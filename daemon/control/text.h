// vigilctl's text: the control API's JSON replies (status.h makes them) as an
// operator reads them. Pure: JSON in, text out; a field that is missing or of
// the wrong type prints as "-" or "?", never throws.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace vigil::control {

// "0.4 s ago", "2.1 s ago", "3 min 20 s ago", "2 h 05 min ago", "never".
[[nodiscard]] std::string ago_text(const nlohmann::json& seconds);
// The "status" object of a status reply.
[[nodiscard]] std::string status_text(const nlohmann::json& status);
// The "admin" object of a status or admin reply: maintenance and cordon.
[[nodiscard]] std::string admin_text(const nlohmann::json& admin);
// One event, one line: time, kind, message.
[[nodiscard]] std::string event_text(const nlohmann::json& event);
// The "events" object of an events reply, oldest first.
[[nodiscard]] std::string events_text(const nlohmann::json& events);
// The "explain" object of an explain reply.
[[nodiscard]] std::string explain_text(const nlohmann::json& explain);

}  // namespace vigil::control
