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

std::expected<ControlCommand, std::string> parse_control_request(std::string_view line) {
    const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return std::unexpected("request is not valid JSON");
    if (!parsed.is_object() || !parsed.contains("command") || !parsed["command"].is_string()) {
        return std::unexpected("request must be a JSON object with a string \"command\"");
    }
    const auto& command = parsed["command"].get_ref<const std::string&>();
    for (const auto known : {ControlCommand::status, ControlCommand::explain}) {
        if (command == to_string(known)) return known;
    }
    // Quoted through the JSON encoder: the name came from outside.
    return std::unexpected("unknown command " + nlohmann::json(command).dump() +
                           " (known: status, explain)");
}

std::string format_control_request(ControlCommand command) {
    return nlohmann::json{{"command", to_string(command)}}.dump();
}

std::string format_control_error(std::string_view message) {
    return nlohmann::json{{"ok", false}, {"error", message}}.dump();
}

}  // namespace vigil::adapters
