// Refused peer records (cluster messages, heartbeat slot blocks): every one is
// counted (vigil_bad_input_total{source} and, by reason,
// vigil_peer_records_refused_total{source,reason}), but logged only when a
// peer's records start being refused for a reason, and once more when they are
// read again: a peer that writes a newer format refuses one record per
// heartbeat, and a line per heartbeat would bury everything else.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "daemon/adapters/journal.h"
#include "daemon/core/slot_codec.h"
#include "exporters/metrics.h"

namespace vigil::host {

class RefusalLog {
  public:
    // `source`: "cluster" or "heartbeat_slot", the metrics' source label.
    RefusalLog(std::string source, const adapters::Journal& journal, exporters::Metrics& metrics)
        : source_(std::move(source)), journal_(journal), metrics_(metrics) {}

    // One refused record from `who` (a peer's node, a slot's block: what the log
    // names), with the fields that locate it.
    void refused(const std::string& who, const core::DecodeError& why, adapters::Fields fields);
    // `who`'s records are read again (or no longer refused): the next refusal is
    // logged again.
    void accepted(const std::string& who);
    // Everyone refused since the last call but not in `now_refused` is accepted.
    void accept_all_but(const std::set<std::string>& now_refused);

    // Refusals logged and not yet read again, by who (for tests and status).
    [[nodiscard]] const std::map<std::string, std::set<core::Refusal>>& open() const {
        return open_;
    }

    // Lines written so far.
    [[nodiscard]] std::uint64_t lines() const { return lines_; }

  private:
    std::uint64_t lines_ = 0;
    std::string source_;
    const adapters::Journal& journal_;
    exporters::Metrics& metrics_;
    std::map<std::string, std::set<core::Refusal>> open_;
};

}  // namespace vigil::host
