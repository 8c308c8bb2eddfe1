#include "tests/lab/soak.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/lab/checker.h"
#include "tests/lab/nemesis.h"

namespace vigil::lab {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// splitmix64: a schedule is the same from the same seed with any standard
// library (the <random> distributions are not portable).
class Rng {
  public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    double uniform(double from, double to) {
        return from + (to - from) * static_cast<double>(next() >> 11) * 0x1.0p-53;
    }
    int pick(int n) { return static_cast<int>(next() % static_cast<uint64_t>(n)); }

  private:
    uint64_t state_;
};

std::string secs(double s) {
    std::ostringstream out;
    out.precision(1);
    out << std::fixed << s << " s";
    return out.str();
}

std::string host_text(int host) { return host == 0 ? "all" : "h" + std::to_string(host); }

const double kFenceDelayS = kFenceDelayMs / 1000.0;
const double kHeartbeatS = kHeartbeatIntervalMs / 1000.0;
// How long a schedule waits for the reset a fault must bring, from the fault,
// before it calls that step failed: the row's own bound (F2: the watchdog
// after the last pet and the checker's look; F4-all: the fence delay; F5a:
// the self-fence chain and the watchdog, as its row waits) and 10 s for a
// loaded machine. A step that fails is a broken promise of the schedule.
const double kHangResetS = kWatchdogTimeoutS + 1 + 10;
const double kCutAllResetS = kFenceDelayS + 1 + 10;
const double kStallResetS = row_recovery_bound_s("F5a") - 5 + 10;

bool storage_kind(SoakFault k) {
    return k == SoakFault::kStorageFail || k == SoakFault::kStorageStall ||
           k == SoakFault::kStallBlip || k == SoakFault::kStorageSlow ||
           k == SoakFault::kStorageAllFail;
}

bool cluster_kind(SoakFault k) {
    return k == SoakFault::kCutCluster || k == SoakFault::kCutClusterVm ||
           k == SoakFault::kPartitionCluster || k == SoakFault::kPartitionClusterVm ||
           k == SoakFault::kFlap;
}

// The major faults that end with a power-on of their host: it boots with its
// storage view fine, so no fault of every host's storage may be active then.
bool ends_in_power_on(SoakFault k) {
    return k == SoakFault::kPowerOff || k == SoakFault::kHang || k == SoakFault::kCutAll ||
           k == SoakFault::kStorageStall;
}

// When the fault stops counting as active, for the overlap count and the
// generator's rules; a fault healed after a reset counts its least hold.
double active_end(const SoakStep& s) {
    return s.kind == SoakFault::kKillDaemon ? s.at_s + kKillDaemonSpanS : s.end_s();
}

bool overlaps(const SoakStep& a, const SoakStep& b) {
    return a.at_s < active_end(b) && b.at_s < active_end(a);
}

bool touches(const SoakStep& s, int host) { return s.host == 0 || s.host == host; }

// "h2" -> 2
std::optional<int> host_number(const std::string& name) {
    if (name.size() < 2 || name[0] != 'h') return std::nullopt;
    int n = 0;
    for (char c : name.substr(1)) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    return n;
}

}  // namespace

std::string_view soak_fault_name(SoakFault kind) {
    switch (kind) {
        case SoakFault::kPowerOff:
            return "power-off";
        case SoakFault::kHang:
            return "hang";
        case SoakFault::kCutCluster:
            return "cut-cluster";
        case SoakFault::kCutClusterVm:
            return "cut-cluster-vm";
        case SoakFault::kCutAll:
            return "cut-all";
        case SoakFault::kStorageFail:
            return "storage-fail";
        case SoakFault::kStorageStall:
            return "storage-stall";
        case SoakFault::kPartitionCluster:
            return "partition-cluster";
        case SoakFault::kPartitionClusterVm:
            return "partition-cluster-vm";
        case SoakFault::kKillDaemon:
            return "kill-daemon";
        case SoakFault::kFlap:
            return "flap";
        case SoakFault::kStallBlip:
            return "stall-blip";
        case SoakFault::kStorageSlow:
            return "storage-slow";
        case SoakFault::kStorageAllFail:
            return "storage-all-fail";
    }
    return "?";
}

