#pragma once

// One HostEngine per host. The daemon feeds it timestamped evidence (observe) and asks
// it at every heartbeat tick what to do (tick). Everything is deterministic: the same
// evidence at the same times gives the same decisions, on every host and in the
// simulator.

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/core/alerts.h"
#include "daemon/core/decision.h"
#include "daemon/core/evidence.h"
#include "daemon/core/io_errors.h"
#include "daemon/core/peers.h"
#include "daemon/core/planner.h"
#include "daemon/core/policy.h"
#include "daemon/core/self_state.h"
#include "daemon/core/types.h"
#include "daemon/ports/error.h"

namespace vigil::core {

// What the engine knows now, for `vigilctl status`: plain data, a copy.
struct PeerSnapshot {
    HostId id;
    PeerClass cls = PeerClass::kSuspect;
    Reason reason = Reason::kNoStatusYet;  // why it has that class
    bool in_membership = false;
    std::optional<TimePoint> last_message;
    std::optional<TimePoint> last_slot_advance;
    std::optional<HostStatus> status;  // the newest of its messages and its slot
};

struct VmSnapshot {
    std::string name;
    std::optional<VmState> here;  // nullopt: no qemu for it on this host
    std::optional<HostId> owner;  // where it runs (or starts), as far as this host knows
    std::optional<VmPolicy> policy;
};

// Draining by migration: a VM on its way by a live migration.
struct MigrationSnapshot {
    std::string vm;
    HostId target;
    TimePoint since;     // when this host asked for it
    bool moved = false;  // the hypervisor moved it; ours until the target's status runs it
};

// Draining by migration: a VM whose migration did not happen (it runs here still),
// until the stop that replaces it, once the target no longer holds it.
struct FailedMigrationSnapshot {
    std::string vm;
    HostId target;
    ActionOutcome outcome = ActionOutcome::kFailed;
    std::string detail;
    TimePoint at;  // when the outcome came
};

struct EngineSnapshot {
    HostId self;
    std::uint64_t incarnation = 0;
    std::uint64_t sequence = 0;
    std::optional<SelfState> state;  // nullopt before the first tick
    bool quorate = false;
    bool maintenance = false;
    bool cordoned = false;  // takes no new VMs (cordoned, or draining)
    bool draining = false;  // hands its HA VMs over to other hosts
    // While draining, by name: on their way to another host (stopping here, or
    // stopped and not yet held elsewhere); still here, to move; kept here because no
    // other host can take them now (alert drain-blocked says why).
    std::vector<std::string> drain_moving;
    std::vector<std::string> drain_left;
    std::vector<std::string> drain_blocked;
    // While draining by migration, by name: the moving VMs that go by a migration,
    // and those whose migration failed, to be stopped here instead.
    std::vector<MigrationSnapshot> drain_migrating;
    std::vector<FailedMigrationSnapshot> drain_migration_failed;
    bool listed = false;  // the hypervisor's first listing has arrived
    std::optional<HostId> coordinator;
    std::vector<PeerSnapshot> peers;  // by id
    std::vector<VmSnapshot> vms;      // by name: every HA VM known from policy or held anywhere
    std::map<AlertKind, std::size_t> alerts_active;  // raised at the last tick, by kind
};

// Why a deliberate stop may not freeze (leave the VMs running unmanaged, tell the
// peers and disarm the watchdog): the daemon then keeps today's stop, the watchdog
// armed, and logs these.
enum class FreezeBlocker : std::uint8_t {
    kNotListed,        // what runs here is not known yet
    kNotOk,            // isolated, storage lost, fencing or released: the peers act on it
    kNotQuorate,       // outside the quorate partition nobody may hear the freeze
    kStorageTrouble,   // the frozen record could not be relied on to reach the storage
    kActionsInFlight,  // a VM start, stop or resume is on its way: its end is unknown
    kPeersUnaware,     // a host whose latest record does not say knows-freeze
    kAlreadyFrozen,
};
[[nodiscard]] std::string_view name(FreezeBlocker b);

struct FreezeCheck {
    std::vector<FreezeBlocker> blockers;  // empty: the host may freeze
    std::vector<HostId> unaware;          // kPeersUnaware: the hosts, older releases
    [[nodiscard]] bool ok() const { return blockers.empty(); }
};

class HostEngine {
  public:
    // incarnation must differ at every daemon start (e.g. boot id + start count); peers
    // use it to tell a restarted daemon from a stale slot.
    [[nodiscard]] static std::expected<HostEngine, Error> make(Policy policy, HostId self,
                                                               std::uint64_t incarnation,
                                                               TimePoint started);

