// The Watchdog port over the device (fence::Watchdog). Every pet is also
// written to a small pet file under /run/vigil (CLOCK_BOOTTIME of the pet), so
// a vigild started later knows how long the watchdog went unpetted (see
// mapping.h, reopen_verdict); a clean disarm removes the file.
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>

#include "daemon/adapters/journal.h"
#include "daemon/host/mapping.h"
#include "daemon/ports/watchdog.h"
#include "fence/watchdog.h"

namespace vigil::host {

// CLOCK_BOOTTIME: monotonic, and counts the time the machine was suspended.
[[nodiscard]] std::chrono::nanoseconds boottime_now();

// The pet file: nullopt when there is none; an unreadable one is an error.
[[nodiscard]] std::expected<std::optional<PetRecord>, std::string> read_pet_file(
    const std::filesystem::path& path);
[[nodiscard]] std::expected<void, std::string> write_pet_file(const std::filesystem::path& path,
                                                              const PetRecord& record);

class WatchdogPort final : public ports::Watchdog {
  public:
    WatchdogPort(fence::Watchdog& watchdog, std::filesystem::path pet_file,
                 const adapters::Journal& journal)
        : watchdog_(watchdog), pet_file_(std::move(pet_file)), journal_(journal) {}
    void pet() override;
    void withhold(core::Reason why) override;
    // Records the pet that opening the watchdog made.
    void record_pet();

  private:
    fence::Watchdog& watchdog_;
    std::filesystem::path pet_file_;
    const adapters::Journal& journal_;
    std::string last_error_;
};

}  // namespace vigil::host
