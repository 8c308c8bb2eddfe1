#include "daemon/core/engine.h"

#include <algorithm>
#include <utility>

#include "daemon/core/facts.h"

namespace vigil::core {
namespace {

template <class... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};

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

std::expected<HostEngine, std::string> HostEngine::make(Policy policy, HostId self,
                                                        std::uint64_t incarnation,
                                                        TimePoint started) {
    if (auto ok = policy.validate(); !ok) return std::unexpected(ok.error());
    if (policy.host(self) == nullptr) {
        return std::unexpected("this host (" + host_name(self) +
                               ") is not among the configured hosts");
    }
    return HostEngine(std::move(policy), self, incarnation, started);
}

HostEngine::HostEngine(Policy policy, HostId self, std::uint64_t incarnation, TimePoint started)
    : policy_(std::move(policy)),
      self_(self),
      incarnation_(incarnation),
      started_(started),
      peers_(policy_, self, started),
      io_errors_(retry_after()) {
    maintenance_ = policy_.maintenance;
}

PeerClass HostEngine::peer_class(HostId peer) const { return peers_.peer_class(peer); }

bool HostEngine::in_progress(const std::map<std::string, TimePoint>& requests,
                             const std::string& vm) const {
    const auto it = requests.find(vm);
    return it != requests.end() && now_ - it->second < retry_after();
}

bool HostEngine::fresh(const std::optional<TimePoint>& t, TimePoint now) const {
    return t && now - *t <= policy_.slot_fresh_window();
}

void HostEngine::observe(TimePoint at, const Evidence& evidence) {
    std::visit(Overloaded{
                   [&](const StorageEvidence& e) {
                       storage_[e.domain] = e;
                       update_trouble(at);
                   },
                   [&](const LinkEvidence& e) {
                       auto it = links_.find(e.role);
                       if (it == links_.end() || it->second.first != e.state)
                           links_[e.role] = {e.state, at};
                   },
                   [&](const MembershipEvidence& e) {
                       membership_seen_ = true;
                       const bool member = std::ranges::find(e.members, self_) != e.members.end();
                       const bool quorate = e.quorate && member;
                       if (quorate && !quorate_) quorate_since_ = at;
                       quorate_ = quorate;
                       peers_.on_membership(at, e);
                   },
                   [&](const PeerMessageEvidence& e) {
                       if (e.status.host == self_) {
                           if (e.status.incarnation == incarnation_) own_delivered_at_ = at;
                           return;
                       }
                       peers_.on_message(at, e.status);
                   },
                   [&](const SlotWriteEvidence& e) {
                       write_seen_ = true;
                       last_write_ok_ = e.ok;
                       // The slot may have landed as early as the write was issued; count
                       // freshness from then, so a slow write never stretches our life.
                       if (e.ok) write_ok_at_ = at - e.latency;
                       update_trouble(at);
                   },
                   [&](const SlotReadEvidence& e) { peers_.on_slot_read(at, e); },
                   [&](const VmEvidence& e) {
                       if (policy_.vm(e.vm) == nullptr) return;  // not an HA VM
                       io_errors_.on_vm_state(e.vm, e.state);
                       starting_.erase(e.vm);
                       if (e.state == VmState::kShutOff) {
                           vms_.erase(e.vm);
                           stopping_.erase(e.vm);
                           return;
                       }
                       vms_[e.vm] = e.state;
                   },
                   [&](const AdminEvidence& e) {
                       switch (e.command) {
                           case AdminCommand::kMaintenanceOn:
                               maintenance_ = true;
                               break;
                           case AdminCommand::kMaintenanceOff:
                               maintenance_ = false;
                               break;
                           case AdminCommand::kDrain:
                               draining_ = true;
                               break;
                           case AdminCommand::kUndrain:
                               draining_ = false;
                               break;
                       }
                   },
                   [&](const FenceConfirmedEvidence& e) { peers_.on_fence_confirmed(e.peer); },
               },
               evidence);
}

bool HostEngine::storage_trouble() const {
    if (write_seen_ && !last_write_ok_) return true;
    return std::ranges::any_of(storage_, [](const auto& kv) { return troubled(kv.second.health); });
}

void HostEngine::update_trouble(TimePoint at) {
    if (storage_trouble()) {
        if (!trouble_since_) trouble_since_ = at;
    } else {
        trouble_since_.reset();
        trouble_global_ = false;
    }
}

bool HostEngine::io_in_flight() const {
    return std::ranges::any_of(storage_, [](const auto& kv) {
        return troubled(kv.second.health) && kv.second.io_in_flight;
    });
}

bool HostEngine::uplinks_dead(TimePoint now) const {
    const auto it = links_.find(NetRole::kVmUplink);
    if (it == links_.end()) return false;
    const auto [state, since] = it->second;
    return state != LinkState::kUp && now - since >= policy_.link_grace;
}

bool HostEngine::domain_writable(const std::string& domain) const {
    const auto it = storage_.find(domain);
    if (it == storage_.end()) return !storage_trouble();
    return it->second.health == StorageHealth::kOk || it->second.health == StorageHealth::kDegraded;
}

std::map<std::string, HostId> HostEngine::holders() const {
    std::map<std::string, HostId> held;
    for (const auto& [vm, state] : vms_) held.emplace(vm, self_);
    for (const auto& vm : starting_) held.emplace(vm, self_);
    for (const auto& [id, peer] : peers_.peers()) {
        if (peer.cls == PeerClass::kDead || !peer.status) continue;
        for (const auto& h : peer.status->held) held.emplace(h.name, id);
    }
    return held;
}

RecoveryView HostEngine::recovery_view(std::map<std::string, HostId> held) const {
    RecoveryView view{
        .self = self_, .held = std::move(held), .last_holders = last_holder_, .vms = policy_.vms};
    for (const auto& [id, peer] : peers_.peers()) view.peers.emplace(id, peer.cls);
    for (const auto& h : policy_.hosts) {
        if (placement_eligible(h.id)) view.capacity_mib.emplace(h.id, h.memory_mib);
    }
    return view;
}

std::optional<HostId> HostEngine::coordinator() const {
    // The lowest-id quorate member that sees its storage coordinates; every member
    // computes the same answer from the same ordered messages.
    if (!quorate_) return std::nullopt;
    const auto peer = peers_.lowest_coordinator_candidate();
    if (storage_trouble()) return peer;
    return peer && *peer < self_ ? *peer : self_;
}

bool HostEngine::placement_eligible(HostId host) const {
    if (host == self_) {
        return quorate_ && !storage_trouble() && !maintenance_ && !draining_ && !fencing_;
    }
    return peers_.placement_eligible(host);
}

void HostEngine::stop_all(Reason reason, std::vector<Decision>& out) {
    for (const auto& [vm, state] : vms_) {
        if (in_progress(stopping_, vm)) continue;
        stopping_[vm] = now_;
        out.push_back(Decision{.kind = DecisionKind::kStopVm,
                               .reason = reason,
                               .vm = vm,
                               .evidence = {fact("vm_state", std::string(name(state)))}});
    }
}

void HostEngine::start_assigned(const RecoveryView& view, std::vector<Decision>& out) {
    const auto coord = coordinator();
    if (!coord || fencing_ || maintenance_ || !quorate_ || storage_trouble()) return;
    const std::vector<Assignment>* plan = nullptr;
    std::vector<Assignment> own;
    if (*coord == self_) {
        for (const auto& [vm, target] : planner_.assignments()) own.push_back({vm, target});
        plan = &own;
    } else {
        const auto& peer = peers_.peers().at(*coord);
        if (!peer.status) return;
        plan = &peer.status->assignments;
    }
    for (const auto& a : *plan) {
        if (a.target != self_ || starting_.contains(a.vm) || vms_.contains(a.vm)) continue;
        if (policy_.vm(a.vm) == nullptr) continue;
        // Our own view must agree that nobody can still write its disks.
        const auto why = recoverable(view, a.vm);
        if (!why) continue;
        starting_.insert(a.vm);
        Decision d{.kind = DecisionKind::kStartVm,
                   .reason = Reason::kAssignedByCoordinator,
                   .peer = why->owner,
                   .vm = a.vm};
        d.evidence = {fact("coordinator", host_name(*coord)),
                      fact("owner_state", std::string(name(why->reason)))};
        out.push_back(std::move(d));
    }
}

void HostEngine::handle_io_errors(bool local_problem, std::vector<Decision>& out) {
    std::vector<PausedVm> paused;
    for (const auto& [vm, state] : vms_) {
        if (state != VmState::kPausedIoError || in_progress(stopping_, vm)) continue;
        const VmPolicy& p = *policy_.vm(vm);
        const auto it = storage_.find(p.storage_domain);
        paused.push_back(PausedVm{.name = vm,
                                  .policy = p.io_error,
                                  .domain = p.storage_domain,
                                  .domain_writable = domain_writable(p.storage_domain),
                                  .io_in_flight = it != storage_.end() && it->second.io_in_flight});
    }
    auto response = io_errors_.respond(now_, paused, local_problem, quorate_);
    for (auto& d : response.decisions) {
        if (d.kind == DecisionKind::kStopVm) stopping_[d.vm] = now_;
        out.push_back(std::move(d));
    }
    for (auto& a : response.alerts) alerts_.raise(std::move(a));
}

void HostEngine::raise(const std::string& key, AlertKind kind, Reason reason,
                       std::vector<Fact> evidence, std::string vm, std::optional<HostId> peer) {
    alerts_.raise(Alert{.key = key,
                        .kind = kind,
                        .reason = reason,
                        .evidence = std::move(evidence),
                        .vm = std::move(vm),
                        .peer = peer});
}

std::vector<HeldVm> HostEngine::held_list() const {
    std::vector<HeldVm> held;
    for (const auto& [vm, state] : vms_) held.push_back({vm, state});
    for (const auto& vm : starting_) {
        if (!vms_.contains(vm)) held.push_back({vm, VmState::kShutOff});
    }
    std::ranges::sort(held, {}, &HeldVm::name);
    return held;
}

// Pet only while peers can see that we live: our own message came back through the
// quorate cluster, or our slot was written, within the fresh window. Then a peer that
// has heard nothing from us for the fence delay knows our watchdog has fired.
std::pair<bool, Reason> HostEngine::pet_rule(TimePoint now) const {
    if (fencing_) return {false, Reason::kSelfFencing};
    if (quorate_ && fresh(own_delivered_at_, now)) return {true, Reason::kQuorate};
    if (fresh(write_ok_at_, now)) return {true, Reason::kSlotWritesOk};
    return {false, Reason::kNoQuorumNoStorage};
}

TickResult HostEngine::tick(TimePoint now) {
    now_ = now;
    std::vector<Decision> out;

    const bool trouble = storage_trouble();
    const bool storage_lost =
        trouble && trouble_since_ && now - *trouble_since_ >= policy_.storage_grace;
    const bool write_fresh = fresh(write_ok_at_, now);

    auto classes = peers_.classify(now, quorate_, quorate_since_);
    out.insert(out.end(), classes.changes.begin(), classes.changes.end());
    for (auto& a : classes.alerts) alerts_.raise(std::move(a));

    SelfState state = SelfState::kOk;
    if (trouble && !peers_.storage_trouble_is_local(now)) trouble_global_ = true;
    const bool local_problem = !trouble_global_ && peers_.storage_trouble_is_local(now);
    bool fence_justified = false;
    if (fencing_) {
        state = SelfState::kFencing;
    } else if (!quorate_) {
        if (membership_seen_) raise("quorum-lost", AlertKind::kQuorumLost, Reason::kQuorumLost);
        state = SelfState::kIsolated;
        if (write_fresh && !maintenance_) {
            const auto response = policy_.isolation_response;
            const bool dead_uplinks = uplinks_dead(now);
            if (response == IsolationResponse::kAlwaysStop) {
                stop_all(Reason::kIsolatedPolicyAlwaysStop, out);
            } else if (response == IsolationResponse::kStopWhenUplinksDead && dead_uplinks) {
                stop_all(Reason::kIsolatedUplinksDown, out);
            }
            if (response == IsolationResponse::kAlwaysStop ||
                (response == IsolationResponse::kStopWhenUplinksDead && dead_uplinks)) {
                if (vms_.empty() && starting_.empty()) state = SelfState::kReleased;
            }
        }
    } else if (storage_lost) {
        state = SelfState::kStorageLost;
        std::vector<Fact> ev{age("lost_for", now, *trouble_since_),
                             fact("io_in_flight", io_in_flight() ? "yes" : "no")};
        raise("storage-lost", AlertKind::kStorageLost,
              io_in_flight() ? Reason::kStorageLostIoInFlight : Reason::kStorageLostNothingInFlight,
              ev);
        if (!local_problem) {
            raise("global-storage-outage", AlertKind::kGlobalStorageOutage,
                  Reason::kGlobalStorageOutage);
        } else if (maintenance_) {
            // An admin is at work here: report, do not fence.
        } else if (io_in_flight()) {
            fence_justified = true;
            if (!fence_pending_since_) fence_pending_since_ = now;
            // Wait one heartbeat for peers' reports before fencing (see fence_pending_since_).
            if (now - *fence_pending_since_ >= policy_.heartbeat_interval) {
                fencing_ = true;
                state = SelfState::kFencing;
                out.push_back(Decision{.kind = DecisionKind::kSelfFenceReboot,
                                       .reason = Reason::kStorageLostIoInFlight,
                                       .evidence = std::move(ev)});
            }
        } else {
            stop_all(Reason::kStorageLostNothingInFlight, out);
        }
    }
    if (!fence_justified) fence_pending_since_.reset();
    if (!fencing_) handle_io_errors(local_problem, out);

    const auto [pet, pet_reason] = pet_rule(now);
    if (pet != pet_ || (!pet_announced_ && pet)) {
        std::vector<Fact> ev;
        if (write_ok_at_) ev.push_back(age("last_slot_write", now, *write_ok_at_));
        out.push_back(Decision{.kind = pet ? DecisionKind::kPetStarted : DecisionKind::kPetStopped,
                               .reason = pet_reason,
                               .evidence = std::move(ev)});
        pet_announced_ = true;
    }
    pet_ = pet;

    if (!state_ || *state_ != state) {
        out.push_back(Decision{.kind = DecisionKind::kSelfState,
                               .reason = Reason::kStateChanged,
                               .self_state = state});
        state_ = state;
    }

    // Recovery: remember who held what, then plan (coordinator) and start what is ours.
    const auto held = holders();
    for (const auto& [vm, host] : held) last_holder_[vm] = host;
    const auto view = recovery_view(held);
    const auto coord = coordinator();
    if (coord && *coord == self_ && peers_.reads_ok() && !peers_.storm() && !fencing_) {
        auto plan = planner_.plan(view);
        out.insert(out.end(), plan.assigned.begin(), plan.assigned.end());
        for (auto& a : plan.alerts) alerts_.raise(std::move(a));
    } else {
        planner_.clear();
    }
    start_assigned(view, out);

    const auto started_alerts = alerts_.end_tick();
    out.insert(out.end(), started_alerts.begin(), started_alerts.end());

    HostStatus status{.host = self_,
                      .incarnation = incarnation_,
                      .sequence = ++sequence_,
                      .state = state,
                      .quorate = quorate_,
                      .storage_ok = !trouble,
                      .maintenance = maintenance_,
                      .draining = draining_,
                      .held = held_list(),
                      .assignments = {}};
    for (const auto& [vm, target] : planner_.assignments())
        status.assignments.push_back({vm, target});
    return TickResult{
        .pet_watchdog = pet, .status = std::move(status), .decisions = std::move(out)};
}

}  // namespace vigil::core