std::string_view soak_fault_row(SoakFault kind) {
    switch (kind) {
        case SoakFault::kPowerOff:
            return "F1";
        case SoakFault::kHang:
            return "F2";
        case SoakFault::kCutCluster:
            return "F3";
        case SoakFault::kCutClusterVm:
            return "F4";
        case SoakFault::kCutAll:
            return "F4-all";
        case SoakFault::kStorageFail:
            return "F5b";
        case SoakFault::kStorageStall:
            return "F5a";
        case SoakFault::kPartitionCluster:
            return "F7";
        case SoakFault::kPartitionClusterVm:
            return "F7-vm";
        case SoakFault::kKillDaemon:
            return "F8";
        case SoakFault::kFlap:
        case SoakFault::kStallBlip:
        case SoakFault::kStorageSlow:
            return "F9";
        case SoakFault::kStorageAllFail:
            return "F6";
    }
    return "?";
}

bool soak_fault_is_major(SoakFault kind) { return kind <= SoakFault::kPartitionClusterVm; }

std::string SoakStep::text() const {
    const auto h = host_text(host);
    switch (kind) {
        case SoakFault::kPowerOff:
            return "power-off " + h + ", power-on after " + secs(hold_s);
        case SoakFault::kHang:
            return "hang " + h + ", power-on once its watchdog reset it (at least " + secs(hold_s) +
                   ")";
        case SoakFault::kCutCluster:
            return "cut " + h + " cluster, heal after " + secs(hold_s);
        case SoakFault::kCutClusterVm:
            return "cut " + h + " cluster,vm, heal after " + secs(hold_s);
        case SoakFault::kCutAll:
            return "cut " + h + " all, heal and power-on once its watchdog reset it (at least " +
                   secs(hold_s) + ")";
        case SoakFault::kStorageFail:
            return "storage " + h + " fail, ok after " + secs(hold_s);
        case SoakFault::kStorageStall:
            return "storage " + h + " stall, ok and power-on once it was reset (at least " +
                   secs(hold_s) + ")";
        case SoakFault::kPartitionCluster:
            return "partition " + h + " alone on the cluster network, heal after " + secs(hold_s);
        case SoakFault::kPartitionClusterVm:
            return "partition " + h + " alone on the cluster and VM networks, heal after " +
                   secs(hold_s);
        case SoakFault::kKillDaemon:
            return "kill-daemon " + h;
        case SoakFault::kFlap:
            return "cut " + h + " cluster,vm, reconnect after " + secs(hold_s);
        case SoakFault::kStallBlip:
            return "storage " + h + " stall, ok after " + secs(hold_s);
        case SoakFault::kStorageSlow:
            return "storage " + h + " slow, ok after " + secs(hold_s);
        case SoakFault::kStorageAllFail:
            return "storage all fail, ok after " + secs(hold_s);
    }
    return "?";
}

int SoakSchedule::max_overlap() const {
    int most = 0;
    for (const auto& s : steps) {
        // Some instant of greatest overlap is the start of a fault.
        int n = 0;
        for (const auto& o : steps)
            if (o.at_s <= s.at_s && s.at_s < active_end(o)) ++n;
        most = std::max(most, n);
    }
    return most;
}

std::set<std::string> SoakSchedule::rows() const {
    std::set<std::string> out;
    for (const auto& s : steps) {
        out.emplace(soak_fault_row(s.kind));
        // A host cut from the cluster network while every host's storage
        // fails or stalls has no proof of life by either channel: it stops
        // petting and its watchdog may reset it, and the survivors then
        // restart its VMs as after F4-all.
        if (!cluster_kind(s.kind)) continue;
        for (const auto& o : steps)
            if (o.host == 0 &&
                (o.kind == SoakFault::kStorageAllFail || o.kind == SoakFault::kStallBlip) &&
                overlaps(s, o))
                out.emplace("F4-all");
    }
    return out;
}

double SoakSchedule::bound_after_heal_s() const {
    // Whatever a fault left undone when its heal came is done as its row
    // does it, at the latest from the last heal on (each row's bound runs
    // from its fault or its repair, both no later than the last heal); one
    // heartbeat more for the status that carries the news after the heal
    // (a rejoined host's first slot write and message).
    double longest = 0;
    for (const auto& r : rows()) longest = std::max(longest, row_recovery_bound_s(r));
    return longest + kHeartbeatS;
}

