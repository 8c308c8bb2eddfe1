// The lab, driven through the vigil-lab command exactly as a person would:
// a three-host cluster checked host by host and fault by fault, then five
// up/down cycles (one of them crashed) that must leave nothing behind.
// Needs root. Runs in about three minutes on two cores.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/lab/layout.h"
#include "tests/lab/stamp.h"
#include "tests/lab/sys.h"
#include "tests/tools/fixtures/fixtures.h"

namespace vigil::lab {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace vt = vigil::testing;

// The lab's host inits outlive the `vigil-lab up` that forked them; as a child
// subreaper this test process adopts them (and whatever a killed init left),
// so it reaps those that ended. Its own Subprocess children are always
// waited for before this runs.
void reap_adopted() {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
}

// A lab test killed half-way (a ctest timeout) leaves its lab up in its
// temporary directory; the next run takes such labs down first.
void down_abandoned_labs() {
    const char* tmp = std::getenv("TMPDIR");
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(tmp && *tmp ? tmp : "/tmp", ec)) {
        std::smatch m;
        auto name = e.path().filename().string();
        if (!std::regex_match(name, m, std::regex("vigil-lab-([0-9]+)-.*"))) continue;
        if (std::filesystem::exists("/proc/" + m[1].str())) continue;
        (void)vt::run({VIGIL_LAB_BIN, "--root", e.path().string(), "down"}, 60s);
        std::filesystem::remove_all(e.path(), ec);
    }
}

class LabCli {
  public:
    explicit LabCli(std::filesystem::path root) : root_(std::move(root)) {}

    vt::RunResult operator()(std::vector<std::string> args,
                             std::chrono::milliseconds timeout = 30s) const {
        std::vector<std::string> argv{VIGIL_LAB_BIN, "--root", root_.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return vt::run(argv, timeout);
    }
    vt::RunResult exec(const std::string& host, std::vector<std::string> cmd) const {
        std::vector<std::string> args{"exec", host, "--"};
        args.insert(args.end(), cmd.begin(), cmd.end());
        return (*this)(args);
    }
    vt::RunResult virsh(const std::string& host, std::vector<std::string> cmd) const {
        cmd.insert(cmd.begin(), {"virsh", "-q", "-c", "qemu:///system"});
        return exec(host, cmd);
    }
    bool quorate(const std::string& host) const {
        auto r = exec(host, {"corosync-quorumtool", "-s"});
        return std::regex_search(r.out, std::regex("Quorate:\\s+Yes"));
    }
    std::string domstate(const std::string& host, const std::string& vm) const {
        auto r = virsh(host, {"domstate", "--reason", vm});
        auto s = r.out;
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        return s;
    }
    json status() const { return json::parse((*this)({"status", "--json"}).out); }
    std::filesystem::path run_dir() const {
        return root_ / ("run-" + status()["run_id"].get<std::string>());
    }
    // Newest write sequence of `vm` written from `host`, 0 if none.
    uint64_t newest_seq(const std::string& vm, const std::string& host) const {
        auto id = status()["run_id"].get<std::string>();
        auto st = read_stamps(root_ / ("run-" + id) / "shared" / (id + "-" + vm + ".img"));
        uint64_t best = 0;
        if (st)
            for (const auto& s : *st)
                if (s.host == host) best = std::max(best, s.seq);
        return best;
    }
    // Each started qemu's newest write sequence from `host`, by instance.
    std::map<uint64_t, uint64_t> seqs(const std::string& vm, const std::string& host) const {
        auto id = status()["run_id"].get<std::string>();
        auto st = read_stamps(root_ / ("run-" + id) / "shared" / (id + "-" + vm + ".img"));
        std::map<uint64_t, uint64_t> out;
        if (st)
            for (const auto& s : *st)
                if (s.host == host) out[s.instance] = std::max(out[s.instance], s.seq);
        return out;
    }
    // Whether an instance of `vm` on `host` writes on: one of them (a guest
    // started again counts from 1, below the instance before it) advances.
    bool writing(const std::string& vm, const std::string& host,
                 std::chrono::milliseconds within = 3s) const {
        const auto before = seqs(vm, host);
        return vt::wait_until(
            [&] {
                for (const auto& [instance, seq] : seqs(vm, host)) {
                    const auto was = before.find(instance);
                    if (seq > (was == before.end() ? 0 : was->second) + 2) return true;
                }
                return false;
            },
            within, 50ms);
    }
    // The host `vm` writes from now (its newest stamps advance there), or ""
    // if none within `within`.
    std::string writer(const std::string& vm, std::chrono::milliseconds within) const {
        const std::vector<std::string> hosts{"h1", "h2", "h3"};
        std::map<std::string, uint64_t> before;
        for (const auto& h : hosts) before[h] = newest_seq(vm, h);
        std::string found;
        (void)vt::wait_until(
            [&] {
                for (const auto& h : hosts)
                    if (newest_seq(vm, h) > before[h] + 2) found = h;
                return !found.empty();
            },
            within, 100ms);
        return found;
    }
    const std::filesystem::path& root() const { return root_; }

  private:
    std::filesystem::path root_;
};

std::vector<pid_t> host_pids(const LabCli& lab, const std::string& host) {
    auto ns = "vl-" + lab.status()["run_id"].get<std::string>() + "-" + host;
    return pids_in_ns("net", ns_inode("/run/netns/" + ns));
}

// Whether `host`'s emulated watchdog (outside the host) is armed.
bool watchdog_armed(const LabCli& lab, const std::string& host) {
    auto text = read_file(lab.run_dir() / host / "watchdog" / "status").value_or("");
    return text.find("armed 1\n") != std::string::npos;
}

// The host's watchdog armed, as vigild in cluster mode arms it at start (it
// holds the device, so the lab cannot open it as well); armed by hand (open,
// pet, close without the magic character) when no vigild does.
::testing::AssertionResult arm_watchdog(const LabCli& lab, const std::string& host) {
    if (vt::wait_until([&] { return watchdog_armed(lab, host); }, 2s, 200ms))
        return ::testing::AssertionSuccess();
    auto r = lab.exec(host, {"sh", "-c", "echo x > /run/vigil-lab/watchdog/watchdog"});
    if (!r.ok()) return ::testing::AssertionFailure() << r.describe();
    return ::testing::AssertionSuccess();
}

// The lab's own mechanics (nemesis, storage views, leases, power), all in one
// lab: vigild runs standalone here, watching only, so that no decision of its
// own (an isolation stop, a restart, a reset after a partition) changes what
// the next test finds. Each test starts from the lab as `up` made it,
// whatever ran before it, in whatever order (SetUp() puts it back), so each
// passes alone (--gtest_filter) and in any order (--gtest_shuffle). What vigild decides is
// the subject of the fault matrix (matrix_test.cpp), LabSelfFence, LabControl
// and LabEvidence, each with a lab of its own.
class LabCluster : public vt::RootTest {
  protected:
    static void SetUpTestSuite() {
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        down_abandoned_labs();
        auto dir = vt::TempDir::make("lab");
        ASSERT_TRUE(dir) << dir.error();
        shared_dir = new vt::TempDir(std::move(*dir));
        shared_lab = new LabCli(shared_dir->path());
        auto t0 = std::chrono::steady_clock::now();
        auto r = (*shared_lab)({"up", "--hosts", "3", "--vms", "3", "--standalone-vigild"}, 120s);
        up_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        up_ok = r.ok();
        up_log = r.describe();
    }
    static void TearDownTestSuite() {
        if (shared_lab) {
            auto r = (*shared_lab)({"down"}, 60s);
            EXPECT_TRUE(r.ok()) << r.describe();
            reap_adopted();
        }
        delete shared_lab;
        delete shared_dir;
        shared_lab = nullptr;
        shared_dir = nullptr;
    }
    void SetUp() override {
        vt::RootTest::SetUp();
        ASSERT_TRUE(up_ok) << up_log;
        ASSERT_TRUE(restore(*shared_lab));
    }
    const LabCli& lab() { return *shared_lab; }

    static constexpr std::array<std::pair<const char*, const char*>, 3> kHomes = {
        {{"vm1", "h1"}, {"vm2", "h2"}, {"vm3", "h3"}}};

