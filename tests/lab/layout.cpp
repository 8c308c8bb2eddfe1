#include "tests/lab/layout.h"

#include <cctype>
#include <cstdio>
#include <functional>

namespace vigil::lab {

std::string_view net_name(Net net) {
    switch (net) {
        case Net::kCluster:
            return "cluster";
        case Net::kVm:
            return "vm";
        case Net::kStorage:
            return "storage";
    }
    return "?";
}

std::optional<Net> parse_net(std::string_view name) {
    for (Net n : kNets)
        if (net_name(n) == name) return n;
    return std::nullopt;
}

namespace {
int net_octet(Net net) {
    switch (net) {
        case Net::kCluster:
            return 1;
        case Net::kVm:
            return 2;
        case Net::kStorage:
            return 3;
    }
    return 0;
}

std::string_view net_short(Net net) {
    switch (net) {
        case Net::kCluster:
            return "cl";
        case Net::kVm:
            return "vm";
        case Net::kStorage:
            return "st";
    }
    return "?";
}

bool valid_run_id(std::string_view id) {
    if (id.empty() || id.size() > 12) return false;
    for (char c : id)
        if (!std::isalnum(static_cast<unsigned char>(c))) return false;
    return true;
}

std::optional<int> numbered(std::string_view name, std::string_view prefix, int max) {
    if (!name.starts_with(prefix) || name.size() == prefix.size()) return std::nullopt;
    int v = 0;
    for (char c : name.substr(prefix.size())) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
        v = v * 10 + (c - '0');
        if (v > max) return std::nullopt;
    }
    if (v < 1) return std::nullopt;
    return v;
}
}  // namespace

Result<Layout> Layout::make(std::filesystem::path root, std::string run_id, int hosts, int vms) {
    if (!root.is_absolute()) return fail("lab root must be an absolute path: " + root.string());
    if (!valid_run_id(run_id)) return fail("run id must be 1-12 letters or digits: " + run_id);
    if (hosts < 1 || hosts > kMaxHosts)
        return fail("--hosts must be between 1 and " + std::to_string(kMaxHosts));
    if (vms < 0 || vms > kMaxVms)
        return fail("--vms must be between 0 and " + std::to_string(kMaxVms));
    return Layout(std::move(root), std::move(run_id), hosts, vms);
}

std::string Layout::host_name(int host) const { return "h" + std::to_string(host); }

std::optional<int> Layout::host_index(std::string_view name) const {
    return numbered(name, "h", hosts_);
}

std::string Layout::host_netns(int host) const { return "vl-" + run_id_ + "-" + host_name(host); }
std::string Layout::switch_netns() const { return "vl-" + run_id_ + "-sw"; }

std::string Layout::address(Net net, int host) const {
    return "10.201." + std::to_string(net_octet(net)) + "." + std::to_string(host);
}

std::string Layout::broadcast(Net net) {
    return "10.201." + std::to_string(net_octet(net)) + ".255";
}

std::string Layout::host_ifname(Net net) { return std::string(net_short(net)) + "0"; }

std::string Layout::switch_ifname(Net net, int host) {
    return "h" + std::to_string(host) + "-" + std::string(net_short(net));
}

std::string Layout::bridge(Net net, int group) {
    auto base = "br-" + std::string(net_short(net));
    return group == 1 ? base : base + "-p" + std::to_string(group);
}

std::filesystem::path Layout::run_dir() const { return root_ / ("run-" + run_id_); }
std::filesystem::path Layout::host_dir(int host) const { return run_dir() / host_name(host); }
std::filesystem::path Layout::shared_dir() const { return run_dir() / "shared"; }
std::filesystem::path Layout::events_file() const { return run_dir() / "events.jsonl"; }

