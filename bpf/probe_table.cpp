#include "bpf/probes.h"

#include <bpf/bpf.h>
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

namespace vigil::bpf {
namespace {

constexpr unsigned long kTracefsMagic = 0x74726163;

int libbpf_log(enum libbpf_print_level level, const char* format, va_list args)
{
    // libbpf's debug chatter is noise; its warnings explain load failures.
    if (level == LIBBPF_DEBUG) return 0;
    std::fputs("libbpf: ", stderr);
    return std::vfprintf(stderr, format, args);
}

bool is_tracefs(const char* path)
{
    struct statfs st {};
    return ::statfs(path, &st) == 0 && static_cast<unsigned long>(st.f_type) == kTracefsMagic;
}

}  // namespace

namespace detail {

void init_libbpf()
{
    static std::once_flag once;
    std::call_once(once, [] { libbpf_set_print(libbpf_log); });
}

std::string hook_name(const Hook& hook)
{
    return std::string("tracepoint/") + hook.group + "/" + hook.event;
}

ProbeStatus choose(const char* name, std::span<const Hook> hooks,
                   const std::expected<std::string, Error>& tracefs, const Hook** chosen)
{
    *chosen = nullptr;
    ProbeStatus status{.name = name, .hook = hook_name(hooks.front())};
    if (!tracefs) {
        status.state = ProbeState::unavailable;
        status.reason = tracefs.error().message;
    }
    for (const Hook& hook : hooks) {
        bool present = false;
        if (tracefs) {
            std::error_code ec;
            present = std::filesystem::exists(
                *tracefs + "/events/" + hook.group + "/" + hook.event, ec);
        }
        if (present && *chosen == nullptr) {
            *chosen = &hook;
            status.hook = hook_name(hook);
            bpf_program__set_autoload(hook.program, true);
        } else {
            bpf_program__set_autoload(hook.program, false);
        }
    }
    if (*chosen == nullptr && tracefs) {
        status.state = ProbeState::unavailable;
        status.reason = "this kernel has no tracepoint " + std::string(hooks.front().group) +
                        "/" + hooks.front().event;
        if (hooks.size() > 1) status.reason += " nor its alternatives";
    }
    return status;
}

void attach(ProbeStatus& status, const Hook* chosen, bpf_link** link)
{
    if (chosen == nullptr) return;
    *link = bpf_program__attach(chosen->program);
    if (*link == nullptr) {
        status.state = ProbeState::failed;
        status.reason = Error::from_errno("attaching " + status.hook, errno).message;
        return;
    }
    status.state = ProbeState::attached;
    status.reason.clear();
}

void mark_failed(std::vector<ProbeStatus>& probes, const std::string& reason)
{
    for (ProbeStatus& p : probes) {
        if (p.state == ProbeState::unavailable && !p.reason.empty()) continue;
        p.state = ProbeState::failed;
        p.reason = reason;
    }
}

}  // namespace detail

const char* to_string(ProbeState state)
{
    switch (state) {
    case ProbeState::attached:
        return "attached";
    case ProbeState::unavailable:
        return "unavailable";
    case ProbeState::failed:
        return "failed";
    }
    return "?";
}

std::expected<std::string, Error> ensure_tracefs()
{
    for (const char* path : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
        if (is_tracefs(path)) return std::string(path);
    }
    if (::mount("nodev", "/sys/kernel/tracing", "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                nullptr) != 0) {
        return std::unexpected(
            Error::from_errno("tracefs is not mounted and mounting it on /sys/kernel/tracing failed",
                              errno));
    }
    return std::string("/sys/kernel/tracing");
}

}  // namespace vigil::bpf