    // Back to the lab `up` made, from whatever an earlier test (passed or
    // failed half-way) left: every cable and partition healed, every
    // storage view ok, no watchdog armed by hand, every host on and running
    // its vigild, each guest running on its home host and writing, every
    // host quorate.
    static ::testing::AssertionResult restore(const LabCli& lab) {
        if (auto r = lab({"heal"}); !r.ok()) return ::testing::AssertionFailure() << r.describe();
        const json status = lab.status();  // kept: the loop reads into it
        for (const auto& h : status["host_status"]) {
            const std::string name = h["name"];
            const std::string power = h["power"];
            vt::RunResult r;
            if (power == "hung") {
                r = lab({"resume", name});
            } else if (power != "on") {
                r = lab({"power-on", name}, 120s);
            } else {
                r = lab({"storage", name, "ok"});
            }
            if (!r.ok()) return ::testing::AssertionFailure() << name << ": " << r.describe();
            // A vigild stopped by hand (the watchdog test) runs again, and a
            // watchdog armed by hand is disarmed with the magic close.
            for (pid_t p : host_pids(lab, name))
                if (comm_of(p) == "vigild") ::kill(p, SIGCONT);
            if (watchdog_armed(lab, name)) {
                auto off =
                    lab.exec(name, {"sh", "-c", "printf V > /run/vigil-lab/watchdog/watchdog"});
                if (!off.ok())
                    return ::testing::AssertionFailure() << name << ": " << off.describe();
            }
        }
        for (const auto& [vm, home] : kHomes) {
            const auto state = lab.domstate(home, vm);
            vt::RunResult r;
            if (state.starts_with("paused")) {
                r = lab.virsh(home, {"resume", vm});
            } else if (!state.starts_with("running")) {
                r = lab.virsh(home, {"start", vm});
            } else {
                continue;
            }
            if (!r.ok())
                return ::testing::AssertionFailure()
                       << vm << " on " << home << ": " << r.describe();
        }
        // A guest just started boots in well under a second (a boot sector);
        // 30 s covers a host powered on again under load.
        for (const auto& [vm, home] : kHomes)
            if (!lab.writing(vm, home, 30s))
                return ::testing::AssertionFailure() << vm << " does not write from " << home;
        // corosync's membership forms within token + consensus of a heal or a
        // boot; 15 s, as the tests below wait for it after their heals.
        for (const auto& [vm, home] : kHomes)
            if (!vt::wait_until([&] { return lab.quorate(home); }, 15s, 200ms))
                return ::testing::AssertionFailure() << home << " is not quorate";
        return ::testing::AssertionSuccess();
    }

