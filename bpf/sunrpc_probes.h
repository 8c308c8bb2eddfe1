// NFS/SUNRPC evidence from the sunrpc tracepoints (optional).
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <vector>

#include "bpf/probes.h"

namespace vigil::bpf {

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
