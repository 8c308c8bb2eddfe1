// Small state files under vigild's state directory (/var/lib/vigil): written
// whole and atomically (a temporary file, fsync, rename, fsync of the
// directory), so a crash or a power cut leaves the old file or the new one,
// never a torn one; read back bounded.
#pragma once

#include <cstddef>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include "daemon/ports/error.h"

namespace vigil::host {

[[nodiscard]] std::expected<void, Error> write_state_file(const std::filesystem::path& file,
                                                          const std::string& text);

// nullopt: no such file. An error: it exists but cannot be read, or is
// larger than `max` bytes (not ours, or damaged).
[[nodiscard]] std::expected<std::optional<std::string>, Error> read_state_file(
    const std::filesystem::path& file, std::size_t max = std::size_t{64} * 1024);

}  // namespace vigil::host
