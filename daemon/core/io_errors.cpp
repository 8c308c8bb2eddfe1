#include "daemon/core/io_errors.h"

#include "daemon/core/facts.h"

namespace vigil::core {

bool IoErrorResponder::resuming(const std::string& vm, TimePoint now) const {
    const auto it = resuming_.find(vm);
    return it != resuming_.end() && now - it->second < retry_after_;
}

void IoErrorResponder::on_vm_state(const std::string& vm, VmState state) {
    if (state != VmState::kPausedIoError) resuming_.erase(vm);
}

IoErrorResponse IoErrorResponder::respond(TimePoint now, const std::vector<PausedVm>& vms,
                                          bool trouble_is_local, bool quorate) {
    IoErrorResponse out;
    for (const auto& vm : vms) {
        out.alerts.push_back(Alert{.key = "vm-io-error:" + vm.name,
                                   .kind = AlertKind::kVmIoError,
                                   .reason = Reason::kVmIoError,
                                   .evidence = {fact("domain", vm.domain)},
                                   .vm = vm.name});
        switch (vm.policy) {
            case IoErrorPolicy::kAutoResume:
                if (vm.domain_writable && !resuming(vm.name, now)) {
                    resuming_[vm.name] = now;
                    out.decisions.push_back(Decision{.kind = DecisionKind::kResumeVm,
                                                     .reason = Reason::kStorageBack,
                                                     .vm = vm.name,
                                                     .evidence = {fact("domain", vm.domain)}});
                }
                break;
            case IoErrorPolicy::kLeavePaused:
                out.alerts.push_back(Alert{.key = "vm-left-paused:" + vm.name,
                                           .kind = AlertKind::kVmLeftPaused,
                                           .reason = Reason::kVmIoError,
                                           .evidence = {fact("domain", vm.domain)},
                                           .vm = vm.name});
                break;
            case IoErrorPolicy::kRecoverElsewhere:
                if (trouble_is_local && quorate && !vm.io_in_flight) {
                    out.decisions.push_back(
                        Decision{.kind = DecisionKind::kStopVm,
                                 .reason = Reason::kIoErrorPolicyRecoverElsewhere,
                                 .vm = vm.name,
                                 .evidence = {fact("domain", vm.domain)}});
                }
                break;
        }
    }
    return out;
}

}  // namespace vigil::core