    void observe(TimePoint at, const Evidence& evidence);
    [[nodiscard]] TickResult tick(TimePoint now);
    // Whether to pet the watchdog now, between ticks: call it when our own status
    // message comes back through the cluster, so the proof that peers heard us is used
    // at once. Same rule as TickResult::pet_watchdog; decides and logs nothing.
    [[nodiscard]] PetVerdict should_pet(TimePoint now) const;
    // When a tick before the next heartbeat would decide something the heartbeat
    // would only decide later: the moment a silent peer's fence delay runs out, or
    // at once when a VM was assigned here, or left a host that lets its VMs go (cut
    // off, storage lost: the release goes out a heartbeat sooner). Empty: the
    // regular heartbeats do. A tick
    // decides the same whenever it runs; this only moves decisions earlier.
    [[nodiscard]] std::optional<TimePoint> tick_wanted_at() const;
    // The I/O-error policy's resumes alone, between ticks: call it when a storage
    // domain's evidence changed, so a VM that qemu paused on an I/O error resumes
    // as soon as its storage answers, not up to a heartbeat later. It decides
    // nothing else, under the tick's guards (listed, not fencing, not stopping
    // the VM); a resume already asked for is not asked again (IoErrorResponder).
    [[nodiscard]] std::vector<Decision> resumes(TimePoint now);

    // A deliberate stop (SIGTERM) asks whether this host may freeze. Only when every
    // configured host's latest record says knows-freeze: an older reader would take
    // the frozen record for an ordinary one and the silent host for dead.
    [[nodiscard]] FreezeCheck freeze_check(TimePoint now) const;
    // The frozen record: the next status, flag frozen, holding what runs here. The
    // engine says nothing more after it (tick publishes nothing); the daemon writes
    // it, and disarms the watchdog only once that write came back ok.
    [[nodiscard]] HostStatus freeze(TimePoint now);
    // The freeze's write failed: the next status, not frozen (the daemon exits
    // with the watchdog armed after it, as a stop without a freeze does).
    [[nodiscard]] HostStatus retract_freeze(TimePoint now);
    [[nodiscard]] bool frozen() const { return frozen_; }
    // This host's slot as the last read found it, when another daemon run (an
    // earlier one) wrote it: a run that starts after a freeze reads what it held.
    [[nodiscard]] const std::optional<HostStatus>& previous_run() const { return previous_run_; }

    [[nodiscard]] HostId self() const { return self_; }
    [[nodiscard]] std::uint64_t incarnation() const { return incarnation_; }
    [[nodiscard]] const Policy& policy() const { return policy_; }
    [[nodiscard]] PeerClass peer_class(HostId peer) const;
    [[nodiscard]] bool quorate() const { return self_state_.quorate(); }
    [[nodiscard]] EngineSnapshot snapshot() const;

  private:
    HostEngine(Policy policy, HostId self, std::uint64_t incarnation, TimePoint started);

