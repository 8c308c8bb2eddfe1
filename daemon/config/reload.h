// What a reload (SIGHUP) may change in a running vigild. Settings the running
// parts read afresh (the log level, the mountstats path) or can be told (the
// poll intervals) take effect at once; the others (sockets bound, BPF
// programs loaded, health models built at start with their thresholds, the
// watchdog, which a reload must never arm or disarm, the [hooks] and
// [webhook] settings, built at start with cluster mode, and cluster mode's, proven safe together at
// start) keep their running value and are reported, each by name, as needing a restart.
#pragma once

#include <string>
#include <vector>

#include "daemon/config/config.h"

namespace vigil::config {

struct KeyChange {
    std::string key;  // section.key, as in the file
    std::string from;
    std::string to;
};

struct ReloadPlan {
    // The running configuration with every live change applied and every
    // other setting as it was.
    Config config;
    std::vector<KeyChange> applied;
    std::vector<KeyChange> refused;  // changed in the file, needs a restart
};

// `next` is a file that parsed; a file that did not changes nothing at all.
[[nodiscard]] ReloadPlan plan_reload(const Config& running, const Config& next);

// Every key and whether a reload applies it, for documentation and tests.
struct KeyReload {
    std::string key;
    bool live = false;
};
[[nodiscard]] std::vector<KeyReload> reloadable_keys();

}  // namespace vigil::config
