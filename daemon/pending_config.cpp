// Stands in for config::cluster_policy() until the configuration branch that
// implements it is merged; delete this file then. Cluster mode refuses to
// start with this message, so nothing runs on an unchecked timing chain.
#include "daemon/config/cluster.h"

namespace vigil::config {

std::expected<core::Policy, std::string> cluster_policy(const Config&, std::chrono::seconds,
                                                        const std::optional<CorosyncFacts>&) {
    return std::unexpected(
        std::string("this build has no timing check for cluster mode (config::cluster_policy)"));
}

}  // namespace vigil::config
