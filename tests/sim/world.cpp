#include "tests/sim/world.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "daemon/core/slot_codec.h"

namespace vigil::sim {

using core::HostId;
using core::NetRole;
using core::VmState;

struct World::Host {
    std::uint32_t id = 0;
    std::string name;
    bool powered = true;
    std::optional<Duration> booting_until;
    bool frozen = false;         // whole host hung: kernel, corosync, qemu
    bool daemon_frozen = false;  // vigild alone hung
    bool daemon_running = false;
    std::optional<Duration> daemon_restart_at;
    std::optional<core::HostEngine> engine;
    std::uint64_t incarnation = 0;
    Duration phase{};
    std::map<NetRole, bool> link_up{
        {NetRole::kCluster, true}, {NetRole::kVmUplink, true}, {NetRole::kStorage, true}};
    bool path_failed = false;
    bool path_stalled = false;
    bool in_flight = false;
    std::map<std::string, VmState> qemu;
    std::optional<Duration> last_pet;
    bool refused_pet = false;            // the engine's last tick said not to pet
    bool refused_while_quorate = false;  // ... at a tick where it was in the quorate partition
    // Since the last pet, every tick found it in a quorate configuration whose ring
    // worked: it could always show its peers that it lived.
    bool provable_since_pet = true;
    std::vector<core::Evidence> admin;
    Duration wall_offset{};
};

namespace {

std::string seconds(Duration d) { return core::format_seconds(d); }

// A pattern's words must all occur in the line; a leading host name or "world" must
// be the line's author, so "h3 start-vm" does not match h1's "start-vm peer=h3".
bool matches_line(const LogLine& line, const std::vector<std::string>& words, std::size_t from) {
    if (from < words.size() && (words[from] == "world" || parse_host(words[from]))) {
        if (line.who != words[from]) return false;
        ++from;
    }
    for (std::size_t i = from; i < words.size(); ++i) {
        if (line.text.find(words[i]) == std::string::npos) return false;
    }
    return true;
}

std::string join(const std::vector<std::string>& w, std::size_t from) {
    std::string out;
    for (std::size_t i = from; i < w.size(); ++i) out += (i > from ? " " : "") + w[i];
    return out;
}

}  // namespace

std::string format_line(const LogLine& l) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%9s %-5s ", seconds(l.at).c_str(), l.who.c_str());
    return buf + l.text;
}

World::World(Scenario scenario) : s_(std::move(scenario)) {
    const auto hb = s_.policy.heartbeat_interval;
    std::size_t index = 0;
    for (const auto& spec : s_.policy.hosts) {
        auto h = std::make_unique<Host>();
        h->id = spec.id.value;
        h->name = core::host_name(spec.id);
        // Hosts tick at different phases of the heartbeat, as real hosts do.
        const auto offset = (3 * s_.step * static_cast<std::int64_t>(index)).count() % hb.count();
        h->phase = Duration{offset - offset % s_.step.count()};
        ++index;
        hosts_.emplace(h->id, std::move(h));
    }
    for (const auto& p : s_.placement) {
        if (hosts_.contains(p.host)) hosts_.at(p.host)->qemu[p.vm] = VmState::kRunning;
    }
    for (auto& [id, h] : hosts_) start_daemon(*h);
    effective_ = pending_ = raw_partitions();
}

World::~World() = default;

World::Host& World::host(std::uint32_t id) { return *hosts_.at(id); }

bool World::up(const Host& h) const { return h.powered && !h.booting_until; }

void World::log(const std::string& who, std::string text) {
    result_.log.push_back({now_, who, std::move(text)});
}

void World::violation(std::string text) {
    if (result_.violations.size() < 50) {
        result_.violations.push_back(seconds(now_) + " " + text);
        log("world", "SAFETY VIOLATION: " + text);
    }
}

bool World::storage_reachable(const Host& h, const std::string& domain) const {
    if (!up(h) || h.path_failed || h.path_stalled || !h.link_up.at(NetRole::kStorage)) return false;
    return !failed_domains_.contains(domain) && !stalled_domains_.contains(domain);
}

