// The decisions behind `vigilctl explain`: a bounded history of what the core
// decided, by subject (each VM, each host) and overall. Fed by the event sink
// with every decision as it is logged; the core keeps no history of its own.
// Pure: the caller gives the times.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/decision.h"
#include "daemon/core/types.h"

namespace vigil::control {

struct RecordedDecision {
    std::uint64_t number = 0;  // 1, 2, ... in the order decided
    core::TimePoint at{};      // the loop's monotonic time
    std::chrono::system_clock::time_point wall{};
    core::Decision decision;
};

// What a decision is about. A VM decision (stop, start, resume, assign, an
// alert naming a VM) is about its VM; a peer's class, its fencing and an alert
// naming a peer are about that peer; the rest (pets, self-fence, this host's
// state, alerts of this host) are about this host.
struct Subject {
    enum class Kind : std::uint8_t { kVm, kHost };
    Kind kind = Kind::kHost;
    std::string vm;     // kVm
    core::HostId host;  // kHost
    auto operator<=>(const Subject&) const = default;
};
[[nodiscard]] Subject subject_of(const core::Decision& d, core::HostId self);

class DecisionHistory {
  public:
    static constexpr std::size_t kPerSubject = 16;
    static constexpr std::size_t kOverall = 64;
    // Subjects kept; past it the one with the oldest latest decision goes
    // (VM names come from libvirt, so their number is not ours to bound).
    static constexpr std::size_t kMaxSubjects = 512;

    explicit DecisionHistory(core::HostId self) : self_(self) {}

    void record(core::TimePoint at, std::chrono::system_clock::time_point wall,
                const core::Decision& d);

    // Newest first.
    [[nodiscard]] std::vector<RecordedDecision> latest() const;
    [[nodiscard]] std::vector<RecordedDecision> about(const Subject& s) const;
    [[nodiscard]] bool knows(const Subject& s) const { return by_subject_.contains(s); }
    [[nodiscard]] std::uint64_t recorded() const { return next_ - 1; }
    [[nodiscard]] core::HostId self() const { return self_; }

  private:
    core::HostId self_;
    std::uint64_t next_ = 1;
    std::deque<RecordedDecision> overall_;
    std::map<Subject, std::deque<RecordedDecision>> by_subject_;
};

}  // namespace vigil::control