    // The suite's one lab, made by SetUpTestSuite() and shared by its tests.
    static inline vt::TempDir* shared_dir = nullptr;
    static inline LabCli* shared_lab = nullptr;
    static inline double up_seconds = 0;
    static inline bool up_ok = false;
    static inline std::string up_log;
};

TEST_F(LabCluster, ComesUpWithinAMinute) {
    std::cout << "bring-up of 3 hosts and 3 guests: " << up_seconds << " s\n";
    // The lab's budget, not a fast run: a bring-up costs 15-40 s on 2 shared
    // cores (tests/lab/CMakeLists.txt), and a minute leaves room for a load
    // of 16 on top.
    EXPECT_LT(up_seconds, 60.0);
}

TEST_F(LabCluster, CorosyncIsQuorateEverywhere) {
    for (auto h : {"h1", "h2", "h3"}) EXPECT_TRUE(lab().quorate(h)) << h;
    auto r = lab().exec("h1", {"corosync-quorumtool", "-l"});
    for (auto h : {"h1", "h2", "h3"}) EXPECT_NE(r.out.find(h), std::string::npos) << r.describe();
}

TEST_F(LabCluster, EveryHostHasItsOwnDaemonsAndSharedStorageView) {
    std::set<std::string> libvirtds;
    for (auto h : {"h1", "h2", "h3"}) {
        std::map<std::string, int> seen;
        for (pid_t p : host_pids(lab(), h)) ++seen[comm_of(p)];
        for (auto d : {"corosync", "libvirtd", "virtlogd", "virtlockd"})
            EXPECT_EQ(seen[d], 1) << h << " " << d;
        auto mounts = lab().exec(h, {"cat", "/proc/self/mounts"});
        EXPECT_NE(mounts.out.find("/run/vigil-lab/shared fuse.vigil-faultfs"), std::string::npos)
            << mounts.out;
    }
    // The machine's own network is untouched: no lab link in this namespace.
    auto links = vt::run({"ip", "-o", "link"});
    EXPECT_EQ(links.out.find("br-cl"), std::string::npos);
    EXPECT_EQ(links.out.find("cl0"), std::string::npos);
}

TEST_F(LabCluster, GuestsRunOnTheirHomeHostsAndWrite) {
    for (auto [vm, h] : {std::pair{"vm1", "h1"}, {"vm2", "h2"}, {"vm3", "h3"}}) {
        // "booted", or "unpaused" after an earlier test's storage fault.
        EXPECT_TRUE(lab().domstate(h, vm).starts_with("running")) << vm << lab().domstate(h, vm);
        EXPECT_TRUE(lab().writing(vm, h)) << vm << " does not write from " << h;
    }
    auto out = lab().root() / "check.json";
    auto r = lab()({"check", "--for", "2", "--out", out.string()});
    ASSERT_TRUE(r.ok()) << r.describe();
    std::ifstream in(out);
    auto t = json::parse(in);
    EXPECT_GE(t["samples"].get<int>(), 15);
    EXPECT_TRUE(t["violations"].empty()) << t.dump(2);
    for (auto [vm, h] : {std::pair{"vm1", "h1"}, {"vm2", "h2"}, {"vm3", "h3"}}) {
        ASSERT_EQ(t["writers"][vm].size(), 1u) << t.dump(2);
        EXPECT_EQ(t["writers"][vm][0]["host"], h);
    }
    bool lease_seen = false;
    for (const auto& e : t["events"])
        if (e["text"] == "vm1: lease held by h1") lease_seen = true;
    EXPECT_TRUE(lease_seen) << t.dump(2);
}

TEST_F(LabCluster, EveryGuestIsDefinedOnEveryHost) {
    for (auto h : {"h1", "h2", "h3"})
        for (auto vm : {"vm1", "vm2", "vm3"}) {
            auto r = lab().virsh(h, {"domstate", vm});
            EXPECT_TRUE(r.ok()) << h << " " << vm << ": " << r.describe();
        }
    // Never started there ("unknown"), or refused there by the lease test
    // ("failed"): shut off either way.
    EXPECT_TRUE(lab().domstate("h2", "vm1").starts_with("shut off")) << lab().domstate("h2", "vm1");
}

// The lease virtlockd keeps for a disk: named after the SHA-256 of the disk's
// path, the same device node on every host (as the checker finds it).
std::string lease_name(const std::string& disk) {
    auto r = vt::run({"sh", "-c", "printf %s \"$1\" | sha256sum", "sh", disk});
    return r.out.substr(0, 64);
}

TEST_F(LabCluster, ASecondStartElsewhereIsRefusedByTheLease) {
    ASSERT_TRUE(lab().writing("vm1", "h1"));
    auto start = lab().virsh("h2", {"start", "vm1"});
    EXPECT_FALSE(start.ok()) << "vm1 started twice: " << start.describe();
    // Refused by virtlockd, for vm1's disk: libvirt starts qemu with its CPUs
    // stopped and acquires the disk's lease before they run, and h2's
    // virtlockd finds the lease h1's holds on the shared lockspace. Any other
    // refusal (qemu's own image lock, a missing disk, any "lock") would leave
    // the lease untested.
    const std::string lease = lease_name(std::string(kInHostDisks) + "/vm1");
    ASSERT_EQ(lease.size(), 64u);
    EXPECT_NE(start.err.find("Lockspace resource '" + lease + "' is locked"), std::string::npos)
        << "not refused by virtlockd's lease on vm1's disk (" << lease << "): " << start.describe();
    EXPECT_FALSE(lab().domstate("h2", "vm1").starts_with("running")) << lab().domstate("h2", "vm1");
    EXPECT_TRUE(lab().writing("vm1", "h1"));
}

TEST_F(LabCluster, CuttingTheClusterNetworkCostsQuorumNotGuests) {
    ASSERT_TRUE(lab()({"cut", "h3", "cluster"}).ok());
    EXPECT_TRUE(vt::wait_until([&] { return !lab().quorate("h3"); }, 10s, 200ms));
    EXPECT_TRUE(lab().quorate("h1"));
    EXPECT_TRUE(lab().quorate("h2"));
    EXPECT_TRUE(lab().domstate("h3", "vm3").starts_with("running")) << lab().domstate("h3", "vm3");
    EXPECT_TRUE(lab().writing("vm3", "h3"));
    auto link = vt::run({"ip", "-n", "vl-" + lab().status()["run_id"].get<std::string>() + "-h3",
                         "-o", "link", "show", "cl0"});
    EXPECT_NE(link.out.find("state DOWN"), std::string::npos) << link.out;
    ASSERT_TRUE(lab()({"heal"}).ok());
    EXPECT_TRUE(vt::wait_until([&] { return lab().quorate("h3"); }, 15s, 200ms));
}

TEST_F(LabCluster, AStoragePathFailurePausesOnlyThatHostsGuest) {
    auto r = lab()({"storage", "h2", "fail"});
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_TRUE(vt::wait_until([&] { return lab().domstate("h2", "vm2") == "paused (I/O error)"; },
                               5s, 100ms))
        << lab().domstate("h2", "vm2");
    EXPECT_FALSE(lab().writing("vm2", "h2", 1s));
    EXPECT_TRUE(lab().domstate("h1", "vm1").starts_with("running")) << lab().domstate("h1", "vm1");
    EXPECT_TRUE(lab().writing("vm1", "h1"));
    ASSERT_TRUE(lab()({"storage", "h2", "ok"}).ok());
    ASSERT_TRUE(lab().virsh("h2", {"resume", "vm2"}).ok());
    EXPECT_TRUE(lab().writing("vm2", "h2"));
}

TEST_F(LabCluster, APartitionLeavesTheMinorityInquorate) {
    ASSERT_TRUE(lab()({"partition", "h1,h2/h3"}).ok());
    EXPECT_TRUE(vt::wait_until([&] { return !lab().quorate("h3"); }, 10s, 200ms));
    EXPECT_TRUE(lab().quorate("h1"));
    // A switch split, not a cable: the carrier stays up.
    auto link = vt::run({"ip", "-n", "vl-" + lab().status()["run_id"].get<std::string>() + "-h3",
                         "-o", "link", "show", "cl0"});
    EXPECT_EQ(link.out.find("state DOWN"), std::string::npos) << link.out;
    ASSERT_TRUE(lab()({"heal"}).ok());
    EXPECT_TRUE(vt::wait_until([&] { return lab().quorate("h3"); }, 15s, 200ms));
}

TEST_F(LabCluster, AHungHostStopsEveryProcessUntilResumed) {
    ASSERT_TRUE(lab()({"hang", "h3"}).ok());
    auto pids = host_pids(lab(), "h3");
    ASSERT_FALSE(pids.empty());
    for (pid_t p : pids) EXPECT_EQ(state_of(p), 'T') << comm_of(p);
    EXPECT_FALSE(lab().writing("vm3", "h3", 1s));
    ASSERT_TRUE(lab()({"resume", "h3"}).ok());
    EXPECT_TRUE(lab().writing("vm3", "h3"));
}

TEST_F(LabCluster, KillingVigildGetsItRestarted) {
    auto vigild = [&] {
        for (pid_t p : host_pids(lab(), "h1"))
            if (comm_of(p) == "vigild") return p;
        return pid_t{0};
    };
    pid_t before = vigild();
    ASSERT_NE(before, 0) << "vigild is not running on h1";
    ASSERT_TRUE(lab()({"kill-daemon", "h1"}).ok());
    EXPECT_TRUE(vt::wait_until(
        [&] {
            pid_t now = vigild();
            return now != 0 && now != before;
        },
        5s, 100ms));
}

TEST_F(LabCluster, AnExpiredWatchdogResetsItsHost) {
    ASSERT_TRUE(lab().writing("vm3", "h3"));
    // Armed (by hand: vigild runs standalone here), then nothing pets it.
    ASSERT_TRUE(arm_watchdog(lab(), "h3"));
    for (pid_t p : host_pids(lab(), "h3"))
        if (comm_of(p) == "vigild") ::kill(p, SIGSTOP);
    // The emulator runs outside the host: nothing of the host is left.
    EXPECT_TRUE(vt::wait_until([&] { return host_pids(lab(), "h3").empty(); }, 15s, 200ms));
    EXPECT_FALSE(lab().writing("vm3", "h3", 1s));
    EXPECT_TRUE(lab().quorate("h1"));
}

TEST_F(LabCluster, PowerOffLeavesNothingOfTheHostRunning) {
    ASSERT_FALSE(host_pids(lab(), "h1").empty());
    std::vector<std::string> on_h2;
    for (const auto* vm : {"vm1", "vm2", "vm3"})
        if (lab().domstate("h2", vm).starts_with("running")) on_h2.push_back(vm);
    std::cout << "guests on h2 before h1's power-off: " << on_h2.size() << "\n";
    auto r = lab()({"power-off", "h1"});
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_TRUE(host_pids(lab(), "h1").empty());
    EXPECT_FALSE(lab().writing("vm1", "h1", 1s));
    // The status kept in a variable: a loop over a member of the temporary
    // read freed memory, and its checks could pass without running.
    const json status = lab().status();
    int seen = 0;
    for (const auto& h : status["host_status"])
        if (h["name"] == "h1") {
            ++seen;
            EXPECT_EQ(h["power"], "off");
            EXPECT_EQ(h["processes"], 0);
        }
    EXPECT_EQ(seen, 1) << status.dump();
    // The guests of h2 write on.
    for (const auto& vm : on_h2) EXPECT_TRUE(lab().writing(vm, "h2")) << vm;
}

// vigilctl against vigild in cluster mode: status in h1 with everyone alive,
// then h3 powered off until h1 calls it dead, and explain names the decision
// and its evidence. Its own lab: the power-off is not undone.
class LabControl : public vt::RootTest {
  protected:
    static constexpr auto kFenceDelay = 7s;  // the lab's fence_delay_ms (layout.h)
    static constexpr auto kHeartbeat = 1s;   // the lab's heartbeat_interval_ms

    void SetUp() override {
        vt::RootTest::SetUp();
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        down_abandoned_labs();
        auto dir = vt::TempDir::make("lab");
        ASSERT_TRUE(dir) << dir.error();
        dir_.emplace(std::move(*dir));
        lab_.emplace(dir_->path());
        auto r = (*lab_)({"up", "--hosts", "3", "--vms", "2"}, 120s);
        ASSERT_TRUE(r.ok()) << r.describe();
    }
    void TearDown() override {
        if (lab_) {
            auto r = (*lab_)({"down"}, 60s);
            EXPECT_TRUE(r.ok()) << r.describe();
            reap_adopted();
        }
    }
    vt::RunResult vigilctl(const std::string& host, std::vector<std::string> args) const {
        args.insert(args.begin(), VIGILCTL_BIN);
        return lab_->exec(host, args);
    }
    json status(const std::string& host) const {
        auto r = vigilctl(host, {"status", "--json"});
        if (!r.ok()) return json();
        auto j = json::parse(r.out, nullptr, false);
        return j.is_discarded() ? json() : j;
    }
    static const json* peer(const json& st, const std::string& name) {
        if (!st.is_object() || !st.contains("cluster")) return nullptr;
        for (const auto& p : st["cluster"]["peers"])
            if (p["name"] == name) return &p;
        return nullptr;
    }
    static std::string owner(const json& st, const std::string& vm) {
        for (const auto& v : st["cluster"]["vms"])
            if (v["name"] == vm && v["owner"].is_object()) return v["owner"]["name"];
        return "";
    }