bool World::global_storage_outage() const {
    // The storage itself is down (array, NFS server), not one host's path to it.
    return failed_domains_.contains("shared") || stalled_domains_.contains("shared");
}

bool World::known_global_storage_outage() const {
    return global_storage_outage() && outage_since_ &&
           now_ - *outage_since_ >= 2 * s_.policy.heartbeat_interval;
}

std::vector<std::vector<std::uint32_t>> World::raw_partitions() const {
    std::map<int, std::vector<std::uint32_t>> groups;
    for (const auto& [id, h] : hosts_) {
        if (!up(*h) || h->frozen || !h->link_up.at(NetRole::kCluster)) continue;
        const auto g = partition_group_.find(id);
        groups[g == partition_group_.end() ? 0 : g->second].push_back(id);
    }
    std::vector<std::vector<std::uint32_t>> out;
    for (auto& [g, ids] : groups) out.push_back(std::move(ids));
    std::ranges::sort(out);
    return out;
}

const std::vector<std::uint32_t>* World::effective_partition(std::uint32_t id) const {
    for (const auto& p : effective_) {
        if (std::ranges::find(p, id) != p.end()) return &p;
    }
    return nullptr;
}

bool World::in_quorate_partition(const Host& h) const {
    const auto* p = effective_partition(h.id);
    return p != nullptr && p->size() * 2 > hosts_.size();
}

void World::start_daemon(Host& h) {
    ++h.incarnation;
    auto e = core::HostEngine::make(s_.policy, HostId{h.id}, h.incarnation, time());
    if (!e) {
        violation("engine refused to start on " + h.name + ": " + e.error());
        return;
    }
    h.engine.emplace(std::move(*e));
    h.daemon_running = true;
    h.daemon_restart_at.reset();
}

void World::boot(Host& h) {
    h.booting_until.reset();
    log("world", "booted " + h.name);
    start_daemon(h);
}

void World::reset(Host& h, const std::string& why, bool reboot) {
    // Only a reset the engine chose (it stopped petting, or rebooted) is a fence; a
    // daemon that crashed or hung for longer than the watchdog timeout is not.
    // A host that lost quorum (even if the old configuration still listed it when it
    // stopped petting) may have to go: only a host quorate throughout is wrongly fenced.
    const bool chosen = why == "self-fence-reboot"
                            ? in_quorate_partition(h)
                            : why == "watchdog-reset" && h.refused_pet && h.refused_while_quorate &&
                                  h.provable_since_pet && in_quorate_partition(h);
    if (chosen && known_global_storage_outage()) {
        violation(h.name + " fenced (" + why + ") by a cluster-wide storage outage while quorate");
    }
    if (why != "power-off") log("world", why + " " + h.name);
    h.qemu.clear();
    h.engine.reset();
    h.daemon_running = false;
    h.daemon_restart_at.reset();
    h.frozen = false;
    h.daemon_frozen = false;
    h.last_pet.reset();
    h.refused_pet = false;
    h.refused_while_quorate = false;
    h.provable_since_pet = true;
    h.in_flight = false;
    if (reboot) {
        h.booting_until = now_ + s_.boot_time;
    } else {
        h.powered = false;
    }
}

