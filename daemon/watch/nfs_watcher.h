// The NFS watcher: the client's per-mount RPC counters from mountstats,
// folded by NfsHealth into ok, degraded, stalled or gone per mount. It logs
// each transition as evidence, exports the mount series, and tells its owner
// every mount's state at every poll (the evidence map turns that into
// storage domains).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/core/nfs_health.h"
#include "daemon/watch/outputs.h"

namespace vigil::watch {

struct NfsSnapshot {
    std::vector<core::NfsMountView> mounts;
    std::string mountstats_error;  // why the last reading was refused; empty when it was read
};

class NfsWatcher {
  public:
    // After every reading, per mount: its state and whether requests are unanswered.
    using OnMount =
        std::function<void(const std::string& mount, core::NfsMountState state, bool in_flight)>;

    NfsWatcher(Outputs outputs, core::NfsThresholds thresholds, std::string mountstats)
        : out_(std::move(outputs)), health_(thresholds), mountstats_(std::move(mountstats)) {}

    // Reads mountstats and advances every mount's health; every NFS poll interval.
    void poll(core::TimePoint now);
    // Opened afresh at every poll, so a reload takes a new path at once.
    void set_mountstats(std::string path) { mountstats_ = std::move(path); }
    [[nodiscard]] NfsSnapshot snapshot() const { return {health_.mounts(), error_}; }
    void set_on_mount(OnMount fn) { on_mount_ = std::move(fn); }

  private:
    Outputs out_;
    core::NfsHealth health_;
    std::string mountstats_;
    std::string error_;  // why the last mountstats reading was refused; logged once
    OnMount on_mount_;
};

}  // namespace vigil::watch
