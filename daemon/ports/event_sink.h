#pragma once

#include "daemon/core/decision.h"

namespace vigil::ports {

// Where decisions and the outcomes of the actions they caused go: journald,
// metrics, hooks, `vigilctl explain`. Called on the loop; must not block.
class EventSink {
  public:
    virtual ~EventSink() = default;
    virtual void decision(core::TimePoint at, const core::Decision& decision) = 0;
    virtual void outcome(core::TimePoint at, const core::ActionEvidence& outcome) = 0;
};

}  // namespace vigil::ports
