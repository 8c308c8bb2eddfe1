#include "daemon/core/planner.h"

#include <algorithm>
#include <utility>

#include "daemon/core/facts.h"

namespace vigil::core {
namespace {

const VmPolicy* find_vm(std::span<const VmPolicy> vms, const std::string& name) {
    const auto it = std::ranges::find(vms, name, &VmPolicy::name);
    return it == vms.end() ? nullptr : &*it;
}

}  // namespace

bool takes_assignments(const HostStatus& s) {
    return s.quorate && s.storage_ok && !s.maintenance && !s.cordoned && s.state == SelfState::kOk;
}

std::optional<Recoverable> recoverable(const RecoveryView& view, const std::string& vm) {
    if (view.held.contains(vm)) return std::nullopt;
    const auto lh = view.last_holders.find(vm);
    if (lh != view.last_holders.end()) {
        if (lh->second == view.self) return Recoverable{Reason::kOwnerReleased, view.self};
        switch (view.peers.at(lh->second)) {
            case PeerClass::kDead:
                return Recoverable{Reason::kOwnerDead, lh->second};
            case PeerClass::kReleased:
            case PeerClass::kAlive:
            case PeerClass::kIsolated:
                // It speaks for itself and no longer lists the VM.
                return Recoverable{Reason::kOwnerReleased, lh->second};
            case PeerClass::kSuspect:
            case PeerClass::kFrozen:  // its VMs stay its own until it writes again
                return std::nullopt;
        }
        return std::nullopt;
    }
    // Never seen held: anyone not heard from might be running it.
    const bool doubt = std::ranges::any_of(
        view.peers, [](const auto& kv) { return kv.second == PeerClass::kSuspect; });
    if (doubt) return std::nullopt;
    return Recoverable{Reason::kNotRunningAnywhere, std::nullopt};
}

namespace {

// Free memory of each host other than view.self once the moving VMs have taken
// theirs: a migrating one on its target, the others placed as plan() would.
std::map<HostId, std::int64_t> room_after(const RecoveryView& view, const std::string& vm,
                                          const std::vector<std::string>& moving,
                                          const std::map<std::string, HostId>& migrating) {
    std::map<HostId, std::int64_t> free;
    for (const auto& [id, mib] : view.capacity_mib) {
        if (id != view.self) free[id] = static_cast<std::int64_t>(mib);
    }
    for (const auto& [held, host] : view.held) {
        const auto* p = find_vm(view.vms, held);
        if (p != nullptr && free.contains(host))
            free[host] -= static_cast<std::int64_t>(p->memory_mib);
    }
    std::vector<const VmPolicy*> order;
    for (const auto& m : moving) {
        const auto* p = find_vm(view.vms, m);
        // Still stopping here counts as on its way: the room it needs is elsewhere.
        const auto h = view.held.find(m);
        if (p == nullptr || m == vm || (h != view.held.end() && h->second != view.self)) continue;
        if (const auto to = migrating.find(m); to != migrating.end()) {
            if (free.contains(to->second))
                free[to->second] -= static_cast<std::int64_t>(p->memory_mib);
            continue;
        }
        order.push_back(p);
    }
    std::ranges::sort(order, [](const VmPolicy* a, const VmPolicy* b) {
        return a->priority != b->priority ? a->priority > b->priority : a->name < b->name;
    });
    for (const VmPolicy* p : order) {
        const auto mem = static_cast<std::int64_t>(p->memory_mib);
        std::optional<HostId> target;
        for (const auto& [id, room] : free) {
            if (room >= mem && (!target || room > free[*target])) target = id;
        }
        if (target) free[*target] -= mem;
    }
    return free;
}

}  // namespace

std::size_t hosts_with_room(const RecoveryView& view, const std::string& vm,
                            const std::vector<std::string>& moving,
                            const std::map<std::string, HostId>& migrating) {
    const auto* candidate = find_vm(view.vms, vm);
    if (candidate == nullptr) return 0;
    const auto decliners = view.declined.find(vm);
    std::size_t hosts = 0;
    for (const auto& [id, room] : room_after(view, vm, moving, migrating)) {
        const bool declined = decliners != view.declined.end() && decliners->second.contains(id);
        if (!declined && room >= static_cast<std::int64_t>(candidate->memory_mib)) ++hosts;
    }
    return hosts;
}

std::optional<DrainTarget> drain_target(const RecoveryView& view, const std::string& vm,
                                        const std::vector<std::string>& moving,
                                        const std::map<std::string, HostId>& migrating) {
    const auto* candidate = find_vm(view.vms, vm);
    if (candidate == nullptr) return std::nullopt;
    const auto mem = static_cast<std::int64_t>(candidate->memory_mib);
    const auto decliners = view.declined.find(vm);
    std::optional<DrainTarget> best;
    for (const auto& [id, room] : room_after(view, vm, moving, migrating)) {
        if (decliners != view.declined.end() && decliners->second.contains(id)) continue;
        if (room >= mem && (!best || room > best->free_mib))
            best = DrainTarget{.host = id, .free_mib = room};
    }
    return best;
}

RecoveryPlan RecoveryPlanner::plan(const RecoveryView& view) {
    RecoveryPlan out;
    std::map<HostId, std::int64_t> free;
    for (const auto& [id, mib] : view.capacity_mib) free[id] = static_cast<std::int64_t>(mib);
    for (const auto& [vm, host] : view.held) {
        const auto* p = find_vm(view.vms, vm);
        if (p != nullptr && free.contains(host))
            free[host] -= static_cast<std::int64_t>(p->memory_mib);
    }
    std::vector<const VmPolicy*> order;
    for (const auto& v : view.vms) order.push_back(&v);
    std::ranges::sort(order, [](const VmPolicy* a, const VmPolicy* b) {
        return a->priority != b->priority ? a->priority > b->priority : a->name < b->name;
    });
    for (const VmPolicy* v : order) {
        const auto mem = static_cast<std::int64_t>(v->memory_mib);
        const auto why = recoverable(view, v->name);
        if (!why) {
            assignments_.erase(v->name);
            continue;
        }
        const auto decliners = view.declined.find(v->name);
        const auto declined = [&](HostId host) {
            return decliners != view.declined.end() && decliners->second.contains(host);
        };
        std::optional<HostId> declined_by;
        if (auto it = assignments_.find(v->name); it != assignments_.end()) {
            if (free.contains(it->second) && !declined(it->second)) {
                free[it->second] -= mem;
                continue;
            }
            const HostId to = it->second;
            if (declined(to)) {
                declined_by = to;
            } else if (to != view.self && view.peers.at(to) != PeerClass::kDead &&
                       !view.refusing.contains(to)) {
                // It left, or says nothing new yet: it may have read the plan and be
                // starting the VM. Its status (held, declined, refusing) or its death
                // settles that; until then the VM stays its.
                continue;
            }
            assignments_.erase(it);  // the target could not or will not start it; place again
        }
        // A start that failed after the plan let the VM go (held while it started)
        // is placed anew, and the log still says who could not start it.
        if (!declined_by && decliners != view.declined.end() && !decliners->second.empty())
            declined_by = *decliners->second.begin();
        std::optional<HostId> target;
        for (const auto& [id, room] : free) {
            if (declined(id)) continue;
            if (room >= mem && (!target || room > free[*target])) target = id;
        }
        if (!target) {
            out.alerts.push_back(
                Alert{.key = "no-capacity:" + v->name,
                      .kind = AlertKind::kNoCapacity,
                      .reason = Reason::kNoCapacity,
                      .evidence = {fact("memory_mib", std::to_string(v->memory_mib))},
                      .vm = v->name});
            continue;
        }
        free[*target] -= mem;
        assignments_[v->name] = *target;
        Decision d{.kind = DecisionKind::kAssignVm,
                   .reason = why->reason,
                   .peer = why->owner,
                   .vm = v->name,
                   .target = target};
        d.evidence = {fact("priority", std::to_string(v->priority)),
                      fact("free_mib", std::to_string(free[*target] + mem))};
        if (declined_by) d.evidence.push_back(fact("declined_by", host_name(*declined_by)));
        out.assigned.push_back(std::move(d));
    }
    return out;
}

}  // namespace vigil::core
