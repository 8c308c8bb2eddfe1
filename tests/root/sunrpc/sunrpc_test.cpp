// The sunrpc programs on a kernel without sunrpc (no NFS client, no sunrpc
// tracepoints or BTF). The late-attach tests that attach through the
// kernel's real tracefs check that first (sunrpc_in_kernel()) and say so
// when this machine has sunrpc, rather than fail on it.
//
// Their counting logic is driven through the raw_tp twins with
// BPF_PROG_TEST_RUN: the twins take the raw tracepoints' arguments as a u64
// array and call the same inline handlers as the tracepoint programs, then
// the loader's own reader sums the per-CPU counters. What this cannot show:
// that the kernel fires the tracepoints where include/trace/events/sunrpc.h
// says, and the CO-RE read of rpc_call_rpcerror's record (it needs the sunrpc
// module's BTF).
//
// Late attach is driven against a fake tracefs directory where the hooks
// "appear" between two retries.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "bpf/sunrpc.skel.h"
#include "bpf/sunrpc_probes.h"
#include "tests/tools/fixtures/fixtures.h"

namespace vigil::testing {
namespace {

constexpr int kEtimedout = -110;
constexpr int kEio = -5;
constexpr int kErestartsys = -512;
constexpr std::uint64_t kSomePointer = 0xffff888012345678ULL;  // never dereferenced

struct SkelDeleter {
    void operator()(vigil_sunrpc* s) const { vigil_sunrpc__destroy(s); }
};
using Skel = std::unique_ptr<vigil_sunrpc, SkelDeleter>;

class SunrpcTwinTest : public RootTest {
  protected:
    void SetUp() override {
        RootTest::SetUp();
        if (HasFatalFailure()) return;
        skel_.reset(vigil_sunrpc__open());
        ASSERT_NE(skel_, nullptr) << "opening the sunrpc object";
        auto& p = skel_->progs;
        // Exactly what must load on a kernel without sunrpc: the twins alone.
        for (bpf_program* tp :
             {p.rpc_timeout_status, p.xprt_timer, p.xprt_retransmit, p.rpc_call_rpcerror})
            bpf_program__set_autoload(tp, false);
        ASSERT_EQ(vigil_sunrpc__load(skel_.get()), 0)
            << "the twins must load without the sunrpc module's BTF";
    }

    // One run of `prog` with these raw tracepoint arguments, on `cpu`.
    void run(bpf_program* prog, std::initializer_list<std::uint64_t> args, int cpu = 0) {
        std::array<std::uint64_t, 4> ctx{};
        std::copy(args.begin(), args.end(), ctx.begin());
        // What LIBBPF_OPTS makes, spelled in C++: its compound literal and
        // statement expression are C extensions -Wpedantic refuses in clang.
        // The other fields are zero; the struct has no padding.
        bpf_test_run_opts opts{
            .sz = sizeof(bpf_test_run_opts),
            .ctx_in = ctx.data(),
            .ctx_size_in = static_cast<std::uint32_t>(args.size() * sizeof(std::uint64_t)),
            .flags = BPF_F_TEST_RUN_ON_CPU,
            .cpu = static_cast<std::uint32_t>(cpu),
        };
        ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0)
            << bpf_program__name(prog) << ": " << std::strerror(errno);
        EXPECT_EQ(opts.retval, 0u);
    }

    [[nodiscard]] bpf::SunrpcCounts counts() const {
        return bpf::detail::read_sunrpc_counts(bpf_map__fd(skel_->maps.sunrpc_counts));
    }

