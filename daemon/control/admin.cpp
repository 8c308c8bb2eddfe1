#include "daemon/control/admin.h"

#include <ctime>
#include <nlohmann/json.hpp>
#include "daemon/ports/error.h"

namespace vigil::control {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr int kFileVersion = 1;

std::int64_t epoch_ms(WallTime t) {
    return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

WallTime from_epoch_ms(std::int64_t ms) {
    return WallTime(std::chrono::duration_cast<WallTime::duration>(milliseconds(ms)));
}

}  // namespace

core::AdminCommand admin_command(adapters::AdminAction action) {
    switch (action) {
        case adapters::AdminAction::kMaintenanceOn:
            return core::AdminCommand::kMaintenanceOn;
        case adapters::AdminAction::kMaintenanceOff:
            return core::AdminCommand::kMaintenanceOff;
        case adapters::AdminAction::kCordon:
            return core::AdminCommand::kCordon;
        case adapters::AdminAction::kUncordon:
            return core::AdminCommand::kUncordon;
        case adapters::AdminAction::kDrain:
            return core::AdminCommand::kDrain;
    }
    return core::AdminCommand::kMaintenanceOff;
}

std::string Requester::describe() const {
    return "uid " + std::to_string(uid) + " pid " + std::to_string(pid) +
           (command.empty() ? std::string() : " (" + command + ")");
}

std::string encode_admin_state(const AdminState& s) {
    json j{{"version", kFileVersion},
           {"maintenance", s.maintenance},
           {"maintenance_since_ms", epoch_ms(s.maintenance_since)},
           {"maintenance_by", s.maintenance_by},
           {"cordoned", s.cordoned},
           {"cordoned_by", s.cordoned_by},
           {"draining", s.draining}};
    j["maintenance_until_ms"] = s.maintenance_until ? json(epoch_ms(*s.maintenance_until)) : json();
    return j.dump() + "\n";
}

std::expected<AdminState, Error> decode_admin_state(std::string_view text) {
    const auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return std::unexpected("not valid JSON");
    if (!j.is_object()) return std::unexpected("not a JSON object");
    if (!j.contains("version") || !j["version"].is_number_integer() ||
        j["version"].get<std::int64_t>() != kFileVersion) {
        return std::unexpected("no \"version\": " + std::to_string(kFileVersion));
    }
    auto need = [&](const char* key, bool ok) -> std::expected<void, Error> {
        if (!j.contains(key) || !ok)
            return std::unexpected(std::string("bad or missing \"") + key + "\"");
        return {};
    };
    for (const auto& r :
         {need("maintenance", j.contains("maintenance") && j["maintenance"].is_boolean()),
          need("cordoned", j.contains("cordoned") && j["cordoned"].is_boolean()),
          need("maintenance_since_ms",
               j.contains("maintenance_since_ms") && j["maintenance_since_ms"].is_number_integer()),
          need("maintenance_until_ms", j.contains("maintenance_until_ms") &&
                                           (j["maintenance_until_ms"].is_null() ||
                                            j["maintenance_until_ms"].is_number_integer())),
          need("maintenance_by", j.contains("maintenance_by") && j["maintenance_by"].is_string()),
          need("cordoned_by", j.contains("cordoned_by") && j["cordoned_by"].is_string())}) {
        if (!r) return std::unexpected(r.error());
    }
    AdminState s;
    s.maintenance = j["maintenance"].get<bool>();
    s.cordoned = j["cordoned"].get<bool>();
    s.maintenance_since = from_epoch_ms(j["maintenance_since_ms"].get<std::int64_t>());
    if (!j["maintenance_until_ms"].is_null()) {
        s.maintenance_until = from_epoch_ms(j["maintenance_until_ms"].get<std::int64_t>());
    }
    s.maintenance_by = j["maintenance_by"].get<std::string>();
    s.cordoned_by = j["cordoned_by"].get<std::string>();
    // Added after the first files were written: absent means no drain.
    if (j.contains("draining")) {
        if (!j["draining"].is_boolean()) return std::unexpected("bad \"draining\"");
        s.draining = j["draining"].get<bool>();
    }
    if (s.draining && !s.cordoned) return std::unexpected("a drain of a host that is not cordoned");
    if (!s.maintenance && s.maintenance_until) {
        return std::unexpected("an end time for a maintenance that is off");
    }
    return s;
}

StartAdmin admin_at_start(const std::optional<AdminState>& saved, WallTime now) {
    StartAdmin out;
    if (!saved) return out;
    out.state = *saved;
    if (saved->maintenance && saved->maintenance_until && *saved->maintenance_until <= now) {
        out.expired = true;
        out.note = "the maintenance asked by " + saved->maintenance_by + " ended at " +
                   iso_time(*saved->maintenance_until) +
                   " while vigild was not running; starting out of maintenance";
        out.state.maintenance = false;
        out.state.maintenance_until.reset();
        out.state.maintenance_by.clear();
        out.state.maintenance_since = {};
    }
    return out;
}

std::optional<milliseconds> maintenance_left(const AdminState& s, WallTime now) {
    if (!s.maintenance || !s.maintenance_until) return std::nullopt;
    if (*s.maintenance_until <= now) return milliseconds(0);
    return std::chrono::ceil<milliseconds>(*s.maintenance_until - now);
}

AdminState apply_admin(AdminState s, adapters::AdminAction action,
                       std::optional<milliseconds> for_duration, const std::string& by,
                       WallTime now) {
    switch (action) {
        case adapters::AdminAction::kMaintenanceOn:
            if (!s.maintenance) s.maintenance_since = now;
            s.maintenance = true;
            s.maintenance_by = by;
            s.maintenance_until.reset();
            if (for_duration) s.maintenance_until = now + *for_duration;
            break;
        case adapters::AdminAction::kMaintenanceOff:
            s.maintenance = false;
            s.maintenance_until.reset();
            s.maintenance_by.clear();
            s.maintenance_since = {};
            break;
        case adapters::AdminAction::kCordon:
            s.cordoned = true;
            s.cordoned_by = by;
            break;
        case adapters::AdminAction::kUncordon:
            s.cordoned = false;
            s.draining = false;
            s.cordoned_by.clear();
            break;
        case adapters::AdminAction::kDrain:
            s.cordoned = true;
            s.draining = true;
            s.cordoned_by = by;
            break;
    }
    return s;
}

std::string iso_time(WallTime t) {
    const std::time_t secs = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace vigil::control
