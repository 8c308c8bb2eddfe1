// The link watcher: rtnetlink (carrier, operstate, links added and removed),
// the net probes (per-interface receive counters, transmit timeouts), and the
// LinkHealth model that folds them into up, idle or down per interface. It
// logs each transition as evidence, exports the link series, and tells its
// owner each transition (the evidence map turns it into network roles).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bpf/net_probes.h"
#include "daemon/adapters/event_loop.h"
#include "daemon/adapters/rtnetlink.h"
#include "daemon/core/link_health.h"
#include "daemon/watch/outputs.h"

namespace vigil::watch {

struct LinkSnapshot {
    std::vector<core::LinkView> links;
};

class LinkWatcher {
  public:
    using OnLink = std::function<void(const std::string& interface, core::LinkState state)>;

    // Opens rtnetlink and loads the net probes; either missing is logged and
    // reported, never a failure.
    [[nodiscard]] static std::unique_ptr<LinkWatcher> make(adapters::EventLoop& loop,
                                                           Outputs outputs,
                                                           core::LinkThresholds thresholds);
    LinkWatcher(const LinkWatcher&) = delete;
    LinkWatcher& operator=(const LinkWatcher&) = delete;

    // Reads the receive counters and lets hold times expire; every poll interval.
    void poll();
    [[nodiscard]] LinkSnapshot snapshot() const { return {link_health_.links()}; }
    void set_on_link(OnLink fn) { on_link_ = std::move(fn); }

  private:
    LinkWatcher(adapters::EventLoop& loop, Outputs outputs, core::LinkThresholds thresholds)
        : loop_(loop), out_(std::move(outputs)), link_health_(thresholds) {}
    void on_links();
    void on_tx_timeouts();
    void report(const core::LinkTransition& transition);

    adapters::EventLoop& loop_;
    Outputs out_;
    core::LinkHealth link_health_;
    std::unique_ptr<adapters::LinkMonitor> links_;
    std::unique_ptr<bpf::NetProbes> net_;
    OnLink on_link_;
};

}  // namespace vigil::watch
