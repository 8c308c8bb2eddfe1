// The Watchdog port over the device (fence::Watchdog). Every pet is also
// written to a small pet file under /run/vigil (CLOCK_BOOTTIME of the pet), so
// a vigild started later knows the watchdog was left armed and since when
// (see mapping.h, reopen_verdict); a clean disarm removes the file. A
// watchdog left armed is opened at the first pet the core allows.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "daemon/adapters/journal.h"
#include "daemon/host/mapping.h"
#include "daemon/ports/error.h"
#include "daemon/ports/watchdog.h"
#include "fence/watchdog.h"

namespace vigil::host {

// CLOCK_BOOTTIME: monotonic, and counts the time the machine was suspended.
[[nodiscard]] std::chrono::nanoseconds boottime_now();

// The pet file: nullopt when there is none; an unreadable one is an error.
[[nodiscard]] std::expected<std::optional<PetRecord>, Error> read_pet_file(
    const std::filesystem::path& path);
[[nodiscard]] std::expected<void, Error> write_pet_file(const std::filesystem::path& path,
                                                        const PetRecord& record);

// Opens the device (fence::Watchdog::make, which pets it once).
using OpenWatchdog = std::function<std::expected<fence::Watchdog, vigil::Error>()>;

class WatchdogPort final : public ports::Watchdog {
  public:
    // `timeout` is the configured one, for the status until the device is open.
    WatchdogPort(OpenWatchdog open, std::chrono::seconds timeout, std::filesystem::path pet_file,
                 const adapters::Journal& journal)
        : open_(std::move(open)),
          timeout_(timeout),
          pet_file_(std::move(pet_file)),
          journal_(journal) {}
    // Opens the device now (mapping.h's OpenWhen::kAtStart) and records that pet.
    [[nodiscard]] std::expected<void, vigil::Error> open_now();
    // Leaves the device to the first pet (OpenWhen::kAtFirstAllowedPet): an
    // earlier run left it armed, last petted at `left_armed_at` (CLOCK_BOOTTIME).
    void open_at_first_pet(std::chrono::nanoseconds left_armed_at);
    // A pet the core allowed: opens the device first when it is not open yet.
    void pet() override;
    void withhold(core::Reason why) override;

    // Null until the device is open.
    [[nodiscard]] fence::Watchdog* device() { return device_ ? &*device_ : nullptr; }
    // The device's, or until it is open, what is known of the earlier run's
    // timer: armed, its age from the pet record, the pets withheld since.
    [[nodiscard]] fence::WatchdogStatus status();
    [[nodiscard]] std::chrono::seconds timeout() const {
        return device_ ? device_->timeout() : timeout_;
    }

  private:
    void record_pet();

    OpenWatchdog open_;
    std::chrono::seconds timeout_;
    std::filesystem::path pet_file_;
    const adapters::Journal& journal_;
    std::optional<fence::Watchdog> device_;
    std::optional<std::chrono::nanoseconds> left_armed_at_;
    std::array<std::uint64_t, fence::kWithholdReasonCount> withheld_{};
    std::string last_error_;
};

}  // namespace vigil::host
