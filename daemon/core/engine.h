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
#include "daemon/core/types.h"

namespace vigil::core {

class HostEngine {
  public:
    // incarnation must differ at every daemon start (e.g. boot id + start count); peers
    // use it to tell a restarted daemon from a stale slot.
    [[nodiscard]] static std::expected<HostEngine, std::string> make(Policy policy, HostId self,
                                                                     std::uint64_t incarnation,
                                                                     TimePoint started);

    void observe(TimePoint at, const Evidence& evidence);
    [[nodiscard]] TickResult tick(TimePoint now);
    // Whether to pet the watchdog now, between ticks: call it when our own status
    // message comes back through the cluster, so the proof that peers heard us is used
    // at once. Same rule as TickResult::pet_watchdog; decides and logs nothing.
    [[nodiscard]] bool should_pet(TimePoint now) const { return pet_rule(now).first; }

    [[nodiscard]] HostId self() const { return self_; }
    [[nodiscard]] const Policy& policy() const { return policy_; }
    [[nodiscard]] PeerClass peer_class(HostId peer) const;
    [[nodiscard]] bool quorate() const { return quorate_; }

  private:
    HostEngine(Policy policy, HostId self, std::uint64_t incarnation, TimePoint started);

    void update_trouble(TimePoint at);
    [[nodiscard]] bool storage_trouble() const;
    [[nodiscard]] bool io_in_flight() const;
    [[nodiscard]] bool uplinks_dead(TimePoint now) const;
    [[nodiscard]] bool domain_writable(const std::string& domain) const;
    [[nodiscard]] std::map<std::string, HostId> holders() const;
    [[nodiscard]] RecoveryView recovery_view(std::map<std::string, HostId> held) const;
    [[nodiscard]] std::optional<HostId> coordinator() const;
    [[nodiscard]] bool placement_eligible(HostId host) const;
    void stop_all(Reason reason, std::vector<Decision>& out);
    void start_assigned(const RecoveryView& view, std::vector<Decision>& out);
    void handle_io_errors(bool local_problem, std::vector<Decision>& out);
    void raise(const std::string& key, AlertKind kind, Reason reason,
               std::vector<Fact> evidence = {}, std::string vm = {},
               std::optional<HostId> peer = {});
    [[nodiscard]] std::vector<HeldVm> held_list() const;
    [[nodiscard]] bool fresh(const std::optional<TimePoint>& t, TimePoint now) const;
    [[nodiscard]] std::pair<bool, Reason> pet_rule(TimePoint now) const;
    // A stop or resume that has not taken by then is asked again.
    [[nodiscard]] Duration retry_after() const { return 5 * policy_.heartbeat_interval; }
    [[nodiscard]] bool in_progress(const std::map<std::string, TimePoint>& requests,
                                   const std::string& vm) const;

    Policy policy_;
    HostId self_;
    std::uint64_t incarnation_;
    std::uint64_t sequence_ = 0;
    TimePoint started_;
    PeerTracker peers_;

    bool membership_seen_ = false;
    bool quorate_ = false;
    std::optional<TimePoint> quorate_since_;  // we hear peers' messages only while quorate
    // When our own status message last came back to us through the cluster (ordered
    // delivery reaches every member of the configuration, us included): proof that
    // the peers heard us then. Quorum alone is not: the view may be stale.
    std::optional<TimePoint> own_delivered_at_;
    std::map<std::string, StorageEvidence> storage_;
    bool write_seen_ = false;
    bool last_write_ok_ = false;
    std::optional<TimePoint> write_ok_at_;
    std::optional<TimePoint> trouble_since_;
    // Set when, during the current storage trouble, no peer could see storage either:
    // the loss is not ours alone, so neither fence nor stop, whatever peers say later.
    bool trouble_global_ = false;
    // A self-fence must stay justified for a heartbeat before it fires: every peer
    // reports once in that time, so a cluster-wide outage that began meanwhile is seen.
    std::optional<TimePoint> fence_pending_since_;
    std::map<NetRole, std::pair<LinkState, TimePoint>> links_;
    std::map<std::string, VmState> vms_;
    std::set<std::string> starting_;
    // Requests in progress, with when they were made: retried if they did not take
    // (a VM may pause again before we ever see it running).
    std::map<std::string, TimePoint> stopping_;
    TimePoint now_{};
    bool maintenance_ = false;
    bool draining_ = false;

    bool fencing_ = false;
    IoErrorResponder io_errors_;
    bool pet_ = false;
    bool pet_announced_ = false;
    std::optional<SelfState> state_;
    RecoveryPlanner planner_;
    std::map<std::string, HostId> last_holder_;
    AlertLatch alerts_;
};

}  // namespace vigil::core
