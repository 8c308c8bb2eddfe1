// Seeded randomized fault schedules with the same safety checks as the scenarios.
// Each run's cluster and timeline are generated as scenario text, so a failing seed
// is printed as a scenario folder's cluster.txt and timeline.txt, ready to keep.

#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/sim/world.h"

namespace {

struct Generated {
    std::string cluster;
    std::string timeline;
};

class Gen {
  public:
    explicit Gen(std::uint64_t seed) : rng_(seed), extra_(seed ^ 0x6d696772617465ULL) {}
    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
    bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
    std::string host(int n) { return "h" + std::to_string(pick(1, n)); }
    static std::string secs(int tenths) {
        return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + "s";
    }

    Generated make() {
        Generated g;
        const int n = pick(3, 5);
        const char* iso[] = {"leave-running", "stop-when-uplinks-dead", "always-stop"};
        g.cluster += "policy isolation_response " + std::string(iso[pick(0, 2)]) + "\n";
        // Timings anywhere Policy::validate() accepts them, in tenths of a second (the
        // simulator's step): heartbeat, the watchdog at 2..6 heartbeats, the cluster
        // stack's membership timeout, and a fence delay from its lowest valid value up.
        const int hb = 5 * pick(1, 4);  // 0.5 .. 2 s
        const int mt = pick(5, 35);     // corosync token + consensus, 0.5 .. 3.5 s
        // At least the membership timeout + 2 heartbeats (validate()), in heartbeats.
        const int wd = hb * std::max(pick(2, 6), (mt + 2 * hb + hb - 1) / hb);
        const int fd = wd + std::max(2 * hb, mt) + hb * pick(0, 3);
        g.cluster += "policy heartbeat_interval " + secs(hb) + "\n";
        g.cluster += "policy watchdog_timeout " + secs(wd) + "\n";
        g.cluster += "policy membership_timeout " + secs(mt) + "\n";
        g.cluster += "policy fence_delay " + secs(fd) + "\n";
        g.cluster += "policy storage_grace " + secs(10 * pick(1, 10)) + "\n";
        g.cluster += "policy link_grace " + secs(5 * pick(1, 8)) + "\n";
        g.cluster += "sim membership_delay " + secs(mt) + "\n";
        g.cluster += "sim duration 260s\nsim boot_time " + std::to_string(pick(8, 40)) + "s\n";
        g.cluster += "sim restart_delay " + std::to_string(pick(1, 7)) + "s\n";
        g.cluster += "sim stop_grace " + secs(pick(1, 50)) + "\n";
        g.cluster += "sim start_time " + secs(pick(1, 20)) + "\n";
        if (chance(0.4)) {
            g.cluster += "policy fence_agents yes\nsim bmc_time " + secs(pick(5, 40)) + "\n";
            if (chance(0.3)) g.timeline += "0 bmc-broken " + host(n) + "\n";
        }
        g.cluster += "domain vol-a\n";
        for (int i = 1; i <= n; ++i) g.cluster += "host h" + std::to_string(i) + " memory 4096\n";
        const int vms = pick(2, 2 * n);
        const char* io[] = {"auto-resume", "leave-paused", "recover-elsewhere"};
        for (int v = 0; v < vms; ++v) {
            g.cluster += "vm vm" + std::to_string(v) + " on h" + std::to_string(v % n + 1) +
                         " memory " + std::to_string(pick(1, 3) * 512) + " priority " +
                         std::to_string(pick(0, 3)) + " io-error " + io[pick(0, 2)] + " domain " +
                         (chance(0.2) ? "vol-a" : "shared") + "\n";
        }
        const int faults = pick(3, 9);
        for (int f = 0; f < faults; ++f) {
            const int at = pick(5, 90) * 10;  // tenths of a second
            const int len = pick(3, 400);     // tenths
            const std::string h = host(n);
            // One timeline line at t tenths of a second: the pieces of its text, joined.
            const auto ev = [&](int t, const auto&... text) {
                g.timeline += std::to_string(t / 10) + "." + std::to_string(t % 10) + " ";
                (g.timeline.append(text), ...);
                g.timeline += "\n";
            };
            switch (pick(0, 12)) {
                case 0:
                    ev(at, "power-off " + h);
                    ev(at + len, "power-on " + h);
                    break;
                case 1:
                    ev(at, "hang " + h);
                    ev(at + len, "unhang " + h);
                    break;
                case 2:
                    ev(at, "freeze-daemon " + h);
                    ev(at + len, "thaw-daemon " + h);
                    break;
                case 3:
                    ev(at, "crash-daemon " + h);
                    break;
                case 4: {
                    const char* roles[] = {"cluster", "vm-uplink", "storage"};
                    const std::string r = roles[pick(0, 2)];
                    ev(at, "cut ", h, " ", r);
                    ev(at + len, "heal ", h, " ", r);
                    break;
                }
                case 5: {
                    // Two or three sides.
                    const int sides = pick(2, 3);
                    std::vector<std::string> side(static_cast<std::size_t>(sides));
                    for (int i = 1; i <= n; ++i) {
                        auto& s = side[static_cast<std::size_t>(pick(0, sides - 1))];
                        s += (s.empty() ? "h" : ",h") + std::to_string(i);
                    }
                    std::string text = "partition";
                    int used = 0;
                    for (const auto& s : side) {
                        if (s.empty()) continue;
                        text += " " + s;
                        ++used;
                    }
                    if (used < 2) break;
                    ev(at, text);
                    ev(at + len, "partition-heal");
                    break;
                }
                case 6: {
                    const std::string who = chance(0.3) ? "all" : h;
                    const std::string how =
                        std::string(chance(0.5) ? " inflight" : "") + (chance(0.3) ? " stall" : "");
                    ev(at, "storage-fail ", who, how);
                    ev(at + len, "storage-heal " + who);
                    break;
                }
                case 7:
                    ev(at, "nospace vol-a");
                    ev(at + len, "space vol-a");
                    break;
                case 8:
                    ev(at, "cut " + h + " cluster");
                    ev(at, "cut " + h + " vm-uplink");
                    ev(at + len, "heal " + h + " cluster");
                    ev(at + len, "heal " + h + " vm-uplink");
                    break;
                case 10: {
                    if (chance(0.5)) {
                        ev(at, "admin " + h + " maintenance-on");
                        ev(at + len, "admin " + h + " maintenance-off");
                    } else {
                        ev(at, "admin " + h + (chance(0.5) ? " drain" : " cordon"));
                        ev(at + len, "admin " + h + " uncordon");
                    }
                    break;
                }
                case 9:
                    ev(at, "storage-fail all");
                    ev(at + pick(10, 100), "cut " + h + " cluster");
                    ev(at + len, "storage-heal all");
                    ev(at + len + 5, "heal " + h + " cluster");
                    break;
                case 11:
                    // Late deliveries: the cluster hands this host its messages late,
                    // though within the token timeout (later, corosync would re-form
                    // the membership instead).
                    if (mt < 2) break;
                    ev(at, "slow " + h + " " + secs(pick(1, mt - 1)));
                    ev(at + len, "fast " + h);
                    break;
                case 12:
                    // One host's path dies with writes queued and comes back much later.
                    ev(at, "storage-fail " + h + " inflight");
                    ev(at + len + 200, "storage-heal " + h);
                    break;
                default:  // pick(0, 12) gives no other value
                    break;
            }
        }
        // Everything heals at 140 s; then every VM must run again within a bound the
        // policy gives (see downtime_bound).
        g.timeline += "140 partition-heal\n140 storage-heal all\n140 space vol-a\n";
        for (int i = 1; i <= n; ++i) {
            const std::string h = "h" + std::to_string(i);
            for (const char* verb : {"power-on", "unhang", "thaw-daemon", "storage-heal", "fast"}) {
                g.timeline.append("140 ").append(verb).append(" ").append(h).append("\n");
            }
            for (const char* role : {"cluster", "vm-uplink", "storage"})
                g.timeline.append("140 heal ").append(h).append(" ").append(role).append("\n");
            g.timeline.append("140 admin ").append(h).append(" maintenance-off\n");
            g.timeline.append("140 admin ").append(h).append(" uncordon\n");
        }
        add_migrations(g, n);
        return g;
    }

