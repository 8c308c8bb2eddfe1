// vigild: wires configuration and the daemon together; nothing else.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>

#include "daemon/config/config.h"
#include "daemon/daemon.h"

int main(int argc, char** argv) {
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
            std::fprintf(stderr, "vigild: bad configuration: %s\n",
                         loaded.error().to_string().c_str());
            return 1;
        }
        config = std::move(*loaded);
        origin = config_path;
    } else {
        origin = "no " + config_path + ": standalone defaults";
    }

    if (check_only) {
        std::printf("%s: OK (%s mode)\n", origin.c_str(),
                    config.standalone ? "standalone" : "cluster");
        return 0;
    }

    auto daemon = vigil::Daemon::make(std::move(config));
    if (!daemon) {
        std::fprintf(stderr, "vigild: cannot start: %s\n", daemon.error().message.c_str());
        return 1;
    }
    return (*daemon)->run();
}
