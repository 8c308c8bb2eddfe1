#pragma once

#include <chrono>

#include "daemon/core/types.h"

namespace vigil::ports {

// The two clocks a host has. Everything that decides reads now(), the monotonic
// clock (CLOCK_MONOTONIC in the daemon, simulated time in the simulator); wall()
// only stamps records a person reads later (last words, the flight record). A
// wall-clock step (NTP, a bad RTC) moves wall() and nothing else.
class Clock {
  public:
    virtual ~Clock() = default;
    [[nodiscard]] virtual core::TimePoint now() const = 0;
    [[nodiscard]] virtual std::chrono::system_clock::time_point wall() const = 0;
};

}  // namespace vigil::ports
