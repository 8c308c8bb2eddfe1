#include "daemon/watch/link_watcher.h"

#include <algorithm>
#include <map>

#include "daemon/core/decision.h"

namespace vigil::watch {

using adapters::Priority;
namespace mid = adapters::message_id;

std::unique_ptr<LinkWatcher> LinkWatcher::make(adapters::EventLoop& loop, Outputs outputs,
                                               core::LinkThresholds thresholds) {
    std::unique_ptr<LinkWatcher> self(new LinkWatcher(loop, std::move(outputs), thresholds));
    LinkWatcher* raw = self.get();
    auto links = adapters::LinkMonitor::make();
    if (links) {
        self->links_ = std::move(*links);
        if (auto ok = loop.watch_fd(self->links_->fd(), [raw] { raw->on_links(); }); !ok) {
            self->out_.journal.log(Priority::kError, mid::kLink, ok.error().message);
        }
        self->on_links();  // the initial dump may already wait
    } else {
        self->out_.journal.log(Priority::kError, mid::kLink,
                               "link monitoring unavailable: " + links.error().message);
    }
    auto net = bpf::NetProbes::make();
    if (net) {
        self->net_ = std::move(*net);
        for (const auto& p : self->net_->probes()) self->out_.probe(p);
        if (self->net_->event_fd() >= 0) {
            if (auto ok = loop.watch_fd(self->net_->event_fd(), [raw] { raw->on_tx_timeouts(); });
                !ok) {
                self->out_.journal.log(Priority::kError, mid::kProbe, ok.error().message);
            }
        }
    } else {
        self->out_.probe(
            {"net_rx", "tp_btf/netif_receive_skb", bpf::ProbeState::kFailed, net.error().message});
    }
    return self;
}

void LinkWatcher::report(const core::LinkTransition& t) {
    const std::string to = std::string(core::name(t.to));
    const std::string from = t.from ? std::string(core::name(*t.from)) : "unknown";
    const bool bad = t.to != core::LinkState::kUp;
    out_.evidence(bad && t.from ? Priority::kWarning : Priority::kInfo, mid::kLink,
                  "interface " + t.name + " is " + to + (t.from ? " (was " + from + ")" : "") +
                      ": " + t.evidence,
                  {{"INTERFACE", t.name},
                   {"IFINDEX", std::to_string(t.ifindex)},
                   {"STATE", to},
                   {"PREVIOUS", from},
                   {"EVIDENCE", t.evidence}});
    static const std::vector<std::string> kStates = {"up", "idle", "down"};
    out_.metrics.set_link_state(t.name, to, kStates);
    if (on_link_) on_link_(t.name, t.to);
}

void LinkWatcher::on_links() {
    auto drained = links_->drain([this](const adapters::LinkEvent& e) {
        const auto transition = e.removed
                                    ? link_health_.remove(e.ifindex, core::TimePoint(e.monotonic))
                                    : link_health_.observe_link(e.ifindex, adapters::to_signal(e));
        if (e.removed && net_) net_->forget(e.ifindex);
        if (transition) report(*transition);
    });
    if (!drained) {
        out_.journal.log(Priority::kError, mid::kLink,
                         "reading link changes: " + drained.error().message);
    }
}

void LinkWatcher::on_tx_timeouts() {
    net_->drain([this](const bpf::TxTimeoutEvent& ev) {
        out_.evidence(Priority::kWarning, mid::kLink,
                      "transmit timeout on " + ev.name + " queue " + std::to_string(ev.queue),
                      {{"INTERFACE", ev.name},
                       {"IFINDEX", std::to_string(ev.ifindex)},
                       {"QUEUE", std::to_string(ev.queue)}});
    });
}

void LinkWatcher::poll() {
    if (!net_) return;
    const core::TimePoint at(loop_.now());
    std::map<std::int32_t, bpf::InterfaceCounters> counters;
    for (const auto& c : net_->counters()) counters[c.ifindex] = c;
    const bool rx_attached =
        std::any_of(net_->probes().begin(), net_->probes().end(), [](const bpf::ProbeStatus& p) {
            return p.name == "net_rx" && p.state == bpf::ProbeState::kAttached;
        });
    for (const auto& view : link_health_.links()) {
        const auto it = counters.find(view.ifindex);
        // A link that never received a packet since the probe attached
        // has no counter yet: that is zero, not "unknown".
        if (it == counters.end() && !rx_attached) continue;
        const std::uint64_t rx = it == counters.end() ? 0 : it->second.rx_packets;
        if (auto t = link_health_.observe_rx(view.ifindex, {.now = at, .rx_packets = rx})) {
            report(*t);
        }
        if (it != counters.end()) out_.metrics.set_tx_timeouts(view.name, it->second.tx_timeouts);
    }
    for (const auto& t : link_health_.tick(at)) report(t);
}

}  // namespace vigil::watch
