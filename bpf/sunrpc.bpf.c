// SPDX-License-Identifier: GPL-2.0
/* NFS/SUNRPC evidence: the sunrpc tracepoints that mark a server not
 * answering, counted in the kernel per CPU (no ring-buffer traffic).
 * Each program is optional: the hooks exist only where the sunrpc module is
 * loaded (and some only on newer kernels), and the loader switches off every
 * program whose hook is missing.
 *
 * Each handler's logic lives in one inline function taking scalars. The
 * tracepoint program calls it in production; a raw_tp twin calls it with the
 * raw tracepoint's arguments so BPF_PROG_TEST_RUN can drive it with made-up
 * values on a machine without sunrpc. The twins read no sunrpc struct, so
 * they load without the sunrpc module's BTF; vigild never loads them. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "vigil_events.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 vigil_abi_version = VIGIL_BPF_ABI_VERSION;

/* Kernel-internal errno (not in uapi): a task ended because its caller was
 * signalled, which says nothing about the server. */
#define VIGIL_ERESTARTSYS 512

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, VIGIL_SUNRPC_COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} sunrpc_counts SEC(".maps");

static __always_inline void count(__u32 slot) {
    __u64* value = bpf_map_lookup_elem(&sunrpc_counts, &slot);
    /* Per-CPU slot, and BPF programs do not migrate: no atomic needed. */
    if (value) *value += 1;
}

/* rpc_check_timeout() fires rpc_timeout_status only once xprt_adjust_timeout()
 * reports a major timeout ("server not responding"), whatever tk_status is. */
static __always_inline void on_major_timeout(void) { count(VIGIL_SUNRPC_MAJOR_TIMEOUT); }

/* xprt_timer fires when a request's retransmit timer expired without a reply. */
static __always_inline void on_minor_timeout(void) { count(VIGIL_SUNRPC_MINOR_TIMEOUT); }

static __always_inline void on_retransmit(void) { count(VIGIL_SUNRPC_RETRANSMIT); }

/* An RPC ended with an error handed back to its caller (a soft mount's
 * timeout becomes EIO in the guest). A signalled caller is not the server's
 * fault, and a zero status is no error at all. */
static __always_inline void on_call_error(__s32 rpc_status) {
    if (rpc_status == 0 || rpc_status == -VIGIL_ERESTARTSYS) return;
    count(VIGIL_SUNRPC_CALL_ERROR);
}

SEC("tracepoint/sunrpc/rpc_timeout_status")
int rpc_timeout_status(void* ctx) {
    on_major_timeout();
    return 0;
}

SEC("tracepoint/sunrpc/xprt_timer")
int xprt_timer(void* ctx) {
    on_minor_timeout();
    return 0;
}

SEC("tracepoint/sunrpc/xprt_retransmit")
int xprt_retransmit(void* ctx) {
    on_retransmit();
    return 0;
}

SEC("tracepoint/sunrpc/rpc_call_rpcerror")
int rpc_call_rpcerror(struct trace_event_raw_rpc_call_rpcerror* ctx) {
    /* The record's layout comes from the sunrpc module's BTF. A kernel built
     * without module BTF still has the tracepoint: there every failed call
     * counts, signalled ones included, rather than the probe failing to load
     * and taking the other sunrpc programs (one object) down with it. */
    if (!bpf_core_field_exists(ctx->rpc_status)) {
        count(VIGIL_SUNRPC_CALL_ERROR);
        return 0;
    }
    on_call_error(BPF_CORE_READ(ctx, rpc_status));
    return 0;
}

/* Twins, for BPF_PROG_TEST_RUN only. Arguments as the raw tracepoints pass
 * them (TP_PROTO in include/trace/events/sunrpc.h); pointers are not read. */

SEC("raw_tp/rpc_timeout_status")
int BPF_PROG(twin_rpc_timeout_status, const void* task) {
    on_major_timeout();
    return 0;
}

SEC("raw_tp/xprt_timer")
int BPF_PROG(twin_xprt_timer, const void* xprt, __be32 xid, int status) {
    on_minor_timeout();
    return 0;
}

SEC("raw_tp/xprt_retransmit")
int BPF_PROG(twin_xprt_retransmit, const void* rqst) {
    on_retransmit();
    return 0;
}

SEC("raw_tp/rpc_call_rpcerror")
int BPF_PROG(twin_rpc_call_rpcerror, const void* task, int tk_status, int rpc_status) {
    on_call_error(rpc_status);
    return 0;
}
