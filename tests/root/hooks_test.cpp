// Hooks run by the real runner on a real sd-event loop: real hook programs
// that succeed, fail, hang, ignore SIGTERM, leave a setsid() child behind,
// flood stdout, and more than the queue takes. Each test checks that nothing
// the hooks started is left (every process carries the test's unique token
// in VIGIL_TOKEN, looked for in /proc), and that a 20 ms timer on the same
// loop kept its interval while the hooks ran.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "daemon/adapters/event_loop.h"
#include "daemon/adapters/journal.h"
#include "exporters/hooks.h"
#include "exporters/metrics.h"
#include "tests/tools/fixtures/fixtures.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;
using adapters::EventLoop;
using exporters::HookEvent;
using exporters::HookOptions;
using exporters::HookResult;
using exporters::HookRun;
using exporters::HookRunner;

constexpr auto kTick = 20ms;
// Generous for a loaded 2-core machine, far below anything a blocking wait
// on a hook (its time limit: seconds) would cause.
constexpr auto kMaxTickGap = 300ms;

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Processes whose environment holds `needle`.
std::vector<pid_t> processes_with(const std::string& needle) {
    std::vector<pid_t> found;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
        const std::string n = e.path().filename().string();
        if (n.empty() || !std::all_of(n.begin(), n.end(), ::isdigit)) continue;
        const std::string env = slurp(e.path() / "environ");
        if (env.find(needle) != std::string::npos) found.push_back(std::stoi(n));
    }
    return found;
}

std::size_t open_fds() {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         it != std::filesystem::directory_iterator(); ++it) {
        ++n;
    }
    return n;
}

struct Outcome {
    std::vector<HookRun> runs;  // in the order they ended
    std::chrono::nanoseconds max_tick_gap{};
    std::chrono::nanoseconds median_tick_gap{};
    std::size_t ticks = 0;
    std::size_t max_running = 0;
    std::string token;
    std::vector<pid_t> left_behind;
    std::string metrics;

    [[nodiscard]] const HookRun* find(const std::string& hook) const {
        for (const auto& r : runs) {
            if (r.hook == hook) return &r;
        }
        return nullptr;
    }
};

class Hooks : public RootTest {
  protected:
    void SetUp() override {
        RootTest::SetUp();
        if (HasFatalFailure()) return;
        auto dir = TempDir::make("hooks");
        ASSERT_TRUE(dir) << dir.error();
        dir_.emplace(std::move(*dir));
        hooks_ = dir_->path() / "hooks.d";
        out_ = dir_->path() / "out";
        std::filesystem::create_directories(hooks_);
        std::filesystem::create_directories(out_);
        options_.dir = hooks_;
        options_.timeout = 1500ms;
        options_.kill_grace = 1000ms;
        options_.output_limit = 4096;
    }

    void add_hook(const std::string& name, const std::string& body, mode_t mode = 0755) {
        const auto path = hooks_ / name;
        std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
        ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    }

