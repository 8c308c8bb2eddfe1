// The root-only unix socket vigilctl talks to. One JSON request line in, one
// JSON reply line out, then the connection closes. Requests are bounded in
// size and time and read without blocking the loop; anything malformed gets
// an error reply, never a crash.
#pragma once

#include <chrono>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "daemon/adapters/event_loop.h"
#include "daemon/ports/error.h"

namespace vigil::adapters {

class ControlServer {
  public:
    // Gets the request line, returns the reply (without the newline).
    using Handler = std::function<std::string(const std::string& request)>;
    // Called with a reason for every refused connection or request.
    using Refused = std::function<void(const std::string& reason)>;

    [[nodiscard]] static std::expected<std::unique_ptr<ControlServer>, Error> make(
        EventLoop& loop, const std::string& path, Handler handler, Refused refused);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    static constexpr std::size_t kMaxRequest = 64 * 1024;
    static constexpr std::size_t kMaxConnections = 32;
    static constexpr std::chrono::seconds kRequestTimeout{2};

  private:
    struct Connection {
        int fd = -1;
        EventLoop::WatchId watch = 0;
        std::string data;
        std::chrono::nanoseconds opened{};
    };

    ControlServer() = default;
    void accept_one();
    void read_some(int fd);
    void finish(int fd, const std::string& reply);
    void expire_idle();

    EventLoop* loop_ = nullptr;
    std::string path_;
    int fd_ = -1;
    std::map<int, Connection> connections_;
    Handler handler_;
    Refused refused_;
};

// Client side, for vigilctl: sends one request line, returns the reply line.
[[nodiscard]] std::expected<std::string, Error> control_request(const std::string& path,
                                                                const std::string& request);

}  // namespace vigil::adapters