    Skel skel_;
};

TEST_F(SunrpcTwinTest, EachHandlerCountsInItsOwnSlot) {
    auto& p = skel_->progs;
    EXPECT_EQ(counts().major_timeouts + counts().minor_timeouts + counts().retransmits +
                  counts().call_errors,
              0u);
    for (int i = 0; i < 3; ++i) run(p.twin_rpc_timeout_status, {kSomePointer});
    for (int i = 0; i < 2; ++i)
        run(p.twin_xprt_timer, {kSomePointer, 0x12345678, static_cast<std::uint32_t>(kEtimedout)});
    run(p.twin_xprt_retransmit, {kSomePointer});
    const auto c = counts();
    EXPECT_EQ(c.major_timeouts, 3u);
    EXPECT_EQ(c.minor_timeouts, 2u);
    EXPECT_EQ(c.retransmits, 1u);
    EXPECT_EQ(c.call_errors, 0u);
}

TEST_F(SunrpcTwinTest, CallErrorsLeaveOutSignalsAndSuccess) {
    auto& p = skel_->progs;
    auto as_arg = [](int v) { return static_cast<std::uint64_t>(static_cast<std::uint32_t>(v)); };
    run(p.twin_rpc_call_rpcerror, {kSomePointer, as_arg(kEtimedout), as_arg(kEtimedout)});
    run(p.twin_rpc_call_rpcerror, {kSomePointer, as_arg(kEio), as_arg(kEio)});
    // The caller was killed: says nothing about the server.
    run(p.twin_rpc_call_rpcerror, {kSomePointer, as_arg(kErestartsys), as_arg(kErestartsys)});
    // tk_status and rpc_status may differ; rpc_status is what the call ended with.
    run(p.twin_rpc_call_rpcerror, {kSomePointer, as_arg(kEio), 0});
    EXPECT_EQ(counts().call_errors, 2u);
    EXPECT_EQ(counts().major_timeouts, 0u);
}

TEST_F(SunrpcTwinTest, CountsFromEveryCpuAreSummed) {
    const int cpus = libbpf_num_possible_cpus();
    ASSERT_GT(cpus, 0);
    cpu_set_t online;
    ASSERT_EQ(sched_getaffinity(0, sizeof(online), &online), 0);
    int used = 0;
    for (int cpu = 0; cpu < cpus && cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &online)) continue;
        run(skel_->progs.twin_xprt_retransmit, {kSomePointer}, cpu);
        ++used;
    }
    ASSERT_GE(used, 1);
    EXPECT_EQ(counts().retransmits, static_cast<std::uint64_t>(used));
}

// ---- late attach ------------------------------------------------------------

// Where this kernel shows sunrpc, when it has it: the module's BTF, its
// tracepoints (in either tracefs mount), or the module itself. Empty: none.
std::string sunrpc_in_kernel() {
    for (const char* path :
         {"/sys/kernel/btf/sunrpc", "/sys/module/sunrpc", "/sys/kernel/tracing/events/sunrpc",
          "/sys/kernel/debug/tracing/events/sunrpc"}) {
        std::error_code ec;
        if (std::filesystem::exists(path, ec)) return path;
    }
    return {};
}

// Attaching goes through the real tracefs: with sunrpc in this kernel the
// hooks would attach, which the tests that expect every attach to fail are
// not about (that case needs an NFS client). They say so instead.
#define SKIP_WITH_SUNRPC_IN_KERNEL()                                                          \
    do {                                                                                      \
        if (const auto present = sunrpc_in_kernel(); !present.empty()) {                      \
            GTEST_SKIP() << "this machine has sunrpc (" << present                            \
                         << "): this test needs a kernel without it, where attaching fails; " \
                            "not run";                                                        \
        }                                                                                     \
    } while (false)

class SunrpcLateAttachTest : public RootTest {
  protected:
    void SetUp() override {
        RootTest::SetUp();
        if (HasFatalFailure()) return;

        auto dir = TempDir::make("sunrpc-tracefs");
        ASSERT_TRUE(dir.has_value()) << dir.error();
        tracefs_.emplace(std::move(*dir));
        std::filesystem::create_directories(tracefs_->path() / "events" / "sched");
    }

    void add_event(const std::string& event) {
        std::filesystem::create_directories(tracefs_->path() / "events" / "sunrpc" / event);
    }

    static std::map<std::string, bpf::ProbeStatus> by_name(const bpf::SunrpcProbes& probes) {
        std::map<std::string, bpf::ProbeStatus> out;
        for (const auto& p : probes.probes()) out[p.name] = p;
        return out;
    }

    std::optional<TempDir> tracefs_;
};

