// The fence-agent runner against small stand-in agents (shell scripts that
// behave like fence-agents programs do, or misbehave), and the interpretation
// of the agents' exit codes and output.
#include "fence/fence_agent.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace vigil::fence {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class FenceAgentTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("vigil-agent-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path agent(const std::string& name, const std::string& body) {
        const auto path = dir_ / name;
        std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
        fs::permissions(path, fs::perms::owner_all);
        return path;
    }

    std::string file(const std::string& name) const {
        std::ifstream in(dir_ / name);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    FenceAgentRequest request(const fs::path& path, FenceAction action = FenceAction::kOff) {
        return FenceAgentRequest{
            path,
            {{"ip", "127.0.0.1"}, {"username", "admin"}, {"password", "s3cret"}},
            action,
            5000ms};
    }

    fs::path dir_;
};

TEST_F(FenceAgentTest, ParametersGoToStdinAndNeverToTheCommandLine) {
    const auto path =
        agent("fence_ok", "cat > " + (dir_ / "stdin").string() + "; echo \"$@\" > " +
                              (dir_ / "args").string() + "; echo 'Success: Powered OFF'");
    auto result = run_fence_agent(request(path));
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->outcome, FenceOutcome::kSucceeded) << result->detail;
    EXPECT_TRUE(result->confirmed_off());
    EXPECT_EQ(file("stdin"), "ip=127.0.0.1\nusername=admin\npassword=s3cret\naction=off\n");
    EXPECT_EQ(file("args"), "\n");
}

TEST_F(FenceAgentTest, AFailedFenceIsNotAConfirmation) {
    const auto path = agent(
        "fence_fail",
        "cat >/dev/null; echo 'ERROR: Failed: Unable to obtain correct plug status' >&2; exit 1");
    auto result = run_fence_agent(request(path));
    ASSERT_TRUE(result);
    EXPECT_EQ(result->outcome, FenceOutcome::kFailed);
    EXPECT_EQ(result->exit_code, 1);
    EXPECT_NE(result->detail.find("Unable to obtain"), std::string::npos) << result->detail;
    EXPECT_FALSE(result->confirmed_off());
}

TEST_F(FenceAgentTest, SuccessWithoutTheWordsIsBadOutput) {
    const auto path = agent("fence_garbage", "cat >/dev/null; echo 'all good, probably'");
    auto result = run_fence_agent(request(path));
    ASSERT_TRUE(result);
    EXPECT_EQ(result->outcome, FenceOutcome::kBadOutput);
    EXPECT_FALSE(result->confirmed_off());
    EXPECT_NE(result->output.find("probably"), std::string::npos);
}

TEST_F(FenceAgentTest, AHangingAgentAndItsChildrenAreKilledAtTheTimeout) {
    const auto pidfile = dir_ / "child.pid";
    const auto path = agent("fence_hang", "sleep 600 & echo $! > " + pidfile.string() + "; wait");
    auto req = request(path);
    req.timeout = 500ms;
    const auto start = std::chrono::steady_clock::now();
    auto result = run_fence_agent(req);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(result);
    EXPECT_EQ(result->outcome, FenceOutcome::kTimedOut);
    EXPECT_FALSE(result->confirmed_off());
    EXPECT_LT(took, 3s);
    EXPECT_GE(took, 500ms);
    pid_t child = 0;
    std::ifstream(pidfile) >> child;
    ASSERT_GT(child, 0);
    // The helper it started is gone too (reaped by init, or a zombie at most).
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
        std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
        std::string line;
        gone = !std::getline(stat, line) || line.find(") Z") != std::string::npos;
        if (!gone) std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(gone) << "helper " << child << " outlived the timeout";
}

TEST_F(FenceAgentTest, StatusReportsThePowerState) {
    auto on = run_fence_agent(
        request(agent("fence_on", "cat >/dev/null; echo 'Status: ON'"), FenceAction::kStatus));
    ASSERT_TRUE(on);
    EXPECT_EQ(on->outcome, FenceOutcome::kSucceeded);
    EXPECT_EQ(on->power, PowerState::kOn);
    auto off = run_fence_agent(request(
        agent("fence_off", "cat >/dev/null; echo 'Status: OFF'; exit 2"), FenceAction::kStatus));
    ASSERT_TRUE(off);
    EXPECT_EQ(off->outcome, FenceOutcome::kSucceeded);
    EXPECT_TRUE(off->confirmed_off());
}

TEST_F(FenceAgentTest, RefusesParametersThatCouldInjectAnother) {
    auto req = request(agent("fence_ok", "cat >/dev/null"));
    req.parameters.push_back({"plug", "1\naction=on"});
    auto run = FenceAgentRun::start(req, std::chrono::steady_clock::now());
    ASSERT_FALSE(run);
    EXPECT_EQ(run.error().kind, ErrorKind::kInvalidArgument);
    req.parameters.back() = {"action", "on"};
    EXPECT_FALSE(FenceAgentRun::start(req, std::chrono::steady_clock::now()));
}

TEST_F(FenceAgentTest, AMissingAgentIsNotFound) {
    auto run = FenceAgentRun::start(request(dir_ / "fence_none"), std::chrono::steady_clock::now());
    ASSERT_FALSE(run);
    EXPECT_EQ(run.error().kind, ErrorKind::kNotFound);
    EXPECT_FALSE(FenceAgentRun::start(request("fence_relative"), std::chrono::steady_clock::now()));
}

TEST(FenceAgentOutputTest, StatusExitCodeAndLineMustAgree) {
    EXPECT_EQ(interpret_agent_output(FenceAction::kStatus, 0, "Status: OFF\n").outcome,
              FenceOutcome::kBadOutput);
    EXPECT_EQ(interpret_agent_output(FenceAction::kStatus, 2, "Status: ON\n").outcome,
              FenceOutcome::kBadOutput);
    EXPECT_EQ(interpret_agent_output(FenceAction::kStatus, 1, "ERROR: Failed: x\n").outcome,
              FenceOutcome::kFailed);
    EXPECT_EQ(interpret_agent_output(FenceAction::kOff, 0, "Success: Already OFF\n").power,
              PowerState::kOff);
    EXPECT_EQ(interpret_agent_output(FenceAction::kOff, 0, "Success: Powered ON\n").outcome,
              FenceOutcome::kBadOutput);
    EXPECT_EQ(interpret_agent_output(FenceAction::kReboot, 0, "Success: Rebooted\n").outcome,
              FenceOutcome::kSucceeded);
}

}  // namespace
}  // namespace vigil::fence
