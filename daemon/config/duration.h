// Durations people type: "90s", "15m", "2h", "1h30m", "1d", "500ms". The
// config's own durations are integer `_ms` keys; this is for what an
// operator types on a command line (`vigilctl maintenance on --for 2h`).
#pragma once

#include <chrono>
#include <expected>
#include <string>
#include <string_view>
#include "daemon/ports/error.h"

namespace vigil::config {

// One or more <digits><unit> parts, unit one of ms, s, m, h, d, summed; no
// sign, no spaces, no bare number (is "30" seconds or minutes?). The sum
// must lie in [min, max]; the error says what is wrong and what is allowed.
[[nodiscard]] std::expected<std::chrono::milliseconds, Error> parse_duration(
    std::string_view text, std::chrono::milliseconds min, std::chrono::milliseconds max);

// "2h", "1h30m", "1m0.5s" is not produced: whole units down to ms, largest first.
[[nodiscard]] std::string format_duration(std::chrono::milliseconds d);

}  // namespace vigil::config
