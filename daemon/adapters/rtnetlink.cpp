#include "daemon/adapters/rtnetlink.h"

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vigil::adapters {
namespace {

// Large enough that a burst of changes on a host with many interfaces (a
// bond with its slaves, VLANs, a bridge with a tap per VM) does not overrun.
constexpr int kReceiveBuffer = 4 * 1024 * 1024;
// A dump's multi-part datagrams stay below 32 KiB; 64 KiB leaves room.
constexpr std::size_t kDatagram = std::size_t{64} * 1024;

std::chrono::nanoseconds monotonic_now() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

core::OperState operstate_from_kernel(std::uint8_t value) {
    switch (value) {
        case IF_OPER_NOTPRESENT:
            return core::OperState::kNotPresent;
        case IF_OPER_DOWN:
            return core::OperState::kDown;
        case IF_OPER_LOWERLAYERDOWN:
            return core::OperState::kLowerLayerDown;
        case IF_OPER_TESTING:
            return core::OperState::kTesting;
        case IF_OPER_DORMANT:
            return core::OperState::kDormant;
        case IF_OPER_UP:
            return core::OperState::kUp;
        default:
            return core::OperState::kUnknown;
    }
}

// Parses one RTM_NEWLINK/RTM_DELLINK. Bridge port reports (AF_BRIDGE) share
// the message types but describe bridge membership, not the link itself.
std::optional<LinkEvent> parse_link(const nlmsghdr* h) {
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return std::nullopt;
    const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    if (ifi->ifi_family != AF_UNSPEC) return std::nullopt;
    LinkEvent ev;
    ev.ifindex = ifi->ifi_index;
    ev.removed = h->nlmsg_type == RTM_DELLINK;
    ev.admin_up = (ifi->ifi_flags & IFF_UP) != 0;
    ev.carrier = (ifi->ifi_flags & IFF_LOWER_UP) != 0;
    int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ifinfomsg)));
    for (auto* rta = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(ifi) +
                                                     NLMSG_ALIGN(sizeof(ifinfomsg)));
         RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        const auto* payload = static_cast<const char*>(RTA_DATA(rta));
        const std::size_t size = RTA_PAYLOAD(rta);
        switch (rta->rta_type) {
            case IFLA_IFNAME:
                ev.name.assign(payload, strnlen(payload, size));
                break;
            case IFLA_OPERSTATE:
                if (size >= 1)
                    ev.operstate = operstate_from_kernel(static_cast<std::uint8_t>(payload[0]));
                break;
            case IFLA_CARRIER:
                if (size >= 1) ev.carrier = payload[0] != 0;
                break;
            case IFLA_CARRIER_CHANGES:
                if (size >= sizeof(std::uint32_t)) {
                    std::uint32_t changes = 0;
                    std::memcpy(&changes, payload, sizeof(changes));
                    ev.carrier_changes = changes;
                }
                break;
            default:
                break;
        }
    }
    return ev;
}

}  // namespace

