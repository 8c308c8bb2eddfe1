#include "daemon/driver/executor.h"

namespace vigil::driver {
namespace {

std::optional<core::VmAction> action_of(core::DecisionKind kind) {
    switch (kind) {
        case core::DecisionKind::kStartVm:
            return core::VmAction::kStart;
        case core::DecisionKind::kStopVm:
            return core::VmAction::kStop;
        case core::DecisionKind::kResumeVm:
            return core::VmAction::kResume;
        case core::DecisionKind::kMigrateVm:
            return core::VmAction::kMigrate;
        case core::DecisionKind::kPetStarted:
        case core::DecisionKind::kPetStopped:
        case core::DecisionKind::kSelfFenceReboot:
        case core::DecisionKind::kAssignVm:
        case core::DecisionKind::kPeerClass:
        case core::DecisionKind::kSelfState:
        case core::DecisionKind::kFencePeer:
        case core::DecisionKind::kAlert:
            return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace

std::vector<core::ActionEvidence> Executor::carry_out(const core::Decision& decision) {
    if (fenced_) return {};
    if (decision.kind == core::DecisionKind::kSelfFenceReboot) {
        // Stop petting first: if the last words hang on dead storage, the watchdog
        // still takes the host.
        fenced_ = true;
        ++self_fences_;
        watchdog_.withhold(core::Reason::kSelfFencing);
        fencer_.write_last_words(decision, clock_.wall());
        fencer_.reboot_now();
        return {};
    }
    if (decision.kind == core::DecisionKind::kFencePeer && decision.peer) {
        // One request per peer at a time: the agent is slow and the core asks once.
        for (const auto& [id, peer] : fencing_)
            if (peer == *decision.peer) return {};
        fencing_.emplace(fencer_.fence_peer(*decision.peer), *decision.peer);
        return {};
    }
    const auto action = action_of(decision.kind);
    if (!action) return {};
    if (*action == core::VmAction::kMigrate && !decision.target) return {};
    const std::string& vm = decision.vm;
    // Where a migration goes, kept with the action until it is issued and done.
    if (*action == core::VmAction::kMigrate) migrate_to_[vm] = *decision.target;
    const auto running = in_flight_.find(vm);
    if (running == in_flight_.end()) {
        issue(vm, *action);
        return {};
    }
    std::vector<core::ActionEvidence> dropped;
    const auto w = waiting_.find(vm);
    if (w != waiting_.end() && w->second == *action) {
        ++repeated_;
        return {};
    }
    if (w != waiting_.end()) {
        ++superseded_;
        dropped.push_back(core::ActionEvidence{.vm = vm,
                                               .action = w->second,
                                               .outcome = core::ActionOutcome::kFailed,
                                               .detail = "superseded"});
        waiting_.erase(w);
    }
    if (running->second.action == *action) {
        // The core's newest word for this VM is the action that runs: one that waited
        // behind it is stale and must not follow it.
        ++repeated_;
        return dropped;
    }
    waiting_[vm] = *action;
    return dropped;
}

void Executor::issue(const std::string& vm, core::VmAction action) {
    ports::RequestId id = 0;
    switch (action) {
        case core::VmAction::kStart:
            id = hypervisor_.start(vm);
            break;
        case core::VmAction::kStop:
            id = hypervisor_.stop(vm);
            break;
        case core::VmAction::kResume:
            id = hypervisor_.resume(vm);
            break;
        case core::VmAction::kMigrate:
            id = hypervisor_.migrate(vm, migrate_to_.at(vm));
            break;
    }
    ++issued_;
    in_flight_[vm] = InFlightAction{.id = id,
                                    .action = action,
                                    .since = clock_.now(),
                                    .target = action == core::VmAction::kMigrate
                                                  ? std::optional(migrate_to_.at(vm))
                                                  : std::nullopt};
}

std::optional<core::ActionEvidence> Executor::finish(ports::RequestId id,
                                                     const core::ActionEvidence& result) {
    const auto it = in_flight_.find(result.vm);
    if (it == in_flight_.end() || it->second.id != id) return std::nullopt;
    core::ActionEvidence evidence = result;
    evidence.action = it->second.action;
    evidence.target = it->second.target;
    in_flight_.erase(it);
    const auto queued = waiting_.find(result.vm);
    if (evidence.action == core::VmAction::kMigrate &&
        (queued == waiting_.end() || queued->second != core::VmAction::kMigrate))
        migrate_to_.erase(result.vm);
    if (const auto w = queued; w != waiting_.end() && !fenced_) {
        const auto next = w->second;
        waiting_.erase(w);
        issue(result.vm, next);
    }
    return evidence;
}

std::optional<core::Evidence> Executor::finish_fence(ports::RequestId id, bool confirmed,
                                                     std::string detail) {
    const auto it = fencing_.find(id);
    if (it == fencing_.end()) return std::nullopt;
    const core::HostId peer = it->second;
    fencing_.erase(it);
    if (confirmed) return core::FenceConfirmedEvidence{.peer = peer};
    return core::FenceFailedEvidence{.peer = peer, .detail = std::move(detail)};
}

ExecutorSnapshot Executor::snapshot() const {
    return ExecutorSnapshot{.in_flight = in_flight_,
                            .waiting = waiting_,
                            .issued = issued_,
                            .repeated = repeated_,
                            .superseded = superseded_,
                            .self_fences = self_fences_};
}

}  // namespace vigil::driver
