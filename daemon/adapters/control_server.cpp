#include "daemon/adapters/control_server.h"

#include "daemon/adapters/control_protocol.h"
#include "daemon/ports/error.h"

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
std::expected<std::string, Error> read_line(int fd, std::size_t max) {
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

// The caller's command line from /proc, NULs as spaces, anything not
// printable as '?', at most kMaxCommand bytes; its comm if that is empty.
constexpr std::size_t kMaxCommand = 256;

std::string read_proc(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    char buf[kMaxCommand];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::string printable(std::string s) {
    while (!s.empty() && (s.back() == '\0' || s.back() == '\n')) s.pop_back();
    for (char& c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u == 0)
            c = ' ';
        else if (u < 0x20 || u >= 0x7f)
            c = '?';
    }
    return s;
}

std::string peer_command(std::int32_t pid) {
    const std::string base = "/proc/" + std::to_string(pid);
    auto cmd = printable(read_proc(base + "/cmdline"));
    if (cmd.empty()) cmd = printable(read_proc(base + "/comm"));
    return cmd;
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
    for (auto& [fd, f] : followers_) ::close(fd);
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
        refused_("connection from uid " + std::to_string(cred.uid) + " pid " +
                 std::to_string(cred.pid) + " (" + peer_command(cred.pid) + ") refused: root only");
        write_all(conn, format_control_error("permission denied: vigild's control socket "
                                             "answers root only, not uid " +
                                             std::to_string(cred.uid)) +
                            "\n");
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
    connections_[conn] = Connection{
        conn,
        *watch,
        {},
        loop_->now(),
        ControlPeer{.uid = cred.uid, .pid = cred.pid, .command = peer_command(cred.pid)}};
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
    auto reply = handler_(request, c.peer);
    if (reply.follow) {
        follow(fd, reply.line);
    } else {
        finish(fd, reply.line);
    }
}

void ControlServer::follow(int fd, const std::string& first_line) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    if (followers_.size() >= kMaxFollowers) {
        refused_("too many followers of the events (at most " + std::to_string(kMaxFollowers) +
                 ")");
        finish(fd, format_control_error("busy: too many followers"));
        return;
    }
    const ControlPeer peer = it->second.peer;
    loop_->unwatch(it->second.watch);
    connections_.erase(it);
    auto watch = loop_->watch_fd(fd, [this, fd] { on_follower_readable(fd); });
    if (!watch) {
        ::close(fd);
        return;
    }
    auto& f = followers_[fd];
    f = Follower{.watch = *watch, .out = first_line + "\n", .peer = peer};
    if (!flush(fd, f)) drop_follower(fd);
}

bool ControlServer::flush(int fd, Follower& f) {
    while (!f.out.empty()) {
        const ssize_t n = ::send(fd, f.out.data(), f.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        if (n <= 0) return false;
        f.out.erase(0, static_cast<std::size_t>(n));
    }
    return true;
}

void ControlServer::drop_follower(int fd) {
    auto it = followers_.find(fd);
    if (it == followers_.end()) return;
    loop_->unwatch(it->second.watch);
    ::close(fd);
    followers_.erase(it);
}

void ControlServer::on_follower_readable(int fd) {
    // A follower says nothing more: what it sends is dropped; its end of
    // the connection closing ends the follow.
    char buf[1024];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) break;
    }
    drop_follower(fd);
}

void ControlServer::publish(const std::string& line) {
    std::vector<int> gone;
    for (auto& [fd, f] : followers_) {
        if (f.out.size() + line.size() + 1 > kMaxFollowerBuffer) {
            ++followers_dropped_;
            if (on_dropped_) {
                on_dropped_("a follower of the events (uid " + std::to_string(f.peer.uid) +
                            " pid " + std::to_string(f.peer.pid) + ") fell " +
                            std::to_string(f.out.size()) + " bytes behind: dropped");
            }
            gone.push_back(fd);
            continue;
        }
        f.out += line;
        f.out += '\n';
        if (!flush(fd, f)) gone.push_back(fd);
    }
    for (int fd : gone) drop_follower(fd);
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
    // What a follower's socket could not take at publish() goes out here
    // (the loop watches followers for reading only).
    std::vector<int> gone;
    for (auto& [fd, f] : followers_) {
        if (!flush(fd, f)) gone.push_back(fd);
    }
    for (int fd : gone) drop_follower(fd);
}

namespace {

std::expected<int, Error> connect_and_send(const std::string& path, const std::string& request,
                                           bool* unsent) {
    const auto addr = address_of(path);
    if (!addr) return std::unexpected(addr.error());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::unexpected(Error::from_errno("creating a socket", errno));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) < 0) {
        const int err = errno;
        ::close(fd);
        if (err == EACCES || err == EPERM) {
            return std::unexpected(Error{"permission denied connecting to vigild at " + path +
                                         ": the control socket is root's only (run as root)"});
        }
        return std::unexpected(Error::from_errno("connecting to vigild at " + path, err));
    }
    // A refusal (root only, busy) may come, and the connection close, before
    // the request is sent: the reply is read all the same.
    if (!write_all(fd, request + "\n")) *unsent = true;
    return fd;
}

}  // namespace

std::expected<void, Error> control_follow(
    const std::string& path, const std::string& request,
    const std::function<bool(const std::string& line)>& on_line) {
    bool unsent = false;
    auto fd = connect_and_send(path, request, &unsent);
    if (!fd) return std::unexpected(fd.error());
    std::string data;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(*fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            ::close(*fd);
            return std::unexpected(Error::from_errno("reading from vigild", err));
        }
        if (n == 0) break;
        data.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = data.find('\n')) != std::string::npos) {
            const std::string line = data.substr(0, nl);
            data.erase(0, nl + 1);
            if (!on_line(line)) {
                ::close(*fd);
                return {};
            }
        }
    }
    ::close(*fd);
    return {};
}

std::expected<std::string, Error> control_request(const std::string& path,
                                                  const std::string& request) {
    bool unsent = false;
    auto connected = connect_and_send(path, request, &unsent);
    if (!connected) return std::unexpected(connected.error());
    const int fd = *connected;
    auto reply = read_line(fd, std::size_t{16} * 1024 * 1024);
    ::close(fd);
    if (unsent && (!reply || reply->empty())) {
        return std::unexpected(Error{"sending the request to vigild failed"});
    }
    if (!reply) return std::unexpected(Error{"reading vigild's reply: " + reply.error().message});
    return *reply;
}

}  // namespace vigil::adapters
