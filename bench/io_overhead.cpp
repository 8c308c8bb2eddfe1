// Random 4 KiB reads at saturation on a tmpfs-backed loop device, alternating
// runs without and with vigild (and so its block programs) attached.
#include <cstdio>
#include <thread>

#include "bench/benches.h"
#include "bench/bpf_programs.h"
#include "bench/rig.h"
#include "bench/vigild_process.h"

namespace vigil::bench {
namespace {

using namespace std::chrono_literals;

// Another vigild's programs tax every request of every run alike and blur the
// comparison: give them this long to go away before a run.
constexpr auto kQuietWait = 30s;
// After READY=1, so vigild's start-up work is not billed to the run.
constexpr auto kSettle = 500ms;

std::set<std::uint32_t> ids_of(const std::vector<ProgramStats>& programs) {
    std::set<std::uint32_t> ids;
    for (const auto& p : programs) ids.insert(p.id);
    return ids;
}

int wait_for_quiet() {
    const auto deadline = std::chrono::steady_clock::now() + kQuietWait;
    for (;;) {
        auto foreign = foreign_block_programs({});
        if (!foreign) return -1;
        if (*foreign == 0 || std::chrono::steady_clock::now() >= deadline || interrupted()) {
            return *foreign;
        }
        std::this_thread::sleep_for(500ms);
    }
}

std::expected<IoRun, std::string> one_run(const IoOptions& options, const TmpfsDisk& disk,
                                          bool with_vigild, int& foreign) {
    foreign = wait_for_quiet();
    std::unique_ptr<VigildProcess> vigild;
    std::set<std::uint32_t> ours;
    double vigild_cpu0 = 0;
    if (with_vigild) {
        auto started = VigildProcess::start("");
        if (!started) return std::unexpected(started.error());
        vigild = std::move(*started);
        std::this_thread::sleep_for(kSettle);
        ours = ids_of(programs_of(vigild->pid()));
        if (auto f = foreign_block_programs(ours)) foreign = *f;
        auto cpu = process_cpu(vigild->pid());
        if (!cpu) return std::unexpected(cpu.error());
        vigild_cpu0 = *cpu;
    }
    const double workers0 = kernel_workers_cpu();
    auto machine0 = machine_cpu();
    auto fio = run_fio(FioJob{.device = disk.loop().path(),
                              .seconds = options.seconds,
                              .iodepth = options.iodepth,
                              .ioengine = options.ioengine});
    auto machine1 = machine_cpu();
    const double workers1 = kernel_workers_cpu();
    if (!fio) return std::unexpected(fio.error());
    if (!machine0 || !machine1) return std::unexpected("cannot read /proc/stat");
    if (fio->read_ios == 0) return std::unexpected("fio did no I/O");
    const double ios = static_cast<double>(fio->read_ios);
    IoRun run{.with_vigild = with_vigild,
              .iops = fio->read_iops,
              .ios = fio->read_ios,
              .machine_us_per_io = (machine1->busy - machine0->busy) * 1e6 / ios,
              .fio_us_per_io = fio->cpu_s * 1e6 / ios};
    if (vigild) {
        if (!vigild->running())
            return std::unexpected("vigild died during the run:\n" + vigild->log());
        auto cpu = process_cpu(vigild->pid());
        if (!cpu) return std::unexpected(cpu.error());
        run.vigild_us_per_io = (*cpu - vigild_cpu0) * 1e6 / ios;
    }
    run.path_us_per_io = run.fio_us_per_io + run.vigild_us_per_io +
                         (workers1 - workers0 + machine1->softirq - machine0->softirq) * 1e6 / ios;
    return run;
}

void print_run(int pair, const IoRun& r, int foreign) {
    std::printf(
        "  pair %d %-8s %9.0f IOPS  CPU per I/O: path %6.2f us (fio %5.2f, vigild %5.3f), "
        "machine %6.2f us%s\n",
        pair, r.with_vigild ? "with" : "without", r.iops, r.path_us_per_io, r.fio_us_per_io,
        r.vigild_us_per_io, r.machine_us_per_io,
        foreign > 0 ? ("  (" + std::to_string(foreign) + " foreign block programs)").c_str() : "");
    std::fflush(stdout);
}

std::expected<void, std::string> measure_programs(const IoOptions& options, const TmpfsDisk& disk,
                                                  IoReport& report) {
    auto vigild = VigildProcess::start("");
    if (!vigild) return std::unexpected(vigild.error());
    std::this_thread::sleep_for(kSettle);
    auto stats = RunTimeStats::enable();
    if (!stats) return std::unexpected(stats.error());
    const auto before = programs_of((*vigild)->pid());
    auto fio = run_fio(FioJob{.device = disk.loop().path(),
                              .seconds = options.seconds,
                              .iodepth = options.iodepth,
                              .ioengine = options.ioengine});
    const auto after = programs_of((*vigild)->pid());
    if (!fio) return std::unexpected(fio.error());
    auto names = program_names();
    if (!names) return std::unexpected(names.error());
    const double ios = static_cast<double>(fio->read_ios);
    for (const auto& a : after) {
        ProgramStats b{};
        for (const auto& x : before) {
            if (x.id == a.id) b = x;
        }
        const auto runs = a.run_cnt - b.run_cnt;
        const auto ns = a.run_time_ns - b.run_time_ns;
        ProgramCost cost{
            .name = names->contains(a.id) ? names->at(a.id) : std::to_string(a.id),
            .runs = runs,
            .ns_per_run = runs > 0 ? static_cast<double>(ns) / static_cast<double>(runs) : 0,
            .runs_per_io = static_cast<double>(runs) / ios};
        report.program_ns_per_io += static_cast<double>(ns) / ios;
        std::printf("  program %-20s %10llu runs  %6.1f ns/run  %5.2f runs/IO\n", cost.name.c_str(),
                    static_cast<unsigned long long>(cost.runs), cost.ns_per_run, cost.runs_per_io);
        report.programs.push_back(std::move(cost));
    }
    std::printf("  programs together: %.1f ns per I/O (%.0f IOPS in this run, statistics on)\n",
                report.program_ns_per_io, fio->read_iops);
    return {};
}

}  // namespace

bool IoReport::met() const { return median_ratio >= 1.0 - kMaxIopsLoss; }

std::expected<IoReport, std::string> io_overhead(const IoOptions& options) {
    auto disk = TmpfsDisk::make(options.disk_mib, options.loop_direct_io);
    if (!disk) return std::unexpected(disk.error());
    IoReport report;
    report.device = disk->loop().path().string();
    std::printf(
        "block I/O overhead: fio randread 4k %s iodepth %d, %d s per run, on %s "
        "(%llu MiB on tmpfs, loop direct I/O %s)\n",
        options.ioengine.c_str(), options.iodepth, options.seconds, report.device.c_str(),
        static_cast<unsigned long long>(options.disk_mib), options.loop_direct_io ? "on" : "off");

    // One unmeasured run first: page tables, caches and fio's first start.
    if (auto warm = run_fio(FioJob{.device = disk->loop().path(),
                                   .seconds = 1,
                                   .iodepth = options.iodepth,
                                   .ioengine = options.ioengine});
        !warm) {
        return std::unexpected(warm.error());
    }
    std::vector<double> without_iops, with_iops, without_machine, with_machine, without_fio,
        with_fio, vigild_us, without_path, with_path;
    int contaminated = 0;
    for (int pair = 1; pair <= options.pairs && !interrupted(); ++pair) {
        // Alternate which goes first, so a drift of the machine within a pair
        // does not always favour the same side.
        const bool vigild_first = pair % 2 == 0;
        double iops[2] = {0, 0};  // [without, with]
        double path[2] = {0, 0};
        for (int k = 0; k < 2; ++k) {
            const bool with = (k == 0) == vigild_first;
            int foreign = 0;
            auto run = one_run(options, *disk, with, foreign);
            if (!run) return std::unexpected(run.error());
            if (foreign > 0) ++contaminated;
            print_run(pair, *run, foreign);
            iops[with ? 1 : 0] = run->iops;
            path[with ? 1 : 0] = run->path_us_per_io;
            (with ? with_path : without_path).push_back(run->path_us_per_io);
            (with ? with_iops : without_iops).push_back(run->iops);
            (with ? with_machine : without_machine).push_back(run->machine_us_per_io);
            (with ? with_fio : without_fio).push_back(run->fio_us_per_io);
            if (with) vigild_us.push_back(run->vigild_us_per_io);
            report.runs.push_back(*run);
        }
        report.ratios.push_back(iops[1] / iops[0]);
        report.path_ratios.push_back(path[1] / path[0]);
        std::printf("  pair %d with/without: IOPS %.4f, path CPU per I/O %.4f\n", pair,
                    report.ratios.back(), report.path_ratios.back());
    }
    if (report.ratios.empty()) return std::unexpected("interrupted before the first pair");
    report.median_ratio = median(report.ratios);
    report.p25_ratio = percentile(report.ratios, 25);
    report.p75_ratio = percentile(report.ratios, 75);
    report.runs_with_foreign_programs = contaminated;
    report.median_iops_without = median(without_iops);
    report.median_iops_with = median(with_iops);
    report.median_machine_us_without = median(without_machine);
    report.median_machine_us_with = median(with_machine);
    report.median_fio_us_without = median(without_fio);
    report.median_fio_us_with = median(with_fio);
    report.median_vigild_us = median(vigild_us);
    report.median_path_us_without = median(without_path);
    report.median_path_us_with = median(with_path);
    report.median_path_ratio = median(report.path_ratios);
    if (contaminated > 0) {
        std::printf("  warning: %d runs had another process's block programs attached\n",
                    contaminated);
    }
    if (options.program_costs && !interrupted()) {
        if (auto ok = measure_programs(options, *disk, report); !ok) {
            return std::unexpected(ok.error());
        }
    }
    return report;
}

void to_json(nlohmann::json& j, const IoReport& r) {
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& run : r.runs) {
        runs.push_back({{"with_vigild", run.with_vigild},
                        {"iops", run.iops},
                        {"ios", run.ios},
                        {"machine_us_per_io", run.machine_us_per_io},
                        {"fio_us_per_io", run.fio_us_per_io},
                        {"vigild_us_per_io", run.vigild_us_per_io},
                        {"path_us_per_io", run.path_us_per_io}});
    }
    nlohmann::json programs = nlohmann::json::array();
    for (const auto& p : r.programs) {
        programs.push_back({{"name", p.name},
                            {"runs", p.runs},
                            {"ns_per_run", p.ns_per_run},
                            {"runs_per_io", p.runs_per_io}});
    }
    j = {{"device", r.device},
         {"runs", runs},
         {"ratios", r.ratios},
         {"median_ratio", r.median_ratio},
         {"p25_ratio", r.p25_ratio},
         {"p75_ratio", r.p75_ratio},
         {"runs_with_foreign_programs", r.runs_with_foreign_programs},
         {"median_iops_without", r.median_iops_without},
         {"median_iops_with", r.median_iops_with},
         {"median_machine_us_per_io_without", r.median_machine_us_without},
         {"median_machine_us_per_io_with", r.median_machine_us_with},
         {"median_fio_us_per_io_without", r.median_fio_us_without},
         {"median_fio_us_per_io_with", r.median_fio_us_with},
         {"median_vigild_us_per_io", r.median_vigild_us},
         {"median_path_us_per_io_without", r.median_path_us_without},
         {"median_path_us_per_io_with", r.median_path_us_with},
         {"path_ratios", r.path_ratios},
         {"median_path_ratio", r.median_path_ratio},
         {"programs", programs},
         {"program_ns_per_io", r.program_ns_per_io},
         {"target_met", r.met()}};
}

}  // namespace vigil::bench
