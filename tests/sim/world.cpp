#include "tests/sim/world.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

#include "daemon/core/slot_codec.h"
#include "tests/tools/formats/next_format.h"

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
    // "format h next-major": its vigild writes the synthetic next major format
    // (tests/tools/formats), which it reads and the others do not.
    bool newer_format = false;
    // "format h older-release": its vigild is of the release before the freeze: its
    // records do not say knows-freeze.
    bool older_release = false;
    // "stop-daemon h" (systemctl stop, SIGTERM) is under way: the daemon freezes,
    // then exits, by then at the latest.
    std::optional<Duration> stop_deadline;
    std::optional<Duration> daemon_restart_at;
    std::uint64_t incarnation = 0;
    std::uint64_t epoch = 0;  // advances at every reset and power-off: what was in flight dies
    Duration phase{};
    std::map<NetRole, bool> link_up{
        {NetRole::kCluster, true}, {NetRole::kVmUplink, true}, {NetRole::kStorage, true}};
    bool path_failed = false;
    bool path_stalled = false;
    bool in_flight = false;
    std::map<std::string, Qemu> qemu;
    std::optional<Duration> last_pet;
    bool refused_pet = false;  // the driver's last word to the watchdog was "no"
    std::optional<Duration> refused_since;
    bool refused_while_quorate = false;  // ... at a heartbeat where it was in the quorate partition
    // Since the last pet, every heartbeat found it in a quorate configuration whose
    // ring worked: it could always show its peers that it lived.
    bool provable_since_pet = true;
    // This daemon run has learnt that its peers hear it (its own status came back
    // through the cluster, or a slot write of it landed), or it petted. Until then it
    // cannot tell a status that is late from one that never arrives (r903899), so
    // its withholding chooses nothing: the watchdog runs on the last run's pet.
    // A frozen vigild that thaws is in the same place: its proof is from before the
    // freeze, so only what it sent from heard_from on counts (x21).
    bool run_heard = false;
    Duration heard_from{};
    bool restarted = false;  // this daemon run is systemd's restart after a crash
    bool thawed = false;     // this daemon run was frozen and thawed
    Duration wall_offset{};
    bool reboot_requested = false;
    // The driver asked for an early heartbeat (ports::Pacer): its slot read, then
    // the heartbeat a read lead later.
    std::optional<Duration> early_read_at;
    std::optional<Duration> early_beat_at;
    std::unique_ptr<HostPorts> ports;
    std::optional<driver::HostDriver> driver;
    // What the daemon has not taken yet: a frozen daemon finds it all when it thaws.
    std::deque<std::pair<std::uint64_t, std::function<void(driver::HostDriver&)>>> inbox;
    Lane write_lane;
    Lane read_lane;
    // What this daemon run has been told, so that watchers report changes only.
    std::map<std::string, std::tuple<core::StorageHealth, bool, bool>> storage_seen;
    // This daemon run's storage watchers (Scenario::storage_watcher), per domain.
    struct Watcher {
        core::StorageMonitor monitor;
        std::uint64_t errors = 0;
        std::uint64_t no_space = 0;
        std::optional<Duration> waiting_since;
        std::optional<core::TimePoint> probe_ok_issued;  // the last probe that answered
    };
    std::map<std::string, Watcher> watchers;
    std::map<NetRole, bool> links_seen;
    std::optional<core::MembershipEvidence> view_seen;
    std::map<std::string, std::string> fail_next_start;    // vm -> "failed" or "timeout"
    std::map<std::string, std::string> fail_next_migrate;  // vm -> "failed" or "timeout"
    std::vector<StaleWrite> stale;
    std::optional<Duration> slot_landed_at;  // when its last slot write landed
    // Cluster deliveries to this host come this late (a loaded host, a slow ring), in
    // order: a message never overtakes an earlier one.
    Duration delivery_delay{};
    Duration last_delivery_at{};
};

