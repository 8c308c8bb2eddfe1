// Link state from the kernel's routing netlink socket: carrier, operstate and
// admin state of every interface, first as a dump, then as each change
// happens. The socket never blocks; the daemon puts fd() into its event loop
// and calls drain() when it is readable. rtnetlink is the authoritative
// source of carrier changes on every kernel: no BPF hook is needed for them.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/link_health.h"
#include "daemon/ports/error.h"

namespace vigil::adapters {

struct LinkEvent {
    std::int32_t ifindex = 0;
    std::string name;
    bool removed = false;   // RTM_DELLINK: the interface is gone
    bool admin_up = false;  // IFF_UP
    bool carrier = false;   // IFLA_CARRIER (IFF_LOWER_UP where the kernel omits it)
    core::OperState operstate = core::OperState::kUnknown;
    // Carrier changes the kernel counted since the interface appeared
    // (IFLA_CARRIER_CHANGES, Linux 3.16+): shows flaps that happened between
    // two reports.
    std::optional<std::uint32_t> carrier_changes;
    bool from_dump = false;                // part of a full dump, not a change
    std::chrono::nanoseconds monotonic{};  // CLOCK_MONOTONIC when vigild read it
};

// What LinkHealth::observe_link() takes from a report (removals go to
// LinkHealth::remove() instead).
[[nodiscard]] inline core::LinkSignal to_signal(const LinkEvent& e) {
    return core::LinkSignal{.now = core::TimePoint(e.monotonic),
                            .name = e.name,
                            .admin_up = e.admin_up,
                            .carrier = e.carrier,
                            .operstate = e.operstate};
}

class LinkMonitor {
  public:
    // Opens the socket, subscribes to link changes and asks for a dump of
    // every link; the dump's reports arrive through drain() like changes.
    [[nodiscard]] static std::expected<std::unique_ptr<LinkMonitor>, Error> make();
    ~LinkMonitor();
    LinkMonitor(const LinkMonitor&) = delete;
    LinkMonitor& operator=(const LinkMonitor&) = delete;

    // Readable when reports wait.
    [[nodiscard]] int fd() const { return fd_; }

    // Reads every waiting message without blocking and hands each link report
    // to `on_link`; returns how many. When the kernel dropped notifications
    // (socket buffer overrun) a new dump is requested, so no change is lost
    // for long: the next reports restate every link.
    [[nodiscard]] std::expected<std::size_t, Error> drain(
        const std::function<void(const LinkEvent&)>& on_link);

    // The first full dump has been read: every link present at start is known.
    [[nodiscard]] bool initial_dump_done() const { return dumps_done_ > 0; }
    // How often notifications were lost and a dump requested again.
    [[nodiscard]] std::uint64_t resyncs() const { return resyncs_; }

  private:
    LinkMonitor() = default;
    [[nodiscard]] std::expected<void, Error> request_dump();
    [[nodiscard]] std::expected<void, Error> resync();
    void handle(const void* data, std::size_t size, std::chrono::nanoseconds now,
                const std::function<void(const LinkEvent&)>& on_link, std::size_t& count,
                std::optional<Error>& failure);

    int fd_ = -1;
    std::uint32_t seq_ = 0;
    std::uint32_t dump_seq_ = 0;  // the dump in progress, 0 when none
    bool dump_again_ = false;     // notifications were lost during a dump
    std::uint64_t dumps_done_ = 0;
    std::uint64_t resyncs_ = 0;
    std::vector<char> buffer_;
};

}  // namespace vigil::adapters
