// The fixtures that need no root: processes, temporary directories, HTTP.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "tests/tools/fixtures/fixtures.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(Subprocess, CapturesOutputAndExitCodeWithoutAShell) {
    const RunResult r = run({"sh", "-c", "echo out; echo err >&2; exit 3"});
    EXPECT_EQ(r.status, (ExitStatus{3, 0}));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
    // Arguments reach the program as they are: no word splitting, no globbing.
    const RunResult echo = run({"echo", "a  b", "*"});
    EXPECT_EQ(echo.out, "a  b *\n");
}

TEST(Subprocess, PassesEnvironmentAndDirectory) {
    auto dir = TempDir::make("env");
    ASSERT_TRUE(dir.has_value()) << dir.error();
    SpawnOptions options;
    options.env = {"VIGIL_FIXTURE_VALUE=42", "PATH=/usr/bin:/bin"};
    options.cwd = dir->path();
    const RunResult r = run({"sh", "-c", "echo $VIGIL_FIXTURE_VALUE; pwd"}, 5s, options);
    EXPECT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.out, "42\n" + dir->path().string() + "\n");
    SpawnOptions empty;
    empty.clear_env = true;
    empty.env = {"ONLY=1"};
    const RunResult env = run({"/usr/bin/env"}, 5s, empty);
    EXPECT_EQ(env.out, "ONLY=1\n");
}

TEST(Subprocess, WritesOutputToFilesWhenAsked) {
    auto dir = TempDir::make("out");
    ASSERT_TRUE(dir.has_value()) << dir.error();
    SpawnOptions options;
    options.stdout_path = *dir / "stdout.txt";
    auto proc = Subprocess::spawn({"echo", "to a file"}, options);
    ASSERT_TRUE(proc.has_value()) << proc.error();
    ASSERT_EQ(proc->wait_for(5s), (ExitStatus{0, 0}));
    std::ifstream in(*dir / "stdout.txt");
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "to a file");
    EXPECT_EQ(proc->stdout_text(), "to a file\n");
}

TEST(Subprocess, ReportsAProgramThatCannotRun) {
    auto proc = Subprocess::spawn({"/nonexistent/vigil-program"});
    ASSERT_FALSE(proc.has_value());
    EXPECT_NE(proc.error().find("No such file"), std::string::npos) << proc.error();
    const RunResult r = run({"/nonexistent/vigil-program"});
    EXPECT_EQ(r.status.code, 127);
}

TEST(Subprocess, WaitTimesOutAndTerminateEscalates) {
    // A child that ignores SIGTERM needs the SIGKILL.
    auto proc = Subprocess::spawn({"sh", "-c", "trap '' TERM; echo armed; exec sleep 30"});
    ASSERT_TRUE(proc.has_value()) << proc.error();
    ASSERT_TRUE(wait_until([&] { return proc->stdout_text() == "armed\n"; }, 5s));
    EXPECT_FALSE(proc->wait_for(50ms).has_value());
    EXPECT_TRUE(proc->running());
    const pid_t pid = proc->pid();
    const auto start = Clock::now();
    const ExitStatus end = proc->terminate(200ms);
    EXPECT_EQ(end.signal, SIGKILL) << end.describe();
    EXPECT_LT(Clock::now() - start, 3s);
    EXPECT_FALSE(process_exists(pid)) << "not reaped";
}

TEST(Subprocess, DestructorEndsTheChild) {
    pid_t pid = -1;
    {
        auto proc = Subprocess::spawn({"sleep", "30"});
        ASSERT_TRUE(proc.has_value()) << proc.error();
        pid = proc->pid();
        EXPECT_TRUE(process_exists(pid));
    }
    EXPECT_FALSE(process_exists(pid));
}

TEST(Subprocess, RunGivesUpAtTheTimeout) {
    const auto start = Clock::now();
    const RunResult r = run({"sleep", "30"}, 100ms);
    EXPECT_TRUE(r.timed_out);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status.signal, SIGTERM);
    EXPECT_LT(Clock::now() - start, 3s);
}

