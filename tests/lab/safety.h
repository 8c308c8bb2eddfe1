// The lab's safety by structure: before anything runs inside a lab host that
// could reboot (vigild's self-fence calls reboot(2), then writes 'b' to
// /proc/sysrq-trigger), the lab proves from inside the host that
//   - the host has a PID namespace of its own, neither the lab's nor PID 1's
//     (reboot(2) there ends only the host's init, never the machine), and
//   - the SysRq trigger the host sees is the host's cover file (bound over
//     /proc/sysrq-trigger from the host's run folder), or there is none at
//     all (a kernel without SysRq, inside and outside the host).
// A host failing either is torn down before vigild starts. judge() is pure
// and unit-tested; probe() runs the inside half through Lab::exec.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "tests/lab/sys.h"

namespace vigil::lab {

class Lab;

// What the lab sees outside the host.
struct OutsideView {
    ino_t lab_pidns = 0;   // /proc/self/ns/pid of the lab process
    ino_t pid1_pidns = 0;  // /proc/1/ns/pid, 0 where even root may not read it
    ino_t init_pidns = 0;  // /proc/INIT/ns/pid of the host's init
    bool machine_has_trigger = false;
    dev_t cover_dev = 0;  // the host's cover file
    ino_t cover_ino = 0;
};

// What a process inside the host sees: the output of kInsideScript.
struct InsideView {
    ino_t pidns = 0;        // its own /proc/self/ns/pid
    bool trigger = false;   // /proc/sysrq-trigger exists
    dev_t trigger_dev = 0;  // and is this file
    ino_t trigger_ino = 0;
    int trigger_mounts = 0;  // mountinfo lines mounted at /proc/sysrq-trigger
};

struct Verdict {
    bool own_pidns = false;
    bool trigger_safe = false;
    std::string trigger;  // "covered", "absent (no SysRq in this kernel)", or why not
    ino_t inside_pidns = 0;
    ino_t machine_pidns = 0;
    ino_t init_pidns = 0;
    [[nodiscard]] bool ok() const { return own_pidns && trigger_safe; }
    [[nodiscard]] std::string text() const;
};

// The shell script run inside the host; parse_inside() reads its output.
inline constexpr const char* kInsideScript =
    "readlink /proc/self/ns/pid; "
    "if [ -e /proc/sysrq-trigger ]; then stat -L -c 'trigger %d %i' /proc/sysrq-trigger; "
    "else echo 'trigger absent'; fi; "
    "echo \"mounts $(grep -c ' /proc/sysrq-trigger ' /proc/self/mountinfo)\"";

[[nodiscard]] Result<InsideView> parse_inside(const std::string& output);
[[nodiscard]] Verdict judge(const OutsideView& outside, const InsideView& inside);

// Both halves for host `h` of a running lab.
[[nodiscard]] Result<Verdict> probe_safety(const Lab& lab, int h);

}  // namespace vigil::lab