std::expected<std::unique_ptr<LinkMonitor>, Error> LinkMonitor::make() {
    std::unique_ptr<LinkMonitor> self(new LinkMonitor());
    self->fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (self->fd_ < 0)
        return std::unexpected(Error::from_errno("opening a NETLINK_ROUTE socket", errno));
    // SO_RCVBUFFORCE passes rmem_max as root; without CAP_NET_ADMIN fall back.
    if (::setsockopt(self->fd_, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer,
                     sizeof(kReceiveBuffer)) != 0) {
        (void)::setsockopt(self->fd_, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer,
                           sizeof(kReceiveBuffer));
    }
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    local.nl_groups = RTMGRP_LINK;
    if (::bind(self->fd_, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
        return std::unexpected(Error::from_errno("subscribing to rtnetlink link changes", errno));
    }
    self->buffer_.resize(kDatagram);
    // Subscribed before dumping, so no change can fall between the two.
    if (auto ok = self->request_dump(); !ok) return std::unexpected(ok.error());
    return self;
}

LinkMonitor::~LinkMonitor() {
    if (fd_ >= 0) ::close(fd_);
}

std::expected<void, Error> LinkMonitor::request_dump() {
    struct {
        nlmsghdr header;
        ifinfomsg link;
        rtattr mask_attr;
        std::uint32_t mask;
    } request{};
    request.header.nlmsg_len = sizeof(request);
    request.header.nlmsg_type = RTM_GETLINK;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = ++seq_;
    request.link.ifi_family = AF_UNSPEC;
    // Counters are not needed here and make up most of each report.
    request.mask_attr.rta_type = IFLA_EXT_MASK;
    request.mask_attr.rta_len = RTA_LENGTH(sizeof(std::uint32_t));
    request.mask = RTEXT_FILTER_SKIP_STATS;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    for (;;) {
        const ssize_t n = ::sendto(fd_, &request, sizeof(request), 0,
                                   reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
        if (n >= 0) break;
        if (errno == EINTR) continue;
        return std::unexpected(Error::from_errno("requesting the rtnetlink link dump", errno));
    }
    dump_seq_ = request.header.nlmsg_seq;
    return {};
}

std::expected<void, Error> LinkMonitor::resync() {
    // Reports were lost: only a new dump tells the current state. A dump
    // already running may have passed the lost link, so dump again after it.
    ++resyncs_;
    if (dump_seq_ == 0) return request_dump();
    dump_again_ = true;
    return {};
}

std::expected<std::size_t, Error> LinkMonitor::drain(
    const std::function<void(const LinkEvent&)>& on_link) {
    std::size_t count = 0;
    std::optional<Error> failure;
    for (;;) {
        sockaddr_nl from{};
        iovec iov{buffer_.data(), buffer_.size()};
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof(from);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        const ssize_t n = ::recvmsg(fd_, &msg, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == ENOBUFS) {
                if (auto ok = resync(); !ok) return std::unexpected(ok.error());
                continue;
            }
            return std::unexpected(Error::from_errno("reading the rtnetlink socket", errno));
        }
        // Only the kernel speaks here; anything else is not to be believed.
        if (from.nl_pid != 0) continue;
        if ((msg.msg_flags & MSG_TRUNC) != 0) {
            if (auto ok = resync(); !ok) return std::unexpected(ok.error());
            continue;
        }
        handle(buffer_.data(), static_cast<std::size_t>(n), monotonic_now(), on_link, count,
               failure);
        if (failure) return std::unexpected(*failure);
    }
    return count;
}

void LinkMonitor::handle(const void* data, std::size_t size, std::chrono::nanoseconds now,
                         const std::function<void(const LinkEvent&)>& on_link, std::size_t& count,
                         std::optional<Error>& failure) {
    auto remaining = static_cast<unsigned int>(size);
    for (auto* h = static_cast<const nlmsghdr*>(data); NLMSG_OK(h, remaining);
         h = NLMSG_NEXT(h, remaining)) {
        const bool in_dump = dump_seq_ != 0 && h->nlmsg_seq == dump_seq_;
        switch (h->nlmsg_type) {
            case NLMSG_DONE:
                if (in_dump) {
                    dump_seq_ = 0;
                    ++dumps_done_;
                    if (dump_again_) {
                        dump_again_ = false;
                        if (auto ok = request_dump(); !ok) failure = ok.error();
                    }
                }
                break;
            case NLMSG_ERROR: {
                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) break;
                const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
                if (in_dump && err->error != 0) {
                    dump_seq_ = 0;
                    failure = Error::from_errno("rtnetlink link dump", err->error);
                }
                break;
            }
            case RTM_NEWLINK:
            case RTM_DELLINK:
                if (auto ev = parse_link(h)) {
                    ev->from_dump = in_dump;
                    ev->monotonic = now;
                    ++count;
                    on_link(*ev);
                }
                break;
            default:
                break;
        }
        if (failure) return;
    }
}

}  // namespace vigil::adapters
