#include "daemon/core/alerts.h"

#include <utility>

namespace vigil::core {

void AlertLatch::raise(Alert alert) {
    raised_.emplace(alert.key, alert.kind);
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

std::map<AlertKind, std::size_t> AlertLatch::active_by_kind() const {
    std::map<AlertKind, std::size_t> out;
    for (const auto& [key, kind] : active_) ++out[kind];
    return out;
}

}  // namespace vigil::core