TEST(TempDir, IsUniqueAndRemovedWithItsContentsButNotWhatItLinksTo) {
    auto target = TempDir::make("target");
    ASSERT_TRUE(target.has_value()) << target.error();
    std::ofstream(*target / "precious") << "keep";
    std::filesystem::path kept;
    {
        auto a = TempDir::make("unique");
        auto b = TempDir::make("unique");
        ASSERT_TRUE(a.has_value() && b.has_value());
        EXPECT_NE(a->path(), b->path());
        EXPECT_NE(a->path().filename().string().find(std::to_string(::getpid())),
                  std::string::npos);
        std::filesystem::create_directories(*a / "x" / "y");
        std::ofstream(*a / "x" / "y" / "file") << "data";
        std::filesystem::create_directory_symlink(target->path(), *a / "link");
        kept = a->path();
    }
    EXPECT_FALSE(std::filesystem::exists(kept));
    EXPECT_TRUE(std::filesystem::exists(*target / "precious"));
}

TEST(WaitUntil, ReturnsAsSoonAsThePredicateHolds) {
    int calls = 0;
    EXPECT_TRUE(wait_until([&] { return ++calls == 3; }, 5s, 1ms));
    EXPECT_EQ(calls, 3);
    const auto start = Clock::now();
    EXPECT_FALSE(wait_until([] { return false; }, 50ms, 5ms));
    EXPECT_GE(Clock::now() - start, 50ms);
}

TEST(UniqueName, KeepsTheUniqueTailWithinTheLimit) {
    const std::string a = unique_name("averyveryverylongprefix", 15);
    const std::string b = unique_name("averyveryverylongprefix", 15);
    EXPECT_LE(a.size(), 15u);
    EXPECT_NE(a, b);
    EXPECT_NE(a.find(std::to_string(::getpid())), std::string::npos);
}

// Serves `reply` to one connection on an ephemeral loopback port.
class OneShotServer {
  public:
    explicit OneShotServer(std::string reply) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(addr);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
            ::listen(fd_, 1) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            ADD_FAILURE() << "no loopback server: " << std::strerror(errno);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this, reply = std::move(reply)] {
            const int conn = ::accept(fd_, nullptr, nullptr);
            if (conn < 0) return;
            char buf[2048];
            std::string got;
            while (got.find("\r\n\r\n") == std::string::npos) {
                const ssize_t n = ::recv(conn, buf, sizeof(buf), 0);
                if (n <= 0) break;
                got.append(buf, static_cast<std::size_t>(n));
            }
            request_ = got;
            (void)::send(conn, reply.data(), reply.size(), MSG_NOSIGNAL);
            ::close(conn);
        });
    }
    OneShotServer(const OneShotServer&) = delete;
    OneShotServer& operator=(const OneShotServer&) = delete;
    ~OneShotServer() {
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
    }
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] std::string request() {
        thread_.join();
        thread_ = std::thread([] {});
        return request_;
    }

  private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::string request_;
};

TEST(HttpGet, ReadsStatusHeadersAndBody) {
    OneShotServer server(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
    auto r = http_get("127.0.0.1", server.port(), "/metrics");
    ASSERT_TRUE(r.has_value()) << r.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("content-type"), "text/plain");
    EXPECT_EQ(r->header("Content-Type"), "text/plain");
    EXPECT_EQ(r->body, "hello");
    const std::string request = server.request();
    EXPECT_TRUE(request.starts_with("GET /metrics HTTP/1.1\r\n")) << request;
    EXPECT_NE(request.find("Connection: close"), std::string::npos) << request;
}

TEST(HttpGet, DecodesChunkedBodies) {
    OneShotServer server(
        "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\nnot \r\n5\r\nfound\r\n0\r\n\r\n");
    auto r = http_get("localhost", server.port(), "/missing");
    ASSERT_TRUE(r.has_value()) << r.error();
    EXPECT_EQ(r->status, 404);
    EXPECT_EQ(r->body, "not found");
}

TEST(HttpGet, FailsClearlyWithoutAServer) {
    std::uint16_t port = 0;
    {
        OneShotServer server("");
        port = server.port();
        // Connect once so the server thread ends; the port is then closed.
        // NOLINTNEXTLINE(bugprone-unused-return-value): it only wakes the server
        (void)http_get("127.0.0.1", port, "/", 1s);
    }
    auto r = http_get("127.0.0.1", port, "/", 1s);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("refused"), std::string::npos) << r.error();
}

TEST(HttpGet, TimesOutOnASilentServer) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(fd, 1), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const auto start = Clock::now();
    auto r = http_get("127.0.0.1", ntohs(addr.sin_port), "/", 200ms);
    ::close(fd);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("timed out"), std::string::npos) << r.error();
    EXPECT_LT(Clock::now() - start, 2s);
}

}  // namespace
}  // namespace vigil::testing
