// Carries out what the core decided, through the ports (VM actions, self-fence,
// powering a peer off through its fence agent), and turns every result
// back into evidence for the core. It never decides: which VM runs where is the
// core's alone. At most one action per VM is in flight; a decision the core repeats
// while its action still runs is not issued again, and a different one waits for the
// running one to finish (the newest waiting one wins; the one it replaces is
// reported back as failed, so the core never waits for an outcome that cannot come).
// The running action asked for again replaces a waiting one the same way: the core's
// newest word is what runs, so what waited is stale.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/core/decision.h"
#include "daemon/core/evidence.h"
#include "daemon/ports/clock.h"
#include "daemon/ports/event_sink.h"
#include "daemon/ports/hypervisor.h"
#include "daemon/ports/watchdog.h"

namespace vigil::driver {

struct InFlightAction {
    ports::RequestId id = 0;
    core::VmAction action = core::VmAction::kStart;
    core::TimePoint since{};
    std::optional<core::HostId> target;  // kMigrate
    bool operator==(const InFlightAction&) const = default;
};

struct ExecutorSnapshot {
    std::map<std::string, InFlightAction> in_flight;  // by VM
    std::map<std::string, core::VmAction> waiting;    // by VM
    std::uint64_t issued = 0;
    std::uint64_t repeated = 0;    // asked again while the same action ran: not issued
    std::uint64_t superseded = 0;  // a waiting action replaced by a newer one
    std::uint64_t self_fences = 0;
};

class Executor {
  public:
    Executor(ports::Clock& clock, ports::Hypervisor& hypervisor, ports::Watchdog& watchdog,
             ports::Fencer& fencer)
        : clock_(clock), hypervisor_(hypervisor), watchdog_(watchdog), fencer_(fencer) {}

    // Carries out one decision. Decisions that ask for nothing (classes, states,
    // alerts, assignments, pet changes) are ignored here. Returns evidence the core
    // must get at once (a waiting action that was replaced).
    [[nodiscard]] std::vector<core::ActionEvidence> carry_out(const core::Decision& decision);

    // An action's outcome. Returns the evidence for the core, or nullopt when the id
    // is not one this executor is waiting for (a result from before a restart).
    // Issues the action that waited behind it, if any.
    [[nodiscard]] std::optional<core::ActionEvidence> finish(ports::RequestId id,
                                                             const core::ActionEvidence& result);

    // A fence agent's answer to request `id`: the evidence for the core, or nullopt
    // for an id this executor did not issue.
    [[nodiscard]] std::optional<core::Evidence> finish_fence(ports::RequestId id, bool confirmed,
                                                             std::string detail);

    // A self-fence was carried out: nothing more may be written or sent.
    [[nodiscard]] bool fenced() const { return fenced_; }
    [[nodiscard]] ExecutorSnapshot snapshot() const;

  private:
    void issue(const std::string& vm, core::VmAction action);

    ports::Clock& clock_;
    ports::Hypervisor& hypervisor_;
    ports::Watchdog& watchdog_;
    ports::Fencer& fencer_;
    std::map<std::string, InFlightAction> in_flight_;
    std::map<std::string, core::VmAction> waiting_;
    std::map<std::string, core::HostId> migrate_to_;    // a migration's target, by VM
    std::map<ports::RequestId, core::HostId> fencing_;  // peers being powered off
    bool fenced_ = false;
    std::uint64_t issued_ = 0;
    std::uint64_t repeated_ = 0;
    std::uint64_t superseded_ = 0;
    std::uint64_t self_fences_ = 0;
};

}  // namespace vigil::driver
