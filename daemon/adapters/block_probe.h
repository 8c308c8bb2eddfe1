// Probes of block devices: a small O_DIRECT read of a device's first block,
// for the block watcher to learn that a failed device serves again while
// nothing else does I/O on it (qemu paused its guests on the error). A read
// of a device whose storage is gone can hang (a loop device over a hung NFS
// server, a SAN path that queues), so each probe runs on a thread of its own
// and its result comes back through fd(), which the loop watches and answers
// with dispatch(). At most one probe per device is in flight: a device whose
// probe hangs gets no other until it returns.
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "daemon/ports/error.h"

namespace vigil::adapters {

struct BlockProbeResult {
    std::string device;
    std::chrono::nanoseconds issued{};  // the loop's time when it was submitted
    bool ok = false;
    std::string error;  // empty when ok
};

class BlockProber {
  public:
    // Devices are opened as `dev_dir`/NAME.
    [[nodiscard]] static std::expected<std::unique_ptr<BlockProber>, Error> make(
        std::filesystem::path dev_dir = "/dev");
    // Never waits for a probe still in I/O; it frees what it holds when it returns.
    ~BlockProber();
    BlockProber(const BlockProber&) = delete;
    BlockProber& operator=(const BlockProber&) = delete;

    // Readable (eventfd) when results wait for dispatch().
    [[nodiscard]] int fd() const;
    // Starts a probe of `device`; false when one is still in flight.
    bool submit(const std::string& device, std::chrono::nanoseconds issued);
    // The results that arrived, oldest first; never blocks.
    [[nodiscard]] std::vector<BlockProbeResult> dispatch();

    struct Shared;

  private:
    BlockProber() = default;
    void start(const std::string& device, std::chrono::nanoseconds issued);
    std::shared_ptr<Shared> shared_;
    std::filesystem::path dev_dir_;
};

}  // namespace vigil::adapters
