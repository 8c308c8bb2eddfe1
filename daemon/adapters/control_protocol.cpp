#include "daemon/adapters/control_protocol.h"

#include <nlohmann/json.hpp>
#include "daemon/ports/error.h"

namespace vigil::adapters {

std::string_view name(ControlCommand command) {
    switch (command) {
        case ControlCommand::kStatus:
            return "status";
        case ControlCommand::kExplain:
            return "explain";
        case ControlCommand::kEvents:
            return "events";
        case ControlCommand::kAdmin:
            return "admin";
    }
    return "?";
}

std::string_view name(AdminAction action) {
    switch (action) {
        case AdminAction::kMaintenanceOn:
            return "maintenance-on";
        case AdminAction::kMaintenanceOff:
            return "maintenance-off";
        case AdminAction::kCordon:
            return "cordon";
        case AdminAction::kUncordon:
            return "uncordon";
        case AdminAction::kDrain:
            return "drain";
    }
    return "?";
}

std::expected<void, Error> check_subject(std::string_view subject) {
    if (subject.empty()) return std::unexpected("the subject is empty (name a VM or a host)");
    if (subject.size() > kMaxSubject) {
        return std::unexpected("the subject is " + std::to_string(subject.size()) +
                               " bytes long; a VM or host name has at most " +
                               std::to_string(kMaxSubject));
    }
    for (const char c : subject) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            return std::unexpected("the subject holds a control character (byte " +
                                   std::to_string(u) + ")");
        }
    }
    return {};
}

namespace {

using nlohmann::json;

// Every key a command may carry; any other is refused, so that a typo
// ("for" for "for_ms") is an error rather than ignored.
bool allowed_key(ControlCommand command, const std::string& key) {
    if (key == "command") return true;
    switch (command) {
        case ControlCommand::kStatus:
            return false;
        case ControlCommand::kExplain:
            return key == "subject";
        case ControlCommand::kEvents:
            return key == "follow";
        case ControlCommand::kAdmin:
            return key == "action" || key == "for_ms";
    }
    return false;
}

std::string known_actions() {
    std::string out;
    for (const auto a : kAllAdminActions) out += (out.empty() ? "" : ", ") + std::string(name(a));
    return out;
}

std::expected<void, Error> parse_admin(const json& j, ControlRequest& request) {
    if (!j.contains("action") || !j["action"].is_string()) {
        return std::unexpected("admin needs a string \"action\" (known: " + known_actions() + ")");
    }
    const auto& action = j["action"].get_ref<const std::string&>();
    std::optional<AdminAction> known;
    for (const auto a : kAllAdminActions) {
        if (action == name(a)) known = a;
    }
    if (!known) {
        return std::unexpected("unknown admin action " + json(action).dump() +
                               " (known: " + known_actions() + ")");
    }
    request.action = *known;
    if (j.contains("for_ms")) {
        if (*known != AdminAction::kMaintenanceOn) {
            return std::unexpected(std::string("\"for_ms\" is for maintenance-on only, not ") +
                                   std::string(name(*known)));
        }
        const auto& v = j["for_ms"];
        if (!v.is_number_integer()) {
            return std::unexpected("\"for_ms\" must be a whole number of milliseconds");
        }
        const auto ms = v.is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(
                                                     v.get<std::uint64_t>(), INT64_MAX))
                                               : v.get<std::int64_t>();
        if (ms < kMinMaintenanceFor.count() || ms > kMaxMaintenanceFor.count()) {
            return std::unexpected("\"for_ms\" is " + std::to_string(ms) + "; it must be between " +
                                   std::to_string(kMinMaintenanceFor.count()) + " and " +
                                   std::to_string(kMaxMaintenanceFor.count()));
        }
        request.for_duration = std::chrono::milliseconds(ms);
    }
    return {};
}

}  // namespace

std::expected<ControlRequest, Error> parse_control_request(std::string_view line) {
    const auto parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return std::unexpected("request is not valid JSON");
    if (!parsed.is_object() || !parsed.contains("command") || !parsed["command"].is_string()) {
        return std::unexpected("request must be a JSON object with a string \"command\"");
    }
    const auto& command = parsed["command"].get_ref<const std::string&>();
    std::optional<ControlCommand> known;
    for (const auto c : {ControlCommand::kStatus, ControlCommand::kExplain, ControlCommand::kEvents,
                         ControlCommand::kAdmin}) {
        if (command == name(c)) known = c;
    }
    if (!known) {
        // Quoted through the JSON encoder: the name came from outside.
        return std::unexpected("unknown command " + json(command).dump() +
                               " (known: status, explain, events, admin)");
    }
    for (const auto& [key, value] : parsed.items()) {
        if (!allowed_key(*known, key)) {
            return std::unexpected(json(key).dump() + " is not a key of " +
                                   std::string(name(*known)));
        }
    }
    ControlRequest request{.command = *known};
    switch (*known) {
        case ControlCommand::kStatus:
            break;
        case ControlCommand::kExplain:
            if (parsed.contains("subject")) {
                if (!parsed["subject"].is_string()) {
                    return std::unexpected("\"subject\" must be a string (a VM or host name)");
                }
                request.subject = parsed["subject"].get<std::string>();
                if (auto ok = check_subject(request.subject); !ok)
                    return std::unexpected(ok.error());
            }
            break;
        case ControlCommand::kEvents:
            if (parsed.contains("follow")) {
                if (!parsed["follow"].is_boolean())
                    return std::unexpected("\"follow\" must be true or false");
                request.follow = parsed["follow"].get<bool>();
            }
            break;
        case ControlCommand::kAdmin:
            if (auto ok = parse_admin(parsed, request); !ok) return std::unexpected(ok.error());
            break;
    }
    return request;
}

std::string format_control_request(const ControlRequest& request) {
    json j{{"command", name(request.command)}};
    switch (request.command) {
        case ControlCommand::kStatus:
            break;
        case ControlCommand::kExplain:
            if (!request.subject.empty()) j["subject"] = request.subject;
            break;
        case ControlCommand::kEvents:
            if (request.follow) j["follow"] = true;
            break;
        case ControlCommand::kAdmin:
            j["action"] = std::string(name(request.action));
            if (request.for_duration) j["for_ms"] = request.for_duration->count();
            break;
    }
    return j.dump();
}

std::string format_control_error(std::string_view message) {
    return json{{"ok", false}, {"error", message}}.dump();
}

}  // namespace vigil::adapters
