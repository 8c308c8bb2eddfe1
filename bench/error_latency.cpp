// From a real block I/O error in the kernel to vigild's handler: vigild logs
// DELIVERY_US for every record (the tracepoint's bpf_ktime_get_ns against
// CLOCK_MONOTONIC in the handler). Errors come from reads of a loop device
// over vigil-faultfs in eio mode.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include "bench/benches.h"
#include "bench/rig.h"
#include "bench/vigild_process.h"

namespace vigil::bench {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kBackingMib = 16;
constexpr std::size_t kBlock = 4096;
constexpr auto kRecordWait = 5s;

// DELIVERY_US of every block error record vigild logged for `device`.
std::vector<double> delivery_us(const std::string& log, const std::string& device) {
    std::vector<double> out;
    std::istringstream in(log);
    std::string line;
    const std::string dev = " DEVICE=" + device + " ";
    while (std::getline(in, line)) {
        if (line.find(dev) == std::string::npos) continue;
        for (const auto& v : log_field_values(line, "DELIVERY_US"))
            out.push_back(std::strtod(v.c_str(), nullptr));
    }
    return out;
}

std::expected<LatencySeries, std::string> series(const std::string& label,
                                                 const LatencyOptions& options,
                                                 const testing::LoopDevice& loop,
                                                 VigildProcess& vigild) {
    const std::size_t already = delivery_us(vigild.log(), loop.name()).size();
    const int fd = ::open(loop.path().c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        return std::unexpected("open " + loop.path().string() + ": " + std::strerror(errno));
    void* buf = nullptr;
    if (::posix_memalign(&buf, kBlock, kBlock) != 0) {
        ::close(fd);
        return std::unexpected("out of memory");
    }
    LatencySeries s{.label = label};
    const std::size_t blocks = kBackingMib * 1024 * 1024 / kBlock;
    std::string unexpected;
    for (int i = 0; i < options.errors && !interrupted(); ++i) {
        const auto offset = static_cast<off_t>((static_cast<std::size_t>(i) % blocks) * kBlock);
        const ssize_t n = ::pread(fd, buf, kBlock, offset);
        if (n < 0 && errno == EIO) {
            ++s.made;
        } else if (unexpected.empty()) {
            unexpected = n < 0 ? std::strerror(errno) : "success";
        }
        std::this_thread::sleep_for(std::chrono::microseconds(options.spacing_us));
    }
    std::free(buf);
    ::close(fd);
    if (!unexpected.empty())
        return std::unexpected("a read in eio mode gave " + unexpected + ", not EIO");

    std::vector<double> values;
    const auto deadline = std::chrono::steady_clock::now() + kRecordWait;
    do {
        auto all = delivery_us(vigild.log(), loop.name());
        values.assign(all.begin() + static_cast<std::ptrdiff_t>(std::min(already, all.size())),
                      all.end());
        if (values.size() >= static_cast<std::size_t>(s.made)) break;
        std::this_thread::sleep_for(100ms);
    } while (std::chrono::steady_clock::now() < deadline);
    s.recorded = static_cast<int>(values.size());
    s.p50_us = percentile(values, 50);
    s.p90_us = percentile(values, 90);
    s.p99_us = percentile(values, 99);
    s.max_us = percentile(values, 100);
    std::printf(
        "  %-10s %d errors made, %d records: p50 %.0f us  p90 %.0f us  p99 %.0f us  max %.0f us\n",
        label.c_str(), s.made, s.recorded, s.p50_us, s.p90_us, s.p99_us, s.max_us);
    std::fflush(stdout);
    return s;
}

}  // namespace

bool LatencyReport::met() const {
    if (series.empty() || series.front().p99_us >= kMaxP99Us) return false;
    for (const auto& s : series) {
        if (s.recorded < s.made || s.made == 0) return false;
    }
    return true;
}

std::expected<LatencyReport, std::string> error_latency(const LatencyOptions& options) {
    std::printf(
        "error delivery latency: %d EIO reads %d us apart on a loop device over vigil-faultfs\n",
        options.errors, options.spacing_us);
    auto fs = testing::FaultFs::make({.backing_mib = kBackingMib});
    if (!fs) return std::unexpected(fs.error());
    auto loop = testing::LoopDevice::make(fs->backing_file());
    if (!loop) return std::unexpected(loop.error());
    // Every error gets its record: the default of 20 per device per second
    // would leave most of them counted only.
    auto vigild = VigildProcess::start("[probes]\nblock_error_events_per_second = 10000\n");
    if (!vigild) return std::unexpected(vigild.error());
    if (auto ok = fs->set_mode("eio read"); !ok) return std::unexpected(ok.error());

    LatencyReport report;
    auto idle = series("idle", options, *loop, **vigild);
    if (!idle) return std::unexpected(idle.error());
    report.series.push_back(*idle);

    if (options.under_load && !interrupted()) {
        auto disk = TmpfsDisk::make(256, false);
        if (!disk) return std::unexpected(disk.error());
        // Runs until stopped; the generous runtime is only a bound.
        auto fio = testing::Subprocess::spawn(
            fio_argv(
                FioJob{.device = disk->loop().path(), .seconds = 600, .iodepth = options.iodepth}),
            testing::SpawnOptions{.stdout_path = "/dev/null", .stderr_path = "/dev/null"});
        if (!fio) return std::unexpected(fio.error());
        std::this_thread::sleep_for(1s);
        auto loaded = series("under load", options, *loop, **vigild);
        fio->terminate();
        if (!loaded) return std::unexpected(loaded.error());
        report.series.push_back(*loaded);
    }
    if (auto ok = fs->set_mode("ok"); !ok) return std::unexpected(ok.error());
    return report;
}

void to_json(nlohmann::json& j, const LatencyReport& r) {
    nlohmann::json series = nlohmann::json::array();
    for (const auto& s : r.series) {
        series.push_back({{"label", s.label},
                          {"made", s.made},
                          {"recorded", s.recorded},
                          {"p50_us", s.p50_us},
                          {"p90_us", s.p90_us},
                          {"p99_us", s.p99_us},
                          {"max_us", s.max_us}});
    }
    j = {{"series", series}, {"target_met", r.met()}};
}

}  // namespace vigil::bench