bool SoakSchedule::reset_forbidden(int host) const {
    // The rows that promise no reset of the hosts they touch: F3, F4, F5b,
    // F6, F7, F7-vm, F8, F9. A host hit by power loss, a hang, every cable
    // cut or a storage stall of its own (F1, F2, F4-all, F5a) may be reset.
    // A host cut from the cluster network while every host's storage fails
    // or stalls has no proof of life by any channel, as in F4-all: no row
    // promises it lives, so the soak promises nothing of its reset either.
    for (const auto& s : steps) {
        if (!touches(s, host)) continue;
        if (s.kind == SoakFault::kPowerOff || s.kind == SoakFault::kHang ||
            s.kind == SoakFault::kCutAll || s.kind == SoakFault::kStorageStall)
            return false;
        if (!cluster_kind(s.kind)) continue;
        for (const auto& o : steps)
            if (o.host == 0 &&
                (o.kind == SoakFault::kStorageAllFail || o.kind == SoakFault::kStallBlip) &&
                overlaps(s, o))
                return false;
    }
    return true;
}

std::string SoakSchedule::text() const {
    std::ostringstream out;
    out << "seed " << seed << ": " << steps.size() << " faults on " << hosts << " hosts, victim h"
        << victim << ", " << max_overlap() << " at once; rows";
    for (const auto& r : rows()) out << " " << r;
    out << "; every guest writing within " << secs(bound_after_heal_s()) << " of the last heal\n";
    auto sorted = steps;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.at_s < b.at_s; });
    for (const auto& s : sorted)
        out << "  +" << secs(s.at_s) << "  " << s.text() << "  (" << soak_fault_row(s.kind)
            << ")\n";
    return out.str();
}

