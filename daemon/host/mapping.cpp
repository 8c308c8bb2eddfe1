#include "daemon/host/mapping.h"

#include <algorithm>
#include <charconv>
#include <string>
#include "daemon/ports/error.h"

namespace vigil::host {

core::VmAction to_core(adapters::VmAction action) {
    switch (action) {
        case adapters::VmAction::kStart:
            return core::VmAction::kStart;
        case adapters::VmAction::kResume:
            return core::VmAction::kResume;
        case adapters::VmAction::kStop:
            return core::VmAction::kStop;
        case adapters::VmAction::kMigrate:
            return core::VmAction::kMigrate;
    }
    return core::VmAction::kStart;
}

core::ActionEvidence to_action_evidence(const adapters::ActionResult& r) {
    core::ActionEvidence e{.vm = r.vm, .action = to_core(r.action)};
    switch (r.outcome) {
        case adapters::ActionOutcome::kDone:
        case adapters::ActionOutcome::kAlreadyDone:
            e.outcome = core::ActionOutcome::kDone;
            break;
        case adapters::ActionOutcome::kLockedElsewhere:
            e.outcome = core::ActionOutcome::kLockedElsewhere;
            e.detail = r.detail;
            break;
        case adapters::ActionOutcome::kNotFound:
            e.outcome = core::ActionOutcome::kFailed;
            e.detail = "not defined on this host" + (r.detail.empty() ? "" : ": " + r.detail);
            break;
        case adapters::ActionOutcome::kTimedOut:
            e.outcome = core::ActionOutcome::kTimedOut;
            e.detail = r.detail;
            break;
        case adapters::ActionOutcome::kFailed:
            e.outcome = core::ActionOutcome::kFailed;
            e.detail = r.detail;
            break;
    }
    return e;
}

fence::WithholdReason withhold_reason(core::Reason why) {
    switch (why) {
        case core::Reason::kSelfFencing:
        case core::Reason::kStorageLostIoInFlight:
            return fence::WithholdReason::kFenceDecided;
        case core::Reason::kQuorate:
        case core::Reason::kSlotWritesOk:
        case core::Reason::kNoQuorumNoStorage:
        case core::Reason::kMaintenance:
        case core::Reason::kStorageLostNothingInFlight:
        case core::Reason::kIsolatedUplinksDown:
        case core::Reason::kIsolatedPolicyAlwaysStop:
        case core::Reason::kIoErrorPolicyRecoverElsewhere:
        case core::Reason::kAssignedByCoordinator:
        case core::Reason::kStorageBack:
        case core::Reason::kOwnerDead:
        case core::Reason::kOwnerReleased:
        case core::Reason::kNotRunningAnywhere:
        case core::Reason::kInMembership:
        case core::Reason::kSlotAdvancing:
        case core::Reason::kReleasedInSlot:
        case core::Reason::kFenceDelayElapsed:
        case core::Reason::kSilentInsideFenceDelay:
        case core::Reason::kCannotReadSlots:
        case core::Reason::kNoStatusYet:
        case core::Reason::kFenceConfirmed:
        case core::Reason::kStormGuard:
        case core::Reason::kQuorumLost:
        case core::Reason::kGlobalStorageOutage:
        case core::Reason::kPeerIsolated:
        case core::Reason::kPeerStorageLost:
        case core::Reason::kNoCapacity:
        case core::Reason::kVmIoError:
        case core::Reason::kStateChanged:
        case core::Reason::kStartFailed:
        case core::Reason::kLockedElsewhere:
        case core::Reason::kActionTimedOut:
        case core::Reason::kStopFailed:
        case core::Reason::kResumeFailed:
        case core::Reason::kDeclinedByTarget:
        case core::Reason::kNoVmListingYet:
        case core::Reason::kLeftAndSilent:
        case core::Reason::kFenceFailed:
        case core::Reason::kUnreadableFormat:
        case core::Reason::kDrain:
        case core::Reason::kNoHostCanTake:
        case core::Reason::kStoppedDeliberately:
        case core::Reason::kMigrationFailed:
            return fence::WithholdReason::kNotSafe;
    }
    return fence::WithholdReason::kNotSafe;
}

std::expected<SlotOwners, Error> slot_owners(const std::vector<config::ClusterHost>& hosts,
                                             core::HostId self) {
    if (hosts.empty()) return std::unexpected("no [[cluster.hosts]]: no slot owners");
    std::uint32_t highest = 0;
    for (const auto& h : hosts) highest = std::max(highest, h.slot);
    if (highest >= hosts.size()) {
        return std::unexpected("heartbeat slots must be numbered 0 to " +
                               std::to_string(hosts.size() - 1) + " for " +
                               std::to_string(hosts.size()) + " hosts; slot " +
                               std::to_string(highest) + " is out of range");
    }
    SlotOwners out;
    out.owners.assign(hosts.size(), core::HostId{0});
    std::optional<std::uint32_t> own;
    for (const auto& h : hosts) {
        if (out.owners[h.slot].value != 0) {
            return std::unexpected("heartbeat slot " + std::to_string(h.slot) +
                                   " has two owners (nodeids " +
                                   std::to_string(out.owners[h.slot].value) + " and " +
                                   std::to_string(h.nodeid) + ")");
        }
        if (h.nodeid == 0) return std::unexpected("host " + h.name + " has nodeid 0");
        out.owners[h.slot] = core::HostId{h.nodeid};
        if (h.nodeid == self.value) own = h.slot;
    }
    if (!own) {
        return std::unexpected("this host (corosync nodeid " + std::to_string(self.value) +
                               ") is not in [[cluster.hosts]], so it owns no slot");
    }
    out.own_slot = *own;
    return out;
}

core::VmInventoryEvidence vm_inventory(const std::map<std::string, adapters::HaVm>& vms) {
    core::VmInventoryEvidence inv;
    for (const auto& [name, vm] : vms) {
        if (!vm.state || *vm.state == core::VmState::kShutOff) continue;
        inv.vms.push_back(core::VmEvidence{.vm = name, .state = *vm.state});
    }
    return inv;
}

core::VmPolicyEvidence vm_policies(const std::map<std::string, adapters::HaVm>& vms) {
    core::VmPolicyEvidence out;
    for (const auto& [name, vm] : vms) {
        core::VmPolicy p{.name = name,
                         .priority = static_cast<std::uint32_t>(std::max(0, vm.ha.priority)),
                         .memory_mib = vm.ha.memory_mib,
                         .io_error = vm.ha.io_error,
                         .storage_domain = vm.ha.storage_domain};
        out.vms.push_back(std::move(p));
    }
    return out;
}

core::VmEvidence io_error_evidence(const adapters::IoErrorEvent& event) {
    return core::VmEvidence{.vm = event.vm, .state = core::VmState::kPausedIoError};
}

std::uint64_t next_incarnation(std::optional<std::uint64_t> previous,
                               std::chrono::system_clock::time_point wall) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(wall.time_since_epoch());
    const std::uint64_t from_clock = us.count() > 0 ? static_cast<std::uint64_t>(us.count()) : 1;
    if (!previous) return from_clock;
    return std::max(from_clock, *previous + 1);
}

