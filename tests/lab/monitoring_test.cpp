// Monitoring end to end (issue 12): a real Prometheus scrapes every lab host's
// vigild (cluster mode) and evaluates the example alert rules
// (packaging/monitoring/vigil-alerts.yml, unchanged); a real Alertmanager
// (cluster gossip off) receives its alerts and posts them to the vigild of
// the host each alert names. Both run in a network namespace of their own
// with a veth into the lab's cluster bridge, never on the machine's ports.
//
// One lab, in order: `promtool check metrics` on a live vigild's /metrics;
// h1 powered off makes the rule VigilPeerDead fire (evaluated by Prometheus,
// not a canned POST) and the recording hook on the survivor that restarts vm1
// write down the restart (VIGIL_* environment and JSON); planned work on h3
// (a gauge Prometheus scrapes from a file the test writes) fires
// VigilLabPlannedWork, which the lab's webhook rule maps to maintenance-on,
// and its resolution takes h3 out again; finally every query of the example
// dashboard returns data. Needs root.
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "tests/lab/layout.h"
#include "tests/tools/fixtures/fixtures.h"

namespace vigil::lab {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace vt = vigil::testing;

// Prometheus scrapes and evaluates every second; Alertmanager waits a second
// before the first notification of a group and between later ones.
constexpr auto kScrape = 1s;
constexpr auto kEvaluation = 1s;
constexpr auto kGroupWait = 1s;
constexpr auto kGroupInterval = 1s;
// One interval of margin on every bound below, for this busy machine.
constexpr auto kMargin = 1s;
constexpr auto kHeartbeat = std::chrono::milliseconds(kHeartbeatIntervalMs);
constexpr auto kFenceDelay = std::chrono::milliseconds(kFenceDelayMs);
constexpr auto kWatchdog = std::chrono::seconds(kWatchdogTimeoutS);

constexpr const char* kPrometheus = "127.0.0.1:9090";  // inside the namespace
constexpr const char* kAlertmanager = "127.0.0.1:9093";
// Planned work, as an operator's tooling would export it: one gauge in a
// file the test writes, served over HTTP for Prometheus to scrape.
constexpr const char* kPlannedWork = "127.0.0.1:9099";

std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

double seconds(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

class LabMonitoring : public vt::RootTest {
  protected:
    void SetUp() override {
        vt::RootTest::SetUp();
        if (IsSkipped()) return;
        for (const char* tool : {"prometheus", "prometheus-alertmanager", "promtool", "curl"}) {
            ASSERT_TRUE(vt::run({"sh", "-c", std::string("command -v ") + tool}).ok())
                << tool << " is missing (scripts/setup.sh installs it)";
        }
        // The lab's host inits outlive `vigil-lab up`; as a child subreaper
        // this process adopts and reaps them.
        ::prctl(PR_SET_CHILD_SUBREAPER, 1);
        auto dir = vt::TempDir::make("labmon");
        ASSERT_TRUE(dir) << dir.error();
        dir_.emplace(std::move(*dir));
        auto up = lab({"up", "--hosts", "3", "--vms", "2"}, 180s);
        up_ = up.ok();
        ASSERT_TRUE(up_) << up.describe();
        const auto state = json::parse(read_text(dir_->path() / "state.json"), nullptr, false);
        ASSERT_TRUE(state.is_object());
        run_id_ = state.at("run_id").get<std::string>();
        run_dir_ = dir_->path() / ("run-" + run_id_);
        switch_ns_ = "vl-" + run_id_ + "-sw";

        auto ns = vt::NetNs::make("vl-mon");
        ASSERT_TRUE(ns) << ns.error();
        ns_.emplace(std::move(*ns));
        // One cable into the lab's cluster bridge (in the switch namespace),
        // on the address the lab leaves free for it.
        const std::string cable = "mon-" + std::to_string(::getpid() % 100000);
        for (const auto& argv : std::vector<std::vector<std::string>>{
                 {"ip", "-n", switch_ns_, "link", "add", cable, "type", "veth", "peer", "name",
                  "cl0", "netns", ns_->name()},
                 {"ip", "-n", switch_ns_, "link", "set", cable, "master",
                  Layout::bridge(Net::kCluster)},
                 {"ip", "-n", switch_ns_, "link", "set", cable, "up"},
                 {"ip", "-n", ns_->name(), "addr", "add",
                  cluster_address(kMonitorHostOctet) + "/24", "dev", "cl0"},
                 {"ip", "-n", ns_->name(), "link", "set", "cl0", "up"}}) {
            auto r = vt::run(argv);
            ASSERT_TRUE(r.ok()) << r.describe();
        }
        start_alertmanager();
        if (HasFatalFailure()) return;
        start_planned_work();
        if (HasFatalFailure()) return;
        start_prometheus();
    }

    void TearDown() override {
        if (prometheus_) prometheus_->terminate();
        if (alertmanager_) alertmanager_->terminate();
        if (planned_work_) planned_work_->terminate();
        ns_.reset();  // ends what still runs there; the cable goes with it
        if (dir_) {
            auto down = lab({"down"}, 90s);
            EXPECT_TRUE(down.ok()) << down.describe();
        }
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        if (HasFailure() && dir_) {
            std::cout << "--- prometheus\n"
                      << read_text(dir_->path() / "prometheus.log").substr(0, 4000)
                      << "--- alertmanager\n"
                      << read_text(dir_->path() / "alertmanager.log").substr(0, 4000) << "\n";
        }
    }

    vt::RunResult lab(std::vector<std::string> args, std::chrono::milliseconds timeout) const {
        args.insert(args.begin(), {VIGIL_LAB_BIN, "--root", dir_->path().string()});
        return vt::run(args, timeout);
    }

    static std::string cluster_address(int octet) {
        return "10.201.1." + std::to_string(octet);  // Layout::address(Net::kCluster, octet)
    }
    static std::string host_name(int h) { return "h" + std::to_string(h); }

    fs::path host_dir(int h) const { return run_dir_ / host_name(h); }

    fs::path rules_file() const { return dir_->path() / "lab-rules.yml"; }
    fs::path planned_dir() const { return dir_->path() / "planned"; }

    // The planned-work gauge for `host`: 1 while work is planned there.
    void plan_work(const std::string& host, int on) const {
        const auto tmp = planned_dir() / "metrics.tmp";
        write_text(tmp, "# TYPE lab_planned_work gauge\nlab_planned_work{host=\"" + host + "\"} " +
                            std::to_string(on) + "\n");
        fs::rename(tmp, planned_dir() / "metrics");
    }

    void start_planned_work() {
        fs::create_directories(planned_dir());
        plan_work("h3", 0);
        vt::SpawnOptions opts;
        opts.stdout_path = dir_->path() / "planned-work.log";
        opts.stderr_path = dir_->path() / "planned-work.log";
        const std::string where(kPlannedWork);
        auto p =
            ns_->spawn({"python3", "-m", "http.server", "--bind", where.substr(0, where.find(':')),
                        "--directory", planned_dir().string(), where.substr(where.find(':') + 1)},
                       opts);
        ASSERT_TRUE(p) << p.error();
        planned_work_.emplace(std::move(*p));
        ASSERT_TRUE(
            vt::wait_until([&] { return get(kPlannedWork, "/metrics").has_value(); }, 30s, 200ms))
            << "the planned-work file is not served";
    }

    void start_alertmanager() {
        // One route per host: each vigild acts on itself only, so an alert
        // goes to the receiver of the host its `host` label names.
        std::string cfg =
            "route:\n  receiver: none\n  group_by: [alertname, host, peer]\n"
            "  group_wait: " +
            std::to_string(kGroupWait.count()) +
            "s\n  group_interval: " + std::to_string(kGroupInterval.count()) +
            "s\n  repeat_interval: 1h\n  routes:\n";
        std::string receivers = "receivers:\n- name: none\n";
        for (int h = 1; h <= kHosts; ++h) {
            cfg += "  - receiver: vigil-" + host_name(h) + "\n    matchers: ['host=\"" +
                   host_name(h) + "\"']\n";
            receivers += "- name: vigil-" + host_name(h) +
                         "\n  webhook_configs:\n  - url: http://" + cluster_address(h) + ":" +
                         std::to_string(kWebhookPort) +
                         "/alertmanager\n    send_resolved: true\n"
                         "    http_config:\n      authorization:\n        type: Bearer\n"
                         "        credentials_file: " +
                         (run_dir_ / "webhook.token").string() + "\n";
        }
        write_text(dir_->path() / "alertmanager.yml", cfg + receivers);
        fs::create_directories(dir_->path() / "am-data");
        vt::SpawnOptions opts;
        opts.stdout_path = dir_->path() / "alertmanager.log";
        opts.stderr_path = dir_->path() / "alertmanager.log";
        auto am = ns_->spawn(
            {"prometheus-alertmanager",
             "--config.file=" + (dir_->path() / "alertmanager.yml").string(),
             "--storage.path=" + (dir_->path() / "am-data").string(),
             std::string("--web.listen-address=") + kAlertmanager, "--cluster.listen-address="},
            opts);
        ASSERT_TRUE(am) << am.error();
        alertmanager_.emplace(std::move(*am));
        ASSERT_TRUE(
            vt::wait_until([&] { return get(kAlertmanager, "/-/ready").has_value(); }, 30s, 200ms))
            << "Alertmanager did not become ready";
    }

    void start_prometheus() {
        std::string cfg = "global:\n  scrape_interval: " + std::to_string(kScrape.count()) +
                          "s\n  scrape_timeout: " + std::to_string(kScrape.count()) +
                          "s\n  evaluation_interval: " + std::to_string(kEvaluation.count()) +
                          "s\n";
        cfg += "rule_files:\n  - " + std::string(VIGIL_ALERT_RULES) + "\n  - " +
               rules_file().string() + "\n";
        cfg += "alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['" +
               std::string(kAlertmanager) + "']\n";
        cfg += "scrape_configs:\n- job_name: vigil\n  static_configs:\n";
        for (int h = 1; h <= kHosts; ++h) {
            cfg += "  - targets: ['" + cluster_address(h) + ":" + std::to_string(kMetricsPort) +
                   "']\n    labels: {host: " + host_name(h) + "}\n";
        }
        cfg += "- job_name: planned-work\n  static_configs:\n  - targets: ['" +
               std::string(kPlannedWork) + "']\n";
        write_text(dir_->path() / "prometheus.yml", cfg);
        // Loaded from the start: Prometheus is never reloaded (a reload
        // rediscovers the Alertmanagers, and an alert fired meanwhile waits
        // for the resend delay).
        write_text(rules_file(), "groups:\n- name: vigil-lab\n  rules:\n  - alert: " +
                                     std::string(kMaintenanceAlert) +
                                     "\n    expr: lab_planned_work == 1\n"
                                     "    labels: {severity: info}\n");
        fs::create_directories(dir_->path() / "tsdb");
        vt::SpawnOptions opts;
        opts.stdout_path = dir_->path() / "prometheus.log";
        opts.stderr_path = dir_->path() / "prometheus.log";
        auto p =
            ns_->spawn({"prometheus", "--config.file=" + (dir_->path() / "prometheus.yml").string(),
                        "--storage.tsdb.path=" + (dir_->path() / "tsdb").string(),
                        std::string("--web.listen-address=") + kPrometheus},
                       opts);
        ASSERT_TRUE(p) << p.error();
        prometheus_.emplace(std::move(*p));
        ASSERT_TRUE(
            vt::wait_until([&] { return get(kPrometheus, "/-/ready").has_value(); }, 30s, 200ms))
            << "Prometheus did not become ready";
    }

    // curl inside the monitoring namespace: the body of a 2xx answer.
    std::optional<std::string> get(const std::string& where, const std::string& path,
                                   const std::vector<std::string>& extra = {}) const {
        std::vector<std::string> argv{"curl", "-sf", "--max-time", "5"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back("http://" + where + path);
        auto r = ns_->run(argv, 10s);
        if (!r.ok()) return std::nullopt;
        return r.out;
    }

    // An instant query's result vector; null when Prometheus did not answer.
    json query(const std::string& promql) const {
        auto body = get(kPrometheus, "/api/v1/query", {"--data-urlencode", "query=" + promql});
        if (!body) return nullptr;
        auto j = json::parse(*body, nullptr, false);
        if (!j.is_object() || j.value("status", "") != "success") return nullptr;
        return j["data"]["result"];
    }

    // The alerts Prometheus has firing under `name`.
    json firing(const std::string& name) const {
        json out = json::array();
        auto body = get(kPrometheus, "/api/v1/alerts");
        if (!body) return out;
        auto j = json::parse(*body, nullptr, false);
        if (!j.is_object()) return out;
        for (const auto& a : j["data"]["alerts"])
            if (a["labels"].value("alertname", "") == name && a.value("state", "") == "firing")
                out.push_back(a);
        return out;
    }

    // What vigild on `h` logged of the webhook and its actions.
    std::string webhook_log(int h) const {
        std::istringstream in(read_text(host_dir(h) / "log" / "vigild.log"));
        std::string out;
        for (std::string line; std::getline(in, line);)
            if (line.find("webhook") != std::string::npos ||
                line.find("alert") != std::string::npos)
                out += line.substr(0, 300) + "\n";
        return out;
    }

    json vigild_status(int h) const {
        auto r = lab({"exec", host_name(h), "--", VIGILCTL_BIN, "status", "--json"}, 20s);
        if (!r.ok()) return nullptr;
        auto j = json::parse(r.out, nullptr, false);
        return j.is_discarded() ? json(nullptr) : j;
    }

    // The recording hook's runs on host `h` for `event`: each run's VIGIL_*
    // environment (NAME=value) and its JSON document.
    struct HookRecord {
        std::map<std::string, std::string> env;
        json doc;
    };
    std::vector<HookRecord> hook_records(int h, const std::string& event) const {
        std::vector<HookRecord> out;
        const auto dir = host_dir(h) / fs::path(kInHostHookRecords).relative_path();
        std::error_code ec;
        std::vector<fs::path> envs;
        for (const auto& e : fs::directory_iterator(dir, ec))
            if (e.path().extension() == ".env" && e.path().stem().string().ends_with("-" + event))
                envs.push_back(e.path());
        std::sort(envs.begin(), envs.end());
        for (const auto& p : envs) {
            HookRecord r;
            std::istringstream in(read_text(p));
            for (std::string line; std::getline(in, line);) {
                auto eq = line.find('=');
                if (eq != std::string::npos) r.env[line.substr(0, eq)] = line.substr(eq + 1);
            }
            auto json_path = p;
            json_path.replace_extension(".json");
            r.doc = json::parse(read_text(json_path), nullptr, false);
            out.push_back(std::move(r));
        }
        return out;
    }

    static constexpr int kHosts = 3;
    std::optional<vt::TempDir> dir_;
    bool up_ = false;
    std::string run_id_;
    fs::path run_dir_;
    std::string switch_ns_;
    std::optional<vt::NetNs> ns_;
    std::optional<vt::Subprocess> alertmanager_;
    std::optional<vt::Subprocess> prometheus_;
    std::optional<vt::Subprocess> planned_work_;
};

TEST_F(LabMonitoring, AlertsDriveHooksAndMaintenanceAndTheDashboardHasData) {
    ASSERT_TRUE(up_);
    // Every host's vigild scraped, in cluster mode and settled (each sees
    // both peers alive). A bring-up wait, not a promise: as long as the
    // lab's rows give vigild to settle.
    json r;
    const bool scraped = vt::wait_until(
        [&] {
            r = query(
                "count(up{job=\"vigil\"} == 1) == 3 and "
                "count(vigil_peer_class{class=\"alive\"} == 1) == 6");
            return r.is_array() && !r.empty();
        },
        60s, 500ms);
    ASSERT_TRUE(scraped) << query("up").dump() << "\n" << query("vigil_peer_class == 1").dump();

    // promtool is clean on a live cluster-mode vigild's /metrics.
    const auto url =
        "http://" + cluster_address(1) + ":" + std::to_string(kMetricsPort) + "/metrics";
    auto lint =
        ns_->run({"sh", "-c", "curl -sf --max-time 5 " + url + " | promtool check metrics"}, 20s);
    EXPECT_TRUE(lint.ok()) << lint.describe();

    // h1 loses power. Its peers call it dead after the fence delay and show
    // it at their next heartbeat's export; Prometheus sees that at its next
    // scrape and fires at the evaluation after (VigilPeerDead has no for:).
    auto off = lab({"power-off", "h1"}, 60s);
    ASSERT_TRUE(off.ok()) << off.describe();
    const auto t_off = std::chrono::steady_clock::now();
    const auto dead_bound = kFenceDelay + kHeartbeat + kScrape + kEvaluation + kMargin;
    json dead;
    const bool fired = vt::wait_until(
        [&] {
            dead = firing("VigilPeerDead");
            return std::any_of(dead.begin(), dead.end(),
                               [](const json& a) { return a["labels"].value("peer", "") == "h1"; });
        },
        dead_bound + 5s, 200ms);
    const auto dead_after = std::chrono::steady_clock::now() - t_off;
    ASSERT_TRUE(fired) << "VigilPeerDead never fired for h1: " << query("vigil_peer_class == 1");
    std::cout << "VigilPeerDead firing after " << seconds(dead_after) << " s (bound "
              << seconds(dead_bound) << " s)\n";
    EXPECT_LE(dead_after, dead_bound);
    for (const auto& a : dead) {
        EXPECT_EQ(a["labels"].value("severity", ""), "critical") << a.dump();
        EXPECT_NE(a["labels"].value("host", ""), "h1") << "a survivor reports it: " << a.dump();
    }
    // Prometheus hands it to Alertmanager at the evaluation that fired it.
    EXPECT_TRUE(vt::wait_until(
        [&] {
            auto body = get(kAlertmanager, "/api/v2/alerts",
                            {"-G", "--data-urlencode", "filter=alertname=\"VigilPeerDead\""});
            auto j = body ? json::parse(*body, nullptr, false) : json();
            return j.is_array() && !j.empty();
        },
        kEvaluation + kMargin, 200ms))
        << "Alertmanager has no VigilPeerDead";

    // A survivor restarts vm1 (F1: within the watchdog timeout + 5 s of the
    // power-off) and its hook writes the restart down once the start is done:
    // up to a heartbeat later, plus a margin for the hook's own run.
    const auto restart_bound = kWatchdog + 5s + kHeartbeat + kMargin;
    int restarted_on = 0;
    std::vector<HookRecord> restarts;
    (void)vt::wait_until(
        [&] {
            for (int h = 2; h <= kHosts; ++h) {
                for (auto& rec : hook_records(h, "vm-restarted-here")) {
                    if (rec.env["VIGIL_VM"] == "vm1") {
                        restarted_on = h;
                        restarts.push_back(std::move(rec));
                    }
                }
                if (restarted_on) return true;
            }
            return false;
        },
        restart_bound, 200ms);
    const auto restart_after = std::chrono::steady_clock::now() - t_off;
    ASSERT_NE(restarted_on, 0) << "no survivor's hook recorded vm1 restarted";
    std::cout << "vm1 restart recorded by the hook on h" << restarted_on << " after "
              << seconds(restart_after) << " s (bound " << seconds(restart_bound) << " s)\n";
    EXPECT_LE(restart_after, restart_bound);
    ASSERT_EQ(restarts.size(), 1U) << "vm1 restarted once";
    auto& rec = restarts.front();
    EXPECT_EQ(rec.env.at("VIGIL_EVENT"), "vm-restarted-here");
    EXPECT_FALSE(rec.env["VIGIL_EVENT_ID"].empty());
    EXPECT_FALSE(rec.env["VIGIL_TIME"].empty());
    EXPECT_EQ(rec.env["VIGIL_HOOK"], "record");
    ASSERT_TRUE(rec.doc.is_object()) << "the hook's stdin was not one JSON document";
    EXPECT_EQ(rec.doc.value("event", ""), "vm-restarted-here") << rec.doc.dump();
    EXPECT_EQ(rec.doc["fields"].value("vm", ""), "vm1") << rec.doc.dump();
    EXPECT_EQ(std::to_string(rec.doc.value("event_id", 0)), rec.env["VIGIL_EVENT_ID"]);
    // Both survivors ran their hooks for the dead peer too.
    for (int h = 2; h <= kHosts; ++h) {
        auto peer_dead = hook_records(h, "peer-dead");
        ASSERT_EQ(peer_dead.size(), 1U) << host_name(h);
        EXPECT_EQ(peer_dead[0].env["VIGIL_PEER"], "h1");
        EXPECT_EQ(peer_dead[0].doc["fields"].value("peer", ""), "h1");
    }

    // Planned work on h3: an alert naming it, which the lab's webhook rule
    // maps to maintenance-on. From the gauge's change: Prometheus sees it at
    // its next scrape and fires at the evaluation after (no for:),
    // Alertmanager notifies after its group wait, vigild acts at once.
    constexpr int kWorkHost = 3;
    const auto maintenance = [&](int h) {
        auto st = vigild_status(h);
        if (!st.is_object() || !st.contains("cluster")) return json(nullptr);
        return st["cluster"]["host"]["maintenance"];
    };
    ASSERT_EQ(maintenance(kWorkHost), json(false));
    plan_work(host_name(kWorkHost), 1);
    const auto t_rule = std::chrono::steady_clock::now();
    const auto maintenance_bound = kScrape + kEvaluation + kGroupWait + kMargin;
    const auto story = [&] {
        const auto filter = "filter=alertname=\"" + std::string(kMaintenanceAlert) + "\"";
        return "Prometheus: " + firing(std::string(kMaintenanceAlert)).dump() + "\n" +
               query("ALERTS{alertname=\"" + std::string(kMaintenanceAlert) + "\"}").dump() +
               "\nAlertmanager: " +
               get(kAlertmanager, "/api/v2/alerts", {"-G", "--data-urlencode", filter})
                   .value_or("?") +
               "\nvigild on h3:\n" + webhook_log(kWorkHost);
    };
    EXPECT_TRUE(vt::wait_until([&] { return maintenance(kWorkHost) == json(true); },
                               maintenance_bound + 5s, 100ms))
        << story();
    const auto on_after = std::chrono::steady_clock::now() - t_rule;
    std::cout << "maintenance on h3 " << seconds(on_after) << " s after work was planned (bound "
              << seconds(maintenance_bound) << " s)\n";
    EXPECT_LE(on_after, maintenance_bound);
    EXPECT_NE(maintenance(5 - kWorkHost), json(true)) << "h2 stays out of it";
    EXPECT_TRUE(vt::wait_until([&] { return !hook_records(kWorkHost, "maintenance-on").empty(); },
                               kMargin + 1s, 100ms));
    if (auto on = hook_records(kWorkHost, "maintenance-on"); !on.empty()) {
        EXPECT_EQ(on[0].env["VIGIL_ALERT"], kMaintenanceAlert);
        EXPECT_EQ(on[0].doc["fields"].value("by", ""), "webhook");
    }
    // The work is done: at the next scrape and evaluation the alert resolves
    // (Prometheus sends that at once), Alertmanager says so at its next group
    // interval, and the rule's resolved_action ends the maintenance.
    plan_work(host_name(kWorkHost), 0);
    const auto t_resolve = std::chrono::steady_clock::now();
    const auto resolve_bound = kScrape + kEvaluation + kGroupInterval + kMargin;
    EXPECT_TRUE(vt::wait_until([&] { return maintenance(kWorkHost) == json(false); },
                               resolve_bound + 5s, 100ms))
        << story();
    const auto off_after = std::chrono::steady_clock::now() - t_resolve;
    std::cout << "maintenance off h3 " << seconds(off_after) << " s after the alert's end (bound "
              << seconds(resolve_bound) << " s)\n";
    EXPECT_LE(off_after, resolve_bound);

    // Every query of the example dashboard returns data from this lab.
    const auto dashboard = json::parse(read_text(VIGIL_DASHBOARD), nullptr, false);
    ASSERT_TRUE(dashboard.is_object());
    int queries = 0;
    for (const auto& panel : dashboard["panels"]) {
        for (const auto& target : panel["targets"]) {
            auto expr = target.value("expr", "");
            expr = std::regex_replace(expr, std::regex("\\$instance"), ".*");
            auto result = query(expr);
            ++queries;
            EXPECT_TRUE(result.is_array() && !result.empty())
                << "panel \"" << panel.value("title", "") << "\" (" << target.value("refId", "")
                << "): no data for " << expr;
        }
    }
    std::cout << queries << " dashboard queries answered\n";
}

}  // namespace
}  // namespace vigil::lab
