#include "bpf/block_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "bpf/block.skel.h"
#include "bpf/probe_table.h"
#include "bpf/vigil_events.h"

namespace vigil::bpf {
namespace {

using detail::Hook;

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
    detail::init_libbpf();
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
    self->probes_.push_back(detail::choose("block_io_errors", hooks, tracefs, &chosen));

    if (chosen != nullptr) {
        if (int err = vigil_block__load(impl.skel); err != 0) {
            detail::mark_failed(self->probes_, Error::from_errno("loading block BPF programs", err).message);
            return self;
        }
        detail::attach(self->probes_.back(), chosen, &impl.link);
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

}  // namespace vigil::bpf
