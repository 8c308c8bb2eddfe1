// The error type fence/ returns. A kind the caller can branch on (a busy device
// is handled differently from a missing one) and a message a person can act on.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace vigil::fence {

enum class ErrorKind {
    kNotFound,         // no such device, agent or file
    kBusy,             // another process holds the watchdog
    kPermission,       // not allowed (missing capability, read-only file)
    kUnsupported,      // the device or driver lacks a feature vigil needs
    kInvalidArgument,  // a configured value the device or agent refuses
    kIo,               // a system call failed
    kTimedOut,         // an agent or a VM did not finish in time
    kFailed,           // the operation ran and reported failure
    kBadOutput,        // an agent or a record said something we cannot parse
};

struct Error {
    ErrorKind kind;
    std::string message;

    static Error from_errno(std::string what, int err);
};

[[nodiscard]] constexpr const char* to_string(ErrorKind kind) {
    switch (kind) {
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
        case ErrorKind::kFailed:
            return "failed";
        case ErrorKind::kBadOutput:
            return "bad_output";
    }
    return "unknown";
}

// strerror for any errno, thread-safe.
[[nodiscard]] inline std::string errno_text(int err) {
    char buf[128];
    // GNU strerror_r may return a static string instead of filling buf.
    return strerror_r(err < 0 ? -err : err, buf, sizeof(buf));
}

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

}  // namespace vigil::fence
