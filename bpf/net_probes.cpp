#include "bpf/net_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "bpf/net.skel.h"
#include "bpf/probe_table.h"
#include "bpf/vigil_events.h"

namespace vigil::bpf {
namespace {

using detail::Hook;
using detail::HookKind;

// The records of bpf/vigil_events.h; make() compares them with the object's
// map sizes, on_record() with each record's exact size.
using NetIfKey = vigil_net_if_key;
using NetIfCounters = vigil_net_if_counters;
using NetTxTimeoutEvent = vigil_net_tx_timeout_event;
constexpr std::uint32_t kTxTimeoutKind = VIGIL_EVENT_NET_TX_TIMEOUT;

std::expected<std::uint32_t, Error> own_netns() {
    // thread-self: the namespace of the thread that builds the probes, which
    // is what a caller that entered another namespace means.
    struct stat st {};
    if (::stat("/proc/thread-self/ns/net", &st) != 0) {
        return std::unexpected(Error::from_errno("reading /proc/thread-self/ns/net", errno));
    }
    return static_cast<std::uint32_t>(st.st_ino);
}

}  // namespace

struct NetProbes::Impl {
    vigil_net* skel = nullptr;
    ring_buffer* ring = nullptr;
    std::vector<bpf_link*> links;
    const std::function<void(const TxTimeoutEvent&)>* sink = nullptr;
    std::uint32_t netns = 0;

    ~Impl() {
        if (ring != nullptr) ring_buffer__free(ring);
        for (bpf_link* link : links) {
            if (link != nullptr) bpf_link__destroy(link);
        }
        if (skel != nullptr) vigil_net__destroy(skel);
    }

    static int on_record(void* ctx, void* data, size_t size) {
        auto* self = static_cast<Impl*>(ctx);
        if (size != sizeof(NetTxTimeoutEvent) || self->sink == nullptr) return 0;
        NetTxTimeoutEvent raw{};
        std::memcpy(&raw, data, sizeof(raw));
        if (raw.kind != kTxTimeoutKind || raw.netns != self->netns) return 0;
        (*self->sink)(TxTimeoutEvent{
            .monotonic = std::chrono::nanoseconds(raw.ts_ns),
            .ifindex = raw.ifindex,
            .name = std::string(raw.name, strnlen(raw.name, sizeof(raw.name))),
            .queue = raw.queue,
        });
        return 0;
    }
};

std::expected<std::unique_ptr<NetProbes>, Error> NetProbes::make(const NetProbeOptions& options) {
    detail::init_libbpf();
    std::unique_ptr<NetProbes> self(new NetProbes());
    self->impl_ = std::make_unique<Impl>();
    Impl& impl = *self->impl_;
    if (options.netns_inode != 0) {
        self->netns_inode_ = options.netns_inode;
    } else {
        auto netns = own_netns();
        if (!netns) return std::unexpected(netns.error());
        self->netns_inode_ = *netns;
    }
    impl.netns = self->netns_inode_;

    impl.skel = vigil_net__open();
    if (impl.skel == nullptr)
        return std::unexpected(Error::from_errno("opening net BPF object", errno));
    if (impl.skel->rodata->vigil_abi_version != VIGIL_BPF_ABI_VERSION) {
        return std::unexpected(Error{"net BPF object has ABI version " +
                                     std::to_string(impl.skel->rodata->vigil_abi_version) +
                                     ", this vigild expects " +
                                     std::to_string(VIGIL_BPF_ABI_VERSION)});
    }
    if (bpf_map__key_size(impl.skel->maps.net_if_counters) != sizeof(NetIfKey) ||
        bpf_map__value_size(impl.skel->maps.net_if_counters) != sizeof(NetIfCounters)) {
        return std::unexpected(Error{"net BPF object's counter records differ from this vigild's"});
    }
    impl.skel->rodata->target_netns = self->netns_inode_;

    // Not used by tp_btf hooks, but choose() takes it; a missing tracefs
    // does not make them unavailable.
    const std::expected<std::string, Error> tracefs = std::unexpected(Error{"not needed"});
    const Hook rx[] = {{impl.skel->progs.net_rx, "net", "netif_receive_skb", HookKind::kTpBtf}};
    const Hook tx[] = {{impl.skel->progs.net_tx, "net", "net_dev_xmit", HookKind::kTpBtf}};
    const Hook timeout[] = {
        {impl.skel->progs.net_tx_timeout, "net", "net_dev_xmit_timeout", HookKind::kTpBtf}};
    const Hook* chosen[3] = {};
    self->probes_.push_back(detail::choose("net_rx", rx, tracefs, &chosen[0]));
    self->probes_.push_back(detail::choose("net_tx", tx, tracefs, &chosen[1]));
    self->probes_.push_back(detail::choose("net_tx_timeouts", timeout, tracefs, &chosen[2]));

    if (chosen[0] == nullptr && chosen[1] == nullptr && chosen[2] == nullptr) return self;
    if (int err = vigil_net__load(impl.skel); err != 0) {
        detail::mark_failed(self->probes_,
                            Error::from_errno("loading net BPF programs", err).message);
        return self;
    }
    impl.links.assign(3, nullptr);
    for (std::size_t i = 0; i < 3; ++i) detail::attach(self->probes_[i], chosen[i], &impl.links[i]);
    impl.ring =
        ring_buffer__new(bpf_map__fd(impl.skel->maps.net_events), &Impl::on_record, &impl, nullptr);
    if (impl.ring == nullptr) {
        return std::unexpected(Error::from_errno("creating the net ring buffer", errno));
    }
    return self;
}

NetProbes::~NetProbes() = default;

int NetProbes::event_fd() const {
    return impl_->ring != nullptr ? ring_buffer__epoll_fd(impl_->ring) : -1;
}

int NetProbes::drain(const std::function<void(const TxTimeoutEvent&)>& on_timeout) {
    if (impl_->ring == nullptr) return 0;
    impl_->sink = &on_timeout;
    const int n = ring_buffer__consume(impl_->ring);
    impl_->sink = nullptr;
    return n < 0 ? 0 : n;
}

std::vector<InterfaceCounters> NetProbes::counters() const {
    std::vector<InterfaceCounters> out;
    if (impl_->ring == nullptr) return out;
    const int fd = bpf_map__fd(impl_->skel->maps.net_if_counters);
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return out;
    std::vector<NetIfCounters> per_cpu(static_cast<std::size_t>(cpus));
    NetIfKey key{};
    NetIfKey next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (bpf_map_lookup_elem(fd, &next, per_cpu.data()) == 0 && next.netns == impl_->netns) {
            InterfaceCounters sum{.ifindex = next.ifindex};
            for (const NetIfCounters& c : per_cpu) {
                sum.rx_packets += c.rx_packets;
                sum.rx_bytes += c.rx_bytes;
                sum.tx_packets += c.tx_packets;
                sum.tx_bytes += c.tx_bytes;
                sum.tx_errors += c.tx_errors;
                sum.tx_timeouts += c.tx_timeouts;
            }
            out.push_back(sum);
        }
        key = next;
        prev = &key;
    }
    return out;
}

void NetProbes::forget(std::int32_t ifindex) {
    if (impl_->ring == nullptr) return;
    const NetIfKey key{.netns = impl_->netns, .ifindex = ifindex};
    (void)bpf_map_delete_elem(bpf_map__fd(impl_->skel->maps.net_if_counters), &key);
}

}  // namespace vigil::bpf
