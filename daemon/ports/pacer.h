#pragma once

#include "daemon/core/types.h"

namespace vigil::ports {

// The host's heartbeat cadence. Besides the regular heartbeats the driver may
// ask for one early, when a tick then decides what the next regular one would
// only decide later (a silent peer's fence delay runs out, a VM was assigned
// here): the loop submits the slot read at `read_at` and runs the heartbeat a
// read lead later, once, exactly as for a regular one. A newer request replaces
// one not yet begun. Called on the loop; must not call back into the driver.
class Pacer {
  public:
    virtual ~Pacer() = default;
    virtual void beat_early(core::TimePoint read_at) = 0;
};

}  // namespace vigil::ports
