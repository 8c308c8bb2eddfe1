#include "daemon/host/incarnation.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "daemon/host/mapping.h"
#include "daemon/ports/error.h"

namespace vigil::host {
namespace {

std::string errno_text(const std::filesystem::path& p, int err) {
    return p.string() + ": " + std::strerror(err);
}

std::expected<void, Error> fsync_path(const std::filesystem::path& p, int flags) {
    const int fd = ::open(p.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno_text(p, errno));
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return std::unexpected(errno_text(p, err));
    return {};
}

}  // namespace

std::expected<std::uint64_t, Error> take_incarnation(const std::filesystem::path& file,
                                                     std::chrono::system_clock::time_point wall) {
    std::optional<std::uint64_t> previous;
    std::error_code ec;
    if (std::filesystem::exists(file, ec)) {
        std::ifstream in(file);
        std::stringstream text;
        text << in.rdbuf();
        auto s = text.str();
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        std::uint64_t v = 0;
        const auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (!in || err != std::errc{} || end != s.data() + s.size() || s.empty()) {
            // A damaged counter cannot prove the next value is larger; refuse
            // rather than reuse an incarnation peers have seen.
            return std::unexpected(file.string() + " is damaged (\"" + s.substr(0, 40) +
                                   "\"); remove it only if the wall clock is right");
        }
        previous = v;
    }
    const auto next = next_incarnation(previous, wall);
    std::filesystem::create_directories(file.parent_path(), ec);
    const auto tmp = file.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return std::unexpected(errno_text(tmp, errno));
    const auto text = std::to_string(next) + "\n";
    const bool written =
        ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
        ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!written) return std::unexpected(errno_text(tmp, err));
    if (::rename(tmp.c_str(), file.c_str()) != 0) return std::unexpected(errno_text(file, errno));
    if (auto ok = fsync_path(file.parent_path(), O_RDONLY | O_DIRECTORY); !ok) {
        return std::unexpected(ok.error());
    }
    return next;
}

}  // namespace vigil::host