    // Submits one event, runs the loop until `expected` runs are reported,
    // then checks for leftovers.
    Outcome run(std::size_t expected, HookEvent event = HookEvent::kPeerDead,
                exporters::HookFields fields = {}) {
        Outcome o;
        o.token = unique_name("hooktoken");
        const std::size_t fds_before = open_fds();
        auto made = EventLoop::make();
        EXPECT_TRUE(made);
        if (!made) return o;
        auto& loop = **made;
        adapters::Journal journal(adapters::Priority::kInfo);
        auto metrics = exporters::Metrics::make({.serve = false, .version = "test"});
        EXPECT_TRUE(metrics);
        if (!metrics) return o;
        {
            auto runner = HookRunner::make(loop, journal, options_, [&](const HookRun& r) {
                o.runs.push_back(r);
                (*metrics)->count_hook_run(r.result);
                if (o.runs.size() == expected) loop.exit(0);
            });
            EXPECT_TRUE(runner) << runner.error().message;
            if (!runner) return o;
            std::vector<std::chrono::nanoseconds> gaps;
            std::chrono::nanoseconds last{};
            EXPECT_TRUE(loop.every(kTick, [&] {
                const auto now = adapters::monotonic_now();
                if (last.count() != 0) gaps.push_back(now - last);
                last = now;
                o.max_running = std::max(o.max_running, (*runner)->running());
            }));
            auto guard = loop.add_alarm([&] {
                ADD_FAILURE() << "hooks still running after 60 s";
                loop.exit(1);
            });
            EXPECT_TRUE(guard);
            loop.set_alarm(*guard, adapters::monotonic_now() + 60s);
            fields.emplace_back("token", o.token);
            fields.emplace_back("out", out_.string());
            (*runner)->submit(event, fields);
            if (o.runs.size() < expected) loop.run();
            EXPECT_EQ((*runner)->running(), 0u);
            EXPECT_EQ((*runner)->queued(), 0u);
            std::sort(gaps.begin(), gaps.end());
            o.ticks = gaps.size();
            if (!gaps.empty()) {
                o.max_tick_gap = gaps.back();
                o.median_tick_gap = gaps[gaps.size() / 2];
            }
        }
        o.left_behind = processes_with("VIGIL_TOKEN=" + o.token);
        o.metrics = (*metrics)->render();
        made->reset();
        EXPECT_EQ(open_fds(), fds_before) << "file descriptors leaked";
        std::cout << "tick " << kTick.count() << " ms: " << o.ticks << " ticks, median gap "
                  << o.median_tick_gap.count() / 1000 << " us, max gap "
                  << o.max_tick_gap.count() / 1000 << " us\n";
        return o;
    }

    static void expect_clean(const Outcome& o) {
        EXPECT_TRUE(o.left_behind.empty()) << o.left_behind.size() << " processes left behind";
        EXPECT_LT(o.max_tick_gap, kMaxTickGap) << "the loop stalled while hooks ran";
        std::chrono::nanoseconds longest{};
        for (const auto& r : o.runs) longest = std::max(longest, r.duration);
        if (longest > 10 * kTick) {
            EXPECT_GT(o.ticks, 5u);
        }
    }

    void TearDown() override {
        // A failed test may have left processes: end them before the next one.
        for (pid_t pid : processes_with("VIGIL_TOKEN=hooktoken-" + std::to_string(::getpid()))) {
            ::kill(pid, SIGKILL);
        }
    }

    std::optional<TempDir> dir_;
    std::filesystem::path hooks_;
    std::filesystem::path out_;
    HookOptions options_;
};

TEST_F(Hooks, SucceedsWithTheEventInEnvironmentAndOnStdin) {
    add_hook("10-ok",
             "cat > \"$VIGIL_OUT/stdin\"\n"
             "env | grep ^VIGIL_ | sort > \"$VIGIL_OUT/env\"\n"
             "echo \"hello from $VIGIL_HOOK\"");
    add_hook("20-not-executable", "exit 0", 0644);
    add_hook("ok~", "exit 0");                      // an editor's backup: not a hook
    add_hook("30-group-writable", "exit 0", 0775);  // refused: anyone in the group could edit it
    const auto o = run(1, HookEvent::kVmPausedIoError, {{"vm", "db-1"}, {"reason", "eio"}});
    expect_clean(o);
    ASSERT_EQ(o.runs.size(), 1u);
    const HookRun& r = o.runs[0];
    EXPECT_EQ(r.hook, "10-ok");
    EXPECT_EQ(r.result, HookResult::kSucceeded) << r.detail;
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.output, "hello from 10-ok\n");

    const std::string env = slurp(out_ / "env");
    EXPECT_NE(env.find("VIGIL_EVENT=vm-paused-io-error\n"), std::string::npos) << env;
    EXPECT_NE(env.find("VIGIL_VM=db-1\n"), std::string::npos) << env;
    EXPECT_NE(env.find("VIGIL_REASON=eio\n"), std::string::npos) << env;
    EXPECT_NE(env.find("VIGIL_EVENT_ID=" + std::to_string(r.event_id) + "\n"), std::string::npos);
    EXPECT_NE(env.find("VIGIL_TIME=20"), std::string::npos) << env;

    const auto doc = nlohmann::json::parse(slurp(out_ / "stdin"), nullptr, false);
    ASSERT_FALSE(doc.is_discarded());
    EXPECT_EQ(doc["version"], 1);
    EXPECT_EQ(doc["event"], "vm-paused-io-error");
    EXPECT_EQ(doc["event_id"], r.event_id);
    EXPECT_EQ(doc["fields"]["vm"], "db-1");
    EXPECT_EQ(doc["fields"]["reason"], "eio");
    EXPECT_NE(o.metrics.find("vigil_hook_runs_total{result=\"succeeded\"} 1"), std::string::npos)
        << o.metrics;
    EXPECT_NE(o.metrics.find("vigil_hook_runs_total{result=\"dropped\"} 0"), std::string::npos);
}

