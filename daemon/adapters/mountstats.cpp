#include "daemon/adapters/mountstats.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>

namespace vigil::adapters {
namespace {

// The counters each transport writes before the three that statistics
// version 1.1 added (max_slots, sending_u, pending_u).
constexpr std::size_t kTcpBase = 10;
constexpr std::size_t kUdpBase = 7;
constexpr std::size_t kLocalBase = 9;
constexpr std::size_t kRdmaBase = 10;
constexpr std::size_t kOpFields = 8;  // errors, the ninth, came with Linux 5.3
constexpr std::size_t kSnippet = 60;

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && is_space(s[i])) ++i;
        const std::size_t start = i;
        while (i < s.size() && !is_space(s[i])) ++i;
        if (i > start) out.push_back(s.substr(start, i - start));
    }
    return out;
}

// A printable excerpt of a bad line for the error message.
std::string snippet(std::string_view line) {
    std::string out;
    for (char c : line.substr(0, kSnippet)) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f) {
            out += c;
        } else {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\x%02x", u);
            out += buf;
        }
    }
    if (line.size() > kSnippet) out += "...";
    return out;
}

// The kernel escapes space, tab, newline and backslash in names as \ooo.
std::string unescape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto octal = [](char c) { return c >= '0' && c <= '7'; };
        if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) &&
            octal(s[i + 3])) {
            const int value = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
            if (value <= 0xff) {
                out += static_cast<char>(value);
                i += 3;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

template <class T>
std::optional<T> number(std::string_view token) {
    T value{};
    const char* end = token.data() + token.size();
    auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (ec != std::errc{} || ptr != end || token.empty()) return std::nullopt;
    return value;
}

class Parser {
  public:
    explicit Parser(std::string_view text) : text_(text) {}

    std::expected<std::vector<NfsMountStats>, Error> run() {
        if (!text_.empty() && text_.back() != '\n') {
            return std::unexpected(
                Error{"mountstats is truncated: its last line has no end of line"});
        }
        std::size_t pos = 0;
        while (pos < text_.size()) {
            const std::size_t end = text_.find('\n', pos);
            line_ = text_.substr(pos, end - pos);
            pos = end + 1;
            ++number_;
            if (auto ok = line(); !ok) return std::unexpected(ok.error());
        }
        finish();
        return std::move(mounts_);
    }

  private:
    Error fail(const std::string& what) const {
        return Error{"mountstats line " + std::to_string(number_) + ": " + what + " in '" +
                     snippet(line_) + "'"};
    }

    void finish() {
        if (current_) mounts_.push_back(std::move(*current_));
        current_.reset();
    }

    std::expected<void, Error> line() {
        if (line_.find('\0') != std::string_view::npos) return std::unexpected(fail("NUL byte"));
        if (trim(line_).empty()) return {};
        if (is_space(line_.front())) return indented(trim(line_));
        if (line_.starts_with("device ") || line_.starts_with("no device ")) return header();
        return std::unexpected(fail("expected a 'device ... mounted on ...' line"));
    }

    std::expected<void, Error> header() {
        finish();
        seen_device_ = true;
        per_op_ = false;
        // "device DEV mounted on PATH with fstype TYPE [statvers=V]", or
        // "no device mounted on PATH with fstype TYPE"; an empty DEV leaves
        // two blanks after "device".
        std::string_view rest = line_;
        std::string device;
        if (rest.starts_with("no device ")) {
            rest.remove_prefix(10);
        } else if (rest.starts_with("device  ")) {
            rest.remove_prefix(7);
        } else {
            rest.remove_prefix(7);
            const std::size_t blank = rest.find(' ');
            if (blank == std::string_view::npos) {
                return std::unexpected(fail("device line ends after the device name"));
            }
            device = unescape(rest.substr(0, blank));
            rest.remove_prefix(blank);
        }
        const auto t = split(rest);
        if (t.size() < 6 || t[0] != "mounted" || t[1] != "on" || t[3] != "with" ||
            t[4] != "fstype") {
            return std::unexpected(
                fail("expected 'device <name> mounted on <path> with fstype <type>'"));
        }
        const std::string_view fstype = t[5];
        if (fstype != "nfs" && fstype != "nfs4") return {};
        NfsMountStats m;
        m.device = std::move(device);
        m.mount_point = unescape(t[2]);
        m.fstype = std::string(fstype);
        for (std::size_t i = 6; i < t.size(); ++i) {
            if (t[i].starts_with("statvers=")) m.statvers = std::string(t[i].substr(9));
        }
        split_device(m);
        current_ = std::move(m);
        return {};
    }

    static void split_device(NfsMountStats& m) {
        std::size_t colon = std::string::npos;
        if (m.device.starts_with('[')) {
            const std::size_t close = m.device.find("]:");
            if (close != std::string::npos) colon = close + 1;
        } else {
            colon = m.device.find(':');
        }
        if (colon == std::string::npos) {
            m.export_path = m.device;
            return;
        }
        m.server = m.device.substr(0, colon);
        m.export_path = m.device.substr(colon + 1);
    }

    std::expected<void, Error> indented(std::string_view body) {
        if (!seen_device_) return std::unexpected(fail("statistics before any device line"));
        // Other file systems may one day print statistics of their own.
        if (!current_) return {};
        if (per_op_) return op(*current_, body);
        if (body == "per-op statistics") {
            per_op_ = true;
            return {};
        }
        const std::size_t colon = body.find(':');
        if (colon == std::string_view::npos) {
            return std::unexpected(fail("expected '<key>: <values>'"));
        }
        const std::string_view key = body.substr(0, colon);
        const std::string_view rest = trim(body.substr(colon + 1));
        if (key == "opts") {
            current_->options = std::string(rest);
        } else if (key == "age") {
            const auto age = number<std::uint64_t>(rest);
            if (!age) return std::unexpected(fail("age is not a number of seconds"));
            current_->age = std::chrono::seconds(*age);
        } else if (key == "RPC iostats version") {
            return iostats(*current_, rest);
        } else if (key == "xprt") {
            return transport(*current_, rest);
        }
        // impl_id, caps, nfsv4, sec, events, bytes, fsc, ...: not needed here.
        return {};
    }

    // "1.1  p/v: 100003/4 (nfs)"
    std::expected<void, Error> iostats(NfsMountStats& mount, std::string_view rest) {
        const auto t = split(rest);
        if (t.empty()) return std::unexpected(fail("RPC iostats without a version"));
        mount.rpc_iostats_version = std::string(t[0]);
        if (t.size() >= 3 && t[1] == "p/v:") {
            const std::size_t slash = t[2].find('/');
            const auto prog = number<std::uint32_t>(t[2].substr(0, slash));
            const auto vers = slash == std::string_view::npos
                                  ? std::nullopt
                                  : number<std::uint32_t>(t[2].substr(slash + 1));
            if (!prog || !vers) return std::unexpected(fail("p/v is not <program>/<version>"));
            mount.rpc_program = *prog;
            mount.rpc_version = *vers;
        }
        return {};
    }

    std::expected<void, Error> transport(NfsMountStats& mount, std::string_view rest) {
        const auto t = split(rest);
        if (t.empty()) return std::unexpected(fail("xprt without a transport"));
        NfsTransportStats x;
        x.name = std::string(t[0]);
        x.transport = t[0] == "tcp"     ? NfsTransport::kTcp
                      : t[0] == "udp"   ? NfsTransport::kUdp
                      : t[0] == "rdma"  ? NfsTransport::kRdma
                      : t[0] == "local" ? NfsTransport::kLocal
                                        : NfsTransport::kOther;
        std::size_t base = 0;
        switch (x.transport) {
            case NfsTransport::kTcp:
                base = kTcpBase;
                break;
            case NfsTransport::kUdp:
                base = kUdpBase;
                break;
            case NfsTransport::kRdma:
                base = kRdmaBase;
                break;
            case NfsTransport::kLocal:
                base = kLocalBase;
                break;
            case NfsTransport::kOther:
                // A transport this parser does not know: kept by name only.
                mount.transports.push_back(std::move(x));
                return {};
        }
        const std::vector<std::string_view> v(t.begin() + 1, t.end());
        if (v.size() < base) {
            return std::unexpected(fail("xprt " + x.name + " has " + std::to_string(v.size()) +
                                        " counters, expected at least " + std::to_string(base)));
        }
        bool ok = true;
        std::size_t i = 0;
        const auto u64 = [&]() {
            const auto n = number<std::uint64_t>(v[i++]);
            ok = ok && n.has_value();
            return n.value_or(0);
        };
        const auto seconds_signed = [&]() {
            const auto n = number<std::int64_t>(v[i++]);
            ok = ok && n.has_value();
            return std::chrono::seconds(n.value_or(0));
        };
        const auto port = [&]() {
            const auto n = number<std::uint32_t>(v[i++]);
            ok = ok && n.has_value();
            return n.value_or(0);
        };
        switch (x.transport) {
            case NfsTransport::kTcp:
            case NfsTransport::kRdma:
                x.source_port = port();
                x.bind_count = u64();
                x.connect_count = u64();
                x.connect_time = std::chrono::seconds(u64());
                x.idle_time = seconds_signed();
                break;
            case NfsTransport::kUdp:
                x.source_port = port();
                x.bind_count = u64();
                break;
            case NfsTransport::kLocal:
                x.bind_count = u64();
                x.connect_count = u64();
                x.connect_time = std::chrono::seconds(u64());
                x.idle_time = seconds_signed();
                break;
            case NfsTransport::kOther:
                break;
        }
        x.sends = u64();
        x.receives = u64();
        x.bad_xids = u64();
        x.request_u = u64();
        x.backlog_u = u64();
        // RDMA follows with counters of its own rather than these three.
        if (x.transport != NfsTransport::kRdma && v.size() >= base + 3) {
            x.max_slots = u64();
            x.sending_u = u64();
            x.pending_u = u64();
        }
        if (!ok) return std::unexpected(fail("xprt " + x.name + " counter is not a number"));
        mount.transports.push_back(std::move(x));
        return {};
    }

    // "READ: ops trans timeouts bytes_sent bytes_recv queue rtt execute [errors]"
    std::expected<void, Error> op(NfsMountStats& mount, std::string_view body) {
        const std::size_t colon = body.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            return std::unexpected(fail("expected '<OP>: <counters>'"));
        }
        const std::string_view name = body.substr(0, colon);
        if (split(name).size() != 1) return std::unexpected(fail("operation name with blanks"));
        const auto t = split(body.substr(colon + 1));
        if (t.size() < kOpFields) {
            return std::unexpected(fail("operation " + std::string(name) + " has " +
                                        std::to_string(t.size()) + " counters, expected " +
                                        std::to_string(kOpFields) + " or more"));
        }
        std::uint64_t n[kOpFields + 1] = {};
        const std::size_t count = std::min(t.size(), kOpFields + 1);
        for (std::size_t i = 0; i < count; ++i) {
            const auto v = number<std::uint64_t>(t[i]);
            if (!v) {
                return std::unexpected(fail("counter " + std::to_string(i + 1) + " of " +
                                            std::string(name) + " is not a number"));
            }
            n[i] = *v;
        }
        NfsOpStats s{
            .name = std::string(name),
            .ops = n[0],
            .transmissions = n[1],
            .major_timeouts = n[2],
            .bytes_sent = n[3],
            .bytes_received = n[4],
            .queue = std::chrono::milliseconds(n[5]),
            .rtt = std::chrono::milliseconds(n[6]),
            .execute = std::chrono::milliseconds(n[7]),
        };
        if (count > kOpFields) s.errors = n[kOpFields];
        mount.ops.push_back(std::move(s));
        return {};
    }

    std::string_view text_;
    std::string_view line_;
    std::size_t number_ = 0;
    bool seen_device_ = false;
    bool per_op_ = false;
    std::optional<NfsMountStats> current_;
    std::vector<NfsMountStats> mounts_;
};

}  // namespace

