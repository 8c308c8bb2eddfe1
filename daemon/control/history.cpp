#include "daemon/control/history.h"

#include <algorithm>

namespace vigil::control {

Subject subject_of(const core::Decision& d, core::HostId self) {
    switch (d.kind) {
        case core::DecisionKind::kStopVm:
        case core::DecisionKind::kStartVm:
        case core::DecisionKind::kResumeVm:
        case core::DecisionKind::kMigrateVm:
        case core::DecisionKind::kAssignVm:
            return Subject{.kind = Subject::Kind::kVm, .vm = d.vm};
        case core::DecisionKind::kPeerClass:
        case core::DecisionKind::kFencePeer:
            return Subject{.host = d.peer.value_or(self)};
        case core::DecisionKind::kAlert:
            if (!d.vm.empty()) return Subject{.kind = Subject::Kind::kVm, .vm = d.vm};
            return Subject{.host = d.peer.value_or(self)};
        case core::DecisionKind::kPetStarted:
        case core::DecisionKind::kPetStopped:
        case core::DecisionKind::kSelfFenceReboot:
        case core::DecisionKind::kSelfState:
            break;
    }
    return Subject{.host = self};
}

void DecisionHistory::record(core::TimePoint at, std::chrono::system_clock::time_point wall,
                             const core::Decision& d) {
    RecordedDecision r{.number = next_++, .at = at, .wall = wall, .decision = d};
    overall_.push_front(r);
    if (overall_.size() > kOverall) overall_.pop_back();
    const auto subject = subject_of(d, self_);
    if (!by_subject_.contains(subject) && by_subject_.size() >= kMaxSubjects) {
        auto oldest = std::min_element(by_subject_.begin(), by_subject_.end(),
                                       [](const auto& a, const auto& b) {
                                           return a.second.front().number < b.second.front().number;
                                       });
        by_subject_.erase(oldest);
    }
    auto& list = by_subject_[subject];
    list.push_front(std::move(r));
    if (list.size() > kPerSubject) list.pop_back();
}

std::vector<RecordedDecision> DecisionHistory::latest() const {
    return {overall_.begin(), overall_.end()};
}

std::vector<RecordedDecision> DecisionHistory::about(const Subject& s) const {
    const auto it = by_subject_.find(s);
    if (it == by_subject_.end()) return {};
    return {it->second.begin(), it->second.end()};
}

}  // namespace vigil::control
