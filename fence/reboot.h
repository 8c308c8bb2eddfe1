// "This host must die now": reboot(2) without syncing (a sync can hang forever
// on the very storage whose loss is the reason), and the magic SysRq 'b' if the
// system call is refused. If both fail the caller still has the watchdog: it
// must stop petting before it calls this.
#pragma once

#include <expected>
#include <filesystem>

#include "daemon/ports/error.h"

namespace vigil::fence {

// The two ways to reboot, behind an interface so tests never reboot the machine.
class RebootCalls {
  public:
    virtual ~RebootCalls() = default;
    // reboot(RB_AUTOBOOT): returns only on failure, with errno.
    [[nodiscard]] virtual int reboot_syscall() = 0;
    // Writes `command` to the SysRq trigger: returns 0 or errno.
    [[nodiscard]] virtual int sysrq(char command) = 0;
};

class LinuxRebootCalls final : public RebootCalls {
  public:
    explicit LinuxRebootCalls(std::filesystem::path trigger = "/proc/sysrq-trigger")
        : trigger_(std::move(trigger)) {}
    [[nodiscard]] int reboot_syscall() override;
    [[nodiscard]] int sysrq(char command) override;

  private:
    std::filesystem::path trigger_;
};

// Returns only if the host could not be rebooted, with both reasons.
[[nodiscard]] Error reboot_now(RebootCalls& calls);

}  // namespace vigil::fence
