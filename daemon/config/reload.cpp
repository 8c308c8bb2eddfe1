#include "daemon/config/reload.h"

#include "daemon/core/decision.h"

#include <functional>

namespace vigil::config {
namespace {

struct KeyRule {
    const char* key;
    bool live;
    std::function<std::string(const Config&)> show;
    // Copies the setting from the new configuration into the running one.
    std::function<void(Config& running, const Config& next)> take;
};

template <typename T>
KeyRule rule(const char* key, bool live, T Config::*field,
             std::function<std::string(const T&)> show) {
    return KeyRule{key, live,
                   [field, show = std::move(show)](const Config& c) { return show(c.*field); },
                   [field](Config& running, const Config& next) { running.*field = next.*field; }};
}

std::string show_ms(const std::chrono::milliseconds& v) { return std::to_string(v.count()); }
std::string show_string(const std::string& v) { return "\"" + v + "\""; }
std::string show_bool(const bool& v) { return v ? "true" : "false"; }
std::string show_u32(const std::uint32_t& v) { return std::to_string(v); }
std::string show_endpoint(const Endpoint& e) {
    const bool v6 = e.host.find(':') != std::string::npos;
    return "\"" + (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port) + "\"";
}
// The rule table as TOML inline tables, so that any change to a row shows.
std::string show_rules(const std::vector<WebhookRule>& rules) {
    std::string out = "[";
    for (const auto& r : rules) {
        out += out.size() > 1 ? ", " : "";
        out += "{alert = " + show_string(r.alert);
        if (!r.labels.empty()) {
            out += ", labels = {";
            for (std::size_t i = 0; i < r.labels.size(); ++i) {
                out += (i == 0 ? "" : ", ") + show_string(r.labels[i].first) + " = " +
                       show_string(r.labels[i].second);
            }
            out += "}";
        }
        out += ", action = " + show_string(r.action);
        if (!r.resolved_action.empty())
            out += ", resolved_action = " + show_string(r.resolved_action);
        if (!r.host.empty()) out += ", host = " + show_string(r.host);
        out += ", host_label = " + show_string(r.host_label) + "}";
    }
    return out + "]";
}

KeyRule ms(const char* key, std::chrono::milliseconds Config::*field) {
    return rule<std::chrono::milliseconds>(key, false, field, show_ms);
}

// A key that takes a restart and has no field of its own (several keys share
// Config::evidence_map): shown, compared, never taken.
KeyRule restart(const char* key, std::function<std::string(const Config&)> show) {
    return KeyRule{key, false, std::move(show), [](Config&, const Config&) {}};
}

std::string show_strings(const std::vector<std::string>& v) {
    std::string out = "[";
    for (const auto& s : v) out += (out.size() > 1 ? ", " : "") + show_string(s);
    return out + "]";
}

std::string show_interfaces(const Config& c, core::NetRole role) {
    std::vector<std::string> names;
    for (const auto& i : c.evidence_map.interfaces) {
        if (i.role == role) names.push_back(i.name);
    }
    return show_strings(names);
}

std::string show_domains(const Config& c) {
    std::string out = "{";
    for (const auto& d : c.evidence_map.domains) {
        out += (out.size() > 1 ? ", " : "") + d.name +
               " = {block_devices = " + show_strings(d.block_devices) +
               ", nfs_mounts = " + show_strings(d.nfs_mounts) + "}";
    }
    return out + "}";
}

std::string show_hosts(const std::vector<ClusterHost>& hosts) {
    std::string out = "[";
    for (const auto& h : hosts) {
        out +=
            (out.size() > 1 ? ", " : "") + std::string("{name = ") + show_string(h.name) +
            ", nodeid = " + std::to_string(h.nodeid) + ", slot = " + std::to_string(h.slot) +
            ", memory_mib = " + std::to_string(h.memory_mib) +
            (h.migration_uri.empty() ? "" : ", migration_uri = " + show_string(h.migration_uri)) +
            "}";
    }
    return out + "]";
}

// Keep in step with the schema in config.cpp (a test checks both ways).
const std::vector<KeyRule>& rules() {
    static const std::vector<KeyRule> kRules = {
        // The journal's threshold is looked up at every record.
        rule<LogLevel>("log.level", true, &Config::log_level,
                       [](const LogLevel& l) { return show_string(std::string(name(l))); }),
        rule<bool>("metrics.enabled", false, &Config::metrics_enabled, show_bool),
        rule<Endpoint>("metrics.listen", false, &Config::metrics_listen, show_endpoint),
        rule<std::string>("control.socket", false, &Config::control_socket, show_string),
        // The poll timers take a new interval from now.
        rule<std::chrono::milliseconds>("probes.poll_interval_ms", true,
                                        &Config::probe_poll_interval, show_ms),
        // Compiled into the loaded BPF program.
        rule<std::uint32_t>("probes.block_error_events_per_second", false,
                            &Config::block_error_events_per_second, show_u32),
        ms("storage.slow_ms", &Config::storage_slow),
        ms("storage.stall_ms", &Config::storage_stall),
        ms("storage.error_window_ms", &Config::storage_error_window),
        ms("storage.recovery_hold_ms", &Config::storage_recovery_hold),
        ms("network.down_hold_ms", &Config::link_down_hold),
        ms("network.up_hold_ms", &Config::link_up_hold),
        ms("network.idle_after_ms", &Config::link_idle_after),
        // Opened afresh at every NFS poll.
        rule<std::string>("nfs.mountstats", true, &Config::nfs_mountstats, show_string),
        rule<std::chrono::milliseconds>("nfs.poll_interval_ms", true, &Config::nfs_poll_interval,
                                        show_ms),
        ms("nfs.slow_rtt_ms", &Config::nfs_slow_rtt),
        ms("nfs.stall_ms", &Config::nfs_stall),
        ms("nfs.error_window_ms", &Config::nfs_error_window),
        ms("nfs.recovery_hold_ms", &Config::nfs_recovery_hold),
        ms("nfs.forget_after_ms", &Config::nfs_forget_after),
        rule<std::string>("fence.flight_record", false, &Config::flight_record, show_string),
        rule<bool>("watchdog.enabled", false, &Config::watchdog_enabled, show_bool),
        rule<std::string>("watchdog.device", false, &Config::watchdog_device, show_string),
        rule<std::chrono::seconds>(
            "watchdog.timeout_s", false, &Config::watchdog_timeout,
            [](const std::chrono::seconds& v) { return std::to_string(v.count()); }),
        // Cluster mode builds the hook runner and the webhook receiver (its
        // socket bound, its token read) at start: each takes a restart.
        rule<std::string>("hooks.dir", false, &Config::hooks_dir, show_string),
        ms("hooks.timeout_ms", &Config::hooks_timeout),
        rule<std::uint32_t>("hooks.max_concurrent", false, &Config::hooks_max_concurrent, show_u32),
        rule<std::uint32_t>("hooks.queue_size", false, &Config::hooks_queue_size, show_u32),
        rule<std::string>("hooks.user", false, &Config::hooks_user, show_string),
        rule<bool>("webhook.enabled", false, &Config::webhook_enabled, show_bool),
        rule<Endpoint>("webhook.listen", false, &Config::webhook_listen, show_endpoint),
        rule<std::string>("webhook.token_file", false, &Config::webhook_token_file, show_string),
        rule<std::uint32_t>("webhook.max_body_bytes", false, &Config::webhook_max_body, show_u32),
        rule<std::vector<WebhookRule>>("webhook.rule", false, &Config::webhook_rules, show_rules),
        // Which devices, mounts and interfaces mean what is built into the
        // evidence map at start, and their watchers are started for them.
        restart("storage.domains", show_domains),
        restart("network.cluster_interfaces",
                [](const Config& c) { return show_interfaces(c, core::NetRole::kCluster); }),
        restart("network.vm_uplink_interfaces",
                [](const Config& c) { return show_interfaces(c, core::NetRole::kVmUplink); }),
        restart("network.storage_interfaces",
                [](const Config& c) { return show_interfaces(c, core::NetRole::kStorage); }),
        // Cluster mode takes a restart, every key of it: joining or leaving
        // the cluster arms or disarms the watchdog, which a reload never
        // does; the host list, slots and timing were proven safe together
        // (cluster_policy()) against the armed watchdog's timeout and the
        // running corosync, and every peer counts with the same numbers, so
        // one host changing them alone, mid-flight, could let a peer act
        // before this host's watchdog has fired.
        restart("cluster.enabled", [](const Config& c) { return show_bool(!c.standalone); }),
        rule<std::string>("cluster.group", false, &Config::cluster_group, show_string),
        rule<std::vector<ClusterHost>>("cluster.hosts", false, &Config::cluster_hosts, show_hosts),
        ms("cluster.heartbeat_interval_ms", &Config::heartbeat_interval),
        ms("cluster.fence_delay_ms", &Config::fence_delay),
        ms("cluster.membership_timeout_ms", &Config::membership_timeout),
        ms("cluster.storage_grace_ms", &Config::storage_grace),
        ms("cluster.link_grace_ms", &Config::link_grace),
        ms("cluster.start_failure_hold_ms", &Config::start_failure_hold),
        rule<core::IsolationResponse>("cluster.isolation_response", false,
                                      &Config::isolation_response,
                                      [](const core::IsolationResponse& r) {
                                          return show_string(std::string(core::name(r)));
                                      }),
        rule<double>("cluster.storm_guard_share", false, &Config::storm_guard_share,
                     [](const double& v) { return std::to_string(v); }),
        rule<bool>("cluster.maintenance_at_start", false, &Config::maintenance_at_start, show_bool),
        rule<bool>("cluster.allow_unauthenticated", false, &Config::allow_unauthenticated_cluster,
                   show_bool),
        rule<bool>("cluster.drain_migrate", false, &Config::drain_migrate, show_bool),
        // Every host's slot in it is fixed at start.
        rule<std::string>("heartbeat.area", false, &Config::heartbeat_area, show_string),
        // The hypervisor connection is opened once; its time limits are
        // given to the executor when it is built.
        rule<std::string>("libvirt.uri", false, &Config::libvirt_uri, show_string),
        ms("libvirt.start_timeout_ms", &Config::vm_start_timeout),
        ms("libvirt.resume_timeout_ms", &Config::vm_resume_timeout),
        ms("libvirt.stop_grace_ms", &Config::vm_stop_grace),
        ms("libvirt.stop_timeout_ms", &Config::vm_stop_timeout),
        ms("libvirt.migrate_timeout_ms", &Config::vm_migrate_timeout),
    };
    return kRules;
}

}  // namespace

ReloadPlan plan_reload(const Config& running, const Config& next) {
    ReloadPlan plan{.config = running};
    plan.config.source = next.source;
    for (const auto& r : rules()) {
        KeyChange change{r.key, r.show(running), r.show(next)};
        if (change.from == change.to) continue;
        if (r.live) {
            r.take(plan.config, next);
            plan.applied.push_back(std::move(change));
        } else {
            plan.refused.push_back(std::move(change));
        }
    }
    return plan;
}

std::vector<KeyReload> reloadable_keys() {
    std::vector<KeyReload> out;
    for (const auto& r : rules()) out.push_back({r.key, r.live});
    return out;
}

}  // namespace vigil::config
