// vigil-lab: a cluster of hosts on one machine, a nemesis and a checker.
// Only wires the command line to the lab; see README.md.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "daemon/ports/guarded_main.h"
#include "tests/lab/checker.h"
#include "tests/lab/demo.h"
#include "tests/lab/lab.h"
#include "tests/lab/matrix.h"
#include "tests/lab/nemesis.h"
#include "tests/lab/safety.h"
#include "tests/lab/soak.h"

namespace lab = vigil::lab;

namespace {

int report(const lab::Result<>& r) {
    if (r) return 0;
    std::cerr << "vigil-lab: " << r.error().what << "\n";
    return 1;
}

lab::Result<int> host_arg(const lab::Lab& l, const std::string& name) {
    auto h = l.layout().host_index(name);
    if (!h) return lab::fail("no host '" + name + "' in this lab");
    return *h;
}

int run(int argc, char** argv) {
    CLI::App app{"vigil-lab: several vigil hosts on one machine, a nemesis and a checker"};
    app.require_subcommand(1);
    std::string root = lab::default_root().string();
    app.add_option("--root", root,
                   "lab state directory (default $VIGIL_LAB_ROOT or /var/lib/vigil-lab)");

    int hosts = 3;
    int vms = 2;
    auto* up = app.add_subcommand("up", "bring a lab up (after cleaning up any earlier run)");
    up->add_option("--hosts", hosts, "number of hosts (1-9)");
    up->add_option("--vms", vms, "number of guests, spread over the hosts");
    bool standalone_vigild = false;
    up->add_flag("--standalone-vigild", standalone_vigild,
                 "run vigild standalone (watching only) instead of in cluster mode");
    bool drain_migrate = false;
    up->add_flag("--drain-migrate", drain_migrate,
                 "vigild drains by live migration (cluster.drain_migrate)");
    auto* down = app.add_subcommand("down", "remove the lab and anything a crashed run left");
    bool as_json = false;
    auto* status = app.add_subcommand("status", "show hosts, quorum, VMs and faults");
    status->add_flag("--json", as_json, "machine-readable");
    std::string host;
    std::vector<std::string> command;
    auto* exec = app.add_subcommand("exec", "run a command inside a host: exec h1 virsh list");
    exec->add_option("host", host)->required();

    auto* power_off = app.add_subcommand("power-off", "SIGKILL every process of a host");
    power_off->add_option("host", host)->required();
    auto* power_on = app.add_subcommand("power-on", "boot a host that was powered off or reset");
    power_on->add_option("host", host)->required();
    auto* safety = app.add_subcommand(
        "safety", "check inside each host: own PID namespace, SysRq trigger covered");
    auto* hang = app.add_subcommand("hang", "SIGSTOP every process of a host");
    hang->add_option("host", host)->required();
    auto* resume = app.add_subcommand("resume", "SIGCONT a hung host");
    resume->add_option("host", host)->required();
    std::string net = "all";
    auto* cut = app.add_subcommand("cut", "pull a host's cable: cluster|vm|storage|all");
    cut->add_option("host", host)->required();
    cut->add_option("network", net)->required();
    auto* heal = app.add_subcommand("heal", "reconnect every cable, undo partitions");
    std::string target;
    std::string mode;
    auto* storage =
        app.add_subcommand("storage", "set a host's storage view: fail|enospc|stall|slow|ok");
    storage->add_option("host", target, "a host or 'all'")->required();
    storage->add_option("mode", mode)->required();
    std::string storage_vm;
    storage->add_option("--vm", storage_vm, "only this guest's volume (its disk), e.g. vm1");
    auto* kill_daemon = app.add_subcommand("kill-daemon", "SIGKILL vigild on a host");
    kill_daemon->add_option("host", host)->required();
    std::string groups;
    std::string part_net = "cluster";
    auto* partition = app.add_subcommand("partition", "split the network: h1,h2/h3");
    partition->add_option("groups", groups)->required();
    partition->add_option("network", part_net, "cluster (default), vm, storage or all");

    double seconds = 0;
    std::string out_path;
    auto* check = app.add_subcommand("check", "sample VMs every 100 ms, write a JSON timeline");
    check->add_option("--for", seconds, "seconds to run (default: until SIGINT/SIGTERM)");
    check->add_option("--out", out_path, "timeline file (default: RUN/timeline.json)");
    auto* demo = app.add_subcommand(
        "demo",
        "a three-host lab, a short story of faults, its timeline and a picture of it "
        "(its own root: ROOT-demo; the lab stays up)");
    std::string row_id;
    bool list_rows = false;
    auto* row = app.add_subcommand(
        "row", "play one row of the fault matrix on the lab that is up, and judge it");
    row->add_option("id", row_id, "the row: F1, F3, ...");
    row->add_flag("--list", list_rows, "list the rows and their promises");
    row->add_option("--out", out_path, "the run as JSON (default: RUN/ID-run.json)");
    std::vector<std::string> bench_rows;
    int bench_runs = 3;
    auto* bench = app.add_subcommand(
        "bench", "repeat rows of the fault matrix, each run on a fresh lab, and report figures");
    bench->add_option("--rows", bench_rows, "rows to repeat (default: all)")->delimiter(',');
    bench->add_option("--runs", bench_runs, "runs of each row")->check(CLI::Range(1, 100));
    bench->add_option("--out", out_path, "the report as JSON");

    int soak_schedules = 1;
    uint64_t soak_seed = 1;
    auto* soak = app.add_subcommand(
        "soak",
        "randomized schedules of overlapping faults, each on a fresh three-host lab, judged "
        "for two writers of a disk, resets the faults do not allow and guests not writing "
        "after the last heal; the schedule of seed S is replayed by --seed S --schedules 1");
    soak->add_option("--schedules", soak_schedules, "how many schedules (seeds S, S+1, ...)")
        ->check(CLI::Range(1, 100000));
    soak->add_option("--seed", soak_seed, "the first schedule's seed (default 1)");
    bool soak_print = false;
    soak->add_flag("--print", soak_print, "print the schedules without playing them");

    // `exec HOST CMD...` hands CMD over untouched (its options are not ours),
    // so cut it off before CLI11 sees it.
    std::vector<std::string> exec_command;
    for (int i = 1; i + 1 < argc; ++i) {
        if (std::string_view(argv[i]) != "exec") continue;
        int from = i + 2;
        if (from < argc && std::string_view(argv[from]) == "--") ++from;
        for (int j = from; j < argc; ++j) exec_command.emplace_back(argv[j]);
        argc = i + 2;
        break;
    }
    CLI11_PARSE(app, argc, argv);

    if (*up) {
        auto l =
            lab::Lab::up(root, hosts, vms, lab::Tools::from_build(), std::cerr,
                         {.cluster_vigild = !standalone_vigild, .drain_migrate = drain_migrate});
        if (!l) return report(std::unexpected(l.error()));
        return 0;
    }
    if (*down) return report(lab::Lab::down(root, std::cerr));
    if (*demo) {
        // A root of its own, so that a demo left up never meets a lab of `up`'s.
        if (app.get_option("--root")->count() == 0) root += "-demo";
        return report(lab::run_demo(root, std::cout));
    }
    if (*row && list_rows) {
        for (const auto& r : lab::matrix_rows())
            std::cout << r.id << "  " << r.title << ": " << r.promise << "\n";
        return 0;
    }
    if (*row) {
        const auto* r = lab::find_row(row_id);
        if (!r) return report(lab::fail("no row '" + row_id + "' (vigil-lab row --list)"));
        auto run = lab::play_row(root, *r, std::cout);
        if (!run) return report(std::unexpected(run.error()));
        auto l = lab::Lab::load(root);
        const auto path = !out_path.empty() ? std::filesystem::path(out_path)
                          : l               ? l->layout().run_dir() / (row_id + "-run.json")
                                            : std::filesystem::path(row_id + "-run.json");
        if (auto w = lab::write_file(path, run->to_json().dump(2) + "\n"); !w) return report(w);
        for (const auto& [name, value] : run->figures)
            std::cout << "  " << name << ": " << value << "\n";
        for (const auto& why : run->failures) std::cout << "  BROKEN: " << why << "\n";
        std::cout << row_id << (run->ok() ? ": promise kept" : ": promise broken") << " ("
                  << path.string() << ")\n";
        return run->ok() ? 0 : 4;
    }
    if (*soak) {
        if (soak_print) {
            for (int i = 0; i < soak_schedules; ++i)
                std::cout << lab::make_schedule(soak_seed + static_cast<uint64_t>(i)).text();
            return 0;
        }
        const auto sum = lab::run_soak(root, soak_seed, soak_schedules, std::cout);
        if (sum.interrupted) return 130;
        return sum.failed == 0 ? 0 : 4;
    }
    if (*bench) {
        std::vector<const lab::Row*> rows;
        if (bench_rows.empty())
            for (const auto& r : lab::matrix_rows()) rows.push_back(&r);
        for (const auto& id : bench_rows) {
            const auto* r = lab::find_row(id);
            if (!r) return report(lab::fail("no row '" + id + "' (vigil-lab row --list)"));
            rows.push_back(r);
        }
        auto b = lab::run_bench(root, rows, bench_runs, std::cerr);
        if (!b) return report(std::unexpected(b.error()));
        if (!out_path.empty())
            if (auto w = lab::write_file(out_path, b->to_json().dump(2) + "\n"); !w)
                return report(w);
        std::cout << b->table();
        for (const auto& [id, why] : b->failed)
            for (const auto& w : why) std::cout << id << " " << w << "\n";
        return b->failed.empty() ? 0 : 4;
    }

    auto l = lab::Lab::load(root);
    if (!l) return report(std::unexpected(l.error()));

    if (*status) {
        if (as_json)
            std::cout << l->status_json() << "\n";
        else
            l->print_status(std::cout);
        return 0;
    }
    if (*heal) return report(lab::heal(*l));
    if (*safety) {
        bool all = true;
        for (int h = 1; h <= l->layout().hosts(); ++h) {
            auto v = lab::probe_safety(*l, h);
            bool ok = v && v->ok();
            all = all && ok;
            std::cout << l->layout().host_name(h) << ": " << (ok ? "safe: " : "UNSAFE: ")
                      << (v ? v->text() : v.error().what) << "\n";
        }
        return all ? 0 : 1;
    }
    if (*check) {
        auto t = lab::run_checker(*l, seconds,
                                  out_path.empty() ? l->layout().run_dir() / "timeline.json"
                                                   : std::filesystem::path(out_path));
        if (!t) return report(std::unexpected(t.error()));
        std::cout << lab::describe(*t);
        return t->violations.empty() ? 0 : 3;
    }
    if (*storage) {
        auto m = lab::parse_storage_mode(mode);
        if (!m) return report(lab::fail("storage mode must be ok, fail, enospc, stall or slow"));
        int h = 0;
        if (target != "all") {
            auto hh = host_arg(*l, target);
            if (!hh) return report(std::unexpected(hh.error()));
            h = *hh;
        }
        int vm = 0;
        if (!storage_vm.empty()) {
            auto v = l->layout().vm_index(storage_vm);
            if (!v) return report(lab::fail("no guest '" + storage_vm + "' in this lab"));
            vm = *v;
        }
        return report(lab::storage(*l, h, *m, vm));
    }
    if (*partition) {
        auto g = lab::parse_groups(l->layout(), groups);
        if (!g) return report(std::unexpected(g.error()));
        auto n = lab::parse_nets(part_net);
        if (!n) return report(std::unexpected(n.error()));
        return report(lab::partition(*l, *g, *n));
    }
    auto h = host_arg(*l, host);
    if (!h) return report(std::unexpected(h.error()));
    if (*exec) {
        command = exec_command;
        if (command.empty()) return report(lab::fail("exec needs a command"));
        auto p = l->place(*h);
        if (!p) return report(std::unexpected(p.error()));
        // Inside the host's PID namespace too: a child of this process.
        lab::exec_in(*p, command);
    }
    if (*power_off) return report(lab::power_off(*l, *h));
    if (*power_on) return report(lab::power_on(*l, *h, std::cerr));
    if (*hang) return report(lab::hang(*l, *h));
    if (*resume) return report(lab::resume(*l, *h));
    if (*kill_daemon) return report(lab::kill_daemon(*l, *h));
    if (*cut) {
        auto n = lab::parse_nets(net);
        if (!n) return report(std::unexpected(n.error()));
        return report(lab::cut(*l, *h, *n));
    }
    return 2;
}

}  // namespace

// Nothing is meant to throw past run(); if something does (out of memory,
// a library's exception), say what it was instead of an abort without a word.
int main(int argc, char** argv) {
    return vigil::guarded_main("vigil-lab", [&] { return run(argc, argv); });
}