    std::optional<vt::TempDir> dir_;
    std::optional<LabCli> lab_;
};

TEST_F(LabControl, StatusShowsTheClusterAndExplainNamesTheFenceDelay) {
    // Settled: quorate, both peers alive, each VM owned by its home host, and a
    // heartbeat has decided since: the first one may come before quorum and the
    // first slot read, and rightly withholds its pet.
    json st;
    const bool settled = vt::wait_until(
        [&] {
            st = status("h1");
            const auto* h2 = peer(st, "h2");
            const auto* h3 = peer(st, "h3");
            return h2 && h3 && st["cluster"]["host"]["quorate"] == true &&
                   (*h2)["class"] == "alive" && (*h3)["class"] == "alive" &&
                   owner(st, "vm1") == "h1" && owner(st, "vm2") == "h2" &&
                   st["cluster"]["heartbeat"]["pet"] == true;
        },
        60s, 250ms);
    ASSERT_TRUE(settled) << st.dump(2);
    const auto& c = st["cluster"];
    EXPECT_EQ(st["mode"], "cluster");
    EXPECT_EQ(c["host"]["name"], "h1");
    EXPECT_EQ(c["host"]["state"], "ok");
    EXPECT_EQ(c["host"]["coordinator"]["name"], "h1") << "the lowest quorate id";
    EXPECT_EQ(c["peers"].size(), 2U);
    for (const auto& p : c["peers"]) {
        EXPECT_TRUE(p["in_membership"]) << p.dump();
        ASSERT_TRUE(p["last_sign_of_life_seconds_ago"].is_number()) << p.dump();
        // Every heartbeat interval (1 s in the lab) brings one; two intervals
        // cover one late by up to a whole interval.
        EXPECT_LT(p["last_sign_of_life_seconds_ago"].get<double>(), 2 * 1.0) << p.dump();
        EXPECT_TRUE(p["status"].is_object()) << "its slot or message said something";
    }
    ASSERT_EQ(c["vms"].size(), 2U) << c["vms"].dump();
    EXPECT_EQ(c["vms"][0]["state_here"], "running") << c["vms"].dump();
    EXPECT_NE(c["vms"][1]["state_here"], "running") << "vm2 runs on h2, not here";
    EXPECT_TRUE(c["vms"][0]["policy"].is_object());
    EXPECT_TRUE(c["watchdog"]["armed"]) << c["watchdog"].dump();
    EXPECT_EQ(c["watchdog"]["timeout_seconds"], 5);
    EXPECT_EQ(c["heartbeat"]["pet_reason"], "quorate") << c["heartbeat"].dump();
    // The text says the same.
    auto text = vigilctl("h1", {"status"});
    ASSERT_TRUE(text.ok()) << text.describe();
    EXPECT_TRUE(std::regex_search(text.out, std::regex("\n  h2 +alive ")) &&
                std::regex_search(text.out, std::regex("\n  h3 +alive ")))
        << text.out;
    EXPECT_NE(text.out.find("watchdog: armed, timeout 5 s"), std::string::npos) << text.out;

    // h3 loses power: once silent for the fence delay, h1 calls it dead.
    const auto off_at = std::chrono::system_clock::now();
    auto off = (*lab_)({"power-off", "h3"});
    ASSERT_TRUE(off.ok()) << off.describe();
    const auto off_took = std::chrono::system_clock::now() - off_at;
    const bool dead = vt::wait_until(
        [&] {
            st = status("h1");
            const auto* h3 = peer(st, "h3");
            return h3 && (*h3)["class"] == "dead";
        },
        kFenceDelay + 30s, 250ms);
    ASSERT_TRUE(dead) << st.dump(2);
    EXPECT_EQ((*peer(st, "h3"))["reason"], "fence-delay-elapsed");
    EXPECT_EQ((*peer(st, "h2"))["class"], "alive");
    EXPECT_TRUE(st["cluster"]["host"]["quorate"]) << "two of three";

    auto ex = vigilctl("h1", {"explain", "h3", "--json"});
    ASSERT_TRUE(ex.ok()) << ex.describe();
    const auto e = json::parse(ex.out);
    EXPECT_EQ(e["subject"]["name"], "h3");
    ASSERT_FALSE(e["decisions"].empty()) << e.dump(2);
    const auto& latest = e["decisions"][0];
    EXPECT_EQ(latest["kind"], "peer-class") << latest.dump();
    EXPECT_EQ(latest["reason"], "fence-delay-elapsed") << latest.dump();
    EXPECT_EQ(latest["peer_class"], "dead");
    std::map<std::string, std::string> facts;
    for (const auto& f : latest["evidence"]) facts[f["key"]] = f["value"];
    EXPECT_EQ(facts["fence_delay"], "7.000") << latest.dump();
    ASSERT_TRUE(facts.contains("silent_for")) << latest.dump();
    EXPECT_GE(std::stod(facts["silent_for"]), 7.0) << latest.dump();
    // Decided at the first tick a fence delay after h3's last sign of life,
    // which came at most a heartbeat before the power-off began and no later
    // than its end; the tick itself may be a heartbeat late on a loaded machine.
    const double after_off = latest["wall_time"].get<double>() -
                             std::chrono::duration<double>(off_at.time_since_epoch()).count();
    EXPECT_GE(after_off, std::chrono::duration<double>(kFenceDelay - kHeartbeat).count());
    EXPECT_LE(after_off,
              std::chrono::duration<double>(kFenceDelay + 2 * kHeartbeat + off_took).count())
        << "power-off took " << std::chrono::duration<double>(off_took).count() << " s";
    // Before it: h3 was alive, then suspect inside the fence delay.
    bool suspect_before = false;
    for (std::size_t i = 1; i < e["decisions"].size(); ++i)
        if (e["decisions"][i]["peer_class"] == "suspect") suspect_before = true;
    EXPECT_TRUE(suspect_before) << e.dump(2);

    auto text_ex = vigilctl("h1", {"explain", "h3"});
    ASSERT_TRUE(text_ex.ok()) << text_ex.describe();
    EXPECT_NE(text_ex.out.find("host h3: latest decision"), std::string::npos) << text_ex.out;
    EXPECT_NE(text_ex.out.find("peer-class  reason fence-delay-elapsed"), std::string::npos)
        << text_ex.out;
    EXPECT_NE(text_ex.out.find("fence_delay = 7.000"), std::string::npos) << text_ex.out;
    auto all = vigilctl("h1", {"explain", "--json"});
    ASSERT_TRUE(all.ok()) << all.describe();
    EXPECT_FALSE(json::parse(all.out)["decisions"].empty());
    auto unknown = vigilctl("h1", {"explain", "no-such-vm"});
    EXPECT_FALSE(unknown.ok());
    EXPECT_NE(unknown.err.find("no HA VM or host named \"no-such-vm\""), std::string::npos)
        << unknown.describe();
}

// vigilctl maintenance and cordon in cluster mode: what h2 is asked, its
// peers read from its slot and messages, and the timed maintenance ends by
// itself on h2 and so in the peers' view.
TEST_F(LabControl, MaintenanceAndCordonOfAHostAreShownByItsPeers) {
    const auto peer_flag = [&](const std::string& from, const std::string& of, const char* key) {
        const auto st = status(from);
        const auto* p = peer(st, of);
        if (!p || !(*p)["status"].is_object()) return json();
        const auto& s = (*p)["status"];
        return s.contains(key) ? s[key] : json();  // a missing key is null, not undefined
    };
    ASSERT_TRUE(vt::wait_until([&] { return peer_flag("h1", "h2", "maintenance") == json(false); },
                               60s, 250ms))
        << status("h1").dump(2);
    const auto asked = std::chrono::system_clock::now();
    auto on = vigilctl("h2", {"maintenance", "on", "--for", "8s"});
    ASSERT_TRUE(on.ok()) << on.describe();
    const auto h2 = status("h2");
    EXPECT_TRUE(h2["cluster"]["host"]["maintenance"]) << "the core took it";
    EXPECT_TRUE(h2["admin"]["maintenance_until"].is_string()) << h2["admin"].dump();
    // Peers see the flag with h2's next heartbeat: its slot and its message,
    // written every heartbeat interval; one more for the read.
    for (const auto* from : {"h1", "h3"}) {
        EXPECT_TRUE(
            vt::wait_until([&] { return peer_flag(from, "h2", "maintenance") == json(true); },
                           2 * kHeartbeat + 1s, 100ms))
            << from << ": " << status(from).dump(2);
    }
    auto cordon = vigilctl("h3", {"cordon"});
    ASSERT_TRUE(cordon.ok()) << cordon.describe();
    EXPECT_TRUE(vt::wait_until([&] { return peer_flag("h1", "h3", "cordoned") == json(true); },
                               2 * kHeartbeat + 1s, 100ms))
        << status("h1").dump(2);
    auto events = vigilctl("h2", {"events"});
    EXPECT_NE(events.out.find("maintenance-on for 8s"), std::string::npos) << events.out;
    // The end: 8 s after the request, then one heartbeat for the slot and
    // one for the peer's read.
    EXPECT_TRUE(vt::wait_until([&] { return peer_flag("h1", "h2", "maintenance") == json(false); },
                               std::chrono::duration_cast<std::chrono::milliseconds>(
                                   asked + 8s - std::chrono::system_clock::now()) +
                                   2 * kHeartbeat + 1s,
                               100ms))
        << status("h1").dump(2);
    EXPECT_GE(std::chrono::system_clock::now(), asked + 8s) << "not before its end";
    EXPECT_FALSE(status("h2")["cluster"]["host"]["maintenance"]);
    EXPECT_TRUE(peer_flag("h1", "h3", "cordoned") == json(true)) << "cordon stays";
}

// What a lab run under `root` could leave on the machine. Other tests may run
// at the same time, so only what names this lab counts.
struct Footprint {
    std::set<std::string> netns;      // namespaces of the given runs
    std::set<std::string> links;      // lab-named links in this namespace
    std::set<std::string> mounts;     // lab mounts in any mount namespace
    std::vector<std::string> loops;   // loop devices backed by lab files
    std::set<std::string> processes;  // "pid comm" of processes using the lab

