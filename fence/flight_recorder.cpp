#include "fence/flight_recorder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace vigil::fence {

namespace {

constexpr std::string_view kMagic = "vigil-flight-record v1";

std::string escape(std::string_view text) {
    std::string out;
    for (const char c : text) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::optional<std::string> unescape(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\') {
            out += text[i];
            continue;
        }
        if (++i == text.size()) return std::nullopt;
        switch (text[i]) {
            case '\\':
                out += '\\';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            default:
                return std::nullopt;
        }
    }
    return out;
}

// FNV-1a: enough to tell a damaged file from a good one.
std::uint64_t checksum(std::string_view bytes) {
    std::uint64_t h = 14695981039346656037ull;
    for (const unsigned char c : bytes) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

std::string hex(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::expected<void, Error> write_all_and_sync(int fd, std::string_view bytes,
                                              const std::string& where) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return std::unexpected(Error::from_errno("write " + where, errno));
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::fsync(fd) != 0) return std::unexpected(Error::from_errno("fsync " + where, errno));
    return {};
}

Error damaged(const std::filesystem::path& path, const std::string& why) {
    return Error{ErrorKind::kBadOutput, "flight record " + path.string() + " is damaged: " + why};
}

}  // namespace

std::string current_boot_id() {
    std::string id;
    std::ifstream("/proc/sys/kernel/random/boot_id") >> id;
    return id;
}

std::expected<FlightRecorder, Error> FlightRecorder::make(std::filesystem::path path,
                                                          std::size_t max_evidence) {
    if (path.empty() || !path.has_filename()) {
        return std::unexpected(
            Error{ErrorKind::kInvalidArgument, "flight recorder needs a file path"});
    }
    std::error_code ec;
    const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    if (!std::filesystem::is_directory(dir, ec)) {
        return std::unexpected(Error{
            ErrorKind::kNotFound, "flight recorder directory " + dir.string() + " does not exist"});
    }
    if (max_evidence == 0) max_evidence = 1;
    return FlightRecorder(std::move(path), max_evidence);
}

void FlightRecorder::note(std::string evidence) {
    evidence_.push_back(std::move(evidence));
    while (evidence_.size() > max_evidence_) evidence_.pop_front();
}

std::expected<void, Error> FlightRecorder::commit(const std::string& decision,
                                                  std::chrono::system_clock::time_point now) {
    std::string body(kMagic);
    body += "\nboot_id " + current_boot_id();
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    body += "\nwritten_at_ms " + std::to_string(ms);
    body += "\ndecision " + escape(decision);
    for (const auto& e : evidence_) body += "\nevidence " + escape(e);
    body += "\n";
    body += "checksum " + hex(checksum(body)) + "\n";

    const auto tmp = path_.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return std::unexpected(Error::from_errno("create " + tmp, errno));
    auto ok = write_all_and_sync(fd, body, tmp);
    ::close(fd);
    if (!ok) return ok;
    if (::rename(tmp.c_str(), path_.c_str()) != 0) {
        return std::unexpected(Error::from_errno("rename " + tmp + " to " + path_.string(), errno));
    }
    const auto dir = path_.has_parent_path() ? path_.parent_path().string() : std::string(".");
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return std::unexpected(Error::from_errno("open " + dir, errno));
    const int rc = ::fsync(dir_fd);
    const int err = errno;
    ::close(dir_fd);
    if (rc != 0) return std::unexpected(Error::from_errno("fsync " + dir, err));
    return {};
}

std::expected<std::optional<FlightRecord>, Error> FlightRecorder::read(
    const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec) return std::optional<FlightRecord>{};
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::unexpected(Error{ErrorKind::kIo, "cannot read " + path.string()});
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();

    const auto sum_at = text.rfind("checksum ");
    if (sum_at == std::string::npos || (sum_at != 0 && text[sum_at - 1] != '\n')) {
        return std::unexpected(damaged(path, "no checksum (torn write?)"));
    }
    const std::string body = text.substr(0, sum_at);
    std::string stored = text.substr(sum_at + 9);
    while (!stored.empty() && stored.back() == '\n') stored.pop_back();
    if (stored != hex(checksum(body))) return std::unexpected(damaged(path, "checksum mismatch"));

    FlightRecord record;
    std::istringstream lines(body);
    std::string line;
    if (!std::getline(lines, line) || line != kMagic)
        return std::unexpected(damaged(path, "unknown format"));
    bool have_decision = false;
    while (std::getline(lines, line)) {
        const auto space = line.find(' ');
        const std::string key = line.substr(0, space);
        const std::string value = space == std::string::npos ? "" : line.substr(space + 1);
        if (key == "boot_id") {
            record.boot_id = value;
        } else if (key == "written_at_ms") {
            long long ms = 0;
            if (std::from_chars(value.data(), value.data() + value.size(), ms).ec != std::errc{}) {
                return std::unexpected(damaged(path, "bad time " + value));
            }
            record.written_at =
                std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
        } else if (key == "decision" || key == "evidence") {
            auto unescaped = unescape(value);
            if (!unescaped) return std::unexpected(damaged(path, "bad escape in " + key));
            if (key == "decision") {
                record.decision = std::move(*unescaped);
                have_decision = true;
            } else {
                record.evidence.push_back(std::move(*unescaped));
            }
        } else {
            return std::unexpected(damaged(path, "unknown key " + key));
        }
    }
    if (!have_decision) return std::unexpected(damaged(path, "no decision"));
    return record;
}

}  // namespace vigil::fence