void World::apply(const Event& e) {
    log("world", e.text);
    const auto& w = e.words;
    const auto& verb = w[0];
    auto target = [&](std::size_t i) -> Host* {
        if (w.size() <= i) return nullptr;
        auto id = parse_host(w[i]);
        if (!id || !hosts_.contains(*id)) return nullptr;
        return hosts_.at(*id).get();
    };
    auto role = [&](std::size_t i) -> std::optional<NetRole> {
        if (w.size() <= i) return std::nullopt;
        if (w[i] == "cluster") return NetRole::kCluster;
        if (w[i] == "vm-uplink") return NetRole::kVmUplink;
        if (w[i] == "storage") return NetRole::kStorage;
        return std::nullopt;
    };
    auto has = [&](const char* flag) { return std::ranges::find(w, flag) != w.end(); };
    Host* h = target(1);
    if (verb == "power-off" && h) {
        if (h->powered) reset(*h, "power-off", false);
    } else if (verb == "power-on" && h) {
        if (!h->powered) {
            h->powered = true;
            h->booting_until = now_ + s_.boot_time;
        }
    } else if (verb == "hang" && h) {
        h->frozen = true;
    } else if (verb == "unhang" && h) {
        h->frozen = false;
    } else if (verb == "freeze-daemon" && h) {
        h->daemon_frozen = true;
    } else if (verb == "thaw-daemon" && h) {
        h->daemon_frozen = false;
    } else if (verb == "crash-daemon" && h) {
        if (h->daemon_running) {
            h->refused_pet = false;
            h->engine.reset();
            h->daemon_running = false;
            h->daemon_restart_at = now_ + s_.restart_delay;
        }
    } else if ((verb == "cut" || verb == "heal") && h && role(2)) {
        h->link_up[*role(2)] = verb == "heal";
    } else if (verb == "partition") {
        partition_group_.clear();
        for (std::size_t i = 1; i < w.size(); ++i) {
            std::stringstream ss(w[i]);
            std::string name;
            while (std::getline(ss, name, ',')) {
                if (auto id = parse_host(name)) partition_group_[*id] = static_cast<int>(i);
            }
        }
    } else if (verb == "partition-heal") {
        partition_group_.clear();
    } else if (verb == "storage-fail" && w.size() >= 2) {
        if (w[1] == "all") {
            if (!global_storage_outage()) outage_since_ = now_;
            for (const auto& d : s_.domains)
                (has("stall") ? stalled_domains_ : failed_domains_).insert(d);
            for (auto& [id, x] : hosts_) x->in_flight = has("inflight");
        } else if (h) {
            (has("stall") ? h->path_stalled : h->path_failed) = true;
            h->in_flight = has("inflight");
        }
    } else if (verb == "storage-heal" && w.size() >= 2) {
        if (w[1] == "all") {
            failed_domains_.clear();
            stalled_domains_.clear();
            for (auto& [id, x] : hosts_) x->in_flight = false;
        } else if (h) {
            h->path_failed = h->path_stalled = h->in_flight = false;
        }
    } else if (verb == "nospace" && w.size() == 2) {
        full_domains_.insert(w[1]);
    } else if (verb == "space" && w.size() == 2) {
        full_domains_.erase(w[1]);
    } else if (verb == "admin" && h && w.size() == 3) {
        using core::AdminCommand;
        if (w[2] == "maintenance-on")
            h->admin.push_back(core::AdminEvidence{AdminCommand::kMaintenanceOn});
        else if (w[2] == "maintenance-off")
            h->admin.push_back(core::AdminEvidence{AdminCommand::kMaintenanceOff});
        else if (w[2] == "drain")
            h->admin.push_back(core::AdminEvidence{AdminCommand::kDrain});
        else if (w[2] == "undrain")
            h->admin.push_back(core::AdminEvidence{AdminCommand::kUndrain});
        else
            violation("unknown admin command in timeline: " + e.text);
    } else if (verb == "clock-jump" && h && w.size() == 3) {
        // Wall-clock time exists only here: nothing in the core can see it.
        if (auto d = parse_duration(w[2])) h->wall_offset += *d;
    } else {
        violation("timeline event not understood: " + e.text);
    }
}

void World::update_membership() {
    auto raw = raw_partitions();
    if (raw != pending_) {
        pending_ = std::move(raw);
        pending_since_ = now_;
    }
    if (pending_ != effective_ && now_ - pending_since_ >= s_.membership_delay) {
        effective_ = pending_;
        std::string text = "membership";
        for (const auto& p : effective_) {
            text += " [";
            for (std::size_t i = 0; i < p.size(); ++i)
                text += (i ? " " : "") + core::host_name(HostId{p[i]});
            text += p.size() * 2 > hosts_.size() ? "] quorate" : "]";
        }
        log("world", text);
    }
}

void World::update_vm_io() {
    for (auto& [id, h] : hosts_) {
        if (!up(*h)) continue;
        for (auto& [vm, state] : h->qemu) {
            const auto* p = s_.policy.vm(vm);
            const std::string domain = p ? p->storage_domain : "shared";
            if (state == VmState::kRunning &&
                (!storage_reachable(*h, domain) || full_domains_.contains(domain))) {
                state = VmState::kPausedIoError;
                log("world", "vm-paused " + vm + " on " + h->name + " io-error");
            }
        }
    }
}

