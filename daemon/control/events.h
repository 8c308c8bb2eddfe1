// The recent events behind `vigilctl events`: the core's decisions, admin
// commands with who asked, maintenance beginning and ending, hook runs, the
// daemon's own notable changes. A bounded ring, newest last, each event
// numbered so a follower can tell it missed none. Pure: the caller gives the
// times.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/core/decision.h"

namespace vigil::control {

enum class EventKind : std::uint8_t { kDecision, kAdmin, kMaintenance, kHook, kDaemon };
[[nodiscard]] std::string_view name(EventKind kind);

struct Event {
    std::uint64_t number = 0;  // 1, 2, ... in order
    std::chrono::system_clock::time_point wall{};
    EventKind kind = EventKind::kDaemon;
    std::string message;
    std::vector<std::pair<std::string, std::string>> fields;
};

class EventLog {
  public:
    static constexpr std::size_t kKeep = 256;

    // Numbers the event and keeps it; returns the stored copy.
    const Event& add(Event e);
    // Oldest first.
    [[nodiscard]] std::vector<Event> all() const { return {events_.begin(), events_.end()}; }
    [[nodiscard]] std::uint64_t recorded() const { return next_ - 1; }

  private:
    std::uint64_t next_ = 1;
    std::deque<Event> events_;
};

// A decision as an event: its kind and reason, and what it is about.
[[nodiscard]] Event decision_event(const core::Decision& d,
                                   std::chrono::system_clock::time_point wall);

[[nodiscard]] nlohmann::json event_json(const Event& e);

}  // namespace vigil::control
