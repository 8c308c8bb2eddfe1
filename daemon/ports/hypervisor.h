#pragma once

#include <expected>
#include <string>
#include <vector>

#include "daemon/core/evidence.h"

namespace vigil::ports {

// The local hypervisor (libvirt). Results of these calls come back as VmEvidence.
class Hypervisor {
  public:
    virtual ~Hypervisor() = default;
    [[nodiscard]] virtual std::expected<void, std::string> start_vm(const std::string& vm) = 0;
    // Destroy and release the disk leases: after success no qemu process for it remains.
    [[nodiscard]] virtual std::expected<void, std::string> stop_vm(const std::string& vm) = 0;
    [[nodiscard]] virtual std::expected<void, std::string> resume_vm(const std::string& vm) = 0;
    [[nodiscard]] virtual std::vector<core::VmEvidence> list_vms() = 0;
};

}  // namespace vigil::ports
