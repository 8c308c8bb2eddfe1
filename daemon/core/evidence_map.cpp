#include "daemon/core/evidence_map.h"

#include "daemon/core/decision.h"
#include "daemon/ports/error.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace vigil::core {
namespace {

// The kernel's own limit (IFNAMSIZ less the terminating NUL): a longer name
// can never appear in a link report.
constexpr std::size_t kMaxInterfaceName = 15;

// The states in which requests waiting on a member may never complete, or
// complete late: the engine's own notion of storage trouble. Requests in
// flight on a healthy, slow or full member complete (or fail) soon, so they
// say nothing, and counting them would flip the evidence at every poll of a
// busy device.
bool troubled(StorageHealth h) {
    switch (h) {
        case StorageHealth::kOk:
        case StorageHealth::kDegraded:
        case StorageHealth::kNoSpace:
            return false;
        case StorageHealth::kStalled:
        case StorageHealth::kFailed:
            return true;
    }
    return true;
}

// The order in which an interface keeps its role alive. Up beats idle: one
// interface that receives is enough for the role, whatever the others do.
// Idle beats down: carrier with nothing received may still be a quiet
// network, no carrier is certainly no network.
int liveness(LinkState s) {
    switch (s) {
        case LinkState::kUp:
            return 2;
        case LinkState::kIdle:
            return 1;
        case LinkState::kDown:
            return 0;
    }
    return 0;
}

std::string role_key(NetRole r) {
    switch (r) {
        case NetRole::kCluster:
            return "network.cluster_interfaces";
        case NetRole::kVmUplink:
            return "network.vm_uplink_interfaces";
        case NetRole::kStorage:
            return "network.storage_interfaces";
    }
    return "network";
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool has_space(std::string_view s) {
    return std::ranges::any_of(s, [](unsigned char c) { return std::isspace(c) != 0; });
}

std::optional<std::string> bad_block_device(std::string_view device) {
    if (device.empty()) return "an empty block device name";
    if (device.find('/') != std::string_view::npos) {
        return "block device " + quoted(device) +
               ", a path: give the kernel name as in /sys/block (sda, dm-3), which is what the "
               "kernel reports";
    }
    if (has_space(device)) return "block device " + quoted(device) + " with white space in it";
    return std::nullopt;
}

std::optional<std::string> bad_mount(std::string_view mount) {
    if (mount.empty()) return "an empty NFS mount point";
    if (mount.front() != '/') {
        return "NFS mount point " + quoted(mount) +
               ", a relative path: mountstats lists absolute mount points";
    }
    if (mount.size() > 1 && mount.back() == '/') {
        return "NFS mount point " + quoted(mount) +
               " with a trailing slash: mountstats lists mount points without one";
    }
    return std::nullopt;
}

// What the kernel accepts as a link name (dev_valid_name()).
std::optional<std::string> bad_interface(std::string_view name) {
    if (name.empty()) return "an interface has an empty name";
    if (name.size() > kMaxInterfaceName) {
        return "interface " + quoted(name) + " has a name longer than " +
               std::to_string(kMaxInterfaceName) + " characters, which no interface can have";
    }
    if (name == "." || name == ".." || name.find_first_of("/:") != std::string_view::npos ||
        has_space(name)) {
        return "interface " + quoted(name) + " has a name the kernel does not allow";
    }
    return std::nullopt;
}

// Which domain each member is in, and the refusal when it is in two.
std::optional<std::string> claim(std::map<std::string, std::size_t, std::less<>>& owner,
                                 const std::vector<StorageDomainConfig>& domains,
                                 const std::string& member, std::size_t domain,
                                 std::string_view what) {
    const auto [it, inserted] = owner.emplace(member, domain);
    if (inserted) return std::nullopt;
    if (it->second == domain) {
        return std::string(what) + " " + quoted(member) + " is listed twice in storage domain " +
               quoted(domains[domain].name);
    }
    return std::string(what) + " " + quoted(member) + " is in storage domains " +
           quoted(domains[it->second].name) + " and " + quoted(domains[domain].name) +
           ": it can only tell about one";
}

}  // namespace

std::expected<EvidenceMap, Error> EvidenceMap::make(const EvidenceMapConfig& config) {
    using std::unexpected;
    EvidenceMap map;
    std::set<std::string, std::less<>> names;
    for (std::size_t i = 0; i < config.domains.size(); ++i) {
        const StorageDomainConfig& d = config.domains[i];
        if (d.name.empty()) return unexpected("a storage domain has an empty name");
        if (!names.insert(d.name).second) {
            return unexpected("storage domain " + quoted(d.name) + " is configured twice");
        }
        if (d.block_devices.empty() && d.nfs_mounts.empty()) {
            // It could never be observed, so VMs on it would never get evidence.
            return unexpected("storage domain " + quoted(d.name) +
                              " has no block devices and no NFS mounts");
        }
        Domain domain{.name = d.name, .block_devices = {}, .nfs_mounts = {}, .last = {}};
        for (const auto& device : d.block_devices) {
            if (auto bad = bad_block_device(device)) {
                return unexpected("storage domain " + quoted(d.name) + " lists " + *bad);
            }
            if (auto two = claim(map.domain_of_block_, config.domains, device, i, "block device")) {
                return unexpected(*two);
            }
            domain.block_devices.emplace(device, std::nullopt);
        }
        for (const auto& mount : d.nfs_mounts) {
            if (auto bad = bad_mount(mount)) {
                return unexpected("storage domain " + quoted(d.name) + " lists " + *bad);
            }
            if (auto two = claim(map.domain_of_nfs_, config.domains, mount, i, "NFS mount")) {
                return unexpected(*two);
            }
            domain.nfs_mounts.emplace(mount, std::nullopt);
        }
        map.domains_.push_back(std::move(domain));
    }
    for (const auto& iface : config.interfaces) {
        if (auto bad = bad_interface(iface.name)) return unexpected(*bad);
        const auto [it, inserted] = map.role_of_.emplace(iface.name, iface.role);
        if (!inserted) {
            if (it->second == iface.role) {
                return unexpected("interface " + quoted(iface.name) + " is listed twice in " +
                                  role_key(iface.role));
            }
            return unexpected("interface " + quoted(iface.name) + " has two roles (" +
                              role_key(it->second) + " and " + role_key(iface.role) +
                              "): its state would count for both");
        }
        map.roles_[iface.role].interfaces.emplace(iface.name, std::nullopt);
    }
    return map;
}

std::optional<EvidenceMap::Slot> EvidenceMap::block_slot(std::string_view device) {
    const auto it = domain_of_block_.find(device);
    if (it == domain_of_block_.end()) return std::nullopt;
    Domain& d = domains_[it->second];
    return Slot{d, d.block_devices.find(device)->second};
}

std::optional<EvidenceMap::Slot> EvidenceMap::nfs_slot(std::string_view mount) {
    const auto it = domain_of_nfs_.find(mount);
    if (it == domain_of_nfs_.end()) return std::nullopt;
    Domain& d = domains_[it->second];
    return Slot{d, d.nfs_mounts.find(mount)->second};
}

// A domain's value: the worst of its observed members, because the engine
// decides per domain and a VM's disk may sit on any of them: a domain that
// claims ok while one member answers nothing gets VMs placed on a host that
// cannot run them. Members never observed are left out: at start a LUN may
// not be scanned yet, a mount not made yet, and that is no evidence either
// way. A domain none of whose members has been observed has no value at all:
// unknown, not ok.
std::optional<StorageEvidence> EvidenceMap::evaluate(const Domain& domain) {
    std::optional<StorageEvidence> e;
    bool all_failed_answer = true;
    for (const Members* members : {&domain.block_devices, &domain.nfs_mounts}) {
        for (const auto& [key, member] : *members) {
            if (!member) continue;
            if (!e) e = StorageEvidence{.domain = domain.name};
            if (severity(member->health) > severity(e->health)) e->health = member->health;
            e->io_in_flight = e->io_in_flight || (troubled(member->health) && member->in_flight);
            const bool serving = member->health == StorageHealth::kOk ||
                                 member->health == StorageHealth::kDegraded || member->answering;
            if (!serving) all_failed_answer = false;
        }
    }
    // A stalled or full member keeps the domain from answering: its VMs would
    // find no more than before.
    if (e) e->answering = e->health == StorageHealth::kFailed && all_failed_answer;
    return e;
}

Mapped<StorageEvidence> EvidenceMap::changed(Domain& domain) {
    Mapped<StorageEvidence> out{.mapped = true, .evidence = {}};
    auto now = evaluate(domain);
    if (!now) return out;
    if (domain.last && domain.last->health == now->health &&
        domain.last->io_in_flight == now->io_in_flight &&
        domain.last->answering == now->answering) {
        return out;
    }
    domain.last = now;
    out.evidence = std::move(now);
    return out;
}

Mapped<StorageEvidence> EvidenceMap::observe_block(std::string_view device, StorageHealth health,
                                                   bool in_flight, bool answering) {
    auto slot = block_slot(device);
    if (!slot) return {};
    slot->member = Member{.health = health,
                          .in_flight = in_flight,
                          .answering = answering && health == StorageHealth::kFailed};
    return changed(slot->domain);
}

// A member that was seen and is no longer there counts as failed, not as
// unknown. The domain cannot be reached through it any more (a LUN unmapped,
// a multipath map removed, an export unmounted), which is what "failed" means
// to the kernel too (BlockErrorClass::kGone). Unknown would also be a lie the
// engine cannot correct: it never forgets a domain, so the last value, ok
// perhaps, would stand, and VMs would be placed on a host that cannot open
// their disks. What was in flight when it went stays in flight: requests
// queued on a hard NFS mount that was lazily unmounted are still retried and
// may land, and nothing shows them any more. Erring that way costs a reboot;
// erring the other way, a stale write after the VM started elsewhere.
Mapped<StorageEvidence> EvidenceMap::block_device_gone(std::string_view device) {
    auto slot = block_slot(device);
    if (!slot) return {};
    const bool in_flight = slot->member && slot->member->in_flight;
    slot->member = Member{.health = StorageHealth::kFailed, .in_flight = in_flight};
    return changed(slot->domain);
}

Mapped<StorageEvidence> EvidenceMap::observe_nfs(std::string_view mount, NfsMountState state,
                                                 bool in_flight) {
    auto slot = nfs_slot(mount);
    if (!slot) return {};
    switch (state) {
        case NfsMountState::kOk:
            slot->member = Member{.health = StorageHealth::kOk, .in_flight = in_flight};
            break;
        case NfsMountState::kDegraded:
            slot->member = Member{.health = StorageHealth::kDegraded, .in_flight = in_flight};
            break;
        case NfsMountState::kStalled:
            slot->member = Member{.health = StorageHealth::kStalled, .in_flight = in_flight};
            break;
        case NfsMountState::kGone: {
            // As a vanished block device (block_device_gone()).
            const bool was = slot->member && slot->member->in_flight;
            slot->member = Member{.health = StorageHealth::kFailed, .in_flight = in_flight || was};
            break;
        }
    }
    return changed(slot->domain);
}

// A role's value: the best of its observed interfaces. The interfaces of one
// role are redundant ways onto the same network (the members of a bond, two
// VM uplinks), so the role is alive while any of them is, and dead only when
// all are. A role with no interface observed has no value: LinkHealth reports
// every link in its first dump, so a configured interface never reported does
// not exist here, which is a mistake in the configuration, not an outage; the
// engine then treats the role as it does an unconfigured one rather than stop
// VMs because of a typo.
Mapped<LinkEvidence> EvidenceMap::observe_link(std::string_view interface, LinkState state) {
    const auto it = role_of_.find(interface);
    if (it == role_of_.end()) return {};
    Role& role = roles_[it->second];
    role.interfaces.find(interface)->second = state;
    Mapped<LinkEvidence> out{.mapped = true, .evidence = {}};
    std::optional<LinkState> best;
    for (const auto& [name, s] : role.interfaces) {
        if (s && (!best || liveness(*s) > liveness(*best))) best = s;
    }
    if (!best || best == role.last) return out;
    role.last = best;
    out.evidence = LinkEvidence{.role = it->second, .state = *best};
    return out;
}

std::vector<Evidence> EvidenceMap::current() const {
    std::vector<const Domain*> by_name;
    by_name.reserve(domains_.size());
    for (const auto& d : domains_) by_name.push_back(&d);
    std::ranges::sort(by_name, [](const Domain* a, const Domain* b) { return a->name < b->name; });
    std::vector<Evidence> out;
    for (const Domain* d : by_name) {
        if (d->last) out.emplace_back(*d->last);
    }
    for (const auto& [role, r] : roles_) {
        if (r.last) out.emplace_back(LinkEvidence{.role = role, .state = *r.last});
    }
    return out;
}

}  // namespace vigil::core