std::string Layout::vm_name(int vm) const { return "vm" + std::to_string(vm); }
std::optional<int> Layout::vm_index(std::string_view name) const {
    return numbered(name, "vm", vms_);
}
int Layout::vm_home(int vm) const { return (vm - 1) % hosts_ + 1; }
std::filesystem::path Layout::vm_image(int vm) const {
    return shared_dir() / (run_id_ + "-" + vm_name(vm) + ".img");
}
std::string Layout::vm_disk_in_host(int vm) const {
    return std::string(kInHostDisks) + "/" + vm_name(vm);
}
std::filesystem::path Layout::heartbeat_image() const {
    return shared_dir() / (run_id_ + "-heartbeat.img");
}
std::vector<Layout::Disk> Layout::disks() const {
    std::vector<Disk> out;
    auto in_host = [](const std::filesystem::path& p) {
        return std::string(kInHostShared) + "/" + p.filename().string();
    };
    for (int v = 1; v <= vms_; ++v) out.push_back({vm_name(v), in_host(vm_image(v))});
    out.push_back({"heartbeat", in_host(heartbeat_image())});
    return out;
}
bool Layout::backing_of_run(std::string_view backing_file, std::string_view run_id) {
    // "/run/vigil-lab/shared/RUN-vm1.img", perhaps with " (deleted)" after it.
    auto slash = backing_file.rfind('/');
    auto name = slash == std::string_view::npos ? backing_file : backing_file.substr(slash + 1);
    return !run_id.empty() && name.size() > run_id.size() && name.starts_with(run_id) &&
           name[run_id.size()] == '-';
}
std::string Layout::vm_xml_in_host(int vm) const {
    return std::string(kInHostShared) + "/domains/" + vm_name(vm) + ".xml";
}

std::string Layout::corosync_conf(int host) const {
    std::string s;
    s += "# vigil lab host " + host_name(host) + ", run " + run_id_ + "\n";
    s += "totem {\n  version: 2\n  cluster_name: vigil-lab-" + run_id_ + "\n";
    s += "  transport: knet\n  token: " + std::to_string(kCorosyncTokenMs) + "\n";
    // No growth of the token with the node count: the runtime token is the
    // token, so the membership timeout stays what the timing rules allow.
    s += "  token_coefficient: 0\n";
    // Cluster messages steer restarts: authenticated and encrypted, with a
    // key made per run (/etc/corosync/authkey in each host).
    s += "  crypto_cipher: aes256\n  crypto_hash: sha256\n}\n";
    s += "nodelist {\n";
    for (int h = 1; h <= hosts_; ++h) {
        s += "  node {\n    name: " + host_name(h) + "\n    nodeid: " + std::to_string(h) +
             "\n    ring0_addr: " + address(Net::kCluster, h) + "\n  }\n";
    }
    s += "}\nquorum {\n  provider: corosync_votequorum\n";
    // Two hosts cannot form a majority once one fails; corosync's two_node
    // mode is what a two-host cluster would run until a tie-breaker exists.
    if (hosts_ == 2) s += "  two_node: 1\n";
    s += "}\nlogging {\n  to_stderr: yes\n  to_logfile: no\n  to_syslog: no\n  timestamp: on\n}\n";
    return s;
}

