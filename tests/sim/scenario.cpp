#include "tests/sim/scenario.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace vigil::sim {
namespace {

std::expected<std::string, std::string> slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    if (!in) return std::unexpected("cannot read " + p.string());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::expected<std::uint64_t, std::string> parse_number(std::string_view s) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size())
        return std::unexpected("not a number: " + std::string(s));
    return v;
}

template <class F>
std::expected<void, std::string> each_line(std::string_view text, F&& f) {
    int no = 0;
    std::istringstream in{std::string(text)};
    std::string line;
    while (std::getline(in, line)) {
        ++no;
        if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
        auto words = split_words(line);
        if (words.empty()) continue;
        auto r = f(no, words, line);
        if (!r) return std::unexpected("line " + std::to_string(no) + ": " + r.error());
    }
    return {};
}

}  // namespace

std::vector<std::string> split_words(std::string_view line) {
    std::vector<std::string> out;
    std::istringstream in{std::string(line)};
    std::string w;
    while (in >> w) out.push_back(w);
    return out;
}

std::expected<Duration, std::string> parse_duration(std::string_view text) {
    std::string t{text};
    double scale = 1.0;
    if (t.ends_with("ms")) {
        scale = 1e-3;
        t.resize(t.size() - 2);
    } else if (t.ends_with("s")) {
        t.resize(t.size() - 1);
    }
    try {
        std::size_t used = 0;
        const double v = std::stod(t, &used);
        if (used != t.size()) throw std::invalid_argument(t);
        return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(v * scale) +
                                                    std::chrono::duration<double>(0.5e-9));
    } catch (const std::exception&) {
        return std::unexpected("not a duration: " + std::string(text));
    }
}

std::expected<std::uint32_t, std::string> parse_host(std::string_view text) {
    if (text.size() < 2 || text[0] != 'h')
        return std::unexpected("not a host name (h<id>): " + std::string(text));
    auto n = parse_number(text.substr(1));
    if (!n || *n == 0 || *n > 1000)
        return std::unexpected("not a host name (h<id>): " + std::string(text));
    return static_cast<std::uint32_t>(*n);
}

std::expected<void, std::string> parse_cluster(std::string_view text, Scenario& s) {
    return each_line(
        text,
        [&](int, const std::vector<std::string>& w,
            const std::string&) -> std::expected<void, std::string> {
            auto& p = s.policy;
            if (w[0] == "policy" && w.size() == 3) {
                const auto& key = w[1];
                const auto& val = w[2];
                if (key == "isolation_response") {
                    if (val == "leave-running")
                        p.isolation_response = core::IsolationResponse::kLeaveRunning;
                    else if (val == "stop-when-uplinks-dead")
                        p.isolation_response = core::IsolationResponse::kStopWhenUplinksDead;
                    else if (val == "always-stop")
                        p.isolation_response = core::IsolationResponse::kAlwaysStop;
                    else
                        return std::unexpected("unknown isolation response " + val);
                    return {};
                }
                if (key == "fence_agents") {
                    if (val != "yes" && val != "no")
                        return std::unexpected("fence_agents is yes or no");
                    p.fence_agents = val == "yes";
                    return {};
                }
                if (key == "drain_migrate") {
                    if (val != "yes" && val != "no")
                        return std::unexpected("drain_migrate is yes or no");
                    p.drain_migrate = val == "yes";
                    return {};
                }
                if (key == "drain_parallel") {
                    auto n = parse_number(val);
                    if (!n) return std::unexpected(n.error());
                    p.drain_parallel = static_cast<std::size_t>(*n);
                    return {};
                }
                if (key == "storm_guard_share") {
                    p.storm_guard_share = std::stod(val);
                    return {};
                }
                auto d = parse_duration(val);
                if (!d) return std::unexpected(d.error());
                if (key == "heartbeat_interval")
                    p.heartbeat_interval = *d;
                else if (key == "watchdog_timeout")
                    p.watchdog_timeout = *d;
                else if (key == "fence_delay")
                    p.fence_delay = *d;
                else if (key == "membership_timeout")
                    p.membership_timeout = *d;
                else if (key == "storage_grace")
                    p.storage_grace = *d;
                else if (key == "link_grace")
                    p.link_grace = *d;
                else
                    return std::unexpected("unknown policy " + key);
                return {};
            }
            if (w[0] == "host" && w.size() == 4 && w[2] == "memory") {
                auto id = parse_host(w[1]);
                auto mem = parse_number(w[3]);
                if (!id) return std::unexpected(id.error());
                if (!mem) return std::unexpected(mem.error());
                p.hosts.push_back({core::HostId{*id}, *mem});
                return {};
            }
            if (w[0] == "vm" && w.size() >= 2) {
                core::VmPolicy v{.name = w[1]};
                for (std::size_t i = 2; i + 1 < w.size(); i += 2) {
                    const auto& key = w[i];
                    const auto& val = w[i + 1];
                    if (key == "on") {
                        auto id = parse_host(val);
                        if (!id) return std::unexpected(id.error());
                        s.placement.push_back({v.name, *id});
                    } else if (key == "memory") {
                        auto m = parse_number(val);
                        if (!m) return std::unexpected(m.error());
                        v.memory_mib = *m;
                    } else if (key == "priority") {
                        auto m = parse_number(val);
                        if (!m) return std::unexpected(m.error());
                        v.priority = static_cast<std::uint32_t>(*m);
                    } else if (key == "io-error") {
                        if (val == "auto-resume")
                            v.io_error = core::IoErrorPolicy::kAutoResume;
                        else if (val == "leave-paused")
                            v.io_error = core::IoErrorPolicy::kLeavePaused;
                        else if (val == "recover-elsewhere")
                            v.io_error = core::IoErrorPolicy::kRecoverElsewhere;
                        else
                            return std::unexpected("unknown io-error policy " + val);
                    } else if (key == "domain") {
                        v.storage_domain = val;
                    } else {
                        return std::unexpected("unknown vm attribute " + key);
                    }
                }
                if (w.size() % 2 != 0) return std::unexpected("vm attributes come in pairs");
                p.vms.push_back(std::move(v));
                return {};
            }
            if (w[0] == "domain" && w.size() == 2) {
                if (std::ranges::find(s.domains, w[1]) == s.domains.end())
                    s.domains.push_back(w[1]);
                return {};
            }
            if (w[0] == "sim" && w.size() == 3 && w[1] == "broken") {
                if (w[2] == "in-flight-counter")
                    s.broken_in_flight_counter = true;
                else if (w[2] == "stops-petting-in-outage")
                    s.broken_stops_petting_in_outage = true;
                else if (w[2] == "restarted-daemon-never-pets")
                    s.broken_restarted_daemon_never_pets = true;
                else if (w[2] == "thawed-daemon-never-pets")
                    s.broken_thawed_daemon_never_pets = true;
                else
                    return std::unexpected("unknown sabotage " + w[2]);
                return {};
            }
            if (w[0] == "sim" && w.size() >= 2 && w[1] == "storage_watcher") {
                if (w.size() != 5)
                    return std::unexpected(
                        "sim storage_watcher <error_window> <recovery_hold> <stall>");
                const auto window = parse_duration(w[2]);
                const auto hold = parse_duration(w[3]);
                const auto stall = parse_duration(w[4]);
                if (!window) return std::unexpected(window.error());
                if (!hold) return std::unexpected(hold.error());
                if (!stall) return std::unexpected(stall.error());
                s.storage_watcher = core::StorageThresholds{
                    .slow = *stall / 2, .stall = *stall, .error_window = *window, .hold = *hold};
                return {};
            }
            if (w[0] == "sim" && w.size() == 3) {
                auto d = parse_duration(w[2]);
                if (!d) return std::unexpected(d.error());
                if (w[1] == "duration")
                    s.duration = *d;
                else if (w[1] == "membership_delay")
                    s.membership_delay = *d;
                else if (w[1] == "boot_time")
                    s.boot_time = *d;
                else if (w[1] == "restart_delay")
                    s.restart_delay = *d;
                else if (w[1] == "start_time")
                    s.start_time = *d;
                else if (w[1] == "stop_grace")
                    s.stop_grace = *d;
                else if (w[1] == "watchdog_accepts")
                    s.watchdog_accepts = *d;
                else if (w[1] == "bmc_time")
                    s.bmc_time = *d;
                else if (w[1] == "migrate_time")
                    s.migrate_time = *d;

                else
                    return std::unexpected("unknown sim setting " + w[1]);
                return {};
            }
            return std::unexpected("cannot parse: " + w[0]);
        });
}

