// SPDX-License-Identifier: GPL-2.0
/* Block-layer evidence: I/O errors per device, operation and errno.
 *
 * The classic tracepoints are used on purpose: their records carry the errno
 * the kernel itself derived from blk_status_t (blk_status_to_errno), whose
 * numbering differs across kernel versions and must never be hard-coded here. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "vigil_events.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 vigil_abi_version = VIGIL_BPF_ABI_VERSION;
/* Ring-buffer events allowed per device per second; the rest are counted. */
const volatile __u32 events_per_second = 20;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct vigil_block_error_key);
    __type(value, __u64);
} block_error_counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, struct vigil_rate_state);
} block_error_rate SEC(".maps");

/* Completed requests by latency, per device: per-CPU, so the hot path takes
 * no lock and no atomic; user space sums the CPUs. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 1024 * (VIGIL_LATENCY_SLOTS + 1));
    __type(key, struct vigil_latency_key);
    __type(value, __u64);
} latency SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, struct vigil_wb_error_key);
    __type(value, __u64);
} wb_error_counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 256 * 1024);
} events SEC(".maps");

#define KDEV(major, minor) (((__u32)(major) << VIGIL_KDEV_MINOR_BITS) | (__u32)(minor))

static __always_inline __u32 request_dev(struct request* rq) {
    struct gendisk* disk = 0;
    if (bpf_core_field_exists(rq->rq_disk))
        disk = BPF_CORE_READ(rq, rq_disk);
    else
        disk = BPF_CORE_READ(rq, q, disk);
    if (!disk) return 0;
    return KDEV(BPF_CORE_READ(disk, major), BPF_CORE_READ(disk, first_minor));
}

static __always_inline void count(void* map, const void* key) {
    __u64 one = 1;
    __u64* value = bpf_map_lookup_elem(map, key);
    if (value)
        __sync_fetch_and_add(value, 1);
    else if (bpf_map_update_elem(map, key, &one, BPF_NOEXIST) != 0) {
        value = bpf_map_lookup_elem(map, key);
        if (value) __sync_fetch_and_add(value, 1);
    }
}

/* floor(log2(us)), branch-free, clamped to the histogram. */
static __always_inline __u32 log2_slot(__u64 us) {
    __u32 r = (us > 0xFFFFFFFFULL) << 5;
    us >>= r;
    __u32 shift = (us > 0xFFFF) << 4;
    us >>= shift;
    r |= shift;
    shift = (us > 0xFF) << 3;
    us >>= shift;
    r |= shift;
    shift = (us > 0xF) << 2;
    us >>= shift;
    r |= shift;
    shift = (us > 0x3) << 1;
    us >>= shift;
    r |= shift;
    r |= (__u32)(us >> 1);
    return r < VIGIL_LATENCY_SLOTS ? r : VIGIL_LATENCY_SLOTS - 1;
}

static __always_inline __u32 op_of(const char* rwbs) {
    char c = rwbs[0];
    /* A leading F is the preflush of a write or read: the op follows it. */
    if (c == 'F' && (rwbs[1] == 'W' || rwbs[1] == 'R' || rwbs[1] == 'D')) c = rwbs[1];
    switch (c) {
        case 'R':
            return VIGIL_BLOCK_OP_READ;
        case 'W':
            return VIGIL_BLOCK_OP_WRITE;
        case 'D':
            return VIGIL_BLOCK_OP_DISCARD;
        case 'F':
            return VIGIL_BLOCK_OP_FLUSH;
    }
    return VIGIL_BLOCK_OP_OTHER;
}

/* Returns how many earlier errors were suppressed, or -1 to suppress this one. */
static __always_inline int rate_limit(__u32 dev, __u64 now) {
    struct vigil_rate_state fresh = {.window_start_ns = now};
    struct vigil_rate_state* st = bpf_map_lookup_elem(&block_error_rate, &dev);
    if (!st) {
        bpf_map_update_elem(&block_error_rate, &dev, &fresh, BPF_NOEXIST);
        st = bpf_map_lookup_elem(&block_error_rate, &dev);
        if (!st) return 0;
    }
    if (now - st->window_start_ns >= 1000000000ULL) {
        st->window_start_ns = now;
        st->sent_in_window = 0;
    }
    if (st->sent_in_window >= events_per_second) {
        __sync_fetch_and_add(&st->suppressed, 1);
        return -1;
    }
    st->sent_in_window++;
    __u32 suppressed = st->suppressed;
    st->suppressed = 0;
    return (int)suppressed;
}

