// The corosync adapter against real corosync: three lab hosts, one probe
// (cluster_probe, the adapter in a small poll loop) in each. Checks the
// membership and quorum each host reports, agreed delivery order, refusal of
// forged and garbage messages, a cluster-network cut and its heal, and the
// loss of corosync under a running adapter followed by its reconnect.
// Needs root; about a minute on two cores (bring-up included).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/lab/lab.h"
#include "tests/tools/fixtures/fixtures.h"

namespace vigil::lab {
namespace {

using namespace std::chrono_literals;
namespace vt = vigil::testing;
using Clock = std::chrono::steady_clock;

const char* const kHosts[] = {"h1", "h2", "h3"};

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

class ClusterAdapter : public vt::RootTest {
  protected:
    void SetUp() override {
        vt::RootTest::SetUp();
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        auto dir = vt::TempDir::make("lab");
        ASSERT_TRUE(dir) << dir.error();
        dir_.emplace(std::move(*dir));
        auto t0 = Clock::now();
        auto r = lab({"up", "--hosts", "3", "--vms", "0"}, 120s);
        up_ = true;
        ASSERT_TRUE(r.ok()) << r.describe();
        std::cout << "bring-up of 3 hosts: " << since(t0) << " s\n";
    }
    void TearDown() override {
        // Probes and a restarted corosync first (Subprocess ends them), then
        // the lab, which kills whatever is left in the hosts.
        extra_.clear();
        probes_.clear();
        if (up_) {
            auto r = lab({"down"}, 60s);
            EXPECT_TRUE(r.ok()) << r.describe();
        }
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        dir_.reset();
    }

