#pragma once

namespace vigil::ports {

// The hardware watchdog. The engine says whether to pet at each tick; the adapter
// pets only then, and never disarms it except on a clean stop.
class Watchdog {
  public:
    virtual ~Watchdog() = default;
    virtual void pet() = 0;
};

// Self-fence actions the engine may order.
class Fencer {
  public:
    virtual ~Fencer() = default;
    virtual void reboot_now() = 0;
};

}  // namespace vigil::ports