SoakSchedule make_schedule(uint64_t seed, int hosts) {
    // Which faults are combined, so that every promise stays checkable:
    //  - One major fault (F1-F7) per schedule, on one host, the victim: the
    //    other hosts keep a quorate majority, so whatever the victim's row
    //    promises the survivors can do. Two hosts of three powered off or cut
    //    leave nobody quorate, and the spec promises nothing then but safety.
    //  - The riders are the rows that promise that nothing happens (F6, F8,
    //    F9): a killed vigild, a link flap and a storage stall shorter than
    //    their graces, slow storage, on a host other than the victim (a
    //    rider on the victim would end its fault: a reconnect, a storage ok)
    //    or, for the storage faults, on every host. The victim is still hit
    //    by the riders of every host, and the survivors by its fault.
    //  - No two storage faults of one host at once: the nemesis keeps one
    //    mode per host, and the heal of one would end the other.
    //  - No fault of every host's storage with a major fault that ends in a
    //    power-on: the host boots with its storage view fine while the
    //    others' fails, which no real outage does.
    //  - Every storage outage of every host (F6) rides with a major fault of
    //    the cluster network alone (F3, F4, F7): with a power loss or a
    //    lost host storage it would be the F6 of a cluster that is already
    //    a host short, where the only promise is safety, and is left out.
    //  - At least three faults active at one instant: the first two riders
    //    both span an instant inside the major fault.
    Rng rng(seed);
    SoakSchedule sch;
    sch.seed = seed;
    sch.hosts = std::max(3, hosts);
    sch.victim = 1 + rng.pick(sch.hosts);
    constexpr std::array kMajors{SoakFault::kPowerOff,
                                 SoakFault::kHang,
                                 SoakFault::kCutCluster,
                                 SoakFault::kCutClusterVm,
                                 SoakFault::kCutAll,
                                 SoakFault::kStorageFail,
                                 SoakFault::kStorageStall,
                                 SoakFault::kPartitionCluster,
                                 SoakFault::kPartitionClusterVm};
    SoakStep major{.kind = kMajors[static_cast<size_t>(rng.pick(kMajors.size()))],
                   .host = sch.victim,
                   .at_s = rng.uniform(0, 3)};
    switch (major.kind) {
        case SoakFault::kPowerOff:
        case SoakFault::kStorageFail:
            major.hold_s = rng.uniform(4, 16);
            break;
        case SoakFault::kHang:
            // Healed by a power-on once its watchdog has reset it.
            major.hold_s = kWatchdogTimeoutS + 1;
            break;
        case SoakFault::kCutAll:
            major.hold_s = kFenceDelayS + 1;
            break;
        case SoakFault::kStorageStall:
            // The self-fence cannot come earlier (the F5a chain).
            major.hold_s = row_recovery_bound_s("F5a") - kWatchdogTimeoutS - 5;
            break;
        default:  // the cuts and partitions: shorter and longer than the fence delay
            major.hold_s = rng.uniform(4, kFenceDelayS + 6);
            break;
    }
    sch.steps.push_back(major);

    // The instant of the three faults at once, inside the major fault.
    const double focus = major.at_s + rng.uniform(0.5, major.hold_s - 0.5);
    std::vector<int> others;
    for (int h = 1; h <= sch.hosts; ++h)
        if (h != sch.victim) others.push_back(h);

    auto allowed = [&](const SoakStep& s) {
        if (s.host == 0 && storage_kind(s.kind) && ends_in_power_on(major.kind)) return false;
        if (s.kind == SoakFault::kStorageAllFail &&
            !(major.kind == SoakFault::kCutCluster || major.kind == SoakFault::kCutClusterVm ||
              major.kind == SoakFault::kPartitionCluster ||
              major.kind == SoakFault::kPartitionClusterVm))
            return false;
        for (const auto& o : sch.steps) {
            if (!overlaps(s, o)) continue;
            const bool same_host = s.host == 0 || o.host == 0 || s.host == o.host;
            if (same_host && storage_kind(s.kind) && storage_kind(o.kind)) return false;
            if (s.host == o.host && s.kind == o.kind) return false;
        }
        return s.at_s >= 0;
    };
    auto rider = [&](bool spanning_focus) {
        constexpr std::array kRiders{SoakFault::kKillDaemon, SoakFault::kFlap,
                                     SoakFault::kStallBlip, SoakFault::kStorageSlow,
                                     SoakFault::kStorageAllFail};
        for (int attempt = 0; attempt < 50; ++attempt) {
            SoakStep s{.kind = kRiders[static_cast<size_t>(rng.pick(kRiders.size()))]};
            const bool any_host = storage_kind(s.kind) && rng.pick(2) == 0;
            s.host = s.kind == SoakFault::kStorageAllFail || any_host
                         ? 0
                         : others[static_cast<size_t>(rng.pick(static_cast<int>(others.size())))];
            switch (s.kind) {
                case SoakFault::kKillDaemon:
                    s.hold_s = 0;
                    break;
                case SoakFault::kFlap:
                    s.hold_s = kF9FlapS;
                    break;
                case SoakFault::kStallBlip:
                    s.hold_s = kF9StallS;
                    break;
                default:
                    s.hold_s = rng.uniform(2, 8);
                    break;
            }
            const double span = s.kind == SoakFault::kKillDaemon ? kKillDaemonSpanS : s.hold_s;
            s.at_s = spanning_focus ? focus - rng.uniform(0.05, 0.95) * span
                                    : major.at_s + rng.uniform(0, std::max(1.0, major.hold_s - 1));
            if (allowed(s)) return s;
        }
        // Always allowed: a killed vigild on a survivor that has none killed then.
        for (int h : others) {
            SoakStep s{.kind = SoakFault::kKillDaemon, .host = h, .at_s = focus - 0.5};
            if (allowed(s)) return s;
        }
        return SoakStep{.kind = SoakFault::kKillDaemon, .host = others.front(), .at_s = focus};
    };
    sch.steps.push_back(rider(true));
    sch.steps.push_back(rider(true));
    const int extra = rng.pick(3);
    for (int i = 0; i < extra; ++i) sch.steps.push_back(rider(false));
    return sch;
}

