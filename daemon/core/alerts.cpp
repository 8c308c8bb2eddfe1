#include "daemon/core/alerts.h"

#include <utility>

namespace vigil::core {

void AlertLatch::raise(Alert alert) {
    raised_.insert(alert.key);
    if (active_.contains(alert.key)) return;
    Decision d{.kind = DecisionKind::kAlert,
               .reason = alert.reason,
               .peer = alert.peer,
               .vm = std::move(alert.vm),
               .alert = alert.kind};
    d.evidence = std::move(alert.evidence);
    started_.push_back(std::move(d));
}

std::vector<Decision> AlertLatch::end_tick() {
    active_ = std::move(raised_);
    raised_.clear();
    return std::exchange(started_, {});
}

}  // namespace vigil::core
