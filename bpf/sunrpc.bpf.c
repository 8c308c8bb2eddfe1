// SPDX-License-Identifier: GPL-2.0
/* NFS/SUNRPC evidence: RPC tasks that ended in a major timeout. Optional: the
 * hooks exist only where the sunrpc module is loaded, and the loader switches
 * the program off when they are missing. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "vigil_events.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 vigil_abi_version = VIGIL_BPF_ABI_VERSION;

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} rpc_timeouts SEC(".maps");

SEC("tracepoint/sunrpc/rpc_timeout_status")
int rpc_timeout_status(struct trace_event_raw_rpc_task_status* ctx) {
    __u32 zero = 0;
    __u64* count = bpf_map_lookup_elem(&rpc_timeouts, &zero);
    if (count && BPF_CORE_READ(ctx, status) != 0) __sync_fetch_and_add(count, 1);
    return 0;
}
