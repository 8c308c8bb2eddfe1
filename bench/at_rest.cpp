// vigild standalone on a quiet host: light background I/O, /metrics read now
// and then as Prometheus would; what it costs in CPU and memory.
#include <cstdio>
#include <thread>

#include "bench/benches.h"
#include "bench/bpf_programs.h"
#include "bench/rig.h"
#include "bench/vigild_process.h"

namespace vigil::bench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Start-up (loading and attaching the programs) is not rest.
constexpr auto kSettle = 2s;

}  // namespace

bool RestReport::met() const {
    return cpu_percent_of_core < kMaxCorePercent && hwm_kib < kMaxRssKib;
}

std::expected<RestReport, std::string> at_rest(const RestOptions& options) {
    std::printf("daemon at rest: %d s, background randrw at %d IOPS, /metrics every %d s\n",
                options.seconds, options.background_iops, options.scrape_every_s);
    std::fflush(stdout);
    auto disk = TmpfsDisk::make(64, false);
    if (!disk) return std::unexpected(disk.error());
    auto vigild = VigildProcess::start("");
    if (!vigild) return std::unexpected(vigild.error());
    auto fio = testing::Subprocess::spawn(
        fio_argv(FioJob{.device = disk->loop().path(),
                        .rw = "randrw",
                        .seconds = options.seconds + 60,
                        .iodepth = 1,
                        .ioengine = "psync",
                        .rate_iops = options.background_iops}),
        testing::SpawnOptions{.stdout_path = "/dev/null", .stderr_path = "/dev/null"});
    if (!fio) return std::unexpected(fio.error());
    std::this_thread::sleep_for(kSettle);

    const pid_t pid = (*vigild)->pid();
    auto cpu0 = process_cpu(pid);
    if (!cpu0) return std::unexpected(cpu0.error());
    const auto start = Clock::now();
    const auto end = start + std::chrono::seconds(options.seconds);
    RestReport report;
    auto next_scrape = start;
    while (Clock::now() < end && !interrupted()) {
        if (Clock::now() >= next_scrape) {
            auto r = testing::http_get("127.0.0.1", (*vigild)->metrics_port(), "/metrics");
            if (!r || r->status != 200) {
                return std::unexpected("GET /metrics failed: " +
                                       (r ? std::to_string(r->status) : r.error()));
            }
            ++report.scrapes;
            next_scrape += std::chrono::seconds(options.scrape_every_s);
        }
        std::this_thread::sleep_for(100ms);
    }
    auto cpu1 = process_cpu(pid);
    report.window_s = std::chrono::duration<double>(Clock::now() - start).count();
    auto mem = process_memory(pid);
    if (!cpu1) return std::unexpected(cpu1.error());
    if (!mem) return std::unexpected(mem.error());
    if (!(*vigild)->running()) return std::unexpected("vigild died at rest:\n" + (*vigild)->log());
    if (!fio->running()) return std::unexpected("the background fio stopped early");
    report.cpu_s = *cpu1 - *cpu0;
    report.cpu_percent_of_core = report.cpu_s / report.window_s * 100.0;
    report.rss_kib = mem->rss_kib;
    report.hwm_kib = mem->hwm_kib;
    report.bpf_memlock_kib = bpf_memlock_bytes(pid) / 1024;
    std::printf(
        "  %.1f s: vigild used %.3f s of CPU = %.3f%% of one core; VmRSS %.1f MiB, VmHWM %.1f MiB; "
        "BPF maps and programs %.1f MiB of kernel memory; %d scrapes\n",
        report.window_s, report.cpu_s, report.cpu_percent_of_core,
        static_cast<double>(report.rss_kib) / 1024.0, static_cast<double>(report.hwm_kib) / 1024.0,
        static_cast<double>(report.bpf_memlock_kib) / 1024.0, report.scrapes);
    return report;
}

void to_json(nlohmann::json& j, const RestReport& r) {
    j = {{"window_s", r.window_s},
         {"cpu_s", r.cpu_s},
         {"cpu_percent_of_core", r.cpu_percent_of_core},
         {"rss_kib", r.rss_kib},
         {"hwm_kib", r.hwm_kib},
         {"bpf_memlock_kib", r.bpf_memlock_kib},
         {"scrapes", r.scrapes},
         {"target_met", r.met()}};
}

}  // namespace vigil::bench
