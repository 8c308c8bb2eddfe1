#include "fence/watchdog.h"

#include <linux/watchdog.h>

#include <utility>

namespace vigil::fence {

namespace {

bool unsupported(const Error& e) { return e.kind == ErrorKind::kUnsupported; }

}  // namespace

std::expected<Watchdog, Error> Watchdog::make(const WatchdogOptions& options) {
    auto device = LinuxWatchdogDevice::open(options.path);
    if (!device) return std::unexpected(std::move(device.error()));
    return make(options, std::move(*device), [] { return SteadyClock::now(); });
}

std::expected<Watchdog, Error> Watchdog::make(const WatchdogOptions& options,
                                              std::unique_ptr<WatchdogDevice> device,
                                              ClockFn clock) {
    if (options.timeout.count() <= 0) {
        return std::unexpected(
            Error{ErrorKind::kInvalidArgument, "watchdog timeout must be positive"});
    }
    Watchdog dog(std::move(device), std::move(clock));
    dog.loop_thread_ = std::this_thread::get_id();
    dog.armed_ = true;  // opening started the timer
    if (auto ok = dog.setup(options.timeout); !ok) {
        // A configuration the device cannot honour will not heal by restarting:
        // stop the timer rather than reset the host over it. Any other failure
        // (an I/O error) may hit a restart while HA VMs run here, so the timer
        // keeps running, as after a crash.
        const bool config_error = ok.error().kind == ErrorKind::kInvalidArgument ||
                                  ok.error().kind == ErrorKind::kUnsupported;
        if (config_error) {
            if (auto off = dog.disarm(); !off) {
                ok.error().message += "; and stopping it failed: " + off.error().message;
            }
        }
        return std::unexpected(std::move(ok.error()));
    }
    return dog;
}

std::expected<void, Error> Watchdog::setup(std::chrono::seconds wanted) {
    const auto& where = device_->path().string();
    if (auto info = device_->info()) {
        capabilities_.identity = info->identity;
        capabilities_.magic_close = (info->options & WDIOF_MAGICCLOSE) != 0;
    } else if (!unsupported(info.error())) {
        return std::unexpected(std::move(info.error()));
    }

    capabilities_.nowayout = device_->nowayout();

    const int seconds = static_cast<int>(wanted.count());
    if (auto set = device_->set_timeout(seconds)) {
        capabilities_.set_timeout = true;
        if (*set != seconds) {
            return std::unexpected(Error{ErrorKind::kInvalidArgument,
                                         where + " cannot time out after " +
                                             std::to_string(seconds) + " s (the driver set " +
                                             std::to_string(*set) +
                                             " s); choose a timeout it accepts"});
        }
    } else if (!unsupported(set.error())) {
        // EINVAL: outside the driver's range.
        set.error().message += " (timeout " + std::to_string(seconds) + " s)";
        return std::unexpected(std::move(set.error()));
    }

    if (auto got = device_->timeout()) {
        capabilities_.get_timeout = true;
        if (*got != seconds) {
            return std::unexpected(Error{ErrorKind::kInvalidArgument,
                                         where + " times out after " + std::to_string(*got) +
                                             " s, not the configured " + std::to_string(seconds) +
                                             " s, and it cannot be changed"});
        }
    } else if (!unsupported(got.error())) {
        return std::unexpected(std::move(got.error()));
    } else if (!capabilities_.set_timeout) {
        // Peers compute the fence delay from this timeout; an unknown one is unsafe.
        return std::unexpected(
            Error{ErrorKind::kUnsupported, where + " can neither set nor report its timeout"});
    }
    timeout_ = wanted;

    if (auto left = device_->time_left()) {
        capabilities_.get_time_left = true;
    } else if (!unsupported(left.error())) {
        return std::unexpected(std::move(left.error()));
    }

    if (auto ping = device_->keepalive_ioctl()) {
        capabilities_.keepalive = KeepaliveMethod::kIoctl;
    } else if (unsupported(ping.error())) {
        capabilities_.keepalive = KeepaliveMethod::kWrite;
        if (auto w = device_->write(std::string_view("\0", 1)); !w)
            return std::unexpected(std::move(w.error()));
    } else {
        return std::unexpected(std::move(ping.error()));
    }
    last_pet_ = clock_();
    ++pets_;
    return {};
}

Watchdog::~Watchdog() {
    if (device_) device_->close();
}

std::expected<void, Error> Watchdog::keepalive() {
    switch (capabilities_.keepalive) {
        case KeepaliveMethod::kIoctl:
            return device_->keepalive_ioctl();
        case KeepaliveMethod::kWrite:
            return device_->write(std::string_view("\0", 1));
    }
    return {};
}

std::expected<void, Error> Watchdog::pet() {
    if (!armed_) return std::unexpected(Error{ErrorKind::kFailed, "watchdog is disarmed"});
    if (std::this_thread::get_id() != loop_thread_) {
        return std::unexpected(
            Error{ErrorKind::kFailed, "watchdog petted from a thread other than the event loop's"});
    }
    if (auto ok = keepalive(); !ok) {
        ++withheld_[to_index(WithholdReason::kDeviceError)];
        return ok;
    }
    const auto now = clock_();
    if (last_pet_ && now - *last_pet_ > timeout_ / 2) ++late_pets_;
    last_pet_ = now;
    ++pets_;
    return {};
}

void Watchdog::withhold(WithholdReason reason) { ++withheld_[to_index(reason)]; }

std::optional<TimeLeft> Watchdog::time_left() {
    if (!armed_) return std::nullopt;
    if (capabilities_.get_time_left) {
        if (auto left = device_->time_left()) {
            return TimeLeft{std::chrono::seconds(*left), true};
        }
    }
    if (!last_pet_) return std::nullopt;
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_() - *last_pet_);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(timeout_) - elapsed;
    return TimeLeft{left.count() > 0 ? left : std::chrono::milliseconds(0), false};
}

std::expected<void, Error> Watchdog::disarm() {
    if (!armed_) return {};
    // The kernel stops the timer on close only if the last write held a 'V'
    // (drivers without WDIOF_MAGICCLOSE stop on any close; the 'V' is harmless).
    auto ok = device_->write("V");
    device_->close();
    armed_ = false;
    if (ok && capabilities_.nowayout == true) {
        return std::unexpected(
            Error{ErrorKind::kUnsupported, device_->path().string() +
                                               " has nowayout set: the timer cannot be stopped and "
                                               "will reset this host"});
    }
    return ok;
}

WatchdogStatus Watchdog::status() {
    WatchdogStatus s;
    s.armed = armed_;
    s.timeout = timeout_;
    if (last_pet_) {
        s.since_last_pet =
            std::chrono::duration_cast<std::chrono::milliseconds>(clock_() - *last_pet_);
    }
    s.time_left = time_left();
    s.pets = pets_;
    s.late_pets = late_pets_;
    s.withheld = withheld_;
    s.capabilities = capabilities_;
    return s;
}

}  // namespace vigil::fence