void judge_soak(const SoakSchedule& schedule, RowRun& run) {
    Judge j(run);
    j.no_violations();
    const auto& events = run.timeline.value("events", json::array());

    // No reset of a host the promise covers: its watchdog's expiry in its
    // log, a reset the schedule saw, a reset the lab shows at the end, or a
    // self-fence vigild decided.
    const auto resets = j.resets();
    for (int h = 1; h <= schedule.hosts; ++h) {
        if (!schedule.reset_forbidden(h)) continue;
        const auto name = "h" + std::to_string(h);
        std::vector<std::string> how;
        for (double t : j.watchdog_resets(name)) how.push_back("its watchdog at " + secs(t));
        if (const auto t = j.event_at("lab", "reset " + name + " "))
            how.push_back("seen at " + secs(*t));
        if (resets.contains(name)) how.push_back("down at the end: " + resets.at(name));
        for (const auto& d : j.decisions("self-fence-reboot"))
            if (d.starts_with(name + ": ")) how.push_back("decided: " + d.substr(0, 120));
        for (const auto& w : how) {
            std::string failure = name;
            failure.append(" was reset, which no fault it had allows (").append(w).append(")");
            j.expect(false, failure);
        }
    }

    // The last heal: the last repair the schedule made.
    std::optional<double> last_heal;
    for (const auto& e : events)
        if (e.value("kind", "") == "repair") last_heal = e["t"].get<double>();
    if (!last_heal) {
        j.expect(false, "no heal in the timeline");
        return;
    }
    const double bound = schedule.bound_after_heal_s();
    for (const auto& [vm, _] : run.timeline.value("writers", json::object()).items()) {
        // The first write from the heal on (writing at the heal: the heal
        // itself), and writing at the end. A gap between the two is no broken
        // promise: on a loaded machine a guest no fault touched misses the
        // checker's writing window for a few tenths of a second now and then
        // (row F9 saw 0.7-0.9 s at a load of 15 on two cores); a guest that
        // stops for good is not writing at the end.
        const auto prefix = vm + ": ";
        bool writing = true;  // every guest writes when the schedule starts
        std::optional<double> first;
        for (const auto& e : events) {
            if (e.value("kind", "") != "vm") continue;
            const auto text = e.value("text", "");
            if (!text.starts_with(prefix) || text.starts_with(prefix + "new instance")) continue;
            const double t = e["t"].get<double>();
            writing = text.substr(prefix.size()).starts_with("writing on");
            if (t <= *last_heal) continue;
            if (writing && !first) first = t;
        }
        // Writing at the heal and since, without a state change: from the heal.
        bool at_heal = true;
        for (const auto& e : events) {
            if (e.value("kind", "") != "vm" || e["t"].get<double>() > *last_heal) continue;
            const auto text = e.value("text", "");
            if (text.starts_with(prefix) && !text.starts_with(prefix + "new instance"))
                at_heal = text.substr(prefix.size()).starts_with("writing on");
        }
        if (at_heal) first = last_heal;
        const double end = run.timeline.value("end", 0.0) - run.timeline.value("start", 0.0);
        if (!writing || !first) {
            j.expect(false, vm + " is not writing at the end, " + secs(end - *last_heal) +
                                " after the last heal");
            continue;
        }
        const double after = *first - *last_heal;
        j.figure(vm + " writing after the last heal s", after, bound);
        j.expect(after <= bound,
                 vm + " wrote again " + secs(after) + " after the last heal, bound " + secs(bound));
    }
    if (run.timeline.value("writers", json::object()).size() <
        static_cast<size_t>(run.lab_after.value("vms", 0)))
        j.expect(false, "a guest never wrote during the schedule");

    // Every fault healed: every host on, no cable out, no partition, storage fine.
    for (const auto& h : run.lab_after.value("host_status", json::array())) {
        const auto name = h.value("name", "?");
        // A reset the faults allow, seen after the last heal, is no fault left
        // unhealed; the reset promise above judges the others.
        const auto index = host_number(name);
        const bool allowed =
            h.value("power", "") == "reset" && index && !schedule.reset_forbidden(*index);
        if (h.value("power", "") != "on" && !allowed)
            j.expect(false, name + " is " + h.value("power", "?") + " at the end");
        if (!h.value("cut", json::array()).empty())
            j.expect(false, name + " has a cable out at the end");
        if (h.value("storage", "ok") != "ok")
            j.expect(false, name + "'s storage is " + h.value("storage", "?") + " at the end");
    }
    if (!run.lab_after.value("partition", json::array()).empty())
        j.expect(false, "the network is still partitioned at the end");
}

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

// Sleeps `s` seconds, or less when SIGINT or SIGTERM came; false then.
bool nap(double s) {
    const double until = now_s() + s;
    while (!g_stop && now_s() < until)
        std::this_thread::sleep_for(
            std::chrono::duration<double>(std::min(0.1, std::max(0.0, until - now_s()))));
    return !g_stop;
}

