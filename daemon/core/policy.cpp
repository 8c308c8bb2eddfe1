#include "daemon/core/policy.h"

#include <algorithm>
#include <set>
#include "daemon/ports/error.h"

namespace vigil::core {
namespace {

std::string seconds(Duration d) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    std::string s = std::to_string(ms / 1000);
    if (ms % 1000 != 0) {
        std::string frac = std::to_string(ms % 1000);
        s += "." + std::string(3 - frac.size(), '0') + frac;
        while (s.back() == '0') s.pop_back();
    }
    return s + " s";
}

}  // namespace

std::expected<void, Error> Policy::validate() const {
    using std::unexpected;
    if (heartbeat_interval <= Duration::zero()) {
        return unexpected("heartbeat interval must be positive");
    }
    if (watchdog_timeout <= Duration::zero()) {
        return unexpected("watchdog timeout must be positive");
    }
    if (watchdog_timeout < 2 * heartbeat_interval) {
        return unexpected("watchdog timeout (" + seconds(watchdog_timeout) +
                          ") must be at least two heartbeat intervals (" +
                          seconds(2 * heartbeat_interval) +
                          ") or a single late tick resets the host");
    }
    if (membership_timeout < Duration::zero()) {
        return unexpected("membership timeout must not be negative");
    }
    if (watchdog_timeout < membership_timeout + 2 * heartbeat_interval) {
        return unexpected(
            "watchdog timeout (" + seconds(watchdog_timeout) +
            ") must be at least the membership timeout + two heartbeat intervals (" +
            seconds(membership_timeout + 2 * heartbeat_interval) +
            "): when the cluster is all that shows a host lives (a storage outage), its "
            "own status message may take the membership timeout to come back");
    }
    if (fence_delay <= watchdog_timeout) {
        return unexpected("fence delay (" + seconds(fence_delay) +
                          ") must be larger than the watchdog timeout (" +
                          seconds(watchdog_timeout) +
                          "): peers must not act before the watchdog has fired");
    }
    const Duration margin = std::max(slot_fresh_window(), membership_timeout);
    if (fence_delay < watchdog_timeout + margin) {
        return unexpected(
            "fence delay (" + seconds(fence_delay) + ") must be at least watchdog timeout + " +
            seconds(margin) + " (" + seconds(watchdog_timeout + margin) +
            "): a cut-off host may pet its watchdog that long after its last sign of life");
    }
    if (drain_parallel == 0) return unexpected("a drain must move at least one VM at a time");
    if (storage_grace < Duration::zero() || link_grace < Duration::zero()) {
        return unexpected("storage grace and link grace must not be negative");
    }
    if (start_failure_hold < heartbeat_interval) {
        return unexpected("start failure hold (" + seconds(start_failure_hold) +
                          ") must be at least one heartbeat interval (" +
                          seconds(heartbeat_interval) + ")");
    }
    if (!(storm_guard_share > 0.0 && storm_guard_share <= 1.0)) {
        return unexpected("storm guard share must be in (0, 1]");
    }
    if (hosts.empty()) {
        return unexpected("no hosts configured");
    }
    std::set<std::uint32_t> ids;
    for (const auto& h : hosts) {
        if (!ids.insert(h.id.value).second) {
            return unexpected("host id " + std::to_string(h.id.value) + " configured twice");
        }
    }
    std::set<std::string> names;
    for (const auto& v : vms) {
        if (v.name.empty()) return unexpected("a VM has an empty name");
        if (!names.insert(v.name).second) return unexpected("VM " + v.name + " configured twice");
        if (v.memory_mib == 0)
            return unexpected("VM " + v.name + " needs a memory size for placement");
    }
    return {};
}

const VmPolicy* Policy::vm(std::string_view name) const {
    const auto it = std::ranges::find(vms, name, &VmPolicy::name);
    return it == vms.end() ? nullptr : &*it;
}

const HostSpec* Policy::host(HostId id) const {
    const auto it = std::ranges::find(hosts, id, &HostSpec::id);
    return it == hosts.end() ? nullptr : &*it;
}

}  // namespace vigil::core
