#pragma once

// The state of each network interface (up, idle, down) from what rtnetlink
// says about its carrier and from the kernel's receive counters. Carrier
// that stays up while nothing arrives is a state of its own (idle): a switch
// port that lost its uplink, a filter that drops everything, a peer that is
// gone. States change only after the new evidence has held for a while, so a
// short flap is no transition; each transition is reported once, with why.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/evidence.h"
#include "daemon/core/types.h"

namespace vigil::core {

// RFC 2863 operational state as the kernel reports it (IFLA_OPERSTATE).
enum class OperState : std::uint8_t {
    kUnknown,  // drivers that do not track it; carrier alone then decides
    kNotPresent,
    kDown,
    kLowerLayerDown,
    kTesting,
    kDormant,
    kUp,
};

[[nodiscard]] std::string_view name(OperState state);

struct LinkThresholds {
    Duration down_hold = std::chrono::seconds(1);   // unusable this long: down
    Duration up_hold = std::chrono::seconds(2);     // usable (and receiving) this long: up
    Duration idle_after = std::chrono::seconds(5);  // carrier, nothing received this long: idle
};

// One rtnetlink report about a link (initial dump or change).
struct LinkSignal {
    TimePoint now;
    std::string name;
    bool admin_up = false;  // IFF_UP
    bool carrier = false;
    OperState operstate = OperState::kUnknown;
};

// One reading of the kernel's cumulative receive counter for a link.
struct RxSample {
    TimePoint now;
    std::uint64_t rx_packets = 0;
};

struct LinkTransition {
    std::int32_t ifindex = 0;
    std::string name;
    std::optional<LinkState> from;  // empty: the first report of this link
    LinkState to = LinkState::kUp;
    TimePoint at;
    std::string evidence;  // why, for the log and `vigilctl explain`
};

// What is known of one link now, for status output.
struct LinkView {
    std::int32_t ifindex = 0;
    std::string name;
    LinkState state = LinkState::kUp;
    TimePoint since;  // when `state` was entered
    bool carrier = false;
    OperState operstate = OperState::kUnknown;
    std::optional<std::uint64_t> rx_packets;  // empty: no receive counter fed
};

class LinkHealth {
  public:
    explicit LinkHealth(LinkThresholds thresholds) : thresholds_(thresholds) {}

    // A carrier or operstate report. The first one for an ifindex reports the
    // link's initial state at once (up or down: idleness needs time to show).
    [[nodiscard]] std::optional<LinkTransition> observe_link(std::int32_t ifindex,
                                                             const LinkSignal& signal);
    // A receive-counter reading. Until the first one, a link cannot be idle
    // (without counters vigil cannot see traffic and does not pretend to).
    // Readings for links never reported by observe_link() are ignored.
    [[nodiscard]] std::optional<LinkTransition> observe_rx(std::int32_t ifindex,
                                                           const RxSample& sample);
    // The link is gone (RTM_DELLINK): down at once, then forgotten.
    [[nodiscard]] std::optional<LinkTransition> remove(std::int32_t ifindex, TimePoint now);
    // Time passing with no new input: hold times and idleness expire here.
    [[nodiscard]] std::vector<LinkTransition> tick(TimePoint now);

    [[nodiscard]] std::optional<LinkState> state(std::int32_t ifindex) const;
    [[nodiscard]] std::vector<LinkView> links() const;

  private:
    struct Link {
        std::string name;
        LinkState state = LinkState::kUp;
        TimePoint since;
        bool admin_up = false;
        bool carrier = false;
        OperState operstate = OperState::kUnknown;
        bool usable = false;
        TimePoint usable_changed;  // when `usable` last changed
        std::optional<std::uint64_t> rx_packets;
        std::optional<TimePoint> rx_since;       // the first reading
        std::optional<TimePoint> last_rx;        // the reading that last saw the counter advance
        std::optional<TimePoint> traffic_since;  // the first advance of the current run of traffic
    };

    [[nodiscard]] std::optional<LinkTransition> evaluate(std::int32_t ifindex, Link& link,
                                                         TimePoint now);
    [[nodiscard]] std::string describe_carrier(const Link& link) const;

    LinkThresholds thresholds_;
    std::map<std::int32_t, Link> links_;
};

}  // namespace vigil::core
