#pragma once

#include "daemon/core/types.h"

namespace vigil::ports {

// The storage heartbeat area on shared storage: one slot per host. I/O to shared
// storage can hang for as long as the storage does, so both calls only submit:
// each result comes back later as core::SlotWriteEvidence / core::SlotReadEvidence
// (the write's latency counted from `now`, when it was asked for). At most one
// operation of each kind is in flight and one waits; a newer write replaces the one
// that waits (latest status wins), so a stalled store never queues without bound.
class HeartbeatStore {
  public:
    virtual ~HeartbeatStore() = default;
    virtual void submit_write(const core::HostStatus& status, core::TimePoint now) = 0;
    virtual void submit_read(core::TimePoint now) = 0;
};

}  // namespace vigil::ports