    static bool mentions_root(const std::string& text, const std::filesystem::path& root) {
        return text.find(root.string()) != std::string::npos;
    }

    static bool uses_root(const std::filesystem::path& proc, const std::filesystem::path& root) {
        const pid_t pid = std::stoi(proc.filename().string());
        for (const auto& a : cmdline_of(pid))
            if (mentions_root(a, root)) return true;
        std::error_code ec;
        for (const auto& fd : std::filesystem::directory_iterator(proc / "fd", ec)) {
            if (mentions_root(std::filesystem::read_symlink(fd.path(), ec).string(), root))
                return true;
        }
        return false;
    }

    static Footprint take(const std::filesystem::path& root, const std::set<std::string>& runs) {
        Footprint f;
        std::istringstream ns(vt::run({"ip", "netns", "list"}).out);
        for (std::string line; std::getline(ns, line);)
            for (const auto& id : runs)
                if (line.starts_with("vl-" + id + "-"))
                    f.netns.insert(line.substr(0, line.find(' ')));
        std::istringstream links(vt::run({"ip", "-o", "link"}).out);
        for (std::string line; std::getline(links, line);) {
            auto a = line.find(": ");
            auto b = line.find(':', a + 2);
            auto name = line.substr(a + 2, b - a - 2);
            if (std::regex_match(
                    name, std::regex("(br-(cl|vm|st).*|h[0-9]-(cl|vm|st)|(cl|vm|st)0)(@.*)?")))
                f.links.insert(name);
        }
        // Other labs and tests may run meanwhile, so only what names this lab's
        // root counts, and the mount namespaces of processes that do (its hosts,
        // whose mounts sit at the same /run/vigil-lab paths as every lab's).
        const ino_t here = ns_inode("/proc/self/ns/mnt");
        std::vector<std::filesystem::path> procs;
        std::set<ino_t> own;
        std::set<std::filesystem::path> users;
        for (const auto& e : std::filesystem::directory_iterator("/proc")) {
            auto name = e.path().filename().string();
            if (name.find_first_not_of("0123456789") != std::string::npos) continue;
            procs.push_back(e.path());
            if (!uses_root(e.path(), root)) continue;
            users.insert(e.path());
            const ino_t ino = ns_inode(e.path() / "ns" / "mnt");
            if (ino != 0 && ino != here) own.insert(ino);
        }
        std::set<ino_t> namespaces;
        for (const auto& proc : procs) {
            auto ino = ns_inode(proc / "ns" / "mnt");
            if (ino == 0 || !namespaces.insert(ino).second) continue;
            std::ifstream mountinfo(proc / "mountinfo");
            for (std::string line; std::getline(mountinfo, line);) {
                if (mentions_root(line, root) ||
                    (own.contains(ino) && line.find("/run/vigil-lab/") != std::string::npos))
                    f.mounts.insert(std::to_string(ino) + " " + line);
            }
        }
        // The shared disks' loop devices name the in-host path of a file
        // whose name carries the run id.
        for (const auto& l : vt::loop_backing_files()) {
            bool ours = mentions_root(l, root);
            for (const auto& id : runs) ours = ours || Layout::backing_of_run(l, id);
            if (ours) f.loops.push_back(l);
        }
        for (const auto& proc : procs) {
            const pid_t pid = std::stoi(proc.filename().string());
            const bool uses = users.contains(proc) || own.contains(ns_inode(proc / "ns" / "mnt"));
            if (uses && state_of(pid) != 'Z')
                f.processes.insert(proc.filename().string() + " " + comm_of(pid));
        }
        return f;
    }
};

TEST(LabLifecycle, FiveUpDownCyclesIncludingACrashLeaveNothingBehind) {
    VIGIL_REQUIRE_ROOT();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    down_abandoned_labs();
    auto dir = vt::TempDir::make("lab");
    ASSERT_TRUE(dir) << dir.error();
    LabCli lab(dir->path());
    auto before = Footprint::take(dir->path(), {});
    std::set<std::string> runs;
    for (int cycle = 1; cycle <= 5; ++cycle) {
        if (cycle == 3) {
            // A run that dies half-way through bring-up: the next up cleans it.
            auto crashed = vt::Subprocess::spawn({VIGIL_LAB_BIN, "--root", dir->path().string(),
                                                  "up", "--hosts", "3", "--vms", "1"});
            ASSERT_TRUE(crashed) << crashed.error();
            std::this_thread::sleep_for(3s);
            crashed->send_signal(SIGKILL);
            (void)crashed->wait_for(5s);
        }
        auto t0 = std::chrono::steady_clock::now();
        auto up = lab({"up", "--hosts", "3", "--vms", "1"}, 120s);
        ASSERT_TRUE(up.ok()) << "cycle " << cycle << ": " << up.describe();
        std::cout << "cycle " << cycle << ": up in "
                  << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
                  << " s\n";
        if (cycle == 3) {
            std::smatch m;
            EXPECT_TRUE(std::regex_search(up.err, m, std::regex("lab: removing run ([0-9a-z]+)")))
                << up.describe();
            if (!m.empty()) runs.insert(m[1].str());
        }
        EXPECT_TRUE(lab.quorate("h2"));
        EXPECT_TRUE(lab.writing("vm1", "h1"));
        // The footprint sees a lab that is up, so an empty one after down means something.
        auto run_id = lab.status()["run_id"].get<std::string>();
        runs.insert(run_id);
        auto during = Footprint::take(dir->path(), runs);
        EXPECT_EQ(during.netns.size(), 4u);
        EXPECT_GE(during.processes.size(), 3u * 6u);
        EXPECT_GE(during.mounts.size(), 3u * 8u);
        // Each host's loop devices: the guest's disk and the heartbeat area.
        EXPECT_EQ(during.loops.size(), 3u * 2u);
        auto down = lab({"down"}, 60s);
        ASSERT_TRUE(down.ok()) << down.describe();
        reap_adopted();
        auto after = Footprint::take(dir->path(), runs);
        EXPECT_EQ(after.netns, before.netns) << "cycle " << cycle;
        EXPECT_EQ(after.links, before.links) << "cycle " << cycle;
        EXPECT_EQ(after.mounts, before.mounts) << "cycle " << cycle;
        EXPECT_EQ(after.loops, before.loops) << "cycle " << cycle;
        EXPECT_EQ(after.processes, before.processes) << "cycle " << cycle;
        EXPECT_FALSE(std::filesystem::exists(dir->path() / ("run-" + run_id)));
    }
}

// The libvirt adapter (daemon/adapters/hypervisor) inside a lab host, driven
// through vigil-hypervisor-probe: it must see the guest as an HA VM, report a
// pause for an I/O error through libvirt's events within seconds (telling
// ENOSPC apart), and carry out resume, stop and start, while a second start
// on another host is refused by the disk lock. Two hosts, one guest; vigild
// runs standalone, so the probe is the only one acting on libvirt.
class LabHypervisor : public vt::RootTest {
  protected:
    void SetUp() override {
        vt::RootTest::SetUp();
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        down_abandoned_labs();
        auto dir = vt::TempDir::make("lab");
        ASSERT_TRUE(dir) << dir.error();
        dir_.emplace(std::move(*dir));
        lab_.emplace(dir_->path());
        auto r = (*lab_)({"up", "--hosts", "2", "--vms", "1", "--standalone-vigild"}, 120s);
        ASSERT_TRUE(r.ok()) << r.describe();
    }
    void TearDown() override {
        if (watch_) watch_->terminate();
        watch_.reset();
        if (lab_) {
            auto r = (*lab_)({"down"}, 60s);
            EXPECT_TRUE(r.ok()) << r.describe();
            reap_adopted();
        }
    }

