#pragma once

// Alerts hold while their condition holds and are logged once, when they start. The
// parts of the core say which alerts they want raised at a tick; the engine's latch
// turns the ones that were not already active into decisions.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/decision.h"
#include "daemon/core/types.h"

namespace vigil::core {

struct Alert {
    std::string key;  // one per condition and subject, e.g. "no-capacity:web"
    AlertKind kind = AlertKind::kQuorumLost;
    Reason reason = Reason::kStateChanged;
    std::vector<Fact> evidence;
    std::string vm;
    std::optional<HostId> peer;
};

class AlertLatch {
  public:
    // During a tick: the alert's condition holds now.
    void raise(Alert alert);
    // At the end of a tick: the alerts raised in it that were not raised in the one
    // before, in the order they were raised. An alert not raised again is cleared.
    [[nodiscard]] std::vector<Decision> end_tick();
    // The alerts active since the last tick ended, by kind (kinds with none left out).
    [[nodiscard]] std::map<AlertKind, std::size_t> active_by_kind() const;

  private:
    std::map<std::string, AlertKind> active_;  // raised last tick
    std::map<std::string, AlertKind> raised_;  // raised this tick
    std::vector<Decision> started_;
};

}  // namespace vigil::core