// The ports of one daemon run on one simulated host. Every call returns at once;
// what it causes happens in the world later (World::later), and its outcome reaches
// the driver through the host's inbox, never inside the call.
class HostPorts final : public ports::Clock,
                        public ports::Hypervisor,
                        public ports::HeartbeatStore,
                        public ports::Cluster,
                        public ports::Watchdog,
                        public ports::Fencer,
                        public ports::EventSink,
                        public ports::Pacer {
  public:
    HostPorts(World& world, World::Host& host) : w_(world), h_(host) {}

    driver::Ports all() {
        return driver::Ports{.clock = *this,
                             .hypervisor = *this,
                             .heartbeat = *this,
                             .cluster = *this,
                             .watchdog = *this,
                             .fencer = *this,
                             .events = *this,
                             .pacer = *this};
    }

    void beat_early(core::TimePoint read_at) override {
        h_.early_read_at = read_at.time_since_epoch();
    }

    core::TimePoint now() const override { return w_.time(); }
    std::chrono::system_clock::time_point wall() const override {
        // 2026-01-01T00:00:00Z at simulated time zero, plus what clock-jump moved.
        return std::chrono::system_clock::time_point{std::chrono::seconds{1767225600}} +
               std::chrono::duration_cast<std::chrono::system_clock::duration>(w_.now_ +
                                                                               h_.wall_offset);
    }

    ports::RequestId start(const std::string& vm) override {
        const auto id = ++w_.next_request_;
        if (w_.global_storage_outage())
            w_.violation(h_.name + " starts " + vm + " during a cluster-wide storage outage");
        for (const auto& [oid, o] : w_.hosts_) {
            if (oid == h_.id || !o->qemu.contains(vm)) continue;
            const bool can_write = w_.up(*o) && w_.storage_reachable(*o, w_.domain_of(vm));
            w_.violation(vm + " started on " + h_.name + " while " + o->name + " still has it" +
                         (can_write ? " and can write its disks" : ""));
        }
        // What the port starts outlives this daemon run: capture the world and the host.
        w_.later(h_, w_.s_.start_time,
                 [w = &w_, h = &h_, id, vm] { w->complete_start(*h, id, vm); });
        return id;
    }
    ports::RequestId stop(const std::string& vm) override {
        const auto id = ++w_.next_request_;
        // As fence::VmStopJob: a running guest gets its grace to shut down (simulated
        // guests never do, so it is destroyed when the grace runs out); a paused one
        // cannot shut down and is destroyed at once.
        const auto it = h_.qemu.find(vm);
        const auto grace = it != h_.qemu.end() && it->second.state == VmState::kRunning
                               ? w_.s_.stop_grace
                               : Duration{};
        w_.later(h_, grace, [w = &w_, h = &h_, id, vm] { w->complete_stop(*h, id, vm); });
        return id;
    }
    ports::RequestId resume(const std::string& vm) override {
        const auto id = ++w_.next_request_;
        w_.later(h_, Duration{}, [w = &w_, h = &h_, id, vm] { w->complete_resume(*h, id, vm); });
        return id;
    }
    ports::RequestId migrate(const std::string& vm, core::HostId target) override {
        const auto id = ++w_.next_request_;
        w_.later(h_, Duration{},
                 [w = &w_, h = &h_, id, vm, target] { w->begin_migration(*h, id, vm, target); });
        return id;
    }
    void refresh() override {
        w_.later(h_, Duration{}, [w = &w_, h = &h_] { w->complete_refresh(*h); });
    }

    void submit_write(const core::HostStatus& status, core::TimePoint) override {
        submit(h_.write_lane, World::SlotOp{.write = true,
                                            .status = as_written(status),
                                            .submitted = w_.now_,
                                            .incarnation = h_.incarnation});
    }
    void submit_read(core::TimePoint) override {
        submit(h_.read_lane,
               World::SlotOp{.write = false, .submitted = w_.now_, .incarnation = h_.incarnation});
    }

    void broadcast(const core::HostStatus& status) override {
        w_.broadcast(h_, as_written(status));
    }

    void pet() override {
        if (w_.s_.broken_stops_petting_in_outage && (sabotaged_ || w_.known_outage_at(w_.now_))) {
            sabotaged_ = true;
            withhold(core::Reason::kNoQuorumNoStorage);
            return;
        }
        if (w_.s_.broken_restarted_daemon_never_pets && h_.restarted) {
            withhold(core::Reason::kNoQuorumNoStorage);
            return;
        }
        if (w_.s_.broken_thawed_daemon_never_pets && h_.thawed) {
            withhold(core::Reason::kNoQuorumNoStorage);
            return;
        }
        h_.last_pet = w_.now_;
        h_.refused_pet = false;
        h_.refused_since.reset();
        h_.refused_while_quorate = false;
        h_.provable_since_pet = true;
        h_.run_heard = true;
    }
    void withhold(core::Reason) override {
        if (!h_.refused_pet) h_.refused_since = w_.now_;
        h_.refused_pet = true;
        if (w_.in_quorate_partition(h_)) h_.refused_while_quorate = true;
    }

    void write_last_words(const core::Decision& why,
                          std::chrono::system_clock::time_point wall) override {
        const auto t = std::chrono::system_clock::to_time_t(wall);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char stamp[32];
        std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count() %
            1000;
        char full[48];
        std::snprintf(full, sizeof full, "%s.%03lldZ", stamp, static_cast<long long>(ms));
        const bool in_slot = w_.storage_reachable(h_, "shared");
        w_.log(h_.name, std::string("last-words wall=") + full +
                            " slot=" + (in_slot ? "written" : "unreachable") + " " +
                            std::string(core::name(why.kind)));
    }
    void reboot_now() override { h_.reboot_requested = true; }
    ports::RequestId fence_peer(core::HostId peer) override {
        const auto id = ++w_.next_request_;
        w_.request_fence(h_, id, peer);
        return id;
    }

    void decision(core::TimePoint, const core::Decision& d) override {
        w_.log(h_.name, core::to_string(d));
        // Observed, not carried out: a peer called dead must really be gone.
        if (d.kind == core::DecisionKind::kPeerClass && d.peer_class == core::PeerClass::kDead &&
            d.reason != core::Reason::kFenceConfirmed && w_.hosts_.contains(d.peer->value)) {
            const World::Host& p = *w_.hosts_.at(d.peer->value);
            if (w_.up(p) && !p.qemu.empty())
                w_.violation(h_.name + " declared " + p.name + " dead while it still runs VMs");
            if (w_.global_storage_outage()) {
                w_.violation(h_.name + " declared " + p.name +
                             " dead during a cluster-wide storage outage");
            }
        }
    }
    void outcome(core::TimePoint, const core::ActionEvidence& a) override {
        w_.log(h_.name, core::to_string(a));
    }

  private:
    // What this host's release writes: the release before the freeze knew neither
    // flag (and never froze).
    core::HostStatus as_written(core::HostStatus status) const {
        if (h_.older_release) status.knows_freeze = status.frozen = false;
        return status;
    }
    void submit(World::Lane& lane, World::SlotOp op) {
        if (lane.in_flight) {
            lane.waiting = std::move(op);  // the newest waits; an older waiting one is dropped
            return;
        }
        lane.in_flight = std::move(op);
        lane.started = w_.now_;
    }

    World& w_;
    World::Host& h_;
    bool sabotaged_ = false;
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
    vm_policies_ = s_.policy.vms;
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
        if (hosts_.contains(p.host)) {
            hosts_.at(p.host)->qemu[p.vm] = Qemu{.state = VmState::kRunning, .generation = 1};
            generation_[p.vm] = 1;
        }
    }
    for (auto& [id, h] : hosts_) start_daemon(*h);
    effective_ = pending_ = raw_partitions();
}

World::~World() {
    for (auto& [id, h] : hosts_) stop_daemon(*h);
}

World::Host& World::host(std::uint32_t id) { return *hosts_.at(id); }

bool World::up(const Host& h) const { return h.powered && !h.booting_until; }

bool World::daemon_live(const Host& h) const {
    return up(h) && !h.frozen && !h.daemon_frozen && h.driver.has_value();
}

const driver::HostDriver* World::driver_of(std::uint32_t id) const {
    const auto it = hosts_.find(id);
    if (it == hosts_.end() || !it->second->driver) return nullptr;
    return &*it->second->driver;
}

void World::log(const std::string& who, std::string text) {
    result_.log.push_back({now_, who, std::move(text)});
}

void World::violation(const std::string& text) {
    if (result_.violations.size() < 50) {
        result_.violations.push_back(seconds(now_) + " " + text);
        log("world", "SAFETY VIOLATION: " + text);
    }
}

void World::later(Host& h, Duration delay, std::function<void()> run) {
    pending_events_.push_back(Pending{.at = now_ + delay,
                                      .seq = ++seq_,
                                      .host = h.id,
                                      .host_epoch = h.epoch,
                                      .run = std::move(run)});
    std::ranges::push_heap(pending_events_, std::greater<>{}, [](const Pending& p) {
        return std::pair{p.at, p.seq};
    });
}

void World::run_pending() {
    const auto key = [](const Pending& p) { return std::pair{p.at, p.seq}; };
    while (!pending_events_.empty() && pending_events_.front().at <= now_) {
        std::ranges::pop_heap(pending_events_, std::greater<>{}, key);
        Pending p = std::move(pending_events_.back());
        pending_events_.pop_back();
        if (host(p.host).epoch == p.host_epoch) p.run();
    }
}

