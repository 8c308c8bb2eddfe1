#include "daemon/host/event_sink.h"

#include <string>

namespace vigil::host {

using adapters::Priority;
namespace mid = adapters::message_id;

std::string_view message_id_of(core::DecisionKind kind) {
    switch (kind) {
        case core::DecisionKind::kPetStarted:
        case core::DecisionKind::kPetStopped:
            return mid::kDecisionPet;
        case core::DecisionKind::kSelfFenceReboot:
            return mid::kDecisionSelfFence;
        case core::DecisionKind::kStopVm:
        case core::DecisionKind::kStartVm:
        case core::DecisionKind::kResumeVm:
        case core::DecisionKind::kMigrateVm:
            return mid::kDecisionVm;
        case core::DecisionKind::kAssignVm:
            return mid::kDecisionAssign;
        case core::DecisionKind::kPeerClass:
            return mid::kDecisionPeer;
        case core::DecisionKind::kSelfState:
            return mid::kDecisionSelfState;
        case core::DecisionKind::kFencePeer:
            return mid::kDecisionFencePeer;
        case core::DecisionKind::kAlert:
            return mid::kDecisionAlert;
    }
    return mid::kDecisionAlert;
}

namespace {

Priority priority_of(const core::Decision& d) {
    switch (d.kind) {
        case core::DecisionKind::kSelfFenceReboot:
        case core::DecisionKind::kPetStopped:
            return Priority::kError;
        case core::DecisionKind::kAlert:
        case core::DecisionKind::kFencePeer:
        case core::DecisionKind::kStopVm:
            return Priority::kWarning;
        case core::DecisionKind::kPeerClass:
            return d.peer_class && *d.peer_class != core::PeerClass::kAlive ? Priority::kWarning
                                                                            : Priority::kNotice;
        case core::DecisionKind::kPetStarted:
        case core::DecisionKind::kStartVm:
        case core::DecisionKind::kResumeVm:
        case core::DecisionKind::kMigrateVm:
        case core::DecisionKind::kAssignVm:
        case core::DecisionKind::kSelfState:
            return Priority::kNotice;
    }
    return Priority::kNotice;
}

}  // namespace

std::vector<HookCall> HookMapper::on_decision(const core::Decision& d) {
    using exporters::HookEvent;
    std::vector<HookCall> out;
    const std::string reason(core::name(d.reason));
    switch (d.kind) {
        case core::DecisionKind::kPeerClass:
            if (!d.peer || !d.peer_class) break;
            if (*d.peer_class == core::PeerClass::kDead) {
                out.push_back({HookEvent::kPeerDead,
                               {{"peer", core::host_name(*d.peer)}, {"reason", reason}}});
            } else if (*d.peer_class == core::PeerClass::kIsolated) {
                out.push_back({HookEvent::kPeerIsolated,
                               {{"peer", core::host_name(*d.peer)}, {"reason", reason}}});
            }
            break;
        case core::DecisionKind::kSelfFenceReboot:
            out.push_back({HookEvent::kSelfFence, {{"reason", reason}}});
            break;
        case core::DecisionKind::kAlert:
            if (!d.alert) break;
            if (*d.alert == core::AlertKind::kQuorumLost && !quorum_lost_) {
                quorum_lost_ = true;
                out.push_back({HookEvent::kQuorumLost, {{"reason", reason}}});
            } else if (*d.alert == core::AlertKind::kVmIoError && !d.vm.empty()) {
                out.push_back({HookEvent::kVmPausedIoError, {{"vm", d.vm}, {"reason", reason}}});
            } else if (*d.alert == core::AlertKind::kStorageLost) {
                out.push_back({HookEvent::kStorageDomainLost, {{"reason", reason}}});
            }
            break;
        case core::DecisionKind::kSelfState:
            if (!d.self_state) break;
            if (*d.self_state == core::SelfState::kIsolated ||
                *d.self_state == core::SelfState::kReleased) {
                break;
            }
            if (quorum_lost_) {
                quorum_lost_ = false;
                out.push_back({HookEvent::kQuorumRegained,
                               {{"state", std::string(core::name(*d.self_state))}}});
            }
            break;
        case core::DecisionKind::kPetStarted:
        case core::DecisionKind::kPetStopped:
        case core::DecisionKind::kStopVm:
        case core::DecisionKind::kStartVm:
        case core::DecisionKind::kResumeVm:
        case core::DecisionKind::kMigrateVm:
        case core::DecisionKind::kAssignVm:
        case core::DecisionKind::kFencePeer:
            break;
    }
    return out;
}

std::vector<HookCall> HookMapper::on_outcome(const core::ActionEvidence& a) const {
    using exporters::HookEvent;
    if (a.action == core::VmAction::kMigrate) {
        exporters::HookFields fields{{"vm", a.vm}};
        if (a.target) fields.emplace_back("target", core::host_name(*a.target));
        if (a.outcome == core::ActionOutcome::kDone) return {{HookEvent::kVmMigrated, fields}};
        fields.emplace_back("outcome", std::string(core::name(a.outcome)));
        fields.emplace_back("detail", a.detail);
        return {{HookEvent::kVmMigrationFailed, fields}};
    }
    if (a.outcome != core::ActionOutcome::kDone) return {};
    switch (a.action) {
        case core::VmAction::kStart:
            return {{HookEvent::kVmRestartedHere, {{"vm", a.vm}}}};
        case core::VmAction::kResume:
            return {{HookEvent::kVmResumed, {{"vm", a.vm}}}};
        case core::VmAction::kStop:
        case core::VmAction::kMigrate:
            return {};
    }
    return {};
}

void EventSink::run_hooks(const std::vector<HookCall>& calls) {
    if (parts_.hooks == nullptr) return;
    for (const auto& c : calls) parts_.hooks->submit(c.event, c.fields);
}

void EventSink::decision(core::TimePoint at, const core::Decision& d) {
    const auto line = core::to_string(d);
    adapters::Fields fields{{"KIND", std::string(core::name(d.kind))},
                            {"REASON", std::string(core::name(d.reason))}};
    if (!d.vm.empty()) fields.emplace_back("VM", d.vm);
    if (d.peer) fields.emplace_back("PEER", core::host_name(*d.peer));
    if (d.target) fields.emplace_back("TARGET", core::host_name(*d.target));
    if (d.alert) fields.emplace_back("ALERT", std::string(core::name(*d.alert)));
    std::string evidence;
    for (const auto& f : d.evidence)
        evidence += (evidence.empty() ? "" : " ") + f.key + "=" + f.value;
    fields.emplace_back("EVIDENCE", evidence);
    parts_.journal.log(priority_of(d), message_id_of(d.kind), line, fields);
    if (parts_.note) parts_.note(line);
    parts_.metrics.count_decision(std::string(core::name(d.kind)),
                                  std::string(core::name(d.reason)));
    run_hooks(hooks_.on_decision(d));
    if (parts_.on_decision) parts_.on_decision(at, d);
}

void EventSink::outcome(core::TimePoint, const core::ActionEvidence& a) {
    const auto line = core::to_string(a);
    parts_.journal.log(
        a.outcome == core::ActionOutcome::kDone ? Priority::kNotice : Priority::kWarning,
        mid::kActionOutcome, line,
        {{"VM", a.vm},
         {"ACTION", std::string(core::name(a.action))},
         {"OUTCOME", std::string(core::name(a.outcome))},
         {"DETAIL", a.detail}});
    if (parts_.note) parts_.note(line);
    parts_.metrics.count_action_outcome(std::string(core::name(a.action)),
                                        std::string(core::name(a.outcome)));
    run_hooks(hooks_.on_outcome(a));
}

}  // namespace vigil::host
