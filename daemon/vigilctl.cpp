// vigilctl: talks to the running vigild over its root-only control socket.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/adapters/control_protocol.h"
#include "daemon/adapters/control_server.h"
#include "daemon/adapters/heartbeat.h"

namespace {

using nlohmann::json;

std::string format_duration(double seconds) {
    const auto s = static_cast<long long>(seconds);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%lldd %02lld:%02lld:%02lld", s / 86400, s / 3600 % 24,
                  s / 60 % 60, s % 60);
    return buf;
}

std::string text_of(const json& j) {
    if (j.is_null()) return "-";
    if (j.is_string()) return j.get<std::string>();
    if (j.is_object() && j.contains("name")) return j["name"].get<std::string>();
    return j.dump();
}

std::string ago_of(const json& j) {
    return j.is_number() ? format_duration(j.get<double>()) + " ago" : "never";
}

// The cluster section, as a first version: this host, its peers, its HA VMs
// and the watchdog. The JSON (`vigilctl status --json`) has everything.
void print_cluster(const json& c) {
    const auto& h = c["host"];
    std::printf(
        "host %s (nodeid %s, slot %s): %s, %s, coordinator %s\n", text_of(h["name"]).c_str(),
        text_of(h["id"]).c_str(), text_of(h["slot_index"]).c_str(), text_of(h["state"]).c_str(),
        h.value("quorate", false) ? "quorate" : "NOT quorate", text_of(h["coordinator"]).c_str());
    if (!h.value("waiting_for", std::string()).empty()) {
        std::printf("  waiting for %s\n", h.value("waiting_for", std::string()).c_str());
    }
    const auto& hb = c["heartbeat"];
    std::printf("  heartbeat %s, pet: %s (%s), last pet %s\n", text_of(hb["count"]).c_str(),
                hb.value("pet", false) ? "yes" : "NO", text_of(hb["pet_reason"]).c_str(),
                ago_of(hb["last_pet_seconds_ago"]).c_str());
    std::printf("peers:\n");
    for (const auto& p : c.value("peers", json::array())) {
        std::printf(
            "  %-12s %-9s %-26s last sign of life %s, slot %s says %s\n",
            text_of(p["name"]).c_str(), text_of(p["class"]).c_str(), text_of(p["reason"]).c_str(),
            ago_of(p["last_sign_of_life_seconds_ago"]).c_str(), text_of(p["slot_index"]).c_str(),
            p["status"].is_null() ? "nothing yet" : text_of(p["status"]["state"]).c_str());
    }
    std::printf("HA VMs:\n");
    for (const auto& v : c.value("vms", json::array())) {
        std::printf("  %-20s here: %-16s owner: %-10s priority %s\n", text_of(v["name"]).c_str(),
                    text_of(v["state_here"]).c_str(), text_of(v["owner"]).c_str(),
                    v["policy"].is_null() ? "-" : text_of(v["policy"]["priority"]).c_str());
    }
    const auto& w = c["watchdog"];
    if (!w.is_null()) {
        std::printf(
            "watchdog: %s, timeout %s s, last pet %s, time left %s s\n",
            w.value("armed", false) ? "armed" : "not armed", text_of(w["timeout_seconds"]).c_str(),
            w["since_last_pet_seconds"].is_number()
                ? (format_duration(w["since_last_pet_seconds"].get<double>()) + " ago").c_str()
                : "never",
            text_of(w["time_left_seconds"]).c_str());
    }
    std::printf("\n");
}

void print_status(const json& st) {
    std::printf("vigild %s, %s mode, up %s\n", st.value("version", "?").c_str(),
                st.value("mode", "?").c_str(),
                format_duration(st.value("uptime_seconds", 0.0)).c_str());
    const std::string config = st.value("config", "");
    std::printf("config: %s\n\n", config.empty() ? "(built-in defaults)" : config.c_str());
    if (st.contains("cluster")) print_cluster(st["cluster"]);
    std::printf("probes:\n");
    for (const auto& p : st.value("probes", json::array())) {
        const std::string state = p.value("state", "?");
        std::printf("  %-22s %-12s %s", p.value("name", "?").c_str(), state.c_str(),
                    p.value("hook", "").c_str());
        if (state != "attached")
            std::printf("\n  %-22s %-12s why: %s", "", "", p.value("reason", "").c_str());
        std::printf("\n");
    }
    std::printf("\nblock devices:\n");
    const auto devices = st.value("block_devices", json::array());
    if (devices.empty()) std::printf("  none seen yet\n");
    for (const auto& d : devices) {
        std::printf("  %-12s %-9s in flight %u, oldest %lld ms\n", d.value("device", "?").c_str(),
                    d.value("state", "?").c_str(), d.value("in_flight", 0U),
                    static_cast<long long>(d.value("oldest_in_flight_ms", 0LL)));
        for (const auto& e : d.value("io_errors", json::array())) {
            std::printf("  %-12s   I/O errors: %s %s x%llu\n", "", e.value("op", "?").c_str(),
                        e.value("error", "?").c_str(),
                        static_cast<unsigned long long>(e.value("count", 0ULL)));
        }
        const json writeback = d.value("writeback_errors", json::object());
        for (const auto& [error, count] : writeback.items()) {
            std::printf("  %-12s   writeback errors: %s x%llu\n", "", error.c_str(),
                        static_cast<unsigned long long>(count.get<std::uint64_t>()));
        }
    }
    std::printf("\ninterfaces:\n");
    const auto interfaces = st.value("interfaces", json::array());
    if (interfaces.empty()) std::printf("  none\n");
    for (const auto& i : interfaces) {
        std::printf("  %-12s %-5s for %.0f s, carrier %s, operstate %s\n",
                    i.value("interface", "?").c_str(), i.value("state", "?").c_str(),
                    i.value("for_seconds", 0.0), i.value("carrier", false) ? "on" : "off",
                    i.value("operstate", "?").c_str());
    }
    // Hosts without NFS get no section at all.
    const auto nfs = st.value("nfs_mounts", json::array());
    const std::string nfs_error = st.value("nfs_mountstats_error", "");
    if (nfs.empty() && nfs_error.empty()) return;
    std::printf("\nNFS mounts:\n");
    if (!nfs_error.empty()) std::printf("  mountstats unreadable: %s\n", nfs_error.c_str());
    for (const auto& m : nfs) {
        std::printf("  %-24s %-8s for %.0f s, %s\n", m.value("mount", "?").c_str(),
                    m.value("state", "?").c_str(), m.value("for_seconds", 0.0),
                    m.value("device", "?").c_str());
        std::printf(
            "  %-24s   ops %llu, retransmissions %llu, major timeouts %llu, "
            "unanswered %llu",
            "", static_cast<unsigned long long>(m.value("operations", 0ULL)),
            static_cast<unsigned long long>(m.value("retransmissions", 0ULL)),
            static_cast<unsigned long long>(m.value("major_timeouts", 0ULL)),
            static_cast<unsigned long long>(m.value("unanswered", 0ULL)));
        if (m.contains("mean_rtt_ms"))
            std::printf(", mean RTT %.1f ms", m.value("mean_rtt_ms", 0.0));
        std::printf("\n");
    }
}