  private:
    // Drains by live migration in half the runs (and half of those drain a host of
    // their own), with migrations of 0.5 to 10 s, some of which fail or run out of
    // time. Drawn from a generator of their own, so the
    // rest of each seed's schedule is what it was before migrations existed.
    void add_migrations(Generated& g, int n) {
        const auto pick2 = [&](int lo, int hi) {
            return std::uniform_int_distribution<int>(lo, hi)(extra_);
        };
        if (pick2(0, 1) == 0) return;
        g.cluster += "policy drain_migrate yes\nsim migrate_time " + secs(pick2(5, 100)) + "\n";
        // A drain of its own, so that a quarter of the runs migrate at all.
        if (pick2(0, 1) == 1) {
            const int at = pick2(5, 90);
            const std::string h = "h" + std::to_string(pick2(1, n));
            g.timeline += std::to_string(at) + " admin " + h + " drain\n" +
                          std::to_string(at + pick2(5, 40)) + " admin " + h + " uncordon\n";
        }
        const int failures = pick2(0, 3);
        for (int f = 0; f < failures; ++f) {
            g.timeline += std::to_string(pick2(1, 100)) + " fail-migrate h" +
                          std::to_string(pick2(1, n)) + " vm" + std::to_string(pick2(0, 2 * n)) +
                          (pick2(0, 1) == 0 ? " timeout" : "") + "\n";
        }
    }

