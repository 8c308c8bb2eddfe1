#pragma once

// From what the daemon observes (block devices, NFS mounts, interfaces, each
// with its own state from StorageMonitor, NfsHealth and LinkHealth) to what
// the engine reasons about (storage domains and network roles). Pure: the
// configuration says which device, mount or interface belongs where; each
// observation updates one member and returns the evidence of its domain or
// role only when that value changes, so the daemon can feed every poll
// without flooding the engine.

#include <cstddef>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/evidence.h"
#include "daemon/core/nfs_health.h"
#include "daemon/ports/error.h"

namespace vigil::core {

// One storage domain: the name VMs refer to in their policy
// (`VmPolicy::storage_domain`) and what this host reaches it through.
struct StorageDomainConfig {
    // From the table name in `[storage.domains.<name>]`.
    std::string name;
    // From `storage.domains.<name>.block_devices`: kernel names as in
    // /sys/block (`sda`, `dm-3`, `loop7`), not paths. A domain is as bad as
    // its worst member, so list the devices VMs do I/O through (the multipath
    // map `dm-3`), not the paths under them: one lost path of several is no
    // trouble of the domain.
    std::vector<std::string> block_devices;
    // From `storage.domains.<name>.nfs_mounts`: mount points as mountstats
    // lists them (`/var/lib/vigil/nfs/images`), absolute, no trailing slash.
    std::vector<std::string> nfs_mounts;
};

struct InterfaceConfig {
    // From one of the lists `network.cluster_interfaces`,
    // `network.vm_uplink_interfaces`, `network.storage_interfaces`: an
    // interface name as the kernel knows it (`bond0`, `eth1`, `vmbr0`).
    std::string name;
    // Which of those three lists it is in.
    NetRole role = NetRole::kCluster;
};

struct EvidenceMapConfig {
    std::vector<StorageDomainConfig> domains;  // `[storage.domains.*]`
    std::vector<InterfaceConfig> interfaces;   // `[network]`
};

// What an observation did. `mapped` is false for a device, mount or interface
// the configuration does not name: it is ignored, and the daemon may count it.
// `evidence` is set only when the value of its domain or role changed.
template <typename E>
struct Mapped {
    bool mapped = false;
    std::optional<E> evidence;
};

class EvidenceMap {
  public:
    // Refuses a configuration in which a member would have two meanings or a
    // name none: a device or mount in two domains (or twice in one), an
    // interface with two roles (or listed twice), a domain with no members,
    // two domains of one name, an empty name; also names that can never
    // match what the kernel reports (a device path instead of its kernel
    // name, a relative mount point, an interface name longer than the
    // kernel allows).
    [[nodiscard]] static std::expected<EvidenceMap, Error> make(const EvidenceMapConfig& config);

    // A block device's state from its StorageMonitor, whether requests are
    // in flight on it (the sample's in_flight > 0) and whether, failed, it
    // answers probes again (StorageMonitor::answering), at every poll.
    [[nodiscard]] Mapped<StorageEvidence> observe_block(std::string_view device,
                                                        StorageHealth health, bool in_flight,
                                                        bool answering = false);
    // The block device is no longer in /sys/block. Its domain cannot be
    // reached through it, so it counts as failed, and what it had in flight
    // stays in flight, since nothing shows it any more (see evidence_map.cpp).
    [[nodiscard]] Mapped<StorageEvidence> block_device_gone(std::string_view device);
    // An NFS mount's state from NfsHealth, and whether it has requests sent
    // and unanswered (NfsMountView::unanswered > 0), at every poll. A gone
    // mount counts as a vanished block device does; a mount NfsHealth has
    // forgotten needs no call.
    [[nodiscard]] Mapped<StorageEvidence> observe_nfs(std::string_view mount, NfsMountState state,
                                                      bool in_flight);
    // An interface's state from LinkHealth, at each of its transitions. The
    // interface is known by the name the transition carries.
    [[nodiscard]] Mapped<LinkEvidence> observe_link(std::string_view interface, LinkState state);

    // The evidence of every domain and role with at least one member observed,
    // domains by name, then roles: what a freshly started engine needs.
    [[nodiscard]] std::vector<Evidence> current() const;

  private:
    struct Member {
        StorageHealth health = StorageHealth::kOk;
        bool in_flight = false;
        bool answering = false;
    };
    using Members = std::map<std::string, std::optional<Member>, std::less<>>;  // empty: unseen
    struct Domain {
        std::string name;
        Members block_devices;
        Members nfs_mounts;
        std::optional<StorageEvidence> last;  // the value last returned
    };
    struct Role {
        std::map<std::string, std::optional<LinkState>, std::less<>> interfaces;
        std::optional<LinkState> last;
    };
    struct Slot {
        Domain& domain;
        std::optional<Member>& member;
    };

    EvidenceMap() = default;
    [[nodiscard]] std::optional<Slot> block_slot(std::string_view device);
    [[nodiscard]] std::optional<Slot> nfs_slot(std::string_view mount);
    [[nodiscard]] static std::optional<StorageEvidence> evaluate(const Domain& domain);
    [[nodiscard]] static Mapped<StorageEvidence> changed(Domain& domain);

    std::vector<Domain> domains_;
    std::map<std::string, std::size_t, std::less<>> domain_of_block_;  // device -> domains_ index
    std::map<std::string, std::size_t, std::less<>> domain_of_nfs_;    // mount -> domains_ index
    std::map<NetRole, Role> roles_;
    std::map<std::string, NetRole, std::less<>> role_of_;  // interface -> role
};

}  // namespace vigil::core
