#include "daemon/adapters/heartbeat_area.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include "daemon/ports/error.h"

namespace vigil::adapters {
namespace {

constexpr std::string_view kLastWordsMagic = "vigil-last-words";
// The newest major format of last words this reader knows (and writes, as 1.0).
constexpr std::uint32_t kLastWordsFormatMajor = 1;

core::DecodeError malformed(std::string message) {
    return {core::Refusal::kMalformed, std::move(message)};
}

template <class Int>
std::optional<Int> number(std::string_view s, int base = 10) {
    Int v{};
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

// One line per field, so control bytes and backslashes are escaped; the
// result holds printable bytes only (and bytes >= 0x80 as they are).
std::string escape(std::string_view raw) {
    std::string out;
    for (const char c : raw) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\\') {
            out += "\\\\";
        } else if (u < 0x20 || u == 0x7f) {
            char buf[5];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

std::optional<std::string> unescape(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto u = static_cast<unsigned char>(text[i]);
        if (u < 0x20 || u == 0x7f) return std::nullopt;
        if (text[i] != '\\') {
            out += text[i];
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '\\') {
            out += '\\';
            ++i;
            continue;
        }
        if (i + 3 >= text.size() || text[i + 1] != 'x') return std::nullopt;
        const auto v = number<unsigned>(text.substr(i + 2, 2), 16);
        if (!v) return std::nullopt;
        out += static_cast<char>(*v);
        i += 3;
    }
    return out;
}

std::string cut(std::string_view s, std::size_t max) { return std::string(s.substr(0, max)); }

std::string pad_block(std::string text) {
    text.resize(kSlotBlockBytes, '\0');
    return text;
}

bool all_zero(std::span<const std::byte> block) {
    return std::all_of(block.begin(), block.end(), [](std::byte b) { return b == std::byte{0}; });
}

std::string slot_name(std::uint32_t slot) { return "heartbeat slot " + std::to_string(slot); }

core::DecodeError wrong(std::string message) {
    return {core::Refusal::kWrongSender, std::move(message)};
}

}  // namespace

std::expected<std::string, Error> encode_status_block(const core::HostStatus& status) {
    auto text = core::encode_status(status);
    // The text must end before the block does, so a reader finds its NUL.
    if (text.size() >= kSlotBlockBytes) {
        return std::unexpected("status of host " + std::to_string(status.host.value) + " is " +
                               std::to_string(text.size()) + " bytes, a slot holds " +
                               std::to_string(kSlotBlockBytes - 1));
    }
    return pad_block(std::move(text));
}

std::string encode_last_words(const LastWords& w) {
    std::string head{kLastWordsMagic};
    head += " " + std::to_string(kLastWordsFormatMajor);
    head += "\nhost " + std::to_string(w.host.value);
    head += "\nincarnation " + std::to_string(w.incarnation);
    head += "\nwritten-ms " + std::to_string(w.written_unix_ms);
    head += "\ndecision " + escape(cut(w.decision, kMaxLastWordsDecision)) + "\n";
    std::vector<std::string> lines;
    lines.reserve(w.evidence.size());
    for (const auto& e : w.evidence) {
        lines.push_back("evidence " + escape(cut(e, kMaxLastWordsEvidence)) + "\n");
    }
    // "crc " + 16 hex digits + "\n", and the NUL that ends the text in a block.
    constexpr std::size_t kTrailer = 4 + 16 + 1 + 1;
    std::size_t size = head.size() + kTrailer;
    for (const auto& l : lines) size += l.size();
    std::size_t first = 0;  // the newest evidence is worth most: drop the oldest
    while (size > kSlotBlockBytes && first < lines.size()) size -= lines[first++].size();
    std::string body = head;
    for (std::size_t i = first; i < lines.size(); ++i) body += lines[i];
    return core::seal_text(std::move(body));
}

std::string encode_last_words_block(const LastWords& words) {
    return pad_block(encode_last_words(words));
}

std::expected<LastWords, core::DecodeError> decode_last_words(std::string_view text) {
    using std::unexpected;
    if (text.size() > kSlotBlockBytes) return unexpected(malformed("last words too long"));
    const auto format = core::read_format_line(text.substr(0, text.find('\n')), kLastWordsMagic,
                                               kLastWordsFormatMajor);
    if (!format && format.error().reason == core::Refusal::kNewerFormat)
        return unexpected(
            core::DecodeError{format.error().reason, "last words " + format.error().message});
    const auto sealed = core::unseal_text(text);
    if (!sealed)
        return unexpected(
            core::DecodeError{core::Refusal::kCorrupt, "last words " + sealed.error().message});
    if (!format) return unexpected(malformed("last words line 1: " + format.error().message));
    const std::string_view body = *sealed;
    LastWords w;
    bool seen_host = false, seen_inc = false, seen_written = false, seen_decision = false;
    std::size_t line_no = 0;
    std::string_view rest = body;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        const auto line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        const auto where = "last words line " + std::to_string(++line_no) + ": ";
        if (line_no == 1) continue;  // the format line, read above
        const auto space = line.find(' ');
        const auto key = line.substr(0, space);
        const auto value =
            space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
        if (key == "host") {
            const auto v = number<std::uint32_t>(value);
            if (!v) return unexpected(malformed(where + "host is not a host id"));
            w.host = core::HostId{*v};
            seen_host = true;
        } else if (key == "incarnation") {
            const auto v = number<std::uint64_t>(value);
            if (!v) return unexpected(malformed(where + "incarnation is not a number"));
            w.incarnation = *v;
            seen_inc = true;
        } else if (key == "written-ms") {
            const auto v = number<std::int64_t>(value);
            if (!v) return unexpected(malformed(where + "written-ms is not a number"));
            w.written_unix_ms = *v;
            seen_written = true;
        } else if (key == "decision" || key == "evidence") {
            auto v = unescape(value);
            if (!v) return unexpected(malformed(where + "bad escape"));
            if (key == "decision") {
                if (seen_decision) return unexpected(malformed(where + "second decision"));
                w.decision = std::move(*v);
                seen_decision = true;
            } else {
                w.evidence.push_back(std::move(*v));
            }
        }
        // Any other key belongs to a newer minor format: skipped.
    }
    if (!seen_host || !seen_inc || !seen_written || !seen_decision) {
        return unexpected(malformed("last words miss host, incarnation, written-ms or decision"));
    }
    return w;
}

std::string_view block_text(std::span<const std::byte> block) {
    const auto* data = reinterpret_cast<const char*>(block.data());
    const std::string_view all(data, block.size());
    return all.substr(0, all.find('\0'));
}

std::expected<std::optional<core::HostStatus>, core::DecodeError> read_status_block(
    std::span<const std::byte> block, std::uint32_t slot, core::HostId owner) {
    if (all_zero(block)) return std::nullopt;
    if (owner.value == 0)
        return std::unexpected(wrong(slot_name(slot) + ": written, but unassigned"));
    auto status = core::decode_status(block_text(block));
    if (!status) {
        return std::unexpected(core::DecodeError{status.error().reason,
                                                 slot_name(slot) + ": " + status.error().message});
    }
    if (status->host != owner) {
        return std::unexpected(wrong(slot_name(slot) + ": written by host " +
                                     std::to_string(status->host.value) + ", belongs to host " +
                                     std::to_string(owner.value)));
    }
    return std::optional<core::HostStatus>(std::move(*status));
}

std::expected<std::optional<LastWords>, core::DecodeError> read_last_words_block(
    std::span<const std::byte> block, std::uint32_t slot, core::HostId owner) {
    if (all_zero(block)) return std::nullopt;
    if (owner.value == 0)
        return std::unexpected(wrong(slot_name(slot) + " last words: unassigned"));
    auto words = decode_last_words(block_text(block));
    if (!words) {
        return std::unexpected(core::DecodeError{words.error().reason,
                                                 slot_name(slot) + ": " + words.error().message});
    }
    if (words->host != owner) {
        return std::unexpected(wrong(slot_name(slot) + " last words: written by host " +
                                     std::to_string(words->host.value) + ", belongs to host " +
                                     std::to_string(owner.value)));
    }
    return std::optional<LastWords>(std::move(*words));
}

AreaView parse_area(std::span<const std::byte> area, std::span<const core::HostId> owners) {
    AreaView view;
    for (std::uint32_t slot = 0; slot < owners.size(); ++slot) {
        if (area.size() < area_bytes(slot + 1)) {
            view.refused.push_back({.slot = slot,
                                    .reason = slot_name(slot) + ": beyond the end of the area (" +
                                              std::to_string(area.size()) + " bytes)",
                                    .kind = core::Refusal::kMalformed});
            continue;
        }
        const auto block = area.subspan(status_offset(slot), kSlotBlockBytes);
        const auto status = read_status_block(block, slot, owners[slot]);
        if (!status) {
            view.refused.push_back(
                {.slot = slot, .reason = status.error().message, .kind = status.error().reason});
            if (status.error().reason == core::Refusal::kNewerFormat) {
                view.unreadable.push_back(
                    {.host = owners[slot], .fingerprint = core::fingerprint(block_text(block))});
            }
        } else if (const auto& read = *status; read) {
            view.slots.push_back(*read);
        }
        const auto words = read_last_words_block(
            area.subspan(last_words_offset(slot), kSlotBlockBytes), slot, owners[slot]);
        if (!words) {
            view.refused.push_back({.slot = slot,
                                    .reason = words.error().message,
                                    .kind = words.error().reason,
                                    .last_words = true});
        } else if (const auto& read = *words; read) {
            view.last_words.push_back({slot, *read});
        }
    }
    return view;
}

}  // namespace vigil::adapters