// Every guest runs once and writes: two samples 1 s apart, each guest one
// qemu in both and a newer stamp in the second.
Result<> every_guest_writing(const Lab& lab, double within_s) {
    auto sampler = Sampler::make(lab);
    if (!sampler) return std::unexpected(sampler.error());
    const double until = now_s() + within_s;
    std::string why;
    while (now_s() < until && !g_stop) {
        const auto a = sampler->take();
        nap(1);
        const auto b = sampler->take();
        why.clear();
        for (int v = 1; v <= lab.layout().vms() && why.empty(); ++v) {
            const auto vm = lab.layout().vm_name(v);
            const auto n = std::count_if(b.qemus.begin(), b.qemus.end(),
                                         [&](const QemuProcess& q) { return q.vm == vm; });
            if (n != 1) {
                why = vm + " runs " + std::to_string(n) + " times";
                break;
            }
            auto newest = [&](const Sample& s) {
                uint64_t best = 0;
                if (auto it = s.stamps.find(vm); it != s.stamps.end())
                    for (const auto& st : it->second) best = std::max(best, st.seq);
                return best;
            };
            if (newest(b) <= newest(a)) why = vm + " did not write in a second";
        }
        if (why.empty()) return {};
    }
    return fail("the guests are not all writing at the start (" + why + ")");
}

class Player {
  public:
    Player(Lab& lab, Play& play, std::ostream& log, RowRun& run)
        : lab_(&lab), play_(&play), log_(&log), run_(&run) {}

    // Runs one action, keeping a failure as a broken promise and going on:
    // the schedule still heals what it can.
    void act(const std::string& what, const Result<>& done) {
        if (!play_->step(what, done))
            run_->failures.push_back("step '" + what + "' failed: " + done.error().what);
    }

    // Waits for `host`'s init to end (its watchdog or its reboot(2)), until
    // `until` (now_s()); records it as the rows do ("reset hN (how)").
    Result<> reset_by(int host, double until) {
        const auto name = lab_->layout().host_name(host);
        while (lab_->place(host)) {
            if (now_s() >= until || !nap(0.2)) return fail(name + " was not reset in time");
        }
        note_reset(*lab_, host, *log_);
        return {};
    }

    void start(const SoakStep& s) {
        auto& lab = *lab_;
        const int h = s.host;
        const auto what = s.text();
        switch (s.kind) {
            case SoakFault::kPowerOff:
                return act(what, power_off(lab, h));
            case SoakFault::kHang:
                return act(what, hang(lab, h));
            case SoakFault::kCutCluster:
                return act(what, cut(lab, h, {Net::kCluster}));
            case SoakFault::kCutClusterVm:
                return act(what, cut(lab, h, {Net::kCluster, Net::kVm}));
            case SoakFault::kCutAll:
                return act(what, cut(lab, h, {Net::kCluster, Net::kVm, Net::kStorage}));
            case SoakFault::kStorageFail:
                return act(what, storage(lab, h, StorageMode::kFail));
            case SoakFault::kStorageStall:
            case SoakFault::kStallBlip:
                return act(what, storage(lab, h, StorageMode::kStall));
            case SoakFault::kStorageSlow:
                return act(what, storage(lab, h, StorageMode::kSlow));
            case SoakFault::kStorageAllFail:
                return act(what, storage(lab, 0, StorageMode::kFail));
            case SoakFault::kPartitionCluster:
            case SoakFault::kPartitionClusterVm: {
                std::vector<int> rest;
                for (int o = 1; o <= lab.layout().hosts(); ++o)
                    if (o != h) rest.push_back(o);
                std::vector<Net> nets{Net::kCluster};
                if (s.kind == SoakFault::kPartitionClusterVm) nets.push_back(Net::kVm);
                return act(what, partition(lab, {rest, {h}}, nets));
            }
            case SoakFault::kKillDaemon:
                return act(what, kill_daemon(lab, h));
            case SoakFault::kFlap: {
                const std::vector<Net> cables{Net::kCluster, Net::kVm};
                auto r = play_->blip(
                    "h" + std::to_string(h) + " cluster,vm", [&] { return cut(lab, h, cables); },
                    [&] { return reconnect(lab, h, cables); }, s.hold_s);
                if (!r) run_->failures.push_back("step '" + what + "' failed: " + r.error().what);
                return;
            }
        }
    }