TEST_F(SunrpcLateAttachTest, WithoutTheModuleEveryProbeWaitsWithAReason) {
    auto probes = bpf::SunrpcProbes::make({.tracefs = tracefs_->path().string()});
    ASSERT_TRUE(probes.has_value()) << probes.error().message;
    auto names = by_name(**probes);
    ASSERT_EQ(names.size(), 4u);
    const std::map<std::string, std::string> events = {{"sunrpc_timeouts", "rpc_timeout_status"},
                                                       {"sunrpc_minor_timeouts", "xprt_timer"},
                                                       {"sunrpc_retransmits", "xprt_retransmit"},
                                                       {"sunrpc_call_errors", "rpc_call_rpcerror"}};
    for (const auto& [name, event] : events) {
        ASSERT_TRUE(names.contains(name)) << name;
        EXPECT_EQ(names[name].state, bpf::ProbeState::kUnavailable) << name;
        EXPECT_EQ(names[name].hook, "tracepoint/sunrpc/" + event);
        EXPECT_NE(names[name].reason.find("sunrpc/" + event), std::string::npos)
            << names[name].reason;
    }
    EXPECT_TRUE((*probes)->waiting());
    EXPECT_FALSE((*probes)->retry()) << "nothing appeared, nothing changed";
    EXPECT_TRUE((*probes)->waiting());
    EXPECT_EQ((*probes)->counts().major_timeouts, 0u);
}

TEST_F(SunrpcLateAttachTest, AHookThatAppearsIsLoadedOnTheNextRetryAndOnlyOnce) {
    SKIP_WITH_SUNRPC_IN_KERNEL();
    auto probes = bpf::SunrpcProbes::make({.tracefs = tracefs_->path().string()});
    ASSERT_TRUE(probes.has_value()) << probes.error().message;
    ASSERT_TRUE((*probes)->waiting());

    // The fake tracefs now lists xprt_timer, whose program reads no sunrpc
    // type: it loads here. Attaching goes through the kernel's real tracefs,
    // which has no such event, so the probe fails, with the reason, and the
    // others stay unavailable.
    add_event("xprt_timer");
    EXPECT_TRUE((*probes)->retry());
    EXPECT_FALSE((*probes)->waiting());
    auto names = by_name(**probes);
    EXPECT_EQ(names["sunrpc_minor_timeouts"].state, bpf::ProbeState::kFailed);
    EXPECT_NE(names["sunrpc_minor_timeouts"].reason.find("attaching tracepoint/sunrpc/xprt_timer"),
              std::string::npos)
        << names["sunrpc_minor_timeouts"].reason;
    EXPECT_EQ(names["sunrpc_timeouts"].state, bpf::ProbeState::kUnavailable);
    EXPECT_EQ(names["sunrpc_call_errors"].state, bpf::ProbeState::kUnavailable);

    // Loaded once: later arrivals change nothing (a BPF object loads once).
    add_event("rpc_timeout_status");
    EXPECT_FALSE((*probes)->retry());
    EXPECT_EQ(by_name(**probes)["sunrpc_timeouts"].state, bpf::ProbeState::kUnavailable);
}

TEST_F(SunrpcLateAttachTest, EveryProgramLoadsWithoutTheModulesBtf) {
    SKIP_WITH_SUNRPC_IN_KERNEL();
    auto probes = bpf::SunrpcProbes::make({.tracefs = tracefs_->path().string()});
    ASSERT_TRUE(probes.has_value()) << probes.error().message;
    // All four hooks "appear" at once, as when the module loads. This kernel
    // has no sunrpc BTF, so this is the kernel-without-module-BTF case: the
    // object must still load (rpc_call_rpcerror's CO-RE read is guarded), and
    // each probe then fails only at attach, on its own.
    for (const char* event :
         {"rpc_timeout_status", "xprt_timer", "xprt_retransmit", "rpc_call_rpcerror"})
        add_event(event);
    EXPECT_TRUE((*probes)->retry());
    EXPECT_FALSE((*probes)->waiting());
    for (const auto& p : (*probes)->probes()) {
        EXPECT_EQ(p.state, bpf::ProbeState::kFailed) << p.name;
        EXPECT_NE(p.reason.find("attaching " + p.hook), std::string::npos) << p.reason;
        EXPECT_EQ(p.reason.find("loading"), std::string::npos) << p.reason;
    }
    EXPECT_FALSE((*probes)->retry());
    const auto c = (*probes)->counts();
    EXPECT_EQ(c.major_timeouts + c.minor_timeouts + c.retransmits + c.call_errors, 0u);
}

}  // namespace
}  // namespace vigil::testing
