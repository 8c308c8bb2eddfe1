// This daemon run's incarnation: max(wall-clock microseconds, previous + 1),
// where "previous" is read from a counter file (/var/lib/vigil/incarnation)
// and the new value is written there durably (temporary file, fsync, rename,
// directory fsync) before it is used. The counter makes it strictly
// increasing across restarts on this host even when the wall clock steps
// back; the clock keeps it increasing if the file is lost (a reinstall), as
// long as the clock did not go back by more than the time between the runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <string>
#include "daemon/ports/error.h"

namespace vigil::host {

[[nodiscard]] std::expected<std::uint64_t, Error> take_incarnation(
    const std::filesystem::path& file, std::chrono::system_clock::time_point wall);

}  // namespace vigil::host
