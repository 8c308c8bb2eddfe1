// The shape of one lab run: names of namespaces, links and bridges, the
// addresses on each network, where files live, and the configuration files
// each host's daemons read. Pure: nothing here touches the system, so it is
// unit-tested.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/lab/sys.h"

namespace vigil::lab {

// The three networks a host has; cutting them one at a time is what tells
// "cluster network cut" (F3) from "every network cut" (F4).
enum class Net : std::uint8_t { kCluster, kVm, kStorage };
inline constexpr std::array kNets{Net::kCluster, Net::kVm, Net::kStorage};

[[nodiscard]] std::string_view net_name(Net net);
[[nodiscard]] std::optional<Net> parse_net(std::string_view name);

// Inside every host's mount namespace the lab's files sit at the same paths,
// so a domain defined on one host can start on any other.
inline constexpr std::string_view kInHostDir = "/run/vigil-lab";
inline constexpr std::string_view kInHostShared = "/run/vigil-lab/shared";
inline constexpr std::string_view kInHostLockspace = "/run/vigil-lab/lockspace";
inline constexpr std::string_view kInHostIdentity = "/run/vigil-lab/identity.img";
// The emulated watchdog device is kInHostWatchdogDir/watchdog.
inline constexpr std::string_view kInHostWatchdogDir = "/run/vigil-lab/watchdog";
inline constexpr std::string_view kInHostVigilConfig = "/etc/vigil/vigil.toml";

// Block devices of the shared storage: in every host a loop device (direct
// I/O) over a file of the shared directory as that host's storage view
// shows it, named by a device node here, at the same path on every host, so
// libvirt's disk path (and with it virtlockd's lease) is one per disk.
inline constexpr std::string_view kInHostDisks = "/run/vigil-lab/disks";
// The run's storage heartbeat area, one of those block devices.
inline constexpr std::string_view kInHostHeartbeat = "/run/vigil-lab/disks/heartbeat";
// The storage domain the lab's block devices make up, the metadata's default.
inline constexpr std::string_view kStorageDomain = "shared";

inline constexpr int kMaxHosts = 9;
inline constexpr int kMaxVms = 32;
// corosync's runtime token with token_coefficient 0 is the token itself, and
// consensus defaults to 1.2 token: a membership timeout of 1.1 s, within the
// 2 s that a 5 s watchdog and a 7 s fence delay leave (SPEC timing rules).
inline constexpr int kCorosyncTokenMs = 500;
// The spec's default timings, which the lab's vigild runs with.
inline constexpr int kHeartbeatIntervalMs = 1000;
inline constexpr int kFenceDelayMs = 7000;
inline constexpr int kWatchdogTimeoutS = 5;
// How long a guest has to shut down before vigild destroys it (libvirt
// stop_grace_ms; 20 s by default). The lab's guest is a boot sector that
// never answers the ACPI power button, so every stop takes the whole grace;
// at 20 s no F4 failover (a stop, then the restart elsewhere) could meet the
// spec's ~10 s. 2 s, as in the simulator, is a guest that shuts down quickly.
inline constexpr int kStopGraceMs = 2000;
// vigild's storage defaults, which the lab's vigild runs with too
// (daemon/config/config.h): requests without progress for the stall time
// make a device stalled; an I/O error (or ENOSPC) counts for the error
// window; better evidence must hold for the recovery hold; storage trouble
// lasting the grace is storage lost.
inline constexpr int kStorageStallMs = 5000;
inline constexpr int kStorageErrorWindowMs = 2000;
inline constexpr int kStorageRecoveryHoldMs = 1000;
inline constexpr int kStorageGraceMs = 5000;
// vigild's link and probe defaults, which the lab's vigild runs with too
// (daemon/config/config.h, core/link_health.h, core/policy.h): a link
// unusable for the down hold is down, usable and receiving for the up hold
// up again; a VM uplink not up for the link grace while quorum is lost is
// dead (the isolation response); the watchers look every probe poll.
inline constexpr int kLinkDownHoldMs = 1000;
inline constexpr int kLinkUpHoldMs = 2000;
inline constexpr int kLinkGraceMs = 2000;
inline constexpr int kProbePollMs = 250;
// A live migration's time limit in the lab (libvirt migrate_timeout_ms):
// a 32 MiB guest moves within a second or two at full speed; one held to
// 1 MiB/s (`virsh migrate-setspeed`) needs over 30 s and is aborted.
inline constexpr int kMigrateTimeoutMs = 10000;
// What each lab host offers its guests, for vigild's placement.
inline constexpr int kHostMemoryMib = 512;

// Monitoring (docs/lab.md): every host's vigild serves /metrics and the
// Alertmanager webhook on its cluster address, so that a Prometheus and an
// Alertmanager in a namespace of their own on the cluster network reach
// them; the webhook's token is one per run, in every host.
inline constexpr int kMetricsPort = 9774;
inline constexpr int kWebhookPort = 9775;
inline constexpr std::string_view kInHostWebhookToken = "/etc/vigil/webhook.token";
// The lab's webhook rules: this alert, naming a host in its `host` label,
// puts that host into maintenance while it fires;
inline constexpr std::string_view kMaintenanceAlert = "VigilLabPlannedWork";
// this one drains it (its HA VMs go to other hosts, then it stays cordoned),
// and uncordons it when it resolves.
inline constexpr std::string_view kDrainAlert = "VigilLabDrain";
// The recording hook (hooks.d/record) keeps each hook run's VIGIL_*
// environment (NAME.env) and its JSON (NAME.json) here, NAME being
// "<ns since the epoch>-<event id>-<event>".
inline constexpr std::string_view kInHostHooksDir = "/etc/vigil/hooks.d";
inline constexpr std::string_view kInHostHookRecords = "/var/lib/vigil/hook-records";
// The address on the cluster network the lab leaves free for a monitoring
// namespace (hosts are 1-kMaxHosts).
inline constexpr int kMonitorHostOctet = 250;

class Layout {
  public:
    [[nodiscard]] static Result<Layout> make(std::filesystem::path root, std::string run_id,
                                             int hosts, int vms);

