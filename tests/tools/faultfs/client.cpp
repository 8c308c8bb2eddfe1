#include "tests/tools/faultfs/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vigil::faultfs {
namespace {

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] int get() const { return fd_; }

  private:
    int fd_;
};

std::string errno_text(std::string_view what) {
    return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

std::expected<std::string, std::string> send_request(const std::filesystem::path& socket,
                                                     std::string_view line,
                                                     std::chrono::milliseconds timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = socket.string();
    if (path.size() >= sizeof(addr.sun_path)) {
        return std::unexpected("control socket path too long: " + path);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return std::unexpected(errno_text("socket"));
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        return std::unexpected(errno_text("connect " + path));
    }
    std::string request(line);
    request += '\n';
    std::size_t sent = 0;
    while (sent < request.size()) {
        const ssize_t n =
            ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::unexpected(errno_text("send to " + path));
        sent += static_cast<std::size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string reply;
    char buf[512];
    while (reply.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::unexpected("no reply from " + path + " in time");
        pollfd pfd{fd.get(), POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return std::unexpected(errno_text("poll"));
        if (ready == 0) continue;
        const ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::unexpected(errno_text("recv from " + path));
        if (n == 0) break;
        reply.append(buf, static_cast<std::size_t>(n));
    }
    const auto eol = reply.find('\n');
    if (eol == std::string::npos) {
        return std::unexpected("incomplete reply from " + path + ": '" + reply + "'");
    }
    reply.resize(eol);
    return reply;
}

std::expected<void, std::string> set_mode(const std::filesystem::path& socket, const Mode& mode) {
    auto reply = send_request(socket, format_mode(mode));
    if (!reply) return std::unexpected(reply.error());
    auto parsed = parse_reply(*reply);
    if (!parsed) return std::unexpected(parsed.error());
    return {};
}

std::expected<Status, std::string> query_status(const std::filesystem::path& socket) {
    auto reply = send_request(socket, "status");
    if (!reply) return std::unexpected(reply.error());
    return parse_status(*reply);
}

}  // namespace vigil::faultfs
