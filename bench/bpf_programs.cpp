#include "bench/bpf_programs.h"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "tests/tools/fixtures/fixtures.h"

namespace vigil::bench {
namespace {

// What an fd stands for, e.g. "anon_inode:bpf-prog".
std::string fd_kind(pid_t pid, const std::filesystem::path& fd) {
    std::error_code ec;
    return std::filesystem::read_symlink(
               std::filesystem::path("/proc/" + std::to_string(pid) + "/fd") / fd, ec)
        .string();
}

}  // namespace

std::vector<ProgramStats> programs_of(pid_t pid) {
    std::vector<ProgramStats> out;
    std::error_code ec;
    const std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/fdinfo";
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        // Link fds name their program too.
        if (fd_kind(pid, entry.path().filename()) != "anon_inode:bpf-prog") continue;
        std::ifstream in(entry.path());
        ProgramStats p;
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string key;
            fields >> key;
            if (key == "prog_id:")
                fields >> p.id;
            else if (key == "run_time_ns:")
                fields >> p.run_time_ns;
            else if (key == "run_cnt:")
                fields >> p.run_cnt;
        }
        const bool seen =
            std::ranges::any_of(out, [&](const ProgramStats& q) { return q.id == p.id; });
        if (p.id != 0 && !seen) out.push_back(p);
    }
    return out;
}

std::uint64_t bpf_memlock_bytes(pid_t pid) {
    std::uint64_t total = 0;
    std::error_code ec;
    const std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/fdinfo";
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const auto kind = fd_kind(pid, entry.path().filename());
        if (kind != "anon_inode:bpf-prog" && kind != "anon_inode:bpf-map") continue;
        std::ifstream in(entry.path());
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string key;
            std::uint64_t bytes = 0;
            if (fields >> key >> bytes && key == "memlock:") total += bytes;
        }
    }
    return total;
}

std::expected<std::map<std::uint32_t, std::string>, std::string> program_names() {
    auto r = testing::run({"bpftool", "--json", "prog", "show"}, std::chrono::seconds(10));
    if (!r.ok()) return std::unexpected("bpftool prog show: " + r.describe());
    const auto doc = nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_array()) return std::unexpected("bpftool prog show: no JSON array");
    std::map<std::uint32_t, std::string> names;
    for (const auto& p : doc) {
        if (p.contains("id") && p.contains("name")) {
            names[p["id"].get<std::uint32_t>()] = p["name"].get<std::string>();
        }
    }
    return names;
}

std::expected<int, std::string> foreign_block_programs(const std::set<std::uint32_t>& ours) {
    auto names = program_names();
    if (!names) return std::unexpected(names.error());
    int foreign = 0;
    for (const auto& [id, name] : *names) {
        // Errors are rare; issue and completion run for every request.
        const bool hot = name.starts_with("block_rq_issue") || name.starts_with("block_rq_comple");
        if (hot && !ours.contains(id)) ++foreign;
    }
    return foreign;
}

std::expected<RunTimeStats, std::string> RunTimeStats::enable() {
    bpf_attr attr{};
    attr.enable_stats.type = BPF_STATS_RUN_TIME;
    const long fd = ::syscall(__NR_bpf, BPF_ENABLE_STATS, &attr, sizeof(attr));
    if (fd < 0) return std::unexpected(std::string("BPF_ENABLE_STATS: ") + std::strerror(errno));
    return RunTimeStats(static_cast<int>(fd));
}

RunTimeStats::RunTimeStats(RunTimeStats&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

RunTimeStats::~RunTimeStats() {
    if (fd_ >= 0) ::close(fd_);
}

}  // namespace vigil::bench
