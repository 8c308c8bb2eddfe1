// The Linux watchdog character-device API (Documentation/watchdog/watchdog-api
// in the kernel) behind a small interface, so the state handling in Watchdog can
// be tested against a fake with scripted failures. A driver that lacks an ioctl
// answers ENOTTY (or EOPNOTSUPP); that comes back as ErrorKind::kUnsupported.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/ports/error.h"

namespace vigil::fence {

// WDIOC_GETSUPPORT: what the driver says it can do.
struct WatchdogInfo {
    std::string identity;
    std::uint32_t options = 0;  // WDIOF_* bits
    std::uint32_t firmware_version = 0;
};

class WatchdogDevice {
  public:
    virtual ~WatchdogDevice() = default;

    [[nodiscard]] virtual std::expected<WatchdogInfo, Error> info() = 0;
    // Returns the timeout the driver really set, which may be rounded.
    [[nodiscard]] virtual std::expected<int, Error> set_timeout(int seconds) = 0;
    [[nodiscard]] virtual std::expected<int, Error> timeout() = 0;
    [[nodiscard]] virtual std::expected<int, Error> time_left() = 0;
    [[nodiscard]] virtual std::expected<void, Error> keepalive_ioctl() = 0;
    // Any write is a keepalive; a 'V' among the bytes arms the magic close.
    [[nodiscard]] virtual std::expected<void, Error> write(std::string_view bytes) = 0;
    // Releases the device. Without a preceding 'V' the timer keeps running.
    virtual void close() = 0;
    // Whether the driver was built or loaded with nowayout (the timer can never
    // be stopped, not even by the magic close); nullopt when it cannot tell.
    [[nodiscard]] virtual std::optional<bool> nowayout() { return std::nullopt; }
    [[nodiscard]] virtual const std::filesystem::path& path() const = 0;
};

// A process that holds a watchdog device open, for the refusal message.
struct DeviceHolder {
    int pid = 0;
    std::string command;
};

// The real device: an open(2) of `path` and the WDIOC_* ioctls. Opening starts
// the timer on most drivers. A second opener gets EBUSY from the kernel; the
// error then names the holders (sbd, wdmd, watchdog-mux, watchdog, systemd...).
class LinuxWatchdogDevice final : public WatchdogDevice {
  public:
    [[nodiscard]] static std::expected<std::unique_ptr<LinuxWatchdogDevice>, Error> open(
        const std::filesystem::path& path);
    ~LinuxWatchdogDevice() override;
    LinuxWatchdogDevice(const LinuxWatchdogDevice&) = delete;
    LinuxWatchdogDevice& operator=(const LinuxWatchdogDevice&) = delete;

    [[nodiscard]] std::expected<WatchdogInfo, Error> info() override;
    [[nodiscard]] std::expected<int, Error> set_timeout(int seconds) override;
    [[nodiscard]] std::expected<int, Error> timeout() override;
    [[nodiscard]] std::expected<int, Error> time_left() override;
    [[nodiscard]] std::expected<void, Error> keepalive_ioctl() override;
    [[nodiscard]] std::expected<void, Error> write(std::string_view bytes) override;
    void close() override;
    [[nodiscard]] std::optional<bool> nowayout() override;
    [[nodiscard]] const std::filesystem::path& path() const override { return path_; }

  private:
    LinuxWatchdogDevice(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
    [[nodiscard]] std::expected<int, Error> int_ioctl(unsigned long request, int value,
                                                      const char* what);

    std::filesystem::path path_;
    int fd_ = -1;
};

// Processes whose open files include `path` (by /proc/PID/fd link text, which
// never touches the file itself, so a stalled FUSE mount cannot hang the scan).
[[nodiscard]] std::vector<DeviceHolder> find_holders(const std::filesystem::path& path);

}  // namespace vigil::fence
