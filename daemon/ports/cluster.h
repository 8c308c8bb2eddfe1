#pragma once

#include "daemon/core/types.h"

namespace vigil::ports {

// Ordered cluster messaging (corosync CPG). Membership and quorum changes and peers'
// messages come back to the engine as evidence through the event loop.
class Cluster {
  public:
    virtual ~Cluster() = default;
    virtual void broadcast_status(const core::HostStatus& status) = 0;
};

}  // namespace vigil::ports
