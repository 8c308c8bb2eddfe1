// Internal to bpf/: the probe-table mechanics each domain's loader uses.
#pragma once

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

#include "bpf/probes.h"

struct bpf_link;
struct bpf_program;

namespace vigil::bpf::detail {

// Routes libbpf's warnings to stderr, drops its debug output. Idempotent.
void init_libbpf();

enum class HookKind : std::uint8_t { kTracepoint, kTpBtf };

// One way to get a signal: a program and the tracepoint it needs. Classic
// tracepoints are found in tracefs; BTF tracepoints in the kernel's BTF.
struct Hook {
    bpf_program* program;
    const char* group;  // tracefs group; unused for tp_btf
    const char* event;
    HookKind kind = HookKind::kTracepoint;
};

std::string hook_name(const Hook& hook);

// Picks the first hook whose tracepoint this kernel has and switches every
// other program off before load, so a missing hook never fails the object.
ProbeStatus choose(const char* name, std::span<const Hook> hooks,
                   const std::expected<std::string, Error>& tracefs, const Hook** chosen);

// For a probe that needs every one of `hooks` (e.g. issue and completion):
// either all are kept for load, or all are switched off. Returns whether kept.
ProbeStatus choose_all(const char* name, std::span<const Hook> hooks,
                       const std::expected<std::string, Error>& tracefs, bool* kept);

// Attaches the chosen hook; the status says how it went.
void attach(ProbeStatus& status, const Hook* chosen, bpf_link** link);

// Attaches every hook of a choose_all() probe; links[i] belongs to hooks[i].
void attach_all(ProbeStatus& status, std::span<const Hook> hooks, std::span<bpf_link*> links);

// After a failed load: every probe that was going to attach has failed.
void mark_failed(std::vector<ProbeStatus>& probes, const std::string& reason);

}  // namespace vigil::bpf::detail
