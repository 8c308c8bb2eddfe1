// libFuzzer entry point for control-socket requests (vigilctl's protocol).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "daemon/adapters/control_protocol.h"

namespace control_fuzz {

int one_input(const std::uint8_t* data, std::size_t size) {
    const std::string_view line(reinterpret_cast<const char*>(data), size);
    const auto command = vigil::adapters::parse_control_request(line);
    if (!command && command.error().message.empty()) std::abort();
    if (command) {
        // A subject is bounded and checked: what the daemon accepts, vigilctl would send.
        if (!command->subject.empty() && !vigil::adapters::check_subject(command->subject)) {
            std::abort();
        }
        // A maintenance end is bounded and only with maintenance-on; follow only with events.
        if (command->for_duration &&
            (command->command != vigil::adapters::ControlCommand::kAdmin ||
             command->action != vigil::adapters::AdminAction::kMaintenanceOn ||
             *command->for_duration < vigil::adapters::kMinMaintenanceFor ||
             *command->for_duration > vigil::adapters::kMaxMaintenanceFor)) {
            std::abort();
        }
        if (command->follow && command->command != vigil::adapters::ControlCommand::kEvents) {
            std::abort();
        }
        // Whatever parses must round-trip.
        const auto again = vigil::adapters::parse_control_request(
            vigil::adapters::format_control_request(*command));
        if (!again || *again != *command) std::abort();
    }
    return 0;
}

}  // namespace control_fuzz

#ifdef VIGIL_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return control_fuzz::one_input(data, size);
}
#endif
