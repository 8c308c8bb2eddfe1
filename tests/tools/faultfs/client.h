// Client side of the control socket, shared by `vigil-faultfs ctl` and the test
// fixtures so both speak exactly the same protocol.
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>

#include "tests/tools/faultfs/protocol.h"

namespace vigil::faultfs {

inline constexpr std::chrono::milliseconds kControlTimeout{5000};

// Sends one request line and returns the reply line without its newline.
[[nodiscard]] std::expected<std::string, std::string> send_request(
    const std::filesystem::path& socket, std::string_view line,
    std::chrono::milliseconds timeout = kControlTimeout);

[[nodiscard]] std::expected<void, std::string> set_mode(const std::filesystem::path& socket,
                                                        const Mode& mode);

[[nodiscard]] std::expected<Status, std::string> query_status(const std::filesystem::path& socket);

}  // namespace vigil::faultfs