TEST_F(Hooks, FailsWithItsExitCodeAndOutput) {
    add_hook("fail", "echo 'cannot reach the pager' >&2\nexit 3");
    add_hook("bad-interpreter", "exit 0");
    { std::ofstream(hooks_ / "bad-interpreter") << "#!/nonexistent/interpreter\n"; }
    const auto o = run(2);
    expect_clean(o);
    ASSERT_EQ(o.runs.size(), 2u);
    const HookRun* fail = o.find("fail");
    ASSERT_NE(fail, nullptr);
    EXPECT_EQ(fail->result, HookResult::kFailed);
    EXPECT_EQ(fail->exit_code, 3);
    EXPECT_EQ(fail->output, "cannot reach the pager\n");
    const HookRun* bad = o.find("bad-interpreter");
    ASSERT_NE(bad, nullptr);
    EXPECT_EQ(bad->result, HookResult::kError);
    EXPECT_NE(bad->detail.find("execve"), std::string::npos) << bad->detail;
    EXPECT_NE(o.metrics.find("vigil_hook_runs_total{result=\"failed\"} 1"), std::string::npos);
    EXPECT_NE(o.metrics.find("vigil_hook_runs_total{result=\"error\"} 1"), std::string::npos);
}

TEST_F(Hooks, HangingHookEndsAtTheTimeLimit) {
    add_hook("hang", "echo waiting\nsleep 600\necho never");
    const auto o = run(1);
    expect_clean(o);
    ASSERT_EQ(o.runs.size(), 1u);
    const HookRun& r = o.runs[0];
    EXPECT_EQ(r.result, HookResult::kTimedOut);
    EXPECT_EQ(r.output, "waiting\n");
    // SIGTERM at the limit ends it; the grace is not needed.
    EXPECT_GE(r.duration, options_.timeout);
    EXPECT_LT(r.duration, options_.timeout + options_.kill_grace);
    EXPECT_NE(o.metrics.find("vigil_hook_runs_total{result=\"timeout\"} 1"), std::string::npos);
}

TEST_F(Hooks, HookIgnoringSigtermIsKilledAfterTheGrace) {
    add_hook("stubborn", "trap '' TERM\nwhile :; do sleep 1; done");
    const auto o = run(1);
    expect_clean(o);
    ASSERT_EQ(o.runs.size(), 1u);
    const HookRun& r = o.runs[0];
    EXPECT_EQ(r.result, HookResult::kTimedOut);
    EXPECT_GE(r.duration, options_.timeout + options_.kill_grace);
    EXPECT_LT(r.duration, options_.timeout + options_.kill_grace + 2s);
    std::cout << "stubborn hook ended after " << r.duration.count() / 1000000 << " ms\n";
}

// The hook exits at once; what it left behind (in a session of its own,
// ignoring SIGTERM, double-forked so that init would inherit it) goes with it.
TEST_F(Hooks, SetsidChildIsEndedWithTheHook) {
    add_hook("escape",
             "setsid sh -c 'trap \"\" TERM; (sleep 600 &); exec sleep 600' &\n"
             "sleep 0.2\n"
             "echo escaped\n");
    const auto o = run(1);
    expect_clean(o);
    ASSERT_EQ(o.runs.size(), 1u);
    EXPECT_EQ(o.runs[0].result, HookResult::kSucceeded) << o.runs[0].detail;
    EXPECT_EQ(o.runs[0].output, "escaped\n");
    EXPECT_LT(o.runs[0].duration, options_.timeout);
}

