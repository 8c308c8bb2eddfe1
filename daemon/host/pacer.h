// The Pacer port on the event loop: an alarm that begins an early heartbeat
// the way the regular timer begins one (the slot read now, the heartbeat a
// read lead later: ClusterMode::tick_read).
#pragma once

#include "daemon/adapters/event_loop.h"
#include "daemon/ports/pacer.h"

namespace vigil::host {

class LoopPacer final : public ports::Pacer {
  public:
    // `alarm` is a loop alarm (EventLoop::add_alarm) whose callback begins a heartbeat.
    LoopPacer(adapters::EventLoop& loop, adapters::EventLoop::WatchId alarm)
        : loop_(loop), alarm_(alarm) {}
    void beat_early(core::TimePoint read_at) override {
        loop_.set_alarm(alarm_, read_at.time_since_epoch());
    }

  private:
    adapters::EventLoop& loop_;
    adapters::EventLoop::WatchId alarm_;
};

}  // namespace vigil::host
