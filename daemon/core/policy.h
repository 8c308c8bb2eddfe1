#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "daemon/core/types.h"
#include "daemon/ports/error.h"

namespace vigil::core {

enum class IsolationResponse : std::uint8_t {
    kLeaveRunning,
    kStopWhenUplinksDead,  // VMs that serve nobody are stopped so peers can restart them
    kAlwaysStop,
};

enum class IoErrorPolicy : std::uint8_t { kAutoResume, kLeavePaused, kRecoverElsewhere };

struct HostSpec {
    HostId id;
    std::uint64_t memory_mib = 0;
};

struct VmPolicy {
    std::string name;
    std::uint32_t priority = 0;  // higher restarts first
    std::uint64_t memory_mib = 0;
    IoErrorPolicy io_error = IoErrorPolicy::kAutoResume;
    std::string storage_domain = "shared";
    bool operator==(const VmPolicy&) const = default;
};

struct Policy {
    std::chrono::nanoseconds heartbeat_interval = std::chrono::seconds{1};
    std::chrono::nanoseconds watchdog_timeout = std::chrono::seconds{5};
    // Survivors wait this long after a peer's last sign of life before they call it
    // dead: the peer's watchdog must have fired by then (see validate()).
    std::chrono::nanoseconds fence_delay = std::chrono::seconds{7};
    // How long the cluster stack takes to drop a silent member (corosync token plus
    // consensus). A host still believes itself quorate for that long after a cut.
    std::chrono::nanoseconds membership_timeout = std::chrono::seconds{1};
    // Storage trouble shorter than this (path failover, NFS server restart) is ridden out.
    std::chrono::nanoseconds storage_grace = std::chrono::seconds{5};
    // A VM uplink must stay down this long before it counts as dead (flap hysteresis).
    std::chrono::nanoseconds link_grace = std::chrono::seconds{2};
    IsolationResponse isolation_response = IsolationResponse::kStopWhenUplinksDead;
    // A host that failed to start a VM declines it this long: the coordinator places
    // it on another host meanwhile, and this one may try again afterwards.
    std::chrono::nanoseconds start_failure_hold = std::chrono::seconds{30};
    // When more than this share of the peers looks dead at once, distrust our own view.
    double storm_guard_share = 0.5;
    // This host starts in maintenance: it takes no self-fence action (no reboot on
    // storage loss, no isolation stops) and receives no VMs. The watchdog rule still
    // holds: peers cannot know it is in maintenance if it is cut off.
    bool maintenance = false;
    // Every host has a fence agent (its BMC): the coordinator powers off a peer that
    // left the membership and stopped writing its slot, and recovers its VMs as soon
    // as the agent confirms, instead of waiting out the fence delay.
    bool fence_agents = false;
    // A draining host hands over at most this many VMs at once: each is stopped here
    // and started elsewhere before the next goes, so a drain is no restart storm.
    std::size_t drain_parallel = 1;
    // A draining host moves its running HA VMs by live migration (shared storage, the
    // hypervisors reaching each other) to a target it picks by the coordinator's
    // placement rules; a migration that does not happen falls back to the clean stop
    // here and the start where the coordinator places it. Off: always the stop.
    bool drain_migrate = false;
    std::vector<HostSpec> hosts;
    std::vector<VmPolicy> vms;

    [[nodiscard]] std::expected<void, Error> validate() const;
    [[nodiscard]] const VmPolicy* vm(std::string_view name) const;
    [[nodiscard]] const HostSpec* host(HostId id) const;
    // A host that wrote its slot this recently may keep petting without quorum;
    // longer would let it outlive the fence delay its peers count.
    [[nodiscard]] Duration slot_fresh_window() const { return 2 * heartbeat_interval; }
    // A host whose own status message came back through the quorate cluster may keep
    // petting this long after it sent it. At least the slot window, and at least the
    // membership timeout: while the cluster stack re-forms after a member leaves,
    // nothing is delivered to anyone, and the members that stay must not starve their
    // watchdogs for it (during a storage outage nothing else proves they live).
    // validate() keeps the fence delay at least watchdog timeout + this.
    [[nodiscard]] Duration proof_window() const {
        return std::max(slot_fresh_window(), membership_timeout);
    }
};

}  // namespace vigil::core
