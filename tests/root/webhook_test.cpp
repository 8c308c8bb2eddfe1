// The webhook receiver against a real prometheus-alertmanager, both inside
// a network namespace of their own (Alertmanager's cluster gossip off), so
// nothing listens on the machine's ports. The receiver's loop thread enters
// the namespace before it binds. Alertmanager posts real notifications for
// alerts the test raises and resolves through its API, and repeats them;
// curl sends the garbage, the oversized and the unauthenticated requests.
#include <fcntl.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "daemon/adapters/event_loop.h"
#include "daemon/adapters/journal.h"
#include "exporters/metrics.h"
#include "exporters/webhook.h"
#include "tests/tools/fixtures/fixtures.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;
using exporters::AlertAction;
using exporters::HostAction;
using exporters::WebhookResult;

constexpr std::uint16_t kReceiverPort = 9775;  // inside the namespace only
constexpr std::uint16_t kAlertmanagerPort = 9093;
constexpr std::size_t kBodyLimit = 8192;
constexpr const char* kToken = "s3cret-token-for-the-webhook-test";

void write_file(const std::filesystem::path& p, const std::string& text, mode_t mode) {
    std::ofstream(p) << text;
    ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

class Webhook : public RootTest {
  protected:
    void SetUp() override {
        RootTest::SetUp();
        if (HasFatalFailure()) return;
        auto dir = TempDir::make("webhook");
        ASSERT_TRUE(dir) << dir.error();
        dir_.emplace(std::move(*dir));
        write_file(dir_->path() / "token", std::string(kToken) + "\n", 0600);
        auto ns = NetNs::make("vigil-wh");
        ASSERT_TRUE(ns) << ns.error();
        ns_.emplace(std::move(*ns));
        auto metrics = exporters::Metrics::make({.serve = false, .version = "test"});
        ASSERT_TRUE(metrics);
        metrics_ = std::move(*metrics);
        stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ASSERT_GE(stop_fd_, 0);
        loop_thread_ = std::thread([this] { run_loop(); });
        ASSERT_TRUE(wait_until([&] { return ready_.load(); }, 10s));
        ASSERT_TRUE(receiver_ok_.load()) << "the receiver did not start";
    }

    void TearDown() override {
        alertmanager_.reset();
        if (loop_thread_.joinable()) {
            const std::uint64_t one = 1;
            (void)!::write(stop_fd_, &one, sizeof one);
            loop_thread_.join();
        }
        if (stop_fd_ >= 0) ::close(stop_fd_);
        ns_.reset();
    }

    void run_loop() {
        // This thread only: every socket it (and civetweb) makes is the namespace's.
        const int fd = ::open(ns_->path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
            ADD_FAILURE() << "cannot enter " << ns_->path();
            ready_ = true;
            return;
        }
        ::close(fd);
        auto loop = adapters::EventLoop::make();
        if (!loop) {
            ready_ = true;
            return;
        }
        adapters::Journal journal(adapters::Priority::kInfo);
        exporters::WebhookOptions options;
        options.port = kReceiverPort;
        options.token_file = dir_->path() / "token";
        options.max_body_bytes = kBodyLimit;
        options.rules = {
            exporters::AlertRule{.alert = "HostHardwareDegraded",
                                 .labels = {{"severity", "critical"}},
                                 .action = HostAction::kDrain},
            exporters::AlertRule{.alert = "HostPlannedWork",
                                 .action = HostAction::kMaintenanceOn,
                                 .resolved_action = HostAction::kMaintenanceOff,
                                 .host_label = "instance"},
        };
        auto receiver = exporters::WebhookReceiver::make(
            **loop, journal, options,
            [this](const AlertAction& a) {
                std::lock_guard lock(mu_);
                actions_.push_back(a);
            },
            [this](WebhookResult r) { metrics_->count_webhook_request(r); });
        if (!receiver) {
            ADD_FAILURE() << receiver.error().message;
            ready_ = true;
            return;
        }
        receiver_ = receiver->get();
        bool ok = (*loop)->watch_fd(stop_fd_, [&] { (*loop)->exit(0); }).has_value();
        receiver_ok_ = ok;
        ready_ = true;
        if (ok) (*loop)->run();
        receiver_ = nullptr;
        receiver->reset();
    }

    // curl inside the namespace; returns the HTTP status (0: no answer).
    int post(const std::vector<std::string>& extra, const std::string& path = "/alertmanager") {
        std::vector<std::string> argv = {"curl", "-s",           "-o",         "/dev/null",
                                         "-w",   "%{http_code}", "--max-time", "10"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back("http://127.0.0.1:" + std::to_string(kReceiverPort) + path);
        const auto r = ns_->run(argv, 20s);
        return std::atoi(r.out.c_str());
    }

    std::vector<std::string> authorized(const std::filesystem::path& body,
                                        const std::string& type = "application/json") {
        return {"-X",
                "POST",
                "-H",
                std::string("Authorization: Bearer ") + kToken,
                "-H",
                "Content-Type: " + type,
                "--data-binary",
                "@" + body.string()};
    }

    std::vector<AlertAction> actions() {
        std::lock_guard lock(mu_);
        return actions_;
    }

    std::uint64_t count(WebhookResult r) const { return receiver_->count(r); }

    void start_alertmanager() {
        const auto cfg = dir_->path() / "alertmanager.yml";
        std::ofstream(cfg) << "route:\n"
                              "  receiver: vigil\n"
                              "  group_by: ['alertname', 'host', 'instance']\n"
                              "  group_wait: 0s\n"
                              "  group_interval: 1s\n"
                              "  repeat_interval: 2s\n"
                              "receivers:\n"
                              "- name: vigil\n"
                              "  webhook_configs:\n"
                              "  - url: http://127.0.0.1:"
                           << kReceiverPort
                           << "/alertmanager\n"
                              "    send_resolved: true\n"
                              "    http_config:\n"
                              "      authorization:\n"
                              "        type: Bearer\n"
                              "        credentials_file: "
                           << (dir_->path() / "token").string() << "\n";
        std::filesystem::create_directories(dir_->path() / "am-data");
        SpawnOptions opts;
        opts.stdout_path = dir_->path() / "am.log";
        opts.stderr_path = dir_->path() / "am.log";
        auto am = ns_->spawn({"prometheus-alertmanager", "--config.file=" + cfg.string(),
                              "--storage.path=" + (dir_->path() / "am-data").string(),
                              "--web.listen-address=127.0.0.1:" + std::to_string(kAlertmanagerPort),
                              "--cluster.listen-address="},
                             opts);
        ASSERT_TRUE(am) << am.error();
        alertmanager_.emplace(std::move(*am));
        ASSERT_TRUE(wait_until(
            [&] {
                return ns_
                    ->run({"curl", "-sf",
                           "http://127.0.0.1:" + std::to_string(kAlertmanagerPort) + "/-/ready"},
                          5s)
                    .ok();
            },
            30s, 200ms))
            << am_log();
    }

    std::string am_log() const {
        std::ifstream in(dir_->path() / "am.log");
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

    void raise_alert(const std::string& labels, const std::string& ends_at = {}) {
        std::string body = "[{\"labels\":" + labels;
        if (!ends_at.empty()) body += ",\"endsAt\":\"" + ends_at + "\"";
        body += "}]";
        const auto r = ns_->run(
            {"curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json", "--data", body,
             "http://127.0.0.1:" + std::to_string(kAlertmanagerPort) + "/api/v2/alerts"},
            10s);
        ASSERT_TRUE(r.ok()) << r.describe();
    }

    std::optional<TempDir> dir_;
    std::optional<NetNs> ns_;
    std::unique_ptr<exporters::Metrics> metrics_;
    std::optional<Subprocess> alertmanager_;
    int stop_fd_ = -1;
    std::thread loop_thread_;
    std::atomic<bool> ready_{false};
    std::atomic<bool> receiver_ok_{false};
    exporters::WebhookReceiver* receiver_ = nullptr;
    std::mutex mu_;
    std::vector<AlertAction> actions_;
};

std::string now_rfc3339() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

TEST_F(Webhook, RealAlertmanagerDrivesActionsOnceEach) {
    start_alertmanager();
    if (HasFatalFailure()) return;
    raise_alert(R"({"alertname":"HostHardwareDegraded","host":"h2","severity":"critical"})");
    raise_alert(R"({"alertname":"HostPlannedWork","instance":"h3"})");
    raise_alert(R"({"alertname":"SomethingElse","host":"h1"})");
    ASSERT_TRUE(wait_until([&] { return actions().size() >= 2; }, 30s)) << am_log();
    // Alertmanager repeats every 2 s: several more notifications, no new action.
    const auto accepted = count(WebhookResult::kAccepted);
    ASSERT_TRUE(wait_until([&] { return count(WebhookResult::kAccepted) >= accepted + 3; }, 30s))
        << am_log();
    auto seen = actions();
    ASSERT_EQ(seen.size(), 2u);
    std::map<std::string, HostAction> by_host;
    for (const auto& a : seen) by_host[a.host] = a.action;
    EXPECT_EQ(by_host.at("h2"), HostAction::kDrain);
    EXPECT_EQ(by_host.at("h3"), HostAction::kMaintenanceOn);

    raise_alert(R"({"alertname":"HostPlannedWork","instance":"h3"})", now_rfc3339());
    ASSERT_TRUE(wait_until([&] { return actions().size() >= 3; }, 30s)) << am_log();
    seen = actions();
    EXPECT_EQ(seen[2].action, HostAction::kMaintenanceOff);
    EXPECT_EQ(seen[2].host, "h3");
    EXPECT_TRUE(seen[2].resolved);
    // And nothing more, however often the rest repeats.
    const auto before = count(WebhookResult::kAccepted);
    ASSERT_TRUE(wait_until([&] { return count(WebhookResult::kAccepted) >= before + 2; }, 30s));
    EXPECT_EQ(actions().size(), 3u);
    EXPECT_EQ(count(WebhookResult::kUnauthorized), 0u);
    std::cout << "notifications accepted from Alertmanager: " << count(WebhookResult::kAccepted)
              << ", actions: " << actions().size() << "\n";
}

TEST_F(Webhook, RefusalsAnsweredCountedAndSurvived) {
    const auto good = dir_->path() / "good.json";
    write_file(good,
               R"({"version":"4","receiver":"vigil","status":"firing","alerts":[)"
               R"({"status":"firing","labels":{"alertname":"HostHardwareDegraded",)"
               R"("host":"h5","severity":"critical"},"startsAt":"2026-12-01T10:00:00Z"}]})",
               0644);
    const auto v3 = dir_->path() / "v3.json";
    write_file(v3, R"({"version":"3","receiver":"vigil","status":"firing","alerts":[]})", 0644);
    const auto big = dir_->path() / "big.json";
    write_file(big, "{\"version\":\"4\",\"pad\":\"" + std::string(kBodyLimit, 'x') + "\"}", 0644);

    // Unauthenticated, or with the wrong token, or the token in the wrong scheme.
    EXPECT_EQ(post({"-X", "POST", "-H", "Content-Type: application/json", "--data-binary",
                    "@" + good.string()}),
              401);
    EXPECT_EQ(post({"-X", "POST", "-H", "Authorization: Bearer not-the-token-at-all",
                    "--data-binary", "@" + good.string()}),
              401);
    EXPECT_EQ(post({"-X", "POST", "-H", std::string("Authorization: Basic ") + kToken,
                    "--data-binary", "@" + good.string()}),
              401);
    EXPECT_EQ(post({"-H", std::string("Authorization: Bearer ") + kToken}), 405);  // GET
    EXPECT_EQ(post(authorized(good), "/api/v1/alerts"), 404);
    EXPECT_EQ(post(authorized(big)), 413);
    auto chunked = authorized(big);
    chunked.insert(chunked.begin(), {"-H", "Transfer-Encoding: chunked"});
    EXPECT_EQ(post(chunked), 413);
    EXPECT_EQ(post(authorized(good, "text/plain")), 415);
    EXPECT_EQ(post(authorized(v3)), 400);
    std::mt19937 rng(7);
    for (int i = 0; i < 20; ++i) {
        std::string junk(1 + rng() % 2000, '\0');
        for (char& c : junk) c = static_cast<char>(rng() % 256);
        const auto p = dir_->path() / "junk";
        write_file(p, junk, 0644);
        EXPECT_EQ(post(authorized(p)), 400);
    }
    // Still serving, and the good one acts once however often it comes.
    EXPECT_EQ(post(authorized(good)), 200);
    EXPECT_EQ(post(authorized(good)), 200);
    ASSERT_TRUE(wait_until([&] { return !actions().empty(); }, 10s));
    EXPECT_EQ(actions().size(), 1u);
    EXPECT_EQ(actions()[0].host, "h5");

    EXPECT_EQ(count(WebhookResult::kUnauthorized), 3u);
    EXPECT_EQ(count(WebhookResult::kMethodNotAllowed), 1u);
    EXPECT_EQ(count(WebhookResult::kNotFound), 1u);
    EXPECT_EQ(count(WebhookResult::kTooLarge), 2u);
    EXPECT_EQ(count(WebhookResult::kUnsupportedType), 1u);
    EXPECT_EQ(count(WebhookResult::kBadRequest), 21u);
    EXPECT_EQ(count(WebhookResult::kAccepted), 2u);
    // The metric follows once the loop has taken the notes.
    ASSERT_TRUE(wait_until(
        [&] {
            return metrics_->render().find(
                       "vigil_webhook_requests_total{result=\"bad-request\"} "
                       "21") != std::string::npos;
        },
        10s))
        << metrics_->render();
    const std::string text = metrics_->render();
    EXPECT_NE(text.find("vigil_webhook_requests_total{result=\"unauthorized\"} 3"),
              std::string::npos);
    EXPECT_NE(text.find("vigil_webhook_requests_total{result=\"busy\"} 0"), std::string::npos);
}

TEST(WebhookToken, OnlyARootOnlyFileIsAccepted) {
    VIGIL_REQUIRE_ROOT();
    auto dir = TempDir::make("token");
    ASSERT_TRUE(dir);
    const auto p = dir->path() / "token";
    write_file(p, std::string(kToken) + "\n", 0600);
    const auto ok = exporters::read_token_file(p);
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(*ok, kToken);
    for (mode_t mode : {0644, 0640, 0604, 0660}) {
        ASSERT_EQ(::chmod(p.c_str(), mode), 0);
        const auto bad = exporters::read_token_file(p);
        ASSERT_FALSE(bad) << std::oct << mode;
        EXPECT_NE(bad.error().message.find("group or others"), std::string::npos)
            << bad.error().message;
    }
    write_file(p, "short\n", 0600);
    EXPECT_FALSE(exporters::read_token_file(p));
    ASSERT_EQ(::chown(p.c_str(), 65534, 65534), 0);
    write_file(p, std::string(kToken), 0600);
    const auto foreign = exporters::read_token_file(p);
    ASSERT_FALSE(foreign);
    EXPECT_NE(foreign.error().message.find("owned by uid 65534"), std::string::npos);
    EXPECT_FALSE(exporters::read_token_file(dir->path() / "missing"));
    EXPECT_FALSE(exporters::read_token_file(dir->path()));
}

}  // namespace
}  // namespace vigil::testing
