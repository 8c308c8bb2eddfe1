/* The one header shared by vigil's BPF programs and their C++ loader.
 * Fixed-width fields only; every record's size is asserted on both sides so
 * a mismatch fails the build, and VIGIL_BPF_ABI_VERSION is checked after open
 * so a stale object is refused at run time. */
#ifndef VIGIL_BPF_VIGIL_EVENTS_H
#define VIGIL_BPF_VIGIL_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define VIGIL_BPF_ABI_VERSION 3

/* C, shared with the BPF programs: C names, and C enums whose type C fixes.
 * NOLINTBEGIN(readability-identifier-naming, performance-enum-size) */

/* Latency histograms: slot k counts requests that took [2^k, 2^(k+1)) us. */
#define VIGIL_LATENCY_SLOTS 32
/* This slot holds the sum of all latencies in us instead of a count. */
#define VIGIL_LATENCY_SUM_SLOT VIGIL_LATENCY_SLOTS

/* Kernel dev_t as the block tracepoints record it: major << 20 | minor. */
#define VIGIL_KDEV_MINOR_BITS 20

enum vigil_block_op {
    VIGIL_BLOCK_OP_OTHER = 0,
    VIGIL_BLOCK_OP_READ = 1,
    VIGIL_BLOCK_OP_WRITE = 2,
    VIGIL_BLOCK_OP_DISCARD = 3,
    VIGIL_BLOCK_OP_FLUSH = 4,
};

enum vigil_event_kind {
    VIGIL_EVENT_BLOCK_ERROR = 1,
    VIGIL_EVENT_NET_TX_TIMEOUT = 16,
};

/* Slots of the sunrpc object's per-CPU counters (map sunrpc_counts). */
enum vigil_sunrpc_counter {
    VIGIL_SUNRPC_MAJOR_TIMEOUT = 0, /* rpc_timeout_status */
    VIGIL_SUNRPC_MINOR_TIMEOUT = 1, /* xprt_timer */
    VIGIL_SUNRPC_RETRANSMIT = 2,    /* xprt_retransmit */
    VIGIL_SUNRPC_CALL_ERROR = 3,    /* rpc_call_rpcerror */
    VIGIL_SUNRPC_COUNTERS = 4,
};

/* Key of the in-kernel error counters: one per device, operation and errno. */
struct vigil_block_error_key {
    __u32 dev;   /* kernel dev_t */
    __u32 op;    /* enum vigil_block_op */
    __s32 error; /* negative errno, as the kernel's tracepoint records it */
    __u32 pad;
};

/* One block I/O error, sent through the ring buffer (rate-limited per device). */
struct vigil_block_error_event {
    __u32 kind; /* VIGIL_EVENT_BLOCK_ERROR */
    __u32 dev;
    __u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
    __u64 sector;
    __u32 nr_sector;
    __s32 error;
    __u32 op;
    __u32 suppressed; /* errors on this device not sent since the last event */
    char rwbs[8];
};

struct vigil_latency_key {
    __u32 dev;
    __u32 slot;
};

/* Writeback errors as filemap_set_wb_err records them, per device and errno. */
struct vigil_wb_error_key {
    __u32 dev;   /* the block device for raw devices, else the superblock's */
    __s32 error; /* positive errno */
};

/* Per-device token bucket for the ring-buffer rate limit. */
struct vigil_rate_state {
    __u64 window_start_ns;
    __u32 sent_in_window;
    __u32 suppressed;
};

/* Per-interface liveness counters, per CPU, for interfaces of one network
 * namespace (vigild's own). */
struct vigil_net_if_key {
    __u32 netns; /* network namespace inode */
    __s32 ifindex;
};

struct vigil_net_if_counters {
    __u64 rx_packets;
    __u64 rx_bytes;
    __u64 tx_packets;
    __u64 tx_bytes;
    __u64 tx_errors; /* the driver refused the packet (rc != NETDEV_TX_OK) */
    __u64 tx_timeouts;
};

/* A TX watchdog timeout, sent through the ring buffer (rare). */
struct vigil_net_tx_timeout_event {
    __u32 kind; /* VIGIL_EVENT_NET_TX_TIMEOUT */
    __s32 ifindex;
    __u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
    __u32 netns;
    __s32 queue;
    char name[16];
};

#ifdef __cplusplus
static_assert(sizeof(struct vigil_block_error_key) == 16, "ABI: vigil_block_error_key");
static_assert(sizeof(struct vigil_block_error_event) == 48, "ABI: vigil_block_error_event");
static_assert(sizeof(struct vigil_rate_state) == 16, "ABI: vigil_rate_state");
static_assert(sizeof(struct vigil_latency_key) == 8, "ABI: vigil_latency_key");
static_assert(sizeof(struct vigil_wb_error_key) == 8, "ABI: vigil_wb_error_key");
static_assert(sizeof(struct vigil_net_if_key) == 8, "ABI: vigil_net_if_key");
static_assert(sizeof(struct vigil_net_if_counters) == 48, "ABI: vigil_net_if_counters");
static_assert(sizeof(struct vigil_net_tx_timeout_event) == 40, "ABI: vigil_net_tx_timeout_event");
#else
_Static_assert(sizeof(struct vigil_block_error_key) == 16, "ABI: vigil_block_error_key");
_Static_assert(sizeof(struct vigil_block_error_event) == 48, "ABI: vigil_block_error_event");
_Static_assert(sizeof(struct vigil_rate_state) == 16, "ABI: vigil_rate_state");
_Static_assert(sizeof(struct vigil_latency_key) == 8, "ABI: vigil_latency_key");
_Static_assert(sizeof(struct vigil_wb_error_key) == 8, "ABI: vigil_wb_error_key");
_Static_assert(sizeof(struct vigil_net_if_key) == 8, "ABI: vigil_net_if_key");
_Static_assert(sizeof(struct vigil_net_if_counters) == 48, "ABI: vigil_net_if_counters");
_Static_assert(sizeof(struct vigil_net_tx_timeout_event) == 40, "ABI: vigil_net_tx_timeout_event");
#endif

/* NOLINTEND(readability-identifier-naming, performance-enum-size) */

#endif
