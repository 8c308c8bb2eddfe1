#include "daemon/config/duration.h"

#include <array>
#include <cstdint>
#include <utility>
#include "daemon/ports/error.h"

namespace vigil::config {
namespace {

using std::chrono::milliseconds;

struct Unit {
    std::string_view name;
    std::int64_t ms;
};
// "ms" before "m": the longest unit name that matches wins.
constexpr std::array<Unit, 5> kUnits{
    {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};
// Past this a sum could overflow; far beyond any max a caller gives.
constexpr std::int64_t kCeilingMs = std::int64_t{1} << 50;

}  // namespace

std::expected<milliseconds, Error> parse_duration(std::string_view text, milliseconds min,
                                                  milliseconds max) {
    const std::string allowed =
        "a duration is one or more <number><unit> parts (units ms, s, m, h, d), e.g. 90s, "
        "2h, 1h30m";
    if (text.empty()) return std::unexpected("the duration is empty; " + allowed);
    if (text.size() > 32) return std::unexpected("the duration is too long; " + allowed);
    std::int64_t total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        const std::size_t start = i;
        std::int64_t n = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            n = n * 10 + (text[i] - '0');
            if (n > kCeilingMs) return std::unexpected("the duration is far too long");
            ++i;
        }
        if (i == start) {
            return std::unexpected("\"" + std::string(text) + "\": expected a number at \"" +
                                   std::string(text.substr(start)) + "\"; " + allowed);
        }
        const Unit* unit = nullptr;
        for (const auto& u : kUnits) {
            if (text.substr(i, u.name.size()) == u.name) {
                unit = &u;
                break;
            }
        }
        if (!unit) {
            return std::unexpected(
                "\"" + std::string(text) + "\": " +
                (i == text.size() ? std::string("the number needs a unit")
                                  : "unknown unit at \"" + std::string(text.substr(i)) + "\"") +
                "; " + allowed);
        }
        i += unit->name.size();
        total += n * unit->ms;
        if (total > kCeilingMs) return std::unexpected("the duration is far too long");
    }
    const milliseconds d(total);
    if (d < min || d > max) {
        return std::unexpected("\"" + std::string(text) + "\" is " + format_duration(d) +
                               "; it must be between " + format_duration(min) + " and " +
                               format_duration(max));
    }
    return d;
}

std::string format_duration(milliseconds d) {
    if (d.count() <= 0) return "0s";
    std::string out;
    std::int64_t left = d.count();
    for (auto it = kUnits.rbegin(); it != kUnits.rend(); ++it) {
        if (left >= it->ms) {
            out += std::to_string(left / it->ms) + std::string(it->name);
            left %= it->ms;
        }
    }
    return out;
}

}  // namespace vigil::config
