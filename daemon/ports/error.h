// The one error type adapters return: what failed, and enough context for a
// person to act on it. Library error codes (libbpf, libvirt, corosync, errno)
// are translated into it at the adapter edge.
#pragma once

#include <cstring>
#include <string>
#include <utility>

namespace vigil {

struct Error {
    std::string message;

    static Error from_errno(std::string what, int err);
};

inline Error Error::from_errno(std::string what, int err) {
    if (err < 0) err = -err;
    char buf[128];
    // GNU strerror_r may return a static string instead of filling buf.
    const char* text = strerror_r(err, buf, sizeof(buf));
    return Error{std::move(what) + ": " + text};
}

}  // namespace vigil
