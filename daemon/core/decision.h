#pragma once

// What the engine decides, each with the reason and the evidence behind it, so the
// daemon can log it once (stable kind for journald MESSAGE_ID) and `vigilctl explain`
// can print it.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/evidence.h"
#include "daemon/core/policy.h"
#include "daemon/core/types.h"

namespace vigil::core {

// kFrozen: its vigild stopped deliberately and said so in its last record; its VMs
// run there unmanaged and stay its own (never restarted elsewhere, never fenced for
// the silence) until it writes again.
enum class PeerClass : std::uint8_t { kAlive, kIsolated, kSuspect, kDead, kReleased, kFrozen };

enum class DecisionKind : std::uint8_t {
    kPetStarted,       // the watchdog is petted from now on
    kPetStopped,       // it is not: the watchdog will reset this host unless this changes
    kSelfFenceReboot,  // reboot this host now
    kStopVm,           // stop (destroy) a local VM and release its disk leases
    kStartVm,          // start a VM here: assigned by the coordinator
    kResumeVm,         // resume a local VM paused for an I/O error
    kMigrateVm,        // draining: move a local VM to `target` by live migration
    kAssignVm,         // coordinator: plan a VM onto a host
    kPeerClass,        // a peer changed class
    kSelfState,        // what this host says about itself changed
    kFencePeer,        // coordinator: power a silent peer off through its fence agent
    kAlert,
};

enum class Reason : std::uint8_t {
    kQuorate,
    kSlotWritesOk,
    kNoQuorumNoStorage,
    kSelfFencing,
    kMaintenance,
    kStorageLostIoInFlight,
    kStorageLostNothingInFlight,
    kIsolatedUplinksDown,
    kIsolatedPolicyAlwaysStop,
    kIoErrorPolicyRecoverElsewhere,
    kAssignedByCoordinator,
    kStorageBack,
    kOwnerDead,
    kOwnerReleased,
    kNotRunningAnywhere,
    kInMembership,
    kSlotAdvancing,
    kReleasedInSlot,
    kFenceDelayElapsed,
    kSilentInsideFenceDelay,
    kCannotReadSlots,
    kNoStatusYet,
    kFenceConfirmed,
    kStormGuard,
    kQuorumLost,
    kGlobalStorageOutage,
    kPeerIsolated,
    kPeerStorageLost,
    kNoCapacity,
    kVmIoError,
    kStateChanged,
    kStartFailed,      // a start here failed: the coordinator places the VM elsewhere
    kLockedElsewhere,  // the lock manager refused a start: its disks are leased elsewhere
    kActionTimedOut,   // the hypervisor did not answer in time; the listing will tell
    kStopFailed,
    kResumeFailed,
    kDeclinedByTarget,  // the assigned host could not start it: placed again
    kNoVmListingYet,    // the hypervisor has not said which VMs run here
    kLeftAndSilent,     // left the membership and its slot has not moved since
    kFenceFailed,
    kUnreadableFormat,     // a member whose records are of a newer format than we read
    kDrain,                // this host is drained: its VM goes to another host
    kNoHostCanTake,        // draining, but no other host has room for the VM: it stays
    kStoppedDeliberately,  // its last record is frozen: vigild was stopped, VMs kept
    kMigrationFailed,      // draining: the live migration did not happen; stopped instead
};

enum class AlertKind : std::uint8_t {
    kQuorumLost,
    kPeerIsolated,
    kPeerStorageLost,
    kStorageLost,
    kGlobalStorageOutage,
    kStormGuard,
    kNoCapacity,
    kVmIoError,
    kVmLeftPaused,
    kVmStartFailed,
    kVmStopFailed,
    kVmResumeFailed,
    kFenceFailed,
    kDrainBlocked,  // a draining host keeps a VM that no other host can take
};

// Every value, in declaration order, for exporters that list each one (at 0)
// before it first happens.
inline constexpr PeerClass kAllPeerClasses[] = {PeerClass::kAlive,    PeerClass::kIsolated,
                                                PeerClass::kSuspect,  PeerClass::kDead,
                                                PeerClass::kReleased, PeerClass::kFrozen};
inline constexpr DecisionKind kAllDecisionKinds[] = {
    DecisionKind::kPetStarted, DecisionKind::kPetStopped, DecisionKind::kSelfFenceReboot,
    DecisionKind::kStopVm,     DecisionKind::kStartVm,    DecisionKind::kResumeVm,
    DecisionKind::kMigrateVm,  DecisionKind::kAssignVm,   DecisionKind::kPeerClass,
    DecisionKind::kSelfState,  DecisionKind::kFencePeer,  DecisionKind::kAlert};
inline constexpr AlertKind kAllAlertKinds[] = {
    AlertKind::kQuorumLost,    AlertKind::kPeerIsolated,        AlertKind::kPeerStorageLost,
    AlertKind::kStorageLost,   AlertKind::kGlobalStorageOutage, AlertKind::kStormGuard,
    AlertKind::kNoCapacity,    AlertKind::kVmIoError,           AlertKind::kVmLeftPaused,
    AlertKind::kVmStartFailed, AlertKind::kVmStopFailed,        AlertKind::kVmResumeFailed,
    AlertKind::kFenceFailed,   AlertKind::kDrainBlocked};
inline constexpr VmState kAllVmStates[] = {VmState::kRunning, VmState::kPausedIoError,
                                           VmState::kPaused, VmState::kShutOff};
static_assert(std::size(kAllPeerClasses) == static_cast<std::size_t>(PeerClass::kFrozen) + 1);
static_assert(std::size(kAllDecisionKinds) == static_cast<std::size_t>(DecisionKind::kAlert) + 1);
static_assert(std::size(kAllAlertKinds) == static_cast<std::size_t>(AlertKind::kDrainBlocked) + 1);
static_assert(std::size(kAllVmStates) == static_cast<std::size_t>(VmState::kShutOff) + 1);

struct Fact {
    std::string key;
    std::string value;
    bool operator==(const Fact&) const = default;
};

struct Decision {
    DecisionKind kind = DecisionKind::kAlert;
    Reason reason = Reason::kStateChanged;
    std::optional<HostId> peer;           // kPeerClass, kAssignVm (previous owner)
    std::string vm;                       // VM decisions
    std::optional<HostId> target;         // kAssignVm, kMigrateVm
    std::optional<PeerClass> peer_class;  // kPeerClass
    std::optional<SelfState> self_state;  // kSelfState
    std::optional<AlertKind> alert;       // kAlert
    std::vector<Fact> evidence;
    bool operator==(const Decision&) const = default;
};

// Whether to pet the watchdog now, and why (or why not: the watchdog's withheld-pets
// metric counts the reasons).
struct PetVerdict {
    bool pet = false;
    Reason reason = Reason::kNoQuorumNoStorage;
    bool operator==(const PetVerdict&) const = default;
};

struct TickResult {
    bool pet_watchdog = false;
    Reason pet_reason = Reason::kNoQuorumNoStorage;
    // False until the hypervisor's first VM listing has arrived: a status written
    // before it would say we hold nothing while VMs may run here.
    bool publish = true;
    HostStatus status;  // write to the storage slot and broadcast to the cluster
    std::vector<Decision> decisions;
};

[[nodiscard]] std::string_view name(PeerClass c);
[[nodiscard]] std::string_view name(DecisionKind k);
[[nodiscard]] std::string_view name(Reason r);
[[nodiscard]] std::string_view name(AlertKind a);
[[nodiscard]] std::string_view name(SelfState s);
[[nodiscard]] std::string_view name(VmState s);
[[nodiscard]] std::string_view name(StorageHealth h);
// How bad a storage state is, worse ranking higher: ok, degraded, no-space,
// stalled, failed (see decision.cpp for why in this order).
[[nodiscard]] int severity(StorageHealth h);
[[nodiscard]] std::string_view name(LinkState s);
[[nodiscard]] std::string_view name(NetRole r);
[[nodiscard]] std::string_view name(IsolationResponse r);
[[nodiscard]] std::string_view name(IoErrorPolicy p);
[[nodiscard]] std::string_view name(VmAction a);
[[nodiscard]] std::string_view name(ActionOutcome o);
[[nodiscard]] std::string host_name(HostId id);        // "h<id>"
[[nodiscard]] std::string format_seconds(Duration d);  // "7.250"

// One line, stable field order: "<kind> key=value ... reason=<reason> <evidence>".
[[nodiscard]] std::string to_string(const Decision& d);
// "action-result vm=<vm> action=<action> outcome=<outcome> [detail=...]".
[[nodiscard]] std::string to_string(const ActionEvidence& a);

}  // namespace vigil::core
