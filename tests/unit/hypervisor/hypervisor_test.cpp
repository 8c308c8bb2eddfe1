// The adapter's threads, events and actions against libvirt's built-in test
// driver (no daemon, no root): the HA VM is found by its metadata, actions
// come back as one result each, state changes arrive as evidence through the
// fd, and the loop thread is never blocked.
#include "daemon/adapters/hypervisor.h"

#include <gtest/gtest.h>
#include <poll.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <vector>

namespace vigil::adapters {
namespace {

using namespace std::chrono_literals;

struct Recorder {
    std::vector<core::VmEvidence> vms;
    std::vector<ActionResult> actions;
    std::vector<std::string> bad;
    int listed = 0;
    bool connected = false;
    std::string connection_why;

    HypervisorSink sink() {
        HypervisorSink s;
        s.on_vm = [this](const core::VmEvidence& e) { vms.push_back(e); };
        s.on_action = [this](const ActionResult& r) { actions.push_back(r); };
        s.on_listed = [this] { ++listed; };
        s.on_connection = [this](bool up, const std::string& why) {
            connected = up;
            connection_why = why;
        };
        s.on_bad_input = [this](const std::string& vm, const Error& e) {
            bad.push_back(vm + ": " + e.message);
        };
        return s;
    }
};

// The loop, reduced to what the adapter needs: wait for its fd, dispatch.
bool pump_until(LibvirtHypervisor& hv, const std::function<bool()>& done,
                std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        pollfd p{hv.fd(), POLLIN, 0};
        if (::poll(&p, 1, 50) > 0) hv.dispatch();
    }
    return true;
}

HypervisorConfig test_config() {
    HypervisorConfig c;
    c.uri = "test://" + std::string(VIGIL_HYPERVISOR_FIXTURES) + "/test_node.xml";
    c.stop_grace = 2s;
    return c;
}

const ActionResult* result_of(const Recorder& r, ActionId id) {
    for (const auto& a : r.actions)
        if (a.id == id) return &a;
    return nullptr;
}

TEST(LibvirtHypervisor, ListsOnlyHaVmsWithTheirState) {
    Recorder rec;
    auto hv = LibvirtHypervisor::make(test_config(), rec.sink());
    ASSERT_TRUE(hv) << hv.error().message;
    ASSERT_TRUE(pump_until(**hv, [&] { return rec.listed > 0; })) << rec.connection_why;
    EXPECT_TRUE(rec.connected);
    EXPECT_TRUE((*hv)->connected());
    ASSERT_EQ((*hv)->vms().size(), 1u);
    const auto& vm = (*hv)->vms().at("ha1");
    EXPECT_EQ(vm.ha.priority, 7);
    EXPECT_EQ(vm.ha.memory_mib, 64u);
    EXPECT_EQ(vm.state, core::VmState::kRunning);
    ASSERT_EQ(rec.vms.size(), 1u);
    EXPECT_EQ(rec.vms[0].vm, "ha1");
    EXPECT_EQ(rec.vms[0].state, core::VmState::kRunning);
    EXPECT_EQ((*hv)->bad_input(), 0u);
}

TEST(LibvirtHypervisor, ActionsReportOneResultAndEventsFollow) {
    Recorder rec;
    auto made = LibvirtHypervisor::make(test_config(), rec.sink());
    ASSERT_TRUE(made) << made.error().message;
    auto& hv = **made;
    ASSERT_TRUE(pump_until(hv, [&] { return rec.listed > 0; }));

    const auto resume = hv.resume("ha1");
    const auto missing = hv.start("no-such-vm");
    const auto stop = hv.stop("ha1");
    ASSERT_TRUE(pump_until(hv, [&] { return rec.actions.size() == 3; }));
    ASSERT_TRUE(result_of(rec, resume));
    EXPECT_EQ(result_of(rec, resume)->outcome, ActionOutcome::kAlreadyDone);
    EXPECT_EQ(result_of(rec, missing)->outcome, ActionOutcome::kNotFound);
    EXPECT_EQ(result_of(rec, stop)->outcome, ActionOutcome::kDone) << result_of(rec, stop)->detail;
    EXPECT_EQ(result_of(rec, stop)->vm, "ha1");
    EXPECT_EQ(result_of(rec, stop)->action, VmAction::kStop);
    // The STOPPED event reaches the loop as evidence.
    ASSERT_TRUE(pump_until(
        hv, [&] { return !rec.vms.empty() && rec.vms.back().state == core::VmState::kShutOff; }));
    EXPECT_EQ(hv.vms().at("ha1").state, core::VmState::kShutOff);

    const auto again = hv.stop("ha1");
    const auto start = hv.start("ha1");
    ASSERT_TRUE(pump_until(hv, [&] { return rec.actions.size() == 5; }));
    EXPECT_EQ(result_of(rec, again)->outcome, ActionOutcome::kAlreadyDone);
    EXPECT_EQ(result_of(rec, start)->outcome, ActionOutcome::kDone)
        << result_of(rec, start)->detail;
    ASSERT_TRUE(pump_until(hv, [&] { return rec.vms.back().state == core::VmState::kRunning; }));
    const auto twice = hv.start("ha1");
    ASSERT_TRUE(pump_until(hv, [&] { return rec.actions.size() == 6; }));
    EXPECT_EQ(result_of(rec, twice)->outcome, ActionOutcome::kAlreadyDone);
}

// libvirt's test driver cannot migrate: the call fails while the domain still
// runs here, which is a failure (it did not move), never "done".
TEST(LibvirtHypervisor, AMigrationThatCannotHappenFailsAndTheVmStays) {
    Recorder rec;
    auto made = LibvirtHypervisor::make(test_config(), rec.sink());
    ASSERT_TRUE(made) << made.error().message;
    auto& hv = **made;
    ASSERT_TRUE(pump_until(hv, [&] { return rec.listed > 0; }));
    const auto events = rec.vms.size();
    const auto move = hv.migrate("ha1", "test:///default");
    const auto missing = hv.migrate("no-such-vm", "test:///default");
    const auto refused = hv.refuse(VmAction::kMigrate, "ha1", "no migration_uri for h2");
    ASSERT_TRUE(pump_until(hv, [&] { return rec.actions.size() == 3; }));
    ASSERT_TRUE(result_of(rec, move));
    EXPECT_EQ(result_of(rec, move)->outcome, ActionOutcome::kFailed)
        << result_of(rec, move)->detail;
    EXPECT_EQ(result_of(rec, move)->action, VmAction::kMigrate);
    EXPECT_FALSE(result_of(rec, move)->detail.empty());
    EXPECT_EQ(result_of(rec, missing)->outcome, ActionOutcome::kNotFound);
    EXPECT_EQ(result_of(rec, refused)->outcome, ActionOutcome::kFailed);
    EXPECT_EQ(result_of(rec, refused)->detail, "no migration_uri for h2");
    EXPECT_EQ(rec.vms.size(), events);
    EXPECT_EQ(hv.vms().at("ha1").state, core::VmState::kRunning);
}

// What the end of a migration call means to the core: it moved only when the
// call says so, or when the domain is no longer (known to be) active here, in
// which case it may have moved with the answer lost and stays claimed.
TEST(LibvirtHypervisor, MigrationOutcomes) {
    EXPECT_EQ(migration_outcome(true, false, 0), ActionOutcome::kDone);
    EXPECT_EQ(migration_outcome(true, true, 0), ActionOutcome::kDone);  // done before the abort
    EXPECT_EQ(migration_outcome(false, false, 1), ActionOutcome::kFailed);
    EXPECT_EQ(migration_outcome(false, true, 1), ActionOutcome::kTimedOut);
    EXPECT_EQ(migration_outcome(false, false, 0), ActionOutcome::kDone);
    EXPECT_EQ(migration_outcome(false, true, -1), ActionOutcome::kDone);
    EXPECT_EQ(name(VmAction::kMigrate), "migrate");
}

TEST(LibvirtHypervisor, AnUnreachableLibvirtIsReportedNotFatal) {
    Recorder rec;
    HypervisorConfig c;
    c.uri = "qemu+unix:///system?socket=/nonexistent/vigil-test.sock";
    c.start_timeout = 1500ms;
    auto made = LibvirtHypervisor::make(c, rec.sink());
    ASSERT_TRUE(made) << made.error().message;
    auto& hv = **made;
    ASSERT_TRUE(pump_until(hv, [&] { return !rec.connection_why.empty(); }));
    EXPECT_FALSE(rec.connected);
    EXPECT_NE(rec.connection_why.find("vigil-test.sock"), std::string::npos) << rec.connection_why;
    // An action queued behind the unreachable daemon still gets its answer in time.
    const auto t0 = std::chrono::steady_clock::now();
    const auto id = hv.start("vm1");
    ASSERT_TRUE(pump_until(hv, [&] { return result_of(rec, id) != nullptr; }));
    EXPECT_EQ(result_of(rec, id)->outcome, ActionOutcome::kTimedOut);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
}

TEST(LibvirtHypervisor, AnActionReportedTimedOutIsNeverBegun) {
    // A test-driver URI whose file appears only later: the worker keeps trying
    // to connect, the queued stop times out, then libvirt "comes back".
    const auto dir =
        std::filesystem::temp_directory_path() / ("vigil-hv-late-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    struct Cleanup {
        std::filesystem::path dir;
        ~Cleanup() {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    } cleanup{dir};
    Recorder rec;
    HypervisorConfig c;
    c.uri = "test://" + (dir / "test_node.xml").string();
    c.stop_timeout = 300ms;
    c.stop_grace = 100ms;
    auto made = LibvirtHypervisor::make(c, rec.sink());
    ASSERT_TRUE(made) << made.error().message;
    auto& hv = **made;
    const auto id = hv.stop("ha1");
    ASSERT_TRUE(pump_until(hv, [&] { return result_of(rec, id) != nullptr; }));
    EXPECT_EQ(result_of(rec, id)->outcome, ActionOutcome::kTimedOut);

    std::filesystem::copy_file(std::string(VIGIL_HYPERVISOR_FIXTURES) + "/test_node.xml",
                               dir / "test_node.xml");
    ASSERT_TRUE(pump_until(hv, [&] { return rec.listed > 0; }));
    ASSERT_TRUE(hv.vms().contains("ha1"));
    // Long enough for the worker to have run the stop had it begun it (the test
    // driver stops a domain at once), and a refresh queued behind it proves the
    // worker has passed the job.
    hv.refresh();
    ASSERT_TRUE(pump_until(hv, [&] { return rec.listed > 1; }));
    EXPECT_EQ(hv.vms().at("ha1").state, core::VmState::kRunning);
    EXPECT_EQ(rec.actions.size(), 1U);
    for (const auto& v : rec.vms) EXPECT_NE(v.state, core::VmState::kShutOff) << v.vm;
}

}  // namespace
}  // namespace vigil::adapters
