// The daemon's one event loop (sd-event). Every source enters through it:
// file descriptors, timers, signals. It also answers systemd's watchdog, so
// a stalled loop stops WATCHDOG=1 and systemd restarts the daemon.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "daemon/ports/error.h"

struct sd_event;
struct sd_event_source;

namespace vigil::adapters {

class EventLoop {
  public:
    using Callback = std::function<void()>;

    [[nodiscard]] static std::expected<std::unique_ptr<EventLoop>, Error> make();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    using WatchId = std::uint64_t;

    // Calls `on_readable` whenever `fd` is readable, until unwatch().
    [[nodiscard]] std::expected<WatchId, Error> watch_fd(int fd, Callback on_readable);
    // Safe to call from the watch's own callback.
    void unwatch(WatchId id);
    // Calls `on_tick` every `interval`, first after one interval.
    [[nodiscard]] std::expected<WatchId, Error> every(std::chrono::milliseconds interval,
                                                      Callback on_tick);
    // A new interval for a timer made by every(); the next tick comes one
    // new interval from now.
    void set_interval(WatchId id, std::chrono::milliseconds interval);
    // A timer its owner sets to any moment, again and again; it fires once
    // per setting. Until set_alarm() it sleeps.
    [[nodiscard]] std::expected<WatchId, Error> add_alarm(Callback on_alarm);
    // Sets the alarm to `at` (CLOCK_MONOTONIC), replacing any earlier setting.
    void set_alarm(WatchId id, std::chrono::nanoseconds at);
    // SIGTERM and SIGINT end run() cleanly.
    [[nodiscard]] std::expected<void, Error> stop_on_signals();
    // Calls `on_signal` from the loop each time `signo` arrives. The signal
    // is blocked for the whole process, so call this before any thread
    // starts: threads inherit the mask and the signal reaches only the loop.
    [[nodiscard]] std::expected<void, Error> on_signal(int signo, Callback on_signal);
    // Answers systemd's watchdog (WATCHDOG_USEC) from the loop itself.
    [[nodiscard]] std::expected<void, Error> enable_systemd_watchdog();

    // Runs until exit() or a stop signal; returns the exit code.
    int run();
    void exit(int code);
    // CLOCK_MONOTONIC when the loop last woke up: one time for all of an
    // iteration's callbacks.
    [[nodiscard]] std::chrono::nanoseconds now() const;

  private:
    EventLoop() = default;
    struct Handler;
    sd_event* event_ = nullptr;
    sd_event_source* defer_ = nullptr;  // frees retired_ on the next iteration
    void free_retired();
    std::map<WatchId, std::unique_ptr<Handler>> handlers_;
    std::vector<std::unique_ptr<Handler>> retired_;
    WatchId next_id_ = 1;
};

// CLOCK_MONOTONIC read now, for measuring delays inside a callback.
[[nodiscard]] std::chrono::nanoseconds monotonic_now();

}  // namespace vigil::adapters
