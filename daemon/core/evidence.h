#pragma once

// Everything the engine learns about the world. The daemon stamps each record with
// the monotonic time it learned it and hands it to HostEngine::observe().

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "daemon/core/policy.h"
#include "daemon/core/types.h"

namespace vigil::core {

enum class StorageHealth : std::uint8_t { kOk, kDegraded, kStalled, kFailed, kNoSpace };

// One storage domain (SAN LUN, NFS export, volume) as this host sees it.
struct StorageEvidence {
    std::string domain;
    StorageHealth health = StorageHealth::kOk;
    bool io_in_flight = false;  // requests issued and not completed (eBPF counters)
    // Failed, but every failed member served a probe issued after its last
    // error (StorageMonitor::answering): the storage is back before the
    // hysteresis lets the health say so. Never set with another health.
    bool answering = false;
};

enum class NetRole : std::uint8_t { kCluster, kVmUplink, kStorage };
enum class LinkState : std::uint8_t { kUp, kIdle, kDown };  // idle: carrier but nothing received

struct LinkEvidence {
    NetRole role = NetRole::kCluster;
    LinkState state = LinkState::kUp;
};

struct MembershipEvidence {
    std::vector<HostId> members;  // includes this host when it is a member
    bool quorate = false;
};

// A status message delivered by the cluster (ordered, from a current member). Feed
// our own messages too when they come back: they prove the peers heard us.
struct PeerMessageEvidence {
    HostStatus status;
};

// A status message from a peer that this host cannot read: a newer vigil wrote it
// in a major format this reader does not know (slot_codec.h). It proves that the
// peer's vigild runs and sends, nothing of what it says.
struct PeerUnreadableEvidence {
    HostId peer;
};

// Result of writing our own storage heartbeat slot.
struct SlotWriteEvidence {
    bool ok = false;
    Duration latency{};
    // The sequence of the status written (0 when the store does not say): a
    // frozen record counts as on storage only when its own write came back ok.
    std::uint64_t sequence = 0;
};

// A peer's slot in a major format this reader does not know, and a fingerprint of
// its bytes: a fingerprint that changes between reads shows the peer writing.
struct UnreadableSlot {
    HostId host;
    std::uint64_t fingerprint = 0;
};

// Result of reading every slot of the storage heartbeat area.
struct SlotReadEvidence {
    bool ok = false;
    std::vector<HostStatus> slots;
    std::vector<UnreadableSlot> unreadable;
};

// A local VM as the hypervisor reports it, when its state changes.
struct VmEvidence {
    std::string vm;
    VmState state = VmState::kRunning;
};

// Every HA VM with a qemu process here, as one listing (at start, after a
// reconnect to the hypervisor, after an action timed out): a VM not listed has no
// qemu here. Until the first one arrives the engine does not know what it holds,
// so it publishes nothing and decides nothing (see TickResult::publish).
struct VmInventoryEvidence {
    std::vector<VmEvidence> vms;
};

// The HA VMs and their policy (priority, memory, I/O-error policy, storage domain)
// as the hypervisor's metadata says now: the whole list, replacing the last one.
struct VmPolicyEvidence {
    std::vector<VmPolicy> vms;
};

// kMigrate: a live migration to another host. Done: the VM runs there and no qemu
// for it remains here. Failed or timed out: it did not move (an expired one was
// aborted), and whatever ran here still runs here.
enum class VmAction : std::uint8_t { kStart, kStop, kResume, kMigrate };

enum class ActionOutcome : std::uint8_t {
    kDone,
    kFailed,
    kLockedElsewhere,  // the lock manager refused the start: the disks are leased elsewhere
    kTimedOut,         // no answer in time: the call may still finish
};

// The outcome of an action the executor carried out for a decision.
struct ActionEvidence {
    std::string vm;
    VmAction action = VmAction::kStart;
    ActionOutcome outcome = ActionOutcome::kDone;
    std::string detail;            // why, for anything but kDone
    std::optional<HostId> target;  // kMigrate: where it was to go (the executor's)
};

// kCordon: this host keeps its VMs and takes no new ones. kDrain: it hands its HA
// VMs to other hosts, one at a time by priority (a clean stop here, a start where the
// coordinator places it), and is cordoned meanwhile and after. kUncordon ends both
// (`undrain` is the same command).
enum class AdminCommand : std::uint8_t {
    kMaintenanceOn,
    kMaintenanceOff,
    kCordon,
    kUncordon,
    kDrain
};

struct AdminEvidence {
    AdminCommand command = AdminCommand::kMaintenanceOn;
};

// An out-of-band fence agent confirmed that the peer is powered off.
struct FenceConfirmedEvidence {
    HostId peer;
};

// The fence agent could not power the peer off (or could not confirm it).
struct FenceFailedEvidence {
    HostId peer;
    std::string detail;
};

using Evidence =
    std::variant<StorageEvidence, LinkEvidence, MembershipEvidence, PeerMessageEvidence,
                 PeerUnreadableEvidence, SlotWriteEvidence, SlotReadEvidence, VmEvidence,
                 VmInventoryEvidence, VmPolicyEvidence, ActionEvidence, AdminEvidence,
                 FenceConfirmedEvidence, FenceFailedEvidence>;

}  // namespace vigil::core
