// Automation hooks: executables in a directory (/etc/vigil/hooks.d), each run
// once per event with the event as VIGIL_* environment variables and as JSON
// on stdin. Never through a shell; time-limited; a bounded number at once and
// a bounded queue behind them; output captured to the journal with a cap per
// run; optionally as a configured non-root user.
//
// Each run lives in a PID namespace of its own whose init is a small forked
// copy of vigild: when the hook ends, or is killed at its time limit, the
// kernel kills everything else in that namespace, also children that called
// setsid() or double-forked. Runs are driven from the event loop only: the
// namespace init's pidfd and the output pipe are loop sources, the time limit
// a loop alarm; nothing ever waits blocking.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/adapters/event_loop.h"
#include "daemon/adapters/journal.h"
#include "daemon/ports/error.h"

namespace vigil::exporters {

// What a hook is run for. The decision sink maps decisions onto these.
enum class HookEvent : std::uint8_t {
    kPeerDead,
    kPeerIsolated,
    kVmRestartedHere,
    kVmPausedIoError,
    kVmResumed,
    kVmMigrated,         // a drain's live migration moved the VM to its target
    kVmMigrationFailed,  // it did not move (failed, or aborted at its time limit)
    kSelfFence,
    kQuorumLost,
    kQuorumRegained,
    kStorageDomainLost,
    kMaintenanceOn,
    kMaintenanceOff,
};

inline constexpr HookEvent kAllHookEvents[] = {
    HookEvent::kPeerDead,          HookEvent::kPeerIsolated,      HookEvent::kVmRestartedHere,
    HookEvent::kVmPausedIoError,   HookEvent::kVmResumed,         HookEvent::kVmMigrated,
    HookEvent::kVmMigrationFailed, HookEvent::kSelfFence,         HookEvent::kQuorumLost,
    HookEvent::kQuorumRegained,    HookEvent::kStorageDomainLost, HookEvent::kMaintenanceOn,
    HookEvent::kMaintenanceOff,
};

// "peer-dead", "vm-paused-io-error", ...: VIGIL_EVENT and the JSON "event".
[[nodiscard]] std::string_view name(HookEvent event);

// How one run of one hook ended.
enum class HookResult : std::uint8_t {
    kSucceeded,  // exit 0
    kFailed,     // another exit code, or a signal vigild did not send
    kTimedOut,   // still running at the time limit: ended by vigild
    kDropped,    // the queue was full: never started
    kError,      // could not be started (namespace, pipe, user, exec)
};

inline constexpr HookResult kAllHookResults[] = {HookResult::kSucceeded, HookResult::kFailed,
                                                 HookResult::kTimedOut, HookResult::kDropped,
                                                 HookResult::kError};

// "succeeded", "failed", "timeout", "dropped", "error": the metric label.
[[nodiscard]] std::string_view name(HookResult result);

// Event fields: key and value. Keys are lower-case [a-z0-9_]; each becomes
// VIGIL_<KEY> (upper-cased) and a member of the JSON "fields" object.
using HookFields = std::vector<std::pair<std::string, std::string>>;

struct HookOptions {
    std::filesystem::path dir = "/etc/vigil/hooks.d";
    std::chrono::milliseconds timeout{30000};
    // After SIGTERM at the time limit, how long before everything is killed.
    std::chrono::milliseconds kill_grace{2000};
    std::size_t max_concurrent = 4;
    std::size_t queue_size = 64;
    // Empty: hooks run as vigild's own user (root).
    std::string user;
    // Output (stdout and stderr together) logged per run; the rest is read
    // and counted, not logged.
    std::size_t output_limit = std::size_t{16} * 1024;
};

// What the runner reports about each finished (or dropped) run.
struct HookRun {
    std::uint64_t event_id = 0;
    HookEvent event = HookEvent::kPeerDead;
    std::string hook;  // file name in the hooks directory
    HookResult result = HookResult::kSucceeded;
    std::optional<int> exit_code;  // when the hook exited
    int signal = 0;                // when a signal ended it
    std::chrono::nanoseconds duration{};
    std::size_t output_bytes = 0;   // all it wrote
    std::size_t output_logged = 0;  // what reached the journal
    std::string output;             // the logged part
    std::string detail;             // why, for kError and kDropped
};

// Keys a hook event may carry: [a-z0-9_]+ and not a name vigild sets itself.
[[nodiscard]] bool valid_hook_field_key(std::string_view key);

// The JSON document written to a hook's stdin.
[[nodiscard]] std::string hook_event_json(std::uint64_t event_id, HookEvent event,
                                          std::chrono::system_clock::time_point at,
                                          const HookFields& fields);

// Executables in `dir` that are hooks, sorted by name (as run-parts does):
// regular files with an execute bit, names of [A-Za-z0-9_-] only (so editor
// backups and packaging leftovers are skipped), owned by root and not
// writable by group or others. Files skipped for ownership or mode are
// returned in `refused` with the reason.
struct HookScan {
    std::vector<std::string> hooks;
    std::vector<std::pair<std::string, std::string>> refused;
};
[[nodiscard]] HookScan scan_hooks(const std::filesystem::path& dir);

class HookRunner {
  public:
    using Observer = std::function<void(const HookRun&)>;

    // Resolves the user (uid, gid, groups) now: nothing a run does after its
    // fork may allocate or look anything up.
    [[nodiscard]] static std::expected<std::unique_ptr<HookRunner>, Error> make(
        adapters::EventLoop& loop, const adapters::Journal& journal, HookOptions options,
        Observer on_run = {});
    ~HookRunner();  // kills what still runs, and waits for it
    HookRunner(const HookRunner&) = delete;
    HookRunner& operator=(const HookRunner&) = delete;

    // Runs every hook in the directory once for this event, now or when a
    // slot frees up; what does not fit in the queue is dropped (logged,
    // reported as kDropped). Returns the event's id (VIGIL_EVENT_ID).
    std::uint64_t submit(HookEvent event, const HookFields& fields);

    [[nodiscard]] std::size_t running() const { return running_.size(); }
    [[nodiscard]] std::size_t queued() const { return queue_.size(); }
    [[nodiscard]] std::uint64_t count(HookResult result) const;

  private:
    struct Job {
        std::uint64_t event_id = 0;
        HookEvent event = HookEvent::kPeerDead;
        std::string hook;
        std::shared_ptr<const std::vector<std::string>> env;  // shared by the event's hooks
        std::shared_ptr<const std::string> json;
    };
    struct Run;
    HookRunner(adapters::EventLoop& loop, const adapters::Journal& journal, HookOptions options,
               Observer on_run);
    void start(Job job);
    void start_next();
    void on_output(Run& run);
    void on_exit(Run& run);
    void on_deadline(Run& run);
    void finish(std::uint64_t run_id);
    void report(HookRun r);
    void log_line(const Run& run, std::string_view line);

    adapters::EventLoop& loop_;
    const adapters::Journal& journal_;
    HookOptions options_;
    Observer on_run_;
    bool as_user_ = false;
    std::uint32_t uid_ = 0;
    std::uint32_t gid_ = 0;
    std::vector<std::uint32_t> groups_;
    std::string home_;
    std::string hostname_;
    std::uint64_t next_event_ = 1;
    std::uint64_t next_run_ = 1;
    std::deque<Job> queue_;
    std::map<std::uint64_t, std::unique_ptr<Run>> running_;
    std::map<HookResult, std::uint64_t> counts_;
};

}  // namespace vigil::exporters