void World::tick_host(Host& h) {
    if (!up(h) || h.frozen || h.daemon_frozen || !h.daemon_running || !h.engine) return;
    auto& e = *h.engine;
    const auto t = time();
    for (const auto& d : s_.domains) {
        core::StorageEvidence ev{.domain = d};
        const bool failed =
            h.path_failed || !h.link_up.at(NetRole::kStorage) || failed_domains_.contains(d);
        const bool stalled = h.path_stalled || stalled_domains_.contains(d);
        if (failed || stalled) {
            ev.health =
                stalled && !failed ? core::StorageHealth::kStalled : core::StorageHealth::kFailed;
            ev.io_in_flight = h.in_flight;
        } else if (full_domains_.contains(d)) {
            ev.health = core::StorageHealth::kNoSpace;
        }
        e.observe(t, ev);
    }
    for (const auto& [r, ok] : h.link_up) {
        e.observe(t, core::LinkEvidence{
                         .role = r, .state = ok ? core::LinkState::kUp : core::LinkState::kDown});
    }
    core::MembershipEvidence m;
    if (const auto* p = effective_partition(h.id)) {
        for (auto id : *p) m.members.push_back(HostId{id});
        m.quorate = p->size() * 2 > hosts_.size();
    }
    e.observe(t, m);
    for (const auto& v : s_.policy.vms) {
        const auto it = h.qemu.find(v.name);
        e.observe(t,
                  core::VmEvidence{.vm = v.name,
                                   .state = it == h.qemu.end() ? VmState::kShutOff : it->second});
    }
    for (const auto& a : h.admin) e.observe(t, a);
    h.admin.clear();
    if (storage_reachable(h, "shared")) {
        core::SlotReadEvidence read{.ok = true};
        for (const auto& [name, text] : slots_) {
            if (auto st = core::decode_status(text))
                read.slots.push_back(std::move(*st));
            else
                violation("slot of " + name + " does not decode: " + st.error());
        }
        e.observe(t, read);
    } else {
        e.observe(t, core::SlotReadEvidence{.ok = false});
    }

    const auto r = e.tick(t);
    bool reboot = false;
    for (const auto& d : r.decisions) {
        log(h.name, core::to_string(d));
        using core::DecisionKind;
        switch (d.kind) {
            case DecisionKind::kPeerClass:
                if (d.peer_class == core::PeerClass::kDead &&
                    d.reason != core::Reason::kFenceConfirmed) {
                    const Host& p = *hosts_.at(d.peer->value);
                    if (up(p) && !p.qemu.empty()) {
                        violation(h.name + " declared " + p.name + " dead while it still runs VMs");
                    }
                    if (global_storage_outage()) {
                        violation(h.name + " declared " + p.name +
                                  " dead during a cluster-wide storage outage");
                    }
                }
                break;
            case DecisionKind::kSelfFenceReboot:
                reboot = true;
                break;
            case DecisionKind::kStopVm:
                h.qemu.erase(d.vm);
                break;
            case DecisionKind::kStartVm: {
                if (global_storage_outage())
                    violation(h.name + " starts " + d.vm + " during a cluster-wide storage outage");
                bool refused = false;
                for (const auto& [oid, o] : hosts_) {
                    if (oid == h.id || !o->qemu.contains(d.vm)) continue;
                    const bool isolated_with_storage = up(*o) && storage_reachable(*o, "shared");
                    violation(d.vm + " started on " + h.name + " while " + o->name +
                              " still has it" +
                              (isolated_with_storage ? " and can write its disks" : ""));
                    refused = true;  // the lock manager's lease refuses the second start
                }
                const auto* p = s_.policy.vm(d.vm);
                const std::string domain = p ? p->storage_domain : "shared";
                if (!refused && storage_reachable(h, domain)) {
                    h.qemu[d.vm] = full_domains_.contains(domain) ? VmState::kPausedIoError
                                                                  : VmState::kRunning;
                }
                break;
            }
            case DecisionKind::kResumeVm: {
                auto it = h.qemu.find(d.vm);
                const auto* p = s_.policy.vm(d.vm);
                const std::string domain = p ? p->storage_domain : "shared";
                if (it != h.qemu.end() && storage_reachable(h, domain) &&
                    !full_domains_.contains(domain)) {
                    it->second = VmState::kRunning;
                }
                break;
            }
            case DecisionKind::kPetStarted:
            case DecisionKind::kPetStopped:
            case DecisionKind::kAssignVm:
            case DecisionKind::kSelfState:
            case DecisionKind::kAlert:
                break;
        }
    }
    if (r.pet_watchdog) h.last_pet = now_;
    h.refused_pet = !r.pet_watchdog;
    if (r.pet_watchdog) {
        h.refused_while_quorate = false;
        h.provable_since_pet = true;
    } else if (in_quorate_partition(h)) {
        h.refused_while_quorate = true;
    }
    if (reboot) {
        reset(h, "self-fence-reboot", true);
        return;
    }
    if (storage_reachable(h, "shared")) {
        slots_[h.name] = core::encode_status(r.status);
        e.observe(t, core::SlotWriteEvidence{.ok = true});
    } else {
        e.observe(t, core::SlotWriteEvidence{.ok = false});
    }
    // Totem ordering: a message is delivered to every member of the configuration,
    // the sender included, or, while the ring is broken (a member cut off, hung or
    // gone, and the new configuration not formed yet), to nobody.
    const auto* mine = effective_partition(h.id);
    if (mine == nullptr) {
        h.provable_since_pet = false;
        return;
    }
    const auto raw = raw_partitions();
    const bool ring_intact = std::ranges::any_of(raw, [&](const auto& group) {
        return std::ranges::all_of(
            *mine, [&](auto id) { return std::ranges::find(group, id) != group.end(); });
    });
    if (!ring_intact || !in_quorate_partition(h)) h.provable_since_pet = false;
    if (!ring_intact) return;
    for (auto id : *mine) {
        Host& o = host(id);
        if (!o.engine || o.daemon_frozen || o.frozen) continue;
        o.engine->observe(t, core::PeerMessageEvidence{r.status});
    }
    // Our own message came back: the daemon asks at once whether to pet.
    if (h.engine->should_pet(t)) {
        h.last_pet = now_;
        h.refused_pet = h.refused_while_quorate = false;
        h.provable_since_pet = true;
    }
}

