// Cluster membership, quorum and status messages from corosync: a CPG group
// (virtual synchrony: every member delivers the same messages in the same
// order, its own included) and votequorum. Everything arrives through two
// fds the daemon watches; dispatch() reads what waits and never blocks.
//
// Host identity: a corosync nodeid IS the HostId (HostId{nodeid}). The
// nodelist's `nodeid:` is the one number every host must agree on anyway,
// and the status message carries it, so a sender's claim can be checked
// against what corosync says about who sent it.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/evidence.h"
#include "daemon/core/slot_codec.h"
#include "daemon/core/types.h"
#include "daemon/ports/error.h"

namespace vigil::adapters {

[[nodiscard]] inline core::HostId host_of_nodeid(std::uint32_t nodeid) {
    return core::HostId{nodeid};
}

// A delivered CPG message, checked: at most core::kMaxSlotBytes, a status
// that decodes, and one that speaks for the node corosync says sent it (a
// host cannot talk for another). The error says why it was refused; a status of
// a newer major format (core::Refusal::kNewerFormat) is refused too.
[[nodiscard]] std::expected<core::PeerMessageEvidence, core::DecodeError> validate_peer_message(
    std::uint32_t sender_nodeid, std::string_view payload);

// Distinct hosts of a CPG member list (a node may run several members),
// sorted.
[[nodiscard]] std::vector<core::HostId> hosts_of_nodeids(const std::vector<std::uint32_t>& ids);

struct ClusterOptions {
    std::string group = "vigil";  // CPG group name, at most 127 bytes
};

struct ClusterHandlers {
    // After every CPG configuration change and quorum notification. On the
    // loss of corosync it is called once more with no members, inquorate.
    std::function<void(const core::MembershipEvidence&)> on_membership;
    // Every accepted message in CPG agreed order, ours included.
    std::function<void(const core::PeerMessageEvidence&)> on_message;
    // A message refused (also counted in bad_input()); may be empty.
    std::function<void(std::uint32_t sender_nodeid, const core::DecodeError& why)> on_refused;
    // After on_refused, for a message of a newer format: the sender's vigild
    // runs (a newer release), though we cannot read what it says; may be empty.
    std::function<void(const core::PeerUnreadableEvidence&)> on_unreadable;
};

enum class SendResult : std::uint8_t {
    kSent,
    kBusy,  // corosync's queue is full (CS_ERR_TRY_AGAIN): send the next status instead
};

class Cluster {
  public:
    // Connects to the local corosync (CPG and votequorum), joins the group
    // and asks for quorum notifications. The first membership comes through
    // dispatch(). Fails when corosync is not running.
    [[nodiscard]] static std::expected<std::unique_ptr<Cluster>, Error> make(
        ClusterOptions options, ClusterHandlers handlers);
    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    // Readable when callbacks wait. Both change at reconnect() and are -1
    // while disconnected; the daemon drops its fd sources when dispatch()
    // reports the loss.
    [[nodiscard]] int cpg_fd() const { return cpg_fd_; }
    [[nodiscard]] int quorum_fd() const { return quorum_fd_; }

    // Runs every waiting callback of both connections without blocking. An
    // error means the connection to corosync is gone: the handles are closed,
    // connected() turns false, and on_membership was told (inquorate).
    [[nodiscard]] std::expected<void, Error> dispatch();

    // Multicasts our status in agreed order. Refuses a status that is not
    // ours (peers would refuse it) or too large.
    [[nodiscard]] std::expected<SendResult, Error> send(const core::HostStatus& status);

    // Drops whatever is left of the old connection and connects again; the
    // first membership comes through dispatch() as after make().
    [[nodiscard]] std::expected<void, Error> reconnect();

    [[nodiscard]] bool connected() const { return cpg_ != 0; }
    [[nodiscard]] core::HostId self() const { return host_of_nodeid(nodeid_); }
    [[nodiscard]] const std::string& group() const { return options_.group; }

    // Messages refused (vigil_bad_input_total{source="cluster"}).
    [[nodiscard]] std::uint64_t bad_input() const { return bad_input_; }
    [[nodiscard]] const std::string& last_refusal() const { return last_refusal_; }
    // Sends that found the queue full.
    [[nodiscard]] std::uint64_t busy() const { return busy_; }
    // Times the connection was lost.
    [[nodiscard]] std::uint64_t disconnects() const { return disconnects_; }

    // Called from the corosync callbacks (C linkage has no access to privates).
    void deliver(std::uint32_t nodeid, const void* msg, std::size_t size);
    void configuration(const std::vector<std::uint32_t>& members);
    void quorum(bool quorate);

  private:
    Cluster(ClusterOptions options, ClusterHandlers handlers)
        : options_(std::move(options)), handlers_(std::move(handlers)) {}
    [[nodiscard]] std::expected<void, Error> connect();
    void close();
    void lost();
    void publish();

    ClusterOptions options_;
    ClusterHandlers handlers_;
    std::uint64_t cpg_ = 0;     // cpg_handle_t, 0 when not connected
    std::uint64_t quorum_ = 0;  // votequorum_handle_t, 0 when not connected
    int cpg_fd_ = -1;
    int quorum_fd_ = -1;
    std::uint32_t nodeid_ = 0;
    std::vector<core::HostId> members_;
    bool quorate_ = false;
    // Nothing is published before both CPG's first view and votequorum's
    // first notification: half a view would read as a false quorum loss.
    bool have_members_ = false;
    bool have_quorum_ = false;
    std::uint64_t bad_input_ = 0;
    std::uint64_t busy_ = 0;
    std::uint64_t disconnects_ = 0;
    std::string last_refusal_;
};

}  // namespace vigil::adapters
