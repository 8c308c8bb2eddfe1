// What operators asked of this host through vigilctl: maintenance (with the
// time it ends by itself, if any) and cordon. Kept by vigild, written to a
// small file under the state directory so that it survives a restart, and
// given to the core as admin commands. Pure: the caller gives the times and
// does the file I/O.
#pragma once

#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/adapters/control_protocol.h"
#include "daemon/core/evidence.h"
#include "daemon/ports/error.h"

namespace vigil::control {

using WallTime = std::chrono::system_clock::time_point;

// The one place a control verb becomes a core command.
[[nodiscard]] core::AdminCommand admin_command(adapters::AdminAction action);

// Who asked for a change: the control socket's peer (SO_PEERCRED and
// /proc/<pid>/cmdline), or what vigild itself names ("the --for duration ran out").
struct Requester {
    std::uint32_t uid = 0;
    std::int32_t pid = 0;
    std::string command;  // the caller's command line (or comm), printable
    [[nodiscard]] std::string describe() const;
};

struct AdminState {
    bool maintenance = false;
    std::optional<WallTime> maintenance_until;  // nullopt: until turned off
    WallTime maintenance_since{};
    std::string maintenance_by;  // who turned it on, as Requester::describe() says
    bool cordoned = false;
    bool draining = false;    // a drain was asked (it implies cordoned)
    std::string cordoned_by;  // who cordoned or drained it
    bool operator==(const AdminState&) const = default;
};

// The file: one JSON object, {"version": 1, ...}; times in ms since the epoch.
[[nodiscard]] std::string encode_admin_state(const AdminState& s);
// Refuses anything but a whole, well-typed version-1 object; the error says why.
[[nodiscard]] std::expected<AdminState, Error> decode_admin_state(std::string_view text);

// What vigild starts with, from what the file held (nullopt: no file) and
// the wall clock: a maintenance whose end passed while vigild was down is
// over, and `note` says so; otherwise `note` is empty.
struct StartAdmin {
    AdminState state;
    bool expired = false;
    std::string note;
};
[[nodiscard]] StartAdmin admin_at_start(const std::optional<AdminState>& saved, WallTime now);

// How long a timed maintenance has left (zero once due); nullopt when
// maintenance is off or has no end.
[[nodiscard]] std::optional<std::chrono::milliseconds> maintenance_left(const AdminState& s,
                                                                        WallTime now);

// The state after an action (now: its time). maintenance-on again replaces
// the end (a new --for re-arms it; none makes it open-ended).
[[nodiscard]] AdminState apply_admin(AdminState s, adapters::AdminAction action,
                                     std::optional<std::chrono::milliseconds> for_duration,
                                     const std::string& by, WallTime now);

// "2026-12-02T14:30:01Z".
[[nodiscard]] std::string iso_time(WallTime t);

}  // namespace vigil::control
