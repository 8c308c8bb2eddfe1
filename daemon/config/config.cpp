#include "daemon/config/config.h"

#include <toml++/toml.h>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
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
          {"recovery_hold_ms", {millis(0, 600000, &Config::storage_recovery_hold)}}}},
        {"network",
         {{"down_hold_ms", {millis(0, 600000, &Config::link_down_hold)}},
          {"up_hold_ms", {millis(0, 600000, &Config::link_up_hold)}},
          {"idle_after_ms", {millis(500, 3600000, &Config::link_idle_after)}}}},
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
