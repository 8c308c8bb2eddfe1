// SPDX-License-Identifier: GPL-2.0
/* Design variant for bench/bpf_variants/run.sh, not part of vigild: empty programs on vigil's
 * hot-path hooks, the cost of dispatch alone. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_rq_issue, struct request* rq) { return 0; }

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete, struct request* rq, blk_status_t error, unsigned int nr_bytes) {
    return 0;
}