std::expected<void, std::string> parse_timeline(std::string_view text, Scenario& s) {
    auto r = each_line(text,
                       [&](int, const std::vector<std::string>& w,
                           const std::string&) -> std::expected<void, std::string> {
                           if (w.size() < 2)
                               return std::unexpected("an event is <seconds> <verb> [args]");
                           auto at = parse_duration(w[0]);
                           if (!at) return std::unexpected(at.error());
                           Event e{.at = *at, .words = {w.begin() + 1, w.end()}};
                           for (std::size_t i = 1; i < w.size(); ++i)
                               e.text += (i > 1 ? " " : "") + w[i];
                           s.timeline.push_back(std::move(e));
                           return {};
                       });
    std::ranges::stable_sort(s.timeline, {}, &Event::at);
    return r;
}

std::expected<void, std::string> parse_checks(std::string_view text, Scenario& s) {
    return each_line(text,
                     [&](int no, const std::vector<std::string>& w,
                         const std::string& line) -> std::expected<void, std::string> {
                         s.checks.push_back({.words = w, .text = line, .line = no});
                         return {};
                     });
}

std::expected<Scenario, std::string> load_scenario(const std::filesystem::path& dir) {
    Scenario s;
    s.name = dir.filename().string();
    for (const char* f : {"README.md", "cluster.txt", "timeline.txt", "checks.txt"}) {
        if (!std::filesystem::exists(dir / f)) return std::unexpected(s.name + ": missing " + f);
    }
    auto cluster = slurp(dir / "cluster.txt");
    if (!cluster) return std::unexpected(cluster.error());
    if (auto r = parse_cluster(*cluster, s); !r)
        return std::unexpected(s.name + "/cluster.txt " + r.error());
    auto timeline = slurp(dir / "timeline.txt");
    if (!timeline) return std::unexpected(timeline.error());
    if (auto r = parse_timeline(*timeline, s); !r)
        return std::unexpected(s.name + "/timeline.txt " + r.error());
    auto checks = slurp(dir / "checks.txt");
    if (!checks) return std::unexpected(checks.error());
    if (auto r = parse_checks(*checks, s); !r)
        return std::unexpected(s.name + "/checks.txt " + r.error());
    if (s.checks.empty()) return std::unexpected(s.name + ": checks.txt asserts nothing");
    if (auto v = s.policy.validate(); !v)
        return std::unexpected(s.name + ": policy: " + v.error().message);
    return s;
}

}  // namespace vigil::sim