    // Lines of the watching probe whose fields match `want`.
    std::vector<json> seen(const json& want) const {
        std::vector<json> out;
        std::istringstream in(watch_->stdout_text());
        for (std::string line; std::getline(in, line);) {
            auto j = json::parse(line, nullptr, false);
            if (j.is_discarded()) continue;
            bool match = true;
            for (const auto& [k, v] : want.items()) match = match && j.contains(k) && j[k] == v;
            if (match) out.push_back(j);
        }
        return out;
    }
    // Waits for a line matching `want` stamped after `since`; its delay from `since`.
    std::optional<std::chrono::milliseconds> wait_for(const json& want,
                                                      std::chrono::steady_clock::time_point since,
                                                      std::chrono::milliseconds within = 15s) {
        std::optional<std::chrono::milliseconds> delay;
        const bool found = vt::wait_until(
            [&] {
                for (const auto& j : seen(want)) {
                    const std::chrono::nanoseconds at(j["at_ns"].get<std::int64_t>());
                    if (at < since.time_since_epoch()) continue;
                    delay = std::chrono::duration_cast<std::chrono::milliseconds>(
                        at - since.time_since_epoch());
                    return true;
                }
                return false;
            },
            within, 50ms);
        return found ? delay : std::nullopt;
    }
    json act(const std::string& host, const std::string& what, const std::string& vm) {
        auto r = lab_->exec(host, {VIGIL_HV_PROBE, "act", what, vm});
        std::istringstream in(r.out);
        for (std::string line; std::getline(in, line);) {
            auto j = json::parse(line, nullptr, false);
            if (!j.is_discarded() && j["kind"] == "action") return j;
        }
        return json{{"outcome", "no result"}, {"probe", r.describe()}};
    }

    std::optional<vt::TempDir> dir_;
    std::optional<LabCli> lab_;
    std::optional<vt::Subprocess> watch_;
};

TEST_F(LabHypervisor, SeesIoErrorPausesAndCarriesOutActions) {
    auto w = vt::Subprocess::spawn({VIGIL_LAB_BIN, "--root", dir_->path().string(), "exec", "h1",
                                    "--", VIGIL_HV_PROBE, "watch", "85"});
    ASSERT_TRUE(w) << w.error();
    watch_.emplace(std::move(*w));
    const auto t0 = std::chrono::steady_clock::time_point{};
    ASSERT_TRUE(wait_for({{"kind", "listed"}}, t0))
        << watch_->stdout_text() << watch_->stderr_text();
    const auto listed = seen({{"kind", "listed"}}).front();
    ASSERT_EQ(listed["vms"].size(), 1u) << listed.dump();
    EXPECT_EQ(listed["vms"][0]["vm"], "vm1");
    EXPECT_EQ(listed["vms"][0]["state"], "running");
    EXPECT_EQ(listed["vms"][0]["priority"], 1);
    EXPECT_EQ(listed["vms"][0]["memory_mib"], 32);
    EXPECT_EQ(listed["bad_input"], 0);

    // A dead storage path: paused on an I/O error, reported by the event path.
    auto fault = std::chrono::steady_clock::now();
    ASSERT_TRUE((*lab_)({"storage", "h1", "fail"}).ok());
    auto paused = wait_for({{"kind", "vm"}, {"vm", "vm1"}, {"state", "paused-io-error"}}, fault);
    ASSERT_TRUE(paused) << watch_->stdout_text();
    std::cout << "storage fail -> paused-io-error event: " << paused->count() << " ms\n";
    // qemu pauses on the first failed request (a guest writes every two
    // timer ticks, 110 ms) and libvirt's event reaches the probe at once; 5 s
    // is the storage grace the lab keeps (cluster.storage_grace_ms, default),
    // within which vigil must know of the pause.
    EXPECT_LT(*paused, 5s);
    ASSERT_TRUE(wait_for({{"kind", "io_error"}, {"vm", "vm1"}}, fault));
    // libvirt names only ENOSPC; any other error comes with an empty reason.
    const auto eio = seen({{"kind", "io_error"}, {"vm", "vm1"}}).back();
    EXPECT_NE(eio["reason"], "enospc") << eio.dump();
    EXPECT_EQ(eio["device"], "virtio-disk0") << eio.dump();

    ASSERT_TRUE((*lab_)({"storage", "h1", "ok"}).ok());
    auto resumed_at = std::chrono::steady_clock::now();
    auto resume = act("h1", "resume", "vm1");
    EXPECT_EQ(resume["outcome"], "done") << resume.dump();
    EXPECT_TRUE(wait_for({{"kind", "vm"}, {"vm", "vm1"}, {"state", "running"}}, resumed_at));
    EXPECT_TRUE(lab_->writing("vm1", "h1"));

    // A full volume (F10) is told apart by the reason.
    fault = std::chrono::steady_clock::now();
    ASSERT_TRUE((*lab_)({"storage", "h1", "enospc"}).ok());
    EXPECT_TRUE(wait_for({{"kind", "vm"}, {"vm", "vm1"}, {"state", "paused-io-error"}}, fault))
        << watch_->stdout_text();
    EXPECT_TRUE(wait_for({{"kind", "io_error"}, {"vm", "vm1"}, {"reason", "enospc"}}, fault))
        << watch_->stdout_text();
    ASSERT_TRUE((*lab_)({"storage", "h1", "ok"}).ok());
    EXPECT_EQ(act("h1", "resume", "vm1")["outcome"], "done");

    // Stop: the boot-sector guest ignores ACPI, so the grace runs out and it
    // is destroyed. Then the recovery path: started on h2 (its own storage
    // view), while a start back on h1 meets the disk lock.
    auto stopped_at = std::chrono::steady_clock::now();
    auto stop = act("h1", "stop", "vm1");
    EXPECT_EQ(stop["outcome"], "done") << stop.dump();
    EXPECT_TRUE(wait_for({{"kind", "vm"}, {"vm", "vm1"}, {"state", "shut-off"}}, stopped_at));
    EXPECT_EQ(act("h1", "stop", "vm1")["outcome"], "already_done");

    // Defined on every host by the lab (docs/lab.md): h2 starts its own definition.
    auto moved = act("h2", "start", "vm1");
    EXPECT_EQ(moved["outcome"], "done") << moved.dump();
    EXPECT_TRUE(lab_->writing("vm1", "h2"));
    EXPECT_EQ(act("h2", "start", "vm1")["outcome"], "already_done");
    auto twice = act("h1", "start", "vm1");
    EXPECT_EQ(twice["outcome"], "locked_elsewhere") << twice.dump();
    EXPECT_TRUE(lab_->writing("vm1", "h2"));
    EXPECT_TRUE(seen({{"kind", "bad_input"}}).empty()) << watch_->stdout_text();
}

// A lab up for one test: three hosts, no guests unless asked; taken down
// however the test ends.
class OneLab {
  public:
    explicit OneLab(int hosts = 3, int vms = 0) {
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        down_abandoned_labs();
        auto dir = vt::TempDir::make("lab");
        if (!dir) {
            up_log = dir.error();
            return;
        }
        dir_.emplace(std::move(*dir));
        cli.emplace(dir_->path());
        auto r =
            (*cli)({"up", "--hosts", std::to_string(hosts), "--vms", std::to_string(vms)}, 120s);
        up_ok = r.ok();
        up_log = r.describe();
    }
    ~OneLab() {
        if (cli) {
            auto r = (*cli)({"down"}, 60s);
            EXPECT_TRUE(r.ok()) << r.describe();
            reap_adopted();
        }
    }
    json host_status(const std::string& host) const {
        const auto all = cli->status();
        for (const auto& h : all["host_status"])
            if (h["name"] == host) return h;
        return {};
    }
    pid_t daemon(const std::string& host, const std::string& comm) const {
        for (pid_t p : host_pids(*cli, host))
            if (comm_of(p) == comm) return p;
        return 0;
    }

