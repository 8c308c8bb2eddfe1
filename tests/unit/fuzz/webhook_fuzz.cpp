// libFuzzer entry point for Alertmanager webhook bodies: the parser, then
// the rule table (with its memory of what it acted on) over what parsed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "exporters/alertmanager.h"

namespace webhook_fuzz {

int one_input(const std::uint8_t* data, std::size_t size) {
    using namespace vigil::exporters;
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const auto message = parse_alertmanager_webhook(body);
    if (!message) {
        if (message.error().message.empty()) std::abort();
        return 0;
    }
    if (message->alerts.size() > kMaxAlerts) std::abort();
    static AlertActions actions({AlertRule{.alert = "HostHardwareDegraded",
                                           .labels = {{"severity", "critical"}},
                                           .action = HostAction::kDrain},
                                 AlertRule{.alert = "HostPlannedWork",
                                           .action = HostAction::kMaintenanceOn,
                                           .resolved_action = HostAction::kMaintenanceOff,
                                           .host_label = "instance"}},
                                64);
    const auto first = actions.apply(*message);
    if (first.actions.size() + first.duplicates + first.unmatched + first.skipped.size() >
        message->alerts.size()) {
        std::abort();
    }
    // Firing alerts sent again (a repeat, a retry) act on nothing new, as
    // long as the memory holds them all.
    const bool all_firing =
        std::all_of(message->alerts.begin(), message->alerts.end(),
                    [](const Alert& a) { return a.status == AlertStatus::kFiring; });
    if (all_firing && message->alerts.size() <= 64 && !actions.apply(*message).actions.empty()) {
        std::abort();
    }
    return 0;
}

}  // namespace webhook_fuzz

#ifdef VIGIL_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return webhook_fuzz::one_input(data, size);
}
#endif
