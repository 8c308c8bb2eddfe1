// Network evidence from the kernel: per-interface receive and transmit
// liveness (counted in the kernel, read at each poll) and TX watchdog
// timeouts (through the ring buffer). Carrier and operstate come from
// rtnetlink (daemon/adapters/rtnetlink.h), not from here.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bpf/probes.h"

namespace vigil::bpf {

// Cumulative since the programs were attached (or the interface's first
// packet after that). Summed over CPUs.
struct InterfaceCounters {
    std::int32_t ifindex = 0;
    std::uint64_t rx_packets = 0;
    std::uint64_t rx_bytes = 0;
    std::uint64_t tx_packets = 0;
    std::uint64_t tx_bytes = 0;
    std::uint64_t tx_errors = 0;  // the driver refused the packet
    std::uint64_t tx_timeouts = 0;
};

struct TxTimeoutEvent {
    std::chrono::nanoseconds monotonic;  // CLOCK_MONOTONIC of the timeout
    std::int32_t ifindex = 0;
    std::string name;
    std::int32_t queue = 0;
};

struct NetProbeOptions {
    // Inode of the network namespace whose interfaces are counted; 0 for the
    // namespace of the calling thread (vigild's own).
    std::uint32_t netns_inode = 0;
};

class NetProbes {
  public:
    // Probes: "net_rx" (tp_btf/netif_receive_skb), "net_tx" (tp_btf/net_dev_xmit),
    // "net_tx_timeouts" (tp_btf/net_dev_xmit_timeout). Each is optional: one the
    // kernel lacks is `unavailable`, never an error here.
    [[nodiscard]] static std::expected<std::unique_ptr<NetProbes>, Error> make(
        const NetProbeOptions& options = {});
    ~NetProbes();
    NetProbes(const NetProbes&) = delete;
    NetProbes& operator=(const NetProbes&) = delete;

    [[nodiscard]] std::span<const ProbeStatus> probes() const { return probes_; }
    [[nodiscard]] std::uint32_t netns_inode() const { return netns_inode_; }

    // Readable when ring-buffer records wait; -1 when nothing is attached.
    [[nodiscard]] int event_fd() const;
    // Hands every waiting TX timeout to `on_timeout`; returns how many.
    int drain(const std::function<void(const TxTimeoutEvent&)>& on_timeout);

    // The kernel's counters of every interface that has seen a packet.
    [[nodiscard]] std::vector<InterfaceCounters> counters() const;
    // Drops an interface's counters (after RTM_DELLINK), so a later
    // interface with the same index starts from zero.
    void forget(std::int32_t ifindex);

  private:
    NetProbes() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::vector<ProbeStatus> probes_;
    std::uint32_t netns_inode_ = 0;
};

}  // namespace vigil::bpf
