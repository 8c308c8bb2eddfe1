#pragma once

// The I/O-error policy: what to do with a local HA VM that qemu paused on an I/O
// error (werror/rerror=stop), per its policy: resume it once its storage is writable
// again, leave it paused for a person, or stop it so it starts on a host that sees
// its storage.

#include <map>
#include <string>
#include <vector>

#include "daemon/core/alerts.h"
#include "daemon/core/decision.h"
#include "daemon/core/policy.h"
#include "daemon/core/types.h"

namespace vigil::core {

// One local HA VM paused for an I/O error and not being stopped, with what this host
// knows of its storage domain.
struct PausedVm {
    std::string name;
    IoErrorPolicy policy = IoErrorPolicy::kAutoResume;
    std::string domain;
    bool domain_writable = false;
    bool io_in_flight = false;  // requests on the domain issued and not completed
};

struct IoErrorResponse {
    std::vector<Decision> decisions;  // kResumeVm, kStopVm
    std::vector<Alert> alerts;        // the VM's I/O error; left paused
};

class IoErrorResponder {
  public:
    // A resume that has not taken after retry_after is asked again.
    explicit IoErrorResponder(Duration retry_after) : retry_after_(retry_after) {}

    // trouble_is_local: our storage trouble is ours alone, so the VM may run where the
    // storage works; it is stopped only then, while quorate (the coordinator must be
    // able to place it) and with nothing in flight (a late write could land after it
    // started elsewhere).
    [[nodiscard]] IoErrorResponse respond(TimePoint now, const std::vector<PausedVm>& vms,
                                          bool trouble_is_local, bool quorate);
    // What the hypervisor reports: a VM no longer paused for an I/O error needs no resume.
    void on_vm_state(const std::string& vm, VmState state);

  private:
    [[nodiscard]] bool resuming(const std::string& vm, TimePoint now) const;

    Duration retry_after_;
    std::map<std::string, TimePoint> resuming_;  // resumes asked for, and when
};

}  // namespace vigil::core