void World::step_hosts() {
    const auto hb = s_.policy.heartbeat_interval.count();
    for (auto& [id, h] : hosts_) {
        const auto since = (now_ - h->phase).count();
        if (since >= 0 && since % hb == 0) tick_host(*h);
    }
}

void World::check_safety() {
    std::map<std::string, std::vector<std::string>> where;
    for (const auto& [id, h] : hosts_) {
        for (const auto& [vm, state] : h->qemu) where[vm].push_back(h->name);
    }
    for (const auto& [vm, hs] : where) {
        if (hs.size() > 1) violation(vm + " has a qemu process on " + hs[0] + " and " + hs[1]);
    }
}

RunResult World::run() {
    std::set<Duration> snapshot_times;
    for (const auto& c : s_.checks) {
        if (c.words.size() >= 4 && c.words[0] == "running" && c.words[2] == "at") {
            if (auto d = parse_duration(c.words[3])) snapshot_times.insert(*d);
        }
    }
    std::size_t next = 0;
    for (now_ = Duration{}; now_ <= s_.duration; now_ += s_.step) {
        while (next < s_.timeline.size() && s_.timeline[next].at <= now_)
            apply(s_.timeline[next++]);
        for (auto& [id, h] : hosts_) {
            if (h->booting_until && *h->booting_until <= now_) boot(*h);
            if (h->daemon_restart_at && *h->daemon_restart_at <= now_ && up(*h)) {
                log("world", "vigild restarted on " + h->name);
                start_daemon(*h);
            }
            if (up(*h) && h->last_pet && now_ - *h->last_pet >= s_.policy.watchdog_timeout) {
                reset(*h, "watchdog-reset", true);
            }
        }
        update_membership();
        update_vm_io();
        step_hosts();
        std::map<std::string, std::set<std::uint32_t>> running;
        for (const auto& [id, h] : hosts_) {
            if (!up(*h) || h->frozen) continue;
            for (const auto& [vm, state] : h->qemu) {
                if (state == VmState::kRunning) running[vm].insert(id);
            }
        }
        for (const auto& v : s_.policy.vms) {
            if (!running.contains(v.name)) downtime_[v.name] += s_.step;
        }
        for (auto it = snapshot_times.begin(); it != snapshot_times.end() && *it <= now_;) {
            snapshots_[*it] = running;
            it = snapshot_times.erase(it);
        }
        check_safety();
        ++result_.steps;
    }
    evaluate_checks(result_);
    for (const auto& v : s_.policy.vms) result_.final_vms[v.name];
    for (const auto& [id, h] : hosts_) {
        for (const auto& [vm, state] : h->qemu) result_.final_vms[vm].emplace_back(h->name, state);
    }
    return std::move(result_);
}

