// The Clock port: the loop's CLOCK_MONOTONIC for everything that decides,
// system_clock for records a person reads.
#pragma once

#include <chrono>

#include "daemon/adapters/event_loop.h"
#include "daemon/ports/clock.h"

namespace vigil::host {

class RealClock final : public ports::Clock {
  public:
    [[nodiscard]] core::TimePoint now() const override {
        return core::TimePoint(adapters::monotonic_now());
    }
    [[nodiscard]] std::chrono::system_clock::time_point wall() const override {
        return std::chrono::system_clock::now();
    }
};

}  // namespace vigil::host