    void heal_step(const SoakStep& s, double fault_t) {
        auto& lab = *lab_;
        const int h = s.host;
        const auto name = host_text(h);
        std::ostringstream boot;
        switch (s.kind) {
            case SoakFault::kPowerOff:
                return act("power-on " + name, power_on(lab, h, boot));
            case SoakFault::kHang:
                act("the watchdog resets " + name, reset_by(h, fault_t + kHangResetS));
                return act("power-on " + name, power_on(lab, h, boot));
            case SoakFault::kCutAll:
                act("the watchdog resets " + name, reset_by(h, fault_t + kCutAllResetS));
                act("heal", heal(lab));
                return act("power-on " + name, power_on(lab, h, boot));
            case SoakFault::kStorageStall:
                act(name + " resets itself", reset_by(h, fault_t + kStallResetS));
                act("storage " + name + " ok", storage(lab, h, StorageMode::kOk));
                return act("power-on " + name, power_on(lab, h, boot));
            case SoakFault::kCutCluster:
            case SoakFault::kCutClusterVm:
            case SoakFault::kPartitionCluster:
            case SoakFault::kPartitionClusterVm:
                return act("heal", heal(lab));
            case SoakFault::kStorageFail:
            case SoakFault::kStallBlip:
            case SoakFault::kStorageSlow:
            case SoakFault::kStorageAllFail:
                return act("storage " + name + " ok", storage(lab, h, StorageMode::kOk));
            case SoakFault::kKillDaemon:
            case SoakFault::kFlap:
                return;  // nothing to heal, or healed by its blip
        }
    }

  private:
    Lab* lab_;
    Play* play_;
    std::ostream* log_;
    RowRun* run_;
};

void print_timeline(const json& timeline, std::ostream& out) {
    for (const auto& e : timeline.value("events", json::array())) {
        std::ostringstream t;
        t.precision(2);
        t << std::fixed << e.value("t", 0.0);
        out << "  " << t.str() << " " << e.value("kind", "") << " "
            << e.value("text", "").substr(0, 160) << "\n";
    }
}

}  // namespace

Result<RowRun> play_soak(const fs::path& root, const SoakSchedule& schedule, std::ostream& log) {
    auto lab = Lab::load(root);
    if (!lab) return std::unexpected(lab.error());
    const auto& l = lab->layout();
    if (l.hosts() != schedule.hosts) return fail("the schedule is for another number of hosts");
    if (!lab->vigild_config()) return fail("the soak needs vigild in cluster mode");
    if (g_stop) return fail("interrupted");
    Play play(*lab, log);
    log << "soak seed " << schedule.seed << ": waiting for vigild to settle\n" << std::flush;
    if (auto r = play.settled(90); !r) return std::unexpected(r.error());
    if (auto r = every_guest_writing(*lab, 30); !r) return std::unexpected(r.error());

    const auto timeline_path = l.run_dir() / ("soak-" + std::to_string(schedule.seed) + ".json");
    std::cout.flush();
    std::cerr.flush();
    pid_t checker = ::fork();
    if (checker < 0) return fail("cannot fork the checker");
    if (checker == 0) {
        auto t = run_checker(*lab, 0, timeline_path);
        ::_exit(t ? 0 : 1);
    }
    RowRun run;
    run.row = "soak " + std::to_string(schedule.seed);
    Player player(*lab, play, log, run);

    // The steps' starts and heals in time order (a heal that waits for a
    // reset makes the ones after it later: the order is the schedule's).
    struct Action {
        double t;
        size_t step;
        bool heal;
    };
    std::vector<Action> actions;
    for (size_t i = 0; i < schedule.steps.size(); ++i) {
        const auto& s = schedule.steps[i];
        actions.push_back({s.at_s, i, false});
        if (s.kind != SoakFault::kKillDaemon && s.kind != SoakFault::kFlap)
            actions.push_back({s.end_s(), i, true});
    }
    std::stable_sort(actions.begin(), actions.end(),
                     [](const Action& a, const Action& b) { return a.t < b.t; });
    nap(3);
    const double t0 = now_s();
    std::vector<double> fault_t(schedule.steps.size(), t0);
    for (const auto& a : actions) {
        if (!nap(t0 + a.t - now_s())) break;
        const auto& s = schedule.steps[a.step];
        if (a.heal) {
            player.heal_step(s, fault_t[a.step]);
        } else {
            fault_t[a.step] = now_s();
            player.start(s);
        }
    }
    // A reset no step waited for (the judge says whether the faults allowed
    // it) is healed as the others are: the host is powered on.
    for (int h = 1; h <= l.hosts() && !g_stop; ++h) {
        if (lab->host(h).power == Power::kOff || lab->place(h)) continue;
        // Its init is gone already: recorded as a reset_by() of the steps.
        note_reset(*lab, h, log);
        std::ostringstream boot;
        player.act("power-on h" + std::to_string(h) + " after its reset", power_on(*lab, h, boot));
    }
    // Past the bound after the last heal, and a few seconds of writing more.
    nap(schedule.bound_after_heal_s() + 3);
    ::kill(checker, SIGTERM);
    int status = 0;
    ::waitpid(checker, &status, 0);
    if (g_stop) return fail("interrupted");

    auto text = read_file(timeline_path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !text)
        return fail("the checker failed" + (text ? "" : ": " + text.error().what));
    run.timeline = json::parse(*text, nullptr, false);
    if (!run.timeline.is_object()) return fail("the checker's timeline is not JSON");
    run.lab_after = json::parse(lab->status_json(), nullptr, false);
    judge_soak(schedule, run);
    return run;
}

