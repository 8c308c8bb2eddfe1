// SPDX-License-Identifier: GPL-2.0
/* Design variant for bench/bpf_variants/run.sh, not part of vigild: the latency histogram only, in
 * a per-CPU array, timed from the request's own start stamp: no issue program, no per-request table
 * (so no oldest-request age). */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";
/* The request's own start stamp, not in vigil's vmlinux.h: a flavour of
 * struct request that CO-RE relocates against the kernel's. */
struct request___stamp {
    u64 start_time_ns;
} __attribute__((preserve_access_index));

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

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete, struct request* rq, blk_status_t error, unsigned int nr_bytes) {
    __u64 start = BPF_CORE_READ((struct request___stamp*)rq, start_time_ns);
    if (!start) return 0;
    __u64 us = (bpf_ktime_get_ns() - start) / 1000;
    __u32 dev = dev_of(rq);
    __u32 idx = dev * 33 + slot_of(us);
    __u64* v = bpf_map_lookup_elem(&latency, &idx);
    if (v) *v += 1;
    idx = dev * 33 + 32;
    v = bpf_map_lookup_elem(&latency, &idx);
    if (v) *v += us;
    return 0;
}
