/* Minimal kernel type declarations for vigil's CO-RE programs.
 *
 * Why hand-written and not a dump of some kernel's BTF: every struct here is
 * marked preserve_access_index, so libbpf relocates each field access against
 * the BTF of the kernel the program is loaded on (/sys/kernel/btf/vmlinux).
 * Only field names and types matter, not layout, so one small header serves
 * every architecture and kernel, builds on machines without BTF, and keeps a
 * 3 MB generated file out of the tree. A program needing a new field adds it
 * here by name. See bpf/README.md. */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u32 __be32;
typedef __u16 __be16;
typedef __u32 __wsum;
typedef _Bool bool;
typedef __u32 dev_t;
typedef __u64 sector_t;

enum {
    false = 0,
    true = 1,
};

enum bpf_map_type {
    BPF_MAP_TYPE_HASH = 1,
    BPF_MAP_TYPE_ARRAY = 2,
    BPF_MAP_TYPE_PERCPU_HASH = 5,
    BPF_MAP_TYPE_PERCPU_ARRAY = 6,
    BPF_MAP_TYPE_LRU_HASH = 9,
    BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
    BPF_ANY = 0,
    BPF_NOEXIST = 1,
    BPF_EXIST = 2,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct trace_entry {
    unsigned short type;
    unsigned char flags;
    unsigned char preempt_count;
    int pid;
};

/* Context of the block_rq_complete and block_rq_error tracepoints. */
struct trace_event_raw_block_rq_completion {
    struct trace_entry ent;
    dev_t dev;
    sector_t sector;
    unsigned int nr_sector;
    int error;
    char rwbs[8];
    char __data[0];
};

/* Context of the sunrpc rpc_timeout_status tracepoint (and its class). */
struct trace_event_raw_rpc_task_status {
    struct trace_entry ent;
    unsigned int task_id;
    unsigned int client_id;
    int status;
    char __data[0];
};

/* Context of the sunrpc rpc_call_rpcerror tracepoint. */
struct trace_event_raw_rpc_call_rpcerror {
    struct trace_entry ent;
    unsigned int task_id;
    unsigned int client_id;
    int tk_status;
    int rpc_status;
    char __data[0];
};

struct gendisk {
    int major;
    int first_minor;
};

struct request_queue {
    struct gendisk* disk;
};

struct request {
    struct request_queue* q;
    struct gendisk* rq_disk; /* kernels before 5.17; later ones use q->disk */
    u64 start_time_ns;
};

struct super_block {
    dev_t s_dev;
};

struct inode {
    unsigned short i_mode;
    dev_t i_rdev;
    struct super_block* i_sb;
};

struct address_space {
    struct inode* host;
};

/* Network devices and packets (net.bpf.c). */
struct ns_common {
    unsigned int inum;
};
struct net {
    struct ns_common ns;
};
typedef struct {
    struct net* net;
} possible_net_t;
struct net_device {
    char name[16];
    int ifindex;
    possible_net_t nd_net;
};
struct sk_buff {
    struct net_device* dev;
    unsigned int len;
    __u8 pkt_type : 3; /* read with BPF_CORE_READ_BITFIELD */
};
#pragma clang attribute pop

typedef u8 blk_status_t;
typedef u32 errseq_t;

#endif
