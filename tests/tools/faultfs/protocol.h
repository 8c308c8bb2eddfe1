// The control protocol of vigil-faultfs: one request line in, one reply line
// out, over a unix stream socket. Pure parsing and formatting, no I/O, so the
// grammar is tested without root and the test fixtures reuse the same types.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <variant>

namespace vigil::faultfs {

enum class FaultKind : std::uint8_t { kOk, kEio, kEnospc, kStall, kSlow };

// Which data operations a fault applies to. fsync and fallocate count as writes.
enum class Scope : std::uint8_t { kAll, kRead, kWrite };

// kFlush: fsync. It counts as a write, except that a full volume (ENOSPC)
// still flushes: there is nothing left to allocate (a thin volume's flush
// succeeds; a loop device would turn a failed flush into EIO).
enum class Op : std::uint8_t { kRead, kWrite, kFlush };

struct Mode {
    FaultKind kind = FaultKind::kOk;
    Scope scope = Scope::kAll;
    std::chrono::milliseconds delay{0};  // only for kSlow
    // Only data operations on this file (its path in the mount, without the
    // leading '/') are faulted; empty: every file. One full volume (ENOSPC)
    // beside others that are fine.
    std::string file;

    friend bool operator==(const Mode&, const Mode&) = default;
};

// What the file system does with one data operation under a mode.
enum class Action : std::uint8_t { kPass, kFailEio, kFailEnospc, kStall, kDelay };

// `file`: the path in the mount of the file the operation is on.
[[nodiscard]] Action action_for(const Mode& mode, Op op, std::string_view file = {});

struct SetMode {
    Mode mode;
    friend bool operator==(const SetMode&, const SetMode&) = default;
};
struct QueryStatus {
    friend bool operator==(const QueryStatus&, const QueryStatus&) = default;
};
using Request = std::variant<SetMode, QueryStatus>;

// Counters since start. `stalled` is the number of operations blocked right now,
// so callers wait for a stall to take hold instead of sleeping.
struct Status {
    Mode mode;
    std::uint64_t reads = 0;     // read operations that reached the source directory
    std::uint64_t writes = 0;    // write, fsync and fallocate operations that reached it
    std::uint64_t injected = 0;  // operations failed on purpose
    std::uint64_t stalled = 0;

    friend bool operator==(const Status&, const Status&) = default;
};

// Longest delay `slow` accepts: a day, so a typo cannot wedge a test forever.
inline constexpr std::chrono::milliseconds kMaxDelay{86'400'000};

// Request grammar (words separated by blanks, one line):
//   (ok | eio [read|write] | enospc [write] | stall [read|write]
//   | slow MS [read|write]) [file PATH] | status
[[nodiscard]] std::expected<Request, std::string> parse_request(std::string_view line);
[[nodiscard]] std::expected<Mode, std::string> parse_mode(std::string_view text);
[[nodiscard]] std::string format_mode(const Mode& mode);
[[nodiscard]] std::string format_request(const Request& request);

// Reply grammar: "OK" | "OK <status fields>" | "ERR <reason>".
[[nodiscard]] std::string format_ok();
[[nodiscard]] std::string format_error(std::string_view reason);
[[nodiscard]] std::string format_status(const Status& status);
[[nodiscard]] std::expected<Status, std::string> parse_status(std::string_view reply);

// Turns a reply line into success or the server's reason; the text after "OK " is
// returned so a status reply can be parsed further.
[[nodiscard]] std::expected<std::string, std::string> parse_reply(std::string_view reply);

}  // namespace vigil::faultfs
