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

#include "bpf/block.skel.h"
#include "bpf/sunrpc.skel.h"
#include "bpf/vigil_events.h"

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

void init_libbpf()
{
    static std::once_flag once;
    std::call_once(once, [] { libbpf_set_print(libbpf_log); });
}

bool is_tracefs(const char* path)
{
    struct statfs st {};
    return ::statfs(path, &st) == 0 && static_cast<unsigned long>(st.f_type) == kTracefsMagic;
}

// One way to get a signal: a program and the tracepoint it needs.
struct Hook {
    bpf_program* program;
    const char* group;
    const char* event;
};

std::string hook_name(const Hook& hook)
{
    return std::string("tracepoint/") + hook.group + "/" + hook.event;
}

// Picks the first hook whose tracepoint this kernel has and switches every
// other program off before load, so a missing hook never fails the object.
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

// Attaches the chosen hook; the status says how it went.
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

BlockOp op_from_kernel(std::uint32_t op)
{
    switch (op) {
    case VIGIL_BLOCK_OP_READ:
        return BlockOp::read;
    case VIGIL_BLOCK_OP_WRITE:
        return BlockOp::write;
    case VIGIL_BLOCK_OP_DISCARD:
        return BlockOp::discard;
    case VIGIL_BLOCK_OP_FLUSH:
        return BlockOp::flush;
    default:
        return BlockOp::other;
    }
}

DeviceNumber device_from_kernel(std::uint32_t dev)
{
    return DeviceNumber{dev >> VIGIL_KDEV_MINOR_BITS, dev & ((1U << VIGIL_KDEV_MINOR_BITS) - 1)};
}

}  // namespace

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

