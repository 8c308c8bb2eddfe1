#include "daemon/core/decision.h"

#include <cstdio>

namespace vigil::core {

std::string_view name(PeerClass c) {
    switch (c) {
        case PeerClass::kAlive:
            return "alive";
        case PeerClass::kIsolated:
            return "isolated";
        case PeerClass::kSuspect:
            return "suspect";
        case PeerClass::kDead:
            return "dead";
        case PeerClass::kReleased:
            return "released";
        case PeerClass::kFrozen:
            return "frozen";
    }
    return "?";
}

std::string_view name(DecisionKind k) {
    switch (k) {
        case DecisionKind::kPetStarted:
            return "pet-started";
        case DecisionKind::kPetStopped:
            return "pet-stopped";
        case DecisionKind::kSelfFenceReboot:
            return "self-fence-reboot";
        case DecisionKind::kStopVm:
            return "stop-vm";
        case DecisionKind::kStartVm:
            return "start-vm";
        case DecisionKind::kResumeVm:
            return "resume-vm";
        case DecisionKind::kMigrateVm:
            return "migrate-vm";
        case DecisionKind::kAssignVm:
            return "assign-vm";
        case DecisionKind::kPeerClass:
            return "peer-class";
        case DecisionKind::kSelfState:
            return "self-state";
        case DecisionKind::kFencePeer:
            return "fence-peer";
        case DecisionKind::kAlert:
            return "alert";
    }
    return "?";
}

std::string_view name(Reason r) {
    switch (r) {
        case Reason::kQuorate:
            return "quorate";
        case Reason::kSlotWritesOk:
            return "slot-writes-ok";
        case Reason::kNoQuorumNoStorage:
            return "no-quorum-no-storage";
        case Reason::kSelfFencing:
            return "self-fencing";
        case Reason::kMaintenance:
            return "maintenance";
        case Reason::kStorageLostIoInFlight:
            return "storage-lost-io-in-flight";
        case Reason::kStorageLostNothingInFlight:
            return "storage-lost-nothing-in-flight";
        case Reason::kIsolatedUplinksDown:
            return "isolated-uplinks-down";
        case Reason::kIsolatedPolicyAlwaysStop:
            return "isolated-policy-always-stop";
        case Reason::kIoErrorPolicyRecoverElsewhere:
            return "io-error-policy-recover-elsewhere";
        case Reason::kAssignedByCoordinator:
            return "assigned-by-coordinator";
        case Reason::kStorageBack:
            return "storage-back";
        case Reason::kOwnerDead:
            return "owner-dead";
        case Reason::kOwnerReleased:
            return "owner-released";
        case Reason::kNotRunningAnywhere:
            return "not-running-anywhere";
        case Reason::kInMembership:
            return "in-membership";
        case Reason::kSlotAdvancing:
            return "slot-advancing";
        case Reason::kReleasedInSlot:
            return "released-in-slot";
        case Reason::kFenceDelayElapsed:
            return "fence-delay-elapsed";
        case Reason::kSilentInsideFenceDelay:
            return "silent-inside-fence-delay";
        case Reason::kCannotReadSlots:
            return "cannot-read-slots";
        case Reason::kNoStatusYet:
            return "no-status-yet";
        case Reason::kFenceConfirmed:
            return "fence-confirmed";
        case Reason::kStormGuard:
            return "storm-guard";
        case Reason::kQuorumLost:
            return "quorum-lost";
        case Reason::kGlobalStorageOutage:
            return "global-storage-outage";
        case Reason::kPeerIsolated:
            return "peer-isolated";
        case Reason::kPeerStorageLost:
            return "peer-storage-lost";
        case Reason::kNoCapacity:
            return "no-capacity";
        case Reason::kVmIoError:
            return "vm-io-error";
        case Reason::kStateChanged:
            return "state-changed";
        case Reason::kStartFailed:
            return "start-failed";
        case Reason::kLockedElsewhere:
            return "locked-elsewhere";
        case Reason::kActionTimedOut:
            return "action-timed-out";
        case Reason::kStopFailed:
            return "stop-failed";
        case Reason::kResumeFailed:
            return "resume-failed";
        case Reason::kDeclinedByTarget:
            return "declined-by-target";
        case Reason::kNoVmListingYet:
            return "no-vm-listing-yet";
        case Reason::kLeftAndSilent:
            return "left-and-silent";
        case Reason::kFenceFailed:
            return "fence-failed";
        case Reason::kUnreadableFormat:
            return "unreadable-format";
        case Reason::kDrain:
            return "drain";
        case Reason::kNoHostCanTake:
            return "no-host-can-take";
        case Reason::kStoppedDeliberately:
            return "stopped-deliberately";
        case Reason::kMigrationFailed:
            return "migration-failed";
    }
    return "?";
}

std::string_view name(AlertKind a) {
    switch (a) {
        case AlertKind::kQuorumLost:
            return "quorum-lost";
        case AlertKind::kPeerIsolated:
            return "peer-isolated";
        case AlertKind::kPeerStorageLost:
            return "peer-storage-lost";
        case AlertKind::kStorageLost:
            return "storage-lost";
        case AlertKind::kGlobalStorageOutage:
            return "global-storage-outage";
        case AlertKind::kStormGuard:
            return "storm-guard";
        case AlertKind::kNoCapacity:
            return "no-capacity";
        case AlertKind::kVmIoError:
            return "vm-io-error";
        case AlertKind::kVmLeftPaused:
            return "vm-left-paused";
        case AlertKind::kVmStartFailed:
            return "vm-start-failed";
        case AlertKind::kVmStopFailed:
            return "vm-stop-failed";
        case AlertKind::kVmResumeFailed:
            return "vm-resume-failed";
        case AlertKind::kFenceFailed:
            return "fence-failed";
        case AlertKind::kDrainBlocked:
            return "drain-blocked";
    }
    return "?";
}

std::string_view name(SelfState s) {
    switch (s) {
        case SelfState::kOk:
            return "ok";
        case SelfState::kIsolated:
            return "isolated";
        case SelfState::kStorageLost:
            return "storage-lost";
        case SelfState::kFencing:
            return "fencing";
        case SelfState::kReleased:
            return "released";
    }
    return "?";
}

std::string_view name(VmState s) {
    switch (s) {
        case VmState::kRunning:
            return "running";
        case VmState::kPausedIoError:
            return "paused-io-error";
        case VmState::kPaused:
            return "paused";
        case VmState::kShutOff:
            return "shut-off";
    }
    return "?";
}

std::string_view name(StorageHealth h) {
    switch (h) {
        case StorageHealth::kOk:
            return "ok";
        case StorageHealth::kDegraded:
            return "degraded";
        case StorageHealth::kStalled:
            return "stalled";
        case StorageHealth::kFailed:
            return "failed";
        case StorageHealth::kNoSpace:
            return "no-space";
    }
    return "?";
}

// Failed is the top: the device or target said it is gone, and nothing but
// recovery elsewhere helps. Stalled comes next: nothing completes, but it may come
// back by itself (a path failing over, an NFS server rebooting). No-space is below
// both: the member still answers, reads work and writes fail at once, and freeing
// space ends it; a domain with a full member and a stalled one is stuck, not
// merely full. Degraded still does its work, slowly.
int severity(StorageHealth h) {
    switch (h) {
        case StorageHealth::kOk:
            return 0;
        case StorageHealth::kDegraded:
            return 1;
        case StorageHealth::kNoSpace:
            return 2;
        case StorageHealth::kStalled:
            return 3;
        case StorageHealth::kFailed:
            return 4;
    }
    return 4;
}

std::string_view name(LinkState s) {
    switch (s) {
        case LinkState::kUp:
            return "up";
        case LinkState::kIdle:
            return "idle";
        case LinkState::kDown:
            return "down";
    }
    return "?";
}

std::string_view name(NetRole r) {
    switch (r) {
        case NetRole::kCluster:
            return "cluster";
        case NetRole::kVmUplink:
            return "vm-uplink";
        case NetRole::kStorage:
            return "storage";
    }
    return "?";
}

std::string_view name(IsolationResponse r) {
    switch (r) {
        case IsolationResponse::kLeaveRunning:
            return "leave-running";
        case IsolationResponse::kStopWhenUplinksDead:
            return "stop-when-uplinks-dead";
        case IsolationResponse::kAlwaysStop:
            return "always-stop";
    }
    return "?";
}

std::string_view name(IoErrorPolicy p) {
    switch (p) {
        case IoErrorPolicy::kAutoResume:
            return "auto-resume";
        case IoErrorPolicy::kLeavePaused:
            return "leave-paused";
        case IoErrorPolicy::kRecoverElsewhere:
            return "recover-elsewhere";
    }
    return "?";
}

std::string_view name(VmAction a) {
    switch (a) {
        case VmAction::kStart:
            return "start";
        case VmAction::kStop:
            return "stop";
        case VmAction::kResume:
            return "resume";
        case VmAction::kMigrate:
            return "migrate";
    }
    return "?";
}

std::string_view name(ActionOutcome o) {
    switch (o) {
        case ActionOutcome::kDone:
            return "done";
        case ActionOutcome::kFailed:
            return "failed";
        case ActionOutcome::kLockedElsewhere:
            return "locked-elsewhere";
        case ActionOutcome::kTimedOut:
            return "timed-out";
    }
    return "?";
}

std::string host_name(HostId id) { return "h" + std::to_string(id.value); }

std::string format_seconds(Duration d) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%lld.%03lld", ms < 0 ? "-" : "",
                  static_cast<long long>(std::abs(ms) / 1000),
                  static_cast<long long>(std::abs(ms) % 1000));
    return buf;
}

std::string to_string(const Decision& d) {
    std::string out{name(d.kind)};
    if (d.alert) out += " alert=" + std::string(name(*d.alert));
    if (d.peer) out += " peer=" + host_name(*d.peer);
    if (d.peer_class) out += " class=" + std::string(name(*d.peer_class));
    if (d.self_state) out += " state=" + std::string(name(*d.self_state));
    if (!d.vm.empty()) out += " vm=" + d.vm;
    if (d.target) out += " target=" + host_name(*d.target);
    out += " reason=" + std::string(name(d.reason));
    for (const auto& f : d.evidence) out += " " + f.key + "=" + f.value;
    return out;
}

std::string to_string(const ActionEvidence& a) {
    std::string out = "action-result vm=" + a.vm + " action=" + std::string(name(a.action)) +
                      " outcome=" + std::string(name(a.outcome));
    if (!a.detail.empty()) out += " detail=" + a.detail;
    return out;
}

}  // namespace vigil::core
