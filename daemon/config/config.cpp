#include "daemon/config/config.h"

#include <toml++/toml.h>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

namespace vigil::config {
namespace {

struct Failure {
    int line;
    std::string reason;
};

using Setter = std::function<std::expected<void, std::string>(const toml::node&, Config&)>;

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
    return [=](const toml::node& node, Config& cfg) -> std::expected<void, std::string> {
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

Setter millis(std::int64_t min, std::int64_t max, std::chrono::milliseconds Config::*field) {
    return integer(min, max,
                   [field](Config& c, std::int64_t v) { c.*field = std::chrono::milliseconds(v); });
}

Setter string(std::function<std::expected<void, std::string>(Config&, const std::string&)> store) {
    return [=](const toml::node& node, Config& cfg) -> std::expected<void, std::string> {
        const auto* v = node.as_string();
        if (v == nullptr) return std::unexpected("expected a string, got " + type_name(node));
        return store(cfg, v->get());
    };
}

Setter boolean(std::function<void(Config&, bool)> store) {
    return [=](const toml::node& node, Config& cfg) -> std::expected<void, std::string> {
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

// Kept in step with exporters' HostAction (tested there).
bool valid_action(const std::string& s) {
    return s == "drain" || s == "cordon" || s == "uncordon" || s == "maintenance-on" ||
           s == "maintenance-off";
}

int line_of(const toml::node& node);

constexpr const char* kRuleKeys = "alert, labels, action, resolved_action, host, host_label";

// [[webhook.rule]] tables: each key checked, each error on its own line.
std::expected<void, Failure> webhook_rules(const toml::node& node, Config& cfg) {
    const auto* array = node.as_array();
    if (array == nullptr) {
        return std::unexpected(
            Failure{line_of(node), "webhook.rule must be an array of tables ([[webhook.rule]])"});
    }
    for (const auto& item : *array) {
        const auto* table = item.as_table();
        if (table == nullptr) {
            return std::unexpected(Failure{line_of(item), "webhook.rule: expected a table"});
        }
        WebhookRule rule;
        const int rule_line = line_of(item);
        for (auto&& [key, value] : *table) {
            const std::string k(key.str());
            const int line = static_cast<int>(key.source().begin.line);
            auto fail = [&](const std::string& why) -> std::expected<void, Failure> {
                return std::unexpected(Failure{line, "webhook.rule." + k + ": " + why});
            };
            const bool known = k == "alert" || k == "labels" || k == "action" ||
                               k == "resolved_action" || k == "host" || k == "host_label";
            if (!known) return fail(std::string("unknown key (") + kRuleKeys + ")");
            if (k == "labels") {
                const auto* labels = value.as_table();
                if (labels == nullptr) return fail("expected a table of strings");
                for (auto&& [lk, lv] : *labels) {
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
                rule.alert = v;
            } else if (k == "action" || k == "resolved_action") {
                if (!valid_action(v)) {
                    return fail("unknown action \"" + v +
                                "\" (drain, cordon, uncordon, maintenance-on, maintenance-off)");
                }
                (k == "action" ? rule.action : rule.resolved_action) = v;
            } else if (k == "host") {
                rule.host = v;
            } else {
                if (v.empty()) return fail("must not be empty");
                rule.host_label = v;
            }
        }
        if (rule.alert.empty() || rule.action.empty()) {
            return std::unexpected(
                Failure{rule_line, "webhook.rule: needs at least alert and action"});
        }
        cfg.webhook_rules.push_back(std::move(rule));
    }
    return {};
}

std::expected<void, std::string> absolute_path(const std::string& s) {
    if (s.empty() || s.front() != '/') return std::unexpected("must be an absolute path");
    return {};
}

// An array of strings, each checked by `each` (empty: fine).
std::expected<std::vector<std::string>, std::string> strings(
    const toml::node& node,
    const std::function<std::expected<void, std::string>(const std::string&)>& each) {
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
            return std::unexpected("\"" + str->get() + "\": " + ok.error());
        }
        out.push_back(str->get());
    }
    return out;
}

// The evidence map is checked as it grows, so that its first conflict is
// reported at the line that made it.
std::expected<void, std::string> evidence_map_still_valid(const Config& cfg) {
    if (auto map = core::EvidenceMap::make(cfg.evidence_map); !map) {
        return std::unexpected(map.error());
    }
    return {};
}

// `[network] cluster_interfaces` and its two siblings: one network role each.
Setter interfaces(core::NetRole role) {
    return [role](const toml::node& node, Config& cfg) -> std::expected<void, std::string> {
        auto names = strings(
            node, [](const std::string&) -> std::expected<void, std::string> { return {}; });
        if (!names) return std::unexpected(names.error());
        for (auto& name : *names) {
            cfg.evidence_map.interfaces.push_back(
                core::InterfaceConfig{.name = std::move(name), .role = role});
        }
        return evidence_map_still_valid(cfg);
    };
}

constexpr const char* kHostKeys = "name, nodeid, slot, memory_mib";

// [[cluster.hosts]] tables: each key checked, each error on its own line;
// nodeids and slots unique, slots 0 to n-1 (the area has one slot per host).
std::expected<void, Failure> cluster_hosts(const toml::node& node, Config& cfg) {
    const auto* array = node.as_array();
    if (array == nullptr) {
        return std::unexpected(
            Failure{line_of(node), "cluster.hosts must be an array of tables ([[cluster.hosts]])"});
    }
    for (const auto& item : *array) {
        const auto* table = item.as_table();
        const int host_line = line_of(item);
        if (table == nullptr) {
            return std::unexpected(Failure{host_line, "cluster.hosts: expected a table"});
        }
        ClusterHost host;
        bool has_nodeid = false;
        bool has_slot = false;
        for (auto&& [key, value] : *table) {
            const std::string k(key.str());
            const int line = static_cast<int>(key.source().begin.line);
            auto fail = [&](const std::string& why) -> std::expected<void, Failure> {
                return std::unexpected(Failure{line, "cluster.hosts." + k + ": " + why});
            };
            if (k == "name") {
                const auto* str = value.as_string();
                if (str == nullptr) return fail("expected a string, got " + type_name(value));
                if (str->get().empty()) return fail("must not be empty");
                for (const auto& other : cfg.cluster_hosts) {
                    if (other.name == str->get()) {
                        return fail("\"" + str->get() + "\" names two hosts");
                    }
                }
                host.name = str->get();
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
            return std::unexpected(Failure{
                host_line, "cluster.hosts: each host needs name, nodeid, slot and memory_mib"});
        }
        cfg.cluster_hosts.push_back(std::move(host));
    }
    const auto n = cfg.cluster_hosts.size();
    for (const auto& h : cfg.cluster_hosts) {
        if (h.slot >= n) {
            return std::unexpected(
                Failure{line_of(node), "cluster.hosts: host \"" + h.name + "\" has slot " +
                                           std::to_string(h.slot) + ", but " + std::to_string(n) +
                                           " hosts own slots 0 to " + std::to_string(n - 1) +
                                           " (the heartbeat area has one slot per host)"});
        }
    }
    return {};
}

// [storage.domains.<name>] tables: block_devices and nfs_mounts each.
std::expected<void, Failure> storage_domains(const toml::node& node, Config& cfg) {
    const auto* domains = node.as_table();
    if (domains == nullptr) {
        return std::unexpected(Failure{
            line_of(node), "storage.domains must be a table of tables ([storage.domains.NAME])"});
    }
    for (auto&& [name, value] : *domains) {
        const std::string domain_name(name.str());
        const int domain_line = static_cast<int>(name.source().begin.line);
        const auto* table = value.as_table();
        if (table == nullptr) {
            return std::unexpected(Failure{
                domain_line, "storage.domains." + domain_name +
                                 ": expected a table ([storage.domains." + domain_name + "])"});
        }
        core::StorageDomainConfig domain{
            .name = domain_name, .block_devices = {}, .nfs_mounts = {}};
        for (auto&& [key, member] : *table) {
            const std::string k(key.str());
            const int line = static_cast<int>(key.source().begin.line);
            auto fail = [&](const std::string& why) -> std::expected<void, Failure> {
                return std::unexpected(
                    Failure{line, "storage.domains." + domain_name + "." + k + ": " + why});
            };
            if (k != "block_devices" && k != "nfs_mounts") {
                return fail("unknown key (block_devices, nfs_mounts)");
            }
            auto names = strings(
                member, [](const std::string&) -> std::expected<void, std::string> { return {}; });
            if (!names) return fail(names.error());
            (k == "block_devices" ? domain.block_devices : domain.nfs_mounts) = std::move(*names);
        }
        cfg.evidence_map.domains.push_back(std::move(domain));
        if (auto ok = evidence_map_still_valid(cfg); !ok) {
            return std::unexpected(
                Failure{domain_line, "storage.domains." + domain_name + ": " + ok.error()});
        }
    }
    return {};
}

Setter no_setter() {
    return [](const toml::node&, Config&) -> std::expected<void, std::string> { return {}; };
}

// Every key vigild understands, by section. Keep packaging/vigil.toml in step.
const std::map<std::string, std::map<std::string, KeySpec>>& schema() {
    static const std::map<std::string, std::map<std::string, KeySpec>> kSchema = {
        {"log",
         {{"level",
           {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               if (s == "debug")
                   c.log_level = LogLevel::debug;
               else if (s == "info")
                   c.log_level = LogLevel::info;
               else if (s == "warning")
                   c.log_level = LogLevel::warning;
               else if (s == "error")
                   c.log_level = LogLevel::error;
               else
                   return std::unexpected("unknown level \"" + s +
                                          "\" (debug, info, warning, error)");
               return {};
           })}}}},
        {"metrics",
         {{"enabled", {boolean([](Config& c, bool b) { c.metrics_enabled = b; })}},
          {"listen",
           {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               auto ep = parse_endpoint(s);
               if (!ep) return std::unexpected(ep.error());
               c.metrics_listen = *ep;
               return {};
           })}}}},
        {"control",
         {{"socket",
           {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               if (s.empty() || s.front() != '/')
                   return std::unexpected("must be an absolute path");
               if (s.size() >= 108)
                   return std::unexpected("longer than a unix socket path may be (107)");
               c.control_socket = s;
               return {};
           })}}}},
        {"probes",
         {{"poll_interval_ms",
           {integer(50, 5000,
                    [](Config& c, std::int64_t v) {
                        c.probe_poll_interval = std::chrono::milliseconds(v);
                    })}},
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
          {"group",
           {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               // corosync's CPG_MAX_NAME_LENGTH (128) with its terminating zero.
               if (s.empty() || s.size() > 127) {
                   return std::unexpected("must be 1 to 127 bytes, got " +
                                          std::to_string(s.size()));
               }
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
           {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               auto r = parse_isolation_response(s);
               if (!r) return std::unexpected(r.error());
               c.isolation_response = *r;
               return {};
           })}},
          {"storm_guard_share",
           {[](const toml::node& node, Config& c) -> std::expected<void, std::string> {
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
          // Read by cluster_hosts(), which names the line of each error.
          {"hosts", {no_setter()}}}},
        {"heartbeat",
         {{"area", {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               // Empty: none (standalone); cluster mode needs one.
               if (!s.empty()) {
                   if (auto ok = absolute_path(s); !ok) return ok;
               }
               c.heartbeat_area = s;
               return {};
           })}}}},
        {"libvirt",
         {{"uri", {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               if (s.empty() || s.find(':') == std::string::npos) {
                   return std::unexpected("expected a libvirt URI such as \"qemu:///system\"");
               }
               c.libvirt_uri = s;
               return {};
           })}},
          {"start_timeout_ms", {millis(1000, 3600000, &Config::vm_start_timeout)}},
          {"resume_timeout_ms", {millis(1000, 3600000, &Config::vm_resume_timeout)}},
          {"stop_grace_ms", {millis(0, 3600000, &Config::vm_stop_grace)}},
          {"stop_timeout_ms", {millis(1000, 3600000, &Config::vm_stop_timeout)}}}},
        {"nfs",
         {{"mountstats",
           {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               if (s.empty() || s.front() != '/')
                   return std::unexpected("must be an absolute path");
               c.nfs_mountstats = s;
               return {};
           })}},
          {"poll_interval_ms", {millis(100, 60000, &Config::nfs_poll_interval)}},
          {"slow_rtt_ms", {millis(10, 600000, &Config::nfs_slow_rtt)}},
          {"stall_ms", {millis(200, 3600000, &Config::nfs_stall)}},
          {"error_window_ms", {millis(100, 3600000, &Config::nfs_error_window)}},
          {"recovery_hold_ms", {millis(0, 600000, &Config::nfs_recovery_hold)}},
          {"forget_after_ms", {millis(0, 86400000, &Config::nfs_forget_after)}}}},
        {"fence",
         {{"flight_record",
           {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               if (s.empty() || s.front() != '/')
                   return std::unexpected("must be an absolute path");
               c.flight_record = s;
               return {};
           })}}}},
        {"watchdog",
         {{"enabled", {boolean([](Config& c, bool b) { c.watchdog_enabled = b; })}},
          {"device",
           {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               if (s.empty() || s.front() != '/')
                   return std::unexpected("must be an absolute path");
               c.watchdog_device = s;
               return {};
           })}},
          {"timeout_s",
           {integer(
               2, 600,
               [](Config& c, std::int64_t v) { c.watchdog_timeout = std::chrono::seconds(v); })}}}},
        {"hooks",
         {{"dir", {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               if (s.empty() || s.front() != '/')
                   return std::unexpected("must be an absolute path");
               c.hooks_dir = s;
               return {};
           })}},
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
          {"user", {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
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
          {"listen",
           {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               auto ep = parse_endpoint(s);
               if (!ep) return std::unexpected(ep.error());
               c.webhook_listen = *ep;
               return {};
           })}},
          {"token_file",
           {string([](Config& c, const std::string& s) -> std::expected<void, std::string> {
               if (s.empty() || s.front() != '/')
                   return std::unexpected("must be an absolute path");
               c.webhook_token_file = s;
               return {};
           })}},
          {"max_body_bytes",
           {integer(1024, 16 * 1024 * 1024,
                    [](Config& c, std::int64_t v) {
                        c.webhook_max_body = static_cast<std::uint32_t>(v);
                    })}},
          // Read by webhook_rules(), which names the line of each error.
          {"rule", {no_setter()}}}},
    };
    return kSchema;
}