    void on_vm(TimePoint at, const VmEvidence& e);
    void on_storage(const StorageEvidence& e);
    void on_inventory(TimePoint at, const VmInventoryEvidence& e);
    void on_policy(const VmPolicyEvidence& e);
    void on_action(TimePoint at, const ActionEvidence& e);
    void forget_vm(TimePoint at, const std::string& vm);
    // A tick is wanted at `at` (or earlier, if one already is).
    void want_tick(TimePoint at);
    // A peer's status names VMs for us that it did not before: a tick then starts them.
    void note_assignments(TimePoint at, const HostStatus& status);
    // Coordinator: a draining peer's status no longer holds a VM it held.
    void note_drain_release(TimePoint at, const HostStatus& status);
    // Draining: a peer's status holds a VM this host is handing over (or migrating).
    void note_drain_taken(TimePoint at, const HostStatus& status);
    // Draining by migration: a migrated VM stops being ours once its target says it
    // runs it (or can no longer say anything: dead, or released).
    void settle_migrations();
    [[nodiscard]] std::map<std::string, HostId> migration_targets() const;
    // The target's newest status holds `vm` (and it is not dead or released).
    [[nodiscard]] bool target_holds(const std::string& vm, HostId target) const;
    // The VM's storage domain has requests in flight that a stopped qemu leaves queued.
    [[nodiscard]] bool writes_in_flight(const std::string& vm) const;
    // The storage evidence we have accounts for an I/O-error pause of the VM: its
    // domain is reported failed, stalled or full.
    [[nodiscard]] bool pause_explained(const std::string& vm) const;
    [[nodiscard]] bool declined_here(const std::string& vm) const;
    void raise_action_failures();
    // Coordinator with fence agents: power off the peers that left and went silent.
    void fence_silent_peers(TimePoint now, std::vector<Decision>& out);
    void on_admin(const AdminEvidence& e);
    [[nodiscard]] std::map<std::string, HostId> holders() const;
    [[nodiscard]] RecoveryView recovery_view(std::map<std::string, HostId> held) const;
    // The lowest-id quorate member that sees its storage; every member computes the
    // same answer from the same ordered messages.
    [[nodiscard]] std::optional<HostId> coordinator() const;
    [[nodiscard]] bool placement_eligible(HostId host) const;
    void stop_all(Reason reason, std::vector<Decision>& out);
    // Draining: hand the next VMs over (stop them here for the coordinator to place
    // elsewhere, or with drain_migrate migrate them to a host this host picks by the
    // coordinator's rules), highest priority first, at most policy_.drain_parallel at
    // once.
    void drain_step(const RecoveryView& view, std::vector<Decision>& out);
    // The VMs still here that a drain moves, highest priority first: running ones (a
    // paused guest cannot shut down cleanly, and one paused on an I/O error is the
    // I/O-error policy's).
    [[nodiscard]] std::vector<std::string> drain_candidates() const;
    void start_assigned(const RecoveryView& view, std::vector<Decision>& out);
    [[nodiscard]] std::vector<PausedVm> paused_vms() const;
    void handle_io_errors(bool local_problem, std::vector<Decision>& out);
    [[nodiscard]] std::vector<HeldVm> held_list() const;
    // A stop or resume that has not taken by then is asked again.
    [[nodiscard]] Duration retry_after() const { return 5 * policy_.heartbeat_interval; }
    [[nodiscard]] bool in_progress(const std::map<std::string, TimePoint>& requests,
                                   const std::string& vm) const;

    Policy policy_;
    HostId self_;
    std::uint64_t incarnation_;
    std::uint64_t sequence_ = 0;
    std::map<std::uint64_t, TimePoint> sent_at_;  // our status by sequence -> when it left

    SelfStateMachine self_state_;
    PeerTracker peers_;
    IoErrorResponder io_errors_;
    RecoveryPlanner planner_;
    AlertLatch alerts_;

