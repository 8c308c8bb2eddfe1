#include "daemon/adapters/cluster.h"

#include <corosync/corotypes.h>
#include <corosync/cpg.h>
#include <corosync/votequorum.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>

#include "daemon/core/slot_codec.h"

namespace vigil::adapters {
namespace {

Error cs_error(const std::string& what, cs_error_t err) {
    return Error{what + ": " + cs_strerror(err) + " (" + std::to_string(static_cast<int>(err)) +
                 ")"};
}

Cluster* from_cpg(cpg_handle_t handle) {
    void* ctx = nullptr;
    if (cpg_context_get(handle, &ctx) != CS_OK) return nullptr;
    return static_cast<Cluster*>(ctx);
}

void on_deliver(cpg_handle_t handle, const struct cpg_name* /*group*/, uint32_t nodeid,
                uint32_t /*pid*/, void* msg, size_t msg_len) {
    if (auto* c = from_cpg(handle)) c->deliver(nodeid, msg, msg_len);
}

void on_confchg(cpg_handle_t handle, const struct cpg_name* /*group*/,
                const struct cpg_address* members, size_t n_members,
                const struct cpg_address* /*left*/, size_t /*n_left*/,
                const struct cpg_address* /*joined*/, size_t /*n_joined*/) {
    auto* c = from_cpg(handle);
    if (!c) return;
    std::vector<std::uint32_t> ids;
    ids.reserve(n_members);
    for (size_t i = 0; i < n_members; ++i) ids.push_back(members[i].nodeid);
    c->configuration(ids);
}

void on_quorum(votequorum_handle_t /*handle*/, uint64_t context, uint32_t quorate,
               uint32_t /*n_nodes*/, votequorum_node_t /*nodes*/[]) {
    if (context == 0) return;
    // NOLINTNEXTLINE(performance-no-int-to-ptr): votequorum hands our pointer back as an integer
    auto* cluster = reinterpret_cast<Cluster*>(context);
    cluster->quorum(quorate != 0);
}

}  // namespace

std::expected<core::PeerMessageEvidence, core::DecodeError> validate_peer_message(
    std::uint32_t sender_nodeid, std::string_view payload) {
    // Checked here as well as in decode_status: a huge message is refused
    // before anything looks inside it.
    if (payload.size() > core::kMaxSlotBytes) {
        return std::unexpected(core::DecodeError{core::Refusal::kMalformed,
                                                 "message of " + std::to_string(payload.size()) +
                                                     " bytes, more than " +
                                                     std::to_string(core::kMaxSlotBytes)});
    }
    auto status = core::decode_status(payload);
    if (!status) {
        return std::unexpected(core::DecodeError{status.error().reason,
                                                 "undecodable status: " + status.error().message});
    }
    if (status->host != host_of_nodeid(sender_nodeid)) {
        return std::unexpected(
            core::DecodeError{core::Refusal::kWrongSender, "node " + std::to_string(sender_nodeid) +
                                                               " sent a status of host " +
                                                               std::to_string(status->host.value)});
    }
    return core::PeerMessageEvidence{.status = std::move(*status)};
}

std::vector<core::HostId> hosts_of_nodeids(const std::vector<std::uint32_t>& ids) {
    std::vector<core::HostId> hosts;
    hosts.reserve(ids.size());
    for (auto id : ids) hosts.push_back(host_of_nodeid(id));
    std::sort(hosts.begin(), hosts.end());
    hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
    return hosts;
}

std::expected<std::unique_ptr<Cluster>, Error> Cluster::make(ClusterOptions options,
                                                             ClusterHandlers handlers) {
    if (options.group.empty() || options.group.size() >= CPG_MAX_NAME_LENGTH) {
        return std::unexpected(Error{"cluster group name must be 1 to " +
                                     std::to_string(CPG_MAX_NAME_LENGTH - 1) + " bytes"});
    }
    std::unique_ptr<Cluster> c(new Cluster(std::move(options), std::move(handlers)));
    if (auto r = c->connect(); !r) return std::unexpected(r.error());
    return c;
}

Cluster::~Cluster() { close(); }

std::expected<void, Error> Cluster::connect() {
    have_members_ = false;
    have_quorum_ = false;
    members_.clear();
    quorate_ = false;

    cpg_model_v1_data_t model{};
    model.model = CPG_MODEL_V1;
    model.cpg_deliver_fn = on_deliver;
    model.cpg_confchg_fn = on_confchg;
    cpg_handle_t cpg = 0;
    if (auto e = cpg_model_initialize(&cpg, CPG_MODEL_V1,
                                      reinterpret_cast<cpg_model_data_t*>(&model), this);
        e != CS_OK) {
        return std::unexpected(cs_error("corosync CPG connection", e));
    }
    cpg_ = cpg;
    auto fail = [this](Error e) -> std::expected<void, Error> {
        close();
        return std::unexpected(std::move(e));
    };
    unsigned int nodeid = 0;
    if (auto e = cpg_local_get(cpg, &nodeid); e != CS_OK)
        return fail(cs_error("corosync local node id", e));
    nodeid_ = nodeid;
    if (auto e = cpg_fd_get(cpg, &cpg_fd_); e != CS_OK) return fail(cs_error("CPG fd", e));

    votequorum_callbacks_t callbacks{};
    callbacks.votequorum_quorum_notify_fn = on_quorum;
    votequorum_handle_t quorum = 0;
    if (auto e = votequorum_initialize(&quorum, &callbacks); e != CS_OK)
        return fail(cs_error("corosync votequorum connection", e));
    quorum_ = quorum;
    if (auto e = votequorum_fd_get(quorum, &quorum_fd_); e != CS_OK)
        return fail(cs_error("votequorum fd", e));
    // CS_TRACK_CURRENT: the present state comes as a first notification, so
    // the start needs no separate query.
    if (auto e = votequorum_trackstart(quorum, reinterpret_cast<uint64_t>(this),
                                       CS_TRACK_CURRENT | CS_TRACK_CHANGES);
        e != CS_OK) {
        return fail(cs_error("votequorum tracking", e));
    }

    cpg_name name{};
    name.length = static_cast<uint32_t>(options_.group.size());
    std::memcpy(name.value, options_.group.data(), options_.group.size());
    // A join can meet a busy corosync (TRY_AGAIN) right after its start; a
    // few quick tries cover that without holding the loop for long.
    cs_error_t e = CS_OK;
    for (int i = 0; i < 5; ++i) {
        e = cpg_join(cpg, &name);
        if (e != CS_ERR_TRY_AGAIN) break;
        struct timespec pause {
            0, 10'000'000
        };
        ::nanosleep(&pause, nullptr);
    }
    if (e != CS_OK) return fail(cs_error("joining CPG group " + options_.group, e));
    return {};
}

void Cluster::close() {
    if (quorum_ != 0) {
        (void)votequorum_trackstop(quorum_);
        (void)votequorum_finalize(quorum_);
    }
    // cpg_finalize also leaves the group when corosync is still there.
    if (cpg_ != 0) (void)cpg_finalize(cpg_);
    cpg_ = 0;
    quorum_ = 0;
    cpg_fd_ = -1;
    quorum_fd_ = -1;
}

void Cluster::lost() {
    close();
    ++disconnects_;
    members_.clear();
    quorate_ = false;
    have_members_ = false;
    have_quorum_ = false;
    // Without corosync this host belongs to no cluster: say so once, so the
    // engine treats it as a quorum loss rather than keeping the last view.
    if (handlers_.on_membership) handlers_.on_membership(core::MembershipEvidence{});
}

std::expected<void, Error> Cluster::dispatch() {
    if (!connected()) return std::unexpected(Error{"not connected to corosync"});
    // CS_DISPATCH_ALL runs what is queued and returns: libcpg polls its
    // socket with a zero timeout in that mode.
    auto e = cpg_dispatch(cpg_, CS_DISPATCH_ALL);
    if (e == CS_OK || e == CS_ERR_TRY_AGAIN) {
        // A callback above may not have closed anything, but stay careful:
        // the handle is checked again before the second dispatch.
        if (quorum_ != 0) e = votequorum_dispatch(quorum_, CS_DISPATCH_ALL);
        if (e == CS_OK || e == CS_ERR_TRY_AGAIN) return {};
        auto err = cs_error("corosync connection lost (votequorum)", e);
        lost();
        return std::unexpected(err);
    }
    auto err = cs_error("corosync connection lost (CPG)", e);
    lost();
    return std::unexpected(err);
}

std::expected<SendResult, Error> Cluster::send(const core::HostStatus& status) {
    if (!connected()) return std::unexpected(Error{"not connected to corosync"});
    if (status.host != self()) {
        return std::unexpected(Error{"status of host " + std::to_string(status.host.value) +
                                     " cannot be sent by node " + std::to_string(nodeid_)});
    }
    std::string text = core::encode_status(status);
    if (text.size() > core::kMaxSlotBytes) {
        return std::unexpected(Error{"status of " + std::to_string(text.size()) +
                                     " bytes is larger than " +
                                     std::to_string(core::kMaxSlotBytes)});
    }
    iovec iov{.iov_base = text.data(), .iov_len = text.size()};
    auto e = cpg_mcast_joined(cpg_, CPG_TYPE_AGREED, &iov, 1);
    if (e == CS_OK) return SendResult::kSent;
    if (e == CS_ERR_TRY_AGAIN) {
        ++busy_;
        return SendResult::kBusy;
    }
    return std::unexpected(cs_error("CPG send", e));
}

std::expected<void, Error> Cluster::reconnect() {
    close();
    return connect();
}

void Cluster::deliver(std::uint32_t nodeid, const void* msg, std::size_t size) {
    auto m = validate_peer_message(nodeid, std::string_view(static_cast<const char*>(msg), size));
    if (!m) {
        ++bad_input_;
        last_refusal_ = m.error().message;
        if (handlers_.on_refused) handlers_.on_refused(nodeid, m.error());
        // Corosync says who sent it: a newer vigil on that node, which runs.
        if (m.error().reason == core::Refusal::kNewerFormat && handlers_.on_unreadable)
            handlers_.on_unreadable(core::PeerUnreadableEvidence{.peer = host_of_nodeid(nodeid)});
        return;
    }
    if (handlers_.on_message) handlers_.on_message(*m);
}

void Cluster::configuration(const std::vector<std::uint32_t>& members) {
    members_ = hosts_of_nodeids(members);
    have_members_ = true;
    publish();
}

void Cluster::quorum(bool quorate) {
    quorate_ = quorate;
    have_quorum_ = true;
    publish();
}

void Cluster::publish() {
    if (!have_members_ || !have_quorum_ || !handlers_.on_membership) return;
    handlers_.on_membership(core::MembershipEvidence{.members = members_, .quorate = quorate_});
}

}  // namespace vigil::adapters