SoakSummary run_soak(const fs::path& root, uint64_t first, int count, std::ostream& out) {
    SoakSummary sum;
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    ::sigemptyset(&sa.sa_mask);
    struct sigaction old_int {
    }, old_term{};
    ::sigaction(SIGINT, &sa, &old_int);
    ::sigaction(SIGTERM, &sa, &old_term);
    const double started = now_s();
    // Beside the lab's runs, which `down` removes; this it keeps.
    const auto results = root / "soak";
    std::error_code ec;
    fs::create_directories(results, ec);
    for (int i = 0; i < count && !g_stop; ++i) {
        const uint64_t seed = first + static_cast<uint64_t>(i);
        const auto schedule = make_schedule(seed);
        const double from = now_s();
        out << "\n" << schedule.text() << std::flush;
        std::ostringstream quiet;  // bring-up and take-down progress
        auto lab = Lab::up(root, schedule.hosts, 3, Tools::from_build(), quiet);
        Result<RowRun> run = lab ? play_soak(root, schedule, out) : std::unexpected(lab.error());
        if (auto down = Lab::down(root, quiet); !down)
            out << "seed " << seed << ": lab not taken down: " << down.error().what << "\n";
        if (g_stop) {
            sum.interrupted = true;
            break;
        }
        ++sum.schedules;
        sum.faults += static_cast<int>(schedule.steps.size());
        const double took = now_s() - from;
        if (!run) {
            ++sum.failed;
            sum.failed_seeds.push_back(seed);
            out << "seed " << seed << ": NOT PLAYED (" << secs(took) << "): " << run.error().what
                << "\n";
            if (!lab) out << quiet.str();
            continue;
        }
        for (const auto& [name, value] : run->figures) out << "  " << name << ": " << value << "\n";
        if (!run->ok()) {
            ++sum.failed;
            sum.failed_seeds.push_back(seed);
            for (const auto& why : run->failures) out << "  BROKEN: " << why << "\n";
            out << "seed " << seed << " broke a promise; its schedule (replay: vigil-lab soak "
                << "--seed " << seed << " --schedules 1):\n"
                << schedule.text() << "seed " << seed
                << " timeline (seconds since the checker started):\n";
            print_timeline(run->timeline, out);
        }
        auto j = run->to_json();
        j["seed"] = seed;
        j["schedule"] = schedule.text();
        j["seconds"] = took;
        const auto path = results / ("seed-" + std::to_string(seed) + ".json");
        if (auto w = write_file(path, j.dump(2) + "\n"); !w)
            out << "seed " << seed << ": " << w.error().what << "\n";
        out << "seed " << seed << ": " << (run->ok() ? "promises kept" : "PROMISE BROKEN") << " ("
            << secs(took) << ", " << path.string() << ")\n"
            << std::flush;
    }
    sum.seconds = now_s() - started;
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
    out << "\nsoak: " << sum.schedules << " schedules from seed " << first << ", " << sum.faults
        << " faults, " << sum.failed << " with a broken promise, " << secs(sum.seconds)
        << (sum.schedules ? " (" + secs(sum.seconds / sum.schedules) + " a schedule)" : "")
        << (sum.interrupted ? "; interrupted, the lab taken down" : "") << "\n";
    if (!sum.failed_seeds.empty()) {
        out << "soak: failed seeds:";
        for (auto s : sum.failed_seeds) out << " " << s;
        out << " (replay one: vigil-lab soak --seed S --schedules 1)\n";
    }
    return sum;
}

}  // namespace vigil::lab
