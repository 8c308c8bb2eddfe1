#include "daemon/core/engine.h"

#include <algorithm>
#include <utility>

#include "daemon/core/facts.h"
#include "daemon/ports/error.h"

namespace vigil::core {
namespace {

template <class... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};

}  // namespace

std::expected<HostEngine, Error> HostEngine::make(Policy policy, HostId self,
                                                  std::uint64_t incarnation, TimePoint started) {
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
      self_state_(policy_, self, incarnation),
      peers_(policy_, self, started),
      io_errors_(retry_after()),
      maintenance_(policy_.maintenance) {}

PeerClass HostEngine::peer_class(HostId peer) const { return peers_.peer_class(peer); }

std::string_view name(FreezeBlocker b) {
    switch (b) {
        case FreezeBlocker::kNotListed:
            return "no VM listing yet";
        case FreezeBlocker::kNotOk:
            return "this host is not ok (isolated, storage lost, fencing or released)";
        case FreezeBlocker::kNotQuorate:
            return "no quorum";
        case FreezeBlocker::kStorageTrouble:
            return "storage trouble (slot writes or a storage domain)";
        case FreezeBlocker::kActionsInFlight:
            return "VM actions in flight";
        case FreezeBlocker::kPeersUnaware:
            return "hosts of an older release, which would take a frozen host for dead";
        case FreezeBlocker::kAlreadyFrozen:
            return "already frozen";
    }
    return "?";
}

FreezeCheck HostEngine::freeze_check(TimePoint now) const {
    FreezeCheck out;
    const auto block = [&](FreezeBlocker b) { out.blockers.push_back(b); };
    if (frozen_) block(FreezeBlocker::kAlreadyFrozen);
    if (!listed_) block(FreezeBlocker::kNotListed);
    if (self_state_.state() != SelfState::kOk || self_state_.fencing())
        block(FreezeBlocker::kNotOk);
    if (!self_state_.quorate()) block(FreezeBlocker::kNotQuorate);
    // The last slot write failed, a domain is in trouble, or the host may not live
    // by its own rule: the frozen write might not land, or land late.
    if (self_state_.storage_trouble() || !self_state_.pet_rule(now).first)
        block(FreezeBlocker::kStorageTrouble);
    if (!starting_.empty() || !uncertain_.empty() || !queued_writes_.empty() ||
        !unsettled_.empty() || !stopping_.empty() || !migrating_.empty()) {
        block(FreezeBlocker::kActionsInFlight);
    }
    for (const auto& [id, peer] : peers_.peers()) {
        if (!peer.status || !peer.status->knows_freeze) out.unaware.push_back(id);
    }
    if (!out.unaware.empty()) block(FreezeBlocker::kPeersUnaware);
    return out;
}

HostStatus HostEngine::retract_freeze(TimePoint now) {
    auto status = freeze(now);
    status.frozen = false;
    return status;
}

HostStatus HostEngine::freeze(TimePoint now) {
    now_ = now;
    frozen_ = true;
    sent_at_[sequence_ + 1] = now;
    HostStatus status{.host = self_,
                      .incarnation = incarnation_,
                      .sequence = ++sequence_,
                      .state = SelfState::kOk,
                      .quorate = self_state_.quorate(),
                      .storage_ok = !self_state_.storage_trouble(),
                      .maintenance = maintenance_,
                      .cordoned = cordoned_,
                      .knows_freeze = true,
                      .frozen = true,
                      .held = held_list(),
                      .assignments = {}};
    return status;
}

bool HostEngine::in_progress(const std::map<std::string, TimePoint>& requests,
                             const std::string& vm) const {
    const auto it = requests.find(vm);
    return it != requests.end() && now_ - it->second < retry_after();
}

// One visit: each kind of evidence goes to the part that keeps it.
void HostEngine::observe(TimePoint at, const Evidence& evidence) {
    std::visit(Overloaded{
                   [&](const StorageEvidence& e) {
                       self_state_.on_storage(at, e);
                       on_storage(e);
                   },
                   [&](const LinkEvidence& e) { self_state_.on_link(at, e); },
                   [&](const MembershipEvidence& e) {
                       self_state_.on_membership(at, e);
                       peers_.on_membership(at, e);
                   },
                   [&](const PeerMessageEvidence& e) {
                       if (e.status.host == self_) {
                           // Proof that peers heard us when we sent it, not when it came back.
                           if (e.status.incarnation != incarnation_) return;
                           const auto sent = sent_at_.find(e.status.sequence);
                           if (sent != sent_at_.end())
                               self_state_.on_own_message(std::min(sent->second, at),
                                                          e.status.incarnation);
                       } else {
                           note_drain_release(at, e.status);
                           peers_.on_message(at, e.status);
                           note_assignments(at, e.status);
                           note_drain_taken(at, e.status);
                       }
                   },
                   [&](const PeerUnreadableEvidence& e) {
                       if (e.peer != self_) peers_.on_unreadable(at, e.peer);
                   },
                   [&](const SlotWriteEvidence& e) { self_state_.on_slot_write(at, e); },
                   [&](const SlotReadEvidence& e) {
                       peers_.on_slot_read(at, e);
                       for (const auto& slot : e.slots) {
                           if (slot.host == self_ && slot.incarnation != incarnation_)
                               previous_run_ = slot;
                       }
                   },
                   [&](const VmEvidence& e) { on_vm(at, e); },
                   [&](const VmInventoryEvidence& e) { on_inventory(at, e); },
                   [&](const VmPolicyEvidence& e) { on_policy(e); },
                   [&](const ActionEvidence& e) { on_action(at, e); },
                   [&](const AdminEvidence& e) { on_admin(e); },
                   [&](const FenceConfirmedEvidence& e) {
                       peers_.on_fence_confirmed(e.peer);
                       const auto it = peers_.peers().find(e.peer);
                       if (it == peers_.peers().end()) return;
                       fenced_[e.peer] = it->second.status ? it->second.status->incarnation : 0;
                       fence_failed_.erase(e.peer);
                   },
                   [&](const FenceFailedEvidence& e) { fence_failed_[e.peer] = e.detail; },
               },
               evidence);
}

// The hypervisor reports HA VMs only (their metadata makes them so), and a VM it
// reports runs here whether or not its policy has reached us yet: every one is
// tracked, since one left out could be started a second time elsewhere.
void HostEngine::on_vm(TimePoint at, const VmEvidence& e) {
    io_errors_.on_vm_state(e.vm, e.state);
    if (e.state == VmState::kShutOff) {
        // A start on its way is settled by its outcome, not by this event; but if
        // qemu exited, the start's "done" must not make it run.
        if (starting_.contains(e.vm)) {
            exited_while_starting_.insert(e.vm);
            if (writes_in_flight(e.vm)) queued_writes_.insert(e.vm);
        } else {
            forget_vm(at, e.vm);
        }
        return;
    }
    starting_.erase(e.vm);
    uncertain_.erase(e.vm);
    exited_while_starting_.erase(e.vm);
    unsettled_.erase(e.vm);
    if (e.state != VmState::kPausedIoError) {
        unexplained_pause_.erase(e.vm);
    } else if (!pause_explained(e.vm)) {
        unexplained_pause_.try_emplace(e.vm, at);
    }
    vms_[e.vm] = e.state;
}

void HostEngine::want_tick(TimePoint at) {
    if (!tick_wanted_ || at < *tick_wanted_) tick_wanted_ = at;
}

void HostEngine::note_assignments(TimePoint at, const HostStatus& status) {
    if (policy_.host(status.host) == nullptr) return;
    std::set<std::string> mine;
    for (const auto& a : status.assignments) {
        if (a.target == self_) mine.insert(a.vm);
    }
    auto& before = assigned_here_[status.host];
    for (const auto& vm : mine) {
        if (!before.contains(vm) && !vms_.contains(vm) && !starting_.contains(vm)) want_tick(at);
    }
    before = std::move(mine);
}

void HostEngine::note_drain_release(TimePoint at, const HostStatus& status) {
    // A draining peer that stopped a VM to hand it over says so in this status: the
    // coordinator places it at once rather than at its next heartbeat. Only drains
    // move the plan earlier; other releases keep their timing.
    if (!status.cordoned) return;
    const auto c = coordinator();
    if (!c || *c != self_) return;
    const auto it = peers_.peers().find(status.host);
    if (it == peers_.peers().end()) return;
    const auto& peer_status = it->second.status;
    if (!peer_status) return;
    for (const auto& h : peer_status->held) {
        if (std::ranges::find(status.held, h.name, &HeldVm::name) == status.held.end()) {
            want_tick(at);
            return;
        }
    }
}

void HostEngine::note_drain_taken(TimePoint at, const HostStatus& status) {
    // A migration that failed is replaced by a stop once its target no longer holds
    // the VM: at once, not at our next heartbeat.
    for (const auto& [vm, f] : migration_failed_) {
        if (f.target == status.host &&
            std::ranges::find(status.held, vm, &HeldVm::name) == status.held.end())
            want_tick(at);
    }
    // Draining: a VM we handed over runs there now, so the next one may go.
    for (const auto& h : status.held) {
        const auto m = migrating_.find(h.name);
        if (m != migrating_.end() && m->second.target == status.host) {
            // Held there while it moves (incoming) is not taken yet: our claim ends
            // once it runs there after the move (settle_migrations).
            m->second.seen_there = true;
            if (m->second.done && h.state == VmState::kRunning) want_tick(at);
            continue;
        }
        if (handing_over_.contains(h.name)) {
            want_tick(at);
            return;
        }
    }
}

void HostEngine::settle_migrations() {
    std::erase_if(migrating_, [&](const auto& kv) {
        const auto& [vm, m] = kv;
        if (!m.done) return false;  // in flight: its outcome decides
        const auto it = peers_.peers().find(m.target);
        if (it == peers_.peers().end()) return true;
        const auto& peer = it->second;
        if (peer.cls == PeerClass::kDead || peer.cls == PeerClass::kReleased) return true;
        if (!peer.status) return false;
        const auto h = std::ranges::find(peer.status->held, vm, &HeldVm::name);
        if (h == peer.status->held.end())
            return m.seen_there || peer.status->incarnation != m.target_incarnation;
        return h->state == VmState::kRunning;
    });
}

bool HostEngine::target_holds(const std::string& vm, HostId target) const {
    const auto it = peers_.peers().find(target);
    if (it == peers_.peers().end()) return false;
    const auto& peer = it->second;
    if (peer.cls == PeerClass::kDead || peer.cls == PeerClass::kReleased || !peer.status)
        return false;
    return std::ranges::find(peer.status->held, vm, &HeldVm::name) != peer.status->held.end();
}

std::map<std::string, HostId> HostEngine::migration_targets() const {
    std::map<std::string, HostId> out;
    for (const auto& [vm, m] : migrating_) out.emplace(vm, m.target);
    return out;
}

std::optional<TimePoint> HostEngine::tick_wanted_at() const {
    auto at = tick_wanted_;
    if (const auto end = peers_.next_fence_delay_end(); end && (!at || *end < *at)) at = end;
    return at;
}

void HostEngine::forget_vm(TimePoint at, const std::string& vm) {
    stopping_.erase(vm);
    const bool unexplained = unexplained_pause_.erase(vm) > 0;
    if (vms_.erase(vm) == 0) return;
    // A host cut off or without storage stops its VMs to let them go, a draining one
    // to hand them over: the status that says so goes out at once, not at the next
    // heartbeat.
    if (const auto st = self_state_.state(); st && *st != SelfState::kOk) want_tick(at);
    if (handing_over_.contains(vm)) want_tick(at);
    // A qemu gone while its storage still had writes queued leaves them queued: the
    // VM stays ours until they are settled (the path back) or a reset ends them.
    if (writes_in_flight(vm)) {
        queued_writes_.insert(vm);
    } else if (unexplained) {
        // Its storage failed under it and the reading that says whether writes are
        // queued has not come yet: the stop's outcome may well come first (x23).
        unsettled_[vm] = at;
    }
}

// A reading of a domain after a VM paused on it says what the pause left: a degraded
// one says nothing yet (the failure may be the next reading); any other does, and
// in-flight requests are reported with a stalled or failed domain only.
void HostEngine::on_storage(const StorageEvidence& e) {
    if (e.health == StorageHealth::kDegraded) return;
    const auto on_domain = [&](const std::string& vm) {
        const VmPolicy* p = policy_.vm(vm);
        return p == nullptr || p->storage_domain == e.domain;
    };
    std::erase_if(unexplained_pause_, [&](const auto& kv) { return on_domain(kv.first); });
    std::erase_if(unsettled_, [&](const auto& kv) {
        if (!on_domain(kv.first)) return false;
        if (writes_in_flight(kv.first)) queued_writes_.insert(kv.first);
        return true;
    });
}

bool HostEngine::pause_explained(const std::string& vm) const {
    const VmPolicy* p = policy_.vm(vm);
    if (p == nullptr) return self_state_.storage_trouble();
    const auto health = self_state_.domain_health(p->storage_domain);
    if (!health) return false;
    switch (*health) {
        case StorageHealth::kStalled:
        case StorageHealth::kFailed:
        case StorageHealth::kNoSpace:
            return true;
        case StorageHealth::kOk:
        case StorageHealth::kDegraded:
            return false;
    }
    return false;
}

bool HostEngine::writes_in_flight(const std::string& vm) const {
    const VmPolicy* p = policy_.vm(vm);
    return p != nullptr ? self_state_.domain_io_in_flight(p->storage_domain)
                        : self_state_.io_in_flight();
}

void HostEngine::on_inventory(TimePoint at, const VmInventoryEvidence& e) {
    listed_ = true;
    std::map<std::string, VmState> listed;
    for (const auto& v : e.vms) {
        if (v.state != VmState::kShutOff) listed.emplace(v.vm, v.state);
    }
    std::vector<std::string> gone;
    for (const auto& [vm, state] : vms_) {
        if (!listed.contains(vm)) gone.push_back(vm);
    }
    for (const auto& vm : gone) forget_vm(at, vm);
    for (const auto& [vm, state] : listed) {
        on_vm(at, VmEvidence{.vm = vm, .state = state});
    }
    // A start that timed out and is not running now did not happen.
    for (const auto& vm : uncertain_) {
        starting_.erase(vm);
        declined_[vm] = Failure{at, ActionOutcome::kTimedOut, "not running after a timeout"};
    }
    uncertain_.clear();
}

void HostEngine::on_policy(const VmPolicyEvidence& e) {
    std::vector<VmPolicy> vms;
    for (const auto& v : e.vms) {
        // The hypervisor adapter refuses bad metadata; this is the last line.
        if (v.name.empty() || v.memory_mib == 0) continue;
        if (std::ranges::find(vms, v.name, &VmPolicy::name) != vms.end()) continue;
        vms.push_back(v);
    }
    policy_.vms = std::move(vms);
}

void HostEngine::on_action(TimePoint at, const ActionEvidence& e) {
    switch (e.action) {
        case VmAction::kStart:
            switch (e.outcome) {
                case ActionOutcome::kDone:
                    // The lifecycle event may come before or after this; the first wins,
                    // and a qemu that already exited is not running.
                    if (starting_.erase(e.vm) > 0 && !vms_.contains(e.vm) &&
                        !exited_while_starting_.contains(e.vm))
                        vms_[e.vm] = VmState::kRunning;
                    exited_while_starting_.erase(e.vm);
                    uncertain_.erase(e.vm);
                    declined_.erase(e.vm);
                    break;
                case ActionOutcome::kFailed:
                case ActionOutcome::kLockedElsewhere:
                    if (!vms_.contains(e.vm)) {
                        starting_.erase(e.vm);
                        uncertain_.erase(e.vm);
                        exited_while_starting_.erase(e.vm);
                        declined_[e.vm] = Failure{at, e.outcome, e.detail};
                    }
                    break;
                case ActionOutcome::kTimedOut:
                    // It may still come up: hold it as ours until a listing says.
                    if (starting_.contains(e.vm)) uncertain_.insert(e.vm);
                    break;
            }
            break;
        case VmAction::kMigrate: {
            const auto m = migrating_.find(e.vm);
            if (m == migrating_.end()) break;
            if (e.outcome == ActionOutcome::kDone) {
                // Moved: it runs there now, and stays ours until the target says so.
                m->second.done = true;
                forget_vm(at, e.vm);
                break;
            }
            // It did not move: it runs here still (or not at all). A drain that goes on
            // stops it instead; the coordinator places it as without migration.
            const HostId target = m->second.target;
            migrating_.erase(m);
            if (draining_ && handing_over_.contains(e.vm)) {
                migration_failed_[e.vm] = FailedMigration{
                    .target = target, .outcome = e.outcome, .detail = e.detail, .at = at};
                want_tick(at);
            }
            break;
        }
        case VmAction::kStop:
        case VmAction::kResume:
            if (e.outcome != ActionOutcome::kDone) {
                failures_[{e.vm, e.action}] = Failure{at, e.outcome, e.detail};
                break;
            }
            failures_.erase({e.vm, e.action});
            // Done: no qemu remains (the lifecycle event may still be on its way).
            if (e.action == VmAction::kStop) forget_vm(at, e.vm);
            break;
    }
}

void HostEngine::fence_silent_peers(TimePoint now, std::vector<Decision>& out) {
    // What we said we fenced holds for the daemon run it ended; a peer back with a
    // new one, or back in the membership, is not ours to report any more.
    std::erase_if(fenced_, [&](const auto& kv) {
        const auto it = peers_.peers().find(kv.first);
        if (it == peers_.peers().end()) return true;
        const auto& p = it->second;
        return p.in_membership || (p.status && p.status->incarnation != kv.second);
    });
    std::erase_if(fence_failed_, [&](const auto& kv) {
        const auto it = peers_.peers().find(kv.first);
        return it == peers_.peers().end() || it->second.in_membership;
    });
    for (const auto& [peer, detail] : fence_failed_) {
        alerts_.raise(Alert{.key = "fence-failed:" + host_name(peer),
                            .kind = AlertKind::kFenceFailed,
                            .reason = Reason::kFenceFailed,
                            .peer = peer});
    }
    const auto coord = coordinator();
    if (!coord || *coord != self_ || !peers_.reads_ok(now) || peers_.storm() ||
        self_state_.fencing())
        return;
    // A peer that still writes its slot shows it within two heartbeats of leaving
    // (it writes every heartbeat, we read every heartbeat), and one more covers slow
    // slot I/O: then it is isolated and never fenced. One that shows nothing by then is dead or cut
    // off from its storage too, and its own watchdog is about to take it anyway.
    const auto wait = policy_.slot_fresh_window() + policy_.heartbeat_interval;
    for (const auto& [peer, left] : peers_.fence_candidates(now, wait)) {
        const auto asked = fence_asked_.find(peer);
        if (asked != fence_asked_.end() && asked->second == left) continue;  // once per absence
        fence_asked_[peer] = left;
        out.push_back(Decision{.kind = DecisionKind::kFencePeer,
                               .reason = Reason::kLeftAndSilent,
                               .peer = peer,
                               .evidence = {fact("left_for", format_seconds(now - left))}});
    }
}

bool HostEngine::declined_here(const std::string& vm) const {
    const auto it = declined_.find(vm);
    return it != declined_.end() && now_ - it->second.at < policy_.start_failure_hold;
}

void HostEngine::raise_action_failures() {
    std::erase_if(declined_, [&](const auto& kv) {
        return now_ - kv.second.at >= policy_.start_failure_hold;
    });
    for (const auto& [vm, f] : declined_) {
        Reason why = Reason::kStartFailed;
        switch (f.outcome) {
            case ActionOutcome::kLockedElsewhere:
                why = Reason::kLockedElsewhere;
                break;
            case ActionOutcome::kTimedOut:
                why = Reason::kActionTimedOut;
                break;
            case ActionOutcome::kDone:
            case ActionOutcome::kFailed:
                break;
        }
        alerts_.raise(Alert{.key = "start-failed:" + vm,
                            .kind = AlertKind::kVmStartFailed,
                            .reason = why,
                            .evidence = {fact("outcome", std::string(name(f.outcome)))},
                            .vm = vm});
    }
    for (const auto& [key, f] : failures_) {
        const auto& [vm, action] = key;
        const bool stop = action == VmAction::kStop;
        alerts_.raise(Alert{.key = std::string(stop ? "stop-failed:" : "resume-failed:") + vm,
                            .kind = stop ? AlertKind::kVmStopFailed : AlertKind::kVmResumeFailed,
                            .reason = stop ? Reason::kStopFailed : Reason::kResumeFailed,
                            .evidence = {fact("outcome", std::string(name(f.outcome)))},
                            .vm = vm});
    }
}

void HostEngine::on_admin(const AdminEvidence& e) {
    switch (e.command) {
        case AdminCommand::kMaintenanceOn:
            maintenance_ = true;
            break;
        case AdminCommand::kMaintenanceOff:
            maintenance_ = false;
            break;
        case AdminCommand::kCordon:
            cordoned_ = true;
            break;
        case AdminCommand::kUncordon:
            // Ends a drain too. A VM already stopped here to hand it over is placed
            // by the coordinator as any released VM, here again included.
            cordoned_ = false;
            draining_ = false;
            handing_over_.clear();
            drain_blocked_.clear();
            migration_failed_.clear();
            break;
        case AdminCommand::kDrain:
            cordoned_ = true;
            draining_ = true;
            break;
    }
}

std::map<std::string, HostId> HostEngine::holders() const {
    std::map<std::string, HostId> held;
    for (const auto& [vm, state] : vms_) held.emplace(vm, self_);
    for (const auto& [vm, m] : migrating_) held.emplace(vm, self_);
    for (const auto& vm : starting_) held.emplace(vm, self_);
    for (const auto& vm : queued_writes_) held.emplace(vm, self_);
    for (const auto& [vm, since] : unsettled_) held.emplace(vm, self_);
    for (const auto& [id, peer] : peers_.peers()) {
        if (peer.cls == PeerClass::kDead || !peer.status) continue;
        for (const auto& h : peer.status->held) held.emplace(h.name, id);
    }
    return held;
}

RecoveryView HostEngine::recovery_view(std::map<std::string, HostId> held) const {
    RecoveryView view{
        .self = self_, .held = std::move(held), .last_holders = last_holder_, .vms = policy_.vms};
    for (const auto& [id, peer] : peers_.peers()) {
        view.peers.emplace(id, peer.cls);
        if (!peer.status) continue;
        if (!takes_assignments(*peer.status)) view.refusing.insert(id);
        for (const auto& vm : peer.status->declined) view.declined[vm].insert(id);
    }
    for (const auto& [vm, f] : declined_) {
        if (declined_here(vm)) view.declined[vm].insert(self_);
    }
    for (const auto& h : policy_.hosts) {
        if (placement_eligible(h.id)) view.capacity_mib.emplace(h.id, h.memory_mib);
    }
    return view;
}

std::optional<HostId> HostEngine::coordinator() const {
    if (!self_state_.quorate()) return std::nullopt;
    const auto peer = peers_.lowest_coordinator_candidate();
    if (self_state_.storage_trouble()) return peer;
    return peer && *peer < self_ ? *peer : self_;
}

bool HostEngine::placement_eligible(HostId host) const {
    if (host == self_) {
        return self_state_.quorate() && !self_state_.storage_trouble() && !maintenance_ &&
               !cordoned_ && !self_state_.fencing();
    }
    return peers_.placement_eligible(host);
}

void HostEngine::stop_all(Reason reason, std::vector<Decision>& out) {
    for (const auto& [vm, state] : vms_) {
        if (in_progress(stopping_, vm)) continue;
        // Destroying qemu does not take back the writes the kernel still has queued
        // for a path that is down: they would land after the VM started elsewhere.
        // Such a VM stays (and stays ours in our status); only a reset ends them.
        if (writes_in_flight(vm)) continue;
        stopping_[vm] = now_;
        out.push_back(Decision{.kind = DecisionKind::kStopVm,
                               .reason = reason,
                               .vm = vm,
                               .evidence = {fact("vm_state", std::string(name(state)))}});
    }
}

std::vector<std::string> HostEngine::drain_candidates() const {
    std::vector<const VmPolicy*> order;
    for (const auto& [vm, state] : vms_) {
        if (state != VmState::kRunning) continue;
        if (const VmPolicy* p = policy_.vm(vm); p != nullptr) order.push_back(p);
    }
    std::ranges::sort(order, [](const VmPolicy* a, const VmPolicy* b) {
        return a->priority != b->priority ? a->priority > b->priority : a->name < b->name;
    });
    std::vector<std::string> names;
    names.reserve(order.size());
    for (const VmPolicy* p : order) names.push_back(p->name);
    return names;
}

void HostEngine::drain_step(const RecoveryView& view, std::vector<Decision>& out) {
    drain_blocked_.clear();
    if (!draining_) return;
    // A migration asked for by an earlier drain (ended by an uncordon since) is on its
    // way still: it counts as handed over now, and is never asked for twice.
    for (const auto& [vm, m] : migrating_) handing_over_.try_emplace(vm, m.since);
    // Handed over: a host we hear from holds it now (or it is no HA VM any more). One
    // taken by a host gone silent since may need placing again: it stays on its way.
    std::erase_if(handing_over_, [&](const auto& kv) {
        if (policy_.vm(kv.first) == nullptr) return true;
        const auto h = view.held.find(kv.first);
        return h != view.held.end() && h->second != self_ &&
               peers_.peer_class(h->second) == PeerClass::kAlive;
    });
    // Only a host that is fine and in the quorate partition hands VMs over: one cut
    // off or in trouble does what any such host does (a VM it already stopped is
    // released like theirs: its slot says it no longer holds it).
    const auto st = self_state_.state();
    if (!st || *st != SelfState::kOk || !self_state_.quorate() || self_state_.fencing() ||
        self_state_.storage_trouble() || !coordinator())
        return;
    // While a peer is suspect its VMs may soon need the room a drain would take: the
    // drain waits for the recovery (VMs held nowhere take their room first, below).
    const bool recovering = std::ranges::any_of(
        view.peers, [](const auto& kv) { return kv.second == PeerClass::kSuspect; });
    std::vector<std::string> moving;
    for (const auto& p : policy_.vms) {
        if (!view.held.contains(p.name) && !handing_over_.contains(p.name))
            moving.push_back(p.name);
    }
    for (const auto& [vm, since] : handing_over_) {
        moving.push_back(vm);
        // On its way by migration: the migration's outcome decides what comes next.
        if (migrating_.contains(vm)) continue;
        // A stop that did not take is asked again; the VM stays ours meanwhile. One
        // whose migration did not happen is stopped, as without migration, once the
        // target's status no longer holds it (incoming) or the target is dead or
        // released: until then no coordinator places the VM (the target might run
        // it), so a stop would only keep it down for longer.
        if (!vms_.contains(vm) || in_progress(stopping_, vm)) continue;
        const auto f = migration_failed_.find(vm);
        if (f != migration_failed_.end() && target_holds(vm, f->second.target)) continue;
        stopping_[vm] = now_;
        Decision d{
            .kind = DecisionKind::kStopVm,
            .reason = Reason::kDrain,
            .vm = vm,
            .evidence = {fact("vm_state", std::string(name(vms_.at(vm)))), fact("again", "yes")}};
        if (f != migration_failed_.end()) {
            d.reason = Reason::kMigrationFailed;
            d.evidence = {fact("vm_state", std::string(name(vms_.at(vm)))),
                          fact("target", host_name(f->second.target)),
                          fact("outcome", std::string(name(f->second.outcome)))};
            if (!f->second.detail.empty()) d.evidence.push_back(fact("detail", f->second.detail));
            migration_failed_.erase(f);
        }
        out.push_back(std::move(d));
    }
    for (const auto& vm : drain_candidates()) {
        if (handing_over_.contains(vm)) continue;
        const VmPolicy& p = *policy_.vm(vm);
        const auto room = hosts_with_room(view, vm, moving, migration_targets());
        if (room == 0) {
            drain_blocked_.insert(vm);
            alerts_.raise(Alert{.key = "drain-blocked:" + vm,
                                .kind = AlertKind::kDrainBlocked,
                                .reason = Reason::kNoHostCanTake,
                                .evidence = {fact("priority", std::to_string(p.priority)),
                                             fact("memory_mib", std::to_string(p.memory_mib))},
                                .vm = vm});
            continue;
        }
        if (recovering || handing_over_.size() >= policy_.drain_parallel) continue;
        handing_over_[vm] = now_;
        if (policy_.drain_migrate) {
            // room > 0: the same free memory gives a target.
            const auto to = drain_target(view, vm, moving, migration_targets());
            if (to) {
                const auto& peer = peers_.peers().at(to->host);
                migrating_[vm] =
                    Migration{.target = to->host,
                              .since = now_,
                              .target_incarnation = peer.status ? peer.status->incarnation : 0};
                moving.push_back(vm);
                out.push_back(
                    Decision{.kind = DecisionKind::kMigrateVm,
                             .reason = Reason::kDrain,
                             .vm = vm,
                             .target = to->host,
                             .evidence = {fact("priority", std::to_string(p.priority)),
                                          fact("free_mib", std::to_string(to->free_mib)),
                                          fact("hosts_with_room", std::to_string(room))}});
                continue;
            }
        }
        stopping_[vm] = now_;
        moving.push_back(vm);
        out.push_back(Decision{.kind = DecisionKind::kStopVm,
                               .reason = Reason::kDrain,
                               .vm = vm,
                               .evidence = {fact("priority", std::to_string(p.priority)),
                                            fact("hosts_with_room", std::to_string(room))}});
    }
}

void HostEngine::start_assigned(const RecoveryView& view, std::vector<Decision>& out) {
    const auto coord = coordinator();
    if (!coord || self_state_.fencing() || maintenance_ || !self_state_.quorate() ||
        self_state_.storage_trouble())
        return;
    const std::vector<Assignment>* plan = nullptr;
    std::vector<Assignment> own;
    if (*coord == self_) {
        for (const auto& [vm, target] : planner_.assignments()) own.push_back({vm, target});
        plan = &own;
    } else {
        const auto& peer = peers_.peers().at(*coord);
        // What we have of a coordinator we cannot read is older than its plan now.
        if (!peer.status || peer.reason == Reason::kUnreadableFormat) return;
        plan = &peer.status->assignments;
    }
    for (const auto& a : *plan) {
        if (a.target != self_ || starting_.contains(a.vm) || vms_.contains(a.vm)) continue;
        if (policy_.vm(a.vm) == nullptr || declined_here(a.vm)) continue;
        if (*coord != self_) {
            // A plan made before our last word that we take no VM, or that we declined
            // this one, may since have moved the VM elsewhere: wait for a newer one.
            const auto declined = declined_through_.find(a.vm);
            if (a.target_incarnation != incarnation_ || a.target_sequence <= refused_through_ ||
                (declined != declined_through_.end() && a.target_sequence <= declined->second))
                continue;
        }
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

std::vector<PausedVm> HostEngine::paused_vms() const {
    std::vector<PausedVm> paused;
    for (const auto& [vm, state] : vms_) {
        if (state != VmState::kPausedIoError || in_progress(stopping_, vm)) continue;
        const VmPolicy* known = policy_.vm(vm);
        if (known == nullptr) continue;  // no longer an HA VM: its I/O errors are not ours
        const VmPolicy& p = *known;
        paused.push_back(
            PausedVm{.name = vm,
                     .policy = p.io_error,
                     .domain = p.storage_domain,
                     .domain_writable = self_state_.domain_writable(p.storage_domain),
                     .io_in_flight = self_state_.domain_io_in_flight(p.storage_domain)});
    }
    return paused;
}

void HostEngine::handle_io_errors(bool local_problem, std::vector<Decision>& out) {
    auto response = io_errors_.respond(now_, paused_vms(), local_problem, self_state_.quorate());
    for (auto& d : response.decisions) {
        if (d.kind == DecisionKind::kStopVm) stopping_[d.vm] = now_;
        out.push_back(std::move(d));
    }
    for (auto& a : response.alerts) alerts_.raise(std::move(a));
}

std::vector<Decision> HostEngine::resumes(TimePoint now) {
    // The tick's guards: nothing before the first listing, nothing once fencing;
    // a VM being stopped is left out by paused_vms().
    if (!listed_ || self_state_.fencing()) return {};
    // A loss of our own that has lasted the grace is the tick's to answer (F5:
    // stop the VMs, recover them elsewhere); resuming them first would only turn
    // that stop into a slow one.
    if (self_state_.storage_lost_alone(now) && peers_.storage_trouble_is_local(now)) return {};
    now_ = now;
    // Not local: stopping a VM to recover it elsewhere is the tick's to decide,
    // with the peers' reports of that tick. Its alerts are the tick's too.
    auto response = io_errors_.respond(now, paused_vms(), false, self_state_.quorate());
    std::erase_if(response.decisions,
                  [](const Decision& d) { return d.kind != DecisionKind::kResumeVm; });
    return std::move(response.decisions);
}

std::vector<HeldVm> HostEngine::held_list() const {
    std::vector<HeldVm> held;
    held.reserve(vms_.size() + starting_.size());
    for (const auto& [vm, state] : vms_) held.push_back({vm, state});
    for (const auto& vm : starting_) {
        if (!vms_.contains(vm)) held.push_back({vm, VmState::kShutOff});
    }
    // Migrated (or gone while migrating): no qemu here, ours until settled.
    for (const auto& [vm, m] : migrating_) {
        if (!vms_.contains(vm) && !starting_.contains(vm)) held.push_back({vm, VmState::kShutOff});
    }
    std::set<std::string> gone(queued_writes_);
    for (const auto& [vm, since] : unsettled_) gone.insert(vm);
    for (const auto& vm : gone) {
        if (!vms_.contains(vm) && !starting_.contains(vm) && !migrating_.contains(vm))
            held.push_back({vm, VmState::kShutOff});
    }
    std::ranges::sort(held, {}, &HeldVm::name);
    return held;
}

EngineSnapshot HostEngine::snapshot() const {
    EngineSnapshot s{.self = self_,
                     .incarnation = incarnation_,
                     .sequence = sequence_,
                     .state = self_state_.state(),
                     .quorate = self_state_.quorate(),
                     .maintenance = maintenance_,
                     .cordoned = cordoned_,
                     .draining = draining_,
                     .listed = listed_,
                     .coordinator = coordinator(),
                     .alerts_active = alerts_.active_by_kind()};
    for (const auto& [id, peer] : peers_.peers()) {
        s.peers.push_back(PeerSnapshot{.id = id,
                                       .cls = peer.cls,
                                       .reason = peer.reason,
                                       .in_membership = peer.in_membership,
                                       .last_message = peer.last_message,
                                       .last_slot_advance = peer.last_slot_advance,
                                       .status = peer.status});
    }
    std::map<std::string, VmSnapshot> vms;
    for (const auto& p : policy_.vms) vms[p.name] = VmSnapshot{.name = p.name, .policy = p};
    for (const auto& [vm, host] : holders()) {
        auto& v = vms[vm];
        v.name = vm;
        v.owner = host;
    }
    for (const auto& [vm, state] : vms_) {
        auto& v = vms[vm];
        v.name = vm;
        v.here = state;
    }
    for (auto& [name, v] : vms) s.vms.push_back(std::move(v));
    if (draining_) {
        for (const auto& [vm, since] : handing_over_) s.drain_moving.push_back(vm);
        for (const auto& vm : drain_candidates()) {
            if (!handing_over_.contains(vm) && !drain_blocked_.contains(vm))
                s.drain_left.push_back(vm);
        }
        s.drain_blocked.assign(drain_blocked_.begin(), drain_blocked_.end());
        for (const auto& [vm, m] : migrating_) {
            s.drain_migrating.push_back(
                MigrationSnapshot{.vm = vm, .target = m.target, .since = m.since, .moved = m.done});
        }
        for (const auto& [vm, f] : migration_failed_) {
            s.drain_migration_failed.push_back(FailedMigrationSnapshot{.vm = vm,
                                                                       .target = f.target,
                                                                       .outcome = f.outcome,
                                                                       .detail = f.detail,
                                                                       .at = f.at});
        }
    }
    return s;
}

PetVerdict HostEngine::should_pet(TimePoint now) const {
    if (!listed_) return {false, Reason::kNoVmListingYet};
    const auto [pet, reason] = self_state_.pet_rule(now);
    return {pet, reason};
}

TickResult HostEngine::tick(TimePoint now) {
    now_ = now;
    tick_wanted_.reset();
    // Until the hypervisor has listed what runs here, anything we said about what we
    // hold could be wrong: say nothing, decide nothing, and let the watchdog go.
    // After the frozen record nothing more is said: a later status would end the
    // freeze for the peers while this daemon is on its way out.
    if (frozen_) {
        return TickResult{.pet_watchdog = false,
                          .pet_reason = Reason::kStoppedDeliberately,
                          .publish = false,
                          .status = {},
                          .decisions = {}};
    }
    if (!listed_) {
        return TickResult{.pet_watchdog = false,
                          .pet_reason = Reason::kNoVmListingYet,
                          .publish = false,
                          .status = {},
                          .decisions = {}};
    }
    std::vector<Decision> out;
    raise_action_failures();
    std::erase_if(queued_writes_, [&](const std::string& vm) { return !writes_in_flight(vm); });
    std::erase_if(unsettled_,
                  [&](const auto& kv) { return now - kv.second >= policy_.storage_grace; });

    auto classes = peers_.classify(now, self_state_.quorate(), self_state_.quorate_since(),
                                   self_state_.storage_trouble());
    out.insert(out.end(), classes.changes.begin(), classes.changes.end());
    for (auto& a : classes.alerts) alerts_.raise(std::move(a));

    // Self-state after the peers: whether our storage trouble is ours alone depends on
    // what the peers we just classified say.
    auto self = self_state_.assess(
        now,
        SelfInputs{.trouble_is_local = peers_.storage_trouble_is_local(now),
                   .trouble_is_shared = peers_.storage_trouble_is_shared(now),
                   .maintenance = maintenance_,
                   .holds_vms = !vms_.empty() || !starting_.empty() || !queued_writes_.empty() ||
                                !unsettled_.empty() || !migrating_.empty()});
    for (auto& a : self.alerts) alerts_.raise(std::move(a));
    if (self.stop_all) stop_all(*self.stop_all, out);
    if (self.reboot) out.push_back(std::move(*self.reboot));
    if (!self_state_.fencing()) handle_io_errors(self.local_problem, out);
    // Pet and self-state changes are logged after the VM actions they come with.
    out.insert(out.end(), self.changes.begin(), self.changes.end());

    // Two hosts can each take themselves for the coordinator for a moment (one has
    // not yet heard that a lower one sees its storage again, or a ring re-forms and
    // delivers nothing). A host acts as coordinator only once it has been one for a
    // heartbeat: by then every peer's newer status has reached it, through the
    // cluster or through its slot.
    if (const auto c = coordinator(); c && *c == self_) {
        if (!coordinating_since_) coordinating_since_ = now;
    } else {
        coordinating_since_.reset();
    }
    const bool settled =
        coordinating_since_ && now - *coordinating_since_ >= policy_.heartbeat_interval;

    if (policy_.fence_agents && settled) fence_silent_peers(now, out);

    // Recovery: remember who held what, then plan (coordinator) and start what is ours.
    settle_migrations();
    const auto held = holders();
    for (const auto& [vm, host] : held) last_holder_[vm] = host;
    const auto view = recovery_view(held);
    const auto coord = coordinator();
    if (coord && *coord == self_ && settled && peers_.reads_ok(now) && !peers_.storm() &&
        !self_state_.fencing()) {
        auto plan = planner_.plan(view);
        out.insert(out.end(), plan.assigned.begin(), plan.assigned.end());
        for (auto& a : plan.alerts) alerts_.raise(std::move(a));
    } else {
        planner_.clear();
    }
    start_assigned(view, out);
    drain_step(view, out);

    const auto started_alerts = alerts_.end_tick();
    out.insert(out.end(), started_alerts.begin(), started_alerts.end());

    // When each status left, for the proof its return gives; a few heartbeats' worth.
    sent_at_[sequence_ + 1] = now;
    while (sent_at_.size() > 64) sent_at_.erase(sent_at_.begin());
    HostStatus status{.host = self_,
                      .incarnation = incarnation_,
                      .sequence = ++sequence_,
                      .state = self.state,
                      .quorate = self_state_.quorate(),
                      .storage_ok = !self_state_.storage_trouble(),
                      .maintenance = maintenance_,
                      .cordoned = cordoned_,
                      .knows_freeze = true,
                      .held = held_list(),
                      .assignments = {}};
    for (const auto& [vm, target] : planner_.assignments()) {
        Assignment a{.vm = vm, .target = target};
        if (target == self_) {
            a.target_incarnation = incarnation_;
            a.target_sequence = sequence_;
        } else if (const auto& peer = peers_.peers().at(target); peer.status) {
            a.target_incarnation = peer.status->incarnation;
            a.target_sequence = peer.status->sequence;
        }
        status.assignments.push_back(std::move(a));
    }
    for (const auto& [vm, f] : declined_) {
        status.declined.push_back(vm);
        declined_through_[vm] = sequence_;
    }
    if (!takes_assignments(status)) refused_through_ = sequence_;
    for (const auto& [peer, incarnation] : fenced_) status.fenced.emplace_back(peer, incarnation);
    return TickResult{.pet_watchdog = self.pet,
                      .pet_reason = self.pet_reason,
                      .publish = true,
                      .status = std::move(status),
                      .decisions = std::move(out)};
}

}  // namespace vigil::core
