#pragma once

#include <expected>
#include <string>
#include <vector>

#include "daemon/core/types.h"

namespace vigil::ports {

// The storage heartbeat area on shared storage: one slot per host.
class HeartbeatStore {
  public:
    virtual ~HeartbeatStore() = default;
    // Returns how long the write took, or why it failed.
    [[nodiscard]] virtual std::expected<core::Duration, std::string> write_slot(
        const core::HostStatus& status) = 0;
    // Every readable slot; a corrupt slot is left out (and counted by the adapter).
    [[nodiscard]] virtual std::expected<std::vector<core::HostStatus>, std::string>
    read_slots() = 0;
};

}  // namespace vigil::ports