std::string_view name(NfsTransport transport) {
    switch (transport) {
        case NfsTransport::kTcp:
            return "tcp";
        case NfsTransport::kUdp:
            return "udp";
        case NfsTransport::kRdma:
            return "rdma";
        case NfsTransport::kLocal:
            return "local";
        case NfsTransport::kOther:
            return "other";
    }
    return "?";
}

std::optional<double> NfsTransportStats::mean_backlog() const {
    if (sends == 0) return std::nullopt;
    return static_cast<double>(backlog_u) / static_cast<double>(sends);
}

std::optional<std::string> NfsMountStats::option(std::string_view key) const {
    std::string_view rest = options;
    while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        const std::size_t eq = item.find('=');
        if (item.substr(0, eq) == key) {
            return eq == std::string_view::npos ? std::string() : std::string(item.substr(eq + 1));
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return std::nullopt;
}

const NfsOpStats* NfsMountStats::op(std::string_view name) const {
    for (const auto& o : ops) {
        if (o.name == name) return &o;
    }
    return nullptr;
}

std::uint64_t NfsMountStats::major_timeouts() const {
    std::uint64_t sum = 0;
    for (const auto& o : ops) sum += o.major_timeouts;
    return sum;
}

std::uint64_t NfsMountStats::retransmissions() const {
    std::uint64_t sum = 0;
    for (const auto& o : ops) sum += o.retransmissions();
    return sum;
}

std::expected<std::vector<NfsMountStats>, Error> parse_mountstats(std::string_view text) {
    return Parser(text).run();
}

std::expected<std::vector<NfsMountStats>, Error> read_mountstats(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(Error::from_errno("opening " + path, errno));
    std::string text;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            return std::unexpected(Error::from_errno("reading " + path, err));
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        // Thousands of NFS mounts fit in a few MiB; more is not mountstats.
        constexpr std::size_t kMaxSize = std::size_t{64} << 20;
        if (text.size() > kMaxSize) {
            ::close(fd);
            return std::unexpected(Error{path + ": larger than 64 MiB; not mountstats"});
        }
    }
    ::close(fd);
    auto parsed = parse_mountstats(text);
    if (!parsed) return std::unexpected(Error{path + ": " + parsed.error().message});
    return parsed;
}

core::NfsMountSample to_sample(const NfsMountStats& mount) {
    core::NfsMountSample s{.mount = mount.mount_point, .device = mount.device};
    if (mount.age) s.age = *mount.age;
    for (const auto& o : mount.ops) {
        s.counters.ops += o.ops;
        s.counters.retransmissions += o.retransmissions();
        s.counters.major_timeouts += o.major_timeouts;
        s.counters.rtt += o.rtt;
    }
    for (const auto& x : mount.transports) {
        s.counters.has_transport = true;
        s.counters.sends += x.sends;
        s.counters.receives += x.receives;
    }
    return s;
}

}  // namespace vigil::adapters
