#pragma once

// Everything the engine learns about the world. The daemon stamps each record with
// the monotonic time it learned it and hands it to HostEngine::observe().

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "daemon/core/types.h"

namespace vigil::core {

enum class StorageHealth : std::uint8_t { kOk, kDegraded, kStalled, kFailed, kNoSpace };

// One storage domain (SAN LUN, NFS export, volume) as this host sees it.
struct StorageEvidence {
    std::string domain;
    StorageHealth health = StorageHealth::kOk;
    bool io_in_flight = false;  // requests issued and not completed (eBPF counters)
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

// Result of writing our own storage heartbeat slot.
struct SlotWriteEvidence {
    bool ok = false;
    Duration latency{};
};

// Result of reading every slot of the storage heartbeat area.
struct SlotReadEvidence {
    bool ok = false;
    std::vector<HostStatus> slots;
};

// A local VM as the hypervisor reports it.
struct VmEvidence {
    std::string vm;
    VmState state = VmState::kRunning;
};

enum class AdminCommand : std::uint8_t { kMaintenanceOn, kMaintenanceOff, kDrain, kUndrain };

struct AdminEvidence {
    AdminCommand command = AdminCommand::kMaintenanceOn;
};

// An out-of-band fence agent confirmed that the peer is powered off.
struct FenceConfirmedEvidence {
    HostId peer;
};

using Evidence = std::variant<StorageEvidence, LinkEvidence, MembershipEvidence,
                              PeerMessageEvidence, SlotWriteEvidence, SlotReadEvidence, VmEvidence,
                              AdminEvidence, FenceConfirmedEvidence>;

}  // namespace vigil::core