    [[nodiscard]] const std::filesystem::path& root() const { return root_; }
    [[nodiscard]] const std::string& run_id() const { return run_id_; }
    [[nodiscard]] int hosts() const { return hosts_; }
    [[nodiscard]] int vms() const { return vms_; }

    // Hosts are numbered from 1: h1, h2, ...
    [[nodiscard]] std::string host_name(int host) const;
    [[nodiscard]] std::optional<int> host_index(std::string_view name) const;
    [[nodiscard]] std::string host_netns(int host) const;
    [[nodiscard]] std::string switch_netns() const;
    [[nodiscard]] std::string address(Net net, int host) const;
    // The broadcast address of `net`, where the lab's traffic goes.
    [[nodiscard]] static std::string broadcast(Net net);
    [[nodiscard]] static std::string host_ifname(Net net);
    [[nodiscard]] static std::string switch_ifname(Net net, int host);
    [[nodiscard]] static std::string bridge(Net net, int group = 1);

    [[nodiscard]] std::filesystem::path run_dir() const;
    [[nodiscard]] std::filesystem::path host_dir(int host) const;
    [[nodiscard]] std::filesystem::path shared_dir() const;
    [[nodiscard]] std::filesystem::path events_file() const;

    // VMs are numbered from 1: vm1, vm2, ...; vm v starts on its home host.
    [[nodiscard]] std::string vm_name(int vm) const;
    [[nodiscard]] std::optional<int> vm_index(std::string_view name) const;
    [[nodiscard]] int vm_home(int vm) const;
    // The disk's backing file on the shared directory; its name carries the
    // run id, which is how `down` tells this run's loop devices from any
    // other's (/sys/block/loopN/loop/backing_file).
    [[nodiscard]] std::filesystem::path vm_image(int vm) const;
    // The disk as libvirt names it: a block device node in kInHostDisks.
    [[nodiscard]] std::string vm_disk_in_host(int vm) const;
    [[nodiscard]] std::filesystem::path heartbeat_image() const;
    // One block device of the shared storage: the node's name in
    // kInHostDisks and the backing file as a host's storage view shows it.
    struct Disk {
        std::string name;
        std::string backing_in_host;
    };
    // Every VM disk, then the heartbeat area.
    [[nodiscard]] std::vector<Disk> disks() const;
    // Whether a loop device's backing file (as /sys shows it) is one of the
    // disks of run `run_id`.
    [[nodiscard]] static bool backing_of_run(std::string_view backing_file,
                                             std::string_view run_id);
    [[nodiscard]] std::string vm_xml_in_host(int vm) const;

    [[nodiscard]] std::string corosync_conf(int host) const;
    // vigild's configuration on `host`: cluster mode at the spec's default
    // timings, the emulated watchdog, the run's heartbeat area, and when the
    // host's loop devices are known (kernel names, `loop7`), the storage
    // domain they make up.
    [[nodiscard]] std::string vigil_toml(int host,
                                         const std::vector<std::string>& block_devices = {}) const;
    // The recording hook every host runs (kInHostHookRecords).
    [[nodiscard]] static std::string record_hook();
    [[nodiscard]] std::string domain_xml(int vm) const;
    // libvirt on `host`: its QEMU driver takes incoming migrations on the
    // host's cluster address, and libvirtd listens there for its peers'
    // (a peer-to-peer live migration, qemu+tcp, no authentication: the
    // lab's networks are closed namespaces), with a host UUID of its own
    // (libvirt refuses a migration between hosts of one UUID, and every
    // namespace sees the machine's).
    [[nodiscard]] std::string qemu_conf(int host) const;
    [[nodiscard]] static std::string qemu_lockd_conf();
    [[nodiscard]] std::string libvirtd_conf(int host) const;
    // The libvirt URI the other hosts migrate to `host` by.
    [[nodiscard]] std::string migration_uri(int host) const;

    // `vigil-lab up --drain-migrate`: vigild drains by live migration
    // (cluster.drain_migrate), each migration given kMigrateTimeoutMs.
    [[nodiscard]] bool drain_migrate() const { return drain_migrate_; }
    void set_drain_migrate(bool on) { drain_migrate_ = on; }

  private:
    Layout(std::filesystem::path root, std::string run_id, int hosts, int vms)
        : root_(std::move(root)), run_id_(std::move(run_id)), hosts_(hosts), vms_(vms) {}

    std::filesystem::path root_;
    std::string run_id_;
    int hosts_;
    int vms_;
    bool drain_migrate_ = false;
};

}  // namespace vigil::lab
