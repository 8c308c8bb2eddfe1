#include "fence/vm_stop.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <utility>

namespace vigil::fence {

namespace {

void silent(void*, virErrorPtr) {}

Error libvirt_error(const std::string& what) {
    const char* text = virGetLastErrorMessage();
    const int code = virGetLastErrorCode();
    const ErrorKind kind = code == VIR_ERR_NO_DOMAIN           ? ErrorKind::kNotFound
                           : code == VIR_ERR_OPERATION_TIMEOUT ? ErrorKind::kTimedOut
                                                               : ErrorKind::kFailed;
    return Error{kind, what + ": " + (text ? text : "unknown libvirt error")};
}

struct DomainRef {
    virDomainPtr ptr = nullptr;
    ~DomainRef() {
        if (ptr) virDomainFree(ptr);
    }
};

}  // namespace

std::expected<LibvirtDomainControl, Error> LibvirtDomainControl::make(const std::string& uri) {
    virConnectPtr conn = virConnectOpen(uri.c_str());
    if (!conn) return std::unexpected(libvirt_error("connect to libvirt at " + uri));
    // Errors are returned to the caller; libvirt's default prints them too.
    virConnSetErrorFunc(conn, nullptr, silent);
    return LibvirtDomainControl(conn);
}

LibvirtDomainControl LibvirtDomainControl::share(virConnectPtr conn) {
    virConnectRef(conn);
    return LibvirtDomainControl(conn);
}

LibvirtDomainControl::LibvirtDomainControl(LibvirtDomainControl&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)) {}

LibvirtDomainControl& LibvirtDomainControl::operator=(LibvirtDomainControl&& other) noexcept {
    if (this != &other) {
        if (conn_) virConnectClose(conn_);
        conn_ = std::exchange(other.conn_, nullptr);
    }
    return *this;
}

LibvirtDomainControl::~LibvirtDomainControl() {
    if (conn_) virConnectClose(conn_);
}

std::expected<DomainState, Error> LibvirtDomainControl::state(const std::string& name) {
    DomainRef dom{virDomainLookupByName(conn_, name.c_str())};
    if (!dom.ptr) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return DomainState::kMissing;
        return std::unexpected(libvirt_error("look up VM " + name));
    }
    int state = 0;
    int reason = 0;
    if (virDomainGetState(dom.ptr, &state, &reason, 0) != 0) {
        return std::unexpected(libvirt_error("state of VM " + name));
    }
    switch (static_cast<virDomainState>(state)) {
        case VIR_DOMAIN_RUNNING:
        case VIR_DOMAIN_BLOCKED:
            return DomainState::kRunning;
        case VIR_DOMAIN_PAUSED:
        case VIR_DOMAIN_PMSUSPENDED:
            return DomainState::kPaused;
        case VIR_DOMAIN_SHUTDOWN:
            return DomainState::kShuttingDown;
        case VIR_DOMAIN_SHUTOFF:
            return DomainState::kShutOff;
        case VIR_DOMAIN_CRASHED:
            return DomainState::kCrashed;
        case VIR_DOMAIN_NOSTATE:
            return DomainState::kOther;
#ifdef VIR_DOMAIN_LAST
        case VIR_DOMAIN_LAST:
            return DomainState::kOther;
#endif
    }
    return DomainState::kOther;
}

std::expected<void, Error> LibvirtDomainControl::shutdown(const std::string& name) {
    DomainRef dom{virDomainLookupByName(conn_, name.c_str())};
    if (!dom.ptr || virDomainShutdown(dom.ptr) != 0) {
        return std::unexpected(libvirt_error("shut down VM " + name));
    }
    return {};
}

std::expected<void, Error> LibvirtDomainControl::destroy(const std::string& name) {
    DomainRef dom{virDomainLookupByName(conn_, name.c_str())};
    if (!dom.ptr || virDomainDestroy(dom.ptr) != 0) {
        return std::unexpected(libvirt_error("destroy VM " + name));
    }
    return {};
}

VmStopJob VmStopJob::start(DomainControl& control, std::vector<std::string> names,
                           std::chrono::milliseconds grace, TimePoint now) {
    VmStopJob job(control, now + grace);
    for (auto& name : names) {
        VmStopResult vm{std::move(name), VmStopOutcome::kPending, {}};
        auto state = control.state(vm.name);
        if (!state) {
            // Unknown state: try the graceful path anyway; step() decides later.
            vm.detail = state.error().message;
        } else {
            switch (*state) {
                case DomainState::kShutOff:
                case DomainState::kCrashed:
                case DomainState::kMissing:
                    vm.outcome = VmStopOutcome::kAlreadyStopped;
                    break;
                case DomainState::kPaused:
                    // A guest paused on an I/O error cannot react to a shutdown request.
                    job.destroy(vm);
                    break;
                case DomainState::kRunning:
                case DomainState::kShuttingDown:
                case DomainState::kOther:
                    break;
            }
        }
        if (vm.outcome == VmStopOutcome::kPending) {
            if (auto ok = control.shutdown(vm.name); !ok) {
                // The grace still applies; a refused shutdown ends in destroy.
                vm.detail = ok.error().message;
            }
        }
        job.results_.push_back(std::move(vm));
    }
    return job;
}

void VmStopJob::destroy(VmStopResult& vm) {
    if (auto ok = control_->destroy(vm.name); !ok) {
        // It may have stopped on its own just now.
        auto state = control_->state(vm.name);
        if (state && (*state == DomainState::kShutOff || *state == DomainState::kMissing)) {
            vm.outcome = VmStopOutcome::kShutDown;
            return;
        }
        vm.outcome = VmStopOutcome::kFailed;
        vm.detail = ok.error().message;
        return;
    }
    vm.outcome = VmStopOutcome::kDestroyed;
}

bool VmStopJob::step(TimePoint now) {
    for (auto& vm : results_) {
        if (vm.outcome != VmStopOutcome::kPending) continue;
        auto state = control_->state(vm.name);
        if (state && (*state == DomainState::kShutOff || *state == DomainState::kMissing ||
                      *state == DomainState::kCrashed)) {
            vm.outcome = VmStopOutcome::kShutDown;
            continue;
        }
        if (state && *state == DomainState::kPaused) {
            destroy(vm);
            continue;
        }
        if (now >= deadline_) destroy(vm);
    }
    return done();
}

bool VmStopJob::done() const {
    for (const auto& vm : results_) {
        if (vm.outcome == VmStopOutcome::kPending) return false;
    }
    return true;
}

bool VmStopJob::all_stopped() const {
    for (const auto& vm : results_) {
        if (vm.outcome == VmStopOutcome::kPending || vm.outcome == VmStopOutcome::kFailed)
            return false;
    }
    return true;
}

}  // namespace vigil::fence
