#pragma once

#include <chrono>

#include "daemon/core/decision.h"
#include "daemon/ports/request.h"

namespace vigil::ports {

// The hardware watchdog, armed before the driver starts with the timeout the device
// accepted (the driver's policy uses that one). The driver pets it only when the
// core says this host may live, and otherwise says why it did not (counted per
// reason); it never disarms it.
class Watchdog {
  public:
    virtual ~Watchdog() = default;
    virtual void pet() = 0;
    virtual void withhold(core::Reason why) = 0;
};

// Self-fence and out-of-band fence actions.
class Fencer {
  public:
    virtual ~Fencer() = default;
    // The reason for a self-fence, made durable before the reboot: the flight record
    // on local disk and the last-words block of our slot. It may block as long as
    // the storage does; the driver has stopped petting first, so the watchdog takes
    // the host even if it never returns.
    virtual void write_last_words(const core::Decision& why,
                                  std::chrono::system_clock::time_point wall) = 0;
    // Reboots this host now. Does not return in the daemon; the simulator resets the
    // host once the driver's call has returned.
    virtual void reboot_now() = 0;
    // Powers a peer off through its BMC (fence agents). The result comes back as
    // HostDriver::on_fence (confirmed off, or why not).
    [[nodiscard]] virtual RequestId fence_peer(core::HostId peer) = 0;
};

}  // namespace vigil::ports
