// The hardware watchdog as vigild uses it: opened once at start and held for the
// daemon's lifetime, armed with the configured timeout, petted only from the
// event loop (a stalled loop must starve it), and disarmed by the magic close
// only on a deliberate, clean stop. Not thread-safe by design: it has one caller.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "daemon/ports/error.h"
#include "fence/watchdog_device.h"

namespace vigil::fence {

using SteadyClock = std::chrono::steady_clock;
using ClockFn = std::function<SteadyClock::time_point()>;

struct WatchdogOptions {
    std::filesystem::path path = "/dev/watchdog";
    std::chrono::seconds timeout{5};
};

enum class KeepaliveMethod : std::uint8_t { kIoctl, kWrite };

// Why the loop chose not to pet. Counted per reason for the metrics.
enum class WithholdReason : std::uint8_t {
    kFenceDecided,  // the decision core wants this host dead (reboot by starvation)
    kNotSafe,       // the core cannot vouch that running on is safe (no quorum, HA VMs here)
    kDeviceError,   // a keepalive was attempted and the device refused it
};
inline constexpr std::size_t kWithholdReasonCount = 3;
inline constexpr std::array<WithholdReason, kWithholdReasonCount> kWithholdReasons = {
    WithholdReason::kFenceDecided, WithholdReason::kNotSafe, WithholdReason::kDeviceError};

// Index into WatchdogStatus::withheld.
[[nodiscard]] constexpr std::size_t to_index(WithholdReason reason) {
    switch (reason) {
        case WithholdReason::kFenceDecided:
            return 0;
        case WithholdReason::kNotSafe:
            return 1;
        case WithholdReason::kDeviceError:
            return 2;
    }
    return 0;
}

[[nodiscard]] constexpr std::string_view name(WithholdReason reason) {
    switch (reason) {
        case WithholdReason::kFenceDecided:
            return "fence_decided";
        case WithholdReason::kNotSafe:
            return "not_safe";
        case WithholdReason::kDeviceError:
            return "device_error";
    }
    return "unknown";
}

[[nodiscard]] constexpr std::string_view name(KeepaliveMethod method) {
    switch (method) {
        case KeepaliveMethod::kIoctl:
            return "ioctl";
        case KeepaliveMethod::kWrite:
            return "write";
    }
    return "unknown";
}

// What the driver can do, learnt at start. A feature missing here is handled the
// way the daemon handles a missing kernel probe: used when present, reported.
struct WatchdogCapabilities {
    std::string identity;          // empty when WDIOC_GETSUPPORT is missing
    bool set_timeout = false;      // WDIOC_SETTIMEOUT works
    bool get_timeout = false;      // WDIOC_GETTIMEOUT works
    bool get_time_left = false;    // WDIOC_GETTIMELEFT works
    bool magic_close = false;      // WDIOF_MAGICCLOSE: without it any close stops the timer
    std::optional<bool> nowayout;  // true: nothing stops the timer, not even disarm()
    KeepaliveMethod keepalive = KeepaliveMethod::kIoctl;
};

struct TimeLeft {
    std::chrono::milliseconds value{0};
    bool from_device = false;  // false: estimated from the last pet and the timeout
};

// A snapshot for metrics and `vigilctl status`.
struct WatchdogStatus {
    bool armed = false;
    std::chrono::seconds timeout{0};
    std::optional<std::chrono::milliseconds> since_last_pet;
    std::optional<TimeLeft> time_left;
    std::uint64_t pets = 0;
    std::uint64_t late_pets = 0;  // the gap since the previous pet exceeded half the timeout
    std::array<std::uint64_t, kWithholdReasonCount> withheld{};
    WatchdogCapabilities capabilities;
};

class Watchdog {
  public:
    // Opens options.path, sets and checks the timeout, and pets once. When the
    // device cannot honour the configuration (kInvalidArgument, kUnsupported)
    // it is released with the magic close: refusing to run must not reset the
    // host. After any other failure the timer keeps running, as after a crash.
    [[nodiscard]] static std::expected<Watchdog, Error> make(const WatchdogOptions& options);
    // The same on a given device and clock (tests use a fake device).
    [[nodiscard]] static std::expected<Watchdog, Error> make(const WatchdogOptions& options,
                                                             std::unique_ptr<WatchdogDevice> device,
                                                             ClockFn clock);

    Watchdog(Watchdog&&) noexcept = default;
    Watchdog& operator=(Watchdog&&) noexcept = default;
    // Closes without the magic character: the timer keeps running, as after a crash.
    ~Watchdog();

    // Called from the event loop when the core says this host may live. A pet
    // from any other thread than the one that made the Watchdog is refused: a
    // helper thread could keep a host with a stalled loop alive.
    [[nodiscard]] std::expected<void, Error> pet();
    // Called from the event loop instead of pet() when the core says no.
    void withhold(WithholdReason reason);
    // From the driver when it can tell, else estimated from the last pet.
    [[nodiscard]] std::optional<TimeLeft> time_left();
    // The magic close: only for a deliberate, clean stop with no HA VM here.
    // With nowayout the device is released but the timer runs on: the error
    // (kUnsupported) says the host will be reset.
    [[nodiscard]] std::expected<void, Error> disarm();

    [[nodiscard]] WatchdogStatus status();
    // How often the loop should pet: a quarter of the timeout, so a single
    // late timer never starves the device but a stalled loop soon does.
    [[nodiscard]] std::chrono::milliseconds pet_interval() const {
        return std::max(std::chrono::milliseconds(100),
                        std::chrono::duration_cast<std::chrono::milliseconds>(timeout_) / 4);
    }
    [[nodiscard]] bool armed() const { return armed_; }
    [[nodiscard]] std::chrono::seconds timeout() const { return timeout_; }
    [[nodiscard]] const WatchdogCapabilities& capabilities() const { return capabilities_; }

  private:
    Watchdog(std::unique_ptr<WatchdogDevice> device, ClockFn clock)
        : device_(std::move(device)), clock_(std::move(clock)) {}
    [[nodiscard]] std::expected<void, Error> setup(std::chrono::seconds wanted);
    [[nodiscard]] std::expected<void, Error> keepalive();

    std::unique_ptr<WatchdogDevice> device_;
    ClockFn clock_;
    WatchdogCapabilities capabilities_;
    std::chrono::seconds timeout_{0};
    bool armed_ = false;
    std::optional<SteadyClock::time_point> last_pet_;
    std::thread::id loop_thread_;  // the thread that made it: the only one that may pet
    std::uint64_t pets_ = 0;
    std::uint64_t late_pets_ = 0;
    std::array<std::uint64_t, kWithholdReasonCount> withheld_{};
};

}  // namespace vigil::fence
