// Seeded randomized fault schedules with the same safety checks as the scenarios.
// Each run's cluster and timeline are generated as scenario text, so a failing seed
// is printed as a scenario folder's cluster.txt and timeline.txt, ready to keep.

#include <cstdlib>
#include <iostream>
#include <random>
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
    explicit Gen(std::uint64_t seed) : rng_(seed) {}
    int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
    bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
    std::string host(int n) { return "h" + std::to_string(pick(1, n)); }

    Generated make() {
        Generated g;
        const int n = pick(3, 5);
        const char* iso[] = {"leave-running", "stop-when-uplinks-dead", "always-stop"};
        g.cluster += "policy isolation_response " + std::string(iso[pick(0, 2)]) + "\n";
        g.cluster += "sim duration 230s\nsim boot_time " + std::to_string(pick(8, 40)) + "s\n";
        g.cluster += "sim restart_delay " + std::to_string(pick(1, 7)) + "s\n";
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
            const auto ev = [&](int t, const std::string& text) {
                g.timeline +=
                    std::to_string(t / 10) + "." + std::to_string(t % 10) + " " + text + "\n";
            };
            switch (pick(0, 10)) {
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
                    ev(at, "cut " + h + " " + r);
                    ev(at + len, "heal " + h + " " + r);
                    break;
                }
                case 5: {
                    std::string a, b;
                    for (int i = 1; i <= n; ++i) {
                        std::string& side = chance(0.5) ? a : b;
                        side += (side.empty() ? "h" : ",h") + std::to_string(i);
                    }
                    if (a.empty() || b.empty()) break;
                    ev(at, "partition " + a + " " + b);
                    ev(at + len, "partition-heal");
                    break;
                }
                case 6: {
                    const std::string who = chance(0.3) ? "all" : h;
                    const std::string how =
                        std::string(chance(0.5) ? " inflight" : "") + (chance(0.3) ? " stall" : "");
                    ev(at, "storage-fail " + who + how);
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
                    const bool maintenance = chance(0.5);
                    ev(at, "admin " + h + (maintenance ? " maintenance-on" : " drain"));
                    ev(at + len, "admin " + h + (maintenance ? " maintenance-off" : " undrain"));
                    break;
                }
                case 9:
                    ev(at, "storage-fail all");
                    ev(at + pick(10, 100), "cut " + h + " cluster");
                    ev(at + len, "storage-heal all");
                    ev(at + len + 5, "heal " + h + " cluster");
                    break;
            }
        }
        // Everything heals at 140 s; by the end every VM must run again (liveness).
        g.timeline += "140 partition-heal\n140 storage-heal all\n140 space vol-a\n";
        for (int i = 1; i <= n; ++i) {
            const std::string h = "h" + std::to_string(i);
            for (const char* verb : {"power-on", "unhang", "thaw-daemon", "storage-heal"}) {
                g.timeline += std::string("140 ") + verb + " " + h + "\n";
            }
            for (const char* role : {"cluster", "vm-uplink", "storage"})
                g.timeline += "140 heal " + h + " " + role + "\n";
            g.timeline += "140 admin " + h + " maintenance-off\n140 admin " + h + " undrain\n";
        }
        return g;
    }

  private:
    std::mt19937_64 rng_;
};

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t seed = std::random_device{}();
    if (const char* env = std::getenv("VIGIL_SIM_SEED")) seed = std::strtoull(env, nullptr, 10);
    int runs = 10;
    bool emit =
        false;  // print each run's cluster.txt and timeline.txt (to keep a seed as a scenario)
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--emit")
            emit = true;
        else if (a == "--seed" && i + 1 < argc)
            seed = std::strtoull(argv[++i], nullptr, 10);
        else if (a == "--runs" && i + 1 < argc)
            runs = std::atoi(argv[++i]);
    }
    std::cout << "seed " << seed << " (replay: VIGIL_SIM_SEED=" << seed
              << " vigil_sim_random --runs " << runs << ")\n";
    std::size_t steps = 0;
    int failed = 0;
    for (int run = 0; run < runs; ++run) {
        const std::uint64_t run_seed = seed + static_cast<std::uint64_t>(run);
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
            return 2;
        }
        if (auto r = vigil::sim::parse_timeline(g.timeline, s); !r) {
            std::cout << "generator bug: " << r.error() << "\n" << g.timeline;
            return 2;
        }
        const auto policy = s.policy;
        vigil::sim::World world(std::move(s));
        const auto r = world.run();
        steps += r.steps;
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
            }
        }
        if (!r.violations.empty() || !stuck.empty()) {
            ++failed;
            std::cout << "FAIL run seed " << run_seed << ":\n";
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
    std::cout << runs << " runs, " << steps << " simulated steps, " << failed << " failed\n";
    if (steps < 10000) {
        std::cout << "fewer than 10000 steps: raise --runs\n";
        return 1;
    }
    return failed == 0 ? 0 : 1;
}
