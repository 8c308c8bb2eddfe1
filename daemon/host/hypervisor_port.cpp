#include "daemon/host/hypervisor_port.h"

#include "daemon/host/mapping.h"

namespace vigil::host {

ports::RequestId HypervisorPort::migrate(const std::string& vm, core::HostId target) {
    const auto it = migration_uris_.find(target);
    if (it == migration_uris_.end() || it->second.empty()) {
        return hv_.refuse(adapters::VmAction::kMigrate, vm,
                          "no migration_uri for " + core::host_name(target));
    }
    return hv_.migrate(vm, it->second);
}

adapters::HypervisorSink HypervisorPort::sink(const std::shared_ptr<HypervisorEvents>& events,
                                              const adapters::LibvirtHypervisor** hv) {
    adapters::HypervisorSink s;
    s.on_vm = [events](const core::VmEvidence& e) {
        if (events->on_evidence) events->on_evidence(e);
    };
    s.on_io_error = [events](const adapters::IoErrorEvent& e) {
        if (events->on_io_error) events->on_io_error(e);
        if (events->on_evidence) events->on_evidence(io_error_evidence(e));
    };
    s.on_action = [events](const adapters::ActionResult& r) {
        if (events->on_action) events->on_action(r.id, to_action_evidence(r));
    };
    s.on_listed = [events, hv] {
        if (*hv == nullptr || !events->on_evidence) return;
        // The policy first: the inventory lets the core publish, and what it
        // publishes should already know the VMs' policy.
        events->on_evidence(vm_policies((*hv)->vms()));
        events->on_evidence(vm_inventory((*hv)->vms()));
    };
    s.on_connection = [events](bool connected, const std::string& why) {
        if (events->on_connection) events->on_connection(connected, why);
    };
    s.on_bad_input = [events](const std::string& vm, const Error& why) {
        if (events->on_bad_input) events->on_bad_input(vm, why);
    };
    return s;
}

}  // namespace vigil::host
