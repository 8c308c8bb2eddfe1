// Cluster mode's timing chain, checked before anything is armed: the policy the
// decision core counts with, built from the configuration, the timeout the
// watchdog device accepted and what the running corosync says about itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/core/policy.h"
#include "daemon/ports/error.h"

namespace vigil::config {

// What corosync's cmap says about the running cluster (daemon/adapters reads it).
struct CorosyncFacts {
    std::chrono::milliseconds token{0};      // runtime.config.totem.token
    std::chrono::milliseconds consensus{0};  // runtime.config.totem.consensus
    // knet crypto on: totem.crypto_cipher and totem.crypto_hash both set and not "none".
    bool authenticated = false;
    std::string crypto_cipher;
    std::string crypto_hash;
    std::vector<std::pair<std::uint32_t, std::string>> nodes;  // nodelist: nodeid, name
};

// Everything cluster_policy() checks, for `vigild --check-config` to print:
// each check that passed with its numbers, each that could not be made and
// why, and each refusal with its numbers and the key to change. Independent
// refusals are all listed, so one run shows every key to fix.
struct ClusterCheck {
    // Set when nothing is refused and the membership timeout is known: the
    // policy the decision core counts with (vms empty: they come from libvirt).
    std::optional<core::Policy> policy;
    std::vector<std::string> passed;
    // Without corosync: "corosync not running: ..." for what needs it. With
    // cluster.membership_timeout_ms = 0 the chain is then checked with a
    // membership timeout of 0 ms, the least it can be, so what is refused
    // then is unsafe whatever corosync says; `policy` stays unset.
    std::vector<std::string> not_checked;
    std::vector<std::string> refused;

    // One line per entry: "ok: ...", "not checked: ...", "unsafe: ...".
    [[nodiscard]] std::string to_string() const;
};

[[nodiscard]] ClusterCheck check_cluster(const Config& config,
                                         std::chrono::seconds watchdog_timeout,
                                         const std::optional<CorosyncFacts>& corosync);

// The core's policy for this host, or why the configuration is unsafe, with the
// numbers: a fence delay a silent peer's watchdog cannot honour, a heartbeat too
// slow for the watchdog, a membership timeout longer than the configuration
// allows, an unauthenticated corosync without allow_unauthenticated, hosts that do
// not match corosync's nodelist. `corosync` is nullopt when corosync does not
// run (vigild --check-config on a host being set up): the configured
// membership_timeout is then used, or refused if it is 0 ("read from corosync").
// check_cluster() with its refusals one per line, or, when nothing is
// refused but the membership timeout is unknown, that reason.
[[nodiscard]] std::expected<core::Policy, Error> cluster_policy(
    const Config& config, std::chrono::seconds watchdog_timeout,
    const std::optional<CorosyncFacts>& corosync);

}  // namespace vigil::config
