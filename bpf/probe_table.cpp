#include "bpf/probes.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "bpf/probe_table.h"
#include "daemon/ports/error.h"

namespace vigil::bpf {
namespace {

constexpr unsigned long kTracefsMagic = 0x74726163;

int libbpf_log(enum libbpf_print_level level, const char* format, va_list args) {
    // libbpf's debug chatter is noise; its warnings explain load failures.
    if (level == LIBBPF_DEBUG) return 0;
    std::fputs("libbpf: ", stderr);
    return std::vfprintf(stderr, format, args);
}

bool is_tracefs(const char* path) {
    struct statfs st {};
    return ::statfs(path, &st) == 0 && static_cast<unsigned long>(st.f_type) == kTracefsMagic;
}

}  // namespace

namespace detail {

void init_libbpf() {
    static std::once_flag once;
    std::call_once(once, [] { libbpf_set_print(libbpf_log); });
}

std::string hook_name(const Hook& hook) {
    switch (hook.kind) {
        case HookKind::kTracepoint:
            return std::string("tracepoint/") + hook.group + "/" + hook.event;
        case HookKind::kTpBtf:
            return std::string("tp_btf/") + hook.event;
    }
    return hook.event;
}

namespace {

// Whether this kernel has the hook, and if not, why.
std::expected<void, Error> present(const Hook& hook,
                                   const std::expected<std::string, Error>& tracefs) {
    switch (hook.kind) {
        case HookKind::kTracepoint: {
            if (!tracefs) return std::unexpected(tracefs.error().message);
            std::error_code ec;
            if (std::filesystem::exists(*tracefs + "/events/" + hook.group + "/" + hook.event,
                                        ec)) {
                return {};
            }
            return std::unexpected("this kernel has no tracepoint " + std::string(hook.group) +
                                   "/" + hook.event);
        }
        case HookKind::kTpBtf: {
            static btf* vmlinux = btf__load_vmlinux_btf();
            if (vmlinux == nullptr) return std::unexpected(std::string("this kernel has no BTF"));
            const std::string type = std::string("btf_trace_") + hook.event;
            if (btf__find_by_name_kind(vmlinux, type.c_str(), BTF_KIND_TYPEDEF) >= 0) return {};
            return std::unexpected("this kernel has no BTF tracepoint " + std::string(hook.event));
        }
    }
    return std::unexpected(std::string("unknown hook kind"));
}

}  // namespace

ProbeStatus choose(const char* name, std::span<const Hook> hooks,
                   const std::expected<std::string, Error>& tracefs, const Hook** chosen) {
    *chosen = nullptr;
    ProbeStatus status{.name = name, .hook = hook_name(hooks.front())};
    std::string first_reason;
    for (const Hook& hook : hooks) {
        const auto ok = *chosen == nullptr ? present(hook, tracefs) : std::expected<void, Error>{};
        if (*chosen == nullptr && ok) {
            *chosen = &hook;
            status.hook = hook_name(hook);
        }
        if (!ok && first_reason.empty()) first_reason = ok.error().message;
        bpf_program__set_autoload(hook.program, *chosen == &hook);
    }
    if (*chosen == nullptr) {
        status.state = ProbeState::kUnavailable;
        status.reason = first_reason;
        if (hooks.size() > 1) status.reason += " (nor its alternatives)";
    }
    return status;
}

ProbeStatus choose_all(const char* name, std::span<const Hook> hooks,
                       const std::expected<std::string, Error>& tracefs, bool* kept) {
    ProbeStatus status{.name = name, .hook = ""};
    for (const Hook& hook : hooks)
        status.hook += (status.hook.empty() ? "" : ",") + hook_name(hook);
    *kept = true;
    for (const Hook& hook : hooks) {
        if (auto ok = present(hook, tracefs); !ok) {
            *kept = false;
            status.state = ProbeState::kUnavailable;
            status.reason = ok.error().message;
            break;
        }
    }
    for (const Hook& hook : hooks) bpf_program__set_autoload(hook.program, *kept);
    return status;
}

void attach_all(ProbeStatus& status, std::span<const Hook> hooks, std::span<bpf_link*> links) {
    for (std::size_t i = 0; i < hooks.size(); ++i) {
        links[i] = bpf_program__attach(hooks[i].program);
        if (links[i] == nullptr) {
            status.state = ProbeState::kFailed;
            status.reason = Error::from_errno("attaching " + hook_name(hooks[i]), errno).message;
            return;
        }
    }
    status.state = ProbeState::kAttached;
    status.reason.clear();
}

void attach(ProbeStatus& status, const Hook* chosen, bpf_link** link) {
    if (chosen == nullptr) return;
    *link = bpf_program__attach(chosen->program);
    if (*link == nullptr) {
        status.state = ProbeState::kFailed;
        status.reason = Error::from_errno("attaching " + status.hook, errno).message;
        return;
    }
    status.state = ProbeState::kAttached;
    status.reason.clear();
}

void mark_failed(std::vector<ProbeStatus>& probes, const std::string& reason) {
    for (ProbeStatus& p : probes) {
        if (p.state == ProbeState::kUnavailable && !p.reason.empty()) continue;
        p.state = ProbeState::kFailed;
        p.reason = reason;
    }
}

}  // namespace detail

std::string_view name(ProbeState state) {
    switch (state) {
        case ProbeState::kAttached:
            return "attached";
        case ProbeState::kUnavailable:
            return "unavailable";
        case ProbeState::kFailed:
            return "failed";
    }
    return "?";
}

std::expected<std::string, Error> ensure_tracefs() {
    for (const char* path : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
        if (is_tracefs(path)) return std::string(path);
    }
    if (::mount("nodev", "/sys/kernel/tracing", "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                nullptr) != 0) {
        return std::unexpected(Error::from_errno(
            "tracefs is not mounted and mounting it on /sys/kernel/tracing failed", errno));
    }
    return std::string("/sys/kernel/tracing");
}

}  // namespace vigil::bpf