const char* to_string(BlockOp op)
{
    switch (op) {
    case BlockOp::other:
        return "other";
    case BlockOp::read:
        return "read";
    case BlockOp::write:
        return "write";
    case BlockOp::discard:
        return "discard";
    case BlockOp::flush:
        return "flush";
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

struct BlockProbes::Impl {
    vigil_block* skel = nullptr;
    ring_buffer* ring = nullptr;
    bpf_link* link = nullptr;
    const std::function<void(const BlockErrorEvent&)>* sink = nullptr;

    ~Impl()
    {
        if (ring != nullptr) ring_buffer__free(ring);
        if (link != nullptr) bpf_link__destroy(link);
        if (skel != nullptr) vigil_block__destroy(skel);
    }

    static int on_record(void* ctx, void* data, size_t size)
    {
        auto* self = static_cast<Impl*>(ctx);
        if (size < sizeof(vigil_block_error_event) || self->sink == nullptr) return 0;
        vigil_block_error_event raw{};
        std::memcpy(&raw, data, sizeof(raw));
        if (raw.kind != VIGIL_EVENT_BLOCK_ERROR) return 0;
        BlockErrorEvent ev{
            .monotonic = std::chrono::nanoseconds(raw.ts_ns),
            .device = device_from_kernel(raw.dev),
            .op = op_from_kernel(raw.op),
            .error = raw.error < 0 ? -raw.error : raw.error,
            .sector = raw.sector,
            .sectors = raw.nr_sector,
            .suppressed_before = raw.suppressed,
            .rwbs = std::string(raw.rwbs, strnlen(raw.rwbs, sizeof(raw.rwbs))),
        };
        (*self->sink)(ev);
        return 0;
    }
};

std::expected<std::unique_ptr<BlockProbes>, Error> BlockProbes::make(
    const BlockProbeOptions& options)
{
    init_libbpf();
    std::unique_ptr<BlockProbes> self(new BlockProbes());
    self->impl_ = std::make_unique<Impl>();
    Impl& impl = *self->impl_;
    impl.skel = vigil_block__open();
    if (impl.skel == nullptr) return std::unexpected(Error::from_errno("opening block BPF object", errno));
    if (impl.skel->rodata->vigil_abi_version != VIGIL_BPF_ABI_VERSION) {
        return std::unexpected(Error{"block BPF object has ABI version " +
                                     std::to_string(impl.skel->rodata->vigil_abi_version) +
                                     ", this vigild expects " +
                                     std::to_string(VIGIL_BPF_ABI_VERSION)});
    }
    impl.skel->rodata->events_per_second = options.events_per_second;

    const auto tracefs = ensure_tracefs();
    const Hook hooks[] = {
        {impl.skel->progs.block_rq_error, "block", "block_rq_error"},
        {impl.skel->progs.block_rq_complete_error, "block", "block_rq_complete"},
    };
    const Hook* chosen = nullptr;
    self->probes_.push_back(choose("block_io_errors", hooks, tracefs, &chosen));

    if (chosen != nullptr) {
        if (int err = vigil_block__load(impl.skel); err != 0) {
            mark_failed(self->probes_, Error::from_errno("loading block BPF programs", err).message);
            return self;
        }
        attach(self->probes_.back(), chosen, &impl.link);
        impl.ring = ring_buffer__new(bpf_map__fd(impl.skel->maps.events), &Impl::on_record,
                                     &impl, nullptr);
        if (impl.ring == nullptr) {
            return std::unexpected(Error::from_errno("creating the block ring buffer", errno));
        }
    }
    return self;
}

BlockProbes::~BlockProbes() = default;

int BlockProbes::event_fd() const
{
    return impl_->ring != nullptr ? ring_buffer__epoll_fd(impl_->ring) : -1;
}

int BlockProbes::drain(const std::function<void(const BlockErrorEvent&)>& on_error)
{
    if (impl_->ring == nullptr) return 0;
    impl_->sink = &on_error;
    const int n = ring_buffer__consume(impl_->ring);
    impl_->sink = nullptr;
    return n < 0 ? 0 : n;
}

std::vector<BlockErrorCount> BlockProbes::error_counts() const
{
    std::vector<BlockErrorCount> out;
    if (impl_->ring == nullptr) return out;
    const int fd = bpf_map__fd(impl_->skel->maps.block_error_counts);
    vigil_block_error_key key{};
    vigil_block_error_key next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        std::uint64_t count = 0;
        if (bpf_map_lookup_elem(fd, &next, &count) == 0) {
            out.push_back(BlockErrorCount{
                .device = device_from_kernel(next.dev),
                .op = op_from_kernel(next.op),
                .error = next.error < 0 ? -next.error : next.error,
                .count = count,
            });
        }
        key = next;
        prev = &key;
    }
    return out;
}

struct SunrpcProbes::Impl {
    vigil_sunrpc* skel = nullptr;
    bpf_link* link = nullptr;
    bool loaded = false;

    ~Impl()
    {
        if (link != nullptr) bpf_link__destroy(link);
        if (skel != nullptr) vigil_sunrpc__destroy(skel);
    }
};

std::expected<std::unique_ptr<SunrpcProbes>, Error> SunrpcProbes::make()
{
    init_libbpf();
    std::unique_ptr<SunrpcProbes> self(new SunrpcProbes());
    self->impl_ = std::make_unique<Impl>();
    Impl& impl = *self->impl_;
    impl.skel = vigil_sunrpc__open();
    if (impl.skel == nullptr) return std::unexpected(Error::from_errno("opening sunrpc BPF object", errno));
    const auto tracefs = ensure_tracefs();
    const Hook hooks[] = {{impl.skel->progs.rpc_timeout_status, "sunrpc", "rpc_timeout_status"}};
    const Hook* chosen = nullptr;
    self->probes_.push_back(choose("sunrpc_timeouts", hooks, tracefs, &chosen));
    if (chosen == nullptr) return self;
    if (int err = vigil_sunrpc__load(impl.skel); err != 0) {
        mark_failed(self->probes_, Error::from_errno("loading sunrpc BPF programs", err).message);
        return self;
    }
    impl.loaded = true;
    attach(self->probes_.back(), chosen, &impl.link);
    return self;
}

SunrpcProbes::~SunrpcProbes() = default;

std::uint64_t SunrpcProbes::major_timeouts() const
{
    if (!impl_->loaded) return 0;
    std::uint32_t zero = 0;
    std::uint64_t count = 0;
    bpf_map_lookup_elem(bpf_map__fd(impl_->skel->maps.rpc_timeouts), &zero, &count);
    return count;
}

}  // namespace vigil::bpf