int line_of(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

std::expected<void, Failure> apply(const toml::table& root, Config& cfg) {
    for (auto&& [section_key, section_node] : root) {
        const int section_line = static_cast<int>(section_key.source().begin.line);
        const auto section = schema().find(std::string(section_key.str()));
        if (section == schema().end()) {
            const std::string name(section_key.str());
            return std::unexpected(
                Failure{section_line, section_node.is_table()
                                          ? "unknown section [" + name + "]"
                                          : "unknown key \"" + name + "\" outside any section"});
        }
        const auto* table = section_node.as_table();
        if (table == nullptr) {
            return std::unexpected(
                Failure{section_line,
                        "\"" + section->first + "\" must be a table ([" + section->first + "])"});
        }
        for (auto&& [key, value] : *table) {
            const int key_line = static_cast<int>(key.source().begin.line);
            const auto spec = section->second.find(std::string(key.str()));
            if (spec == section->second.end()) {
                std::string known;
                for (const auto& [name, unused] : section->second) {
                    known += (known.empty() ? "" : ", ") + name;
                }
                return std::unexpected(Failure{key_line, "unknown key \"" + std::string(key.str()) +
                                                             "\" in [" + section->first +
                                                             "] (known: " + known + ")"});
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
                return std::unexpected(
                    Failure{key_line > 0 ? key_line : line_of(value),
                            section->first + "." + std::string(key.str()) + ": " + ok.error()});
            }
        }
    }
    return {};
}

}  // namespace

