#pragma once

#include "daemon/core/decision.h"

namespace vigil::ports {

// Where decisions go: journald, metrics, hooks, `vigilctl explain`.
class EventSink {
  public:
    virtual ~EventSink() = default;
    virtual void record(core::TimePoint at, const core::Decision& decision) = 0;
};

}  // namespace vigil::ports
