// vigilctl: talks to the running vigild over its root-only control socket.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/adapters/control_protocol.h"
#include "daemon/adapters/control_server.h"
#include "daemon/adapters/heartbeat.h"
#include "daemon/control/text.h"

using nlohmann::json;

int main(int argc, char** argv) {
    CLI::App app{"vigilctl: query and steer the local vigild"};
    app.set_version_flag("--version", std::string("vigilctl ") + VIGIL_VERSION);
    std::string socket = "/run/vigil/vigild.sock";
    bool as_json = false;
    app.add_option("-s,--socket", socket, "vigild's control socket");
    auto* status = app.add_subcommand(
        "status",
        "this host: in cluster mode its state, quorum, peers, HA VMs, watchdog, storage "
        "domains and networks; always its probes, devices, interfaces, NFS mounts, uptime");
    auto* explain = app.add_subcommand(
        "explain",
        "the decisions about a VM or host, newest first, with their reasons and evidence "
        "(without one: the latest decisions overall), and why the last self-fence happened");
    std::string subject;
    explain->add_option("subject", subject, "a VM or host name (as in cluster.hosts)")
        ->type_name("VM|HOST");
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
    if (explain->parsed() && explain->count("subject") > 0) {
        if (auto ok = vigil::adapters::check_subject(subject); !ok) {
            std::fprintf(stderr, "vigilctl: explain: %s\n", ok.error().c_str());
            return 1;
        }
    }
    auto reply = vigil::adapters::control_request(
        socket, vigil::adapters::format_control_request(
                    {.command = command, .subject = explain->parsed() ? subject : ""}));
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
        std::cout << vigil::control::explain_text(parsed[key]);
    } else {
        std::cout << vigil::control::status_text(parsed[key]);
    }
    return 0;
}
