// A scripted stand-in for a watchdog driver: which ioctls exist, how it rounds
// timeouts, and which calls fail next. The state is shared so a test can look at
// it after handing the device to a Watchdog.
#pragma once

#include <linux/watchdog.h>

#include <cerrno>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "fence/watchdog_device.h"

namespace vigil::fence::testing {

struct FakeDeviceState {
    bool has_getsupport = true;
    bool has_settimeout = true;
    bool has_gettimeout = true;
    bool has_gettimeleft = true;
    bool has_keepalive_ioctl = true;
    std::uint32_t options = WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE | WDIOF_KEEPALIVEPING;
    int granularity = 1;  // the driver rounds timeouts up to a multiple of this
    int max_timeout = 60;
    int timeout = 30;
    int time_left = 0;
    std::deque<int> keepalive_errors;  // errno for the next keepalives, 0 = success
    int keepalives = 0;
    std::string written;
    bool expect_close = false;
    bool closed = false;
    bool stopped_by_close = false;
    std::optional<bool> nowayout;
};

class FakeWatchdogDevice final : public WatchdogDevice {
  public:
    explicit FakeWatchdogDevice(std::shared_ptr<FakeDeviceState> state)
        : state_(std::move(state)) {}

    std::expected<WatchdogInfo, Error> info() override {
        if (!state_->has_getsupport) return std::unexpected(missing("WDIOC_GETSUPPORT"));
        return WatchdogInfo{"fake", state_->options, 1};
    }
    std::expected<int, Error> set_timeout(int seconds) override {
        if (!state_->has_settimeout) return std::unexpected(missing("WDIOC_SETTIMEOUT"));
        if (seconds < 1 || seconds > state_->max_timeout) {
            return std::unexpected(Error::from_errno("WDIOC_SETTIMEOUT", EINVAL));
        }
        const int g = state_->granularity;
        state_->timeout = (seconds + g - 1) / g * g;
        return state_->timeout;
    }
    std::expected<int, Error> timeout() override {
        if (!state_->has_gettimeout) return std::unexpected(missing("WDIOC_GETTIMEOUT"));
        return state_->timeout;
    }
    std::expected<int, Error> time_left() override {
        if (!state_->has_gettimeleft) return std::unexpected(missing("WDIOC_GETTIMELEFT"));
        return state_->time_left;
    }
    std::expected<void, Error> keepalive_ioctl() override {
        if (!state_->has_keepalive_ioctl) return std::unexpected(missing("WDIOC_KEEPALIVE"));
        if (!state_->keepalive_errors.empty()) {
            const int err = state_->keepalive_errors.front();
            state_->keepalive_errors.pop_front();
            if (err != 0) return std::unexpected(Error::from_errno("WDIOC_KEEPALIVE", err));
        }
        ++state_->keepalives;
        return {};
    }
    std::expected<void, Error> write(std::string_view bytes) override {
        if (state_->closed) return std::unexpected(Error::from_errno("write", EBADF));
        state_->written.append(bytes);
        state_->expect_close = bytes.find('V') != std::string_view::npos;
        ++state_->keepalives;
        return {};
    }
    std::optional<bool> nowayout() override { return state_->nowayout; }
    void close() override {
        if (state_->closed) return;
        state_->closed = true;
        state_->stopped_by_close =
            state_->nowayout != true &&
            (state_->expect_close || (state_->options & WDIOF_MAGICCLOSE) == 0);
    }
    const std::filesystem::path& path() const override { return path_; }

  private:
    static Error missing(const char* what) { return Error::from_errno(what, ENOTTY); }

    std::shared_ptr<FakeDeviceState> state_;
    std::filesystem::path path_ = "/dev/fake-watchdog";
};

}  // namespace vigil::fence::testing