    std::mt19937_64 rng_;
    std::mt19937_64 extra_;
};

// How long after the last heal every VM may take to run again, from the policy and
// the world's own timings: a host powered on at the heal boots, joins the membership,
// and as coordinator waits out a fence delay from its start for peers it has not
// heard (a VM never seen held may be running there); then a stop may need its grace
// and a start its time, each acted on at a heartbeat.
vigil::core::Duration downtime_bound(const vigil::sim::Scenario& s) {
    const auto hb = s.policy.heartbeat_interval;
    return s.boot_time + s.membership_delay + s.policy.fence_delay + s.stop_grace + s.start_time +
           4 * hb;
}

struct Block {
    std::uint64_t seed = 0;
    int runs = 0;
};

struct Totals {
    std::size_t steps = 0;
    int runs = 0;
    int failed = 0;
};

// Runs `runs` schedules from seed, seed+1, ...; prints each failure as a scenario.
void run_block(const Block& b, bool emit, Totals& t) {
    constexpr auto kHealAt = std::chrono::seconds{140};
    for (int run = 0; run < b.runs; ++run) {
        const std::uint64_t run_seed = b.seed + static_cast<std::uint64_t>(run);
        Gen gen(run_seed);
        const auto g = gen.make();
        if (emit)
            std::cout << "--- cluster.txt\n"
                      << g.cluster << "--- timeline.txt\n"
                      << g.timeline << "---\n";
        vigil::sim::Scenario s;
        s.name = "random-" + std::to_string(run_seed);
        if (auto r = vigil::sim::parse_cluster(g.cluster, s); !r) {
            std::cout << "generator bug: " << r.error() << "\n" << g.cluster;
            std::exit(2);
        }
        if (auto r = vigil::sim::parse_timeline(g.timeline, s); !r) {
            std::cout << "generator bug: " << r.error() << "\n" << g.timeline;
            std::exit(2);
        }
        if (auto v = s.policy.validate(); !v) {
            std::cout << "generator bug: " << v.error() << "\n" << g.cluster;
            std::exit(2);
        }
        const auto policy = s.policy;
        const auto bound = downtime_bound(s);
        vigil::sim::World world(std::move(s));
        const auto r = world.run();
        t.steps += r.steps;
        ++t.runs;
        std::vector<std::string> stuck;
        for (const auto& [vm, where] : r.final_vms) {
            const auto* p = policy.vm(vm);
            const bool may_stay_paused =
                p != nullptr && p->io_error == vigil::core::IoErrorPolicy::kLeavePaused;
            if (where.size() != 1) {
                stuck.push_back(vm + " has " + std::to_string(where.size()) +
                                " qemu processes at the end");
            } else if (where[0].second != vigil::core::VmState::kRunning && !may_stay_paused) {
                stuck.push_back(vm + " is " + std::string(vigil::core::name(where[0].second)) +
                                " on " + where[0].first + " at the end");
            } else if (!may_stay_paused) {
                const auto back = r.last_back.find(vm);
                if (back != r.last_back.end() && back->second > kHealAt + bound) {
                    stuck.push_back(
                        vm + " ran again only at " + vigil::core::format_seconds(back->second) +
                        " s, later than the heal + " + vigil::core::format_seconds(bound) + " s");
                }
            }
        }
        if (!r.violations.empty() || !stuck.empty()) {
            ++t.failed;
            std::cout << "FAIL run seed " << run_seed << " (replay: vigil_sim_random --seed "
                      << run_seed << " --runs 1):\n";
            for (const auto& v : r.violations) std::cout << "  safety: " << v << "\n";
            for (const auto& v : stuck) std::cout << "  liveness: " << v << "\n";
            std::cout << "--- cluster.txt\n"
                      << g.cluster << "--- timeline.txt\n"
                      << g.timeline << "---\n";
            if (std::getenv("VIGIL_SIM_VERBOSE") != nullptr) {
                for (const auto& l : r.log) std::cout << vigil::sim::format_line(l) << "\n";
            }
        }
    }
}

}  // namespace

