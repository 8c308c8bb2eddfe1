// Process, namespace and file helpers the lab is built from. Everything here
// talks to the real kernel; the pure parts of the lab live in layout.h,
// stamp.h and checker.h.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <expected>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vigil::lab {

// One error type for the whole tool: what failed, with enough context for a
// person to act on it.
struct Error {
    std::string what;
};

template <typename T = void>
using Result = std::expected<T, Error>;

[[nodiscard]] inline std::unexpected<Error> fail(std::string what) {
    return std::unexpected(Error{std::move(what)});
}

struct Output {
    int status = 0;  // exit code, or 128 + signal
    std::string out;
    std::string err;
};

// Where a command runs: the caller's namespaces, or a lab host's network,
// mount and PID namespaces (entered through the host's init process).
struct Place {
    std::optional<std::filesystem::path> netns;  // /run/netns/NAME
    std::optional<pid_t> mount_of;               // take this process's mount namespace
    // Take this process's PID namespace. setns() moves only the children a
    // process forks afterwards, so whatever runs there is a child of the
    // process that entered (see exec_in).
    std::optional<pid_t> pid_of;
};

// Runs argv (no shell), waits, captures stdout and stderr. A command that
// does not end within `timeout` is killed and reported as an error.
[[nodiscard]] Result<Output> run(const std::vector<std::string>& argv, const Place& place = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Like run() but a non-zero exit is an error carrying stderr.
[[nodiscard]] Result<std::string> run_ok(
    const std::vector<std::string>& argv, const Place& place = {},
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Enters `place` in the calling (single-threaded, freshly forked) process.
// With a PID namespace only the children forked afterwards are inside it.
[[nodiscard]] Result<> enter(const Place& place);

// Enters `place` and runs argv there: with a PID namespace, in a child forked
// after entering (so it is really inside and /proc/self resolves in the
// host's /proc), this process waiting for it, passing on SIGTERM, SIGINT and
// SIGHUP and exiting with its status. Never returns; 126/127 on failure.
[[noreturn]] void exec_in(const Place& place, const std::vector<std::string>& argv);

// Starts argv in the background with stdout and stderr appended to `log`;
// returns its pid. The caller reaps it.
[[nodiscard]] Result<pid_t> spawn(const std::vector<std::string>& argv,
                                  const std::filesystem::path& log);

// Inode of a namespace link (/proc/PID/ns/net, /run/netns/NAME), 0 if gone.
// For a PID namespace use /proc/PID/ns/pid (never pid_for_children).
[[nodiscard]] ino_t ns_inode(const std::filesystem::path& link);

// Every process whose namespace of `kind` ("net", "mnt") has inode `ino`.
[[nodiscard]] std::vector<pid_t> pids_in_ns(const char* kind, ino_t ino);

// First line of /proc/PID/comm, empty if the process is gone.
[[nodiscard]] std::string comm_of(pid_t pid);
// NUL-separated arguments of /proc/PID/cmdline.
[[nodiscard]] std::vector<std::string> cmdline_of(pid_t pid);
// The state letter of /proc/PID/stat ('R', 'S', 'T', 'Z', ...), 0 if gone.
[[nodiscard]] char state_of(pid_t pid);
[[nodiscard]] pid_t parent_of(pid_t pid);

// Polls `done` every `step` until it holds or `limit` passes.
[[nodiscard]] bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit,
                              std::chrono::milliseconds step = std::chrono::milliseconds(50));

[[nodiscard]] Result<std::string> read_file(const std::filesystem::path& path);
[[nodiscard]] Result<> write_file(const std::filesystem::path& path, const std::string& text);
[[nodiscard]] Result<> append_line(const std::filesystem::path& path, const std::string& line);

// Seconds since the Unix epoch, with sub-millisecond precision.
[[nodiscard]] double now_s();

}  // namespace vigil::lab
