// vigild's configuration: one TOML file, every key documented in
// packaging/vigil.toml. Unknown keys and bad values are refused with the file,
// line and reason; no file at all means the safe standalone mode.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/core/evidence_map.h"
#include "daemon/core/policy.h"
#include "daemon/ports/error.h"

namespace vigil::config {

enum class LogLevel : std::uint8_t { kDebug, kInfo, kWarning, kError };

struct Endpoint {
    std::string host;
    std::uint16_t port = 0;
};

// One row of the webhook's rule table: an alert named `alert` whose labels
// include `labels` asks for `action` (drain, cordon, uncordon, maintenance-on,
// maintenance-off) on `host`, or on the host its `host_label` label names;
// `resolved_action` (empty: none) follows when it resolves.
struct WebhookRule {
    std::string alert;
    std::vector<std::pair<std::string, std::string>> labels;
    std::string action;
    std::string resolved_action;
    std::string host;
    std::string host_label = "host";
};

// One host of the cluster (`[[cluster.hosts]]`): its corosync nodeid, which is
// its HostId, the slot it owns in the storage heartbeat area, and the memory
// its HA VMs may use (the capacity the coordinator places VMs against).
struct ClusterHost {
    std::string name;
    std::uint32_t nodeid = 0;
    std::uint32_t slot = 0;
    std::uint64_t memory_mib = 0;
    // The libvirt URI other hosts' libvirtd reach this one's at for a live
    // migration (peer to peer), e.g. "qemu+tls://h1.example/system". Empty:
    // none (needed by cluster.drain_migrate).
    std::string migration_uri;
};

struct Config {
    // Where the configuration came from; empty for the built-in defaults.
    std::string source;
    // No cluster is joined and no watchdog armed in standalone mode.
    bool standalone = true;

    LogLevel log_level = LogLevel::kInfo;
    Endpoint metrics_listen{"127.0.0.1", 9774};
    bool metrics_enabled = true;
    std::string control_socket = "/run/vigil/vigild.sock";

    std::chrono::milliseconds probe_poll_interval{250};
    std::uint32_t block_error_events_per_second = 20;

    // Per block device: when the oldest request in flight makes it degraded
    // or stalled, how long errors count, and how long better evidence must
    // hold before the state improves.
    std::chrono::milliseconds storage_slow{1000};
    std::chrono::milliseconds storage_stall{5000};
    // Cluster mode refuses error window + recovery hold + probes' poll interval
    // that is not shorter than cluster.storage_grace_ms (F9).
    std::chrono::milliseconds storage_error_window{2000};
    std::chrono::milliseconds storage_recovery_hold{1000};

    // Per network interface: how long a link must be unusable before it is
    // down, usable before it is up again, and receive nothing (carrier up)
    // before it is idle.
    std::chrono::milliseconds link_down_hold{1000};
    std::chrono::milliseconds link_up_hold{2000};
    std::chrono::milliseconds link_idle_after{5000};

    // NFS mounts, from the client's per-mount RPC counters: where they are
    // read, how often, and when a mount is degraded (replies slower than
    // slow_rtt on average, or retransmissions within the error window) or
    // stalled (requests unanswered with no progress for the stall time, or
    // major timeouts within the error window). Better evidence must hold for
    // the recovery hold; a mount gone this long is forgotten.
    std::string nfs_mountstats = "/proc/self/mountstats";
    std::chrono::milliseconds nfs_poll_interval{1000};
    std::chrono::milliseconds nfs_slow_rtt{1000};
    std::chrono::milliseconds nfs_stall{10000};
    std::chrono::milliseconds nfs_error_window{1000};  // the same rule as storage's
    std::chrono::milliseconds nfs_recovery_hold{1000};
    std::chrono::milliseconds nfs_forget_after{600000};

    // Where the decision and the last evidence are written, durably, before a
    // deliberate self-fence; read back and reported at the next start.
    std::string flight_record = "/var/lib/vigil/flight-record";

    // The hardware watchdog: armed only when enabled. Once armed, a host whose
    // vigild stops petting (hung, or decided to die) is reset by it.
    bool watchdog_enabled = false;
    std::string watchdog_device = "/dev/watchdog";
    std::chrono::seconds watchdog_timeout{5};

    // Automation hooks: executables in hooks_dir, each run once per event,
    // at most hooks_max_concurrent at a time with hooks_queue_size waiting,
    // each ended at hooks_timeout. Empty hooks_user: run as root.
    std::string hooks_dir = "/etc/vigil/hooks.d";
    std::chrono::milliseconds hooks_timeout{30000};
    std::uint32_t hooks_max_concurrent = 4;
    std::uint32_t hooks_queue_size = 64;
    std::string hooks_user;

