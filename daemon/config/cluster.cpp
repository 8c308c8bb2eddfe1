#include "daemon/config/cluster.h"

#include <algorithm>
#include <set>
#include "daemon/ports/error.h"

namespace vigil::config {
namespace {

using std::chrono::milliseconds;

std::int64_t count_ms(std::chrono::nanoseconds d) {
    return std::chrono::duration_cast<milliseconds>(d).count();
}

std::string ms(std::chrono::nanoseconds d) { return std::to_string(count_ms(d)) + " ms"; }

// The whole seconds that cover `d`: what watchdog.timeout_s must be raised to.
std::int64_t seconds_up(std::chrono::nanoseconds d) { return (count_ms(d) + 999) / 1000; }

std::string shown(const std::string& crypto) { return crypto.empty() ? "unset" : crypto; }

std::string nodeid_list(const std::set<std::uint32_t>& ids) {
    std::string out;
    for (auto id : ids) out += (out.empty() ? "" : ", ") + std::to_string(id);
    return out.empty() ? "none" : out;
}

// The core's words for the policy's fields, each followed by the key it comes
// from, so that a refusal of Policy::validate() names what to change.
std::string with_keys(std::string message) {
    static const std::pair<const char*, const char*> kKeys[] = {
        {"heartbeat interval", "cluster.heartbeat_interval_ms"},
        {"watchdog timeout", "watchdog.timeout_s"},
        {"fence delay", "cluster.fence_delay_ms"},
        {"membership timeout", "cluster.membership_timeout_ms or corosync's token + consensus"},
        {"start failure hold", "cluster.start_failure_hold_ms"},
        {"storm guard share", "cluster.storm_guard_share"},
        {"storage grace", "cluster.storage_grace_ms"},
        {"link grace", "cluster.link_grace_ms"},
        {"no hosts configured", "cluster.hosts"},
        {"host id", "cluster.hosts nodeid"},
    };
    for (const auto& [words, key] : kKeys) {
        const auto at = message.find(words);
        if (at == std::string::npos) continue;
        message.insert(at + std::string_view(words).size(), std::string(" [") + key + "]");
    }
    return "the decision core refuses the policy: " + message;
}

}  // namespace

std::string ClusterCheck::to_string() const {
    std::string out;
    for (const auto& p : passed) out += "ok: " + p + "\n";
    for (const auto& n : not_checked) out += "not checked: " + n + "\n";
    for (const auto& r : refused) out += "unsafe: " + r + "\n";
    return out;
}

ClusterCheck check_cluster(const Config& config, std::chrono::seconds watchdog_timeout,
                           const std::optional<CorosyncFacts>& corosync) {
    ClusterCheck check;
    const auto heartbeat = std::chrono::nanoseconds(config.heartbeat_interval);
    const auto two_heartbeats = 2 * heartbeat;
    const auto watchdog = std::chrono::nanoseconds(watchdog_timeout);
    const std::string heartbeat_key =
        "cluster.heartbeat_interval_ms = " + std::to_string(config.heartbeat_interval.count());
    const std::string watchdog_key =
        "watchdog.timeout_s = " + std::to_string(watchdog_timeout.count());

    if (config.cluster_hosts.empty()) {
        check.refused.push_back("cluster.hosts: no hosts configured");
    }

    // 1. The membership timeout the core counts with, and where it comes from.
    std::chrono::nanoseconds membership{config.membership_timeout};
    std::string membership_from;  // how it was found, for the messages below
    bool membership_known = true;
    if (corosync) {
        const auto runtime = corosync->token + corosync->consensus;
        const std::string corosync_words =
            "corosync's token " + ms(corosync->token) + " + consensus " + ms(corosync->consensus);
        check.passed.push_back("corosync: token " + ms(corosync->token) + ", consensus " +
                               ms(corosync->consensus) + ", crypto " +
                               shown(corosync->crypto_cipher) + "/" + shown(corosync->crypto_hash));
        if (config.membership_timeout == milliseconds::zero()) {
            membership = runtime;
            membership_from = corosync_words;
            check.passed.push_back("membership timeout " + ms(membership) + " = " + corosync_words +
                                   " (cluster.membership_timeout_ms = 0)");
        } else if (config.membership_timeout < runtime) {
            check.refused.push_back(
                "cluster.membership_timeout_ms = " +
                std::to_string(config.membership_timeout.count()) + " is shorter than " +
                corosync_words + " = " + ms(runtime) +
                ": the core would count a silent member gone before corosync has dropped it; "
                "set it to 0 (read from corosync) or at least " +
                std::to_string(count_ms(runtime)));
            // The rest of the chain is checked with what corosync really takes.
            membership = runtime;
            membership_from = corosync_words;
        } else {
            membership_from = "cluster.membership_timeout_ms";
            check.passed.push_back("membership timeout " + ms(membership) +
                                   " (cluster.membership_timeout_ms) >= " + corosync_words + " = " +
                                   ms(runtime));
        }
    } else if (config.membership_timeout == milliseconds::zero()) {
        membership_known = false;
        membership_from = "corosync not running";
        check.not_checked.push_back(
            "corosync not running: the membership timeout (cluster.membership_timeout_ms = 0: "
            "corosync's token + consensus) is unknown, so the chain below is checked with 0 ms, "
            "the least it can be; vigild refuses to start until corosync answers; corosync's "
            "authentication and nodelist are not checked");
    } else {
        membership_from = "cluster.membership_timeout_ms";
        check.not_checked.push_back(
            "corosync not running: cluster.membership_timeout_ms = " +
            std::to_string(config.membership_timeout.count()) +
            " is not compared with corosync's token + consensus; corosync's authentication and "
            "nodelist are not checked");
    }
    const std::string membership_words =
        membership_known ? "membership timeout " + ms(membership) + " (" + membership_from + ")"
                         : "membership timeout taken as 0 ms (corosync not running)";

    // 2. The watchdog must outlast a late tick, and a cluster re-forming.
    if (watchdog < two_heartbeats) {
        check.refused.push_back(
            watchdog_key + " is shorter than 2 heartbeats = " + ms(two_heartbeats) + " (" +
            heartbeat_key + "): a single late tick would reset the host; raise it to at least " +
            std::to_string(seconds_up(two_heartbeats)));
    } else {
        check.passed.push_back("watchdog timeout " + ms(watchdog) +
                               " >= 2 heartbeats = " + ms(two_heartbeats));
    }
    if (watchdog < membership + two_heartbeats) {
        check.refused.push_back(
            watchdog_key + " is shorter than " + membership_words + " + 2 heartbeats = " +
            ms(two_heartbeats) + " (" + heartbeat_key + "), " + ms(membership + two_heartbeats) +
            ": while corosync re-forms the membership nothing is delivered, and in a storage "
            "outage nothing else shows this host lives, so its watchdog would fire; raise it to "
            "at least " +
            std::to_string(seconds_up(membership + two_heartbeats)));
    } else {
        check.passed.push_back("watchdog timeout " + ms(watchdog) + " >= membership timeout " +
                               ms(membership) + " + 2 heartbeats " + ms(two_heartbeats) + " = " +
                               ms(membership + two_heartbeats));
    }

    // 3. The fence delay: a silent peer's watchdog has fired by then.
    const auto proof_window = std::max(two_heartbeats, membership);
    const auto fence = std::chrono::nanoseconds(config.fence_delay);
    const std::string proof_words =
        "proof window " + ms(proof_window) + " (max of 2 heartbeats = " + ms(two_heartbeats) +
        " and " + (membership_from.starts_with("corosync's") ? membership_from : membership_words) +
        ")";
    if (fence < watchdog + proof_window) {
        check.refused.push_back(
            "cluster.fence_delay_ms = " + std::to_string(config.fence_delay.count()) +
            " is shorter than watchdog timeout " + ms(watchdog) + " + " + proof_words +
            ": a silent peer's watchdog may not have fired yet; raise it to "
            "at least " +
            std::to_string(count_ms(watchdog + proof_window)));
    } else {
        check.passed.push_back("fence delay " + ms(fence) + " >= watchdog timeout " + ms(watchdog) +
                               " + " + proof_words + " = " + ms(watchdog + proof_window));
    }

    if (config.start_failure_hold < config.heartbeat_interval) {
        check.refused.push_back(
            "cluster.start_failure_hold_ms = " + std::to_string(config.start_failure_hold.count()) +
            " is shorter than one heartbeat (" + heartbeat_key +
            "): the coordinator could hand the VM straight back; raise it to at least " +
            std::to_string(config.heartbeat_interval.count()));
    }

    // 4. Corosync itself: authenticated, and the same hosts.
    if (corosync) {
        if (!corosync->authenticated) {
            const std::string crypto = "totem.crypto_cipher = " + shown(corosync->crypto_cipher) +
                                       ", totem.crypto_hash = " + shown(corosync->crypto_hash);
            if (config.allow_unauthenticated_cluster) {
                check.passed.push_back("corosync runs without authentication (" + crypto +
                                       "), accepted by cluster.allow_unauthenticated = true");
            } else {
                check.refused.push_back(
                    "corosync runs without authentication (" + crypto +
                    "): anyone on the cluster network could forge the status messages that steer "
                    "restarts; set crypto_cipher and crypto_hash in corosync.conf (with an "
                    "authkey), or accept the risk with cluster.allow_unauthenticated = true");
            }
        }
        std::set<std::uint32_t> configured;
        std::set<std::uint32_t> listed;
        for (const auto& h : config.cluster_hosts) configured.insert(h.nodeid);
        for (const auto& [id, name] : corosync->nodes) listed.insert(id);
        bool same = true;
        for (const auto& h : config.cluster_hosts) {
            if (listed.contains(h.nodeid)) continue;
            same = false;
            check.refused.push_back(
                "cluster.hosts: \"" + h.name + "\" (nodeid " + std::to_string(h.nodeid) +
                ") is not in corosync's nodelist (nodeids " + nodeid_list(listed) +
                "): corosync would never count it a member");
        }
        for (const auto& [id, name] : corosync->nodes) {
            if (configured.contains(id)) continue;
            same = false;
            check.refused.push_back("corosync's nodelist has nodeid " + std::to_string(id) +
                                    " (\"" + name +
                                    "\"), which cluster.hosts lacks: its VMs would have no "
                                    "placement and its slot no owner; add a [[cluster.hosts]] "
                                    "table for it");
        }
        if (same) {
            check.passed.push_back("corosync's nodelist = cluster.hosts (nodeids " +
                                   nodeid_list(listed) + ")");
        }
    }

    // 5. The core's own rules, as a backstop for what the checks above name.
    core::Policy policy;
    policy.heartbeat_interval = heartbeat;
    policy.watchdog_timeout = watchdog;
    policy.fence_delay = fence;
    policy.membership_timeout = membership;
    policy.storage_grace = config.storage_grace;
    policy.link_grace = config.link_grace;
    policy.isolation_response = config.isolation_response;
    policy.start_failure_hold = config.start_failure_hold;
    policy.storm_guard_share = config.storm_guard_share;
    policy.maintenance = config.maintenance_at_start;
    policy.fence_agents = false;
    policy.drain_migrate = config.drain_migrate;
    for (const auto& h : config.cluster_hosts) {
        policy.hosts.push_back(
            core::HostSpec{.id = core::HostId{h.nodeid}, .memory_mib = h.memory_mib});
    }
    if (check.refused.empty()) {
        if (auto valid = policy.validate(); !valid) {
            check.refused.push_back(with_keys(valid.error().message));
        }
    }
    if (check.refused.empty() && membership_known) check.policy = std::move(policy);
    return check;
}

std::expected<core::Policy, Error> cluster_policy(const Config& config,
                                                  std::chrono::seconds watchdog_timeout,
                                                  const std::optional<CorosyncFacts>& corosync) {
    auto check = check_cluster(config, watchdog_timeout, corosync);
    if (!check.refused.empty()) {
        std::string out;
        for (const auto& r : check.refused) out += (out.empty() ? "" : "\n") + r;
        return std::unexpected(out);
    }
    if (!check.policy) {
        return std::unexpected(
            "cluster.membership_timeout_ms = 0 reads the membership timeout from corosync, "
            "which is not running");
    }
    return std::move(*check.policy);
}

}  // namespace vigil::config