    std::optional<LabCli> cli;
    bool up_ok = false;
    std::string up_log;

  private:
    std::optional<vt::TempDir> dir_;
};

std::string machine_pidns() { return std::to_string(ns_inode("/proc/self/ns/pid")); }

int votes(const LabCli& lab, const std::string& host) {
    auto r = lab.exec(host, {"corosync-quorumtool", "-s"});
    std::smatch m;
    if (!std::regex_search(r.out, m, std::regex("Total votes:\\s+([0-9]+)"))) return -1;
    return std::stoi(m[1].str());
}

// The fixture of the whole lab label (FIXTURES_SETUP): inside every host of a
// fresh lab, a PID namespace that is not this machine's, and no SysRq trigger
// a write could reach. Checked three ways: the lab's own check, what a
// process inside shows, and the fence probe's refusal outside a host.
TEST(LabSafety, EveryHostHasItsOwnPidNamespaceAndNoReachableSysrqTrigger) {
    VIGIL_REQUIRE_ROOT();
    OneLab lab;
    ASSERT_TRUE(lab.up_ok) << lab.up_log;
    auto checked = (*lab.cli)({"safety"});
    ASSERT_TRUE(checked.ok()) << checked.describe();
    const auto mine = "pid:[" + machine_pidns() + "]";
    for (auto h : {"h1", "h2", "h3"}) {
        EXPECT_NE(checked.out.find(std::string(h) + ": safe: own PID namespace"), std::string::npos)
            << checked.out;
        auto ns = lab.cli->exec(h, {"readlink", "/proc/self/ns/pid"});
        ASSERT_TRUE(ns.ok()) << ns.describe();
        EXPECT_TRUE(ns.out.starts_with("pid:[")) << ns.out;
        EXPECT_EQ(ns.out.find(mine), std::string::npos) << h << " shares " << mine;
        // Inside, the host's own /proc: its init is PID 1 there.
        auto one = lab.cli->exec(h, {"cat", "/proc/1/comm"});
        EXPECT_EQ(one.out, "lab-init-" + std::string(h) + "\n") << one.describe();
        // The trigger is either absent (no SysRq in this kernel) or a file
        // that is not procfs's.
        auto trig = lab.cli->exec(
            h, {"sh", "-c",
                "if [ -e /proc/sysrq-trigger ]; then stat -f -c %T /proc/sysrq-trigger; "
                "else echo absent; fi"});
        ASSERT_TRUE(trig.ok()) << trig.describe();
        EXPECT_NE(trig.out, "proc\n") << h << ": the machine's SysRq trigger is reachable";
        if (std::filesystem::exists("/proc/sysrq-trigger")) {
            EXPECT_NE(trig.out, "absent\n") << h << ": a /proc the lab did not make";
        }
        auto probe = lab.cli->exec(
            h, {VIGIL_FENCE_PROBE, "--machine-pidns", machine_pidns(), "--check-only"});
        EXPECT_EQ(probe.status.code, 0) << probe.describe();
        EXPECT_NE(probe.out.find("\"safe\": true"), std::string::npos) << probe.out;
    }
    // The probe refuses outside a lab host (only ever --check-only here).
    auto outside = vt::run({VIGIL_FENCE_PROBE, "--machine-pidns", machine_pidns(), "--check-only"});
    EXPECT_EQ(outside.status.code, 3) << outside.describe();
    EXPECT_NE(outside.out.find("\"own_pidns\": false"), std::string::npos) << outside.out;
}

// vigild's self-fence path inside one host: reboot(2) in the host's PID
// namespace ends that host's init and every process in it, like a reset; the
// machine, this test and the other hosts' daemons run on, and the two others
// keep a quorate membership of two. Then power-on brings the host back.
TEST(LabSelfFence, ARebootInsideAHostEndsOnlyThatHost) {
    VIGIL_REQUIRE_ROOT();
    OneLab lab;
    ASSERT_TRUE(lab.up_ok) << lab.up_log;
    const auto& cli = *lab.cli;
    // Dry run first: the probe must see a safe host, or the test stops here.
    auto dry =
        cli.exec("h1", {VIGIL_FENCE_PROBE, "--machine-pidns", machine_pidns(), "--check-only"});
    ASSERT_EQ(dry.status.code, 0) << dry.describe();
    ASSERT_TRUE((*lab.cli)({"safety"}).ok());
    const pid_t h1_init = lab.daemon("h1", "lab-init-h1");
    ASSERT_NE(h1_init, 0);
    std::map<std::string, pid_t> others;
    for (auto h : {"h2", "h3"})
        for (const std::string& d :
             {std::string("corosync"), std::string("libvirtd"), "lab-init-" + std::string(h)}) {
            others[std::string(h) + "/" + d] = lab.daemon(h, d);
            ASSERT_NE(others[std::string(h) + "/" + d], 0) << h << " " << d;
        }
    ASSERT_EQ(votes(cli, "h2"), 3);

    auto fence = cli.exec("h1", {VIGIL_FENCE_PROBE, "--machine-pidns", machine_pidns()});
    EXPECT_EQ(fence.out.find("\"kind\": \"returned\""), std::string::npos)
        << "reboot_now returned: " << fence.describe();
    // Every process of h1 ends with its init (the kernel kills a PID
    // namespace with its init); a reset takes no longer than a kill.
    EXPECT_TRUE(vt::wait_until([&] { return host_pids(cli, "h1").empty(); }, 5s, 100ms))
        << "left in h1: " << host_pids(cli, "h1").size();
    EXPECT_EQ(state_of(h1_init), '\0');
    auto st = lab.host_status("h1");
    EXPECT_EQ(st["power"], "reset") << st.dump();
    EXPECT_EQ(st["reset"], "reboot(2)") << st.dump();
    // The rest of the cluster runs on, with the same processes.
    for (const auto& [what, pid] : others) {
        EXPECT_NE(state_of(pid), '\0') << what << " died";
        EXPECT_NE(state_of(pid), 'Z') << what << " died";
    }
    // Two votes once corosync's membership timeout (token + consensus, 1.1 s)
    // has passed; a busy machine gets a few rounds.
    for (auto h : {"h2", "h3"}) {
        EXPECT_TRUE(vt::wait_until([&] { return votes(cli, h) == 2; }, 10s, 200ms)) << h;
        EXPECT_TRUE(cli.quorate(h)) << h;
    }
    // Power-on: a fresh init in a new PID namespace, the checks again, and
    // the host is back in a membership of three.
    auto on = (*lab.cli)({"power-on", "h1"}, 120s);
    ASSERT_TRUE(on.ok()) << on.describe();
    EXPECT_NE(on.err.find("h1 (init"), std::string::npos) << on.describe();
    EXPECT_EQ(lab.host_status("h1")["power"], "on");
    EXPECT_TRUE(vt::wait_until([&] { return votes(cli, "h2") == 3; }, 15s, 200ms));
    EXPECT_NE(lab.daemon("h1", "lab-init-h1"), h1_init);
    EXPECT_TRUE(
        cli.exec("h1", {VIGIL_FENCE_PROBE, "--machine-pidns", machine_pidns(), "--check-only"})
            .ok());
    bool recorded = false;
    std::ifstream events(cli.run_dir() / "events.jsonl");
    for (std::string line; std::getline(events, line);)
        if (line.find("\"power-on\"") != std::string::npos) recorded = true;
    EXPECT_TRUE(recorded);
}

// The emulated watchdog is the host's hardware, outside the host: a hung host
// (every process SIGSTOPped) does not freeze it, and its expiry resets the
// host by ending its init. Armed by vigild (or by hand where none runs).
TEST(LabWatchdog, AHungHostIsResetByItsWatchdog) {
    VIGIL_REQUIRE_ROOT();
    OneLab lab;
    ASSERT_TRUE(lab.up_ok) << lab.up_log;
    const auto& cli = *lab.cli;
    ASSERT_TRUE(arm_watchdog(cli, "h3"));
    auto hung_at = std::chrono::steady_clock::now();
    ASSERT_TRUE(cli({"hang", "h3"}).ok());
    // The 5 s timeout runs from the pet, before the hang; one more second
    // for the kill to go through on a busy machine.
    EXPECT_TRUE(vt::wait_until([&] { return host_pids(cli, "h3").empty(); }, 6s, 100ms));
    std::cout << "hang -> reset: "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - hung_at).count()
              << " s\n";
    auto st = lab.host_status("h3");
    EXPECT_EQ(st["power"], "reset") << st.dump();
    EXPECT_TRUE(cli.quorate("h1"));
    ASSERT_TRUE(cli({"power-on", "h3"}, 120s).ok());
    EXPECT_TRUE(cli.quorate("h3"));
}