    // The Alertmanager webhook receiver: off unless enabled; a bearer token
    // from a root-only file; bodies up to webhook_max_body bytes.
    bool webhook_enabled = false;
    Endpoint webhook_listen{"127.0.0.1", 9775};
    std::string webhook_token_file = "/etc/vigil/webhook.token";
    std::uint32_t webhook_max_body = 256 * 1024;
    std::vector<WebhookRule> webhook_rules;

    // Cluster mode (`[cluster] enabled = true`, which sets standalone = false):
    // the corosync CPG group (`cluster.group`), every host
    // (`[[cluster.hosts]]`), the timing the decision core counts with
    // (`cluster.*_ms`), and what this host does when it is cut off. Parsing
    // checks each value and, in cluster mode, that hosts and heartbeat.area
    // are there; cluster_policy() (cluster.h) checks the timing chain.
    std::string cluster_group = "vigil";
    std::vector<ClusterHost> cluster_hosts;
    std::chrono::milliseconds heartbeat_interval{1000};  // cluster.heartbeat_interval_ms
    // cluster.fence_delay_ms: survivors wait this long after a peer's last
    // sign of life before they call it dead; cluster_policy() proves the
    // peer's watchdog fired by then.
    std::chrono::milliseconds fence_delay{7000};
    // cluster.membership_timeout_ms: how long corosync takes to drop a silent
    // member (token + consensus). 0: read from corosync's cmap at start
    // (runtime.config.totem.token + runtime.config.totem.consensus).
    std::chrono::milliseconds membership_timeout{0};
    std::chrono::milliseconds storage_grace{5000};        // cluster.storage_grace_ms
    std::chrono::milliseconds link_grace{2000};           // cluster.link_grace_ms
    std::chrono::milliseconds start_failure_hold{30000};  // cluster.start_failure_hold_ms
    core::IsolationResponse isolation_response =          // cluster.isolation_response
        core::IsolationResponse::kStopWhenUplinksDead;
    double storm_guard_share = 0.5;     // cluster.storm_guard_share, in (0, 1]
    bool maintenance_at_start = false;  // cluster.maintenance_at_start
    // cluster.allow_unauthenticated: cluster messages steer restarts, so
    // corosync without knet crypto is refused unless this says the operator
    // accepts it.
    bool allow_unauthenticated_cluster = false;
    // cluster.drain_migrate: a drain moves VMs by live migration (each host
    // needs a migration_uri), falling back to a stop and a start.
    bool drain_migrate = false;

    // `[heartbeat] area`: the storage heartbeat area on shared storage (a file
    // or a block device), formatted with `vigilctl format-heartbeat`.
    std::string heartbeat_area;

    // `[storage.domains.<name>]` and `[network] *_interfaces`, checked with
    // core::EvidenceMap::make() while parsing.
    core::EvidenceMapConfig evidence_map;

    // `[libvirt]`: the hypervisor connection (`uri`) and each action's time
    // limits (`start_timeout_ms`, `resume_timeout_ms`, `stop_grace_ms`: how
    // long a guest has to shut down before it is destroyed, `stop_timeout_ms`).
    std::string libvirt_uri = "qemu:///system";
    std::chrono::milliseconds vm_start_timeout{30000};
    std::chrono::milliseconds vm_resume_timeout{10000};
    std::chrono::milliseconds vm_stop_grace{20000};
    std::chrono::milliseconds vm_stop_timeout{30000};
    std::chrono::milliseconds vm_migrate_timeout{300000};  // libvirt.migrate_timeout_ms
};

inline constexpr std::string_view kDefaultConfigPath = "/etc/vigil/vigil.toml";

// Parses TOML text; `file` names it in errors.
[[nodiscard]] std::expected<Config, Error> parse(std::string_view text, std::string_view file);

// Reads and parses a file. A missing file is an error here: whether that means
// "standalone" is the caller's choice (only for the default path).
[[nodiscard]] std::expected<Config, Error> load(const std::filesystem::path& path);

[[nodiscard]] std::expected<Endpoint, Error> parse_endpoint(std::string_view text);

[[nodiscard]] std::string_view name(LogLevel level);

// `cluster.isolation_response`: "stop-when-uplinks-dead", "leave-running",
// "always-stop".
[[nodiscard]] std::expected<core::IsolationResponse, Error> parse_isolation_response(
    std::string_view text);

// Every key the schema knows, as "section.key", sorted.
[[nodiscard]] std::vector<std::string> known_keys();

}  // namespace vigil::config
