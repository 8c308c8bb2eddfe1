#include "daemon/control/status.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "daemon/core/decision.h"

namespace vigil::control {
namespace {

using nlohmann::json;

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

json ago(std::chrono::nanoseconds now, const std::optional<core::TimePoint>& t) {
    if (!t) return nullptr;
    return seconds(now - t->time_since_epoch());
}

std::string host_label(const ClusterStatus& c, core::HostId id) {
    const auto it = c.hosts.find(id.value);
    return it != c.hosts.end() && !it->second.name.empty() ? it->second.name : core::host_name(id);
}

json host_ref(const ClusterStatus& c, const std::optional<core::HostId>& id) {
    if (!id) return nullptr;
    return json{{"id", id->value}, {"name", host_label(c, *id)}};
}

json slot_json(const ClusterStatus& c, const core::HostStatus& st) {
    json held = json::array();
    for (const auto& h : st.held) {
        held.push_back({{"vm", h.name}, {"state", std::string(core::name(h.state))}});
    }
    json fenced = json::array();
    for (const auto& [peer, inc] : st.fenced) {
        fenced.push_back({{"host", host_ref(c, peer)}, {"incarnation", inc}});
    }
    return {{"state", std::string(core::name(st.state))},
            {"incarnation", st.incarnation},
            {"sequence", st.sequence},
            {"quorate", st.quorate},
            {"storage_ok", st.storage_ok},
            {"maintenance", st.maintenance},
            {"cordoned", st.cordoned},
            {"held", held},
            {"declined", st.declined},
            {"fenced", fenced}};
}

json watchdog_json(const fence::WatchdogStatus& w) {
    json withheld = json::object();
    for (const auto reason : fence::kWithholdReasons) {
        withheld[fence::name(reason)] = w.withheld[fence::to_index(reason)];
    }
    return {{"armed", w.armed},
            {"timeout_seconds", w.timeout.count()},
            {"since_last_pet_seconds",
             w.since_last_pet ? json(std::chrono::duration<double>(*w.since_last_pet).count())
                              : json(nullptr)},
            {"time_left_seconds",
             w.time_left ? json(std::chrono::duration<double>(w.time_left->value).count())
                         : json(nullptr)},
            {"time_left_from_device", w.time_left ? w.time_left->from_device : false},
            {"pets", w.pets},
            {"late_pets", w.late_pets},
            {"withheld", withheld}};
}

// null unless draining: {moving[], left[], blocked[], migrating[], migration_failed[]}.
json drain_json(const ClusterStatus& c, std::chrono::nanoseconds now) {
    const auto& e = c.engine;
    if (!e.draining) return nullptr;
    json migrating = json::array();
    for (const auto& m : e.drain_migrating) {
        migrating.push_back({{"vm", m.vm},
                             {"target", host_ref(c, m.target)},
                             {"for_seconds", seconds(now - m.since.time_since_epoch())},
                             {"moved", m.moved}});
    }
    json failed = json::array();
    for (const auto& f : e.drain_migration_failed) {
        failed.push_back({{"vm", f.vm},
                          {"target", host_ref(c, f.target)},
                          {"outcome", std::string(core::name(f.outcome))},
                          {"detail", f.detail},
                          {"at_seconds_ago", ago(now, f.at)}});
    }
    return {{"moving", e.drain_moving},
            {"left", e.drain_left},
            {"blocked", e.drain_blocked},
            {"migrating", migrating},
            {"migration_failed", failed}};
}

json cluster_json(const ClusterStatus& c, std::chrono::nanoseconds now) {
    const auto& e = c.engine;
    const auto& d = c.driver;
    json peers = json::array();
    for (const auto& p : e.peers) {
        std::optional<core::TimePoint> last = p.last_message;
        if (p.last_slot_advance && (!last || *p.last_slot_advance > *last)) {
            last = p.last_slot_advance;
        }
        const auto slot = c.hosts.find(p.id.value);
        peers.push_back({{"id", p.id.value},
                         {"name", host_label(c, p.id)},
                         {"class", std::string(core::name(p.cls))},
                         {"reason", std::string(core::name(p.reason))},
                         {"in_membership", p.in_membership},
                         {"last_sign_of_life_seconds_ago", ago(now, last)},
                         {"last_message_seconds_ago", ago(now, p.last_message)},
                         {"last_slot_advance_seconds_ago", ago(now, p.last_slot_advance)},
                         {"slot_index", slot != c.hosts.end() ? json(slot->second.slot) : json()},
                         {"status", p.status ? slot_json(c, *p.status) : json(nullptr)}});
    }
    json vms = json::array();
    for (const auto& v : e.vms) {
        json policy = nullptr;
        if (v.policy) {
            policy = {{"priority", v.policy->priority},
                      {"memory_mib", v.policy->memory_mib},
                      {"io_error", std::string(core::name(v.policy->io_error))},
                      {"storage_domain", v.policy->storage_domain}};
        }
        vms.push_back({{"name", v.name},
                       {"state_here", v.here ? json(std::string(core::name(*v.here))) : json()},
                       {"owner", host_ref(c, v.owner)},
                       {"policy", policy}});
    }
    json in_flight = json::array();
    for (const auto& [vm, a] : d.executor.in_flight) {
        in_flight.push_back({{"vm", vm},
                             {"action", std::string(core::name(a.action))},
                             {"for_seconds", seconds(now - a.since.time_since_epoch())}});
    }
    json domains = json::array();
    for (const auto& sd : c.storage_domains) {
        domains.push_back({{"name", sd.domain},
                           {"health", std::string(core::name(sd.health))},
                           {"io_in_flight", sd.io_in_flight}});
    }
    json links = json::array();
    for (const auto& l : c.links) {
        links.push_back({{"role", std::string(core::name(l.role))},
                         {"state", std::string(core::name(l.state))}});
    }
    const auto self = c.hosts.find(e.self.value);
    return {{"host",
             {{"id", e.self.value},
              {"name", host_label(c, e.self)},
              {"slot_index", self != c.hosts.end() ? json(self->second.slot) : json()},
              {"incarnation", e.incarnation},
              {"sequence", e.sequence},
              {"state", e.state ? json(std::string(core::name(*e.state))) : json()},
              {"quorate", e.quorate},
              {"maintenance", e.maintenance},
              {"cordoned", e.cordoned},
              {"draining", e.draining},
              {"drain", drain_json(c, now)},
              {"coordinator", host_ref(c, e.coordinator)},
              {"vms_listed", e.listed},
              {"publishing", d.publishing},
              {"corosync_connected", c.corosync_connected},
              {"waiting_for", c.waiting_for},
              {"fenced", d.executor.self_fences > 0}}},
            {"heartbeat",
             {{"count", d.heartbeats},
              {"last_seconds_ago", ago(now, d.last_heartbeat)},
              {"pet", d.last_verdict.pet},
              {"pet_reason", std::string(core::name(d.last_verdict.reason))},
              {"pets", d.pets},
              {"withheld", d.withheld},
              {"last_pet_seconds_ago", ago(now, d.last_pet)},
              {"own_delivered_seconds_ago", ago(now, d.own_delivered)},
              {"decisions", d.decisions}}},
            {"peers", peers},
            {"vms", vms},
            {"storage_domains", domains},
            {"links", links},
            {"actions",
             {{"in_flight", in_flight},
              {"issued", d.executor.issued},
              {"repeated", d.executor.repeated},
              {"superseded", d.executor.superseded}}}};
}

}  // namespace

json admin_json(const AdminState& a, std::chrono::system_clock::time_point now, bool standalone) {
    const auto left = maintenance_left(a, now);
    return {
        {"maintenance", a.maintenance},
        {"maintenance_since", a.maintenance ? json(iso_time(a.maintenance_since)) : json()},
        {"maintenance_until", a.maintenance_until ? json(iso_time(*a.maintenance_until)) : json()},
        {"maintenance_left_seconds",
         left ? json(std::chrono::duration<double>(*left).count()) : json()},
        {"maintenance_by", a.maintenance_by},
        {"cordoned", a.cordoned},
        {"cordoned_by", a.cordoned_by},
        {"draining", a.draining},
        {"effective", !standalone}};
}

std::string status_json(const StatusSnapshot& s) {
    json probes = json::array();
    for (const auto& p : s.probes) {
        probes.push_back({{"name", p.name},
                          {"hook", p.hook},
                          {"state", bpf::name(p.state)},
                          {"reason", p.reason}});
    }
    json devices = json::array();
    for (const auto& d : s.block.devices) {
        json errors = json::array();
        for (const auto& e : d.io_errors) {
            errors.push_back({{"op", e.op}, {"error", e.error}, {"count", e.count}});
        }
        devices.push_back(
            {{"device", d.device},
             {"state", std::string(core::name(d.health))},
             {"in_flight", d.in_flight},
             {"oldest_in_flight_ms",
              std::chrono::duration_cast<std::chrono::milliseconds>(d.oldest_in_flight).count()},
             {"io_errors", errors},
             {"writeback_errors", d.writeback_errors}});
    }
    json interfaces = json::array();
    for (const auto& l : s.links.links) {
        json j = {{"interface", l.name},
                  {"ifindex", l.ifindex},
                  {"state", core::name(l.state)},
                  {"for_seconds", seconds(s.now - l.since.time_since_epoch())},
                  {"carrier", l.carrier},
                  {"operstate", core::name(l.operstate)}};
        if (l.rx_packets) j["rx_packets"] = *l.rx_packets;
        interfaces.push_back(std::move(j));
    }
    json nfs_mounts = json::array();
    for (const auto& m : s.nfs.mounts) {
        json j = {{"mount", m.mount},
                  {"device", m.device},
                  {"state", core::name(m.state)},
                  {"for_seconds", seconds(s.now - m.since.time_since_epoch())},
                  {"operations", m.counters.ops},
                  {"retransmissions", m.counters.retransmissions},
                  {"major_timeouts", m.counters.major_timeouts},
                  {"unanswered", m.unanswered},
                  {"waiting_ms",
                   std::chrono::duration_cast<std::chrono::milliseconds>(m.waiting).count()},
                  {"resets", m.resets}};
        if (m.mean_rtt) {
            j["mean_rtt_ms"] = std::chrono::duration<double, std::milli>(*m.mean_rtt).count();
        }
        nfs_mounts.push_back(std::move(j));
    }
    json status = {{"version", s.version},
                   {"mode", s.standalone ? "standalone" : "cluster"},
                   {"config", s.config},
                   {"log_level", s.log_level},
                   {"uptime_seconds", s.uptime_seconds},
                   {"probes", probes},
                   {"block_devices", devices},
                   {"interfaces", interfaces},
                   {"nfs_mounts", nfs_mounts},
                   {"nfs_mountstats_error", s.nfs.mountstats_error}};
    auto admin = admin_json(s.admin, s.wall_now, s.standalone);
    admin["file"] = s.admin_file;
    admin["file_error"] = s.admin_file_error;
    status["admin"] = std::move(admin);
    status["events"] = {{"recorded", s.events_recorded},
                        {"followers", s.event_followers},
                        {"followers_dropped", s.event_followers_dropped}};
    if (s.cluster) {
        auto cluster = cluster_json(*s.cluster, s.now);
        cluster["watchdog"] = s.watchdog ? watchdog_json(*s.watchdog) : json(nullptr);
        status["cluster"] = std::move(cluster);
    }
    return json{{"ok", true}, {"status", std::move(status)}}.dump();
}

namespace {

std::string label_of(const std::map<std::uint32_t, HostName>& hosts, core::HostId id) {
    const auto it = hosts.find(id.value);
    return it != hosts.end() && !it->second.name.empty() ? it->second.name : core::host_name(id);
}

json host_of(const std::map<std::uint32_t, HostName>& hosts,
             const std::optional<core::HostId>& id) {
    if (!id) return nullptr;
    return json{{"id", id->value}, {"name", label_of(hosts, *id)}};
}

json subject_json(const std::map<std::uint32_t, HostName>& hosts, const Subject& s) {
    if (s.kind == Subject::Kind::kVm) return {{"kind", "vm"}, {"name", s.vm}};
    return {{"kind", "host"}, {"id", s.host.value}, {"name", label_of(hosts, s.host)}};
}

json decision_json(const ExplainSnapshot::Cluster& c, const RecordedDecision& r) {
    const auto& d = r.decision;
    json evidence = json::array();
    for (const auto& f : d.evidence) evidence.push_back({{"key", f.key}, {"value", f.value}});
    return {{"number", r.number},
            {"kind", std::string(core::name(d.kind))},
            {"reason", std::string(core::name(d.reason))},
            {"subject", subject_json(c.hosts, subject_of(d, c.history.self()))},
            {"at_seconds_ago", seconds(c.now - r.at.time_since_epoch())},
            {"wall_time", std::chrono::duration<double>(r.wall.time_since_epoch()).count()},
            {"vm", d.vm.empty() ? json(nullptr) : json(d.vm)},
            {"peer", host_of(c.hosts, d.peer)},
            {"target", host_of(c.hosts, d.target)},
            {"peer_class", d.peer_class ? json(std::string(core::name(*d.peer_class))) : json()},
            {"self_state", d.self_state ? json(std::string(core::name(*d.self_state))) : json()},
            {"alert", d.alert ? json(std::string(core::name(*d.alert))) : json()},
            {"evidence", evidence},
            {"line", core::to_string(d)}};
}

// A host by its configured name or its "h<nodeid>"; else a VM the core or
// the history knows.
std::optional<Subject> resolve(const ExplainSnapshot::Cluster& c, const std::string& name) {
    for (const auto& [id, h] : c.hosts) {
        if (h.name == name || core::host_name(core::HostId{id}) == name) {
            return Subject{.host = core::HostId{id}};
        }
    }
    const auto self = c.history.self();
    if (core::host_name(self) == name) return Subject{.host = self};
    Subject vm{.kind = Subject::Kind::kVm, .vm = name};
    if (std::find(c.vms.begin(), c.vms.end(), name) != c.vms.end() || c.history.knows(vm)) {
        return vm;
    }
    return std::nullopt;
}

}  // namespace

std::string explain_json(const ExplainSnapshot& s, const std::string& subject) {
    json previous = nullptr;
    if (s.previous) {
        previous = {
            {"boot_id", s.previous->boot_id},
            {"earlier_boot", s.previous->boot_id != s.boot_id},
            {"written_at",
             std::chrono::duration<double>(s.previous->written_at.time_since_epoch()).count()},
            {"decision", s.previous->decision},
            {"evidence", s.previous->evidence}};
    }
    json explain = {{"flight_record", s.flight_record},
                    {"previous_self_fence", previous},
                    {"flight_record_error", s.error}};
    if (!s.cluster) {
        if (!subject.empty()) {
            return json{{"ok", false},
                        {"error",
                         "vigild runs standalone: it decides nothing about VMs or "
                         "hosts, so there is nothing to explain about " +
                             json(subject).dump()}}
                .dump();
        }
        return json{{"ok", true}, {"explain", std::move(explain)}}.dump();
    }
    const auto& c = *s.cluster;
    std::vector<RecordedDecision> chosen;
    json subject_j = nullptr;
    if (subject.empty()) {
        chosen = c.history.latest();
    } else {
        const auto found = resolve(c, subject);
        if (!found) {
            std::string hosts;
            for (const auto& [id, h] : c.hosts) {
                hosts += (hosts.empty() ? "" : ", ") + label_of(c.hosts, core::HostId{id});
            }
            return json{{"ok", false},
                        {"error", "no HA VM or host named " + json(subject).dump() +
                                      " is known here (hosts: " + hosts + ")"}}
                .dump();
        }
        chosen = c.history.about(*found);
        subject_j = subject_json(c.hosts, *found);
    }
    json decisions = json::array();
    for (const auto& r : chosen) decisions.push_back(decision_json(c, r));
    explain["subject"] = subject_j;
    explain["decisions"] = decisions;
    explain["history"] = {{"recorded", c.history.recorded()},
                          {"kept_per_subject", DecisionHistory::kPerSubject},
                          {"kept_overall", DecisionHistory::kOverall}};
    return json{{"ok", true}, {"explain", std::move(explain)}}.dump();
}

}  // namespace vigil::control