void World::deliver(Host& h, std::function<void(driver::HostDriver&)> fn) {
    if (!h.driver) return;
    h.inbox.emplace_back(h.incarnation, std::move(fn));
}

void World::drain_inboxes() {
    for (auto& [id, h] : hosts_) {
        while (daemon_live(*h) && !h->inbox.empty()) {
            auto [incarnation, fn] = std::move(h->inbox.front());
            h->inbox.pop_front();
            if (incarnation == h->incarnation) fn(*h->driver);
        }
    }
}

std::string World::domain_of(const std::string& vm) const {
    const auto it = std::ranges::find(vm_policies_, vm, &core::VmPolicy::name);
    return it == vm_policies_.end() ? "shared" : it->storage_domain;
}

bool World::storage_reachable(const Host& h, const std::string& domain) const {
    if (!up(h) || h.path_failed || h.path_stalled || !h.link_up.at(NetRole::kStorage)) return false;
    return !failed_domains_.contains(domain) && !stalled_domains_.contains(domain);
}

bool World::storage_stalled(const Host& h, const std::string& domain) const {
    const bool failed =
        h.path_failed || !h.link_up.at(NetRole::kStorage) || failed_domains_.contains(domain);
    return !failed && (h.path_stalled || stalled_domains_.contains(domain));
}

bool World::global_storage_outage() const {
    // The storage itself is down (array, NFS server), not one host's path to it.
    return failed_domains_.contains("shared") || stalled_domains_.contains("shared");
}

bool World::known_outage_at(Duration t) const {
    return std::ranges::any_of(outages_, [&](const auto& o) {
        return t >= o.first + 2 * s_.policy.heartbeat_interval && (!o.second || t <= *o.second);
    });
}