std::string format_pet_record(const PetRecord& record) {
    return "armed last_pet_boottime_ns=" + std::to_string(record.last_pet_boottime.count()) + "\n";
}

std::expected<PetRecord, Error> parse_pet_record(std::string_view text) {
    constexpr std::string_view kPrefix = "armed last_pet_boottime_ns=";
    if (!text.starts_with(kPrefix)) return std::unexpected("not a pet record");
    text.remove_prefix(kPrefix.size());
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
    std::int64_t ns = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ns);
    if (ec != std::errc{} || end != text.data() + text.size() || ns < 0) {
        return std::unexpected("bad time in the pet record");
    }
    return PetRecord{.last_pet_boottime = std::chrono::nanoseconds(ns)};
}

ReopenVerdict reopen_verdict(const std::optional<PetRecord>& record,
                             std::chrono::nanoseconds now_boottime,
                             std::chrono::nanoseconds watchdog_timeout) {
    if (!record) return {OpenWhen::kAtStart, "no armed watchdog left by an earlier run"};
    const auto since = now_boottime - record->last_pet_boottime;
    if (since < std::chrono::nanoseconds(0)) {
        // A pet in the future of this boot's clock: the file is from another boot
        // (CLOCK_BOOTTIME starts again), whose watchdog has long been reset.
        return {OpenWhen::kAtStart, "the pet record is from an earlier boot"};
    }
    const auto secs = [](std::chrono::nanoseconds d) { return core::format_seconds(d); };
    const auto left = watchdog_timeout - since;
    return {OpenWhen::kAtFirstAllowedPet,
            "the watchdog was left armed by an earlier run and last petted " + secs(since) +
                " s ago" +
                (left > std::chrono::nanoseconds(0) ? " (it fires within " + secs(left) + " s)"
                                                    : std::string(" (it should have fired)")) +
                ": it is opened at the first pet this run's own proof allows"};
}

exporters::ClusterMetrics cluster_metrics(const ClusterView& view) {
    const auto& e = view.engine;
    exporters::ClusterMetrics m{.quorate = e.quorate, .members = view.members};
    for (const auto c : core::kAllPeerClasses) m.peer_classes.emplace_back(core::name(c));
    m.vm_states.emplace_back("absent");
    for (const auto s : core::kAllVmStates) m.vm_states.emplace_back(core::name(s));
    for (const auto& p : e.peers) {
        std::optional<core::TimePoint> last = p.last_message;
        if (p.last_slot_advance && (!last || *p.last_slot_advance > *last)) {
            last = p.last_slot_advance;
        }
        const auto named = view.names.find(p.id.value);
        m.peers.push_back(exporters::PeerMetrics{
            .peer = named != view.names.end() && !named->second.empty() ? named->second
                                                                        : core::host_name(p.id),
            .cls = std::string(core::name(p.cls)),
            .last_sign_of_life_age_seconds =
                std::chrono::duration<double>(view.now - last.value_or(view.started)).count(),
            .in_membership = p.in_membership});
    }
    for (const auto& v : e.vms) {
        m.vms.push_back(exporters::VmMetrics{
            .vm = v.name,
            .state = v.here ? std::string(core::name(*v.here)) : std::string("absent"),
            .running_here = v.here && *v.here != core::VmState::kShutOff});
    }
    for (const auto a : core::kAllAlertKinds) {
        const auto it = e.alerts_active.find(a);
        m.alerts_active.emplace_back(std::string(core::name(a)),
                                     it != e.alerts_active.end() ? it->second : 0);
    }
    return m;
}

exporters::WatchdogMetrics watchdog_metrics(const fence::WatchdogStatus& st) {
    exporters::WatchdogMetrics m;
    m.armed = st.armed;
    m.timeout_seconds = static_cast<double>(st.timeout.count());
    m.since_last_pet_seconds =
        st.since_last_pet ? std::chrono::duration<double>(*st.since_last_pet).count() : 0;
    m.time_left_seconds =
        st.time_left ? std::chrono::duration<double>(st.time_left->value).count() : 0;
    m.pets = st.pets;
    for (const auto reason : fence::kWithholdReasons) {
        m.withheld.emplace_back(fence::name(reason), st.withheld[fence::to_index(reason)]);
    }
    return m;
}

}  // namespace vigil::host
