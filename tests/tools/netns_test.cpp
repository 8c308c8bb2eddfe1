// NetNs: a host of the lab, reached over a veth pair, cut by a link down.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include "tests/tools/fixtures/fixtures.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;

bool link_exists(const std::string& name) { return run({"ip", "link", "show", "dev", name}).ok(); }

bool netns_listed(const std::string& name) {
    const RunResult r = run({"ip", "netns", "list"});
    return r.out.find(name) != std::string::npos;
}

// A listening socket created inside `ns`: setns() moves only the calling thread,
// so a short-lived thread makes it and the socket stays in that namespace.
int listen_inside(const NetNs& ns, const char* ip, std::uint16_t port) {
    return std::async(std::launch::async,
                      [&] {
                          const int nsfd = ::open(ns.path().c_str(), O_RDONLY | O_CLOEXEC);
                          if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) return -1;
                          ::close(nsfd);
                          const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                          sockaddr_in addr{};
                          addr.sin_family = AF_INET;
                          addr.sin_port = htons(port);
                          ::inet_pton(AF_INET, ip, &addr.sin_addr);
                          if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
                              ::listen(fd, 4) != 0) {
                              ::close(fd);
                              return -1;
                          }
                          return fd;
                      })
        .get();
}

void answer_once(int listen_fd) {
    const int conn = ::accept(listen_fd, nullptr, nullptr);
    if (conn < 0) return;
    char buf[1024];
    (void)::recv(conn, buf, sizeof(buf), 0);
    const std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\ninside";
    (void)::send(conn, reply.data(), reply.size(), MSG_NOSIGNAL);
    ::close(conn);
}

TEST(NetNsTest, VethConnectsAHostAndLinkDownCutsIt) {
    VIGIL_REQUIRE_ROOT();
    std::string name;
    const std::string outside = unique_name("vo", 15);
    const std::string inside = unique_name("vi", 15);
    {
        auto ns = NetNs::make("vigil-fx");
        ASSERT_TRUE(ns.has_value()) << ns.error();
        name = ns->name();
        EXPECT_TRUE(netns_listed(name));
        // Third octet from the pid keeps concurrent runs on separate subnets.
        const std::string net = "10.213." + std::to_string(::getpid() % 250) + ".";
        auto veth = ns->add_veth(outside, inside, net + "1/24", net + "2/24");
        ASSERT_TRUE(veth.has_value()) << veth.error();
        const RunResult addr = ns->run({"ip", "-4", "addr", "show", "dev", inside});
        EXPECT_NE(addr.out.find(net + "2/24"), std::string::npos) << addr.describe();

        const int listen_fd = listen_inside(*ns, (net + "2").c_str(), 8080);
        ASSERT_GE(listen_fd, 0);
        auto server = std::async(std::launch::async, [listen_fd] { answer_once(listen_fd); });
        auto r = http_get(net + "2", 8080, "/", 5s);
        ASSERT_TRUE(r.has_value()) << r.error();
        EXPECT_EQ(r->body, "inside");
        server.get();

        ASSERT_TRUE(ns->set_link(inside, false).has_value());
        auto cut = http_get(net + "2", 8080, "/", 300ms);
        EXPECT_FALSE(cut.has_value()) << "reached a host whose link is down";
        ::close(listen_fd);

        // A process left running inside does not keep the namespace alive.
        auto sleeper = ns->spawn({"sleep", "30"});
        ASSERT_TRUE(sleeper.has_value()) << sleeper.error();
        ASSERT_TRUE(wait_until(
            [&] {
                return !ns->run({"ip", "netns", "pids", name}).out.empty();
            },
            5s));
    }
    EXPECT_FALSE(netns_listed(name)) << name << " left behind";
    EXPECT_FALSE(link_exists(outside)) << outside << " left behind";
}

}  // namespace
}  // namespace vigil::testing
