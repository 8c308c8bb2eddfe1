#pragma once

// The recovery planner: which HA VM to start where once nobody can still write its
// disks. It sees the cluster only through a RecoveryView the engine fills at every
// tick, so it can be driven and tested alone.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "daemon/core/alerts.h"
#include "daemon/core/decision.h"
#include "daemon/core/policy.h"
#include "daemon/core/types.h"

namespace vigil::core {

// What the planner may know, read-only.
struct RecoveryView {
    HostId self;
    std::map<HostId, PeerClass> peers;             // every configured peer, as classified now
    std::map<std::string, HostId> held;            // VM -> host with a qemu for it (or starting it)
    std::map<std::string, HostId> last_holders;    // VM -> the last host seen holding it
    std::map<HostId, std::uint64_t> capacity_mib;  // memory of each host eligible for placement
    std::span<const VmPolicy> vms;                 // the HA VMs
    // VM -> hosts that could not start it lately (HostStatus::declined): placed elsewhere.
    std::map<std::string, std::set<HostId>> declined;
    // Peers whose newest status says they take no assignment now (takes_assignments).
    std::set<HostId> refusing;
};

// The host says it may start what it is assigned: quorate, storage fine, not in
// maintenance or cordoned, ok. A status that says otherwise is a promise too: it will
// not act on a plan made before it (Assignment::target_sequence).
[[nodiscard]] bool takes_assignments(const HostStatus& s);

// Why a VM that nobody holds may start elsewhere, and who held it last.
struct Recoverable {
    Reason reason = Reason::kNotRunningAnywhere;
    std::optional<HostId> owner;
};

// Nobody holds the VM and nobody we cannot hear might still run it: its last holder
// is dead, or speaks for itself and no longer lists it; a VM never seen held waits
// until no peer is suspect.
[[nodiscard]] std::optional<Recoverable> recoverable(const RecoveryView& view,
                                                     const std::string& vm);

// Draining: how many hosts other than view.self have room for `vm` now, once the
// `moving` VMs held nowhere or still held here (on their way out of it, or waiting
// to be recovered) have taken theirs: each one `migrating` on its target, the others
// placed as plan() would (highest priority first, on the most free memory). Hosts
// that declined the VM lately do not count.
[[nodiscard]] std::size_t hosts_with_room(const RecoveryView& view, const std::string& vm,
                                          const std::vector<std::string>& moving,
                                          const std::map<std::string, HostId>& migrating = {});

struct DrainTarget {
    HostId host;
    std::int64_t free_mib = 0;  // its free memory before `vm` takes its share
};

// Draining by live migration: where `vm` goes, by plan()'s rule for a VM to place
// (the eligible host with the most free memory left, lowest id on a tie; eligible as
// for placement: alive, in the membership, quorate, storage fine, not in maintenance
// nor cordoned), once the moving VMs have taken their room as in hosts_with_room().
// nullopt: no host has room.
[[nodiscard]] std::optional<DrainTarget> drain_target(
    const RecoveryView& view, const std::string& vm, const std::vector<std::string>& moving,
    const std::map<std::string, HostId>& migrating);

struct RecoveryPlan {
    std::vector<Decision> assigned;  // kAssignVm, one per new assignment
    std::vector<Alert> alerts;       // no capacity for a VM
};

class RecoveryPlanner {
  public:
    // Places every recoverable VM, highest priority first (then by name), on the
    // eligible host with the most free memory left (lowest id on a tie); held VMs use
    // their host's memory. An assignment stays while its target is eligible and the
    // VM recoverable, so a plan does not move between hosts while it is carried out;
    // a target that declined the VM (its start failed) loses it to another host. A
    // peer target that is no longer eligible may be starting the VM from the plan it
    // read last: the VM moves only once that target is dead or its own status says it
    // takes no assignment (refusing) and does not hold it.
    [[nodiscard]] RecoveryPlan plan(const RecoveryView& view);
    // Not coordinating: no plan.
    void clear() { assignments_.clear(); }
    [[nodiscard]] const std::map<std::string, HostId>& assignments() const { return assignments_; }

  private:
    std::map<std::string, HostId> assignments_;
};

}  // namespace vigil::core
