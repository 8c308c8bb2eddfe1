// The C++ side of vigil's BPF programs: opens each domain's object, switches
// off programs whose hooks this kernel lacks, attaches the rest, and turns
// ring-buffer records and kernel counters into typed values.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "daemon/ports/error.h"

struct bpf_object;
struct bpf_program;

namespace vigil::bpf {

enum class ProbeState { attached, unavailable, failed };

[[nodiscard]] const char* to_string(ProbeState state);

// One signal and whether the kernel gives it to us. A probe whose hook is
// missing is `unavailable`; one that exists but would not load or attach is
// `failed`. Neither stops the daemon.
struct ProbeStatus {
    std::string name;    // stable, used as the metrics label
    std::string hook;    // e.g. "tracepoint/block/block_rq_error"
    ProbeState state = ProbeState::unavailable;
    std::string reason;  // why it is not attached; empty when attached
};

struct DeviceNumber {
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
    auto operator<=>(const DeviceNumber&) const = default;
};

enum class BlockOp { other, read, write, discard, flush };

[[nodiscard]] const char* to_string(BlockOp op);

struct BlockErrorEvent {
    std::chrono::nanoseconds monotonic;  // CLOCK_MONOTONIC of the error
    DeviceNumber device;
    BlockOp op = BlockOp::other;
    int error = 0;  // positive errno, e.g. EIO
    std::uint64_t sector = 0;
    std::uint32_t sectors = 0;
    std::uint32_t suppressed_before = 0;  // rate-limited errors not sent since the last event
    std::string rwbs;
};

struct BlockErrorCount {
    DeviceNumber device;
    BlockOp op = BlockOp::other;
    int error = 0;  // positive errno
    std::uint64_t count = 0;
};

// Where tracefs is mounted, mounting it at /sys/kernel/tracing if it is not
// (the classic tracepoints are attached by the id tracefs gives).
[[nodiscard]] std::expected<std::string, Error> ensure_tracefs();

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

private:
    BlockProbes() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::vector<ProbeStatus> probes_;
};

class SunrpcProbes {
public:
    [[nodiscard]] static std::expected<std::unique_ptr<SunrpcProbes>, Error> make();
    ~SunrpcProbes();
    SunrpcProbes(const SunrpcProbes&) = delete;
    SunrpcProbes& operator=(const SunrpcProbes&) = delete;

    [[nodiscard]] std::span<const ProbeStatus> probes() const { return probes_; }
    [[nodiscard]] std::uint64_t major_timeouts() const;

private:
    SunrpcProbes() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::vector<ProbeStatus> probes_;
};

}  // namespace vigil::bpf
