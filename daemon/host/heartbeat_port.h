// The HeartbeatStore port over the storage heartbeat (adapters::StorageHeartbeat):
// submits go to its lanes; dispatch(), called when its fd is readable, turns
// each result into SlotWriteEvidence / SlotReadEvidence for the driver.
// Refused slots are bad input (vigil_bad_input_total{source="heartbeat_slot"},
// by reason in vigil_peer_records_refused_total), logged once per block and
// reason until the block reads again (RefusalLog); write latencies and failed
// writes and reads go to the metrics.
#pragma once

#include <functional>
#include <string>

#include "daemon/adapters/heartbeat.h"
#include "daemon/adapters/journal.h"
#include "daemon/host/refusal_log.h"
#include "daemon/ports/heartbeat_store.h"
#include "exporters/metrics.h"

namespace vigil::host {

class HeartbeatPort final : public ports::HeartbeatStore {
  public:
    using OnEvidence = std::function<void(const core::Evidence&)>;

    HeartbeatPort(adapters::StorageHeartbeat& store, const adapters::Journal& journal,
                  exporters::Metrics& metrics, OnEvidence on_evidence)
        : store_(store),
          journal_(journal),
          metrics_(metrics),
          on_evidence_(std::move(on_evidence)),
          refusals_("heartbeat_slot", journal, metrics) {}

    void submit_write(const core::HostStatus& status, core::TimePoint now) override;
    void submit_read(core::TimePoint now) override;
    // Every result that arrived, to the driver; call when fd() is readable.
    void dispatch();

  private:
    adapters::StorageHeartbeat& store_;
    const adapters::Journal& journal_;
    exporters::Metrics& metrics_;
    OnEvidence on_evidence_;
    RefusalLog refusals_;
    std::string write_error_;  // logged once per reason
    std::string read_error_;
};

}  // namespace vigil::host
