#include "daemon/core/self_state.h"

#include <algorithm>
#include <utility>

#include "daemon/core/facts.h"

namespace vigil::core {
namespace {

bool troubled(StorageHealth h) {
    switch (h) {
        case StorageHealth::kOk:
        case StorageHealth::kDegraded:
        case StorageHealth::kNoSpace:  // one full volume is the VM's problem, not the host's
            return false;
        case StorageHealth::kStalled:
        case StorageHealth::kFailed:
            return true;
    }
    return true;
}

}  // namespace

SelfStateMachine::SelfStateMachine(const Policy& policy, HostId self, std::uint64_t incarnation)
    : heartbeat_interval_(policy.heartbeat_interval),
      membership_timeout_(policy.membership_timeout),
      fresh_window_(policy.slot_fresh_window()),
      proof_window_(policy.proof_window()),
      storage_grace_(policy.storage_grace),
      link_grace_(policy.link_grace),
      isolation_response_(policy.isolation_response),
      self_(self),
      incarnation_(incarnation) {}

bool SelfStateMachine::fresh(const std::optional<TimePoint>& t, TimePoint now) const {
    return t && now - *t <= fresh_window_;
}

void SelfStateMachine::on_storage(TimePoint at, const StorageEvidence& e) {
    storage_[e.domain] = e;
    update_trouble(at);
}

void SelfStateMachine::on_link(TimePoint at, const LinkEvidence& e) {
    auto it = links_.find(e.role);
    if (it == links_.end() || it->second.first != e.state) links_[e.role] = {e.state, at};
}

void SelfStateMachine::on_membership(TimePoint at, const MembershipEvidence& e) {
    membership_seen_ = true;
    const bool member = std::ranges::find(e.members, self_) != e.members.end();
    const bool quorate = e.quorate && member;
    if (quorate && !quorate_) quorate_since_ = at;
    quorate_ = quorate;
}

void SelfStateMachine::on_own_message(TimePoint sent_at, std::uint64_t incarnation) {
    if (incarnation != incarnation_) return;
    if (!own_delivered_at_ || *own_delivered_at_ < sent_at) own_delivered_at_ = sent_at;
}

void SelfStateMachine::on_slot_write(TimePoint at, const SlotWriteEvidence& e) {
    write_seen_ = true;
    last_write_ok_ = e.ok;
    // The slot may have landed as early as the write was issued; count freshness from
    // then, so a slow write never stretches our life.
    if (e.ok) write_ok_at_ = at - e.latency;
    update_trouble(at);
}

bool SelfStateMachine::storage_trouble() const {
    if (write_seen_ && !last_write_ok_) return true;
    return std::ranges::any_of(storage_, [](const auto& kv) { return troubled(kv.second.health); });
}

void SelfStateMachine::update_trouble(TimePoint at) {
    if (storage_trouble()) {
        if (!trouble_since_) trouble_since_ = at;
    } else {
        trouble_since_.reset();
        trouble_global_ = false;
    }
}

bool SelfStateMachine::io_in_flight() const {
    return std::ranges::any_of(storage_, [](const auto& kv) {
        return troubled(kv.second.health) && kv.second.io_in_flight;
    });
}

bool SelfStateMachine::uplinks_dead(TimePoint now) const {
    const auto it = links_.find(NetRole::kVmUplink);
    if (it == links_.end()) return false;
    const auto [state, since] = it->second;
    return state != LinkState::kUp && now - since >= link_grace_;
}

bool SelfStateMachine::domain_writable(const std::string& domain) const {
    const auto it = storage_.find(domain);
    if (it == storage_.end()) return !storage_trouble();
    const auto& e = it->second;
    return e.health == StorageHealth::kOk || e.health == StorageHealth::kDegraded ||
           (e.health == StorageHealth::kFailed && e.answering);
}

bool SelfStateMachine::domain_io_in_flight(const std::string& domain) const {
    const auto it = storage_.find(domain);
    return it != storage_.end() && it->second.io_in_flight;
}

std::optional<StorageHealth> SelfStateMachine::domain_health(const std::string& domain) const {
    const auto it = storage_.find(domain);
    if (it == storage_.end()) return std::nullopt;
    return it->second.health;
}

// Then a peer that has heard nothing from us for the fence delay knows our watchdog
// has fired.
std::pair<bool, Reason> SelfStateMachine::pet_rule(TimePoint now) const {
    if (fencing_) return {false, Reason::kSelfFencing};
    if (quorate_ && own_delivered_at_ && now - *own_delivered_at_ <= proof_window_)
        return {true, Reason::kQuorate};
    if (fresh(write_ok_at_, now)) return {true, Reason::kSlotWritesOk};
    return {false, Reason::kNoQuorumNoStorage};
}

SelfAssessment SelfStateMachine::assess(TimePoint now, const SelfInputs& in) {
    SelfAssessment out;
    const bool trouble = storage_trouble();
    const bool storage_lost = trouble && trouble_since_ && now - *trouble_since_ >= storage_grace_;
    const bool write_fresh = fresh(write_ok_at_, now);

    SelfState state = SelfState::kOk;
    if (trouble && in.trouble_is_shared) trouble_global_ = true;
    out.local_problem = !trouble_global_ && in.trouble_is_local;
    bool fence_justified = false;
    if (fencing_) {
        state = SelfState::kFencing;
    } else if (!quorate_) {
        if (membership_seen_) {
            out.alerts.push_back(Alert{.key = "quorum-lost",
                                       .kind = AlertKind::kQuorumLost,
                                       .reason = Reason::kQuorumLost});
        }
        state = SelfState::kIsolated;
        if (write_fresh && !in.maintenance) {
            const auto response = isolation_response_;
            const bool dead_uplinks = uplinks_dead(now);
            if (response == IsolationResponse::kAlwaysStop) {
                out.stop_all = Reason::kIsolatedPolicyAlwaysStop;
            } else if (response == IsolationResponse::kStopWhenUplinksDead && dead_uplinks) {
                out.stop_all = Reason::kIsolatedUplinksDown;
            }
            if (out.stop_all && !in.holds_vms) state = SelfState::kReleased;
        }
    } else if (storage_lost) {
        state = SelfState::kStorageLost;
        std::vector<Fact> ev{age("lost_for", now, *trouble_since_),
                             fact("io_in_flight", io_in_flight() ? "yes" : "no")};
        out.alerts.push_back(Alert{.key = "storage-lost",
                                   .kind = AlertKind::kStorageLost,
                                   .reason = io_in_flight() ? Reason::kStorageLostIoInFlight
                                                            : Reason::kStorageLostNothingInFlight,
                                   .evidence = ev});
        if (!out.local_problem) {
            out.alerts.push_back(Alert{.key = "global-storage-outage",
                                       .kind = AlertKind::kGlobalStorageOutage,
                                       .reason = Reason::kGlobalStorageOutage});
        } else if (in.maintenance) {
            // An admin is at work here: report, do not fence.
        } else if (io_in_flight()) {
            fence_justified = true;
            if (!fence_pending_since_) fence_pending_since_ = now;
            // Wait for peers' reports before fencing: a heartbeat for them to see an
            // outage, the membership timeout for their messages to reach us (the
            // cluster may take that long to deliver). See fence_pending_since_.
            if (now - *fence_pending_since_ >= heartbeat_interval_ + membership_timeout_) {
                fencing_ = true;
                state = SelfState::kFencing;
                out.reboot = Decision{.kind = DecisionKind::kSelfFenceReboot,
                                      .reason = Reason::kStorageLostIoInFlight,
                                      .evidence = std::move(ev)};
            }
        } else {
            out.stop_all = Reason::kStorageLostNothingInFlight;
        }
    }
    if (!fence_justified) fence_pending_since_.reset();

    const auto [pet, pet_reason] = pet_rule(now);
    if (pet != pet_ || (!pet_announced_ && pet)) {
        std::vector<Fact> ev;
        if (write_ok_at_) ev.push_back(age("last_slot_write", now, *write_ok_at_));
        out.changes.push_back(
            Decision{.kind = pet ? DecisionKind::kPetStarted : DecisionKind::kPetStopped,
                     .reason = pet_reason,
                     .evidence = std::move(ev)});
        pet_announced_ = true;
    }
    pet_ = pet;
    out.pet = pet;
    out.pet_reason = pet_reason;

    if (!state_ || *state_ != state) {
        out.changes.push_back(Decision{.kind = DecisionKind::kSelfState,
                                       .reason = Reason::kStateChanged,
                                       .self_state = state});
        state_ = state;
    }
    out.state = state;
    return out;
}

}  // namespace vigil::core
