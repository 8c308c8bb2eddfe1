#include "tests/lab/loops.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <ostream>

#include "tests/lab/layout.h"

namespace vigil::lab {
namespace fs = std::filesystem;

namespace {
std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }
}  // namespace

Result<Loop> attach_loop(const std::string& backing) {
    const int file = ::open(backing.c_str(), O_RDWR | O_CLOEXEC);
    if (file < 0) return fail(errno_text("open " + backing));
    const int ctl = ::open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) {
        ::close(file);
        return fail(errno_text("open /dev/loop-control"));
    }
    // Other users of the machine take loop devices too: a free one may be
    // gone by the time it is configured, so try again.
    std::string last = "no free loop device";
    for (int attempt = 0; attempt < 20; ++attempt) {
        const int n = ::ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0) {
            last = errno_text("LOOP_CTL_GET_FREE");
            break;
        }
        auto name = "loop" + std::to_string(n);
        const int dev = ::open(("/dev/" + name).c_str(), O_RDWR | O_CLOEXEC);
        if (dev < 0) {
            last = errno_text("open /dev/" + name);
            continue;
        }
        loop_config cfg{};
        cfg.fd = static_cast<__u32>(file);
        cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
        std::strncpy(reinterpret_cast<char*>(cfg.info.lo_file_name), backing.c_str(),
                     LO_NAME_SIZE - 1);
        if (::ioctl(dev, LOOP_CONFIGURE, &cfg) != 0) {
            last = errno_text("LOOP_CONFIGURE /dev/" + name);
            ::close(dev);
            if (errno == EBUSY) continue;
            break;
        }
        struct stat st {};
        ::fstat(dev, &st);
        ::close(file);
        ::close(ctl);
        return Loop{.fd = dev, .name = name, .dev = st.st_rdev};
    }
    ::close(file);
    ::close(ctl);
    return fail("cannot attach a loop device to " + backing + ": " + last);
}

std::vector<std::string> loops_of_run(const std::string& run_id) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/sys/block", ec)) {
        auto name = e.path().filename().string();
        if (!name.starts_with("loop")) continue;
        auto backing = read_file(e.path() / "loop" / "backing_file");
        if (!backing) continue;
        auto text = *backing;
        while (!text.empty() && text.back() == '\n') text.pop_back();
        if (Layout::backing_of_run(text, run_id)) out.push_back(name);
    }
    return out;
}

void detach_loops_of_run(const std::string& run_id, std::ostream& log) {
    for (const auto& name : loops_of_run(run_id)) {
        const int dev = ::open(("/dev/" + name).c_str(), O_RDONLY | O_CLOEXEC);
        if (dev < 0 || ::ioctl(dev, LOOP_CLR_FD, 0) != 0)
            log << "warning: cannot detach /dev/" << name << ": " << std::strerror(errno) << "\n";
        if (dev >= 0) ::close(dev);
    }
}

}  // namespace vigil::lab
