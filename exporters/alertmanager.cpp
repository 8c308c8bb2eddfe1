#include "exporters/alertmanager.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include "daemon/ports/error.h"

namespace vigil::exporters {

std::string_view name(HostAction action) {
    switch (action) {
        case HostAction::kDrain:
            return "drain";
        case HostAction::kMaintenanceOn:
            return "maintenance-on";
        case HostAction::kMaintenanceOff:
            return "maintenance-off";
        case HostAction::kCordon:
            return "cordon";
        case HostAction::kUncordon:
            return "uncordon";
    }
    return "unknown";
}

std::optional<HostAction> parse_host_action(std::string_view text) {
    for (const HostAction a : kAllHostActions) {
        if (name(a) == text) return a;
    }
    return std::nullopt;
}

namespace {

using Json = nlohmann::json;

std::expected<std::string, Error> string_field(const Json& object, const char* key, bool required) {
    const auto it = object.find(key);
    if (it == object.end()) {
        if (required) return std::unexpected(std::string("missing \"") + key + "\"");
        return std::string();
    }
    if (!it->is_string()) return std::unexpected(std::string("\"") + key + "\" is not a string");
    return it->get<std::string>();
}

std::expected<AlertStatus, Error> status_field(const Json& object) {
    auto s = string_field(object, "status", true);
    if (!s) return std::unexpected(s.error());
    if (*s == "firing") return AlertStatus::kFiring;
    if (*s == "resolved") return AlertStatus::kResolved;
    return std::unexpected("unknown status \"" + *s + "\" (firing, resolved)");
}

std::expected<std::map<std::string, std::string>, Error> string_map(const Json& object,
                                                                    const char* key,
                                                                    bool required) {
    std::map<std::string, std::string> out;
    const auto it = object.find(key);
    if (it == object.end()) {
        if (required) return std::unexpected(std::string("missing \"") + key + "\"");
        return out;
    }
    if (!it->is_object()) return std::unexpected(std::string("\"") + key + "\" is not an object");
    if (it->size() > kMaxLabels) {
        return std::unexpected(std::string("more than ") + std::to_string(kMaxLabels) + " " + key);
    }
    for (const auto& [k, v] : it->items()) {
        if (!v.is_string()) {
            return std::unexpected(std::string(key) + "." + k + " is not a string");
        }
        out.emplace(k, v.get<std::string>());
    }
    return out;
}

std::expected<Alert, Error> parse_alert(const Json& j) {
    if (!j.is_object()) return std::unexpected(std::string("not an object"));
    Alert a;
    auto status = status_field(j);
    if (!status) return std::unexpected(status.error());
    a.status = *status;
    auto labels = string_map(j, "labels", true);
    if (!labels) return std::unexpected(labels.error());
    a.labels = std::move(*labels);
    auto annotations = string_map(j, "annotations", false);
    if (!annotations) return std::unexpected(annotations.error());
    a.annotations = std::move(*annotations);
    for (auto [key, field] : {std::pair{"startsAt", &a.starts_at}, std::pair{"endsAt", &a.ends_at},
                              std::pair{"fingerprint", &a.fingerprint}}) {
        auto v = string_field(j, key, false);
        if (!v) return std::unexpected(v.error());
        *field = std::move(*v);
    }
    if (a.labels.find("alertname") == a.labels.end()) {
        return std::unexpected(std::string("no \"alertname\" label"));
    }
    return a;
}

// Without a fingerprint, the alert is known by its labels.
std::string identity(const Alert& a) {
    if (!a.fingerprint.empty()) return a.fingerprint;
    std::string id;
    for (const auto& [k, v] : a.labels) {
        id += k;
        id.push_back('\0');
        id += v;
        id.push_back('\0');
    }
    return id;
}

bool matches(const AlertRule& rule, const Alert& alert) {
    if (alert.labels.at("alertname") != rule.alert) return false;
    return std::all_of(rule.labels.begin(), rule.labels.end(), [&](const auto& kv) {
        const auto it = alert.labels.find(kv.first);
        return it != alert.labels.end() && it->second == kv.second;
    });
}

}  // namespace

std::expected<AlertmanagerMessage, Error> parse_alertmanager_webhook(std::string_view body) {
    // No exceptions: a parse error comes back as a discarded value.
    const Json doc = Json::parse(body.begin(), body.end(), nullptr, false);
    if (doc.is_discarded()) return std::unexpected(std::string("not JSON"));
    if (!doc.is_object()) return std::unexpected(std::string("not a JSON object"));
    auto version = string_field(doc, "version", true);
    if (!version) return std::unexpected(version.error());
    if (*version != "4") {
        return std::unexpected("version \"" + *version + "\" (only \"4\" is understood)");
    }
    AlertmanagerMessage m;
    auto receiver = string_field(doc, "receiver", true);
    if (!receiver) return std::unexpected(receiver.error());
    m.receiver = std::move(*receiver);
    auto status = status_field(doc);
    if (!status) return std::unexpected(status.error());
    m.status = *status;
    auto group_key = string_field(doc, "groupKey", false);
    if (!group_key) return std::unexpected(group_key.error());
    m.group_key = std::move(*group_key);
    const auto alerts = doc.find("alerts");
    if (alerts == doc.end()) return std::unexpected(std::string("missing \"alerts\""));
    if (!alerts->is_array()) return std::unexpected(std::string("\"alerts\" is not an array"));
    if (alerts->size() > kMaxAlerts) {
        return std::unexpected("more than " + std::to_string(kMaxAlerts) + " alerts");
    }
    for (std::size_t i = 0; i < alerts->size(); ++i) {
        auto a = parse_alert((*alerts)[i]);
        if (!a) return std::unexpected("alerts[" + std::to_string(i) + "]: " + a.error().message);
        m.alerts.push_back(std::move(*a));
    }
    return m;
}

AlertActions::AlertActions(std::vector<AlertRule> rules, std::size_t memory)
    : rules_(std::move(rules)), memory_(std::max<std::size_t>(memory, 1)) {}

void AlertActions::remember(const std::string& key) {
    if (!firing_.insert(key).second) return;
    order_.push_back(key);
    while (order_.size() > memory_) {
        firing_.erase(order_.front());
        order_.pop_front();
    }
}

AlertOutcome AlertActions::apply(const AlertmanagerMessage& message) {
    AlertOutcome out;
    for (const Alert& alert : message.alerts) {
        const std::string& alertname = alert.labels.at("alertname");
        const auto rule = std::find_if(rules_.begin(), rules_.end(),
                                       [&](const AlertRule& r) { return matches(r, alert); });
        if (rule == rules_.end()) {
            ++out.unmatched;
            continue;
        }
        const std::size_t index = static_cast<std::size_t>(rule - rules_.begin());
        std::string host = rule->host;
        if (host.empty()) {
            const auto it = alert.labels.find(rule->host_label);
            if (it == alert.labels.end() || it->second.empty()) {
                out.skipped.push_back({alertname, "no \"" + rule->host_label + "\" label"});
                continue;
            }
            host = it->second;
        }
        const std::string key =
            std::to_string(index) + '\0' + identity(alert) + '\0' + alert.starts_at;
        AlertAction act{rule->action, host, alertname, alert.fingerprint, index, false};
        if (alert.status == AlertStatus::kFiring) {
            if (firing_.count(key) != 0) {
                ++out.duplicates;
                continue;
            }
            remember(key);
            out.actions.push_back(std::move(act));
        } else {
            // Resolved: acts once, and only for an alert seen firing (a
            // restarted vigild that never saw it fire does nothing).
            if (firing_.erase(key) == 0) {
                ++out.duplicates;
                continue;
            }
            order_.erase(std::find(order_.begin(), order_.end(), key));
            if (const auto& resolved = rule->resolved_action; resolved) {
                act.action = *resolved;
                act.resolved = true;
                out.actions.push_back(std::move(act));
            }
        }
    }
    return out;
}

}  // namespace vigil::exporters