static __always_inline int record_error(struct trace_event_raw_block_rq_completion* ctx) {
    int error = BPF_CORE_READ(ctx, error);
    if (error == 0) return 0;

    char rwbs[8] = {};
    bpf_probe_read_kernel(rwbs, sizeof(rwbs), __builtin_preserve_access_index(&ctx->rwbs));
    struct vigil_block_error_key key = {
        .dev = BPF_CORE_READ(ctx, dev),
        .op = op_of(rwbs),
        .error = error,
    };
    count(&block_error_counts, &key);

    __u64 now = bpf_ktime_get_ns();
    int suppressed = rate_limit(key.dev, now);
    if (suppressed < 0) return 0;
    struct vigil_block_error_event* ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
    if (!ev) return 0;
    ev->kind = VIGIL_EVENT_BLOCK_ERROR;
    ev->dev = key.dev;
    ev->ts_ns = now;
    ev->sector = BPF_CORE_READ(ctx, sector);
    ev->nr_sector = BPF_CORE_READ(ctx, nr_sector);
    ev->error = error;
    ev->op = key.op;
    ev->suppressed = (__u32)suppressed;
    __builtin_memcpy(ev->rwbs, rwbs, sizeof(rwbs));
    bpf_ringbuf_submit(ev, 0);
    return 0;
}

/* Kernels since 5.17 report failed requests here. */
SEC("tracepoint/block/block_rq_error")
int block_rq_error(struct trace_event_raw_block_rq_completion* ctx) { return record_error(ctx); }

/* Older kernels: failed requests are completions with a non-zero error. */
SEC("tracepoint/block/block_rq_complete")
int block_rq_complete_error(struct trace_event_raw_block_rq_completion* ctx) {
    return record_error(ctx);
}

/* The request carries its own start time (set by blk-mq when I/O
 * statistics are on, the default), so no per-request table is needed: the
 * hot path is one per-CPU lookup. Requests without it are not timed. */
SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete, struct request* rq, blk_status_t error, unsigned int nr_bytes) {
    __u64 start = BPF_CORE_READ(rq, start_time_ns);
    if (start == 0) return 0;
    __u64 now = bpf_ktime_get_ns();
    if (now <= start) return 0;
    __u64 us = (now - start) / 1000;
    __u32 dev = request_dev(rq);
    struct vigil_latency_key lkey = {.dev = dev, .slot = log2_slot(us)};
    struct vigil_latency_key skey = {.dev = dev, .slot = VIGIL_LATENCY_SUM_SLOT};
    __u64 one = 1;
    __u64* count = bpf_map_lookup_elem(&latency, &lkey);
    if (count)
        *count += 1;
    else
        bpf_map_update_elem(&latency, &lkey, &one, BPF_NOEXIST);
    /* The sum of latencies (for the histogram's _sum) sits in an extra slot. */
    __u64* sum = bpf_map_lookup_elem(&latency, &skey);
    if (sum)
        *sum += us;
    else
        bpf_map_update_elem(&latency, &skey, &us, BPF_NOEXIST);
    return 0;
}

#define S_IFMT 00170000
#define S_IFBLK 0060000
#define MAX_ERRNO 4095

/* Noisy under a failing device: counted here, summarised by user space. */
SEC("tp_btf/filemap_set_wb_err")
int BPF_PROG(filemap_set_wb_err, struct address_space* mapping, errseq_t eseq) {
    struct inode* host = BPF_CORE_READ(mapping, host);
    if (!host) return 0;
    struct vigil_wb_error_key key = {.error = (__s32)(eseq & MAX_ERRNO)};
    /* A raw block device's superblock is the shared bdev one: use the
     * device the inode stands for instead. */
    if ((BPF_CORE_READ(host, i_mode) & S_IFMT) == S_IFBLK)
        key.dev = BPF_CORE_READ(host, i_rdev);
    else
        key.dev = BPF_CORE_READ(host, i_sb, s_dev);
    count(&wb_error_counts, &key);
    return 0;
}
