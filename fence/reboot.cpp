#include "fence/reboot.h"

#include <fcntl.h>
#include <sys/reboot.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

namespace vigil::fence {

int LinuxRebootCalls::reboot_syscall() {
    ::reboot(RB_AUTOBOOT);
    return errno;
}

int LinuxRebootCalls::sysrq(char command) {
    const int fd = ::open(trigger_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    const ssize_t n = ::write(fd, &command, 1);
    const int err = n == 1 ? 0 : errno;
    ::close(fd);
    return err;
}

Error reboot_now(RebootCalls& calls) {
    const int syscall_err = calls.reboot_syscall();
    const int sysrq_err = calls.sysrq('b');
    std::string message =
        "could not reboot: reboot(2): " + errno_text(syscall_err) + "; SysRq 'b': ";
    // An accepted trigger that returns means SysRq is disabled in this kernel.
    message += sysrq_err == 0 ? "accepted but the host is still up" : errno_text(sysrq_err);
    return Error{ErrorKind::kFailed, std::move(message)};
}

}  // namespace vigil::fence
