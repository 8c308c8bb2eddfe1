// `events --follow` on a real unix socket and a real event loop: a follower
// gets every published line in order; one that stops reading is dropped at
// the buffer bound and counted, and publishing never waits for it.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "daemon/adapters/control_server.h"
#include "daemon/adapters/event_loop.h"

namespace vigil::adapters {
namespace {

using namespace std::chrono_literals;

int connect_to(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::string read_available(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        out.append(buf, static_cast<std::size_t>(n));
    return out;
}

class Follow : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ =
            std::filesystem::temp_directory_path() / ("vigil-follow-" + std::to_string(::getpid()) +
                                                      "-" + std::to_string(std::random_device{}()));
        auto loop = EventLoop::make();
        ASSERT_TRUE(loop);
        loop_ = std::move(*loop);
        auto server = ControlServer::make(
            *loop_, (dir_ / "ctl.sock").string(),
            [](const std::string& request, const ControlPeer& peer) {
                return ControlServer::Reply{
                    .line = "first " + request + " uid " + std::to_string(peer.uid),
                    .follow = true};
            },
            [this](const std::string&) { ++refused_; });
        ASSERT_TRUE(server) << server.error().message;
        server_ = std::move(*server);
        server_->set_on_dropped([this](const std::string& why) { dropped_.push_back(why); });
    }
    void TearDown() override {
        server_.reset();
        std::filesystem::remove_all(dir_);
    }
    // Runs the loop once, calling each step every 10 ms until it returns
    // true, then the next; gives up after 5 s (sd-event runs a loop once).
    void run_steps(std::vector<std::function<bool()>> steps) {
        std::size_t at = 0;
        const auto started = loop_->now();
        auto tick = loop_->every(10ms, [&] {
            while (at < steps.size() && steps[at]()) ++at;
            if (at == steps.size() || loop_->now() - started > 5s) loop_->exit(0);
        });
        ASSERT_TRUE(tick);
        loop_->run();
        EXPECT_EQ(at, steps.size()) << "step " << at << " did not finish within 5 s";
    }

    std::filesystem::path dir_;
    std::unique_ptr<EventLoop> loop_;
    std::unique_ptr<ControlServer> server_;
    int refused_ = 0;
    std::vector<std::string> dropped_;
};

TEST_F(Follow, AReaderGetsEveryLineInOrderAndAStuckOneIsDroppedWithoutWaiting) {
    const auto path = (dir_ / "ctl.sock").string();
    const int reader = connect_to(path);
    const int stuck = connect_to(path);
    ASSERT_GE(reader, 0);
    ASSERT_GE(stuck, 0);
    ASSERT_EQ(::write(reader, "follow\n", 7), 7);
    ASSERT_EQ(::write(stuck, "follow\n", 7), 7);
    std::string got;
    std::chrono::steady_clock::duration took{};
    char buf[65536];
    ssize_t n = -1;
    run_steps({
        [&] { return server_->followers() == 2; },
        [&] {
            server_->publish("one");
            server_->publish("two");
            return true;
        },
        [&] {
            got += read_available(reader);
            return got.find("two\n") != std::string::npos;
        },
        [&] {
            // The stuck follower never reads: past kMaxFollowerBuffer it is
            // dropped. Publishing does not wait for it; a blocking write would
            // have waited out the server's I/O timeout (kRequestTimeout) at
            // the first full socket buffer.
            const std::string line(1024, 'x');
            const auto before = std::chrono::steady_clock::now();
            std::size_t sent = 0;
            while (server_->followers_dropped() == 0 &&
                   sent < 4 * ControlServer::kMaxFollowerBuffer) {
                server_->publish(line);
                sent += line.size() + 1;
                read_available(reader);  // the reader keeps up
            }
            took = std::chrono::steady_clock::now() - before;
            return true;
        },
        [&] {
            // The stuck client's connection is closed: it reads what was sent, then EOF.
            while ((n = ::recv(stuck, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
            }
            ::close(reader);  // a follower that hangs up is forgotten
            return true;
        },
        [&] { return server_->followers() == 0; },
    });
    EXPECT_EQ(got, "first follow uid " + std::to_string(::getuid()) + "\none\ntwo\n");
    EXPECT_LT(took, ControlServer::kRequestTimeout);
    EXPECT_EQ(server_->followers_dropped(), 1u);
    ASSERT_EQ(dropped_.size(), 1u);
    EXPECT_NE(dropped_[0].find("bytes behind: dropped"), std::string::npos) << dropped_[0];
    EXPECT_EQ(n, 0) << "closed by the server";
    EXPECT_EQ(server_->followers(), 0u);
    EXPECT_EQ(refused_, 0);
    ::close(stuck);
}

}  // namespace
}  // namespace vigil::adapters
