#pragma once

#include "daemon/core/types.h"

namespace vigil::ports {

// Ordered cluster messaging (corosync CPG) and membership (votequorum). Broadcast
// only queues: the message comes back, in agreed order, to every member of the
// configuration, the sender included, as core::PeerMessageEvidence; membership and
// quorum changes come as core::MembershipEvidence. A full send queue drops the
// status (the next heartbeat sends a newer one).
class Cluster {
  public:
    virtual ~Cluster() = default;
    virtual void broadcast(const core::HostStatus& status) = 0;
};

}  // namespace vigil::ports
