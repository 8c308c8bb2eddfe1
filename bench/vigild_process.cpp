#include "bench/vigild_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vigil::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::expected<std::uint16_t, std::string> free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::unexpected(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ::close(fd);
    if (!ok) return std::unexpected(std::string("no free port: ") + std::strerror(errno));
    return ntohs(addr.sin_port);
}

}  // namespace

std::expected<std::unique_ptr<VigildProcess>, std::string> VigildProcess::start(
    const std::string& extra_config, std::chrono::milliseconds ready_timeout) {
    std::unique_ptr<VigildProcess> self(new VigildProcess());
    auto dir = testing::TempDir::make("bench-vigild");
    if (!dir) return std::unexpected(dir.error());
    const std::filesystem::path root = self->dir_.emplace(std::move(*dir)).path();
    auto port = free_port();
    if (!port) return std::unexpected(port.error());
    self->port_ = *port;
    const auto config = root / "vigil.toml";
    std::ofstream(config) << "[metrics]\nlisten = \"127.0.0.1:" << self->port_
                          << "\"\n[control]\nsocket = \"" << (root / "ctl.sock").string() << "\"\n"
                          << extra_config;

    const auto notify = root / "notify.sock";
    self->notify_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, notify.c_str(), sizeof(addr.sun_path) - 1);
    if (self->notify_fd_ < 0 ||
        ::bind(self->notify_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        return std::unexpected("binding the notify socket: " + std::string(std::strerror(errno)));
    }
    auto proc = testing::Subprocess::spawn(
        {VIGILD_BINARY, "--config", config.string()},
        testing::SpawnOptions{.env = {"NOTIFY_SOCKET=" + notify.string()},
                              .stderr_path = root / "vigild.log"});
    if (!proc) return std::unexpected(proc.error());
    self->proc_.emplace(std::move(*proc));
    if (!self->wait_ready(ready_timeout)) {
        return std::unexpected("vigild sent no READY=1:\n" + self->log());
    }
    return self;
}

VigildProcess::~VigildProcess() {
    if (proc_) proc_->terminate();
    if (notify_fd_ >= 0) ::close(notify_fd_);
}

bool VigildProcess::wait_ready(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    char buf[4096];
    while (Clock::now() < deadline) {
        pollfd pfd{notify_fd_, POLLIN, 0};
        if (::poll(&pfd, 1, 100) > 0) {
            const ssize_t n = ::recv(notify_fd_, buf, sizeof(buf), 0);
            if (n > 0 && std::string_view(buf, static_cast<std::size_t>(n)).find("READY=1") !=
                             std::string_view::npos) {
                return true;
            }
        }
        if (!proc_ || !proc_->running()) return false;
    }
    return false;
}

std::string VigildProcess::log() const {
    if (!dir_) return {};
    std::ifstream in(dir_->path() / "vigild.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace vigil::bench
