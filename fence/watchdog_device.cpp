#include "fence/watchdog_device.h"

#include <fcntl.h>
#include <linux/watchdog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <system_error>

namespace vigil::fence {

namespace {

std::string describe_holders(const std::vector<DeviceHolder>& holders) {
    if (holders.empty()) return "no holder found in /proc (another namespace?)";
    std::string text = "held by";
    for (const auto& h : holders) text += " " + h.command + "[" + std::to_string(h.pid) + "]";
    return text;
}

}  // namespace

std::expected<std::unique_ptr<LinuxWatchdogDevice>, Error> LinuxWatchdogDevice::open(
    const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        auto error = Error::from_errno("open watchdog " + path.string(), err);
        if (err == EBUSY) {
            // The kernel lets one process hold the device; name it so the admin
            // knows which watchdog client (sbd, wdmd, watchdog(8), systemd
            // RuntimeWatchdogSec, ...) to disable before vigil may own it.
            error.message +=
                "; another watchdog client owns it, " + describe_holders(find_holders(path));
        }
        return std::unexpected(std::move(error));
    }
    return std::unique_ptr<LinuxWatchdogDevice>(new LinuxWatchdogDevice(path, fd));
}

LinuxWatchdogDevice::~LinuxWatchdogDevice() { close(); }

void LinuxWatchdogDevice::close() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

std::optional<bool> LinuxWatchdogDevice::nowayout() {
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISCHR(st.st_mode)) return std::nullopt;
    // /dev/watchdogN has the attribute itself; the legacy /dev/watchdog (misc
    // 10:130) is the first watchdog's alias.
    std::string attr = "/sys/dev/char/" + std::to_string(major(st.st_rdev)) + ":" +
                       std::to_string(minor(st.st_rdev)) + "/nowayout";
    if (major(st.st_rdev) == 10 && minor(st.st_rdev) == 130) {
        attr = "/sys/class/watchdog/watchdog0/nowayout";
    }
    int value = -1;
    std::ifstream(attr) >> value;
    if (value < 0) return std::nullopt;
    return value != 0;
}

std::expected<WatchdogInfo, Error> LinuxWatchdogDevice::info() {
    watchdog_info raw{};
    if (::ioctl(fd_, WDIOC_GETSUPPORT, &raw) != 0) {
        return std::unexpected(Error::from_errno("WDIOC_GETSUPPORT on " + path_.string(), errno));
    }
    WatchdogInfo result;
    const auto* identity = reinterpret_cast<const char*>(raw.identity);
    result.identity.assign(identity, strnlen(identity, sizeof(raw.identity)));
    result.options = raw.options;
    result.firmware_version = raw.firmware_version;
    return result;
}

std::expected<int, Error> LinuxWatchdogDevice::int_ioctl(unsigned long request, int value,
                                                         const char* what) {
    if (::ioctl(fd_, request, &value) != 0) {
        return std::unexpected(
            Error::from_errno(std::string(what) + " on " + path_.string(), errno));
    }
    return value;
}

std::expected<int, Error> LinuxWatchdogDevice::set_timeout(int seconds) {
    return int_ioctl(WDIOC_SETTIMEOUT, seconds, "WDIOC_SETTIMEOUT");
}

std::expected<int, Error> LinuxWatchdogDevice::timeout() {
    return int_ioctl(WDIOC_GETTIMEOUT, 0, "WDIOC_GETTIMEOUT");
}

std::expected<int, Error> LinuxWatchdogDevice::time_left() {
    return int_ioctl(WDIOC_GETTIMELEFT, 0, "WDIOC_GETTIMELEFT");
}

std::expected<void, Error> LinuxWatchdogDevice::keepalive_ioctl() {
    auto r = int_ioctl(WDIOC_KEEPALIVE, 0, "WDIOC_KEEPALIVE");
    if (!r) return std::unexpected(std::move(r.error()));
    return {};
}

std::expected<void, Error> LinuxWatchdogDevice::write(std::string_view bytes) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) return std::unexpected(Error::from_errno("write to " + path_.string(), errno));
    if (static_cast<size_t>(n) != bytes.size()) {
        return std::unexpected(Error{ErrorKind::kIo, "short write to " + path_.string()});
    }
    return {};
}

std::vector<DeviceHolder> find_holders(const std::filesystem::path& path) {
    std::error_code ec;
    const auto target = std::filesystem::weakly_canonical(path, ec).string();
    // /dev/watchdog and /dev/watchdogN name one device; systemd's
    // RuntimeWatchdogSec, for one, holds /dev/watchdog0.
    constexpr std::string_view kDevPrefix = "/dev/watchdog";
    const bool any_dev_watchdog = target.rfind(kDevPrefix, 0) == 0;
    std::vector<DeviceHolder> holders;
    for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
        const auto name = proc.path().filename().string();
        int pid = 0;
        if (std::from_chars(name.data(), name.data() + name.size(), pid).ec != std::errc{})
            continue;
        std::error_code fd_ec;
        for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fd_ec)) {
            std::error_code link_ec;
            const auto link = std::filesystem::read_symlink(fd.path(), link_ec).string();
            const bool same =
                link == target || (any_dev_watchdog && link.rfind(kDevPrefix, 0) == 0);
            if (!same) continue;
            std::string command;
            std::ifstream(proc.path() / "comm") >> command;
            holders.push_back({pid, command});
            break;
        }
    }
    return holders;
}

}  // namespace vigil::fence