// vigil_sim_random [--seed S | --seeds S1,S2,...] [--fresh [--fresh-runs N]] [--runs N]
//                  [--min-steps M] [--soak STEPS] [--emit]
// Each seed S runs the schedules of seeds S .. S+N-1; --fresh adds one block from a
// new random seed, printed. --soak runs blocks of N from a random seed until STEPS
// simulated steps are done. Every failure prints its seed and scenario text.
int main(int argc, char** argv) {
    std::vector<std::uint64_t> seeds;
    bool fresh = false;
    bool emit = false;
    int runs = 10;
    std::optional<int> fresh_runs;  // runs of the new seed's block; --runs when unset
    std::size_t min_steps = 10000;
    std::size_t soak = 0;
    if (const char* env = std::getenv("VIGIL_SIM_SEED"))
        seeds.push_back(std::strtoull(env, nullptr, 10));
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--emit") {
            emit = true;
        } else if (a == "--fresh") {
            fresh = true;
        } else if (a == "--seed" && has_value) {
            seeds = {std::strtoull(argv[++i], nullptr, 10)};
        } else if (a == "--seeds" && has_value) {
            seeds.clear();
            std::stringstream list(argv[++i]);
            for (std::string one; std::getline(list, one, ',');)
                seeds.push_back(std::strtoull(one.c_str(), nullptr, 10));
        } else if (a == "--runs" && has_value) {
            runs = std::atoi(argv[++i]);
        } else if (a == "--fresh-runs" && has_value) {
            fresh_runs = std::atoi(argv[++i]);
        } else if (a == "--min-steps" && has_value) {
            min_steps = std::strtoull(argv[++i], nullptr, 10);
        } else if (a == "--soak" && has_value) {
            soak = std::strtoull(argv[++i], nullptr, 10);
        } else {
            std::cerr << "vigil_sim_random: unknown argument " << a << "\n";
            return 2;
        }
    }
    if (seeds.empty() && !fresh && soak == 0) fresh = true;
    std::vector<Block> blocks;
    blocks.reserve(seeds.size() + 1);
    for (const auto s : seeds) blocks.push_back(Block{s, runs});
    if (fresh) {
        blocks.push_back(
            Block{std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32),
                  fresh_runs.value_or(runs)});
    }
    Totals t;
    for (const auto& b : blocks) {
        std::cout << "seed " << b.seed << ": " << b.runs
                  << " runs (replay: vigil_sim_random --seed " << b.seed << " --runs " << b.runs
                  << ")\n"
                  << std::flush;  // the replay line is out before a run that may crash or hang
        run_block(b, emit, t);
    }
    if (soak > 0) {
        std::mt19937_64 pick(std::random_device{}());
        while (t.steps < soak) {
            const auto s = pick();
            std::cout << "soak seed " << s << ": " << runs << " runs, " << t.steps
                      << " steps so far\n"
                      << std::flush;  // out before the runs, as above
            run_block(Block{s, runs}, emit, t);
        }
    }
    std::cout << t.runs << " runs, " << t.steps << " simulated steps, " << t.failed << " failed\n";
    if (t.steps < min_steps) {
        std::cout << "fewer than " << min_steps << " steps: raise --runs\n";
        return 1;
    }
    return t.failed == 0 ? 0 : 1;
}
