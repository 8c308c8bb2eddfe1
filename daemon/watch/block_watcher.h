// The block watcher: the block probes (I/O errors, latency, writeback
// errors), /sys/block's per-device statistics, and one StorageMonitor per
// device that folds them into a health state. It logs each transition as
// evidence, exports the device series, and tells its owner every device's
// state at every poll (the evidence map turns that into storage domains).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "bpf/block_probes.h"
#include "daemon/adapters/block_devices.h"
#include "daemon/adapters/block_probe.h"
#include "daemon/adapters/event_loop.h"
#include "daemon/core/storage_monitor.h"
#include "daemon/watch/outputs.h"

namespace vigil::watch {

struct BlockWatcherOptions {
    core::StorageThresholds thresholds;
    std::uint32_t events_per_second = 20;
    // Rechecks due later than one poll interval are left to the next poll.
    std::chrono::milliseconds poll_interval{250};
    // Devices of the configured storage domains: while one is failed, it is
    // probed (a read of its first block) at every poll, so that it is known to
    // serve again as soon as it does (StorageMonitor::answering).
    std::set<std::string> probe_devices;
};

struct BlockIoErrors {
    std::string op;
    std::string error;
    std::uint64_t count = 0;
};

struct BlockDeviceSnapshot {
    std::string device;
    core::StorageHealth health = core::StorageHealth::kOk;
    std::uint32_t in_flight = 0;
    std::chrono::nanoseconds oldest_in_flight{};
    std::vector<BlockIoErrors> io_errors;
    std::map<std::string, std::uint64_t> writeback_errors;  // by errno name
};

struct BlockSnapshot {
    std::vector<BlockDeviceSnapshot> devices;  // by name
};

class BlockWatcher {
  public:
    // After every poll, per device: its health, whether requests are in flight,
    // and whether, failed, it answers probes again.
    using OnDevice = std::function<void(const std::string& device, core::StorageHealth health,
                                        bool in_flight, bool answering)>;
    // A device seen before is no longer in /sys/block.
    using OnGone = std::function<void(const std::string& device)>;

    // Loads the block probes; ones the kernel lacks are reported through
    // outputs.probe and leave the watcher without block evidence (never a
    // failure). `after_events` runs after the ring buffer was drained.
    [[nodiscard]] static std::unique_ptr<BlockWatcher> make(adapters::EventLoop& loop,
                                                            Outputs outputs,
                                                            const BlockWatcherOptions& options,
                                                            std::function<void()> after_events);
    BlockWatcher(const BlockWatcher&) = delete;
    BlockWatcher& operator=(const BlockWatcher&) = delete;

    // Creates the recheck alarm (when the probes loaded).
    [[nodiscard]] std::expected<void, Error> start_rechecks();
    // Reads the kernel's counters and per-device statistics, advances every
    // device's health and updates metrics. No-op without probes.
    void poll();
    [[nodiscard]] bool active() const { return probes_ != nullptr; }
    [[nodiscard]] BlockSnapshot snapshot() const;
    void set_on_device(OnDevice fn) { on_device_ = std::move(fn); }
    void set_on_gone(OnGone fn) { on_gone_ = std::move(fn); }

  private:
    BlockWatcher(adapters::EventLoop& loop, Outputs outputs, BlockWatcherOptions options)
        : loop_(loop), out_(std::move(outputs)), options_(std::move(options)) {}
    void on_errors();
    void on_probes();
    void probe_failed(std::chrono::nanoseconds now);
    void schedule_recheck(std::chrono::nanoseconds now);

    using ErrorKey = std::tuple<std::string, std::string, std::string>;  // device, op, error
    struct Device {
        explicit Device(core::StorageThresholds t) : monitor(t) {}
        core::StorageMonitor monitor;
        core::ProgressClock progress;
        core::StorageSample last{};
        std::map<std::string, std::uint64_t> writeback_errors;  // by errno name
        bool listed = false;                                    // in /sys/block at the last poll
        std::optional<std::chrono::nanoseconds> probed_at;      // the last probe submitted
        std::optional<std::chrono::nanoseconds> probe_ok_issued;
        bool answering = false;
    };
    Device& device(const std::string& name);

    adapters::EventLoop& loop_;
    Outputs out_;
    BlockWatcherOptions options_;
    std::function<void()> after_events_;
    std::unique_ptr<bpf::BlockProbes> probes_;
    std::unique_ptr<adapters::BlockProber> prober_;
    adapters::BlockDeviceNames device_names_;
    std::map<ErrorKey, std::uint64_t> errors_;
    std::map<std::string, Device> devices_;
    std::optional<adapters::EventLoop::WatchId> recheck_;
    std::optional<std::chrono::nanoseconds> recheck_at_;
    OnDevice on_device_;
    OnGone on_gone_;
};

// strerrorname_np, or "E<n>" for a number it does not know.
[[nodiscard]] std::string errno_name(int error);

}  // namespace vigil::watch
