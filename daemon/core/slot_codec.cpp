#include "daemon/core/slot_codec.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <vector>

#include "daemon/core/decision.h"
#include "daemon/ports/error.h"

namespace vigil::core {
namespace {

constexpr std::string_view kMagic = "vigil-slot";

std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 1469598103934665603ULL;
    for (const char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    return h;
}

std::string hex(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::optional<std::uint64_t> number(std::string_view s, int base = 10) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

std::optional<SelfState> self_state(std::string_view s) {
    for (auto v : {SelfState::kOk, SelfState::kIsolated, SelfState::kStorageLost,
                   SelfState::kFencing, SelfState::kReleased}) {
        if (name(v) == s) return v;
    }
    return std::nullopt;
}

std::optional<VmState> vm_state(std::string_view s) {
    for (auto v :
         {VmState::kRunning, VmState::kPausedIoError, VmState::kPaused, VmState::kShutOff}) {
        if (name(v) == s) return v;
    }
    return std::nullopt;
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    while (!line.empty()) {
        const auto start = line.find_first_not_of(' ');
        if (start == std::string_view::npos) break;
        line.remove_prefix(start);
        const auto end = line.find(' ');
        out.push_back(line.substr(0, end));
        if (end == std::string_view::npos) break;
        line.remove_prefix(end);
    }
    return out;
}

bool valid_vm_name(std::string_view s) {
    return !s.empty() && s.find_first_of(" \n\t") == std::string_view::npos;
}

DecodeError malformed(std::string message) { return {Refusal::kMalformed, std::move(message)}; }

}  // namespace

std::string_view name(Refusal r) {
    switch (r) {
        case Refusal::kCorrupt:
            return "corrupt";
        case Refusal::kMalformed:
            return "malformed";
        case Refusal::kNewerFormat:
            return "newer-format";
        case Refusal::kWrongSender:
            return "wrong-sender";
    }
    return "unknown";
}

std::expected<FormatVersion, DecodeError> read_format_line(std::string_view line,
                                                           std::string_view magic,
                                                           std::uint32_t known_major) {
    const auto not_ours = [&] {
        return std::unexpected(malformed("not a " + std::string(magic) + " record"));
    };
    if (!line.starts_with(magic) || line.size() < magic.size() + 2 || line[magic.size()] != ' ')
        return not_ours();
    const auto version = line.substr(magic.size() + 1);
    const auto dot = version.find('.');
    const auto major = number(version.substr(0, dot));
    const auto minor = dot == std::string_view::npos ? std::optional<std::uint64_t>(0)
                                                     : number(version.substr(dot + 1));
    if (!major || !minor || *major == 0 || *major > UINT32_MAX || *minor > UINT32_MAX) {
        return std::unexpected(malformed(std::string(magic) + " record of an unreadable format " +
                                         std::string(version)));
    }
    const FormatVersion v{static_cast<std::uint32_t>(*major), static_cast<std::uint32_t>(*minor)};
    if (v.major > known_major) {
        return std::unexpected(DecodeError{
            Refusal::kNewerFormat, "written by a newer vigil (format " + std::to_string(v.major) +
                                       "." + std::to_string(v.minor) +
                                       ", this reader knows up to " + std::to_string(known_major) +
                                       ")"});
    }
    return v;
}

std::uint64_t fingerprint(std::string_view text) { return fnv1a(text); }

std::string seal_text(std::string body) {
    const std::uint64_t crc = fnv1a(body);
    body += "crc ";
    body += hex(crc);
    body += '\n';
    return body;
}

std::expected<std::string_view, Error> unseal_text(std::string_view text) {
    using std::unexpected;
    const auto crc_at = text.rfind("crc ");
    if (crc_at == std::string_view::npos || (crc_at != 0 && text[crc_at - 1] != '\n')) {
        return unexpected(std::string("has no checksum line (torn write?)"));
    }
    const auto body = text.substr(0, crc_at);
    auto crc_text = text.substr(crc_at + 4);
    if (!crc_text.empty() && crc_text.back() == '\n') crc_text.remove_suffix(1);
    const auto crc = number(crc_text, 16);
    if (!crc) return unexpected(std::string("checksum is not a hex number"));
    if (*crc != fnv1a(body)) return unexpected(std::string("checksum mismatch (corrupt or torn)"));
    return body;
}

std::string encode_status(const HostStatus& s) {
    // Format 1.0 is written as "1" (the bytes earlier releases wrote); 1.1 as "1.1".
    std::string body{kMagic};
    body += " " + std::to_string(kStatusFormatMajor);
    if (kStatusFormatMinor != 0) body += "." + std::to_string(kStatusFormatMinor);
    body += "\nhost " + std::to_string(s.host.value);
    body += "\nincarnation " + std::to_string(s.incarnation);
    body += "\nsequence " + std::to_string(s.sequence);
    body += "\nstate " + std::string(name(s.state));
    body += "\nflags";
    if (s.quorate) body += " quorate";
    if (s.storage_ok) body += " storage-ok";
    if (s.maintenance) body += " maintenance";
    if (s.cordoned) body += " draining";  // the word older readers know
    if (s.knows_freeze) body += " knows-freeze";
    if (s.frozen) body += " frozen";
    for (const auto& h : s.held) body += "\nheld " + h.name + " " + std::string(name(h.state));
    for (const auto& a : s.assignments)
        body += "\nassign " + a.vm + " " + std::to_string(a.target.value) + " " +
                std::to_string(a.target_incarnation) + " " + std::to_string(a.target_sequence);
    for (const auto& vm : s.declined) body += "\ndeclined " + vm;
    for (const auto& [host, inc] : s.fenced)
        body += "\nfenced " + std::to_string(host.value) + " " + std::to_string(inc);
    body += "\n";
    return seal_text(std::move(body));
}

std::expected<HostStatus, DecodeError> decode_status(std::string_view text) {
    using std::unexpected;
    if (text.size() > kMaxSlotBytes)
        return unexpected(
            malformed("slot larger than " + std::to_string(kMaxSlotBytes) + " bytes"));
    // The format first: a newer major may seal differently, and is refused as newer
    // rather than as corrupt.
    const auto format =
        read_format_line(text.substr(0, text.find('\n')), kMagic, kStatusFormatMajor);
    if (!format) {
        // Torn or damaged before its first line ended: say so as for any torn slot.
        if (format.error().reason == Refusal::kMalformed && !unseal_text(text))
            return unexpected(
                DecodeError{Refusal::kCorrupt, "slot " + unseal_text(text).error().message});
        return unexpected(DecodeError{format.error().reason, "slot " + format.error().message});
    }
    const auto sealed = unseal_text(text);
    if (!sealed)
        return unexpected(DecodeError{Refusal::kCorrupt, "slot " + sealed.error().message});
    const auto body = *sealed;

    HostStatus s;
    bool seen_host = false, seen_inc = false, seen_seq = false, seen_state = false;
    std::size_t line_no = 0;
    std::string_view rest = body;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        const auto line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        ++line_no;
        if (line_no == 1) continue;  // the format line, read above
        const auto bad = [&](const std::string& why) {
            return unexpected(malformed("slot line " + std::to_string(line_no) + ": " + why));
        };
        const auto w = words(line);
        if (w.empty()) return bad("empty line");
        const auto key = w[0];
        if (key == "host" || key == "incarnation" || key == "sequence") {
            if (w.size() != 2) return bad(std::string(key) + " takes one number");
            const auto v = number(w[1]);
            if (!v) return bad(std::string(key) + " is not a number");
            if (key == "host") {
                if (*v > UINT32_MAX) return bad("host id out of range");
                s.host = HostId{static_cast<std::uint32_t>(*v)};
                seen_host = true;
            } else if (key == "incarnation") {
                s.incarnation = *v;
                seen_inc = true;
            } else {
                s.sequence = *v;
                seen_seq = true;
            }
        } else if (key == "state") {
            const auto st = w.size() == 2 ? self_state(w[1]) : std::nullopt;
            if (!st) return bad("unknown state");
            s.state = *st;
            seen_state = true;
        } else if (key == "flags") {
            for (std::size_t i = 1; i < w.size(); ++i) {
                if (w[i] == "quorate")
                    s.quorate = true;
                else if (w[i] == "storage-ok")
                    s.storage_ok = true;
                else if (w[i] == "maintenance")
                    s.maintenance = true;
                else if (w[i] == "draining")
                    s.cordoned = true;
                else if (w[i] == "knows-freeze")
                    s.knows_freeze = true;
                else if (w[i] == "frozen")
                    s.frozen = true;
                // else: a flag of a newer minor format, skipped
            }
        } else if (key == "held") {
            const auto st = w.size() == 3 ? vm_state(w[2]) : std::nullopt;
            if (!st || !valid_vm_name(w[1])) return bad("held takes a VM name and a state");
            s.held.push_back({std::string(w[1]), *st});
        } else if (key == "assign") {
            const auto target = w.size() == 5 ? number(w[2]) : std::nullopt;
            const auto inc = w.size() == 5 ? number(w[3]) : std::nullopt;
            const auto seq = w.size() == 5 ? number(w[4]) : std::nullopt;
            if (!target || !inc || !seq || *target > UINT32_MAX || !valid_vm_name(w[1])) {
                return bad(
                    "assign takes a VM name, a host id and that host's incarnation and "
                    "sequence");
            }
            s.assignments.push_back(
                {std::string(w[1]), HostId{static_cast<std::uint32_t>(*target)}, *inc, *seq});
        } else if (key == "fenced") {
            const auto host = w.size() == 3 ? number(w[1]) : std::nullopt;
            const auto inc = w.size() == 3 ? number(w[2]) : std::nullopt;
            if (!host || !inc || *host > UINT32_MAX)
                return bad("fenced takes a host id and an incarnation");
            s.fenced.emplace_back(HostId{static_cast<std::uint32_t>(*host)}, *inc);
        } else if (key == "declined") {
            if (w.size() != 2 || !valid_vm_name(w[1])) return bad("declined takes a VM name");
            s.declined.emplace_back(w[1]);
        }
        // Any other key belongs to a newer minor format: skipped.
    }
    if (!seen_host || !seen_inc || !seen_seq || !seen_state) {
        return unexpected(malformed("slot misses one of host, incarnation, sequence, state"));
    }
    return s;
}

}  // namespace vigil::core