std::string ConfigError::to_string() const {
    std::ostringstream out;
    out << file;
    if (line > 0) out << ':' << line;
    out << ": " << reason;
    return out.str();
}

std::vector<std::string> known_keys() {
    std::vector<std::string> out;
    for (const auto& [section, keys] : schema()) {
        for (const auto& [key, unused] : keys) out.push_back(section + "." + key);
    }
    return out;
}

const char* to_string(LogLevel level) {
    switch (level) {
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warning:
            return "warning";
        case LogLevel::error:
            return "error";
    }
    return "?";
}

const char* to_string(core::IsolationResponse response) {
    switch (response) {
        case core::IsolationResponse::kLeaveRunning:
            return "leave-running";
        case core::IsolationResponse::kStopWhenUplinksDead:
            return "stop-when-uplinks-dead";
        case core::IsolationResponse::kAlwaysStop:
            return "always-stop";
    }
    return "?";
}

std::expected<core::IsolationResponse, std::string> parse_isolation_response(
    std::string_view text) {
    for (auto r : {core::IsolationResponse::kStopWhenUplinksDead,
                   core::IsolationResponse::kLeaveRunning, core::IsolationResponse::kAlwaysStop}) {
        if (text == to_string(r)) return r;
    }
    return std::unexpected("unknown isolation response \"" + std::string(text) +
                           "\" (stop-when-uplinks-dead, leave-running, always-stop)");
}

