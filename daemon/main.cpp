// vigild: wires configuration and the daemon together; nothing else.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>

#include "daemon/adapters/corosync_cmap.h"
#include "daemon/config/cluster.h"
#include "daemon/config/config.h"
#include "daemon/daemon.h"
#include "daemon/ports/guarded_main.h"

namespace {

int run(int argc, char** argv) {
    CLI::App app{"vigild: high-availability agent for KVM/libvirt hosts"};
    std::string config_path;
    bool check_only = false;
    app.add_option("-c,--config", config_path,
                   "configuration file (default: /etc/vigil/vigil.toml if it exists, else "
                   "standalone mode)");
    app.add_flag("--check-config", check_only, "check the configuration and exit");
    app.set_version_flag("--version", std::string("vigild ") + vigil::kVersion);
    CLI11_PARSE(app, argc, argv);

    vigil::config::Config config;
    std::string origin;
    const bool explicit_path = !config_path.empty();
    if (!explicit_path) config_path = std::string(vigil::config::kDefaultConfigPath);
    std::error_code ec;
    if (explicit_path || std::filesystem::exists(config_path, ec)) {
        auto loaded = vigil::config::load(config_path);
        if (!loaded) {
            std::fprintf(stderr, "vigild: bad configuration: %s\n", loaded.error().text().c_str());
            return 1;
        }
        config = std::move(*loaded);
        origin = config_path;
    } else {
        origin = "no " + config_path + ": standalone defaults";
    }

    if (check_only) {
        if (config.standalone) {
            std::printf("%s: OK (standalone mode)\n", origin.c_str());
            return 0;
        }
        // Cluster mode: the timing chain against the configured watchdog
        // timeout and, when it answers, the running corosync.
        std::optional<vigil::config::CorosyncFacts> corosync;
        std::string corosync_line;
        if (auto facts = vigil::adapters::read_corosync_facts(); facts) {
            corosync = std::move(*facts);
        } else {
            corosync_line = "  corosync: " + facts.error().message + "\n";
        }
        const auto check = vigil::config::check_cluster(config, config.watchdog_timeout, corosync);
        std::string lines;
        std::istringstream in(check.to_string());
        for (std::string line; std::getline(in, line);) lines += "  " + line + "\n";
        const std::string mode =
            "cluster mode, " + std::to_string(config.cluster_hosts.size()) +
            " hosts, watchdog.timeout_s = " + std::to_string(config.watchdog_timeout.count());
        if (!check.refused.empty()) {
            std::fprintf(stderr, "vigild: bad configuration: %s: unsafe (%s):\n%s%s",
                         origin.c_str(), mode.c_str(), corosync_line.c_str(), lines.c_str());
            return 1;
        }
        std::printf("%s: OK (%s)\n%s%s", origin.c_str(), mode.c_str(), corosync_line.c_str(),
                    lines.c_str());
        return 0;
    }

    auto daemon = vigil::Daemon::make(std::move(config));
    if (!daemon) {
        std::fprintf(stderr, "vigild: cannot start: %s\n", daemon.error().message.c_str());
        return 1;
    }
    return (*daemon)->run();
}

}  // namespace

// Nothing is meant to throw past run(); if something does (out of memory,
// a library's exception), say what it was instead of an abort without a word.
int main(int argc, char** argv) {
    return vigil::guarded_main("vigild", [&] { return run(argc, argv); });
}
