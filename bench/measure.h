// What the benchmarks read from the kernel and how they summarise it: CPU time
// of the whole machine and of one process, memory of one process, fio's JSON
// report, medians and percentiles.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::bench {

// Nearest-rank percentile (p in [0, 100]) of unsorted values; 0 when empty.
[[nodiscard]] double percentile(std::vector<double> values, double p);
[[nodiscard]] double median(std::vector<double> values);

// Busy and total CPU time of the machine, in seconds, from /proc/stat. Busy
// leaves out idle and iowait: waiting is not work.
struct MachineCpu {
    double busy = 0;
    double total = 0;
    double softirq = 0;  // part of busy
};
[[nodiscard]] std::expected<MachineCpu, std::string> machine_cpu();

// utime + stime of every thread of a process, in seconds (/proc/PID/stat).
[[nodiscard]] std::expected<double, std::string> process_cpu(pid_t pid);

// utime + stime of every kernel worker thread (kworker/*), in seconds: where
// the loop driver does its work for the requests of all processes.
[[nodiscard]] double kernel_workers_cpu();

struct ProcessMemory {
    std::uint64_t rss_kib = 0;  // VmRSS
    std::uint64_t hwm_kib = 0;  // VmHWM: the peak resident set
};
[[nodiscard]] std::expected<ProcessMemory, std::string> process_memory(pid_t pid);

// The figures of one fio job that the benchmarks use.
struct FioResult {
    double read_iops = 0;
    std::uint64_t read_ios = 0;
    double runtime_s = 0;
    double cpu_s = 0;  // fio's own user + system time
};
// Parses `fio --output-format=json`; fio may print warnings before the JSON.
[[nodiscard]] std::expected<FioResult, std::string> parse_fio_json(std::string_view text);

// Values of one key=value field in vigild's stderr records
// ("<4>block I/O error ... DELIVERY_US=123"), in order of appearance.
[[nodiscard]] std::vector<std::string> log_field_values(std::string_view log,
                                                        std::string_view field);

}  // namespace vigil::bench
