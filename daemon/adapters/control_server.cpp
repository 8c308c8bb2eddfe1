#include "daemon/adapters/control_server.h"

#include "daemon/adapters/control_protocol.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <vector>

namespace vigil::adapters {
namespace {

constexpr int kIoTimeoutMs = 2000;

std::expected<sockaddr_un, Error> address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        return std::unexpected(Error{"socket path too long: " + path});
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

// Reads one line (up to max bytes) within the deadline.
std::expected<std::string, std::string> read_line(int fd, std::size_t max) {
    std::string data;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kIoTimeoutMs);
    char buf[4096];
    while (data.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0) return std::unexpected("timed out waiting for a complete line");
        pollfd pfd{fd, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return std::unexpected("timed out waiting for a complete line");
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) return std::unexpected(std::string("read failed: ") + std::strerror(errno));
        if (n == 0) break;
        data.append(buf, static_cast<std::size_t>(n));
        if (data.size() > max)
            return std::unexpected("request larger than " + std::to_string(max) + " bytes");
    }
    const auto nl = data.find('\n');
    if (nl != std::string::npos) data.resize(nl);
    return data;
}

bool write_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
        pollfd pfd{fd, POLLOUT, 0};
        if (::poll(&pfd, 1, kIoTimeoutMs) <= 0) return false;
        const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::expected<std::unique_ptr<ControlServer>, Error> ControlServer::make(EventLoop& loop,
                                                                         const std::string& path,
                                                                         Handler handler,
                                                                         Refused refused) {
    std::unique_ptr<ControlServer> self(new ControlServer());
    self->loop_ = &loop;
    self->path_ = path;
    self->handler_ = std::move(handler);
    self->refused_ = std::move(refused);

    const auto addr = address_of(path);
    if (!addr) return std::unexpected(addr.error());
    const std::filesystem::path dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return std::unexpected(Error{"creating " + dir.string() + ": " + ec.message()});

    self->fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (self->fd_ < 0)
        return std::unexpected(Error::from_errno("creating the control socket", errno));
    ::unlink(path.c_str());
    // Root only: the socket is created 0600 and every peer's uid is checked.
    const mode_t old = ::umask(0177);
    const int bound = ::bind(self->fd_, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr));
    ::umask(old);
    if (bound < 0) return std::unexpected(Error::from_errno("binding " + path, errno));
    if (::listen(self->fd_, 16) < 0)
        return std::unexpected(Error::from_errno("listening on " + path, errno));
    ControlServer* raw = self.get();
    if (auto ok = loop.watch_fd(self->fd_, [raw] { raw->accept_one(); }); !ok) {
        return std::unexpected(ok.error());
    }
    if (auto ok = loop.every(std::chrono::milliseconds(500), [raw] { raw->expire_idle(); }); !ok) {
        return std::unexpected(ok.error());
    }
    return self;
}

ControlServer::~ControlServer() {
    for (auto& [fd, c] : connections_) ::close(fd);
    if (fd_ >= 0) {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
}

void ControlServer::accept_one() {
    const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) return;
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != 0) {
        refused_("connection from uid " + std::to_string(cred.uid) + " refused: root only");
        write_all(conn, format_control_error("permission denied: root only") + "\n");
        ::close(conn);
        return;
    }
    if (connections_.size() >= kMaxConnections) {
        refused_("too many open control connections");
        write_all(conn, format_control_error("busy: too many connections") + "\n");
        ::close(conn);
        return;
    }
    auto watch = loop_->watch_fd(conn, [this, conn] { read_some(conn); });
    if (!watch) {
        ::close(conn);
        return;
    }
    connections_[conn] = Connection{conn, *watch, {}, loop_->now()};
}

void ControlServer::read_some(int fd) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    Connection& c = it->second;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) break;  // peer closed or failed: answer what we have
        c.data.append(buf, static_cast<std::size_t>(n));
        if (c.data.size() > kMaxRequest) {
            refused_("control request larger than " + std::to_string(kMaxRequest) + " bytes");
            finish(fd, format_control_error("request too large"));
            return;
        }
        if (c.data.find('\n') != std::string::npos) break;
    }
    std::string request = c.data.substr(0, c.data.find('\n'));
    finish(fd, handler_(request));
}

void ControlServer::finish(int fd, const std::string& reply) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    // Replies are small; a client too slow to take one within the timeout is dropped.
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    write_all(fd, reply + "\n");
    loop_->unwatch(it->second.watch);
    ::close(fd);
    connections_.erase(it);
}

void ControlServer::expire_idle() {
    const auto now = loop_->now();
    std::vector<int> stale;
    for (const auto& [fd, c] : connections_) {
        if (now - c.opened > kRequestTimeout) stale.push_back(fd);
    }
    for (int fd : stale) {
        refused_("control request not completed within the timeout");
        finish(fd, format_control_error("timed out waiting for a complete line"));
    }
}

std::expected<std::string, Error> control_request(const std::string& path,
                                                  const std::string& request) {
    const auto addr = address_of(path);
    if (!addr) return std::unexpected(addr.error());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::unexpected(Error::from_errno("creating a socket", errno));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) < 0) {
        const int err = errno;
        ::close(fd);
        return std::unexpected(Error::from_errno("connecting to vigild at " + path, err));
    }
    if (!write_all(fd, request + "\n")) {
        ::close(fd);
        return std::unexpected(Error{"sending the request to vigild failed"});
    }
    auto reply = read_line(fd, 16 * 1024 * 1024);
    ::close(fd);
    if (!reply) return std::unexpected(Error{"reading vigild's reply: " + reply.error()});
    return *reply;
}

}  // namespace vigil::adapters
