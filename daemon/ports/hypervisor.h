#pragma once

#include <string>

#include "daemon/core/types.h"
#include "daemon/ports/request.h"

namespace vigil::ports {

// The local hypervisor (libvirt). Every call returns at once; nothing here blocks.
// Results come back to the driver later, on the loop: each action's outcome as
// HostDriver::on_action (done, failed, locked elsewhere, timed out), state changes
// of HA VMs as core::VmEvidence (only when a state changes), listings as
// core::VmInventoryEvidence and the HA metadata as core::VmPolicyEvidence.
class Hypervisor {
  public:
    virtual ~Hypervisor() = default;
    [[nodiscard]] virtual RequestId start(const std::string& vm) = 0;
    // A graceful shutdown for the configured grace, then destroy. Done means no qemu
    // process for it remains here and its disk leases are released.
    [[nodiscard]] virtual RequestId stop(const std::string& vm) = 0;
    [[nodiscard]] virtual RequestId resume(const std::string& vm) = 0;
    // A live migration of a running VM to `target` (shared storage: its disks stay
    // where they are). Done means it runs there and no qemu for it remains here.
    // Failed or timed out means it did not move: the hypervisor aborts a migration
    // that ran out of time before it reports, so what ran here still runs here.
    [[nodiscard]] virtual RequestId migrate(const std::string& vm, core::HostId target) = 0;
    // Lists every HA VM here and reads their metadata again: one VmInventoryEvidence
    // and one VmPolicyEvidence follow.
    virtual void refresh() = 0;
};

}  // namespace vigil::ports
