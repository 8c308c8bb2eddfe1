// One vigild of this build tree, started the way systemd starts it: its own
// config in a temporary directory, readiness through NOTIFY_SOCKET, records on
// stderr in a file. Stopped (SIGTERM, then SIGKILL) when destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>

#include "tests/tools/fixtures/fixtures.h"

namespace vigil::bench {

class VigildProcess {
  public:
    // `extra_config` is TOML appended after the [metrics] and [control] tables.
    [[nodiscard]] static std::expected<std::unique_ptr<VigildProcess>, std::string> start(
        const std::string& extra_config,
        std::chrono::milliseconds ready_timeout = std::chrono::milliseconds(10000));
    ~VigildProcess();
    VigildProcess(const VigildProcess&) = delete;
    VigildProcess& operator=(const VigildProcess&) = delete;

    [[nodiscard]] pid_t pid() const { return proc_ ? proc_->pid() : -1; }
    [[nodiscard]] bool running() { return proc_ && proc_->running(); }
    [[nodiscard]] std::uint16_t metrics_port() const { return port_; }
    // Everything vigild wrote to stderr so far.
    [[nodiscard]] std::string log() const;

  private:
    VigildProcess() = default;
    [[nodiscard]] bool wait_ready(std::chrono::milliseconds timeout);

    std::optional<testing::TempDir> dir_;
    std::optional<testing::Subprocess> proc_;
    std::uint16_t port_ = 0;
    int notify_fd_ = -1;
};

}  // namespace vigil::bench
