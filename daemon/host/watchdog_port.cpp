#include "daemon/host/watchdog_port.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include "daemon/ports/error.h"

namespace vigil::host {

using adapters::Priority;
namespace mid = adapters::message_id;

std::chrono::nanoseconds boottime_now() {
    timespec ts{};
    ::clock_gettime(CLOCK_BOOTTIME, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

std::expected<std::optional<PetRecord>, Error> read_pet_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return std::optional<PetRecord>{};
        return std::unexpected(path.string() + ": " + std::strerror(errno));
    }
    std::stringstream text;
    text << in.rdbuf();
    auto record = parse_pet_record(text.str());
    if (!record) return std::unexpected(path.string() + ": " + record.error().message);
    return std::optional<PetRecord>{*record};
}

std::expected<void, Error> write_pet_file(const std::filesystem::path& path,
                                          const PetRecord& record) {
    // Written in place (no rename): a torn write reads as damaged, and a
    // damaged file is treated as "armed, unknown when": refused at start.
    const auto text = format_pet_record(record);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return std::unexpected(path.string() + ": " + std::strerror(errno));
    const auto n = ::write(fd, text.data(), text.size());
    const int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size())) {
        return std::unexpected(path.string() + ": " + std::strerror(err));
    }
    return {};
}

void WatchdogPort::record_pet() {
    auto ok = write_pet_file(pet_file_, PetRecord{.last_pet_boottime = boottime_now()});
    if (!ok && ok.error().message != last_error_) {
        last_error_ = ok.error().message;
        journal_.log(Priority::kError, mid::kWatchdog,
                     "pet record not written: " + ok.error().message,
                     {{"REASON", ok.error().message}});
    }
}

std::expected<void, vigil::Error> WatchdogPort::open_now() {
    auto wd = open_();
    if (!wd) return std::unexpected(wd.error());
    device_.emplace(std::move(*wd));
    left_armed_at_.reset();
    record_pet();
    return {};
}

void WatchdogPort::open_at_first_pet(std::chrono::nanoseconds left_armed_at) {
    left_armed_at_ = left_armed_at;
}

void WatchdogPort::pet() {
    if (!device_) {
        // Opening pets: this is the first pet the core allowed this run.
        if (auto ok = open_now(); !ok) {
            journal_.log(Priority::kError, mid::kWatchdog,
                         "the watchdog left armed could not be opened: " + ok.error().message,
                         {{"REASON", ok.error().message}});
            return;
        }
        journal_.log(Priority::kNotice, mid::kWatchdog,
                     "watchdog reopened at the first pet this run's own proof allowed, timeout " +
                         std::to_string(timeout().count()) + " s",
                     {{"TIMEOUT_S", std::to_string(timeout().count())}});
        return;
    }
    if (auto ok = device_->pet(); !ok) {
        journal_.log(Priority::kError, mid::kWatchdog,
                     "watchdog keepalive failed: " + ok.error().message,
                     {{"REASON", ok.error().message}});
        return;
    }
    record_pet();
}

void WatchdogPort::withhold(core::Reason why) {
    const auto reason = withhold_reason(why);
    if (device_) {
        device_->withhold(reason);
    } else {
        ++withheld_[fence::to_index(reason)];
    }
}

fence::WatchdogStatus WatchdogPort::status() {
    if (device_) return device_->status();
    fence::WatchdogStatus s{.armed = true, .timeout = timeout_};
    if (left_armed_at_) {
        s.since_last_pet =
            std::chrono::duration_cast<std::chrono::milliseconds>(boottime_now() - *left_armed_at_);
    }
    s.withheld = withheld_;
    return s;
}

}  // namespace vigil::host
