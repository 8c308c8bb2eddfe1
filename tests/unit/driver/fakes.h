// Hand-written fakes of every port the driver talks to. Each records its calls, in
// order, in one CallLog shared by all of them, so a test can check the order of calls
// across ports; calls that start an action return increasing request ids, never 0.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "daemon/core/decision.h"
#include "daemon/driver/host_driver.h"
#include "daemon/ports/clock.h"
#include "daemon/ports/cluster.h"
#include "daemon/ports/event_sink.h"
#include "daemon/ports/heartbeat_store.h"
#include "daemon/ports/hypervisor.h"
#include "daemon/ports/pacer.h"
#include "daemon/ports/watchdog.h"

namespace vigil::driver::testing {

struct CallLog {
    std::vector<std::string> calls;
    void add(std::string call) { calls.push_back(std::move(call)); }
    // The calls made since `mark` (a size taken earlier).
    [[nodiscard]] std::vector<std::string> since(std::size_t mark) const {
        return {calls.begin() + static_cast<std::ptrdiff_t>(mark), calls.end()};
    }
};

// Time moves only when a test moves it; both clocks move together unless a test
// steps the wall clock on its own.
class FakeClock final : public ports::Clock {
  public:
    [[nodiscard]] core::TimePoint now() const override { return now_; }
    [[nodiscard]] std::chrono::system_clock::time_point wall() const override { return wall_; }
    void advance(core::Duration d) {
        now_ += d;
        wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
    }
    void step_wall(std::chrono::system_clock::duration d) { wall_ += d; }

  private:
    core::TimePoint now_{};
    std::chrono::system_clock::time_point wall_ =
        std::chrono::sys_days{std::chrono::January / 1 / 2026};
};

class FakeHypervisor final : public ports::Hypervisor {
  public:
    explicit FakeHypervisor(CallLog& log) : log_(log) {}
    [[nodiscard]] ports::RequestId start(const std::string& vm) override {
        return issue("start", vm);
    }
    [[nodiscard]] ports::RequestId stop(const std::string& vm) override {
        return issue("stop", vm);
    }
    [[nodiscard]] ports::RequestId resume(const std::string& vm) override {
        return issue("resume", vm);
    }
    [[nodiscard]] ports::RequestId migrate(const std::string& vm, core::HostId target) override {
        return issue("migrate", vm + " to " + core::host_name(target));
    }
    void refresh() override {
        ++refreshes;
        log_.add("hypervisor.refresh");
    }
    int refreshes = 0;
    ports::RequestId last_id = 0;

  private:
    ports::RequestId issue(const std::string& what, const std::string& vm) {
        ++last_id;
        log_.add("hypervisor." + what + " " + vm + " #" + std::to_string(last_id));
        return last_id;
    }
    CallLog& log_;
};

class FakeHeartbeatStore final : public ports::HeartbeatStore {
  public:
    explicit FakeHeartbeatStore(CallLog& log) : log_(log) {}
    void submit_write(const core::HostStatus& status, core::TimePoint now) override {
        writes.emplace_back(status, now);
        log_.add("heartbeat.submit_write seq=" + std::to_string(status.sequence));
    }
    void submit_read(core::TimePoint now) override {
        reads.push_back(now);
        log_.add("heartbeat.submit_read");
    }
    std::vector<std::pair<core::HostStatus, core::TimePoint>> writes;
    std::vector<core::TimePoint> reads;

  private:
    CallLog& log_;
};

class FakeCluster final : public ports::Cluster {
  public:
    explicit FakeCluster(CallLog& log) : log_(log) {}
    void broadcast(const core::HostStatus& status) override {
        sent.push_back(status);
        log_.add("cluster.broadcast seq=" + std::to_string(status.sequence));
    }
    std::vector<core::HostStatus> sent;

  private:
    CallLog& log_;
};

class FakeWatchdog final : public ports::Watchdog {
  public:
    explicit FakeWatchdog(CallLog& log) : log_(log) {}
    void pet() override {
        ++pets;
        log_.add("watchdog.pet");
    }
    void withhold(core::Reason why) override {
        withheld.push_back(why);
        log_.add("watchdog.withhold " + std::string(core::name(why)));
    }
    int pets = 0;
    std::vector<core::Reason> withheld;

  private:
    CallLog& log_;
};

class FakeFencer final : public ports::Fencer {
  public:
    explicit FakeFencer(CallLog& log) : log_(log) {}
    void write_last_words(const core::Decision& why,
                          std::chrono::system_clock::time_point wall) override {
        last_words.emplace_back(why, wall);
        log_.add("fencer.write_last_words " + std::string(core::name(why.kind)));
    }
    void reboot_now() override {
        ++reboots;
        log_.add("fencer.reboot_now");
    }
    [[nodiscard]] ports::RequestId fence_peer(core::HostId peer) override {
        ++last_id;
        log_.add("fencer.fence_peer " + core::host_name(peer) + " #" + std::to_string(last_id));
        return last_id;
    }
    std::vector<std::pair<core::Decision, std::chrono::system_clock::time_point>> last_words;
    int reboots = 0;
    ports::RequestId last_id = 0;

  private:
    CallLog& log_;
};

// Keeps what it is given apart from the call log: the log is for what the driver
// does to the world, the sink for what it reports.
class FakeEventSink final : public ports::EventSink {
  public:
    void decision(core::TimePoint at, const core::Decision& decision) override {
        decisions.emplace_back(at, decision);
    }
    void outcome(core::TimePoint at, const core::ActionEvidence& outcome) override {
        outcomes.emplace_back(at, outcome);
    }
    std::vector<std::pair<core::TimePoint, core::Decision>> decisions;
    std::vector<std::pair<core::TimePoint, core::ActionEvidence>> outcomes;
};

// Records the early heartbeats asked for; the test runs them.
class FakePacer final : public ports::Pacer {
  public:
    void beat_early(core::TimePoint read_at) override { requests.push_back(read_at); }
    std::vector<core::TimePoint> requests;
};

// One host's world.
struct FakeWorld {
    CallLog log;
    FakeClock clock;
    FakeHypervisor hypervisor{log};
    FakeHeartbeatStore heartbeat{log};
    FakeCluster cluster{log};
    FakeWatchdog watchdog{log};
    FakeFencer fencer{log};
    FakeEventSink events;
    FakePacer pacer;

    [[nodiscard]] Ports ports() {
        return Ports{.clock = clock,
                     .hypervisor = hypervisor,
                     .heartbeat = heartbeat,
                     .cluster = cluster,
                     .watchdog = watchdog,
                     .fencer = fencer,
                     .events = events,
                     .pacer = pacer};
    }
};

}  // namespace vigil::driver::testing
