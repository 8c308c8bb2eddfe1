// The Fencer port. write_last_words() commits the flight recorder to local
// disk and then writes our slot's last words on shared storage, in that order
// and synchronously: the driver has stopped petting first, so if either hangs
// the watchdog takes the host. reboot_now() is fence::reboot_now(); if it
// returns, both ways failed and the watchdog is what is left. There is no
// fence agent configuration yet: fence_peer() answers "not confirmed" on the
// next loop iteration.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>

#include "daemon/adapters/heartbeat_area.h"
#include "daemon/adapters/journal.h"
#include "daemon/ports/error.h"
#include "daemon/ports/watchdog.h"
#include "fence/flight_recorder.h"
#include "fence/reboot.h"

namespace vigil::host {

struct FencerParts {
    fence::FlightRecorder* recorder = nullptr;  // null: no flight recorder could be made
    // Writes our slot's last words (adapters::write_last_words on the area).
    std::function<std::expected<void, Error>(const adapters::LastWords&)> last_words;
    fence::RebootCalls& reboot;
    // Runs `fn` on the next loop iteration.
    std::function<void(std::function<void()>)> later;
    // The answer to a fence_peer() request.
    std::function<void(ports::RequestId, bool confirmed, const std::string& detail)> on_fence;
};

class Fencer final : public ports::Fencer {
  public:
    Fencer(FencerParts parts, core::HostId self, std::uint64_t incarnation,
           const adapters::Journal& journal)
        : parts_(std::move(parts)), self_(self), incarnation_(incarnation), journal_(journal) {}
    void write_last_words(const core::Decision& why,
                          std::chrono::system_clock::time_point wall) override;
    void reboot_now() override;
    [[nodiscard]] ports::RequestId fence_peer(core::HostId peer) override;
    // The evidence noted for the flight recorder, for the last words too.
    void note(std::string evidence);

  private:
    FencerParts parts_;
    core::HostId self_;
    std::uint64_t incarnation_;
    const adapters::Journal& journal_;
    std::vector<std::string> notes_;  // the last ones, for the slot's last words
    ports::RequestId next_id_ = 1;
};

}  // namespace vigil::host