void print_explain(const json& ex) {
    const auto previous = ex.value("previous_self_fence", json());
    const std::string error = ex.value("flight_record_error", "");
    if (!error.empty()) {
        std::printf("the flight record %s is damaged: %s\n", ex.value("flight_record", "?").c_str(),
                    error.c_str());
    }
    if (previous.is_null()) {
        std::printf("no self-fence recorded in %s\n", ex.value("flight_record", "?").c_str());
        return;
    }
    std::printf("last self-fence%s: %s\n",
                previous.value("earlier_boot", false) ? " (ended the previous boot)" : "",
                previous.value("decision", "?").c_str());
    std::printf("evidence before it, oldest first:\n");
    for (const auto& e : previous.value("evidence", json::array())) {
        std::printf("  %s\n", e.get<std::string>().c_str());
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"vigilctl: query and steer the local vigild"};
    app.set_version_flag("--version", std::string("vigilctl ") + VIGIL_VERSION);
    std::string socket = "/run/vigil/vigild.sock";
    bool as_json = false;
    app.add_option("-s,--socket", socket, "vigild's control socket");
    auto* status =
        app.add_subcommand("status", "this host's probes, devices, interfaces, NFS mounts, uptime");
    auto* explain = app.add_subcommand("explain", "why the last self-fence happened");
    for (auto* sub : {status, explain})
        sub->add_flag("--json", as_json, "print the daemon's JSON reply");
    // A setup step that needs no vigild: run once, before the first vigild
    // of the cluster uses the area (heartbeat.area in vigil.toml).
    auto* format = app.add_subcommand(
        "format-heartbeat",
        "create the storage heartbeat area (once, on one host, before any vigild uses it)");
    std::string area;
    std::uint32_t slots = 0;
    bool force = false;
    format
        ->add_option("--area", area,
                     "the area: a file (created) or a block device on the shared storage, as "
                     "heartbeat.area names it")
        ->required()
        ->type_name("PATH");
    format
        ->add_option("--slots", slots,
                     "one slot per host of the cluster (cluster.hosts), at most " +
                         std::to_string(vigil::adapters::kMaxHeartbeatSlots))
        ->required()
        ->type_name("N");  // format_heartbeat_area() refuses 0 and too many, with the range
    format->add_flag("--force", force,
                     "wipe an area that holds data (refused without it: every host's heartbeat "
                     "in it would be lost)");
    app.require_subcommand(1);
    CLI11_PARSE(app, argc, argv);

    if (format->parsed()) {
        if (auto ok = vigil::adapters::format_heartbeat_area(area, slots, force); !ok) {
            std::fprintf(stderr, "vigilctl: format-heartbeat: %s\n", ok.error().message.c_str());
            return 1;
        }
        std::printf("%s: heartbeat area of %u slots (%llu bytes), all empty\n", area.c_str(), slots,
                    static_cast<unsigned long long>(vigil::adapters::area_bytes(slots)));
        return 0;
    }

    const auto command = explain->parsed() ? vigil::adapters::ControlCommand::explain
                                           : vigil::adapters::ControlCommand::status;
    auto reply =
        vigil::adapters::control_request(socket, vigil::adapters::format_control_request(command));
    if (!reply) {
        std::fprintf(stderr, "vigilctl: %s\n", reply.error().message.c_str());
        return 2;
    }
    const auto parsed = json::parse(*reply, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        std::fprintf(stderr, "vigilctl: vigild sent a reply that is not JSON\n");
        return 2;
    }
    if (!parsed.value("ok", false)) {
        std::fprintf(stderr, "vigilctl: vigild: %s\n",
                     parsed.value("error", "unknown error").c_str());
        return 1;
    }
    const std::string key = vigil::adapters::to_string(command);
    if (!parsed.contains(key)) {
        std::fprintf(stderr, "vigilctl: vigild's reply has no \"%s\"\n", key.c_str());
        return 2;
    }
    if (as_json) {
        std::cout << parsed[key].dump(2) << "\n";
    } else if (command == vigil::adapters::ControlCommand::explain) {
        print_explain(parsed[key]);
    } else {
        print_status(parsed[key]);
    }
    return 0;
}
