// Synthetic next versions of the status format (daemon/core/slot_codec.h), for
// the tests of the upgrade rule: what a later vigil could write, made from what
// this one writes. Test code only.
#pragma once

#include <string>
#include <string_view>

#include "daemon/core/slot_codec.h"

namespace vigil::formats {

// The body of a sealed record with its first line replaced, `flag` added to its
// flags line and `extra` lines appended, sealed again.
inline std::string rewrite(std::string_view sealed, std::string_view first_line,
                           std::string_view extra, std::string_view flag = {}) {
    const auto body = core::unseal_text(sealed);
    if (!body) return std::string(sealed);
    std::string out(first_line);
    out += body->substr(body->find('\n'));
    if (!flag.empty()) {
        const auto flags = out.find("\nflags");
        out.insert(out.find('\n', flags + 1), " " + std::string(flag));
    }
    out += extra;
    return core::seal_text(std::move(out));
}

// Format 1.2 (this writer writes 1.1): a compatible change. One optional line and
// one flag a 1.1 reader does not know, which it may skip without acting wrongly.
inline std::string next_minor(const core::HostStatus& status) {
    return rewrite(core::encode_status(status), "vigil-slot 1.2", "migrating web 2\n", "hugepages");
}

// Format 2.0: an incompatible change (held VMs say since when, state carries a
// cause): a 1.x reader must refuse it rather than misread it.
inline std::string next_major(const core::HostStatus& status) {
    return rewrite(core::encode_status(status), "vigil-slot 2", "held-since web 1764000000\n",
                   "cause=storage");
}

}  // namespace vigil::formats