std::string Layout::vigil_toml(int host, const std::vector<std::string>& block_devices) const {
    auto q = [](const std::string& v) { return "\"" + v + "\""; };
    std::string s;
    s += "# vigild on lab host " + host_name(host) + ", run " + run_id_ + " (made by vigil-lab)\n";
    s += "[cluster]\nenabled = true\n";
    s += "heartbeat_interval_ms = " + std::to_string(kHeartbeatIntervalMs) + "\n";
    s += "fence_delay_ms = " + std::to_string(kFenceDelayMs) + "\n";
    if (drain_migrate_) s += "drain_migrate = true\n";
    for (int h = 1; h <= hosts_; ++h) {
        s += "[[cluster.hosts]]\n";
        s += "name = " + q(host_name(h)) + "\nnodeid = " + std::to_string(h) +
             "\nslot = " + std::to_string(h - 1) +
             "\nmemory_mib = " + std::to_string(kHostMemoryMib) +
             "\nmigration_uri = " + q(migration_uri(h)) + "\n";
    }
    s += "[heartbeat]\narea = " + q(std::string(kInHostHeartbeat)) + "\n";
    // The loop devices of this host stand for the shared storage: every
    // guest disk and the heartbeat area (a domain needs at least one member,
    // so none until the host has them).
    if (!block_devices.empty()) {
        s += "[storage.domains." + std::string(kStorageDomain) + "]\nblock_devices = [";
        for (size_t i = 0; i < block_devices.size(); ++i)
            s += (i ? ", " : "") + q(block_devices[i]);
        s += "]\nnfs_mounts = []\n";
    }
    s += "[network]\n";
    s += "cluster_interfaces = [" + q(host_ifname(Net::kCluster)) + "]\n";
    s += "vm_uplink_interfaces = [" + q(host_ifname(Net::kVm)) + "]\n";
    s += "storage_interfaces = [" + q(host_ifname(Net::kStorage)) + "]\n";
    s += "[watchdog]\nenabled = true\n";
    s += "device = " + q(std::string(kInHostWatchdogDir) + "/watchdog") + "\n";
    s += "timeout_s = " + std::to_string(kWatchdogTimeoutS) + "\n";
    s += "[libvirt]\nstop_grace_ms = " + std::to_string(kStopGraceMs) + "\n";
    s += "migrate_timeout_ms = " + std::to_string(kMigrateTimeoutMs) + "\n";
    s += "[fence]\nflight_record = \"/var/lib/vigil/flight-record\"\n";
    s += "[control]\nsocket = \"/run/vigil/vigild.sock\"\n";
    // On the cluster network, where a monitoring namespace scrapes and
    // alerts (kMonitorHostOctet); the same ports on every host.
    const auto on_cluster = [&](int port) {
        return q(address(Net::kCluster, host) + ":" + std::to_string(port));
    };
    s += "[metrics]\nlisten = " + on_cluster(kMetricsPort) + "\n";
    s += "[hooks]\ndir = " + q(std::string(kInHostHooksDir)) + "\n";
    s += "[webhook]\nenabled = true\nlisten = " + on_cluster(kWebhookPort) + "\n";
    s += "token_file = " + q(std::string(kInHostWebhookToken)) + "\n";
    s += "[[webhook.rule]]\nalert = " + q(std::string(kMaintenanceAlert)) + "\n";
    s += "action = \"maintenance-on\"\nresolved_action = \"maintenance-off\"\n";
    s += "[[webhook.rule]]\nalert = " + q(std::string(kDrainAlert)) + "\n";
    s += "action = \"drain\"\nresolved_action = \"uncordon\"\n";
    return s;
}

std::string Layout::record_hook() {
    // Written to a temporary name and renamed, so a reader never sees half.
    return "#!/bin/sh\n"
           "# vigil-lab: keeps each hook event for the lab's tests.\n"
           "set -e\n"
           "d=" +
           std::string(kInHostHookRecords) +
           "\n"
           "mkdir -p \"$d\"\n"
           "f=\"$d/$(date +%s%N)-$VIGIL_EVENT_ID-$VIGIL_EVENT\"\n"
           "env | grep '^VIGIL_' | sort > \"$f.env.tmp\"\n"
           "cat > \"$f.json.tmp\"\n"
           "mv \"$f.env.tmp\" \"$f.env\"\n"
           "mv \"$f.json.tmp\" \"$f.json\"\n";
}

