// Block-layer evidence: I/O errors per device, operation and errno; latency
// histograms; writeback errors. Requests in flight come from the kernel's own
// per-device counters (daemon/adapters/block_stats.h), at no cost per I/O.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/probes.h"

namespace vigil::bpf {

struct DeviceNumber {
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
    auto operator<=>(const DeviceNumber&) const = default;
};

enum class BlockOp : std::uint8_t { kOther, kRead, kWrite, kDiscard, kFlush };

[[nodiscard]] std::string_view name(BlockOp op);

struct BlockErrorEvent {
    std::chrono::nanoseconds monotonic;  // CLOCK_MONOTONIC of the error
    DeviceNumber device;
    BlockOp op = BlockOp::kOther;
    int error = 0;  // positive errno, e.g. EIO
    std::uint64_t sector = 0;
    std::uint32_t sectors = 0;
    std::uint32_t suppressed_before = 0;  // rate-limited errors not sent since the last event
    std::string rwbs;
};

struct BlockErrorCount {
    DeviceNumber device;
    BlockOp op = BlockOp::kOther;
    int error = 0;  // positive errno
    std::uint64_t count = 0;
};

// Completed requests by latency: slots[k] counts those of [2^k, 2^(k+1)) us.
struct LatencyHistogram {
    DeviceNumber device;
    std::array<std::uint64_t, 32> slots{};
    std::uint64_t sum_us = 0;
};

struct WritebackErrorCount {
    DeviceNumber device;
    int error = 0;  // positive errno
    std::uint64_t count = 0;
};

struct BlockProbeOptions {
    std::uint32_t events_per_second = 20;  // ring-buffer events per device per second
};

class BlockProbes {
  public:
    [[nodiscard]] static std::expected<std::unique_ptr<BlockProbes>, Error> make(
        const BlockProbeOptions& options);
    ~BlockProbes();
    BlockProbes(const BlockProbes&) = delete;
    BlockProbes& operator=(const BlockProbes&) = delete;

    [[nodiscard]] std::span<const ProbeStatus> probes() const { return probes_; }
    // Readable when ring-buffer records wait; -1 when nothing is attached.
    [[nodiscard]] int event_fd() const;
    // Hands every waiting record to `on_error`; returns how many.
    int drain(const std::function<void(const BlockErrorEvent&)>& on_error);
    // The kernel's counters: every error, including rate-limited ones.
    [[nodiscard]] std::vector<BlockErrorCount> error_counts() const;
    [[nodiscard]] std::vector<LatencyHistogram> latency() const;
    [[nodiscard]] std::vector<WritebackErrorCount> writeback_errors() const;

  private:
    BlockProbes() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::vector<ProbeStatus> probes_;
};

}  // namespace vigil::bpf
