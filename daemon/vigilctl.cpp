// vigilctl: talks to the running vigild over its root-only control socket.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "daemon/adapters/control_protocol.h"
#include "daemon/adapters/control_server.h"
#include "daemon/adapters/heartbeat.h"
#include "daemon/config/duration.h"
#include "daemon/control/events.h"
#include "daemon/control/text.h"
#include "daemon/ports/guarded_main.h"

using nlohmann::json;

namespace {

// `events --follow`: the kept events, then each new one as vigild sends it,
// until vigild goes away (exit 2) or the user interrupts.
int follow_events(const std::string& socket, const std::string& line, bool as_json) {
    int code = 0;
    bool first = true;
    auto ok = vigil::adapters::control_follow(socket, line, [&](const std::string& text) {
        const auto j = json::parse(text, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            std::fprintf(stderr, "vigilctl: vigild sent a line that is not JSON\n");
            code = 2;
            return false;
        }
        if (!j.value("ok", false)) {
            std::fprintf(stderr, "vigilctl: vigild: %s\n",
                         j.value("error", "unknown error").c_str());
            code = 1;
            return false;
        }
        if (first) {
            first = false;
            const auto& list = j["events"].value("list", json::array());
            for (const auto& e : list)
                std::cout << (as_json ? e.dump() + "\n" : vigil::control::event_text(e));
        } else if (j.contains("event")) {
            std::cout << (as_json ? j["event"].dump() + "\n"
                                  : vigil::control::event_text(j["event"]));
        }
        std::cout.flush();
        return true;
    });
    if (!ok) {
        std::fprintf(stderr, "vigilctl: %s\n", ok.error().message.c_str());
        return 2;
    }
    if (code == 0) {
        std::fprintf(stderr, "vigilctl: vigild closed the connection\n");
        return 2;
    }
    return code;
}

int run(int argc, char** argv) {
    CLI::App app{"vigilctl: query and steer the local vigild"};
    app.set_version_flag("--version", std::string("vigilctl ") + VIGIL_VERSION);
    std::string socket = "/run/vigil/vigild.sock";
    bool as_json = false;
    app.add_option("-s,--socket", socket, "vigild's control socket");
    auto* status = app.add_subcommand(
        "status",
        "this host: in cluster mode its state, quorum, peers, HA VMs, watchdog, storage "
        "domains and networks; always maintenance (with its end) and cordon, its probes, "
        "devices, interfaces, NFS mounts, uptime");
    auto* explain = app.add_subcommand(
        "explain",
        "the decisions about a VM or host, newest first, with their reasons and evidence "
        "(without one: the latest decisions overall), and why the last self-fence happened");
    std::string subject;
    explain->add_option("subject", subject, "a VM or host name (as in cluster.hosts)")
        ->type_name("VM|HOST");
    auto* events = app.add_subcommand(
        "events",
        "the recent events, oldest first: the core's decisions, maintenance and cordon "
        "changes with who asked, hook runs (vigild keeps the last " +
            std::to_string(vigil::control::EventLog::kKeep) + ")");
    bool follow = false;
    events->add_flag("-f,--follow", follow, "keep printing new events as they happen");
    auto* maintenance = app.add_subcommand(
        "maintenance",
        "this host in maintenance: no self-fence action, no VMs placed here; with --for it "
        "ends by itself, also across a restart of vigild");
    std::string on_off;
    maintenance->add_option("state", on_off, "on or off")
        ->required()
        ->check(CLI::IsMember({"on", "off"}))
        ->type_name("on|off");
    std::string for_text;
    maintenance
        ->add_option("--for", for_text,
                     "end it by itself after this long: 90s, 15m, 2h, 1h30m, 1d (1 s to 31 d)")
        ->type_name("DURATION");
    auto* cordon = app.add_subcommand(
        "cordon", "this host keeps its VMs and takes no new ones (kept across a restart)");
    auto* drain = app.add_subcommand(
        "drain",
        "hand this host's HA VMs to other hosts, highest priority first, each by a clean stop "
        "here and a start there, then stay cordoned (kept across a restart)");
    auto* uncordon =
        app.add_subcommand("uncordon", "this host takes new VMs again (ends a cordon or a drain)");
    // Each verb that changes this host, with the action it asks vigild for.
    const std::vector<std::pair<CLI::App*, vigil::adapters::AdminAction>> admin_verbs = {
        {cordon, vigil::adapters::AdminAction::kCordon},
        {drain, vigil::adapters::AdminAction::kDrain},
        {uncordon, vigil::adapters::AdminAction::kUncordon}};
    for (auto* sub : {status, explain, events, maintenance, cordon, drain, uncordon})
        sub->add_flag("--json", as_json,
                      sub == events ? "one JSON object per event, one per line"
                                    : "print the daemon's JSON reply");
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

    vigil::adapters::ControlRequest request{.command = vigil::adapters::ControlCommand::kStatus};
    if (explain->parsed()) {
        request.command = vigil::adapters::ControlCommand::kExplain;
        if (explain->count("subject") > 0) {
            if (auto ok = vigil::adapters::check_subject(subject); !ok) {
                std::fprintf(stderr, "vigilctl: explain: %s\n", ok.error().message.c_str());
                return 1;
            }
            request.subject = subject;
        }
    } else if (events->parsed()) {
        request.command = vigil::adapters::ControlCommand::kEvents;
        request.follow = follow;
    } else if (maintenance->parsed()) {
        request.command = vigil::adapters::ControlCommand::kAdmin;
        request.action = on_off == "on" ? vigil::adapters::AdminAction::kMaintenanceOn
                                        : vigil::adapters::AdminAction::kMaintenanceOff;
        if (maintenance->count("--for") > 0) {
            if (on_off != "on") {
                std::fprintf(stderr, "vigilctl: maintenance: --for goes with on, not off\n");
                return 1;
            }
            auto d = vigil::config::parse_duration(for_text, vigil::adapters::kMinMaintenanceFor,
                                                   vigil::adapters::kMaxMaintenanceFor);
            if (!d) {
                std::fprintf(stderr, "vigilctl: maintenance --for: %s\n",
                             d.error().message.c_str());
                return 1;
            }
            request.for_duration = *d;
        }
    }
    for (const auto& [verb, action] : admin_verbs) {
        if (verb->parsed()) {
            request.command = vigil::adapters::ControlCommand::kAdmin;
            request.action = action;
        }
    }
    const std::string line = vigil::adapters::format_control_request(request);
    if (request.follow) return follow_events(socket, line, as_json);
    auto reply = vigil::adapters::control_request(socket, line);
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
    const std::string key = std::string(vigil::adapters::name(request.command));
    if (!parsed.contains(key)) {
        std::fprintf(stderr, "vigilctl: vigild's reply has no \"%s\"\n", key.c_str());
        return 2;
    }
    switch (request.command) {
        case vigil::adapters::ControlCommand::kEvents:
            if (as_json) {
                for (const auto& e : parsed[key].value("list", json::array()))
                    std::cout << e.dump() << "\n";
            } else {
                std::cout << vigil::control::events_text(parsed[key]);
            }
            break;
        case vigil::adapters::ControlCommand::kExplain:
            std::cout << (as_json ? parsed[key].dump(2) + "\n"
                                  : vigil::control::explain_text(parsed[key]));
            break;
        case vigil::adapters::ControlCommand::kAdmin:
            std::cout << (as_json ? parsed[key].dump(2) + "\n"
                                  : vigil::control::admin_text(parsed[key]));
            break;
        case vigil::adapters::ControlCommand::kStatus:
            std::cout << (as_json ? parsed[key].dump(2) + "\n"
                                  : vigil::control::status_text(parsed[key]));
            break;
    }
    return 0;
}

}  // namespace

// Nothing is meant to throw past run(); if something does (out of memory,
// a library's exception), say what it was instead of an abort without a word.
int main(int argc, char** argv) {
    return vigil::guarded_main("vigilctl", [&] { return run(argc, argv); });
}
