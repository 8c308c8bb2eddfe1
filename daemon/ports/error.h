// The one error type of daemon/, fence/, bpf/ and exporters/: what failed, a
// kind the caller can branch on (a busy device is handled differently from a
// missing one) and, for an error about a place in a file (the config), the
// file and line. Library error codes (libbpf, libvirt, corosync, errno) are
// translated into it at the adapter edge.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace vigil {

enum class ErrorKind : std::uint8_t {
    kFailed,           // the operation ran and reported failure (the default)
    kNotFound,         // no such device, agent, domain or file
    kBusy,             // another process holds the device
    kPermission,       // not allowed (missing capability, read-only file)
    kUnsupported,      // the device, driver or kernel lacks a feature vigil needs
    kInvalidArgument,  // a value (configured or received) that is refused
    kIo,               // a system call failed
    kTimedOut,         // an agent, a peer or a VM did not finish in time
    kBadOutput,        // an agent or a record said something we cannot parse
};

[[nodiscard]] constexpr std::string_view name(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::kFailed:
            return "failed";
        case ErrorKind::kNotFound:
            return "not_found";
        case ErrorKind::kBusy:
            return "busy";
        case ErrorKind::kPermission:
            return "permission";
        case ErrorKind::kUnsupported:
            return "unsupported";
        case ErrorKind::kInvalidArgument:
            return "invalid_argument";
        case ErrorKind::kIo:
            return "io";
        case ErrorKind::kTimedOut:
            return "timed_out";
        case ErrorKind::kBadOutput:
            return "bad_output";
    }
    return "unknown";
}

// strerror for any errno (negative or positive), thread-safe.
[[nodiscard]] inline std::string errno_text(int err) {
    char buf[128];
    // GNU strerror_r may return a static string instead of filling buf.
    return strerror_r(err < 0 ? -err : err, buf, sizeof(buf));
}

struct Error {
    ErrorKind kind = ErrorKind::kFailed;
    std::string message;
    std::string file;  // set when the error is about a place in a file
    int line = 0;      // 0 when it is not about one line

    Error() = default;
    // A failure described by its message alone (kind kFailed). Implicit, so
    // `return std::unexpected("...")` reads as it always has.
    Error(std::string what) : message(std::move(what)) {}
    Error(const char* what) : message(what) {}
    Error(ErrorKind k, std::string what) : kind(k), message(std::move(what)) {}

    // `what: strerror(err)`, its kind derived from the errno.
    [[nodiscard]] static Error from_errno(std::string what, int err);
    // A refused value at file:line (line 0: the file as a whole).
    [[nodiscard]] static Error at(std::string file, int line, std::string what) {
        Error e(ErrorKind::kInvalidArgument, std::move(what));
        e.file = std::move(file);
        e.line = line;
        return e;
    }

    // What a person reads: "file:line: message", or the message alone.
    [[nodiscard]] std::string text() const {
        if (file.empty()) return message;
        std::string out = file;
        if (line > 0) out += ':' + std::to_string(line);
        out += ": ";
        out += message;
        return out;
    }
};

inline std::ostream& operator<<(std::ostream& out, const Error& e) { return out << e.text(); }

inline Error Error::from_errno(std::string what, int err) {
    if (err < 0) err = -err;
    ErrorKind kind = ErrorKind::kIo;
    switch (err) {
        case ENOENT:
        case ENODEV:
        case ENXIO:
            kind = ErrorKind::kNotFound;
            break;
        case EBUSY:
            kind = ErrorKind::kBusy;
            break;
        case EACCES:
        case EPERM:
        case EROFS:
            kind = ErrorKind::kPermission;
            break;
        case ENOTTY:
        case EOPNOTSUPP:
        case ENOSYS:
            kind = ErrorKind::kUnsupported;
            break;
        case EINVAL:
            kind = ErrorKind::kInvalidArgument;
            break;
        case ETIMEDOUT:
            kind = ErrorKind::kTimedOut;
            break;
        default:
            break;
    }
    return Error{kind, std::move(what) + ": " + errno_text(err)};
}

}  // namespace vigil
