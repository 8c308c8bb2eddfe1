#include "daemon/host/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include "daemon/ports/error.h"

namespace vigil::host {
namespace {

std::string errno_text(const std::filesystem::path& p, int err) {
    return p.string() + ": " + std::strerror(err);
}

}  // namespace

std::expected<void, Error> write_state_file(const std::filesystem::path& file,
                                            const std::string& text) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) return std::unexpected(file.parent_path().string() + ": " + ec.message());
    const auto tmp = file.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return std::unexpected(errno_text(tmp, errno));
    std::size_t off = 0;
    bool written = true;
    while (off < text.size()) {
        const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            written = false;
            break;
        }
        off += static_cast<std::size_t>(n);
    }
    written = written && ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!written) {
        ::unlink(tmp.c_str());
        return std::unexpected(errno_text(tmp, err));
    }
    if (::rename(tmp.c_str(), file.c_str()) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        return std::unexpected(errno_text(file, e));
    }
    const int dir = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return std::unexpected(errno_text(file.parent_path(), errno));
    const int rc = ::fsync(dir);
    const int e = errno;
    ::close(dir);
    if (rc != 0) return std::unexpected(errno_text(file.parent_path(), e));
    return {};
}

std::expected<std::optional<std::string>, Error> read_state_file(const std::filesystem::path& file,
                                                                 std::size_t max) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) return std::optional<std::string>{};
        return std::unexpected(errno_text(file, errno));
    }
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int e = errno;
            ::close(fd);
            return std::unexpected(errno_text(file, e));
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > max) {
            ::close(fd);
            return std::unexpected(file.string() + " is larger than " + std::to_string(max) +
                                   " bytes");
        }
    }
    ::close(fd);
    return std::optional<std::string>(std::move(text));
}

}  // namespace vigil::host
