#include "daemon/control/events.h"

#include "daemon/control/admin.h"

namespace vigil::control {

std::string_view name(EventKind kind) {
    switch (kind) {
        case EventKind::kDecision:
            return "decision";
        case EventKind::kAdmin:
            return "admin";
        case EventKind::kMaintenance:
            return "maintenance";
        case EventKind::kHook:
            return "hook";
        case EventKind::kDaemon:
            return "daemon";
    }
    return "?";
}

const Event& EventLog::add(Event e) {
    e.number = next_++;
    events_.push_back(std::move(e));
    if (events_.size() > kKeep) events_.pop_front();
    return events_.back();
}

Event decision_event(const core::Decision& d, std::chrono::system_clock::time_point wall) {
    Event e{.wall = wall, .kind = EventKind::kDecision};
    e.fields.emplace_back("decision", std::string(core::name(d.kind)));
    e.fields.emplace_back("reason", std::string(core::name(d.reason)));
    std::string about;
    if (!d.vm.empty()) {
        e.fields.emplace_back("vm", d.vm);
        about = " " + d.vm;
    }
    if (d.peer) {
        e.fields.emplace_back("peer", core::host_name(*d.peer));
        about += " " + core::host_name(*d.peer);
    }
    if (d.target) {
        e.fields.emplace_back("target", core::host_name(*d.target));
        about += " to " + core::host_name(*d.target);
    }
    if (d.peer_class) {
        e.fields.emplace_back("class", std::string(core::name(*d.peer_class)));
        about += " " + std::string(core::name(*d.peer_class));
    }
    if (d.self_state) {
        e.fields.emplace_back("state", std::string(core::name(*d.self_state)));
        about += " " + std::string(core::name(*d.self_state));
    }
    if (d.alert) {
        e.fields.emplace_back("alert", std::string(core::name(*d.alert)));
        about += " " + std::string(core::name(*d.alert));
    }
    e.message = std::string(core::name(d.kind)) + about + ": " + std::string(core::name(d.reason));
    return e;
}

nlohmann::json event_json(const Event& e) {
    nlohmann::json fields = nlohmann::json::object();
    for (const auto& [k, v] : e.fields) fields[k] = v;
    return {
        {"number", e.number},
        {"time", iso_time(e.wall)},
        {"time_ms",
         std::chrono::duration_cast<std::chrono::milliseconds>(e.wall.time_since_epoch()).count()},
        {"kind", std::string(name(e.kind))},
        {"message", e.message},
        {"fields", fields}};
}

}  // namespace vigil::control
