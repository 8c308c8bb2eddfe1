// SPDX-License-Identifier: GPL-2.0
/* Design variant for bench/bpf_variants/run.sh, not part of vigild: vigil's per-request in-flight
 * hash as it is, the histogram moved to a per-CPU array. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";
#include "vigil_events.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct vigil_inflight);
} inflight SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 256 * 33);
    __type(key, __u32);
    __type(value, __u64);
} latency SEC(".maps");

/* floor(log2(us)) clamped to 31, as vigil's histogram slots. */
static __always_inline __u32 slot_of(__u64 us) {
    __u32 slot = 0;
    if (us >> 16) {
        us >>= 16;
        slot += 16;
    }
    if (us >> 8) {
        us >>= 8;
        slot += 8;
    }
    if (us >> 4) {
        us >>= 4;
        slot += 4;
    }
    if (us >> 2) {
        us >>= 2;
        slot += 2;
    }
    if (us >> 1) slot += 1;
    return slot > 31 ? 31 : slot;
}

static __always_inline __u32 dev_of(struct request* rq) {
    struct gendisk* disk = rq->q->disk;
    return disk ? (disk->first_minor & 255) : 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_rq_issue, struct request* rq) {
    __u64 key = (__u64)rq;
    struct vigil_inflight value = {.dev = dev_of(rq), .issue_ns = bpf_ktime_get_ns()};
    bpf_map_update_elem(&inflight, &key, &value, BPF_ANY);
    return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete, struct request* rq, blk_status_t error, unsigned int nr_bytes) {
    __u64 key = (__u64)rq;
    struct vigil_inflight* in = bpf_map_lookup_elem(&inflight, &key);
    if (!in) return 0;
    __u64 us = (bpf_ktime_get_ns() - in->issue_ns) / 1000;
    __u32 dev = in->dev & 255;
    bpf_map_delete_elem(&inflight, &key);
    __u32 idx = dev * 33 + slot_of(us);
    __u64* v = bpf_map_lookup_elem(&latency, &idx);
    if (v) *v += 1;
    idx = dev * 33 + 32;
    v = bpf_map_lookup_elem(&latency, &idx);
    if (v) *v += us;
    return 0;
}
