#include "daemon/adapters/event_loop.h"

#include <systemd/sd-event.h>

#include <algorithm>
#include <csignal>
#include <ctime>

namespace vigil::adapters {

struct EventLoop::Handler {
    EventLoop::Callback callback;
    std::uint64_t interval_usec = 0;
    sd_event_source* source = nullptr;

    ~Handler() {
        if (source != nullptr) sd_event_source_disable_unref(source);
    }
};

namespace {

int on_io(sd_event_source*, int, std::uint32_t, void* userdata) {
    static_cast<EventLoop::Callback*>(userdata)->operator()();
    return 0;
}

}  // namespace

std::expected<std::unique_ptr<EventLoop>, Error> EventLoop::make() {
    std::unique_ptr<EventLoop> self(new EventLoop());
    if (int r = sd_event_new(&self->event_); r < 0) {
        return std::unexpected(Error::from_errno("creating the event loop", r));
    }
    return self;
}

EventLoop::~EventLoop() {
    handlers_.clear();
    free_retired();
    if (event_ != nullptr) sd_event_unref(event_);
}

std::expected<EventLoop::WatchId, Error> EventLoop::watch_fd(int fd, Callback on_readable) {
    auto handler = std::make_unique<Handler>();
    handler->callback = std::move(on_readable);
    if (int r = sd_event_add_io(event_, &handler->source, fd, EPOLLIN, on_io, &handler->callback);
        r < 0) {
        return std::unexpected(Error::from_errno("watching fd " + std::to_string(fd), r));
    }
    const WatchId id = next_id_++;
    handlers_.emplace(id, std::move(handler));
    return id;
}

void EventLoop::unwatch(WatchId id) {
    const auto it = handlers_.find(id);
    if (it == handlers_.end()) return;
    sd_event_source_set_enabled(it->second->source, SD_EVENT_OFF);
    // The callback being run may be this very handler: free it on the next
    // loop iteration instead of now.
    retired_.push_back(std::move(it->second));
    handlers_.erase(it);
    if (retired_.size() == 1) {
        auto on_defer = [](sd_event_source*, void* userdata) -> int {
            static_cast<EventLoop*>(userdata)->free_retired();
            return 0;
        };
        if (sd_event_add_defer(event_, &defer_, on_defer, this) < 0) {
            defer_ = nullptr;
            return;
        }
        sd_event_source_set_enabled(defer_, SD_EVENT_ONESHOT);
    }
}

void EventLoop::free_retired() {
    retired_.clear();
    // Held here rather than by the source itself, so that a loop that ends
    // before the deferred call still frees it (and the sd_event it pins).
    if (defer_ != nullptr) defer_ = sd_event_source_unref(defer_);
}

std::expected<EventLoop::WatchId, Error> EventLoop::every(std::chrono::milliseconds interval,
                                                          Callback on_tick) {
    auto handler = std::make_unique<Handler>();
    handler->callback = std::move(on_tick);
    handler->interval_usec = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(interval).count());
    std::uint64_t now = 0;
    sd_event_now(event_, CLOCK_MONOTONIC, &now);
    auto on_timer = [](sd_event_source* source, std::uint64_t usec, void* userdata) -> int {
        auto* h = static_cast<Handler*>(userdata);
        // Re-arm from the scheduled time, not from now, so ticks do not drift.
        sd_event_source_set_time(source, usec + h->interval_usec);
        h->callback();
        return 0;
    };
    if (int r = sd_event_add_time(event_, &handler->source, CLOCK_MONOTONIC,
                                  now + handler->interval_usec, 1000, on_timer, handler.get());
        r < 0) {
        return std::unexpected(Error::from_errno("adding a timer", r));
    }
    sd_event_source_set_enabled(handler->source, SD_EVENT_ON);
    const WatchId id = next_id_++;
    handlers_.emplace(id, std::move(handler));
    return id;
}

void EventLoop::set_interval(WatchId id, std::chrono::milliseconds interval) {
    const auto it = handlers_.find(id);
    if (it == handlers_.end() || it->second->interval_usec == 0) return;
    auto& h = *it->second;
    h.interval_usec = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(interval).count());
    std::uint64_t now = 0;
    sd_event_now(event_, CLOCK_MONOTONIC, &now);
    sd_event_source_set_time(h.source, now + h.interval_usec);
}

std::expected<EventLoop::WatchId, Error> EventLoop::add_alarm(Callback on_alarm) {
    auto handler = std::make_unique<Handler>();
    handler->callback = std::move(on_alarm);
    auto on_timer = [](sd_event_source*, std::uint64_t, void* userdata) -> int {
        static_cast<Handler*>(userdata)->callback();
        return 0;
    };
    if (int r = sd_event_add_time(event_, &handler->source, CLOCK_MONOTONIC, 0, 1000, on_timer,
                                  handler.get());
        r < 0) {
        return std::unexpected(Error::from_errno("adding an alarm", r));
    }
    sd_event_source_set_enabled(handler->source, SD_EVENT_OFF);
    const WatchId id = next_id_++;
    handlers_.emplace(id, std::move(handler));
    return id;
}

void EventLoop::set_alarm(WatchId id, std::chrono::nanoseconds at) {
    const auto it = handlers_.find(id);
    if (it == handlers_.end()) return;
    const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(at).count();
    sd_event_source_set_time(it->second->source,
                             static_cast<std::uint64_t>(std::max<long>(usec, 1)));
    sd_event_source_set_enabled(it->second->source, SD_EVENT_ONESHOT);
}

std::expected<void, Error> EventLoop::stop_on_signals() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0) {
        return std::unexpected(Error::from_errno("blocking SIGTERM and SIGINT", errno));
    }
    for (int sig : {SIGTERM, SIGINT}) {
        // A null handler makes sd-event exit the loop with code 0 on the signal.
        if (int r = sd_event_add_signal(event_, nullptr, sig, nullptr, nullptr); r < 0) {
            return std::unexpected(Error::from_errno("watching signal " + std::to_string(sig), r));
        }
    }
    return {};
}

std::expected<void, Error> EventLoop::on_signal(int signo, Callback on_signal) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, signo);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0) {
        return std::unexpected(
            Error::from_errno("blocking signal " + std::to_string(signo), errno));
    }
    auto handler = std::make_unique<Handler>();
    handler->callback = std::move(on_signal);
    auto on_sig = [](sd_event_source*, const signalfd_siginfo*, void* userdata) -> int {
        static_cast<Handler*>(userdata)->callback();
        return 0;
    };
    if (int r = sd_event_add_signal(event_, &handler->source, signo, on_sig, handler.get());
        r < 0) {
        return std::unexpected(Error::from_errno("watching signal " + std::to_string(signo), r));
    }
    handlers_.emplace(next_id_++, std::move(handler));
    return {};
}

std::expected<void, Error> EventLoop::enable_systemd_watchdog() {
    if (int r = sd_event_set_watchdog(event_, 1); r < 0) {
        return std::unexpected(Error::from_errno("enabling the systemd watchdog", r));
    }
    return {};
}

int EventLoop::run() {
    const int r = sd_event_loop(event_);
    return r < 0 ? 1 : r;
}

void EventLoop::exit(int code) { sd_event_exit(event_, code); }

std::chrono::nanoseconds EventLoop::now() const {
    std::uint64_t usec = 0;
    if (sd_event_now(event_, CLOCK_MONOTONIC, &usec) < 0) return monotonic_now();
    return std::chrono::microseconds(usec);
}

std::chrono::nanoseconds monotonic_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace vigil::adapters
