// Which BPF programs a process holds and what they cost, and which programs
// other processes have on the block hot path (they would tax every run alike
// and blur the comparison).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace vigil::bench {

struct ProgramStats {
    std::uint32_t id = 0;
    std::uint64_t run_time_ns = 0;  // only counted while run-time statistics are on
    std::uint64_t run_cnt = 0;
};

// The programs whose fds `pid` holds, from /proc/PID/fdinfo.
[[nodiscard]] std::vector<ProgramStats> programs_of(pid_t pid);

// Kernel memory charged for the BPF maps and programs `pid` holds (the
// memlock of each fd in /proc/PID/fdinfo): not part of its RSS.
[[nodiscard]] std::uint64_t bpf_memlock_bytes(pid_t pid);

// Every loaded program's name by id (bpftool).
[[nodiscard]] std::expected<std::map<std::uint32_t, std::string>, std::string> program_names();

// Programs on block_rq_issue/block_rq_complete not in `ours`, by name: what
// another vigild (or any block tracer) adds to each request.
[[nodiscard]] std::expected<int, std::string> foreign_block_programs(
    const std::set<std::uint32_t>& ours);

// The kernel's per-program run-time statistics, on while this object lives
// (BPF_ENABLE_STATS: they switch off by themselves if this process dies).
class RunTimeStats {
  public:
    [[nodiscard]] static std::expected<RunTimeStats, std::string> enable();
    RunTimeStats(RunTimeStats&& other) noexcept;
    RunTimeStats& operator=(RunTimeStats&&) = delete;
    RunTimeStats(const RunTimeStats&) = delete;
    RunTimeStats& operator=(const RunTimeStats&) = delete;
    ~RunTimeStats();

  private:
    explicit RunTimeStats(int fd) : fd_(fd) {}
    int fd_ = -1;
};

}  // namespace vigil::bench
