// The Cluster port over corosync (adapters::Cluster): a broadcast is a CPG
// send; a full queue (kBusy) is counted, not an error: the next heartbeat
// sends a newer status.
#pragma once

#include <cstdint>
#include <string>

#include "daemon/adapters/cluster.h"
#include "daemon/adapters/journal.h"
#include "daemon/ports/cluster.h"

namespace vigil::host {

class ClusterPort final : public ports::Cluster {
  public:
    ClusterPort(adapters::Cluster& cluster, const adapters::Journal& journal)
        : cluster_(cluster), journal_(journal) {}
    void broadcast(const core::HostStatus& status) override;
    [[nodiscard]] std::uint64_t busy() const { return busy_; }
    [[nodiscard]] std::uint64_t failed() const { return failed_; }

  private:
    adapters::Cluster& cluster_;
    const adapters::Journal& journal_;
    std::uint64_t busy_ = 0;
    std::uint64_t failed_ = 0;
    std::string last_error_;  // logged once until a send works again
};

}  // namespace vigil::host
