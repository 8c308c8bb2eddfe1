// Per-mount NFS client RPC statistics from /proc/self/mountstats: what the
// kernel's NFS client counts for each mount (operations, retransmissions,
// major timeouts, queue and round-trip times, transport backlog). Works on
// every kernel with an NFS client, without BPF. Only NFS mounts are returned;
// malformed or truncated text is an error naming the line, never a crash.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/nfs_health.h"
#include "daemon/ports/error.h"

namespace vigil::adapters {

// One RPC procedure's counters ("READ: ops trans timeouts ..."). All are
// cumulative since the mount; the times are sums over every request.
struct NfsOpStats {
    std::string name;  // e.g. "READ", "GETATTR", "SEQUENCE"
    std::uint64_t ops = 0;
    std::uint64_t transmissions = 0;   // ops plus retransmissions
    std::uint64_t major_timeouts = 0;  // requests that hit a major timeout
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
    std::chrono::milliseconds queue{};    // waiting to be sent
    std::chrono::milliseconds rtt{};      // sent until the reply arrived
    std::chrono::milliseconds execute{};  // queued until done
    std::optional<std::uint64_t> errors;  // ops that ended in an error (kernels since 5.3)

    [[nodiscard]] std::uint64_t retransmissions() const {
        return transmissions > ops ? transmissions - ops : 0;
    }
};

enum class NfsTransport : std::uint8_t { kTcp, kUdp, kRdma, kLocal, kOther };

[[nodiscard]] std::string_view name(NfsTransport transport);

// One "xprt:" line. Counters a transport or statistics version lacks are empty.
struct NfsTransportStats {
    NfsTransport transport = NfsTransport::kOther;
    std::string name;  // as the kernel wrote it: "tcp", "udp", "rdma", "local", ...
    std::optional<std::uint32_t> source_port;
    std::uint64_t bind_count = 0;
    std::optional<std::uint64_t> connect_count;
    std::optional<std::chrono::seconds> connect_time;  // total spent connecting
    std::optional<std::chrono::seconds> idle_time;     // since the last request
    std::uint64_t sends = 0;
    std::uint64_t receives = 0;
    std::uint64_t bad_xids = 0;   // replies matching no request
    std::uint64_t request_u = 0;  // requests in flight, summed at every send
    std::uint64_t backlog_u = 0;  // backlog queue length, summed at every send
    std::optional<std::uint64_t> max_slots;
    std::optional<std::uint64_t> sending_u;
    std::optional<std::uint64_t> pending_u;

    // The backlog queue's mean length at a send; empty before the first send.
    [[nodiscard]] std::optional<double> mean_backlog() const;
};

struct NfsMountStats {
    std::string device;  // "server:/export" as mounted
    std::string server;  // "server" (brackets kept for IPv6: "[fd00::1]")
    std::string export_path;
    std::string mount_point;
    std::string fstype;  // "nfs" (v2/v3) or "nfs4"
    std::string statvers;
    std::string options;  // the opts: line, e.g. "rw,vers=4.2,...,hard,proto=tcp,timeo=600"
    std::optional<std::chrono::seconds> age;
    std::string rpc_iostats_version;  // empty when the mount has no RPC statistics
    std::uint32_t rpc_program = 0;
    std::uint32_t rpc_version = 0;
    std::vector<NfsTransportStats> transports;
    std::vector<NfsOpStats> ops;

    // The value of a mount option ("vers" -> "4.2"); "" for a flag present
    // without a value ("hard"); empty when absent.
    [[nodiscard]] std::optional<std::string> option(std::string_view key) const;
    [[nodiscard]] const NfsOpStats* op(std::string_view name) const;
    [[nodiscard]] std::uint64_t major_timeouts() const;   // over every op
    [[nodiscard]] std::uint64_t retransmissions() const;  // over every op
};

// Parses the text of /proc/<pid>/mountstats.
[[nodiscard]] std::expected<std::vector<NfsMountStats>, Error> parse_mountstats(
    std::string_view text);

// Reads and parses a mountstats file (this process's mount namespace by default).
[[nodiscard]] std::expected<std::vector<NfsMountStats>, Error> read_mountstats(
    const std::string& path = "/proc/self/mountstats");

// What the health model needs of a mount: its counters summed over every
// operation and every transport.
[[nodiscard]] core::NfsMountSample to_sample(const NfsMountStats& mount);

}  // namespace vigil::adapters