    std::map<std::string, VmState> vms_;
    std::set<std::string> starting_;
    // Starts whose outcome we could not learn (timed out): only a listing settles them.
    std::set<std::string> uncertain_;
    // A shut-off came while the start was on its way: its "done" does not make it run.
    std::set<std::string> exited_while_starting_;
    // Gone from here while its storage still had writes in flight: still ours.
    std::set<std::string> queued_writes_;
    // Paused on an I/O error that no storage reading has accounted for yet: the
    // hypervisor's event (and a stop's outcome after it) can come before the storage
    // watcher's reading that says whether writes are queued. -> when it paused.
    std::map<std::string, TimePoint> unexplained_pause_;
    // Gone from here with such a pause: whether its writes are still queued is not
    // known, so it stays ours until a reading of its domain settles it (then
    // queued_writes_ decides) or the storage grace has passed without one.
    // -> when it left.
    std::map<std::string, TimePoint> unsettled_;
    bool listed_ = false;  // the hypervisor's first listing has arrived
    struct Failure {
        TimePoint at;
        ActionOutcome outcome;
        std::string detail;
    };
    // VMs whose start failed here, until the policy's start failure hold has passed.
    std::map<std::string, Failure> declined_;
    std::map<std::pair<std::string, VmAction>, Failure> failures_;  // stops and resumes
    std::optional<TimePoint> tick_wanted_;                          // until the next tick
    std::map<HostId, std::set<std::string>> assigned_here_;         // by the peer's last status
    std::optional<TimePoint> coordinating_since_;  // this host has been coordinator since
    std::map<HostId, TimePoint> fence_asked_;      // peer -> when it left, for that absence
    std::map<HostId, std::uint64_t> fenced_;       // confirmed off -> the incarnation it ended
    std::map<HostId, std::string> fence_failed_;   // the agent failed, until the peer is back
    // Requests in progress, with when they were made: retried if they did not take
    // (a VM may pause again before we ever see it running).
    std::map<std::string, TimePoint> stopping_;
    TimePoint now_{};
    bool maintenance_ = false;
    bool cordoned_ = false;  // takes no new VMs
    bool draining_ = false;  // and hands its own over
    // Draining: VM -> when this host asked to stop it to hand it over. It stays here
    // until another host holds the VM (or it is no HA VM any more), bounding the drain.
    std::map<std::string, TimePoint> handing_over_;
    std::set<std::string> drain_blocked_;  // at the last tick: no other host can take it
    // Draining by migration, VM -> its move. Why it is safe:
    // - The VM stays ours (held in our status, so no coordinator places it) from the
    //   request until the target's status holds it running, through the moment the
    //   hypervisor hands it over (it runs here until then, there from then on): the
    //   cluster never sees it running nowhere during the move. A target that is dead
    //   (its watchdog has fired) or released, or that held it since the move began
    //   and no longer does, or whose vigild is another run than when we asked (a
    //   run lists its hypervisor before it publishes: a reset target lost the VM)
    //   and does not hold it, ends the claim too: the VM is recovered as any.
    // - A migration that fails or times out (aborted: the adapter's promise) leaves
    //   the VM where it ran, here: the drain stops it instead (kMigrationFailed) and
    //   the coordinator places it, as without migration. One whose target left the
    //   membership fails (the hypervisors lose each other) or times out.
    // - Only the draining host asks for a migration, once per VM and drain, and only
    //   the hypervisor moves it: at no moment do two hosts run it.
    struct Migration {
        HostId target;
        TimePoint since;
        bool done = false;        // the hypervisor moved it: no qemu for it remains here
        bool seen_there = false;  // a status of the target held it since the request
        std::uint64_t target_incarnation = 0;  // the target's vigild run when we asked
    };
    std::map<std::string, Migration> migrating_;
    // Draining: VMs whose migration did not happen, until the stop that replaces it.
    struct FailedMigration {
        HostId target;
        ActionOutcome outcome = ActionOutcome::kFailed;
        std::string detail;
        TimePoint at;  // when the outcome came (vigilctl status)
    };
    std::map<std::string, FailedMigration> migration_failed_;
    std::map<std::string, HostId> last_holder_;
    // The last status we published that took no assignment, and per VM the last one
    // that declined it: a peer coordinator may have re-placed the VM after reading
    // them, so a plan made before them is not acted on (Assignment::target_sequence).
    std::uint64_t refused_through_ = 0;
    std::map<std::string, std::uint64_t> declined_through_;
    bool frozen_ = false;
    std::optional<HostStatus> previous_run_;
};

}  // namespace vigil::core
