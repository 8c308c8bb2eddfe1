#include "daemon/config/config.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <sstream>
#include "daemon/core/decision.h"
#include "daemon/ports/error.h"

namespace vigil::config {
namespace {

// The parts joined in one allocation (messages built in loops).
std::string concat(std::initializer_list<std::string_view> parts) {
    std::size_t size = 0;
    for (const auto p : parts) size += p.size();
    std::string out;
    out.reserve(size);
    for (const auto p : parts) out += p;
    return out;
}

using Setter = std::function<std::expected<void, Error>(const toml::node&, Config&)>;

struct KeySpec {
    Setter set;
};

std::string type_name(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::none:
            return "nothing";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a float";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
    }
    return "an unknown type";
}

Setter integer(std::int64_t min, std::int64_t max,
               std::function<void(Config&, std::int64_t)> store) {
    return [min, max, store = std::move(store)](const toml::node& node,
                                                Config& cfg) -> std::expected<void, Error> {
        const auto* v = node.as_integer();
        if (v == nullptr) return std::unexpected("expected an integer, got " + type_name(node));
        const std::int64_t value = v->get();
        if (value < min || value > max) {
            return std::unexpected("value " + std::to_string(value) + " is out of range [" +
                                   std::to_string(min) + ", " + std::to_string(max) + "]");
        }
        store(cfg, value);
        return {};
    };
}

// A duration is a bare integer in the unit its key names (_ms, _s): "5s" or
// 5.0 is refused with that said, rather than read in some other unit.
Setter duration(Setter whole, const char* unit) {
    return [whole = std::move(whole), unit](const toml::node& node,
                                            Config& cfg) -> std::expected<void, Error> {
        if (node.is_string() || node.is_floating_point()) {
            return std::unexpected(std::string("expected a whole number of ") + unit +
                                   " without a unit, got " + type_name(node));
        }
        return whole(node, cfg);
    };
}

Setter millis(std::int64_t min, std::int64_t max, std::chrono::milliseconds Config::*field) {
    return duration(
        integer(min, max,
                [field](Config& c, std::int64_t v) { c.*field = std::chrono::milliseconds(v); }),
        "milliseconds");
}

Setter string(std::function<std::expected<void, Error>(Config&, const std::string&)> store) {
    return [store = std::move(store)](const toml::node& node,
                                      Config& cfg) -> std::expected<void, Error> {
        const auto* v = node.as_string();
        if (v == nullptr) return std::unexpected("expected a string, got " + type_name(node));
        return store(cfg, v->get());
    };
}

Setter boolean(std::function<void(Config&, bool)> store) {
    return [store = std::move(store)](const toml::node& node,
                                      Config& cfg) -> std::expected<void, Error> {
        const auto* v = node.as_boolean();
        if (v == nullptr) return std::unexpected("expected true or false, got " + type_name(node));
        store(cfg, v->get());
        return {};
    };
}

// Empty (root), or a name as useradd accepts it.
bool valid_user_name(const std::string& s) {
    if (s.empty()) return true;
    if (s.size() > 32 || s.front() == '-' || (s.front() >= '0' && s.front() <= '9')) return false;
    for (char ch : s) {
        const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
        if (!ok) return false;
    }
    return true;
}

bool has_control_character(std::string_view s) {
    return std::ranges::any_of(s, [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

enum class PathKind : std::uint8_t { kFile, kDirectory };

// Every path of the file: absolute, printable, no "." or ".." component (the
// path the operator means is the one written), within PATH_MAX, and a file
// not ending in "/".
std::expected<void, Error> absolute_path(const std::string& s, PathKind kind = PathKind::kFile) {
    if (s.empty()) return std::unexpected("must be an absolute path, got an empty string");
    if (s.front() != '/') return std::unexpected("must be an absolute path, got \"" + s + "\"");
    if (has_control_character(s)) {
        return std::unexpected("must be an absolute path without control characters");
    }
    constexpr std::size_t kPathMax = 4095;  // PATH_MAX without its terminating zero
    if (s.size() > kPathMax) {
        return std::unexpected("is " + std::to_string(s.size()) +
                               " bytes long, more than a path may be (4095)");
    }
    for (std::size_t at = 0; at < s.size();) {
        const auto next = std::min(s.find('/', at + 1), s.size());
        const std::string_view part = std::string_view(s).substr(at + 1, next - at - 1);
        if (part == "." || part == "..") {
            return std::unexpected("\"" + s + "\" has a \"" + std::string(part) +
                                   "\" component; give the path it stands for");
        }
        at = next;
    }
    if (kind == PathKind::kFile && s.back() == '/') {
        return std::unexpected("\"" + s + "\" ends in \"/\", a directory; give a file");
    }
    return {};
}

// A setter for a path key: checked by absolute_path(), stored in `field`.
Setter path(std::string Config::*field, PathKind kind = PathKind::kFile) {
    return string([field, kind](Config& c, const std::string& s) -> std::expected<void, Error> {
        if (auto ok = absolute_path(s, kind); !ok) return ok;
        c.*field = s;
        return {};
    });
}

// HOST_NAME_MAX: a host's name is usually its hostname.
constexpr std::size_t kMaxHostName = 64;

// The names the file gives things (the cluster group, hosts, storage
// domains): what logs, metrics labels and VM metadata can carry unquoted.
// driver[+transport]://[user@][host][:port]/[path][?params]
std::expected<void, Error> libvirt_uri(const std::string& s) {
    const auto scheme_end = s.find("://");
    const bool scheme_ok =
        scheme_end != std::string::npos && scheme_end > 0 &&
        std::isalpha(static_cast<unsigned char>(s.front())) != 0 &&
        std::all_of(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(scheme_end),
                    [](unsigned char ch) {
                        return std::isalnum(ch) != 0 || ch == '+' || ch == '-' || ch == '.';
                    });
    const bool printable =
        std::ranges::none_of(s, [](unsigned char ch) { return ch <= 0x20 || ch == 0x7f; });
    if (!scheme_ok || !printable) {
        return std::unexpected("\"" + s +
                               "\" is not a libvirt URI (driver[+transport]://"
                               "[host]/path, such as \"qemu:///system\", without "
                               "spaces)");
    }
    return {};
}

std::expected<void, Error> valid_name(const std::string& s, std::size_t max) {
    if (s.empty()) return std::unexpected("must not be empty");
    if (s.size() > max) {
        return std::unexpected("\"" + s + "\" is " + std::to_string(s.size()) +
                               " bytes long, more than " + std::to_string(max));
    }
    const bool ok = std::ranges::all_of(s, [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '_' || ch == '-' || ch == '.';
    });
    if (!ok || s.front() == '-' || s.front() == '.') {
        return std::unexpected("\"" + s +
                               "\" is not a name (letters, digits, _, - and ., not starting "
                               "with - or .)");
    }
    return {};
}

// A Prometheus label name, as Alertmanager sends them.
std::expected<void, Error> valid_label_name(const std::string& s) {
    const bool ok = !s.empty() && !(s.front() >= '0' && s.front() <= '9') &&
                    std::ranges::all_of(s, [](char ch) {
                        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                               (ch >= '0' && ch <= '9') || ch == '_';
                    });
    if (!ok) {
        return std::unexpected("\"" + s +
                               "\" is not a label name (letters, digits and _, not starting "
                               "with a digit)");
    }
    return {};
}

// Kept in step with exporters' HostAction (tested there).
bool valid_action(const std::string& s) {
    return s == "drain" || s == "cordon" || s == "uncordon" || s == "maintenance-on" ||
           s == "maintenance-off";
}

int line_of(const toml::node& node);

constexpr const char* kRuleKeys = "alert, labels, action, resolved_action, host, host_label";

// [[webhook.rule]] tables: each key checked, each error on its own line.
std::expected<void, Error> webhook_rules(const toml::node& node, Config& cfg) {
    const auto* array = node.as_array();
    if (array == nullptr) {
        return std::unexpected(Error::at(
            {}, line_of(node), "webhook.rule must be an array of tables ([[webhook.rule]])"));
    }
    for (const auto& item : *array) {
        const auto* table = item.as_table();
        if (table == nullptr) {
            return std::unexpected(Error::at({}, line_of(item), "webhook.rule: expected a table"));
        }
        WebhookRule rule;
        const int rule_line = line_of(item);
        for (auto&& [key, value] : *table) {
            const std::string k(key.str());
            const int line = static_cast<int>(key.source().begin.line);
            auto fail = [&](const std::string& why) -> std::expected<void, Error> {
                return std::unexpected(
                    Error::at({}, line, concat({"webhook.rule.", k, ": ", why})));
            };
            const bool known = k == "alert" || k == "labels" || k == "action" ||
                               k == "resolved_action" || k == "host" || k == "host_label";
            if (!known) return fail(std::string("unknown key (") + kRuleKeys + ")");
            if (k == "labels") {
                const auto* labels = value.as_table();
                if (labels == nullptr) return fail("expected a table of strings");
                for (auto&& [lk, lv] : *labels) {
                    if (auto ok = valid_label_name(std::string(lk.str())); !ok) {
                        return fail(ok.error().message);
                    }
                    const auto* str = lv.as_string();
                    if (str == nullptr) return fail(std::string(lk.str()) + " is not a string");
                    rule.labels.emplace_back(std::string(lk.str()), str->get());
                }
                continue;
            }
            const auto* str = value.as_string();
            if (str == nullptr) return fail("expected a string, got " + type_name(value));
            const std::string v = str->get();
            if (k == "alert") {
                if (v.empty()) return fail("must not be empty");
                if (has_control_character(v) ||
                    std::isspace(static_cast<unsigned char>(v.front())) != 0 ||
                    std::isspace(static_cast<unsigned char>(v.back())) != 0) {
                    return fail("\"" + v +
                                "\" has control characters or white space at an end, which no "
                                "alertname it should match has");
                }
                rule.alert = v;
            } else if (k == "action" || k == "resolved_action") {
                if (!valid_action(v)) {
                    return fail("unknown action \"" + v +
                                "\" (drain, cordon, uncordon, maintenance-on, maintenance-off)");
                }
                (k == "action" ? rule.action : rule.resolved_action) = v;
            } else if (k == "host") {
                if (auto ok = valid_name(v, kMaxHostName); !ok) return fail(ok.error().message);
                rule.host = v;
            } else {
                if (auto ok = valid_label_name(v); !ok) return fail(ok.error().message);
                rule.host_label = v;
            }
        }
        if (rule.alert.empty() || rule.action.empty()) {
            return std::unexpected(
                Error::at({}, rule_line, "webhook.rule: needs at least alert and action"));
        }
        // First match wins: a rule matching only what an earlier one matches
        // would never act.
        std::sort(rule.labels.begin(), rule.labels.end());
        for (std::size_t i = 0; i < cfg.webhook_rules.size(); ++i) {
            const auto& earlier = cfg.webhook_rules[i];
            if (earlier.alert != rule.alert) continue;
            const bool covered = std::ranges::all_of(earlier.labels, [&](const auto& label) {
                return std::ranges::find(rule.labels, label) != rule.labels.end();
            });
            if (!covered) continue;
            return std::unexpected(
                Error::at({}, rule_line,
                          "webhook.rule: rule " + std::to_string(cfg.webhook_rules.size() + 1) +
                              " (alert \"" + rule.alert + "\") is matched first by rule " +
                              std::to_string(i + 1) +
                              ", whose alert and labels it repeats: it would never act"));
        }
        cfg.webhook_rules.push_back(std::move(rule));
    }
    return {};
}

// An array of strings, each checked by `each` (empty: fine).
std::expected<std::vector<std::string>, Error> strings(
    const toml::node& node,
    const std::function<std::expected<void, Error>(const std::string&)>& each) {
    const auto* array = node.as_array();
    if (array == nullptr)
        return std::unexpected("expected an array of strings, got " + type_name(node));
    std::vector<std::string> out;
    for (const auto& item : *array) {
        const auto* str = item.as_string();
        if (str == nullptr) {
            return std::unexpected("expected an array of strings, found " + type_name(item));
        }
        if (auto ok = each(str->get()); !ok) {
            return std::unexpected("\"" + str->get() + "\": " + ok.error().message);
        }
        out.push_back(str->get());
    }
    return out;
}

// The evidence map is checked as it grows, so that its first conflict is
// reported at the line that made it.
std::expected<void, Error> evidence_map_still_valid(const Config& cfg) {
    if (auto map = core::EvidenceMap::make(cfg.evidence_map); !map) {
        return std::unexpected(map.error());
    }
    return {};
}

// `[network] cluster_interfaces` and its two siblings: one network role each.
Setter interfaces(core::NetRole role) {
    return [role](const toml::node& node, Config& cfg) -> std::expected<void, Error> {
        auto names =
            strings(node, [](const std::string&) -> std::expected<void, Error> { return {}; });
        if (!names) return std::unexpected(names.error());
        for (auto& name : *names) {
            cfg.evidence_map.interfaces.push_back(
                core::InterfaceConfig{.name = std::move(name), .role = role});
        }
        return evidence_map_still_valid(cfg);
    };
}

constexpr const char* kHostKeys = "name, nodeid, slot, memory_mib, migration_uri";

// [[cluster.hosts]] tables: each key checked, each error on its own line;
// nodeids and slots unique, slots 0 to n-1 (the area has one slot per host).
std::expected<void, Error> cluster_hosts(const toml::node& node, Config& cfg) {
    const auto* array = node.as_array();
    if (array == nullptr) {
        return std::unexpected(Error::at(
            {}, line_of(node), "cluster.hosts must be an array of tables ([[cluster.hosts]])"));
    }
    for (const auto& item : *array) {
        const auto* table = item.as_table();
        const int host_line = line_of(item);
        if (table == nullptr) {
            return std::unexpected(Error::at({}, host_line, "cluster.hosts: expected a table"));
        }
        ClusterHost host;
        bool has_nodeid = false;
        bool has_slot = false;
        for (auto&& [key, value] : *table) {
            const std::string k(key.str());
            const int line = static_cast<int>(key.source().begin.line);
            auto fail = [&](const std::string& why) -> std::expected<void, Error> {
                return std::unexpected(
                    Error::at({}, line, concat({"cluster.hosts.", k, ": ", why})));
            };
            if (k == "name") {
                const auto* str = value.as_string();
                if (str == nullptr) return fail("expected a string, got " + type_name(value));
                if (auto ok = valid_name(str->get(), kMaxHostName); !ok)
                    return fail(ok.error().message);
                for (const auto& other : cfg.cluster_hosts) {
                    if (other.name == str->get()) {
                        return fail("\"" + str->get() + "\" names two hosts");
                    }
                }
                host.name = str->get();
                continue;
            }
            if (k == "migration_uri") {
                const auto* str = value.as_string();
                if (str == nullptr) return fail("expected a string, got " + type_name(value));
                if (auto ok = libvirt_uri(str->get()); !ok) return fail(ok.error().message);
                host.migration_uri = str->get();
                continue;
            }
            const bool known = k == "nodeid" || k == "slot" || k == "memory_mib";
            if (!known) return fail(std::string("unknown key (") + kHostKeys + ")");
            const auto* integer_node = value.as_integer();
            if (integer_node == nullptr)
                return fail("expected an integer, got " + type_name(value));
            const std::int64_t v = integer_node->get();
            if (k == "nodeid") {
                if (v < 1 || v > std::numeric_limits<std::uint32_t>::max()) {
                    return fail("value " + std::to_string(v) + " is out of range [1, 4294967295]");
                }
                for (const auto& other : cfg.cluster_hosts) {
                    if (other.nodeid == v) {
                        return fail("nodeid " + std::to_string(v) + " is also host \"" +
                                    other.name + "\"'s");
                    }
                }
                host.nodeid = static_cast<std::uint32_t>(v);
                has_nodeid = true;
            } else if (k == "slot") {
                if (v < 0 || v > 65535) {
                    return fail("value " + std::to_string(v) + " is out of range [0, 65535]");
                }
                for (const auto& other : cfg.cluster_hosts) {
                    if (other.slot == v) {
                        return fail("slot " + std::to_string(v) + " is also host \"" + other.name +
                                    "\"'s");
                    }
                }
                host.slot = static_cast<std::uint32_t>(v);
                has_slot = true;
            } else {
                if (v < 1 || v > (std::int64_t{1} << 40)) {
                    return fail("value " + std::to_string(v) + " is out of range [1, " +
                                std::to_string(std::int64_t{1} << 40) + "]");
                }
                host.memory_mib = static_cast<std::uint64_t>(v);
            }
        }
        if (host.name.empty() || !has_nodeid || !has_slot || host.memory_mib == 0) {
            return std::unexpected(Error::at(
                {}, host_line, "cluster.hosts: each host needs name, nodeid, slot and memory_mib"));
        }
        cfg.cluster_hosts.push_back(std::move(host));
    }
    const auto n = cfg.cluster_hosts.size();
    for (const auto& h : cfg.cluster_hosts) {
        if (h.slot >= n) {
            return std::unexpected(Error::at(
                {}, line_of(node),
                "cluster.hosts: host \"" + h.name + "\" has slot " + std::to_string(h.slot) +
                    ", but " + std::to_string(n) + " hosts own slots 0 to " +
                    std::to_string(n - 1) + " (the heartbeat area has one slot per host)"));
        }
    }
    return {};
}

// [storage.domains.<name>] tables: block_devices and nfs_mounts each.
std::expected<void, Error> storage_domains(const toml::node& node, Config& cfg) {
    const auto* domains = node.as_table();
    if (domains == nullptr) {
        return std::unexpected(
            Error::at({}, line_of(node),
                      "storage.domains must be a table of tables ([storage.domains.NAME])"));
    }
    for (auto&& [name, value] : *domains) {
        const std::string domain_name(name.str());
        const int domain_line = static_cast<int>(name.source().begin.line);
        const auto* table = value.as_table();
        if (table == nullptr) {
            return std::unexpected(
                Error::at({}, domain_line,
                          concat({"storage.domains.", domain_name,
                                  ": expected a table ([storage.domains.", domain_name, "])"})));
        }
        if (auto ok = valid_name(domain_name, kMaxHostName); !ok) {
            return std::unexpected(Error::at(
                {}, domain_line, "storage.domains: the domain name " + ok.error().message));
        }
        core::StorageDomainConfig domain{
            .name = domain_name, .block_devices = {}, .nfs_mounts = {}};
        for (auto&& [key, member] : *table) {
            const std::string k(key.str());
            const int line = static_cast<int>(key.source().begin.line);
            auto fail = [&](const std::string& why) -> std::expected<void, Error> {
                return std::unexpected(Error::at(
                    {}, line, concat({"storage.domains.", domain_name, ".", k, ": ", why})));
            };
            if (k != "block_devices" && k != "nfs_mounts") {
                return fail("unknown key (block_devices, nfs_mounts)");
            }
            auto names = strings(
                member, [](const std::string&) -> std::expected<void, Error> { return {}; });
            if (!names) return fail(names.error().message);
            (k == "block_devices" ? domain.block_devices : domain.nfs_mounts) = std::move(*names);
        }
        cfg.evidence_map.domains.push_back(std::move(domain));
        if (auto ok = evidence_map_still_valid(cfg); !ok) {
            return std::unexpected(Error::at(
                {}, domain_line, "storage.domains." + domain_name + ": " + ok.error().message));
        }
    }
    return {};
}

Setter no_setter() {
    return [](const toml::node&, Config&) -> std::expected<void, Error> { return {}; };
}

// Every key vigild understands, by section. Keep packaging/vigil.toml in step.
const std::map<std::string, std::map<std::string, KeySpec>>& schema() {
    static const std::map<std::string, std::map<std::string, KeySpec>> kSchema = {
        {"log",
         {{"level", {string([](Config& c, const std::string& s) -> std::expected<void, Error> {
               if (s == "debug")
                   c.log_level = LogLevel::kDebug;
               else if (s == "info")
                   c.log_level = LogLevel::kInfo;
               else if (s == "warning")
                   c.log_level = LogLevel::kWarning;
               else if (s == "error")
                   c.log_level = LogLevel::kError;
               else
                   return std::unexpected("unknown level \"" + s +
                                          "\" (debug, info, warning, error)");
               return {};
           })}}}},
        {"metrics",
         {{"enabled", {boolean([](Config& c, bool b) { c.metrics_enabled = b; })}},
          {"listen", {string([](Config& c, const std::string& s) -> std::expected<void, Error> {
               auto ep = parse_endpoint(s);
               if (!ep) return std::unexpected(ep.error());
               c.metrics_listen = *ep;
               return {};
           })}}}},
        {"control",
         {{"socket", {string([](Config& c, const std::string& s) -> std::expected<void, Error> {
               if (auto ok = absolute_path(s); !ok) return ok;
               if (s.size() >= 108)
                   return std::unexpected("longer than a unix socket path may be (107)");
               c.control_socket = s;
               return {};
           })}}}},
        {"probes",
         {{"poll_interval_ms", {millis(50, 5000, &Config::probe_poll_interval)}},
          {"block_error_events_per_second",
           {integer(1, 10000,
                    [](Config& c, std::int64_t v) {
                        c.block_error_events_per_second = static_cast<std::uint32_t>(v);
                    })}}}},
        {"storage",
         {{"slow_ms", {millis(100, 600000, &Config::storage_slow)}},
          {"stall_ms", {millis(200, 600000, &Config::storage_stall)}},
          {"error_window_ms", {millis(100, 3600000, &Config::storage_error_window)}},
          {"recovery_hold_ms", {millis(0, 600000, &Config::storage_recovery_hold)}},
          // Read by storage_domains(), which names the line of each error.
          {"domains", {no_setter()}}}},
        {"network",
         {{"down_hold_ms", {millis(0, 600000, &Config::link_down_hold)}},
          {"up_hold_ms", {millis(0, 600000, &Config::link_up_hold)}},
          {"idle_after_ms", {millis(500, 3600000, &Config::link_idle_after)}},
          {"cluster_interfaces", {interfaces(core::NetRole::kCluster)}},
          {"vm_uplink_interfaces", {interfaces(core::NetRole::kVmUplink)}},
          {"storage_interfaces", {interfaces(core::NetRole::kStorage)}}}},
        {"cluster",
         {{"enabled", {boolean([](Config& c, bool b) { c.standalone = !b; })}},
          {"group", {string([](Config& c, const std::string& s) -> std::expected<void, Error> {
               // corosync's CPG_MAX_NAME_LENGTH (128) with its terminating zero.
               if (s.empty() || s.size() > 127) {
                   return std::unexpected("must be 1 to 127 bytes, got " +
                                          std::to_string(s.size()));
               }
               if (auto ok = valid_name(s, 127); !ok) return ok;
               c.cluster_group = s;
               return {};
           })}},
          {"heartbeat_interval_ms", {millis(100, 60000, &Config::heartbeat_interval)}},
          {"fence_delay_ms", {millis(1000, 3600000, &Config::fence_delay)}},
          {"membership_timeout_ms", {millis(0, 600000, &Config::membership_timeout)}},
          {"storage_grace_ms", {millis(0, 3600000, &Config::storage_grace)}},
          {"link_grace_ms", {millis(0, 600000, &Config::link_grace)}},
          {"start_failure_hold_ms", {millis(100, 86400000, &Config::start_failure_hold)}},
          {"isolation_response",
           {string([](Config& c, const std::string& s) -> std::expected<void, Error> {
               auto r = parse_isolation_response(s);
               if (!r) return std::unexpected(r.error());
               c.isolation_response = *r;
               return {};
           })}},
          {"storm_guard_share",
           {[](const toml::node& node, Config& c) -> std::expected<void, Error> {
               double v = 0;
               if (const auto* f = node.as_floating_point()) {
                   v = f->get();
               } else if (const auto* i = node.as_integer()) {
                   v = static_cast<double>(i->get());
               } else {
                   return std::unexpected("expected a number, got " + type_name(node));
               }
               if (!(v > 0.0 && v <= 1.0)) {
                   return std::unexpected("value " + std::to_string(v) + " is out of range (0, 1]");
               }
               c.storm_guard_share = v;
               return {};
           }}},
          {"maintenance_at_start",
           {boolean([](Config& c, bool b) { c.maintenance_at_start = b; })}},
          {"allow_unauthenticated",
           {boolean([](Config& c, bool b) { c.allow_unauthenticated_cluster = b; })}},
          {"drain_migrate", {boolean([](Config& c, bool b) { c.drain_migrate = b; })}},
          // Read by cluster_hosts(), which names the line of each error.
          {"hosts", {no_setter()}}}},
        {"heartbeat",
         {{"area", {string([](Config& c, const std::string& s) -> std::expected<void, Error> {
               // Empty: none (standalone); cluster mode needs one.
               if (!s.empty()) {
                   if (auto ok = absolute_path(s); !ok) return ok;
               }
               c.heartbeat_area = s;
               return {};
           })}}}},
        {"libvirt",
         {{"uri", {string([](Config& c, const std::string& s) -> std::expected<void, Error> {
               if (auto ok = libvirt_uri(s); !ok) return ok;
               c.libvirt_uri = s;
               return {};
           })}},
          {"start_timeout_ms", {millis(1000, 3600000, &Config::vm_start_timeout)}},
          {"resume_timeout_ms", {millis(1000, 3600000, &Config::vm_resume_timeout)}},
          {"stop_grace_ms", {millis(0, 3600000, &Config::vm_stop_grace)}},
          {"stop_timeout_ms", {millis(1000, 3600000, &Config::vm_stop_timeout)}},
          {"migrate_timeout_ms", {millis(1000, 86400000, &Config::vm_migrate_timeout)}}}},
        {"nfs",
         {{"mountstats", {path(&Config::nfs_mountstats)}},
          {"poll_interval_ms", {millis(100, 60000, &Config::nfs_poll_interval)}},
          {"slow_rtt_ms", {millis(10, 600000, &Config::nfs_slow_rtt)}},
          {"stall_ms", {millis(200, 3600000, &Config::nfs_stall)}},
          {"error_window_ms", {millis(100, 3600000, &Config::nfs_error_window)}},
          {"recovery_hold_ms", {millis(0, 600000, &Config::nfs_recovery_hold)}},
          {"forget_after_ms", {millis(0, 86400000, &Config::nfs_forget_after)}}}},
        {"fence", {{"flight_record", {path(&Config::flight_record)}}}},
        {"watchdog",
         {{"enabled", {boolean([](Config& c, bool b) { c.watchdog_enabled = b; })}},
          {"device", {path(&Config::watchdog_device)}},
          {"timeout_s",
           {duration(integer(2, 600,
                             [](Config& c, std::int64_t v) {
                                 c.watchdog_timeout = std::chrono::seconds(v);
                             }),
                     "seconds")}}}},
        {"hooks",
         {{"dir", {path(&Config::hooks_dir, PathKind::kDirectory)}},
          {"timeout_ms", {millis(100, 3600000, &Config::hooks_timeout)}},
          {"max_concurrent",
           {integer(1, 64,
                    [](Config& c, std::int64_t v) {
                        c.hooks_max_concurrent = static_cast<std::uint32_t>(v);
                    })}},
          {"queue_size",
           {integer(0, 10000,
                    [](Config& c, std::int64_t v) {
                        c.hooks_queue_size = static_cast<std::uint32_t>(v);
                    })}},
          {"user", {string([](Config& c, const std::string& s) -> std::expected<void, Error> {
               if (!valid_user_name(s)) {
                   return std::unexpected("\"" + s +
                                          "\" is not a user name (letters, digits, _ and -, "
                                          "not starting with a digit or -, at most 32)");
               }
               c.hooks_user = s;
               return {};
           })}}}},
        {"webhook",
         {{"enabled", {boolean([](Config& c, bool b) { c.webhook_enabled = b; })}},
          {"listen", {string([](Config& c, const std::string& s) -> std::expected<void, Error> {
               auto ep = parse_endpoint(s);
               if (!ep) return std::unexpected(ep.error());
               c.webhook_listen = *ep;
               return {};
           })}},
          {"token_file", {path(&Config::webhook_token_file)}},
          {"max_body_bytes",
           {integer(1024, std::int64_t{16} * 1024 * 1024,
                    [](Config& c, std::int64_t v) {
                        c.webhook_max_body = static_cast<std::uint32_t>(v);
                    })}},
          // Read by webhook_rules(), which names the line of each error.
          {"rule", {no_setter()}}}},
    };
    return kSchema;
}

int line_of(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

std::expected<void, Error> apply(const toml::table& root, Config& cfg) {
    for (auto&& [section_key, section_node] : root) {
        const int section_line = static_cast<int>(section_key.source().begin.line);
        const auto section = schema().find(std::string(section_key.str()));
        if (section == schema().end()) {
            const std::string name(section_key.str());
            return std::unexpected(Error::at(
                {}, section_line,
                section_node.is_table() ? "unknown section [" + name + "]"
                                        : "unknown key \"" + name + "\" outside any section"));
        }
        const auto* table = section_node.as_table();
        if (table == nullptr) {
            return std::unexpected(
                Error::at({}, section_line,
                          "\"" + section->first + "\" must be a table ([" + section->first + "])"));
        }
        for (auto&& [key, value] : *table) {
            const int key_line = static_cast<int>(key.source().begin.line);
            const auto spec = section->second.find(std::string(key.str()));
            if (spec == section->second.end()) {
                std::string known;
                for (const auto& [name, unused] : section->second) {
                    known += (known.empty() ? "" : ", ") + name;
                }
                return std::unexpected(Error::at({}, key_line,
                                                 "unknown key \"" + std::string(key.str()) +
                                                     "\" in [" + section->first +
                                                     "] (known: " + known + ")"));
            }
            if (section->first == "webhook" && spec->first == "rule") {
                if (auto ok = webhook_rules(value, cfg); !ok) return std::unexpected(ok.error());
                continue;
            }
            if (section->first == "cluster" && spec->first == "hosts") {
                if (auto ok = cluster_hosts(value, cfg); !ok) return std::unexpected(ok.error());
                continue;
            }
            if (section->first == "storage" && spec->first == "domains") {
                if (auto ok = storage_domains(value, cfg); !ok) return std::unexpected(ok.error());
                continue;
            }
            if (auto ok = spec->second.set(value, cfg); !ok) {
                return std::unexpected(Error::at(
                    {}, key_line > 0 ? key_line : line_of(value),
                    section->first + "." + std::string(key.str()) + ": " + ok.error().message));
            }
        }
    }
    return {};
}

}  // namespace

std::vector<std::string> known_keys() {
    std::vector<std::string> out;
    for (const auto& [section, keys] : schema()) {
        for (const auto& [key, unused] : keys) out.push_back(concat({section, ".", key}));
    }
    return out;
}

std::string_view name(LogLevel level) {
    switch (level) {
        case LogLevel::kDebug:
            return "debug";
        case LogLevel::kInfo:
            return "info";
        case LogLevel::kWarning:
            return "warning";
        case LogLevel::kError:
            return "error";
    }
    return "?";
}

std::expected<core::IsolationResponse, Error> parse_isolation_response(std::string_view text) {
    for (auto r : {core::IsolationResponse::kStopWhenUplinksDead,
                   core::IsolationResponse::kLeaveRunning, core::IsolationResponse::kAlwaysStop}) {
        if (text == core::name(r)) return r;
    }
    return std::unexpected("unknown isolation response \"" + std::string(text) +
                           "\" (stop-when-uplinks-dead, leave-running, always-stop)");
}

namespace {

// A dotted quad as the listeners bind it: four decimal octets of 0-255, no
// leading zeros (which inet_aton would read as octal). The listeners pack
// the octets without checking them, so 999.1.1.1 would bind 231.1.1.1.
std::optional<std::string> bad_ipv4(std::string_view host) {
    const std::string shown = "\"" + std::string(host) + "\"";
    const bool dotted = !host.empty() && std::ranges::all_of(host, [](char ch) {
        return (ch >= '0' && ch <= '9') || ch == '.';
    });
    if (!dotted) {
        return shown +
               " is not an IP address: give an IPv4 address (127.0.0.1, 0.0.0.0 for all) or "
               "[IPv6]:port; host names are not resolved";
    }
    int octets = 0;
    for (std::size_t at = 0; at <= host.size(); ++octets) {
        const auto dot = std::min(host.find('.', at), host.size());
        const std::string_view octet = host.substr(at, dot - at);
        if (octet.empty() || octet.size() > 3) {
            return shown + " is not an IPv4 address (four numbers 0-255 with dots between)";
        }
        if (octet.size() > 1 && octet.front() == '0') {
            return shown + " is not an IPv4 address: octet \"" + std::string(octet) +
                   "\" has a leading zero (read as octal by some tools)";
        }
        unsigned value = 0;
        std::from_chars(octet.data(), octet.data() + octet.size(), value);
        if (value > 255) {
            return shown + " is not an IPv4 address: octet " + std::to_string(value) +
                   " is larger than 255";
        }
        at = dot + 1;
    }
    if (octets != 4) {
        return shown + " is not an IPv4 address: " + std::to_string(octets) +
               " numbers, not four (write 127.0.0.1, not 127.1)";
    }
    return std::nullopt;
}

}  // namespace

std::expected<Endpoint, Error> parse_endpoint(std::string_view text) {
    // host:port, with [v6]:port for IPv6. Only addresses: a listener binds
    // what is written, so a name would be resolved at each start.
    std::string_view host;
    std::string_view port;
    const bool bracketed = !text.empty() && text.front() == '[';
    if (bracketed) {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::unexpected("expected \"[address]:port\", got \"" + std::string(text) +
                                   "\"");
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) {
            return std::unexpected("expected \"host:port\" (or \"[IPv6]:port\"), got \"" +
                                   std::string(text) + "\"");
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (host.empty()) return std::unexpected("missing host in \"" + std::string(text) + "\"");
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
        return std::unexpected("port must be 1-65535, got \"" + std::string(port) + "\"");
    }
    if (bracketed) {
        const std::string address(host);
        in6_addr parsed{};
        if (inet_pton(AF_INET6, address.c_str(), &parsed) != 1) {
            if (!bad_ipv4(host)) {
                return std::unexpected("\"" + address +
                                       "\" is an IPv4 address: brackets are for IPv6, write " +
                                       address + ":" + std::string(port));
            }
            return std::unexpected("\"" + address +
                                   "\" is not an IPv6 address (zone ids such as %eth0 are "
                                   "not supported)");
        }
    } else if (auto bad = bad_ipv4(host)) {
        return std::unexpected(*bad);
    }
    return Endpoint{std::string(host), static_cast<std::uint16_t>(value)};
}

std::expected<Config, Error> parse(std::string_view text, std::string_view file) {
    Config cfg;
    cfg.source = std::string(file);
    toml::table root;
    try {
        root = toml::parse(text, file);
    } catch (const toml::parse_error& err) {
        return std::unexpected(Error::at(std::string(file),
                                         static_cast<int>(err.source().begin.line),
                                         std::string(err.description())));
    }
    if (auto ok = apply(root, cfg); !ok) {
        return std::unexpected(Error::at(std::string(file), ok.error().line, ok.error().message));
    }
    if (cfg.storage_stall <= cfg.storage_slow) {
        const auto* node = root.at_path("storage.stall_ms").node();
        return std::unexpected(Error::at(std::string(file), node != nullptr ? line_of(*node) : 0,
                                         "storage.stall_ms (" +
                                             std::to_string(cfg.storage_stall.count()) +
                                             ") must be larger than storage.slow_ms (" +
                                             std::to_string(cfg.storage_slow.count()) + ")"));
    }
    // Two listeners on one port: the second cannot bind. 0.0.0.0 and [::]
    // take the port on every address (IPv6's also IPv4's, by default).
    if (cfg.metrics_enabled && cfg.webhook_enabled &&
        cfg.metrics_listen.port == cfg.webhook_listen.port) {
        const auto wildcard = [](const std::string& h) { return h == "0.0.0.0" || h == "::"; };
        const auto& a = cfg.metrics_listen.host;
        const auto& b = cfg.webhook_listen.host;
        if (a == b || wildcard(a) || wildcard(b)) {
            const auto* node = root.at_path("webhook.listen").node();
            if (node == nullptr) node = root.at_path("metrics.listen").node();
            return std::unexpected(
                Error::at(std::string(file), node != nullptr ? line_of(*node) : 0,
                          "webhook.listen and metrics.listen both take port " +
                              std::to_string(cfg.webhook_listen.port) + " (" + b + " and " + a +
                              "): the second listener could not bind; give them different ports"));
        }
    }
    if (!cfg.standalone) {
        // Cluster keys in a standalone file are checked but not required;
        // cluster mode cannot work without these two.
        const auto* enabled = root.at_path("cluster.enabled").node();
        const int line = enabled != nullptr ? line_of(*enabled) : 0;
        if (cfg.cluster_hosts.empty()) {
            return std::unexpected(Error::at(
                std::string(file), line,
                "cluster.enabled = true needs every host of the cluster, this one included, as a "
                "[[cluster.hosts]] table (name, nodeid, slot, memory_mib); there is none"));
        }
        if (cfg.heartbeat_area.empty()) {
            return std::unexpected(Error::at(
                std::string(file), line,
                "cluster.enabled = true needs heartbeat.area, the storage heartbeat area on shared "
                "storage (create it with vigilctl format-heartbeat)"));
        }
        // A drain by migration may send a VM to any other host.
        if (cfg.drain_migrate) {
            for (const auto& h : cfg.cluster_hosts) {
                if (!h.migration_uri.empty()) continue;
                const auto* key = root.at_path("cluster.drain_migrate").node();
                return std::unexpected(Error::at(
                    std::string(file), key != nullptr ? line_of(*key) : line,
                    "cluster.drain_migrate = true needs a migration_uri for every host in "
                    "[[cluster.hosts]] (the libvirt URI its libvirtd is reached at for a live "
                    "migration, such as \"qemu+tls://" +
                        h.name + "/system\"); host \"" + h.name + "\" has none"));
            }
        }
        // A rule naming a host the cluster lacks is a typo: it would never act.
        for (std::size_t i = 0; i < cfg.webhook_rules.size(); ++i) {
            const auto& host = cfg.webhook_rules[i].host;
            if (host.empty() || std::ranges::any_of(cfg.cluster_hosts, [&](const auto& h) {
                    return h.name == host;
                })) {
                continue;
            }
            const auto* rules = root.at_path("webhook.rule").node();
            const auto* arr = rules != nullptr ? rules->as_array() : nullptr;
            const int at = arr != nullptr && i < arr->size() ? line_of(*arr->get(i)) : 0;
            return std::unexpected(Error::at(std::string(file), at,
                                             "webhook.rule.host: \"" + host +
                                                 "\" is not one of cluster.hosts: the rule would "
                                                 "never act"));
        }
        // F9: trouble shorter than the grace is ridden out. A watcher keeps a device
        // failed (or a mount stalled) for its error window after the last error, then
        // for its recovery hold, and sees each end a poll late; the core counts the
        // grace over that state. So one error keeps the trouble up for window + hold +
        // poll, and a burst of length d for d more: unless that sum is shorter than
        // the grace, a single error already counts as storage lost.
        const auto linger = [&](std::string_view section, std::chrono::milliseconds window,
                                std::chrono::milliseconds hold, std::chrono::milliseconds poll,
                                std::string_view poll_key) -> std::optional<Error> {
            const auto sum = window + hold + poll;
            if (sum < cfg.storage_grace) return std::nullopt;
            const auto* node = root.at_path(std::string(section) + ".error_window_ms").node();
            const auto* grace = root.at_path("cluster.storage_grace_ms").node();
            const int at = node != nullptr    ? line_of(*node)
                           : grace != nullptr ? line_of(*grace)
                                              : line;
            return Error::at(
                std::string(file), at,
                std::string(section) + ".error_window_ms (" + std::to_string(window.count()) +
                    ") + " + std::string(section) + ".recovery_hold_ms (" +
                    std::to_string(hold.count()) + ") + " + std::string(poll_key) + " (" +
                    std::to_string(poll.count()) + ") must be shorter than " +
                    "cluster.storage_grace_ms (" + std::to_string(cfg.storage_grace.count()) +
                    "): a single I/O error would keep the storage in trouble for the whole grace "
                    "and count as storage lost; lower the window to less than " +
                    std::to_string((cfg.storage_grace - hold - poll).count()) +
                    " or raise the grace");
        };
        if (auto e = linger("storage", cfg.storage_error_window, cfg.storage_recovery_hold,
                            cfg.probe_poll_interval, "probes.poll_interval_ms")) {
            return std::unexpected(*e);
        }
        if (auto e = linger("nfs", cfg.nfs_error_window, cfg.nfs_recovery_hold,
                            cfg.nfs_poll_interval, "nfs.poll_interval_ms")) {
            return std::unexpected(*e);
        }
    }
    return cfg;
}

std::expected<Config, Error> load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::unexpected(
            Error::at(path.string(), 0, "cannot open: " + std::string(std::strerror(errno))));
    }
    std::ostringstream text;
    text << in.rdbuf();
    constexpr std::size_t kMaxSize = 1 << 20;
    if (text.str().size() > kMaxSize) {
        return std::unexpected(
            Error::at(path.string(), 0, "larger than 1 MiB; not a vigil config"));
    }
    return parse(text.str(), path.string());
}

}  // namespace vigil::config
