// The Hypervisor port over libvirt (adapters::LibvirtHypervisor). Request ids
// are the adapter's action ids (unique, never 0). Its sink is built here:
// results, state changes, listings and I/O-error reasons become core evidence
// for the driver; domains whose XML was refused are counted as bad input.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "daemon/adapters/hypervisor.h"
#include "daemon/core/evidence.h"
#include "daemon/ports/hypervisor.h"

namespace vigil::host {

struct HypervisorEvents {
    std::function<void(ports::RequestId, const core::ActionEvidence&)> on_action;
    std::function<void(const core::Evidence&)> on_evidence;
    std::function<void(const adapters::IoErrorEvent&)> on_io_error;  // for the log
    std::function<void(bool connected, const std::string& why)> on_connection;
    std::function<void(const std::string& vm, const Error& why)> on_bad_input;
};

class HypervisorPort final : public ports::Hypervisor {
  public:
    // The sink the adapter is made with; it calls into `port` once set.
    [[nodiscard]] static adapters::HypervisorSink sink(
        const std::shared_ptr<HypervisorEvents>& events, const adapters::LibvirtHypervisor** hv);

    // `migration_uris`: each host's libvirt URI for live migrations to it
    // (`[[cluster.hosts]] migration_uri`); a host without one cannot take one.
    explicit HypervisorPort(adapters::LibvirtHypervisor& hv,
                            std::map<core::HostId, std::string> migration_uris = {})
        : hv_(hv), migration_uris_(std::move(migration_uris)) {}
    [[nodiscard]] ports::RequestId start(const std::string& vm) override { return hv_.start(vm); }
    [[nodiscard]] ports::RequestId stop(const std::string& vm) override { return hv_.stop(vm); }
    [[nodiscard]] ports::RequestId resume(const std::string& vm) override { return hv_.resume(vm); }
    [[nodiscard]] ports::RequestId migrate(const std::string& vm, core::HostId target) override;
    void refresh() override { hv_.refresh(); }

  private:
    adapters::LibvirtHypervisor& hv_;
    std::map<core::HostId, std::string> migration_uris_;
};

}  // namespace vigil::host
