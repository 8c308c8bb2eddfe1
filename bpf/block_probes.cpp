#include "bpf/block_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "bpf/block.skel.h"
#include "bpf/probe_table.h"
#include "bpf/vigil_events.h"

namespace vigil::bpf {

static_assert(std::tuple_size_v<decltype(LatencyHistogram::slots)> == VIGIL_LATENCY_SLOTS);

namespace {

using detail::Hook;

BlockOp op_from_kernel(std::uint32_t op) {
    switch (op) {
        case VIGIL_BLOCK_OP_READ:
            return BlockOp::kRead;
        case VIGIL_BLOCK_OP_WRITE:
            return BlockOp::kWrite;
        case VIGIL_BLOCK_OP_DISCARD:
            return BlockOp::kDiscard;
        case VIGIL_BLOCK_OP_FLUSH:
            return BlockOp::kFlush;
        default:
            return BlockOp::kOther;
    }
}

DeviceNumber device_from_kernel(std::uint32_t dev) {
    return DeviceNumber{dev >> VIGIL_KDEV_MINOR_BITS, dev & ((1U << VIGIL_KDEV_MINOR_BITS) - 1)};
}

// Visits every entry of a hash map. Entries may come and go meanwhile; one
// deleted under us ends the walk early, which the next scan makes up for.
template <typename Key, typename Value, typename Visit>
void for_each_entry(int fd, Visit&& visit) {
    Key key{};
    Key next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        Value value{};
        if (bpf_map_lookup_elem(fd, &next, &value) == 0) visit(next, value);
        key = next;
        prev = &key;
    }
}

}  // namespace

std::string_view name(BlockOp op) {
    switch (op) {
        case BlockOp::kOther:
            return "other";
        case BlockOp::kRead:
            return "read";
        case BlockOp::kWrite:
            return "write";
        case BlockOp::kDiscard:
            return "discard";
        case BlockOp::kFlush:
            return "flush";
    }
    return "?";
}

struct BlockProbes::Impl {
    vigil_block* skel = nullptr;
    ring_buffer* ring = nullptr;
    bpf_link* link = nullptr;
    bpf_link* latency_link = nullptr;
    bpf_link* wb_link = nullptr;
    bool loaded = false;
    const std::function<void(const BlockErrorEvent&)>* sink = nullptr;

    ~Impl() {
        if (ring != nullptr) ring_buffer__free(ring);
        if (link != nullptr) bpf_link__destroy(link);
        if (latency_link != nullptr) bpf_link__destroy(latency_link);
        if (wb_link != nullptr) bpf_link__destroy(wb_link);
        if (skel != nullptr) vigil_block__destroy(skel);
    }

    static int on_record(void* ctx, void* data, size_t size) {
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
    const BlockProbeOptions& options) {
    detail::init_libbpf();
    std::unique_ptr<BlockProbes> self(new BlockProbes());
    self->impl_ = std::make_unique<Impl>();
    Impl& impl = *self->impl_;
    impl.skel = vigil_block__open();
    if (impl.skel == nullptr)
        return std::unexpected(Error::from_errno("opening block BPF object", errno));
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
    const Hook latency_hooks[] = {
        {impl.skel->progs.block_rq_complete, "", "block_rq_complete", detail::HookKind::kTpBtf},
    };
    bool latency_kept = false;
    self->probes_.push_back(
        detail::choose_all("block_latency", latency_hooks, tracefs, &latency_kept));
    const Hook wb_hooks[] = {
        {impl.skel->progs.filemap_set_wb_err, "", "filemap_set_wb_err", detail::HookKind::kTpBtf},
    };
    bool wb_kept = false;
    self->probes_.push_back(detail::choose_all("writeback_errors", wb_hooks, tracefs, &wb_kept));
    if (chosen == nullptr && !latency_kept && !wb_kept) return self;

    if (int err = vigil_block__load(impl.skel); err != 0) {
        detail::mark_failed(self->probes_,
                            Error::from_errno("loading block BPF programs", err).message);
        return self;
    }
    impl.loaded = true;
    detail::attach(self->probes_[0], chosen, &impl.link);
    if (latency_kept) {
        detail::attach_all(self->probes_[1], latency_hooks,
                           std::span<bpf_link*>(&impl.latency_link, 1));
    }
    if (wb_kept)
        detail::attach_all(self->probes_[2], wb_hooks, std::span<bpf_link*>(&impl.wb_link, 1));
    impl.ring =
        ring_buffer__new(bpf_map__fd(impl.skel->maps.events), &Impl::on_record, &impl, nullptr);
    if (impl.ring == nullptr) {
        return std::unexpected(Error::from_errno("creating the block ring buffer", errno));
    }
    return self;
}

BlockProbes::~BlockProbes() = default;

int BlockProbes::event_fd() const {
    return impl_->ring != nullptr ? ring_buffer__epoll_fd(impl_->ring) : -1;
}

int BlockProbes::drain(const std::function<void(const BlockErrorEvent&)>& on_error) {
    if (impl_->ring == nullptr) return 0;
    impl_->sink = &on_error;
    const int n = ring_buffer__consume(impl_->ring);
    impl_->sink = nullptr;
    return n < 0 ? 0 : n;
}

std::vector<BlockErrorCount> BlockProbes::error_counts() const {
    std::vector<BlockErrorCount> out;
    if (!impl_->loaded) return out;
    for_each_entry<vigil_block_error_key, std::uint64_t>(
        bpf_map__fd(impl_->skel->maps.block_error_counts),
        [&](const vigil_block_error_key& k, const std::uint64_t& count) {
            out.push_back(BlockErrorCount{
                .device = device_from_kernel(k.dev),
                .op = op_from_kernel(k.op),
                .error = k.error < 0 ? -k.error : k.error,
                .count = count,
            });
        });
    return out;
}

std::vector<LatencyHistogram> BlockProbes::latency() const {
    std::map<std::uint32_t, LatencyHistogram> by_dev;
    if (!impl_->loaded) return {};
    // A per-CPU map: each lookup returns one value per possible CPU.
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return {};
    std::vector<std::uint64_t> values(static_cast<std::size_t>(cpus));
    const int fd = bpf_map__fd(impl_->skel->maps.latency);
    vigil_latency_key key{};
    vigil_latency_key next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, values.data()) == 0) {
            std::uint64_t total = 0;
            for (const auto v : values) total += v;
            auto& h = by_dev[next.dev];
            h.device = device_from_kernel(next.dev);
            if (next.slot < h.slots.size()) h.slots[next.slot] = total;
            if (next.slot == VIGIL_LATENCY_SUM_SLOT) h.sum_us = total;
        }
        key = next;
        prev = &key;
    }
    std::vector<LatencyHistogram> out;
    out.reserve(by_dev.size());
    for (auto& [dev, h] : by_dev) out.push_back(h);
    return out;
}

std::vector<WritebackErrorCount> BlockProbes::writeback_errors() const {
    std::vector<WritebackErrorCount> out;
    if (!impl_->loaded) return out;
    for_each_entry<vigil_wb_error_key, std::uint64_t>(
        bpf_map__fd(impl_->skel->maps.wb_error_counts),
        [&](const vigil_wb_error_key& k, const std::uint64_t& count) {
            out.push_back({device_from_kernel(k.dev), k.error, count});
        });
    return out;
}

}  // namespace vigil::bpf
