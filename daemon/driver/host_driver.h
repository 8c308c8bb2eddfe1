// One host's heartbeat, the same in vigild and in the simulator: the driver owns the
// decision core (core::HostEngine) and its executor, and talks to the world only
// through the ports. Every call returns at once; results come back later through
// observe() / on_action(), stamped with the clock's monotonic time when they arrive.
//
// One heartbeat (every policy heartbeat interval):
//   tick -> log and carry out the decisions -> pet or withhold (with the reason)
//   -> submit our slot write -> broadcast our status.
// A read of all slots is submitted read_lead() before each heartbeat, so that the
// tick sees the peers' slots as fresh as the storage allows (a read takes
// milliseconds; one submitted with the heartbeat would only serve the next one).
// Every delivered status message is fed to the core, our own included; when our
// own comes back (proof that the peers heard us) the driver asks should_pet() at
// once and pets if it may.
// After every call that feeds the core, the driver asks it whether a tick before
// the next heartbeat is wanted (HostEngine::tick_wanted_at: a silent peer's fence
// delay runs out, a VM was assigned or left here) and asks the pacer for an early
// heartbeat then, so that a failover waits for no heartbeat's phase.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>

#include "daemon/core/engine.h"
#include "daemon/driver/executor.h"
#include "daemon/ports/clock.h"
#include "daemon/ports/cluster.h"
#include "daemon/ports/error.h"
#include "daemon/ports/event_sink.h"
#include "daemon/ports/heartbeat_store.h"
#include "daemon/ports/hypervisor.h"
#include "daemon/ports/pacer.h"
#include "daemon/ports/watchdog.h"

namespace vigil::driver {

struct Ports {
    ports::Clock& clock;
    ports::Hypervisor& hypervisor;
    ports::HeartbeatStore& heartbeat;
    ports::Cluster& cluster;
    ports::Watchdog& watchdog;
    ports::Fencer& fencer;
    ports::EventSink& events;
    ports::Pacer& pacer;
};

// A deliberate stop (SIGTERM) in steps: the frozen record is written to our slot;
// once that write came back ok it is broadcast too and the caller may disarm the
// watchdog and exit, leaving the VMs running unmanaged. A write that fails (or does
// not come back in freeze_wait()) ends it: the caller retracts and keeps the
// watchdog armed.
enum class FreezeStage : std::uint8_t { kNone, kWriting, kOnStorage, kFailed, kRetracted };

struct DriverSnapshot {
    std::uint64_t heartbeats = 0;
    std::optional<core::TimePoint> last_heartbeat;
    core::PetVerdict last_verdict;
    std::optional<core::TimePoint> last_pet;
    std::uint64_t pets = 0;
    std::uint64_t withheld = 0;
    std::uint64_t decisions = 0;
    std::uint64_t early_beats = 0;  // asked of the pacer
    bool publishing = false;        // the hypervisor's first listing has arrived
    std::optional<core::TimePoint> own_delivered;
    ExecutorSnapshot executor;
};

class HostDriver {
  public:
    // `watchdog_timeout` is the timeout the watchdog device accepted, which may
    // differ from the configured one (drivers round it): the core counts with it,
    // and a policy whose fence delay it no longer honours is refused.
    [[nodiscard]] static std::expected<HostDriver, Error> make(core::Policy policy,
                                                               core::HostId self,
                                                               std::uint64_t incarnation,
                                                               core::Duration watchdog_timeout,
                                                               Ports ports);

    // Asks the hypervisor for its first listing; call once, before the first heartbeat.
    void start();
    void heartbeat();
    // Submits a read of every slot; call it read_lead() before each heartbeat.
    void read_slots();
    [[nodiscard]] core::Duration read_lead() const {
        return engine_.policy().heartbeat_interval / 10;
    }
    // Evidence as it arrives (watchers, the cluster, the heartbeat store, the
    // hypervisor's events and listings, admin commands).
    void observe(const core::Evidence& evidence);
    // The outcome of an action a port call started.
    void on_action(ports::RequestId id, const core::ActionEvidence& result);
    // The fence agent's answer to a fence_peer() request.
    void on_fence(ports::RequestId id, bool confirmed, const std::string& detail);

    // Starts the freeze when the core allows it (the check says why not otherwise;
    // nothing is written then). From here on heartbeats only pet, by the core's
    // rule, until the caller exits: nothing is published.
    [[nodiscard]] core::FreezeCheck freeze();
    [[nodiscard]] FreezeStage freeze_stage() const { return freeze_stage_; }
    // How long the frozen record's write may take before the stop gives up on it.
    [[nodiscard]] core::Duration freeze_wait() const {
        return 2 * engine_.policy().heartbeat_interval;
    }
    // The freeze did not land: a status that is not frozen goes to the slot and the
    // cluster (after the frozen one, in order), so peers that saw the frozen record
    // count the silence that follows as for any peer.
    void retract_freeze();

    [[nodiscard]] const core::HostEngine& engine() const { return engine_; }
    [[nodiscard]] DriverSnapshot snapshot() const;
    [[nodiscard]] bool fenced() const { return executor_.fenced(); }

  private:
    HostDriver(core::HostEngine engine, Ports ports)
        : engine_(std::move(engine)),
          ports_(ports),
          executor_(ports.clock, ports.hypervisor, ports.watchdog, ports.fencer) {}
    void pet(core::TimePoint now);
    void feed(core::TimePoint now, const core::ActionEvidence& evidence);
    // Asks the pacer for an early heartbeat when the core wants a tick sooner.
    void pace(core::TimePoint now);

    core::HostEngine engine_;
    Ports ports_;
    Executor executor_;
    std::uint64_t heartbeats_ = 0;
    std::optional<core::TimePoint> last_heartbeat_;
    core::PetVerdict last_verdict_;
    std::optional<core::TimePoint> last_pet_;
    std::uint64_t pets_ = 0;
    std::uint64_t withheld_ = 0;
    std::uint64_t decisions_ = 0;
    std::uint64_t early_beats_ = 0;
    std::optional<core::TimePoint> paced_for_;  // the wanted tick last asked for
    bool publishing_ = false;
    std::optional<core::TimePoint> own_delivered_;
    FreezeStage freeze_stage_ = FreezeStage::kNone;
    std::optional<core::HostStatus> frozen_record_;
};

}  // namespace vigil::driver
