// The root-only unix socket vigilctl talks to. One JSON request line in, one
// JSON reply line out, then the connection closes; or, for a reply that asks
// to follow, the connection stays open and publish() streams lines to it.
// Requests are bounded in size and time and read without blocking the loop;
// anything malformed gets an error reply, never a crash. A follower's output
// is written without blocking and buffered up to kMaxFollowerBuffer: a
// reader that falls further behind is dropped, never waited for.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "daemon/adapters/event_loop.h"
#include "daemon/ports/error.h"

namespace vigil::adapters {

// Who is on the other end of a connection (SO_PEERCRED, /proc/<pid>/cmdline).
struct ControlPeer {
    std::uint32_t uid = 0;
    std::int32_t pid = 0;
    std::string command;  // the command line, printable, bounded; or comm
};

class ControlServer {
  public:
    struct Reply {
        std::string line;     // without the newline
        bool follow = false;  // keep the connection for publish()
    };
    // Gets the request line and who sent it, returns the reply.
    using Handler = std::function<Reply(const std::string& request, const ControlPeer& peer)>;
    // Called with a reason for every refused connection or request.
    using Refused = std::function<void(const std::string& reason)>;

    [[nodiscard]] static std::expected<std::unique_ptr<ControlServer>, Error> make(
        EventLoop& loop, const std::string& path, Handler handler, Refused refused);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    static constexpr std::size_t kMaxRequest = std::size_t{64} * 1024;
    static constexpr std::size_t kMaxConnections = 32;
    static constexpr std::chrono::seconds kRequestTimeout{2};
    static constexpr std::size_t kMaxFollowers = 8;
    static constexpr std::size_t kMaxFollowerBuffer = std::size_t{1024} * 1024;

    // One line to every follower; those too far behind are dropped.
    void publish(const std::string& line);
    [[nodiscard]] std::size_t followers() const { return followers_.size(); }
    // Followers dropped for falling behind, since start.
    [[nodiscard]] std::uint64_t followers_dropped() const { return followers_dropped_; }
    // Called with a reason when a follower is dropped for falling behind.
    void set_on_dropped(std::function<void(const std::string&)> fn) { on_dropped_ = std::move(fn); }

  private:
    struct Connection {
        int fd = -1;
        EventLoop::WatchId watch = 0;
        std::string data;
        std::chrono::nanoseconds opened{};
        ControlPeer peer;
    };
    struct Follower {
        EventLoop::WatchId watch = 0;
        std::string out;  // not yet taken by the reader
        ControlPeer peer;
    };

    ControlServer() = default;
    void accept_one();
    void read_some(int fd);
    void finish(int fd, const std::string& reply);
    void expire_idle();
    void follow(int fd, const std::string& first_line);
    // Writes what the socket takes now; false when the reader is gone.
    bool flush(int fd, Follower& f);
    void drop_follower(int fd);
    void on_follower_readable(int fd);

    EventLoop* loop_ = nullptr;
    std::string path_;
    int fd_ = -1;
    std::map<int, Connection> connections_;
    std::map<int, Follower> followers_;
    std::uint64_t followers_dropped_ = 0;
    std::function<void(const std::string&)> on_dropped_;
    Handler handler_;
    Refused refused_;
};

// Client side, for vigilctl: sends one request line, returns the reply line.
[[nodiscard]] std::expected<std::string, Error> control_request(const std::string& path,
                                                                const std::string& request);
// Client side, following: sends the request, then calls on_line with every
// line until vigild closes the connection (or on_line returns false).
[[nodiscard]] std::expected<void, Error> control_follow(
    const std::string& path, const std::string& request,
    const std::function<bool(const std::string& line)>& on_line);

}  // namespace vigil::adapters
