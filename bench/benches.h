// The three overhead benchmarks of vigild. Each prints its runs as it goes
// and returns its figures; none is a test: targets are reported, not asserted.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vigil::bench {

// Set from SIGINT/SIGTERM: benchmarks stop between runs and clean up.
[[nodiscard]] bool interrupted();
void install_interrupt_handler();

// ---- block I/O overhead at saturation ---------------------------------------

struct IoOptions {
    int pairs = 10;
    int seconds = 3;  // per fio run
    int iodepth = 32;
    std::string ioengine = "io_uring";
    std::uint64_t disk_mib = 256;
    bool loop_direct_io = false;
    // One more run with vigild and the kernel's BPF run-time statistics on,
    // to see what each program costs per call.
    bool program_costs = true;
};

struct IoRun {
    bool with_vigild = false;
    double iops = 0;
    std::uint64_t ios = 0;
    double machine_us_per_io = 0;  // busy CPU of the whole machine per I/O
    double fio_us_per_io = 0;      // fio's own user + system time per I/O
    double vigild_us_per_io = 0;   // vigild's user + system time per I/O (0 without)
    // What the I/O path itself costs: fio, the kernel workers that serve the
    // loop device, softirq, and vigild. Unlike IOPS, it hardly moves when
    // other processes compete for the CPU.
    double path_us_per_io = 0;
};

struct ProgramCost {
    std::string name;
    std::uint64_t runs = 0;
    double ns_per_run = 0;
    double runs_per_io = 0;
};

struct IoReport {
    std::string device;
    std::vector<IoRun> runs;
    std::vector<double> ratios;  // per pair: IOPS with / IOPS without
    double median_ratio = 0;
    double p25_ratio = 0;  // the spread of the pairs: how noisy the machine was
    double p75_ratio = 0;
    double median_iops_without = 0;
    double median_iops_with = 0;
    double median_machine_us_without = 0;
    double median_machine_us_with = 0;
    double median_fio_us_without = 0;
    double median_fio_us_with = 0;
    double median_vigild_us = 0;
    double median_path_us_without = 0;
    double median_path_us_with = 0;
    std::vector<double> path_ratios;  // per pair: path CPU per I/O with / without
    double median_path_ratio = 0;
    int runs_with_foreign_programs = 0;
    std::vector<ProgramCost> programs;  // empty when not measured
    double program_ns_per_io = 0;       // sum over programs
    [[nodiscard]] bool met() const;     // at most 3% fewer IOPS
};

[[nodiscard]] std::expected<IoReport, std::string> io_overhead(const IoOptions& options);

// ---- error delivery latency -------------------------------------------------

struct LatencyOptions {
    int errors = 500;
    int spacing_us = 2000;
    bool under_load = true;  // a second series while fio saturates another device
    int iodepth = 32;
};

struct LatencySeries {
    std::string label;
    int made = 0;      // EIO reads that failed as they should
    int recorded = 0;  // DELIVERY_US records vigild logged for the device
    double p50_us = 0;
    double p90_us = 0;
    double p99_us = 0;
    double max_us = 0;
};

struct LatencyReport {
    std::vector<LatencySeries> series;
    // p99 under 5 ms on an otherwise idle device, every error recorded; the
    // series under load is there to show what a saturated host adds.
    [[nodiscard]] bool met() const;
};

[[nodiscard]] std::expected<LatencyReport, std::string> error_latency(
    const LatencyOptions& options);

// ---- the daemon at rest -----------------------------------------------------

struct RestOptions {
    int seconds = 60;
    int background_iops = 50;
    int scrape_every_s = 15;  // /metrics as Prometheus would read it
};

struct RestReport {
    double window_s = 0;
    double cpu_s = 0;
    double cpu_percent_of_core = 0;
    std::uint64_t rss_kib = 0;
    std::uint64_t hwm_kib = 0;
    std::uint64_t bpf_memlock_kib = 0;  // kernel memory of its maps and programs
    int scrapes = 0;
    [[nodiscard]] bool met() const;  // under 0.5% of a core and 30 MiB
};

[[nodiscard]] std::expected<RestReport, std::string> at_rest(const RestOptions& options);

void to_json(nlohmann::json& j, const IoReport& r);
void to_json(nlohmann::json& j, const LatencyReport& r);
void to_json(nlohmann::json& j, const RestReport& r);

inline constexpr double kMaxIopsLoss = 0.03;
inline constexpr double kMaxP99Us = 5000;
inline constexpr double kMaxCorePercent = 0.5;
inline constexpr std::uint64_t kMaxRssKib = std::uint64_t{30} * 1024;

}  // namespace vigil::bench
