// The fence-agent runner against the real thing: Debian's fence_ipmilan talking
// IPMI over loopback to OpenIPMI's ipmi_sim BMC simulator, whose chassis power
// is a lab "host" (a process in its own network namespace): power off really
// kills it, power on starts it again.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fence/fence_agent.h"
#include "tests/tools/fixtures/fixtures.h"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using vigil::fence::FenceAction;
using vigil::fence::FenceAgentRequest;
using vigil::fence::FenceOutcome;
using vigil::fence::PowerState;
using vigil::fence::run_fence_agent;
using vigil::testing::NetNs;
using vigil::testing::Subprocess;
using vigil::testing::TempDir;
using vigil::testing::wait_until;

constexpr const char* kAgent = "/usr/sbin/fence_ipmilan";
constexpr const char* kPassword = "vigil-bmc-pass";

// A port nobody uses right now (the kernel picks it).
int free_port(int type) {
    const int fd = ::socket(AF_INET, type, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        if (fd >= 0) ::close(fd);
        return -1;
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::vector<pid_t> pids_in_netns(const fs::path& netns) {
    struct stat st {};
    if (::stat(netns.c_str(), &st) != 0) return {};
    const std::string wanted = "net:[" + std::to_string(st.st_ino) + "]";
    std::vector<pid_t> pids;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        pid_t pid = 0;
        if (std::from_chars(name.data(), name.data() + name.size(), pid).ec != std::errc{})
            continue;
        std::error_code link_ec;
        if (fs::read_symlink(entry.path() / "ns" / "net", link_ec).string() != wanted) continue;
        std::ifstream stat_file(entry.path() / "stat");
        std::string line;
        std::getline(stat_file, line);
        if (line.find(") Z") == std::string::npos) pids.push_back(pid);
    }
    return pids;
}

class FenceIpmiTest : public vigil::testing::RootTest {
  protected:
    void SetUp() override {
        RootTest::SetUp();
        if (HasFatalFailure()) return;
        ASSERT_EQ(::access(kAgent, X_OK), 0)
            << kAgent << " missing: scripts/setup.sh installs fence-agents";
        auto ns = NetNs::make("ipmi");
        ASSERT_TRUE(ns) << ns.error();
        host_.emplace(std::move(*ns));
        auto dir = TempDir::make("ipmi");
        ASSERT_TRUE(dir) << dir.error();
        dir_.emplace(std::move(*dir));
        lan_port_ = free_port(SOCK_DGRAM);
        const int serial_port = free_port(SOCK_STREAM);
        ASSERT_GT(lan_port_, 0);
        ASSERT_GT(serial_port, 0);
        fs::create_directories(*dir_ / "state");
        // Channel 15 (the VM serial interface) is what lets ipmi_sim control
        // power through startcmd: off sends SIGTERM, on runs it again.
        std::ofstream(*dir_ / "lan.conf")
            << "name \"vigiltest\"\n"
            << "set_working_mc 0x20\n"
            << "  startlan 1\n"
            << "    addr 127.0.0.1 " << lan_port_ << "\n"
            << "    priv_limit admin\n"
            << "    allowed_auths_callback none md2 md5 straight\n"
            << "    allowed_auths_user none md2 md5 straight\n"
            << "    allowed_auths_operator none md2 md5 straight\n"
            << "    allowed_auths_admin none md2 md5 straight\n"
            << "    guid a123456789abcdefa123456789abcdef\n"
            << "  endlan\n"
            << "  serial 15 127.0.0.1 " << serial_port << " codec VM\n"
            << "  startcmd \"ip netns exec " << host_->name() << " sleep 600\"\n"
            << "  startnow true\n"
            << "  poweroff_wait 1\n"
            << "  kill_wait 2\n"
            << "  user 2 true \"admin\" \"" << kPassword << "\" admin 10 none md2 md5 straight\n";
        std::ofstream(*dir_ / "sim.emu")
            << "mc_setbmc 0x20\n"
            << "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n"
            << "mc_enable 0x20\n";
        auto sim = Subprocess::spawn({"ipmi_sim", "-c", (*dir_ / "lan.conf").string(), "-f",
                                      (*dir_ / "sim.emu").string(), "-s",
                                      (*dir_ / "state").string(), "-n"});
        ASSERT_TRUE(sim) << sim.error();
        sim_.emplace(std::move(*sim));
        ASSERT_TRUE(wait_until([&] { return !pids_in_netns(host_->path()).empty(); }, 5000ms))
            << "ipmi_sim did not power the host on\n"
            << sim_->stderr_text();
    }

    void TearDown() override {
        if (sim_) sim_->terminate();
        // host_ kills whatever still runs in the namespace.
    }

    FenceAgentRequest request(FenceAction action, std::string password = kPassword) {
        return FenceAgentRequest{kAgent,
                                 {{"ip", "127.0.0.1"},
                                  {"ipport", std::to_string(lan_port_)},
                                  {"username", "admin"},
                                  {"password", std::move(password)}},
                                 action,
                                 30000ms};
    }

    std::optional<NetNs> host_;
    std::optional<TempDir> dir_;
    std::optional<Subprocess> sim_;
    int lan_port_ = 0;
};

TEST_F(FenceIpmiTest, PowerOffReallyStopsTheHostAndIsConfirmed) {
    auto status = run_fence_agent(request(FenceAction::kStatus));
    ASSERT_TRUE(status) << status.error().message;
    ASSERT_EQ(status->outcome, FenceOutcome::kSucceeded) << status->detail << "\n"
                                                         << status->output;
    EXPECT_EQ(status->power, PowerState::kOn);

    const auto host_pids = pids_in_netns(host_->path());
    ASSERT_FALSE(host_pids.empty());
    auto off = run_fence_agent(request(FenceAction::kOff));
    ASSERT_TRUE(off);
    EXPECT_TRUE(off->confirmed_off())
        << vigil::fence::name(off->outcome) << ": " << off->detail << "\n"
        << off->output;
    std::printf("fence_ipmilan off took %lld ms\n", static_cast<long long>(off->took.count()));
    EXPECT_TRUE(pids_in_netns(host_->path()).empty())
        << "the host still runs after a confirmed power off";

    auto after = run_fence_agent(request(FenceAction::kStatus));
    ASSERT_TRUE(after);
    EXPECT_TRUE(after->confirmed_off()) << after->output;

    auto on = run_fence_agent(request(FenceAction::kOn));
    ASSERT_TRUE(on);
    EXPECT_EQ(on->outcome, FenceOutcome::kSucceeded) << on->detail << "\n" << on->output;
    EXPECT_TRUE(wait_until([&] { return !pids_in_netns(host_->path()).empty(); }, 5000ms));
}

TEST_F(FenceIpmiTest, AWrongPasswordIsAFailedFenceAndTheHostLives) {
    auto off = run_fence_agent(request(FenceAction::kOff, "wrong"));
    ASSERT_TRUE(off);
    EXPECT_EQ(off->outcome, FenceOutcome::kFailed) << off->output;
    EXPECT_FALSE(off->confirmed_off());
    EXPECT_FALSE(pids_in_netns(host_->path()).empty());
}

TEST_F(FenceIpmiTest, ANonAnsweringBmcTimesOut) {
    auto req = request(FenceAction::kOff);
    req.parameters[1].second = std::to_string(free_port(SOCK_DGRAM));  // nothing listens there
    req.timeout = 2000ms;
    auto off = run_fence_agent(req);
    ASSERT_TRUE(off);
    EXPECT_FALSE(off->confirmed_off());
    EXPECT_TRUE(off->outcome == FenceOutcome::kTimedOut || off->outcome == FenceOutcome::kFailed)
        << vigil::fence::name(off->outcome);
    // The request's timeout (2 s), then run_fence_agent's next poll (50 ms)
    // sees it, kills the agent's process group and reaps it; the remaining
    // 450 ms is scheduling slack for a loaded 2-core machine.
    EXPECT_LE(off->took, req.timeout + 500ms);
}

}  // namespace
