// Runs the cluster adapter inside a lab host and reports what it sees, one
// line per event on stdout, for cluster_lab_test:
//   self N | members q=0|1 ID,ID,... | msg HOST SEQ | refused NODE REASON
//   sent-busy | lost REASON | reconnect-failed REASON | reconnected
// It sends its own status every --send-ms and reconnects every 300 ms after
// losing corosync. --forge N multicasts, once the group has N hosts and
// through a raw CPG handle of its own, one garbage message and one status
// claiming another host, so the receivers' refusals can be checked on real
// deliveries.
#include <corosync/cpg.h>
#include <poll.h>
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "daemon/adapters/cluster.h"
#include "daemon/core/slot_codec.h"

namespace {

using namespace vigil;
using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

void say(const std::string& line) { std::cout << line << '\n' << std::flush; }

// CPG knows a member by node and pid, and a pid joins a group once: the
// forger is a child process.
bool forge_in_child(const std::string& group, std::uint32_t self) {
    cpg_handle_t h = 0;
    cpg_callbacks_t callbacks{};
    if (auto e = cpg_initialize(&h, &callbacks); e != CS_OK) {
        say("forge-failed initialize " + std::to_string(e));
        return false;
    }
    cpg_name name{};
    name.length = static_cast<uint32_t>(group.size());
    std::memcpy(name.value, group.data(), group.size());
    if (auto e = cpg_join(h, &name); e != CS_OK) {
        say("forge-failed join " + std::to_string(e));
        (void)cpg_finalize(h);
        return false;
    }
    std::string garbage = "not a status";
    std::string other = core::encode_status(core::HostStatus{.host = core::HostId{self + 100}});
    bool ok = true;
    for (std::string* m : {&garbage, &other}) {
        iovec iov{.iov_base = m->data(), .iov_len = m->size()};
        if (auto e = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1); e != CS_OK) {
            say("forge-failed send " + std::to_string(e));
            ok = false;
        }
    }
    (void)cpg_finalize(h);
    if (ok) say("forged");
    return ok;
}

bool forge(const std::string& group, std::uint32_t self) {
    const pid_t child = ::fork();
    if (child < 0) return false;
    if (child == 0) ::_exit(forge_in_child(group, self) ? 0 : 1);
    int status = 0;
    ::waitpid(child, &status, 0);
    return true;  // tried once: a retry could deliver duplicates
}

}  // namespace

int main(int argc, char** argv) {
    std::string group = "vigil";
    int send_ms = 200;
    std::size_t forge_at = 0;  // hosts in the group before forging; 0: never
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--group" && i + 1 < argc) {
            group = argv[++i];
        } else if (a == "--send-ms" && i + 1 < argc) {
            send_ms = std::stoi(argv[++i]);
        } else if (a == "--forge" && i + 1 < argc) {
            forge_at = std::stoul(argv[++i]);
        } else {
            std::cerr << "usage: cluster_probe [--group G] [--send-ms N] [--forge HOSTS]\n";
            return 2;
        }
    }
    ::signal(SIGTERM, on_signal);
    ::signal(SIGINT, on_signal);

    bool quorate = false;
    std::size_t members = 0;
    bool forged = forge_at == 0;
    adapters::ClusterHandlers handlers{
        .on_membership =
            [&](const core::MembershipEvidence& m) {
                quorate = m.quorate;
                members = m.members.size();
                std::string ids;
                for (auto h : m.members) ids += (ids.empty() ? "" : ",") + std::to_string(h.value);
                say("members q=" + std::to_string(m.quorate ? 1 : 0) + " " + ids);
            },
        .on_message =
            [](const core::PeerMessageEvidence& m) {
                say("msg " + std::to_string(m.status.host.value) + " " +
                    std::to_string(m.status.sequence));
            },
        .on_refused =
            [](std::uint32_t node, const core::DecodeError& why) {
                say("refused " + std::to_string(node) + " " + why.message);
            },
    };
    auto made = adapters::Cluster::make({.group = group}, handlers);
    if (!made) {
        say("connect-failed " + made.error().message);
        return 1;
    }
    auto& cluster = **made;
    say("self " + std::to_string(cluster.self().value));

    const std::uint64_t incarnation = static_cast<std::uint64_t>(::getpid());
    std::uint64_t sequence = 0;
    auto next_send = Clock::now();
    auto next_reconnect = Clock::now();
    bool reported_failure = false;
    while (!g_stop) {
        const auto now = Clock::now();
        if (!cluster.connected()) {
            if (now >= next_reconnect) {
                if (auto r = cluster.reconnect(); r) {
                    say("reconnected");
                    reported_failure = false;
                } else if (!reported_failure) {
                    say("reconnect-failed " + r.error().message);
                    reported_failure = true;
                }
                next_reconnect = now + std::chrono::milliseconds(300);
            }
            if (!cluster.connected()) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                continue;
            }
        }
        if (now >= next_send) {
            if (!forged && members >= forge_at) forged = forge(group, cluster.self().value);
            auto r = cluster.send(core::HostStatus{.host = cluster.self(),
                                                   .incarnation = incarnation,
                                                   .sequence = sequence + 1,
                                                   .quorate = quorate});
            if (r && *r == adapters::SendResult::kSent) ++sequence;
            if (r && *r == adapters::SendResult::kBusy) say("sent-busy");
            if (!r) say("send-failed " + r.error().message);
            next_send = now + std::chrono::milliseconds(send_ms);
        }
        pollfd fds[2] = {{cluster.cpg_fd(), POLLIN, 0}, {cluster.quorum_fd(), POLLIN, 0}};
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_send - now);
        ::poll(fds, 2, static_cast<int>(std::max<std::int64_t>(1, wait.count())));
        if (auto r = cluster.dispatch(); !r) {
            say("lost " + r.error().message);
            next_reconnect = Clock::now() + std::chrono::milliseconds(300);
        }
    }
    say("bad-input " + std::to_string(cluster.bad_input()) + " busy " +
        std::to_string(cluster.busy()));
    return 0;
}
