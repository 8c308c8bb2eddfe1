// What every domain's probes share: their status, and tracefs. Each domain
// (block_probes.h, sunrpc_probes.h, ...) opens its object, switches off the
// programs whose hooks this kernel lacks, attaches the rest, and turns
// ring-buffer records and kernel counters into typed values.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/ports/error.h"

namespace vigil::bpf {

enum class ProbeState : std::uint8_t { kAttached, kUnavailable, kFailed };

[[nodiscard]] std::string_view name(ProbeState state);

// One signal and whether the kernel gives it to us. A probe whose hook is
// missing is `unavailable`; one that exists but would not load or attach is
// `failed`. Neither stops the daemon.
struct ProbeStatus {
    std::string name;  // stable, used as the metrics label
    std::string hook;  // e.g. "tracepoint/block/block_rq_error"
    ProbeState state = ProbeState::kUnavailable;
    std::string reason;  // why it is not attached; empty when attached
};

// Where tracefs is mounted, mounting it at /sys/kernel/tracing if it is not
// (the classic tracepoints are attached by the id tracefs gives).
[[nodiscard]] std::expected<std::string, Error> ensure_tracefs();

}  // namespace vigil::bpf
