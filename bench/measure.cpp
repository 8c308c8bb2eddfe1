#include "bench/measure.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace vigil::bench {
namespace {

double clock_ticks_per_second() {
    static const double kTicks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    return kTicks;
}

std::expected<std::string, std::string> read_text(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::unexpected("cannot read " + path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::ranges::sort(values);
    const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
    const auto index =
        static_cast<std::size_t>(std::clamp(rank, 1.0, static_cast<double>(values.size())));
    return values[index - 1];
}

double median(std::vector<double> values) {
    if (values.empty()) return 0;
    std::ranges::sort(values);
    const std::size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::expected<MachineCpu, std::string> machine_cpu() {
    std::ifstream in("/proc/stat");
    std::string label;
    // user nice system idle iowait irq softirq steal
    std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                  steal = 0;
    if (!(in >> label >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) ||
        label != "cpu") {
        return std::unexpected("cannot parse /proc/stat");
    }
    // Steal is time the hypervisor gave to someone else: neither busy nor ours.
    const double busy = static_cast<double>(user + nice + system + irq + softirq);
    const double total = busy + static_cast<double>(idle + iowait);
    return MachineCpu{.busy = busy / clock_ticks_per_second(),
                      .total = total / clock_ticks_per_second(),
                      .softirq = static_cast<double>(softirq) / clock_ticks_per_second()};
}

std::expected<double, std::string> process_cpu(pid_t pid) {
    auto text = read_text("/proc/" + std::to_string(pid) + "/stat");
    if (!text) return std::unexpected(text.error());
    // The command name may hold spaces and parentheses: fields follow the last ')'.
    const auto close = text->rfind(')');
    if (close == std::string::npos) return std::unexpected("cannot parse /proc/PID/stat");
    std::istringstream in(text->substr(close + 2));
    std::string field;
    // Fields 3..13 come before utime (14) and stime (15).
    for (int i = 3; i <= 13; ++i) in >> field;
    std::uint64_t utime = 0, stime = 0;
    if (!(in >> utime >> stime)) return std::unexpected("cannot parse /proc/PID/stat");
    return static_cast<double>(utime + stime) / clock_ticks_per_second();
}

double kernel_workers_cpu() {
    double total = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
        std::ifstream comm(entry.path() / "comm");
        std::string line;
        if (!std::getline(comm, line) || !line.starts_with("kworker")) continue;
        // A worker may exit between the two reads: it simply no longer counts.
        if (auto cpu = process_cpu(static_cast<pid_t>(std::stol(name)))) total += *cpu;
    }
    return total;
}

std::expected<ProcessMemory, std::string> process_memory(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    if (!in) return std::unexpected("cannot read /proc/" + std::to_string(pid) + "/status");
    ProcessMemory mem;
    bool rss = false, hwm = false;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string key;
        std::uint64_t kib = 0;
        fields >> key >> kib;
        if (key == "VmRSS:") {
            mem.rss_kib = kib;
            rss = true;
        } else if (key == "VmHWM:") {
            mem.hwm_kib = kib;
            hwm = true;
        }
    }
    if (!rss || !hwm) return std::unexpected("no VmRSS/VmHWM in /proc/PID/status");
    return mem;
}

std::expected<FioResult, std::string> parse_fio_json(std::string_view text) {
    const auto start = text.find('{');
    if (start == std::string_view::npos) return std::unexpected("no JSON in fio's output");
    const auto doc = nlohmann::json::parse(text.substr(start), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.contains("jobs") || doc["jobs"].empty()) {
        return std::unexpected("fio's JSON has no jobs");
    }
    const auto& job = doc["jobs"][0];
    if (!job.contains("read") || !job["read"].contains("iops")) {
        return std::unexpected("fio's JSON has no read figures");
    }
    const auto& read = job["read"];
    // usr_cpu and sys_cpu are percentages of the job's run time.
    const double job_s = job.value("job_runtime", 0.0) / 1000.0;
    return FioResult{
        .read_iops = read.value("iops", 0.0),
        .read_ios = read.value("total_ios", std::uint64_t{0}),
        .runtime_s = read.value("runtime", 0.0) / 1000.0,
        .cpu_s = (job.value("usr_cpu", 0.0) + job.value("sys_cpu", 0.0)) / 100.0 * job_s};
}

std::vector<std::string> log_field_values(std::string_view log, std::string_view field) {
    std::vector<std::string> values;
    const std::string needle = " " + std::string(field) + "=";
    std::size_t pos = 0;
    while ((pos = log.find(needle, pos)) != std::string_view::npos) {
        pos += needle.size();
        const auto end = log.find_first_of(" \n", pos);
        values.emplace_back(log.substr(pos, end == std::string_view::npos ? end : end - pos));
    }
    return values;
}

}  // namespace vigil::bench