    vt::RunResult lab(std::vector<std::string> args, std::chrono::milliseconds timeout = 30s) {
        std::vector<std::string> argv{VIGIL_LAB_BIN, "--root", dir_->path().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return vt::run(argv, timeout);
    }
    std::vector<std::string> in_host(const std::string& host, std::vector<std::string> cmd) {
        std::vector<std::string> argv{VIGIL_LAB_BIN, "--root", dir_->path().string(),
                                      "exec",        host,     "--"};
        argv.insert(argv.end(), cmd.begin(), cmd.end());
        return argv;
    }
    void start_probe(const std::string& host, bool forge) {
        std::vector<std::string> cmd{VIGIL_CLUSTER_PROBE, "--group", "vigil-test", "--send-ms",
                                     "150"};
        if (forge) cmd.insert(cmd.end(), {"--forge", "3"});
        auto p = vt::Subprocess::spawn(in_host(host, cmd));
        ASSERT_TRUE(p) << p.error();
        probes_.emplace(host, std::move(*p));
    }
    std::vector<std::string> out(const std::string& host) {
        return lines_of(probes_.at(host).stdout_text());
    }
    // The last membership line a probe printed ("q=1 1,2,3"), empty if none.
    std::string membership(const std::string& host) {
        std::string last;
        for (const auto& l : out(host))
            if (l.starts_with("members ")) last = l.substr(8);
        return last;
    }
    bool memberships_are(const std::map<std::string, std::string>& want,
                         std::chrono::milliseconds limit) {
        return vt::wait_until(
            [&] {
                for (const auto& [h, m] : want)
                    if (membership(h) != m) return false;
                return true;
            },
            limit, 100ms);
    }
    std::string describe() {
        std::string s;
        for (const auto& [h, p] : probes_) {
            auto lines = out(h);
            s += "--- " + h + " (" + std::to_string(lines.size()) + " lines), last:\n";
            for (size_t i = lines.size() > 12 ? lines.size() - 12 : 0; i < lines.size(); ++i)
                s += lines[i] + "\n";
            s += p.stderr_text();
        }
        return s;
    }
    // Delivered messages as "HOST SEQ", in delivery order.
    std::vector<std::string> delivered(const std::string& host) {
        std::vector<std::string> m;
        for (const auto& l : out(host))
            if (l.starts_with("msg ")) m.push_back(l.substr(4));
        return m;
    }
    int count(const std::string& host, const std::string& prefix) {
        int n = 0;
        for (const auto& l : out(host)) n += l.starts_with(prefix) ? 1 : 0;
        return n;
    }

    std::optional<vt::TempDir> dir_;
    bool up_ = false;
    std::map<std::string, vt::Subprocess> probes_;
    std::vector<vt::Subprocess> extra_;
};

TEST_F(ClusterAdapter, MembershipOrderPartitionAndLossOfCorosync) {
    const auto t_start = Clock::now();
    start_probe("h1", true);
    start_probe("h2", false);
    start_probe("h3", false);

    // 1. Everyone is a member of a quorate three-host group.
    const std::map<std::string, std::string> all{
        {"h1", "q=1 1,2,3"}, {"h2", "q=1 1,2,3"}, {"h3", "q=1 1,2,3"}};
    ASSERT_TRUE(memberships_are(all, 30s)) << describe();
    for (int h = 1; h <= 3; ++h) {
        auto lines = out(kHosts[h - 1]);
        ASSERT_FALSE(lines.empty());
        EXPECT_EQ(lines[0], "self " + std::to_string(h));
    }

    // 2. Agreed order: once each host has heard many messages of every host,
    // the messages all three delivered come in the same order everywhere.
    auto heard_enough = [&] {
        for (auto h : kHosts) {
            std::map<char, int> per_sender;
            for (const auto& m : delivered(h)) ++per_sender[m[0]];
            for (char s : {'1', '2', '3'})
                if (per_sender[s] < 15) return false;
        }
        return true;
    };
    ASSERT_TRUE(vt::wait_until(heard_enough, 30s, 100ms)) << describe();
    std::vector<std::vector<std::string>> seen;
    for (auto h : kHosts) seen.push_back(delivered(h));
    std::multiset<std::string> everywhere;
    {
        std::set<std::string> a(seen[0].begin(), seen[0].end());
        std::set<std::string> b(seen[1].begin(), seen[1].end());
        std::set<std::string> c(seen[2].begin(), seen[2].end());
        for (const auto& m : a)
            if (b.contains(m) && c.contains(m)) everywhere.insert(m);
    }
    std::vector<std::vector<std::string>> common(3);
    for (int i = 0; i < 3; ++i)
        for (const auto& m : seen[static_cast<size_t>(i)])
            if (everywhere.contains(m)) common[static_cast<size_t>(i)].push_back(m);
    EXPECT_GE(everywhere.size(), 30u);
    EXPECT_EQ(common[0], common[1]);
    EXPECT_EQ(common[0], common[2]);
    // h1 hears its own messages too: they prove the peers heard them.
    EXPECT_GE(std::count_if(seen[0].begin(), seen[0].end(),
                            [](const std::string& m) { return m[0] == '1'; }),
              15);
    std::cout << "agreed order: " << everywhere.size() << " messages delivered by all three, "
              << "same order on each\n";

    // 3. h1's forged status (host 101) and its garbage are refused by all,
    // with a reason, and never delivered.
    for (auto h : kHosts) {
        EXPECT_TRUE(vt::wait_until([&] { return count(h, "refused 1 ") >= 2; }, 10s, 100ms))
            << h << "\n"
            << describe();
        EXPECT_EQ(count(h, "refused 1 node 1 sent a status of host 101"), 1) << describe();
        EXPECT_EQ(count(h, "refused 1 undecodable status: "), 1) << describe();
        EXPECT_EQ(count(h, "msg 101 "), 0);
    }

    // 4. Cut h3's cluster cable: h3 alone and inquorate, h1/h2 quorate.
    auto r = lab({"cut", "h3", "cluster"});
    ASSERT_TRUE(r.ok()) << r.describe();
    auto t_cut = Clock::now();
    ASSERT_TRUE(memberships_are({{"h1", "q=1 1,2"}, {"h2", "q=1 1,2"}, {"h3", "q=0 3"}}, 30s))
        << describe();
    std::cout << "cut h3 cluster: views settled after " << since(t_cut) << " s\n";

    // ... and heal: everyone back.
    r = lab({"heal"});
    ASSERT_TRUE(r.ok()) << r.describe();
    auto t_heal = Clock::now();
    ASSERT_TRUE(memberships_are(all, 30s)) << describe();
    std::cout << "heal: three members again after " << since(t_heal) << " s\n";

    // 5. Kill corosync on h2 under the running adapter: the probe is told,
    // the others lose h2, and a corosync started again is reconnected to.
    auto l = Lab::load(dir_->path());
    ASSERT_TRUE(l) << l.error().what;
    pid_t corosync = 0;
    for (pid_t p : l->processes(2))
        if (comm_of(p) == "corosync") corosync = p;
    ASSERT_GT(corosync, 0);
    ASSERT_EQ(::kill(corosync, SIGKILL), 0);
    auto t_kill = Clock::now();
    ASSERT_TRUE(vt::wait_until([&] { return count("h2", "lost ") >= 1; }, 10s, 50ms)) << describe();
    std::cout << "corosync killed on h2: adapter reported the loss after " << since(t_kill)
              << " s\n";
    EXPECT_EQ(membership("h2"), "q=0 ") << describe();
    EXPECT_TRUE(vt::wait_until([&] { return count("h2", "reconnect-failed ") >= 1; }, 5s, 50ms))
        << describe();
    ASSERT_TRUE(memberships_are({{"h1", "q=1 1,3"}, {"h3", "q=1 1,3"}}, 30s)) << describe();

    auto again = vt::Subprocess::spawn(
        in_host("h2", {"corosync", "-f", "-c", "/etc/corosync/corosync.conf"}));
    ASSERT_TRUE(again) << again.error();
    extra_.push_back(std::move(*again));
    ASSERT_TRUE(vt::wait_until([&] { return count("h2", "reconnected") >= 1; }, 30s, 100ms))
        << describe();
    ASSERT_TRUE(memberships_are(all, 30s)) << describe();
    std::cout << "whole test (bring-up excluded): " << since(t_start) << " s\n";
}

}  // namespace
}  // namespace vigil::lab
