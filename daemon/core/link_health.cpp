#include "daemon/core/link_health.h"

#include "daemon/core/decision.h"

#include <algorithm>

namespace vigil::core {
namespace {

std::string millis(Duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

// A link carries traffic only when it is administratively up, has carrier, and
// its operstate does not say otherwise (dormant: e.g. 802.1X not yet passed).
bool usable(bool admin_up, bool carrier, OperState operstate) {
    if (!admin_up || !carrier) return false;
    switch (operstate) {
        case OperState::kUp:
        case OperState::kUnknown:
            return true;
        case OperState::kNotPresent:
        case OperState::kDown:
        case OperState::kLowerLayerDown:
        case OperState::kTesting:
        case OperState::kDormant:
            return false;
    }
    return false;
}

}  // namespace

std::string_view name(OperState state) {
    switch (state) {
        case OperState::kUnknown:
            return "unknown";
        case OperState::kNotPresent:
            return "notpresent";
        case OperState::kDown:
            return "down";
        case OperState::kLowerLayerDown:
            return "lowerlayerdown";
        case OperState::kTesting:
            return "testing";
        case OperState::kDormant:
            return "dormant";
        case OperState::kUp:
            return "up";
    }
    return "?";
}

std::string LinkHealth::describe_carrier(const Link& link) const {
    if (!link.admin_up) return "administratively down";
    if (!link.carrier) {
        return std::string("no carrier (operstate ") + std::string(name(link.operstate)) + ")";
    }
    if (!link.usable)
        return std::string("carrier but operstate ") + std::string(name(link.operstate));
    return std::string("carrier up (operstate ") + std::string(name(link.operstate)) + ")";
}

std::optional<LinkTransition> LinkHealth::observe_link(std::int32_t ifindex,
                                                       const LinkSignal& signal) {
    const bool now_usable = usable(signal.admin_up, signal.carrier, signal.operstate);
    auto it = links_.find(ifindex);
    if (it == links_.end()) {
        Link link{
            .name = signal.name,
            .state = now_usable ? LinkState::kUp : LinkState::kDown,
            .since = signal.now,
            .admin_up = signal.admin_up,
            .carrier = signal.carrier,
            .operstate = signal.operstate,
            .usable = now_usable,
            .usable_changed = signal.now,
        };
        LinkTransition first{
            .ifindex = ifindex,
            .name = link.name,
            .from = std::nullopt,
            .to = link.state,
            .at = signal.now,
            .evidence = "first seen: " + describe_carrier(link),
        };
        links_.emplace(ifindex, std::move(link));
        return first;
    }
    Link& link = it->second;
    link.name = signal.name;
    link.admin_up = signal.admin_up;
    link.carrier = signal.carrier;
    link.operstate = signal.operstate;
    if (now_usable != link.usable) {
        link.usable = now_usable;
        link.usable_changed = signal.now;
    }
    return evaluate(ifindex, link, signal.now);
}

std::optional<LinkTransition> LinkHealth::observe_rx(std::int32_t ifindex, const RxSample& sample) {
    auto it = links_.find(ifindex);
    if (it == links_.end()) return std::nullopt;
    Link& link = it->second;
    if (!link.rx_packets.has_value()) {
        // The first reading is a baseline: it says nothing about when the
        // packets it counts arrived.
        link.rx_since = sample.now;
    } else if (sample.rx_packets > *link.rx_packets) {
        const bool new_run = !link.traffic_since.has_value() || !link.last_rx.has_value() ||
                             sample.now - *link.last_rx >= thresholds_.idle_after ||
                             *link.traffic_since < link.usable_changed;
        if (new_run) link.traffic_since = sample.now;
        link.last_rx = sample.now;
    }
    // A counter that went backwards was reset (a map entry recreated): it
    // becomes the new baseline and is no evidence of traffic.
    link.rx_packets = sample.rx_packets;
    return evaluate(ifindex, link, sample.now);
}

std::optional<LinkTransition> LinkHealth::remove(std::int32_t ifindex, TimePoint now) {
    auto it = links_.find(ifindex);
    if (it == links_.end()) return std::nullopt;
    std::optional<LinkTransition> out;
    if (it->second.state != LinkState::kDown) {
        out = LinkTransition{
            .ifindex = ifindex,
            .name = it->second.name,
            .from = it->second.state,
            .to = LinkState::kDown,
            .at = now,
            .evidence = "interface removed",
        };
    }
    links_.erase(it);
    return out;
}

std::vector<LinkTransition> LinkHealth::tick(TimePoint now) {
    std::vector<LinkTransition> out;
    for (auto& [ifindex, link] : links_) {
        if (auto t = evaluate(ifindex, link, now)) out.push_back(std::move(*t));
    }
    return out;
}

std::optional<LinkTransition> LinkHealth::evaluate(std::int32_t ifindex, Link& link,
                                                   TimePoint now) {
    std::optional<LinkState> next;
    std::string evidence;
    const std::string rx_text =
        link.rx_packets ? " (rx_packets " + std::to_string(*link.rx_packets) + ")" : "";
    if (!link.usable) {
        const Duration held = now - link.usable_changed;
        if (link.state != LinkState::kDown && held >= thresholds_.down_hold) {
            next = LinkState::kDown;
            evidence = describe_carrier(link) + " for " + millis(held);
        }
    } else {
        // Quiet since the last packet, but never since before the link came
        // up or before vigil started counting.
        TimePoint quiet_since = link.usable_changed;
        if (link.rx_since) quiet_since = std::max(quiet_since, *link.rx_since);
        if (link.last_rx) quiet_since = std::max(quiet_since, *link.last_rx);
        const Duration usable_for = now - link.usable_changed;
        if (link.rx_packets.has_value() && now - quiet_since >= thresholds_.idle_after) {
            if (link.state != LinkState::kIdle) {
                next = LinkState::kIdle;
                evidence = describe_carrier(link) + " but no packet received for " +
                           millis(now - quiet_since) + rx_text;
            }
        } else if (link.state != LinkState::kUp && usable_for >= thresholds_.up_hold) {
            if (!link.rx_packets.has_value()) {
                next = LinkState::kUp;
                evidence = describe_carrier(link) + " for " + millis(usable_for) +
                           "; no receive counter to confirm traffic";
            } else if (link.traffic_since && link.last_rx &&
                       *link.traffic_since >= link.usable_changed &&
                       *link.last_rx - *link.traffic_since >= thresholds_.up_hold) {
                // One stray packet is not traffic: it must keep arriving
                // for the hold time.
                next = LinkState::kUp;
                evidence = describe_carrier(link) + ", receiving for " +
                           millis(*link.last_rx - *link.traffic_since) + rx_text;
            }
        }
    }
    if (!next) return std::nullopt;
    LinkTransition t{
        .ifindex = ifindex,
        .name = link.name,
        .from = link.state,
        .to = *next,
        .at = now,
        .evidence = std::move(evidence),
    };
    link.state = *next;
    link.since = now;
    return t;
}

std::optional<LinkState> LinkHealth::state(std::int32_t ifindex) const {
    auto it = links_.find(ifindex);
    if (it == links_.end()) return std::nullopt;
    return it->second.state;
}

std::vector<LinkView> LinkHealth::links() const {
    std::vector<LinkView> out;
    out.reserve(links_.size());
    for (const auto& [ifindex, link] : links_) {
        out.push_back(LinkView{
            .ifindex = ifindex,
            .name = link.name,
            .state = link.state,
            .since = link.since,
            .carrier = link.carrier,
            .operstate = link.operstate,
            .rx_packets = link.rx_packets,
        });
    }
    return out;
}

}  // namespace vigil::core
