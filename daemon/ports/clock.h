#pragma once

#include "daemon/core/types.h"

namespace vigil::ports {

// Monotonic time (CLOCK_MONOTONIC in the daemon, simulated time in the simulator).
class Clock {
  public:
    virtual ~Clock() = default;
    [[nodiscard]] virtual core::TimePoint now() const = 0;
};

}  // namespace vigil::ports