namespace vigilctl_json {

// `vigilctl status --json` inside a lab host; null when vigild does not answer.
json status(const LabCli& cli, const std::string& host) {
    auto r = cli.exec(host, {VIGILCTL_BIN, "status", "--json"});
    if (!r.ok()) return nullptr;
    auto j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json(nullptr) : j;
}

}  // namespace vigilctl_json

}  // namespace
}  // namespace vigil::lab

namespace vigil::lab {
namespace {

// What vigild inside `host` reports (`vigilctl status --json`), or null.
json vigild_status(const LabCli& cli, const std::string& host) {
    auto j = vigilctl_json::status(cli, host);
    return j.is_object() && j.contains("interfaces") ? j : json(nullptr);
}

std::string self_state(const json& st) {
    if (!st.is_object() || !st.contains("cluster")) return "";
    const auto& h = st["cluster"]["host"];
    return h.is_object() && h["state"].is_string() ? h["state"].get<std::string>() : "";
}

std::string interface_state(const json& st, const std::string& ifname) {
    if (!st.is_object()) return "";
    for (const auto& i : st.value("interfaces", json::array()))
        if (i.value("interface", "") == ifname) return i.value("state", "");
    return "";
}

std::string device_state(const json& st, const std::string& dev) {
    if (!st.is_object()) return "";
    for (const auto& d : st.value("block_devices", json::array()))
        if (d.value("device", "") == dev) return d.value("state", "");
    return "";
}

// The lab's VM and storage networks carry traffic as real ones do, so
// vigild keeps calling a host's uplinks "up" while nothing is cut (a lab
// guest has no NIC; idle_after_ms is 5 s), and "down" once the VM cable is.
TEST(LabEvidence, VmAndStorageLinksStayUpWithTrafficAndGoDownWhenCut) {
    VIGIL_REQUIRE_ROOT();
    OneLab lab;
    ASSERT_TRUE(lab.up_ok) << lab.up_log;
    const auto& cli = *lab.cli;
    ASSERT_TRUE(vt::wait_until([&] { return vigild_status(cli, "h2").is_object(); }, 30s, 200ms))
        << "vigild on h2 does not answer";
    // 15 s, three times idle_after_ms, sampled every 500 ms: never idle.
    const auto until = std::chrono::steady_clock::now() + 15s;
    int samples = 0;
    while (std::chrono::steady_clock::now() < until) {
        auto st = vigild_status(cli, "h2");
        ASSERT_TRUE(st.is_object());
        EXPECT_EQ(interface_state(st, "vm0"), "up") << st["interfaces"].dump();
        EXPECT_EQ(interface_state(st, "st0"), "up") << st["interfaces"].dump();
        ++samples;
        std::this_thread::sleep_for(500ms);
    }
    EXPECT_GE(samples, 10);
    ASSERT_TRUE(cli({"cut", "h2", "vm"}).ok());
    // Down after the link's down hold (network.down_hold_ms) plus a poll.
    EXPECT_TRUE(vt::wait_until(
        [&] { return interface_state(vigild_status(cli, "h2"), "vm0") == "down"; }, 10s, 200ms))
        << vigild_status(cli, "h2")["interfaces"].dump();
    EXPECT_EQ(interface_state(vigild_status(cli, "h2"), "st0"), "up");
    ASSERT_TRUE(cli({"heal"}).ok());
    EXPECT_TRUE(vt::wait_until(
        [&] { return interface_state(vigild_status(cli, "h2"), "vm0") == "up"; }, 15s, 200ms))
        << vigild_status(cli, "h2")["interfaces"].dump();
}

// The shared storage is a block device in each host (a loop device over the
// host's storage view), so a storage fault of one host reaches its vigild
// as block-layer evidence: the device failed and the storage domain with it,
// and ok again once the storage is back; the other hosts see nothing.
TEST(LabEvidence, AStorageFaultReachesVigildThroughTheBlockLayer) {
    VIGIL_REQUIRE_ROOT();
    OneLab lab(3, 0);
    ASSERT_TRUE(lab.up_ok) << lab.up_log;
    const auto& cli = *lab.cli;
    const auto h2 = lab.host_status("h2");
    ASSERT_TRUE(h2.contains("disks")) << h2.dump();
    const auto heartbeat = h2["disks"]["heartbeat"].get<std::string>();
    const auto h1_heartbeat = lab.host_status("h1")["disks"]["heartbeat"].get<std::string>();
    ASSERT_NE(heartbeat, h1_heartbeat);
    // Inside h2 the heartbeat area is that loop device, over h2's view.
    auto node = cli.exec("h2", {"stat", "-L", "-c", "%t:%T", "/run/vigil-lab/disks/heartbeat"});
    ASSERT_TRUE(node.ok()) << node.describe();
    auto sys = read_file("/sys/block/" + heartbeat + "/dev");
    ASSERT_TRUE(sys);
    unsigned major = 0, minor = 0;
    ASSERT_EQ(std::sscanf(sys->c_str(), "%u:%u", &major, &minor), 2);
    std::ostringstream want;
    want << std::hex << major << ":" << minor << "\n";
    EXPECT_EQ(node.out, want.str());
    EXPECT_NE(read_file("/sys/block/" + heartbeat + "/loop/dio").value_or(""), "0\n");
    ASSERT_TRUE(vt::wait_until(
        [&] { return device_state(vigild_status(cli, "h2"), heartbeat) == "ok"; }, 30s, 200ms))
        << vigild_status(cli, "h2").dump();
    auto conf = cli.exec("h2", {"cat", "/etc/vigil/vigil.toml"});
    EXPECT_NE(conf.out.find("[storage.domains.shared]\nblock_devices = ["), std::string::npos)
        << conf.out;
    EXPECT_NE(conf.out.find("\"" + heartbeat + "\""), std::string::npos) << conf.out;

    const auto fault = std::chrono::steady_clock::now();
    ASSERT_TRUE(cli({"storage", "h2", "fail"}).ok());
    // The heartbeat writes every second hit the error: failed within a
    // heartbeat interval and a poll, far inside 5 s.
    EXPECT_TRUE(vt::wait_until(
        [&] { return device_state(vigild_status(cli, "h2"), heartbeat) == "failed"; }, 5s, 100ms))
        << vigild_status(cli, "h2")["block_devices"].dump();
    std::cout << "storage fail -> block device failed in vigild: "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - fault)
                     .count()
              << " ms\n";
    auto log = read_file(cli.run_dir() / "h2" / "log" / "vigild.log").value_or("");
    EXPECT_NE(log.find("storage device " + heartbeat + " is failed"), std::string::npos)
        << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
    // h1's own loop device over its own view is untouched.
    EXPECT_EQ(device_state(vigild_status(cli, "h1"), h1_heartbeat), "ok");
    // The domain "shared" failed: h2 has lost its storage once the storage
    // grace (5 s) has passed, with a heartbeat interval to notice.
    EXPECT_TRUE(vt::wait_until(
        [&] { return self_state(vigild_status(cli, "h2")) == "storage-lost"; }, 10s, 200ms))
        << vigild_status(cli, "h2")["cluster"].dump();
    EXPECT_EQ(self_state(vigild_status(cli, "h1")), "ok");
    ASSERT_TRUE(cli({"storage", "h2", "ok"}).ok());
    // ok again after error_window_ms (2 s) and recovery_hold_ms (1 s), plus
    // a heartbeat interval and a poll.
    EXPECT_TRUE(vt::wait_until(
        [&] { return device_state(vigild_status(cli, "h2"), heartbeat) == "ok"; }, 10s, 200ms))
        << vigild_status(cli, "h2")["block_devices"].dump();
    EXPECT_TRUE(
        vt::wait_until([&] { return self_state(vigild_status(cli, "h2")) == "ok"; }, 5s, 200ms))
        << vigild_status(cli, "h2")["cluster"].dump();
}

}  // namespace
}  // namespace vigil::lab
