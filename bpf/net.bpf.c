// SPDX-License-Identifier: GPL-2.0
/* Network evidence: per-interface receive and transmit liveness, counted in
 * the kernel and read from user space at each poll, and TX watchdog timeouts
 * (rare) through the ring buffer. Carrier changes come from rtnetlink, the
 * authoritative source, not from here.
 *
 * The hot path runs once per packet, so it does the least possible: one
 * per-CPU hash lookup and two additions, no atomics, no clock read. Only
 * interfaces of one network namespace (vigild's own) are counted, so
 * containers and test namespaces on the same kernel do not fill the map.
 *
 * tp_btf programs get the tracepoint's typed arguments: the net_device pointer
 * that net_dev_xmit's classic record does not carry, and no copy of a
 * trace record per packet. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "vigil_events.h"

char LICENSE[] SEC("license") = "GPL";

/* skb->pkt_type of a packet the host sent and loops back to itself
 * (linux/if_packet.h; a macro, so not in BTF). */
#define VIGIL_PACKET_LOOPBACK 5

const volatile __u32 vigil_abi_version = VIGIL_BPF_ABI_VERSION;
/* The network namespace to count (inode of /proc/<vigild>/ns/net). */
const volatile __u32 target_netns = 0;

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 1024);
    __type(key, struct vigil_net_if_key);
    __type(value, struct vigil_net_if_counters);
} net_if_counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 * 1024);
} net_events SEC(".maps");

/* The counters of `dev`, created on its first packet; NULL when the device
 * belongs to another namespace. The typed pointers of tp_btf are read
 * directly (relocated by CO-RE, checked by the verifier): no helper call on
 * the per-packet path. */
static __always_inline struct vigil_net_if_counters* counters_of(struct net_device* dev,
                                                                 struct vigil_net_if_key* key) {
    if (!dev) return 0;
    key->netns = dev->nd_net.net->ns.inum;
    if (key->netns != target_netns) return 0;
    key->ifindex = dev->ifindex;
    struct vigil_net_if_counters* c = bpf_map_lookup_elem(&net_if_counters, key);
    if (c) return c;
    struct vigil_net_if_counters zero = {};
    bpf_map_update_elem(&net_if_counters, key, &zero, BPF_NOEXIST);
    return bpf_map_lookup_elem(&net_if_counters, key);
}

/* Every packet a device hands to the stack, before any filter (nftables
 * ingress included): it says the wire delivers, whatever the host then does
 * with the packet. Once per packet, on the device it arrived on (a bond's
 * slave, not the bond). */
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(net_rx, struct sk_buff* skb) {
    /* The host's own multicast and broadcast, looped back to it on the device
     * it sent them from (dev_loopback_xmit), came from no wire: counted, they
     * would keep a link whose far end is gone looking alive to a host that
     * broadcasts. */
    if (BPF_CORE_READ_BITFIELD(skb, pkt_type) == VIGIL_PACKET_LOOPBACK) return 0;
    struct vigil_net_if_key key = {};
    struct vigil_net_if_counters* c = counters_of(skb->dev, &key);
    if (!c) return 0;
    c->rx_packets += 1;
    c->rx_bytes += skb->len;
    return 0;
}

/* After the driver took (or refused) a packet. The skb may already be freed,
 * so only the device and the length the tracepoint passes are used. */
SEC("tp_btf/net_dev_xmit")
int BPF_PROG(net_tx, struct sk_buff* skb, int rc, struct net_device* dev, unsigned int len) {
    struct vigil_net_if_key key = {};
    struct vigil_net_if_counters* c = counters_of(dev, &key);
    if (!c) return 0;
    if (rc == 0) {
        c->tx_packets += 1;
        c->tx_bytes += len;
    } else {
        c->tx_errors += 1;
    }
    return 0;
}

/* The device watchdog found a transmit queue stuck: rare and serious. */
SEC("tp_btf/net_dev_xmit_timeout")
int BPF_PROG(net_tx_timeout, struct net_device* dev, int queue_index) {
    struct vigil_net_if_key key = {};
    struct vigil_net_if_counters* c = counters_of(dev, &key);
    if (!c) return 0;
    c->tx_timeouts += 1;
    struct vigil_net_tx_timeout_event* ev = bpf_ringbuf_reserve(&net_events, sizeof(*ev), 0);
    if (!ev) return 0;
    ev->kind = VIGIL_EVENT_NET_TX_TIMEOUT;
    ev->ifindex = key.ifindex;
    ev->ts_ns = bpf_ktime_get_ns();
    ev->netns = key.netns;
    ev->queue = queue_index;
    BPF_CORE_READ_STR_INTO(&ev->name, dev, name);
    bpf_ringbuf_submit(ev, 0);
    return 0;
}
