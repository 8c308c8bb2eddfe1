#include "daemon/adapters/control_protocol.h"

#include <nlohmann/json.hpp>

namespace vigil::adapters {

const char* to_string(ControlCommand command) {
    switch (command) {
        case ControlCommand::status:
            return "status";
        case ControlCommand::explain:
            return "explain";
    }
    return "?";
}

std::expected<void, std::string> check_subject(std::string_view subject) {
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

std::expected<ControlRequest, std::string> parse_control_request(std::string_view line) {
    const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return std::unexpected("request is not valid JSON");
    if (!parsed.is_object() || !parsed.contains("command") || !parsed["command"].is_string()) {
        return std::unexpected("request must be a JSON object with a string \"command\"");
    }
    const auto& command = parsed["command"].get_ref<const std::string&>();
    std::optional<ControlCommand> known;
    for (const auto c : {ControlCommand::status, ControlCommand::explain}) {
        if (command == to_string(c)) known = c;
    }
    if (!known) {
        // Quoted through the JSON encoder: the name came from outside.
        return std::unexpected("unknown command " + nlohmann::json(command).dump() +
                               " (known: status, explain)");
    }
    ControlRequest request{.command = *known};
    if (parsed.contains("subject")) {
        if (*known != ControlCommand::explain) {
            return std::unexpected(std::string("\"subject\" is for explain only, not ") +
                                   to_string(*known));
        }
        if (!parsed["subject"].is_string()) {
            return std::unexpected("\"subject\" must be a string (a VM or host name)");
        }
        request.subject = parsed["subject"].get<std::string>();
        if (auto ok = check_subject(request.subject); !ok) return std::unexpected(ok.error());
    }
    return request;
}

std::string format_control_request(const ControlRequest& request) {
    nlohmann::json j{{"command", to_string(request.command)}};
    if (!request.subject.empty()) j["subject"] = request.subject;
    return j.dump();
}

std::string format_control_error(std::string_view message) {
    return nlohmann::json{{"ok", false}, {"error", message}}.dump();
}

}  // namespace vigil::adapters