void World::evaluate_checks(RunResult& r) {
    auto fail = [&](const Check& c, const std::string& why) {
        r.check_failures.push_back("checks.txt:" + std::to_string(c.line) + " `" +
                                   join(c.words, 0) + "`: " + why);
    };
    auto matches = [&](const std::vector<std::string>& w, std::size_t from) {
        std::vector<Duration> at;
        for (const auto& l : r.log) {
            if (matches_line(l, w, from)) at.push_back(l.at);
        }
        return at;
    };
    for (const auto& c : s_.checks) {
        const auto& w = c.words;
        if (w[0] == "running" && w.size() >= 4 && w[2] == "at") {
            const auto t = parse_duration(w[3]);
            if (!t) {
                fail(c, t.error());
                continue;
            }
            const auto& snap = snapshots_[*t];
            const auto it = snap.find(w[1]);
            if (it == snap.end() || it->second.empty()) {
                fail(c, w[1] + " is not running anywhere at " + seconds(*t));
            } else if (w.size() == 6 && w[4] == "on") {
                const auto id = parse_host(w[5]);
                if (!id || !it->second.contains(*id)) fail(c, w[1] + " is not running on " + w[5]);
            }
        } else if (w[0] == "downtime" && w.size() == 4 && w[2] == "<=") {
            const auto limit = parse_duration(w[3]);
            if (!limit) {
                fail(c, limit.error());
                continue;
            }
            if (downtime_[w[1]] > *limit)
                fail(c, "downtime was " + seconds(downtime_[w[1]]) + " s");
        } else if (w[0] == "by" && w.size() >= 3) {
            const auto t = parse_duration(w[1]);
            if (!t) {
                fail(c, t.error());
                continue;
            }
            const auto at = matches(w, 2);
            if (at.empty())
                fail(c, "never happened");
            else if (at.front() > *t)
                fail(c, "first happened at " + seconds(at.front()));
        } else if (w[0] == "not-before" && w.size() >= 3) {
            const auto t = parse_duration(w[1]);
            if (!t) {
                fail(c, t.error());
                continue;
            }
            const auto at = matches(w, 2);
            if (at.empty())
                fail(c, "never happened");
            else if (at.front() < *t)
                fail(c, "happened already at " + seconds(at.front()));
        } else if (w[0] == "never" && w.size() >= 2) {
            const auto at = matches(w, 1);
            if (!at.empty()) fail(c, "happened at " + seconds(at.front()));
        } else if (w[0] == "count" && w.size() >= 4) {
            const auto n = static_cast<std::size_t>(std::stoul(w[2]));
            const auto got = matches(w, 3).size();
            const bool ok = w[1] == "=="   ? got == n
                            : w[1] == "<=" ? got <= n
                            : w[1] == ">=" ? got >= n
                                           : false;
            if (!ok) fail(c, "count is " + std::to_string(got));
        } else {
            fail(c, "not a check this runner knows");
        }
    }
}

}  // namespace vigil::sim
