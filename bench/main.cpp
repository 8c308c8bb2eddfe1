// vigil-bench: what vigild costs the host it watches. Run by hand as root;
// not a test. Exit 0 when every target measured was met, 2 when one was
// missed, 1 when a benchmark could not run.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <fstream>

#include "bench/benches.h"
#include "daemon/ports/guarded_main.h"

namespace vigil::bench {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

void on_signal(int) { g_interrupted = 1; }

const char* verdict(bool met) { return met ? "met" : "MISSED"; }

}  // namespace

bool interrupted() { return g_interrupted != 0; }

void install_interrupt_handler() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace vigil::bench

namespace {

int run(int argc, char** argv) {
    using namespace vigil::bench;
    CLI::App app{
        "vigil-bench: vigild's overhead on block I/O, its error delivery latency and its cost at "
        "rest"};
    std::vector<std::string> only;
    IoOptions io;
    LatencyOptions latency;
    RestOptions rest;
    std::string json_path;
    app.add_option("--only", only, "run only these: io, latency, rest")
        ->check(CLI::IsMember({"io", "latency", "rest"}));
    app.add_option("--pairs", io.pairs, "fio runs without and with vigild")
        ->check(CLI::Range(1, 100));
    app.add_option("--seconds", io.seconds, "length of each fio run")->check(CLI::Range(1, 600));
    app.add_option("--iodepth", io.iodepth, "fio iodepth")->check(CLI::Range(1, 4096));
    app.add_option("--ioengine", io.ioengine, "fio ioengine")
        ->check(CLI::IsMember({"io_uring", "libaio"}));
    app.add_option("--disk-mib", io.disk_mib, "size of the tmpfs-backed disk")
        ->check(CLI::Range(16, 16384));
    app.add_flag("--loop-direct-io", io.loop_direct_io, "loop device in direct I/O mode");
    app.add_flag("!--no-program-costs", io.program_costs,
                 "skip the run with BPF run-time statistics");
    app.add_option("--errors", latency.errors, "EIO errors per latency series")
        ->check(CLI::Range(1, 100000));
    app.add_option("--spacing-us", latency.spacing_us, "pause between two errors")
        ->check(CLI::Range(0, 1000000));
    app.add_flag("!--no-load", latency.under_load, "skip the latency series under fio load");
    app.add_option("--rest-seconds", rest.seconds, "length of the at-rest window")
        ->check(CLI::Range(5, 3600));
    app.add_option("--json", json_path, "also write the figures to this file");
    CLI11_PARSE(app, argc, argv);
    latency.iodepth = io.iodepth;

    if (::geteuid() != 0) {
        std::fprintf(stderr, "vigil-bench: needs root (loop devices, FUSE, BPF)\n");
        return 1;
    }
    install_interrupt_handler();
    auto wanted = [&](const std::string& name) {
        return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
    };

    nlohmann::json figures;
    std::vector<std::string> summary;
    bool all_met = true;
    auto fail = [](const std::string& what, const std::string& error) {
        std::fprintf(stderr, "vigil-bench: %s: %s\n", what.c_str(), error.c_str());
        return 1;
    };
    char line[512];

    if (wanted("io") && !interrupted()) {
        auto r = io_overhead(io);
        if (!r) return fail("block I/O overhead", r.error());
        figures["io"] = *r;
        all_met = all_met && r->met();
        std::snprintf(
            line, sizeof(line),
            "block I/O: median IOPS ratio with/without %.4f (%.2f%% fewer; quartiles %.4f..%.4f) "
            "over %zu pairs; median IOPS %.0f without, %.0f with; target <= 3%% fewer: %s",
            r->median_ratio, (1.0 - r->median_ratio) * 100.0, r->p25_ratio, r->p75_ratio,
            r->ratios.size(), r->median_iops_without, r->median_iops_with, verdict(r->met()));
        summary.emplace_back(line);
        std::snprintf(
            line, sizeof(line),
            "  CPU per I/O (medians): I/O path %.2f -> %.2f us (pair ratio %.4f, %+.2f%%), "
            "fio %.2f -> %.2f us, vigild %.3f us, machine %.2f -> %.2f us; BPF programs %.0f ns",
            r->median_path_us_without, r->median_path_us_with, r->median_path_ratio,
            (r->median_path_ratio - 1.0) * 100.0, r->median_fio_us_without, r->median_fio_us_with,
            r->median_vigild_us, r->median_machine_us_without, r->median_machine_us_with,
            r->program_ns_per_io);
        summary.emplace_back(line);
    }
    if (wanted("latency") && !interrupted()) {
        auto r = error_latency(latency);
        if (!r) return fail("error delivery latency", r.error());
        figures["latency"] = *r;
        all_met = all_met && r->met();
        for (const auto& s : r->series) {
            std::snprintf(
                line, sizeof(line),
                "error delivery (%s): %d/%d recorded, p50 %.0f us, p99 %.0f us, max %.0f us",
                s.label.c_str(), s.recorded, s.made, s.p50_us, s.p99_us, s.max_us);
            summary.emplace_back(line);
        }
        summary.push_back(std::string("  target p99 < 5 ms (idle series), every error recorded: ") +
                          verdict(r->met()));
    }
    if (wanted("rest") && !interrupted()) {
        auto r = at_rest(rest);
        if (!r) return fail("daemon at rest", r.error());
        figures["rest"] = *r;
        all_met = all_met && r->met();
        std::snprintf(line, sizeof(line),
                      "at rest: %.3f%% of one core over %.0f s, VmRSS %.1f MiB, VmHWM %.1f MiB; "
                      "target < 0.5%% and < 30 MiB: %s",
                      r->cpu_percent_of_core, r->window_s, static_cast<double>(r->rss_kib) / 1024.0,
                      static_cast<double>(r->hwm_kib) / 1024.0, verdict(r->met()));
        summary.emplace_back(line);
    }
    if (interrupted()) {
        std::fprintf(stderr, "vigil-bench: interrupted\n");
        return 1;
    }

    std::printf("\nsummary\n");
    for (const auto& s : summary) std::printf("%s\n", s.c_str());
    if (!json_path.empty()) {
        std::ofstream(json_path) << figures.dump(2) << '\n';
    }
    return all_met ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
    return vigil::guarded_main("vigil-bench", [&] { return run(argc, argv); });
}
