#pragma once

// This host's view of itself: quorum, its storage and storage heartbeat, its VM
// uplinks; the self-state it reports (ok, isolated, released, storage lost, fencing)
// with what that state asks for (stop the VMs, reboot); and the pet rule, which lets
// the watchdog be petted only while peers can see that this host lives.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/core/alerts.h"
#include "daemon/core/decision.h"
#include "daemon/core/evidence.h"
#include "daemon/core/policy.h"
#include "daemon/core/types.h"

namespace vigil::core {

// What the self-state rules need from the rest of the engine at a tick.
struct SelfInputs {
    // Peers that reported lately see their storage (PeerTracker::storage_trouble_is_local).
    bool trouble_is_local = false;
    // At least half of them have trouble too (PeerTracker::storage_trouble_is_shared).
    // With no report at all it is neither: nothing is latched on silence.
    bool trouble_is_shared = false;
    bool maintenance = false;
    bool holds_vms = false;  // a local HA VM has a qemu process or is being started
};

struct SelfAssessment {
    SelfState state = SelfState::kOk;
    // Our storage trouble is ours alone (and no peer shared it since it began).
    bool local_problem = false;
    std::optional<Reason> stop_all;  // stop every local HA VM for this reason
    std::optional<Decision> reboot;  // kSelfFenceReboot
    std::vector<Alert> alerts;       // quorum lost, storage lost, cluster-wide outage
    bool pet = false;                // pet the watchdog at this tick
    Reason pet_reason = Reason::kNoQuorumNoStorage;  // why (or why not)
    // kPetStarted/kPetStopped and kSelfState when they changed; logged after the VM
    // actions of the tick.
    std::vector<Decision> changes;
};

class SelfStateMachine {
  public:
    SelfStateMachine(const Policy& policy, HostId self, std::uint64_t incarnation);

    void on_storage(TimePoint at, const StorageEvidence& e);
    void on_link(TimePoint at, const LinkEvidence& e);
    void on_membership(TimePoint at, const MembershipEvidence& e);
    // Our own status message, sent at `sent_at`, came back through the cluster (from
    // this daemon run or, with another incarnation, from the one before). The proof
    // that peers heard us dates from the sending: a late delivery proves no more.
    void on_own_message(TimePoint sent_at, std::uint64_t incarnation);
    void on_slot_write(TimePoint at, const SlotWriteEvidence& e);

    // The tick's self-state. Once it says fencing, it says so for good.
    [[nodiscard]] SelfAssessment assess(TimePoint now, const SelfInputs& in);
    // Pet only while peers can see that we live: our own message came back through
    // the quorate cluster, or our slot was written, within the fresh window. Decides
    // and logs nothing.
    [[nodiscard]] std::pair<bool, Reason> pet_rule(TimePoint now) const;

    [[nodiscard]] bool quorate() const { return quorate_; }
    [[nodiscard]] std::optional<TimePoint> quorate_since() const { return quorate_since_; }
    [[nodiscard]] bool fencing() const { return fencing_; }
    // What the last tick said about this host; nullopt before the first.
    [[nodiscard]] std::optional<SelfState> state() const { return state_; }
    // A failed slot write or a stalled or failed storage domain.
    [[nodiscard]] bool storage_trouble() const;
    // Ok or degraded, or failed but answering probes again (StorageEvidence).
    [[nodiscard]] bool domain_writable(const std::string& domain) const;
    [[nodiscard]] bool domain_io_in_flight(const std::string& domain) const;
    // The domain's last reported health; nullopt before any evidence for it.
    [[nodiscard]] std::optional<StorageHealth> domain_health(const std::string& domain) const;
    // Our storage trouble has lasted the grace, and no peer shared it since it
    // began (as far as the last tick knew): the loss F5 answers.
    [[nodiscard]] bool storage_lost_alone(TimePoint now) const {
        return storage_trouble() && trouble_since_ && now - *trouble_since_ >= storage_grace_ &&
               !trouble_global_;
    }
    // Some troubled storage domain has requests in flight.
    [[nodiscard]] bool io_in_flight() const;

  private:
    void update_trouble(TimePoint at);
    [[nodiscard]] bool uplinks_dead(TimePoint now) const;
    [[nodiscard]] bool fresh(const std::optional<TimePoint>& t, TimePoint now) const;

    Duration heartbeat_interval_;
    Duration membership_timeout_;
    Duration fresh_window_;
    Duration proof_window_;
    Duration storage_grace_;
    Duration link_grace_;
    IsolationResponse isolation_response_;
    HostId self_;
    std::uint64_t incarnation_;

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
    // A self-fence must stay justified for a heartbeat plus the membership timeout
    // before it fires: every peer reports once in that time and its report arrives,
    // so a cluster-wide outage that began meanwhile is seen.
    std::optional<TimePoint> fence_pending_since_;
    std::map<NetRole, std::pair<LinkState, TimePoint>> links_;
    bool fencing_ = false;
    bool pet_ = false;
    bool pet_announced_ = false;
    std::optional<SelfState> state_;
};

}  // namespace vigil::core
