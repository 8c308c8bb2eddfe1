// What every watcher reports through: the journal, the metrics, the flight
// recorder's notes (every piece of evidence that is logged is also kept for a
// self-fence's record) and the probe list.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "bpf/probes.h"
#include "daemon/adapters/journal.h"
#include "exporters/metrics.h"

namespace vigil::watch {

struct Outputs {
    const adapters::Journal& journal;
    exporters::Metrics& metrics;
    // Logs a record that is evidence and notes it for the flight recorder.
    std::function<void(adapters::Priority, std::string_view id, const std::string& message,
                       const adapters::Fields& fields)>
        evidence;
    // A probe was attached, or could not be.
    std::function<void(const bpf::ProbeStatus&)> probe;
};

}  // namespace vigil::watch
