// What the running corosync says about itself, read from its configuration
// map (cmap): the runtime token and consensus timeouts, whether knet crypto
// authenticates cluster traffic, and the nodelist. config::cluster_policy()
// checks the configuration against it.
#pragma once

#include <expected>

#include "daemon/config/cluster.h"
#include "daemon/ports/error.h"

namespace vigil::adapters {

// Connects to the local corosync's cmap, reads
//   runtime.config.totem.token, runtime.config.totem.consensus (required),
//   totem.crypto_cipher, totem.crypto_hash (absent: empty, not authenticated),
//   nodelist.node.N.nodeid (required for each node) and .name, or
//   .ring0_addr when the node has no name,
// and disconnects. Synchronous (a few IPC round trips to corosync): call it
// at start or from --check-config, not from the loop. An error names what
// failed with corosync's error text; a corosync that is not running gives
// "cannot connect to corosync's cmap (is corosync running?): ...".
[[nodiscard]] std::expected<config::CorosyncFacts, Error> read_corosync_facts();

}  // namespace vigil::adapters