// The same, with the hook hanging too: the time limit ends all of them.
TEST_F(Hooks, SetsidChildOfAHangingHookIsEndedAtTheTimeLimit) {
    add_hook("escape-and-hang",
             "setsid sh -c 'trap \"\" TERM; exec sleep 600' &\n"
             "trap '' TERM\n"
             "sleep 600");
    const auto o = run(1);
    expect_clean(o);
    ASSERT_EQ(o.runs.size(), 1u);
    EXPECT_EQ(o.runs[0].result, HookResult::kTimedOut);
}

// Flooding stdout until the time limit: the output is capped, the rest read
// and counted (so the hook never blocks on a full pipe), the loop keeps ticking.
TEST_F(Hooks, FloodedOutputIsCappedAndTheLoopKeepsTicking) {
    add_hook("flood", "exec yes 'flood line'");
    const auto o = run(1);
    expect_clean(o);
    ASSERT_EQ(o.runs.size(), 1u);
    const HookRun& r = o.runs[0];
    EXPECT_EQ(r.result, HookResult::kTimedOut) << r.detail;
    EXPECT_GT(r.output_bytes, 10u * 1000 * 1000);
    EXPECT_LE(r.output_logged, options_.output_limit);
    EXPECT_GT(r.output_logged, options_.output_limit - 16);
    EXPECT_EQ(r.output.substr(0, 11), "flood line\n");
    std::cout << "flood: " << r.output_bytes << " bytes read in " << r.duration.count() / 1000000
              << " ms, " << r.output_logged << " logged\n";
}

TEST_F(Hooks, ConcurrencyAndQueueAreBoundedAndDropsCounted) {
    options_.max_concurrent = 2;
    options_.queue_size = 3;
    for (int i = 0; i < 10; ++i) add_hook("slow-" + std::to_string(i), "sleep 0.3");
    const auto o = run(10);
    expect_clean(o);
    ASSERT_EQ(o.runs.size(), 10u);
    std::map<HookResult, int> by;
    for (const auto& r : o.runs) ++by[r.result];
    EXPECT_EQ(by[HookResult::kSucceeded], 5);
    EXPECT_EQ(by[HookResult::kDropped], 5);
    EXPECT_LE(o.max_running, 2u);
    EXPECT_EQ(o.max_running, 2u);
    // Sorted by name: the first five run, the last five are dropped.
    for (const auto& r : o.runs) {
        const bool first_five = r.hook < "slow-5";
        EXPECT_EQ(r.result, first_five ? HookResult::kSucceeded : HookResult::kDropped) << r.hook;
    }
    EXPECT_NE(o.metrics.find("vigil_hook_runs_total{result=\"dropped\"} 5"), std::string::npos);
}

TEST_F(Hooks, RunsAsTheConfiguredUser) {
    // The hooks must be reachable by that user.
    std::filesystem::permissions(dir_->path(), std::filesystem::perms(0755));
    options_.user = "nobody";
    add_hook("whoami", "echo \"$(id -u):$(id -g):$HOME\"\necho \"$USER\"");
    const auto o = run(1);
    expect_clean(o);
    ASSERT_EQ(o.runs.size(), 1u);
    EXPECT_EQ(o.runs[0].result, HookResult::kSucceeded) << o.runs[0].detail << o.runs[0].output;
    EXPECT_EQ(o.runs[0].output.substr(0, 6), "65534:");
    EXPECT_NE(o.runs[0].output.find("\nnobody\n"), std::string::npos) << o.runs[0].output;
}

TEST(HooksUnknownUser, IsRefusedAtMake) {
    auto loop = EventLoop::make();
    ASSERT_TRUE(loop);
    adapters::Journal journal(adapters::Priority::kError);
    HookOptions options;
    options.user = "no-such-user-vigil";
    auto runner = HookRunner::make(**loop, journal, options);
    ASSERT_FALSE(runner);
    EXPECT_NE(runner.error().message.find("no-such-user-vigil"), std::string::npos);
}

}  // namespace
}  // namespace vigil::testing