std::vector<std::vector<std::uint32_t>> World::raw_partitions() const {
    std::map<int, std::vector<std::uint32_t>> groups;
    for (const auto& [id, h] : hosts_) {
        if (!up(*h) || h->frozen || !h->link_up.at(NetRole::kCluster)) continue;
        const auto g = partition_group_.find(id);
        groups[g == partition_group_.end() ? 0 : g->second].push_back(id);
    }
    std::vector<std::vector<std::uint32_t>> out;
    out.reserve(groups.size());
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

// Totem ordering: a message is delivered to every member of the configuration, the
// sender included, or, while the ring is broken (a member cut off, hung or gone, and
// the new configuration not formed yet), to nobody.
bool World::ring_intact(const Host& h) const {
    const auto* mine = effective_partition(h.id);
    if (mine == nullptr) return false;
    const auto raw = raw_partitions();
    return std::ranges::any_of(raw, [&](const auto& group) {
        return std::ranges::all_of(
            *mine, [&](auto id) { return std::ranges::find(group, id) != group.end(); });
    });
}

core::MembershipEvidence World::membership_view(const Host& h) const {
    core::MembershipEvidence m;
    if (const auto* p = effective_partition(h.id)) {
        for (auto id : *p) m.members.push_back(HostId{id});
        m.quorate = p->size() * 2 > hosts_.size();
    }
    return m;
}

core::StorageEvidence World::storage_view(const Host& h, const std::string& d) const {
    core::StorageEvidence ev{.domain = d};
    const bool failed =
        h.path_failed || !h.link_up.at(NetRole::kStorage) || failed_domains_.contains(d);
    const bool stalled = h.path_stalled || stalled_domains_.contains(d);
    if (failed || stalled) {
        ev.health =
            stalled && !failed ? core::StorageHealth::kStalled : core::StorageHealth::kFailed;
        // Writes a destroyed qemu left queued are requests in flight like any other.
        ev.io_in_flight = (h.in_flight || !h.stale.empty()) && !s_.broken_in_flight_counter;
    } else if (full_domains_.contains(d)) {
        ev.health = core::StorageHealth::kNoSpace;
    }
    return ev;
}

// What vigild's watcher makes of the path's state (Scenario::storage_watcher): the
// same StorageMonitor, fed one sample per step.
core::StorageEvidence World::watch_storage(Host& h, const std::string& d) {
    auto ev = storage_view(h, d);
    if (!s_.storage_watcher) return ev;
    auto it = h.watchers.find(d);
    if (it == h.watchers.end())
        it = h.watchers
                 .emplace(d, Host::Watcher{.monitor = core::StorageMonitor(*s_.storage_watcher)})
                 .first;
    auto& w = it->second;
    const bool stalled = ev.health == core::StorageHealth::kStalled;
    if (ev.health == core::StorageHealth::kFailed) ++w.errors;
    if (!stalled) {
        w.waiting_since.reset();
    } else if (!w.waiting_since) {
        w.waiting_since = now_;
    }
    if (ev.health == core::StorageHealth::kNoSpace) ++w.no_space;
    // vigild probes a failed device itself at every sample; a probe answers
    // within the step (milliseconds) when the path works.
    if (ev.health != core::StorageHealth::kFailed && !stalled &&
        w.monitor.health() == core::StorageHealth::kFailed)
        w.probe_ok_issued = time();
    (void)w.monitor.observe(
        core::StorageSample{.now = time(),
                            .in_flight = stalled ? 1u : 0u,
                            .oldest_in_flight = stalled ? now_ - *w.waiting_since : Duration{},
                            .gone_errors = w.errors,
                            .no_space_errors = w.no_space,
                            .probe_ok_issued = w.probe_ok_issued});
    const auto health = w.monitor.health();
    const bool troubled =
        health == core::StorageHealth::kFailed || health == core::StorageHealth::kStalled;
    return core::StorageEvidence{.domain = d,
                                 .health = health,
                                 .io_in_flight = troubled && (h.in_flight || !h.stale.empty()) &&
                                                 !s_.broken_in_flight_counter,
                                 .answering = w.monitor.answering()};
}

std::vector<core::VmEvidence> World::inventory(const Host& h) const {
    std::vector<core::VmEvidence> out;
    out.reserve(h.qemu.size());
    for (const auto& [vm, q] : h.qemu) out.push_back({.vm = vm, .state = q.state});
    return out;
}

void World::start_daemon(Host& h) {
    ++h.incarnation;
    h.inbox.clear();
    h.storage_seen.clear();
    h.watchers.clear();
    h.links_seen.clear();
    h.view_seen.reset();
    h.ports = std::make_unique<HostPorts>(*this, h);
    h.early_read_at.reset();
    h.early_beat_at.reset();
    // The HA VMs and their policy come from libvirt's metadata, not from the config.
    auto policy = s_.policy;
    policy.vms.clear();
    const auto accepted = s_.watchdog_accepts.value_or(s_.policy.watchdog_timeout);
    auto d = driver::HostDriver::make(std::move(policy), HostId{h.id}, h.incarnation, accepted,
                                      h.ports->all());
    if (!d) {
        violation("vigild refused to start on " + h.name + ": " + d.error().message);
        h.ports.reset();
        return;
    }
    h.driver.emplace(std::move(*d));
    h.run_heard = false;
    h.heard_from = now_;
    h.thawed = false;
    h.driver->start();
    h.daemon_running = true;
    h.daemon_restart_at.reset();
}

void World::stop_daemon(Host& h) {
    h.stop_deadline.reset();
    h.early_read_at.reset();
    h.early_beat_at.reset();
    h.driver.reset();
    h.ports.reset();
    h.inbox.clear();
    h.daemon_running = false;
}

void World::boot(Host& h) {
    h.booting_until.reset();
    log("world", "booted " + h.name);
    h.restarted = false;
    start_daemon(h);
}

void World::reset(Host& h, const std::string& why, bool reboot) {
    // Only a reset the engine chose (it stopped petting, or rebooted) is a fence; a
    // daemon that crashed or hung for longer than the watchdog timeout is not, nor
    // one restarted too late for its first status to come back before the last
    // run's pet runs out (run_heard).
    // A host that lost quorum (even if the old configuration still listed it when it
    // stopped petting) may have to go: only a host quorate throughout is wrongly fenced.
    const bool chosen = why == "self-fence-reboot"
                            ? in_quorate_partition(h)
                            : why == "watchdog-reset" && h.refused_pet && h.refused_while_quorate &&
                                  h.provable_since_pet && h.run_heard && in_quorate_partition(h);
    // Caused by a cluster-wide storage outage: it happens during one, or the pets
    // stopped during one (the reset itself may come after the array is back).
    const bool by_outage =
        known_outage_at(now_) || (h.refused_since && known_outage_at(*h.refused_since));
    if (chosen && by_outage) {
        violation(h.name + " fenced (" + why + ") by a cluster-wide storage outage while quorate");
    }
    if (why != "power-off") log("world", why + " " + h.name);
    stop_daemon(h);
    ++h.epoch;
    h.qemu.clear();
    h.daemon_restart_at.reset();
    h.frozen = false;
    h.daemon_frozen = false;
    h.last_pet.reset();
    h.refused_pet = false;
    h.refused_since.reset();
    h.refused_while_quorate = false;
    h.provable_since_pet = true;
    h.in_flight = false;
    h.reboot_requested = false;
    h.write_lane = {};
    h.read_lane = {};
    h.stale.clear();  // a reset ends the I/O the host still had queued
    if (reboot) {
        h.booting_until = now_ + s_.boot_time;
    } else {
        h.powered = false;
    }
}

void World::set_qemu(Host& h, const std::string& vm, VmState state) {
    auto& q = h.qemu[vm];
    const bool changed = q.state != state || q.generation == 0;
    q.state = state;
    if (q.generation == 0) q.generation = generation_[vm];
    if (changed) {
        deliver(h, [vm, state](driver::HostDriver& d) {
            d.observe(core::VmEvidence{.vm = vm, .state = state});
        });
    }
}

void World::erase_qemu(Host& h, const std::string& vm) {
    if (h.qemu.erase(vm) == 0) return;
    deliver(h, [vm](driver::HostDriver& d) {
        d.observe(core::VmEvidence{.vm = vm, .state = VmState::kShutOff});
    });
}

void World::complete_start(Host& h, std::uint64_t id, const std::string& vm) {
    core::ActionEvidence r{.vm = vm, .action = core::VmAction::kStart};
    const std::string domain = domain_of(vm);
    std::string holder;
    for (const auto& [oid, o] : hosts_) {
        if (oid != h.id && o->qemu.contains(vm)) holder = o->name;
    }
    const auto scripted = h.fail_next_start.find(vm);
    if (h.qemu.contains(vm)) {
        r.detail = "already running";
    } else if (!holder.empty()) {
        // The lock manager's lease refuses the second start (the start itself was
        // already a violation when it was asked for).
        r.outcome = core::ActionOutcome::kLockedElsewhere;
        r.detail = "disks leased by " + holder;
    } else if (leased_.contains(vm)) {
        r.outcome = core::ActionOutcome::kLockedElsewhere;
        r.detail = "disks leased elsewhere";
    } else if (scripted != h.fail_next_start.end()) {
        const bool timeout = scripted->second == "timeout";
        h.fail_next_start.erase(scripted);
        if (timeout) {
            // No answer in time, and the start goes on: qemu comes up a second later.
            r.outcome = core::ActionOutcome::kTimedOut;
            later(h, std::chrono::seconds{1}, [this, &h, vm, domain] {
                if (!storage_reachable(h, domain) || h.qemu.contains(vm)) return;
                ++generation_[vm];
                set_qemu(h, vm, VmState::kRunning);
            });
        } else {
            r.outcome = core::ActionOutcome::kFailed;
            r.detail = "qemu exited at start";
        }
    } else if (!storage_reachable(h, domain)) {
        r.outcome = core::ActionOutcome::kFailed;
        r.detail = "cannot open disk";
    } else {
        ++generation_[vm];
        set_qemu(h, vm,
                 full_domains_.contains(domain) ? VmState::kPausedIoError : VmState::kRunning);
    }
    deliver(h, [id, r](driver::HostDriver& d) { d.on_action(id, r); });
}

void World::complete_stop(Host& h, std::uint64_t id, const std::string& vm) {
    if (const auto it = h.qemu.find(vm); it != h.qemu.end()) {
        const std::string domain = domain_of(vm);
        // Destroying qemu does not take back what the host's kernel still has queued
        // for a path that is down: it lands when the path returns, unless a reset
        // ends it first.
        if (h.in_flight && !storage_reachable(h, domain)) {
            h.stale.push_back({.vm = vm, .domain = domain, .generation = it->second.generation});
        }
        erase_qemu(h, vm);
    }
    const core::ActionEvidence r{.vm = vm, .action = core::VmAction::kStop};
    deliver(h, [id, r](driver::HostDriver& d) { d.on_action(id, r); });
}

void World::complete_resume(Host& h, std::uint64_t id, const std::string& vm) {
    core::ActionEvidence r{.vm = vm, .action = core::VmAction::kResume};
    const auto it = h.qemu.find(vm);
    if (it == h.qemu.end()) {
        r.outcome = core::ActionOutcome::kFailed;
        r.detail = "not running here";
    } else if (it->second.state == VmState::kPausedIoError ||
               it->second.state == VmState::kPaused) {
        // qemu resumes; if its storage still fails it pauses again at its next write.
        set_qemu(h, vm, VmState::kRunning);
    }
    deliver(h, [id, r](driver::HostDriver& d) { d.on_action(id, r); });
}

void World::request_fence(Host& h, std::uint64_t id, core::HostId peer) {
    const auto it = hosts_.find(peer.value);
    if (it != hosts_.end()) {
        // Judged when the core asks: shooting a host that could still show it lives
        // is the split-brain cure that kills VMs for nothing.
        const Host& p = *it->second;
        if (up(p) && in_quorate_partition(p) && !p.frozen)
            violation(h.name + " asked to power off " + p.name +
                      " while it was in the quorate partition");
        // Its slot kept moving, early enough for our reads to have seen it: it was
        // isolated, not silent.
        const auto hb = s_.policy.heartbeat_interval;
        if (p.slot_landed_at && now_ - *p.slot_landed_at >= hb &&
            now_ - *p.slot_landed_at <= 2 * hb)
            violation(h.name + " asked to power off " + p.name + " while it still wrote its slot");
        // It petted its watchdog within the last heartbeat: it could show that it lives.
        if (daemon_live(p) && p.last_pet && now_ - *p.last_pet < hb)
            violation(h.name + " asked to power off " + p.name + " while it petted its watchdog");
        if (global_storage_outage())
            violation(h.name + " asked to power off " + p.name +
                      " during a cluster-wide storage outage");
    }
    const bool broken = it == hosts_.end() || bmc_broken_.contains(peer.value);
    // The BMC cuts the power at once; the agent confirms when its status poll says off.
    if (!broken) {
        later(h, s_.step, [this, peer] {
            Host& p = host(peer.value);
            if (!p.powered) return;
            log("world", "bmc-power-off " + p.name);
            reset(p, "bmc-power-off", false);
        });
    }
    later(h, s_.bmc_time, [this, &h, id, broken] {
        deliver(h, [id, broken](driver::HostDriver& d) {
            d.on_fence(id, !broken, broken ? "no answer from the BMC" : "");
        });
    });
}

void World::complete_refresh(Host& h) {
    auto policies = vm_policies_;
    auto listing = inventory(h);
    deliver(h,
            [policies = std::move(policies), listing = std::move(listing)](driver::HostDriver& d) {
                // The adapter promises no order: the listing first, the harder one.
                d.observe(core::VmInventoryEvidence{.vms = listing});
                d.observe(core::VmPolicyEvidence{.vms = policies});
            });
}

void World::begin_migration(Host& h, std::uint64_t id, const std::string& vm, core::HostId target) {
    const auto fail = [&](std::string why) {
        const core::ActionEvidence r{.vm = vm,
                                     .action = core::VmAction::kMigrate,
                                     .outcome = core::ActionOutcome::kFailed,
                                     .detail = std::move(why)};
        deliver(h, [id, r](driver::HostDriver& d) { d.on_action(id, r); });
    };
    for (const auto& [oid, o] : hosts_) {
        if (oid != h.id && o->qemu.contains(vm))
            violation(vm + " migrated from " + h.name + " while " + o->name + " has it");
    }
    const auto it = hosts_.find(target.value);
    const auto q = h.qemu.find(vm);
    if (it == hosts_.end() || it->first == h.id) return fail("no such target");
    Host& t = *it->second;
    if (q == h.qemu.end() || q->second.incoming) return fail("not running here");
    if (q->second.state != VmState::kRunning) return fail("not running");
    if (moves_.contains(vm)) return fail("already migrating");
    // The hypervisors talk over the cluster network (libvirt's migration URI).
    if (!up(t) || t.frozen || !h.link_up.at(NetRole::kCluster) || !t.link_up.at(NetRole::kCluster))
        return fail("cannot reach " + t.name);
    if (t.qemu.contains(vm)) return fail("already defined and active on " + t.name);
    if (!storage_reachable(t, domain_of(vm))) return fail(t.name + " cannot open its disks");
    moves_[vm] = Move{.id = id,
                      .source = h.id,
                      .target = t.id,
                      .source_epoch = h.epoch,
                      .target_epoch = t.epoch,
                      .done_at = now_ + s_.migrate_time};
    if (const auto f = h.fail_next_migrate.find(vm); f != h.fail_next_migrate.end()) {
        moves_[vm].scripted = f->second;
        h.fail_next_migrate.erase(f);
    }
    log("world", "migration " + vm + " " + h.name + " -> " + t.name + " begins");
    t.qemu[vm] =
        Qemu{.state = VmState::kPaused, .generation = q->second.generation, .incoming = true};
    deliver(t, [vm](driver::HostDriver& d) {
        d.observe(core::VmEvidence{.vm = vm, .state = VmState::kPaused});
    });
}

void World::advance_migrations() {
    std::vector<std::string> ended;
    for (auto& [vm, m] : moves_) {
        Host& src = host(m.source);
        Host& dst = host(m.target);
        const auto sq = src.qemu.find(vm);
        const auto dq = dst.qemu.find(vm);
        const bool source_ok = up(src) && !src.frozen && src.epoch == m.source_epoch &&
                               sq != src.qemu.end() && sq->second.state == VmState::kRunning;
        const bool target_ok = up(dst) && !dst.frozen && dst.epoch == m.target_epoch &&
                               dq != dst.qemu.end() && dq->second.incoming;
        const bool linked = src.link_up.at(NetRole::kCluster) && dst.link_up.at(NetRole::kCluster);
        std::optional<core::ActionEvidence> r;
        if (!source_ok || !target_ok || !linked) {
            r = core::ActionEvidence{.vm = vm,
                                     .action = core::VmAction::kMigrate,
                                     .outcome = core::ActionOutcome::kFailed,
                                     .detail = !source_ok   ? "source lost the guest"
                                               : !target_ok ? "target gone"
                                                            : "connection to the target lost"};
        } else if (now_ >= m.done_at && !m.scripted.empty()) {
            const bool timeout = m.scripted == "timeout";
            r = core::ActionEvidence{
                .vm = vm,
                .action = core::VmAction::kMigrate,
                .outcome = timeout ? core::ActionOutcome::kTimedOut : core::ActionOutcome::kFailed,
                .detail = timeout ? "aborted at the time limit" : "migration failed"};
        } else if (now_ >= m.done_at) {
            // The hand-over is atomic: the source's qemu ends as the target's runs.
            log("world", "migration " + vm + " " + src.name + " -> " + dst.name + " done");
            erase_qemu(src, vm);
            dq->second.incoming = false;
            set_qemu(dst, vm, VmState::kRunning);
            r = core::ActionEvidence{.vm = vm, .action = core::VmAction::kMigrate};
        } else {
            continue;
        }
        if (r->outcome != core::ActionOutcome::kDone) {
            log("world", "migration " + vm + " " + src.name + " -> " + dst.name + " fails (" +
                             r->detail + ")");
            if (dq != dst.qemu.end() && dq->second.incoming) erase_qemu(dst, vm);
        }
        if (src.epoch == m.source_epoch)
            deliver(src, [id = m.id, r = *r](driver::HostDriver& d) { d.on_action(id, r); });
        ended.push_back(vm);
    }
    for (const auto& vm : ended) moves_.erase(vm);
}

void World::broadcast(Host& h, const core::HostStatus& status) {
    const auto* mine = effective_partition(h.id);
    if (mine == nullptr || !ring_intact(h)) return;
    for (auto id : *mine) {
        Host& o = host(id);
        if (!up(o) || o.frozen) continue;
        const auto at = std::max(now_ + o.delivery_delay, o.last_delivery_at);
        o.last_delivery_at = at;
        // A message in a format the receiver does not read reaches it as what the
        // cluster adapter makes of it: refused, and a sign that its sender runs.
        if (h.newer_format && !o.newer_format &&
            !refused_as_newer(o, h, formats::next_major(status)))
            continue;
        const bool unreadable = h.newer_format && !o.newer_format;
        later(o, at - now_, [this, &o, status, sent = now_, unreadable] {
            deliver(o, [&o, status, sent, unreadable](driver::HostDriver& d) {
                if (unreadable) {
                    d.observe(core::PeerUnreadableEvidence{.peer = status.host});
                    return;
                }
                if (status.host.value == o.id && status.incarnation == o.incarnation &&
                    sent >= o.heard_from)
                    o.run_heard = true;
                d.observe(core::PeerMessageEvidence{.status = status});
            });
        });
    }
}

void World::advance_lanes() {
    for (auto& [id, hp] : hosts_) {
        Host& h = *hp;
        if (!up(h)) continue;
        for (Lane* lane : {&h.write_lane, &h.read_lane}) {
            if (!lane->in_flight) continue;
            if (storage_stalled(h, "shared")) continue;  // completes when the stall ends
            const bool ok = storage_reachable(h, "shared");
            const SlotOp op = std::move(*lane->in_flight);
            lane->in_flight = std::move(lane->waiting);
            lane->waiting.reset();
            lane->started = now_;
            // The I/O happened whether or not the daemon that asked still runs.
            if (op.write && ok) {
                slots_[h.name] = h.newer_format ? formats::next_major(op.status)
                                                : core::encode_status(op.status);
                slot_status_[h.name] = op.status;
                h.slot_landed_at = now_;
            }
            if (op.write && now_ - op.submitted >= s_.policy.heartbeat_interval) {
                log("world", "slot-write from=" + h.name + " lands late after " +
                                 seconds(now_ - op.submitted) + " s" +
                                 (ok ? "" : " with an error"));
            }
            if (!h.driver || h.incarnation != op.incarnation) continue;
            if (op.write) {
                const core::SlotWriteEvidence ev{
                    .ok = ok, .latency = now_ - op.submitted, .sequence = op.status.sequence};
                deliver(h, [&h, ev, sent = op.submitted](driver::HostDriver& d) {
                    if (ev.ok && sent >= h.heard_from) h.run_heard = true;
                    d.observe(ev);
                });
                continue;
            }
            core::SlotReadEvidence read{.ok = ok};
            if (ok) {
                for (const auto& [name, text] : slots_) {
                    auto st = core::decode_status(text);
                    if (st) {
                        read.slots.push_back(std::move(*st));
                    } else if (st.error().reason != core::Refusal::kNewerFormat) {
                        violation("slot of " + name + " does not decode: " + st.error().message);
                    } else if (h.newer_format) {
                        read.slots.push_back(slot_status_[name]);  // it reads its own format
                    } else {
                        Host& writer = host(slot_status_[name].host.value);
                        if (refused_as_newer(h, writer, text))
                            read.unreadable.push_back(
                                {slot_status_[name].host, core::fingerprint(text)});
                    }
                }
            }
            deliver(h, [read = std::move(read)](driver::HostDriver& d) { d.observe(read); });
        }
    }
}

void World::land_stale_writes() {
    for (auto& [id, hp] : hosts_) {
        Host& h = *hp;
        std::erase_if(h.stale, [&](const StaleWrite& w) {
            if (!storage_reachable(h, w.domain)) return false;
            log("world", "stale-write vm=" + w.vm + " from=" + h.name + " lands");
            if (generation_[w.vm] > w.generation) {
                violation("a write of " + w.vm + " from " + h.name +
                          "'s destroyed instance landed after it started again");
            }
            return true;
        });
    }
}

void World::update_views() {
    for (auto& [id, hp] : hosts_) {
        Host& h = *hp;
        if (!up(h) || h.frozen || !h.driver) continue;
        // Corosync runs on while vigild is frozen: its views wait in the IPC queue.
        auto m = membership_view(h);
        if (!h.view_seen || h.view_seen->members != m.members ||
            h.view_seen->quorate != m.quorate) {
            h.view_seen = m;
            deliver(h, [m](driver::HostDriver& d) { d.observe(m); });
        }
        if (h.daemon_frozen) continue;  // the watchers are vigild's own
        for (const auto& domain : s_.domains) {
            const auto ev = watch_storage(h, domain);
            const std::tuple seen{ev.health, ev.io_in_flight, ev.answering};
            const auto it = h.storage_seen.find(domain);
            if (it != h.storage_seen.end() && it->second == seen) continue;
            h.storage_seen[domain] = seen;
            deliver(h, [ev](driver::HostDriver& d) { d.observe(ev); });
        }
        for (const auto& [role, ok] : h.link_up) {
            const auto it = h.links_seen.find(role);
            if (it != h.links_seen.end() && it->second == ok) continue;
            h.links_seen[role] = ok;
            const core::LinkEvidence ev{
                .role = role, .state = ok ? core::LinkState::kUp : core::LinkState::kDown};
            deliver(h, [ev](driver::HostDriver& d) { d.observe(ev); });
        }
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
        if (h->daemon_frozen && !h->inbox.empty())
            log("world", "backlog " + h->name + " " + std::to_string(h->inbox.size()) + " events");
        if (h->daemon_frozen) {
            h->run_heard = false;
            h->heard_from = now_;
            h->thawed = true;
        }
        h->daemon_frozen = false;
    } else if (verb == "crash-daemon" && h) {
        if (h->daemon_running) {
            h->refused_pet = false;
            h->refused_since.reset();
            h->refused_while_quorate = false;
            stop_daemon(*h);
            h->daemon_restart_at = now_ + s_.restart_delay;
        }
    } else if (verb == "stop-daemon" && h) {
        // systemctl stop: SIGTERM, and no restart. The daemon freezes if its core
        // allows it; otherwise it exits at once with the watchdog armed.
        if (daemon_live(*h) && !h->stop_deadline) {
            const auto check = h->driver->freeze();
            if (check.ok()) {
                h->stop_deadline = now_ + h->driver->freeze_wait();
                log("world", "freezing " + h->name);
            } else {
                std::string why;
                for (const auto b : check.blockers)
                    why += (why.empty() ? "" : "; ") + std::string(core::name(b));
                for (const auto id : check.unaware) why += " " + core::host_name(id);
                log("world", "vigild stopped on " + h->name + " without a freeze (" + why +
                                 "), watchdog armed");
                stop_daemon(*h);
            }
        }
    } else if (verb == "start-daemon" && h) {
        if (up(*h) && !h->driver) {
            log("world", "vigild started on " + h->name);
            start_daemon(*h);
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
            if (!global_storage_outage()) outages_.emplace_back(now_, std::nullopt);
            for (const auto& d : s_.domains)
                (has("stall") ? stalled_domains_ : failed_domains_).insert(d);
            // A new failure never clears what an earlier one left queued: only a path
            // that comes back (or a reset) settles it.
            for (auto& [id, x] : hosts_) x->in_flight = x->in_flight || has("inflight");
        } else if (h) {
            (has("stall") ? h->path_stalled : h->path_failed) = true;
            h->in_flight = h->in_flight || has("inflight");
        }
    } else if (verb == "storage-heal" && w.size() >= 2) {
        if (w[1] == "all") {
            if (global_storage_outage() && !outages_.empty()) outages_.back().second = now_;
            failed_domains_.clear();
            stalled_domains_.clear();
            for (auto& [id, x] : hosts_) {
                if (!x->path_failed && !x->path_stalled) x->in_flight = false;
            }
        } else if (h) {
            h->path_failed = h->path_stalled = false;
            if (!global_storage_outage()) h->in_flight = false;
        }
    } else if (verb == "nospace" && w.size() == 2) {
        full_domains_.insert(w[1]);
    } else if (verb == "space" && w.size() == 2) {
        full_domains_.erase(w[1]);
    } else if (verb == "admin" && h && w.size() == 3) {
        using core::AdminCommand;
        std::optional<AdminCommand> c;
        if (w[2] == "maintenance-on") c = AdminCommand::kMaintenanceOn;
        if (w[2] == "maintenance-off") c = AdminCommand::kMaintenanceOff;
        if (w[2] == "cordon") c = AdminCommand::kCordon;
        if (w[2] == "uncordon" || w[2] == "undrain") c = AdminCommand::kUncordon;
        if (w[2] == "drain") c = AdminCommand::kDrain;
        if (!c) {
            violation("unknown admin command in timeline: " + e.text);
        } else if (daemon_live(*h)) {
            deliver(*h, [c](driver::HostDriver& d) { d.observe(core::AdminEvidence{*c}); });
        }
    } else if (verb == "clock-jump" && h && w.size() == 3) {
        // Only the hosts' wall clocks move: they stamp last words and nothing else.
        if (auto d = parse_duration(w[2])) h->wall_offset += *d;
    } else if (verb == "format" && h && w.size() == 3 &&
               (w[2] == "next-major" || w[2] == "current" || w[2] == "older-release")) {
        h->newer_format = w[2] == "next-major";
        h->older_release = w[2] == "older-release";
    } else if (verb == "bmc-broken" && h) {
        bmc_broken_.insert(h->id);
    } else if (verb == "slow" && h && w.size() == 3) {
        if (auto d = parse_duration(w[2])) h->delivery_delay = *d;
    } else if (verb == "fast" && h) {
        h->delivery_delay = Duration{};
    } else if (verb == "fail-start" && h && (w.size() == 3 || w.size() == 4)) {
        h->fail_next_start[w[2]] = w.size() == 4 ? w[3] : "failed";
    } else if (verb == "fail-migrate" && h && (w.size() == 3 || w.size() == 4)) {
        h->fail_next_migrate[w[2]] = w.size() == 4 ? w[3] : "failed";
    } else if (verb == "hold-lease" && w.size() == 2) {
        leased_.insert(w[1]);
    } else if (verb == "release-lease" && w.size() == 2) {
        leased_.erase(w[1]);
    } else if (verb == "set-policy" && w.size() >= 4 && w.size() % 2 == 0) {
        auto it = std::ranges::find(vm_policies_, w[1], &core::VmPolicy::name);
        if (it == vm_policies_.end()) {
            violation("set-policy of an unknown VM: " + e.text);
            return;
        }
        for (std::size_t i = 2; i + 1 < w.size(); i += 2) {
            if (w[i] == "priority")
                it->priority = static_cast<std::uint32_t>(std::stoul(w[i + 1]));
            else if (w[i] == "memory")
                it->memory_mib = std::stoull(w[i + 1]);
            else if (w[i] == "domain")
                it->storage_domain = w[i + 1];
            else if (w[i] == "io-error" && w[i + 1] == "auto-resume")
                it->io_error = core::IoErrorPolicy::kAutoResume;
            else if (w[i] == "io-error" && w[i + 1] == "leave-paused")
                it->io_error = core::IoErrorPolicy::kLeavePaused;
            else if (w[i] == "io-error" && w[i + 1] == "recover-elsewhere")
                it->io_error = core::IoErrorPolicy::kRecoverElsewhere;
            else
                violation("set-policy attribute not understood: " + e.text);
        }
        // libvirt reports a metadata change; every vigild reads the policies anew.
        for (auto& [id, x] : hosts_) {
            auto policies = vm_policies_;
            later(*x, s_.step, [this, hx = x.get(), policies] {
                deliver(*hx, [policies](driver::HostDriver& d) {
                    d.observe(core::VmPolicyEvidence{.vms = policies});
                });
            });
        }
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
        if (!up(*h) || h->frozen) continue;
        std::vector<std::string> pause;
        for (const auto& [vm, q] : h->qemu) {
            const std::string domain = domain_of(vm);
            if (q.state == VmState::kRunning &&
                (!storage_reachable(*h, domain) || full_domains_.contains(domain))) {
                pause.push_back(vm);
            }
        }
        for (const auto& vm : pause) {
            log("world", "vm-paused " + vm + " on " + h->name + " io-error");
            set_qemu(*h, vm, VmState::kPausedIoError);
        }
    }
}

void World::settle() {
    run_pending();
    advance_migrations();
    advance_lanes();
    land_stale_writes();
    update_views();
    drain_inboxes();
}

void World::heartbeat(Host& h) {
    h.driver->heartbeat();
    if (after_heartbeat_) after_heartbeat_(h.id);
    if (effective_partition(h.id) == nullptr || !ring_intact(h) || !in_quorate_partition(h))
        h.provable_since_pet = false;
    if (h.reboot_requested) reset(h, "self-fence-reboot", true);
}

void World::step_hosts() {
    const auto hb = s_.policy.heartbeat_interval.count();
    for (auto& [id, h] : hosts_) {
        const auto since = (now_ - h->phase).count();
        const bool regular = since >= 0 && since % hb == 0;
        if (regular && daemon_live(*h)) heartbeat(*h);
        // An early heartbeat the driver asked for, unless a regular one just ran.
        if (h->early_beat_at && now_ >= *h->early_beat_at && daemon_live(*h)) {
            h->early_beat_at.reset();
            if (!regular) heartbeat(*h);
        }
        if (!daemon_live(*h)) continue;
        // The slot read that serves the next heartbeat, on the step closest to its lead.
        const auto lead = std::max(s_.step, h->driver->read_lead() / s_.step * s_.step);
        const auto ahead = (now_ + lead - h->phase).count();
        if (ahead >= 0 && ahead % hb == 0) h->driver->read_slots();
        if (h->early_read_at && now_ >= *h->early_read_at) {
            h->early_read_at.reset();
            h->driver->read_slots();
            h->early_beat_at = now_ + lead;
        }
    }
}

void World::check_safety() {
    std::map<std::string, std::vector<std::string>> where;
    for (const auto& [id, h] : hosts_) {
        for (const auto& [vm, q] : h->qemu) {
            if (!q.incoming) {
                where[vm].push_back(h->name);
                continue;
            }
            // An incoming qemu only receives the guest from the one host that runs it.
            const auto m = moves_.find(vm);
            if (m == moves_.end() || m->second.target != id)
                violation(vm + " has an incoming qemu on " + h->name + " and no migration to it");
        }
    }
    for (const auto& [vm, hs] : where) {
        if (hs.size() > 1) violation(vm + " has a qemu process on " + hs[0] + " and " + hs[1]);
        const auto m = moves_.find(vm);
        if (m != moves_.end() && hs.front() != host(m->second.source).name)
            violation(vm + " runs on " + hs.front() + " while it migrates from " +
                      host(m->second.source).name);
    }
}

void World::begin() {
    for (const auto& c : s_.checks) {
        if (c.words.size() >= 4 && c.words[0] == "running" && c.words[2] == "at") {
            if (auto d = parse_duration(c.words[3])) snapshot_times_.insert(*d);
        }
    }
    now_ = Duration{};
    next_event_ = 0;
}

void World::step() {
    while (next_event_ < s_.timeline.size() && s_.timeline[next_event_].at <= now_)
        apply(s_.timeline[next_event_++]);
    for (auto& [id, h] : hosts_) {
        if (h->booting_until && *h->booting_until <= now_) boot(*h);
        if (h->daemon_restart_at && *h->daemon_restart_at <= now_ && up(*h)) {
            log("world", "vigild restarted on " + h->name);
            h->restarted = true;
            start_daemon(*h);
        }
        if (h->stop_deadline && h->driver) {
            // The deliberate stop: disarm (magic close) only once the frozen record is
            // on storage; a write that failed or did not come back in time is retracted
            // and the daemon exits with the watchdog armed.
            const auto stage = h->driver->freeze_stage();
            if (stage == driver::FreezeStage::kOnStorage) {
                h->last_pet.reset();
                log("world", "vigild stopped on " + h->name + ", frozen; watchdog disarmed");
                stop_daemon(*h);
            } else if (stage == driver::FreezeStage::kFailed || now_ >= *h->stop_deadline) {
                h->driver->retract_freeze();
                log("world", "vigild stopped on " + h->name +
                                 " without a freeze (the frozen record was not written), "
                                 "watchdog armed");
                // What the retraction submitted completes whether or not the daemon runs.
                stop_daemon(*h);
            }
        }
        const auto timeout = s_.watchdog_accepts.value_or(s_.policy.watchdog_timeout);
        if (up(*h) && h->last_pet && now_ - *h->last_pet >= timeout) {
            reset(*h, "watchdog-reset", true);
        }
    }
    update_membership();
    update_vm_io();
    settle();
    step_hosts();
    // What the heartbeats caused and completes within the step (a CPG delivery, a
    // slot write, a resume: milliseconds, not a tenth of a second) arrives now, as
    // world events after the calls returned.
    settle();
    std::map<std::string, std::set<std::uint32_t>> running;
    for (const auto& [id, h] : hosts_) {
        if (!up(*h) || h->frozen) continue;
        for (const auto& [vm, q] : h->qemu) {
            if (q.state == VmState::kRunning) running[vm].insert(id);
        }
    }
    for (const auto& v : s_.policy.vms) {
        const bool is_running = running.contains(v.name);
        if (!is_running) result_.downtime[v.name] += s_.step;
        auto& was = was_running_[v.name];
        if (is_running && !was && now_ > Duration{}) result_.last_back[v.name] = now_;
        was = is_running;
    }
    for (auto it = snapshot_times_.begin(); it != snapshot_times_.end() && *it <= now_;) {
        snapshots_[*it] = running;
        it = snapshot_times_.erase(it);
    }
    check_safety();
    ++result_.steps;
    now_ += s_.step;
}

bool World::refused_as_newer(Host& reader, Host& writer, const std::string& text) {
    const auto st = core::decode_status(text);
    if (st || st.error().reason != core::Refusal::kNewerFormat) {
        violation(writer.name + "'s newer format is not refused as newer by " + reader.name);
        return false;
    }
    ++refused_[{reader.name, writer.name}];
    return true;
}

RunResult World::finish() {
    // What each host refused as a newer format, as its vigil_peer_records_refused_total
    // would count it.
    for (const auto& [who, n] : refused_)
        log(who.first, "refused-records reason=newer-format from=" + who.second +
                           " count=" + std::to_string(n));
    evaluate_checks(result_);
    for (const auto& v : s_.policy.vms) result_.final_vms[v.name];
    for (const auto& [id, h] : hosts_) {
        for (const auto& [vm, q] : h->qemu) result_.final_vms[vm].emplace_back(h->name, q.state);
    }
    return std::move(result_);
}

RunResult World::run() {
    begin();
    while (!done()) step();
    return finish();
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
            if (r.downtime[w[1]] > *limit)
                fail(c, "downtime was " + seconds(r.downtime[w[1]]) + " s");
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