std::expected<Endpoint, std::string> parse_endpoint(std::string_view text) {
    // host:port, with [v6]:port for IPv6.
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
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
            return std::unexpected("expected \"host:port\", got \"" + std::string(text) + "\"");
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
    return Endpoint{std::string(host), static_cast<std::uint16_t>(value)};
}

std::expected<Config, ConfigError> parse(std::string_view text, std::string_view file) {
    Config cfg;
    cfg.source = std::string(file);
    toml::table root;
    try {
        root = toml::parse(text, file);
    } catch (const toml::parse_error& err) {
        return std::unexpected(ConfigError{std::string(file),
                                           static_cast<int>(err.source().begin.line),
                                           std::string(err.description())});
    }
    if (auto ok = apply(root, cfg); !ok) {
        return std::unexpected(ConfigError{std::string(file), ok.error().line, ok.error().reason});
    }
    if (cfg.storage_stall <= cfg.storage_slow) {
        const auto* node = root.at_path("storage.stall_ms").node();
        return std::unexpected(ConfigError{std::string(file), node != nullptr ? line_of(*node) : 0,
                                           "storage.stall_ms (" +
                                               std::to_string(cfg.storage_stall.count()) +
                                               ") must be larger than storage.slow_ms (" +
                                               std::to_string(cfg.storage_slow.count()) + ")"});
    }
    if (!cfg.standalone) {
        // Cluster keys in a standalone file are checked but not required;
        // cluster mode cannot work without these two.
        const auto* enabled = root.at_path("cluster.enabled").node();
        const int line = enabled != nullptr ? line_of(*enabled) : 0;
        if (cfg.cluster_hosts.empty()) {
            return std::unexpected(ConfigError{
                std::string(file), line,
                "cluster.enabled = true needs every host of the cluster, this one included, as a "
                "[[cluster.hosts]] table (name, nodeid, slot, memory_mib); there is none"});
        }
        if (cfg.heartbeat_area.empty()) {
            return std::unexpected(ConfigError{
                std::string(file), line,
                "cluster.enabled = true needs heartbeat.area, the storage heartbeat area on shared "
                "storage (create it with vigilctl format-heartbeat)"});
        }
        // F9: trouble shorter than the grace is ridden out. A watcher keeps a device
        // failed (or a mount stalled) for its error window after the last error, then
        // for its recovery hold, and sees each end a poll late; the core counts the
        // grace over that state. So one error keeps the trouble up for window + hold +
        // poll, and a burst of length d for d more: unless that sum is shorter than
        // the grace, a single error already counts as storage lost.
        const auto linger = [&](std::string_view section, std::chrono::milliseconds window,
                                std::chrono::milliseconds hold, std::chrono::milliseconds poll,
                                std::string_view poll_key) -> std::optional<ConfigError> {
            const auto sum = window + hold + poll;
            if (sum < cfg.storage_grace) return std::nullopt;
            const auto* node = root.at_path(std::string(section) + ".error_window_ms").node();
            const auto* grace = root.at_path("cluster.storage_grace_ms").node();
            const int at = node != nullptr    ? line_of(*node)
                           : grace != nullptr ? line_of(*grace)
                                              : line;
            return ConfigError{
                std::string(file), at,
                std::string(section) + ".error_window_ms (" + std::to_string(window.count()) +
                    ") + " + std::string(section) + ".recovery_hold_ms (" +
                    std::to_string(hold.count()) + ") + " + std::string(poll_key) + " (" +
                    std::to_string(poll.count()) + ") must be shorter than " +
                    "cluster.storage_grace_ms (" + std::to_string(cfg.storage_grace.count()) +
                    "): a single I/O error would keep the storage in trouble for the whole grace "
                    "and count as storage lost; lower the window to less than " +
                    std::to_string((cfg.storage_grace - hold - poll).count()) +
                    " or raise the grace"};
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

std::expected<Config, ConfigError> load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::unexpected(
            ConfigError{path.string(), 0, "cannot open: " + std::string(std::strerror(errno))});
    }
    std::ostringstream text;
    text << in.rdbuf();
    constexpr std::size_t kMaxSize = 1 << 20;
    if (text.str().size() > kMaxSize) {
        return std::unexpected(
            ConfigError{path.string(), 0, "larger than 1 MiB; not a vigil config"});
    }
    return parse(text.str(), path.string());
}

}  // namespace vigil::config