std::string Layout::domain_xml(int vm) const {
    // TCG because /dev/kvm is not usable here; 32 MiB and no devices beyond
    // the two disks keep six guests affordable on two cores. The disk is the
    // host's loop device over the shared storage as this host's view shows
    // it, with qemu told to stop the guest on any I/O error rather than
    // report it to the guest.
    std::string s;
    s += "<domain type='qemu'>\n";
    s += "  <name>" + vm_name(vm) + "</name>\n";
    // A fixed uuid per run and VM: defining the same XML again (on any
    // host) updates the definition instead of clashing with a new uuid.
    char uuid[40];
    std::snprintf(
        uuid, sizeof uuid, "5a1ab000-0000-4000-8000-%012llx",
        static_cast<unsigned long long>((std::hash<std::string>{}(run_id_)&0xffffffffffULL) << 8 |
                                        static_cast<unsigned>(vm)));
    s += "  <uuid>" + std::string(uuid) + "</uuid>\n";
    s += "  <memory unit='MiB'>32</memory>\n  <vcpu>1</vcpu>\n";
    // An HA VM for vigil (docs/vm-metadata.md); lower numbers restart last.
    s += "  <metadata>\n    <vigil:ha xmlns:vigil='urn:vigil:ha:1' priority='" +
         std::to_string(vms_ - vm + 1) + "' io_error='auto-resume' storage_domain='" +
         std::string(kStorageDomain) + "'/>\n  </metadata>\n";
    s += "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n";
    s += "  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot>"
         "<on_crash>destroy</on_crash>\n";
    s += "  <devices>\n";
    s += "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n";
    s += "    <disk type='block' device='disk'>\n";
    s += "      <driver name='qemu' type='raw' cache='none' error_policy='stop' "
         "rerror_policy='stop'/>\n";
    s += "      <source dev='" + vm_disk_in_host(vm) + "'/>\n";
    s += "      <target dev='vda' bus='virtio'/>\n      <boot order='1'/>\n    </disk>\n";
    // The identity disk is host-local (same path on every host, different
    // content): the guest stamps its writes with the host it runs on.
    s += "    <disk type='file' device='disk'>\n";
    s += "      <driver name='qemu' type='raw'/>\n";
    s += "      <source file='" + std::string(kInHostIdentity) + "'/>\n";
    s += "      <target dev='vdb' bus='virtio'/>\n      <boot order='2'/>\n      <readonly/>\n";
    s += "    </disk>\n";
    s += "    <controller type='usb' model='none'/>\n";
    s += "    <video><model type='none'/></video>\n";
    s += "    <memballoon model='none'/>\n";
    s += "  </devices>\n</domain>\n";
    return s;
}

std::string Layout::qemu_conf(int host) const {
    const auto at = address(Net::kCluster, host);
    return "user = \"root\"\n"
           "group = \"root\"\n"
           "security_driver = \"none\"\n"
           "lock_manager = \"lockd\"\n"
           // An incoming qemu listens here and the source is told this
           // address, not the machine's hostname (every namespace's).
           "migration_address = \"" +
           at + "\"\nmigration_host = \"" + at + "\"\n";
}

std::string Layout::qemu_lockd_conf() {
    // Leases live in one directory of the shared storage, named after the
    // disk path, so a second start of a VM on any host is refused.
    return "auto_disk_leases = 1\n"
           "require_lease_for_disks = 1\n"
           "file_lockspace_dir = \"" +
           std::string(kInHostLockspace) + "\"\n";
}

std::string Layout::libvirtd_conf(int host) const {
    char uuid[40];
    std::snprintf(
        uuid, sizeof uuid, "5a1ab0b0-0000-4000-8000-%012llx",
        static_cast<unsigned long long>((std::hash<std::string>{}(run_id_)&0xffffffffffULL) << 8 |
                                        static_cast<unsigned>(host)));
    return "log_outputs = \"3:stderr\"\n"
           "host_uuid = \"" +
           std::string(uuid) +
           "\"\n"
           // Taken with libvirtd --listen.
           "listen_tls = 0\nlisten_tcp = 1\nauth_tcp = \"none\"\n"
           "listen_addr = \"" +
           address(Net::kCluster, host) + "\"\n";
}

std::string Layout::migration_uri(int host) const {
    return "qemu+tcp://" + address(Net::kCluster, host) + "/system";
}

}  // namespace vigil::lab
