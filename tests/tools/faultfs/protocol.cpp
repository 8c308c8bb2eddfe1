#include "tests/tools/faultfs/protocol.h"

#include <charconv>
#include <vector>

namespace vigil::faultfs {
namespace {

std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() &&
               (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')) {
            ++i;
        }
        const std::size_t start = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\r' &&
               text[i] != '\n') {
            ++i;
        }
        if (i > start) words.push_back(text.substr(start, i - start));
    }
    return words;
}

std::expected<std::uint64_t, std::string> parse_number(std::string_view word,
                                                       std::string_view what) {
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
    if (word.empty() || ec != std::errc{} || ptr != word.data() + word.size()) {
        return std::unexpected(std::string(what) + " must be a non-negative integer, got '" +
                               std::string(word) + "'");
    }
    return value;
}

std::expected<Scope, std::string> parse_scope(std::string_view word) {
    if (word == "read") return Scope::kRead;
    if (word == "write") return Scope::kWrite;
    return std::unexpected("scope must be 'read' or 'write', got '" + std::string(word) + "'");
}

std::string_view kind_name(FaultKind kind) {
    switch (kind) {
        case FaultKind::kOk:
            return "ok";
        case FaultKind::kEio:
            return "eio";
        case FaultKind::kEnospc:
            return "enospc";
        case FaultKind::kStall:
            return "stall";
        case FaultKind::kSlow:
            return "slow";
    }
    return "?";
}

bool in_scope(Scope scope, Op op) {
    switch (scope) {
        case Scope::kAll:
            return true;
        case Scope::kRead:
            return op == Op::kRead;
        case Scope::kWrite:
            return op != Op::kRead;
    }
    return true;
}

}  // namespace

Action action_for(const Mode& mode, Op op, std::string_view file) {
    if (!in_scope(mode.scope, op)) return Action::kPass;
    if (!mode.file.empty() && file != mode.file) return Action::kPass;
    switch (mode.kind) {
        case FaultKind::kOk:
            return Action::kPass;
        case FaultKind::kEio:
            return Action::kFailEio;
        case FaultKind::kEnospc:
            // A full disk still serves reads.
            return op == Op::kWrite ? Action::kFailEnospc : Action::kPass;
        case FaultKind::kStall:
            return Action::kStall;
        case FaultKind::kSlow:
            return Action::kDelay;
    }
    return Action::kPass;
}

std::expected<Mode, std::string> parse_mode(std::string_view text) {
    const auto words = split_words(text);
    if (words.empty()) return std::unexpected(std::string("empty mode"));
    const std::string_view verb = words[0];
    Mode mode;
    std::size_t next = 1;
    if (verb == "ok") {
        mode.kind = FaultKind::kOk;
    } else if (verb == "eio") {
        mode.kind = FaultKind::kEio;
    } else if (verb == "enospc") {
        mode.kind = FaultKind::kEnospc;
    } else if (verb == "stall") {
        mode.kind = FaultKind::kStall;
    } else if (verb == "slow") {
        mode.kind = FaultKind::kSlow;
        if (words.size() < 2) return std::unexpected(std::string("slow needs a delay in ms"));
        auto ms = parse_number(words[1], "slow delay (ms)");
        if (!ms) return std::unexpected(ms.error());
        if (*ms == 0 || *ms > static_cast<std::uint64_t>(kMaxDelay.count())) {
            return std::unexpected("slow delay must be 1.." + std::to_string(kMaxDelay.count()) +
                                   " ms, got " + std::string(words[1]));
        }
        mode.delay = std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
        next = 2;
    } else {
        return std::unexpected("unknown mode '" + std::string(verb) +
                               "' (ok, eio, enospc, stall, slow MS)");
    }
    // The file comes last, after any scope.
    auto end = words.size();
    if (end >= next + 2 && words[end - 2] == "file") {
        if (mode.kind == FaultKind::kOk) return std::unexpected(std::string("ok takes no file"));
        const std::string_view file = words[end - 1];
        if (file.starts_with('/') || file.find("..") != std::string_view::npos) {
            return std::unexpected(
                "file must be a path in the mount without a leading '/' or "
                "'..', got '" +
                std::string(file) + "'");
        }
        mode.file = std::string(file);
        end -= 2;
    }
    if (end > next) {
        if (mode.kind == FaultKind::kOk) {
            return std::unexpected(std::string("ok takes no scope"));
        }
        auto scope = parse_scope(words[next]);
        if (!scope) return std::unexpected(scope.error());
        if (mode.kind == FaultKind::kEnospc && *scope == Scope::kRead) {
            return std::unexpected(std::string("enospc applies to writes only"));
        }
        mode.scope = *scope;
        ++next;
    }
    if (mode.kind == FaultKind::kEnospc) mode.scope = Scope::kWrite;
    if (end > next) {
        return std::unexpected("unexpected '" + std::string(words[next]) + "' after mode");
    }
    return mode;
}

