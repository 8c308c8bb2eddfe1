// NFS/SUNRPC evidence from the sunrpc tracepoints (optional).
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bpf/probes.h"

namespace vigil::bpf {

// Totals since the programs attached, summed over CPUs.
struct SunrpcCounts {
    std::uint64_t major_timeouts = 0;  // rpc_timeout_status: "server not responding"
    std::uint64_t minor_timeouts = 0;  // xprt_timer: a request's timer expired
    std::uint64_t retransmits = 0;     // xprt_retransmit
    std::uint64_t call_errors = 0;     // rpc_call_rpcerror, signals excepted
};

struct SunrpcOptions {
    // Where tracefs is mounted; empty: find or mount it (ensure_tracefs()).
    std::string tracefs;
};

// The sunrpc module may be loaded after vigild starts (the first NFS mount
// loads it). Until some hook exists nothing is loaded, and retry() checks
// again; once loaded, the set of probes is final: the module cannot be
// unloaded while a program is attached to one of its tracepoints.
class SunrpcProbes {
  public:
    [[nodiscard]] static std::expected<std::unique_ptr<SunrpcProbes>, Error> make(
        const SunrpcOptions& options = {});
    ~SunrpcProbes();
    SunrpcProbes(const SunrpcProbes&) = delete;
    SunrpcProbes& operator=(const SunrpcProbes&) = delete;

    [[nodiscard]] std::span<const ProbeStatus> probes() const { return probes_; }
    [[nodiscard]] SunrpcCounts counts() const;

    // Whether no hook existed so far, so that retry() may still attach some.
    [[nodiscard]] bool waiting() const;
    // Looks for the hooks again (a stat() per hook while waiting, nothing
    // after) and loads and attaches those that appeared. Returns whether any
    // probe's status changed.
    bool retry();

  private:
    SunrpcProbes() = default;
    void try_attach();
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::vector<ProbeStatus> probes_;
};

namespace detail {
// Sums the per-CPU counters of a sunrpc_counts map (the loader and tests).
[[nodiscard]] SunrpcCounts read_sunrpc_counts(int map_fd);
}  // namespace detail

}  // namespace vigil::bpf