std::expected<Request, std::string> parse_request(std::string_view line) {
    const auto words = split_words(line);
    if (words.size() == 1 && words[0] == "status") return QueryStatus{};
    auto mode = parse_mode(line);
    if (!mode) return std::unexpected(mode.error());
    return SetMode{*mode};
}

std::string format_mode(const Mode& mode) {
    std::string out(kind_name(mode.kind));
    if (mode.kind == FaultKind::kSlow) out += " " + std::to_string(mode.delay.count());
    switch (mode.scope) {
        case Scope::kAll:
            break;
        case Scope::kRead:
            out += " read";
            break;
        case Scope::kWrite:
            // enospc is write-only by definition; saying so again is noise.
            if (mode.kind != FaultKind::kEnospc) out += " write";
            break;
    }
    if (!mode.file.empty()) out += " file " + mode.file;
    return out;
}

std::string format_request(const Request& request) {
    if (const auto* set = std::get_if<SetMode>(&request)) return format_mode(set->mode);
    return "status";
}

std::string format_ok() { return "OK"; }

std::string format_error(std::string_view reason) {
    std::string out = "ERR ";
    for (const char c : reason) out += (c == '\n' || c == '\r') ? ' ' : c;
    return out;
}

std::string format_status(const Status& status) {
    return "OK reads=" + std::to_string(status.reads) + " writes=" + std::to_string(status.writes) +
           " injected=" + std::to_string(status.injected) +
           " stalled=" + std::to_string(status.stalled) + " mode=" + format_mode(status.mode);
}

std::expected<std::string, std::string> parse_reply(std::string_view reply) {
    while (!reply.empty() && (reply.back() == '\n' || reply.back() == '\r')) {
        reply.remove_suffix(1);
    }
    if (reply == "OK") return std::string();
    if (reply.starts_with("OK ")) return std::string(reply.substr(3));
    if (reply.starts_with("ERR ")) return std::unexpected(std::string(reply.substr(4)));
    return std::unexpected("malformed reply '" + std::string(reply) + "'");
}

std::expected<Status, std::string> parse_status(std::string_view reply) {
    auto payload = parse_reply(reply);
    if (!payload) return std::unexpected(payload.error());
    const std::string_view text = *payload;
    // The mode holds blanks, so it comes last and takes the rest of the line.
    const auto mode_at = text.find("mode=");
    if (mode_at == std::string_view::npos) {
        return std::unexpected("status reply without mode: '" + std::string(text) + "'");
    }
    Status status;
    auto mode = parse_mode(text.substr(mode_at + 5));
    if (!mode) return std::unexpected("status reply: " + mode.error());
    status.mode = *mode;
    bool seen[4] = {false, false, false, false};
    for (const auto word : split_words(text.substr(0, mode_at))) {
        const auto eq = word.find('=');
        if (eq == std::string_view::npos) {
            return std::unexpected("status field without '=': '" + std::string(word) + "'");
        }
        const auto key = word.substr(0, eq);
        auto value = parse_number(word.substr(eq + 1), key);
        if (!value) return std::unexpected(value.error());
        if (key == "reads") {
            status.reads = *value;
            seen[0] = true;
        } else if (key == "writes") {
            status.writes = *value;
            seen[1] = true;
        } else if (key == "injected") {
            status.injected = *value;
            seen[2] = true;
        } else if (key == "stalled") {
            status.stalled = *value;
            seen[3] = true;
        } else {
            return std::unexpected("unknown status field '" + std::string(key) + "'");
        }
    }
    for (const bool s : seen) {
        if (!s) return std::unexpected("status reply misses a field: '" + std::string(text) + "'");
    }
    return status;
}

}  // namespace vigil::faultfs
