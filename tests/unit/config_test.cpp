#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "daemon/config/config.h"
#include "daemon/config/reload.h"
#include "daemon/core/decision.h"

namespace vigil::config {
namespace {

vigil::Error parse_error(std::string_view text) {
    auto result = parse(text, "test.toml");
    EXPECT_FALSE(result.has_value()) << "accepted:\n" << text;
    return result ? vigil::Error{} : result.error();
}

TEST(Config, DefaultsAreStandaloneOnLocalhost) {
    const Config c;
    EXPECT_TRUE(c.standalone);
    EXPECT_EQ(c.metrics_listen.host, "127.0.0.1");
    EXPECT_EQ(c.metrics_listen.port, 9774);
    EXPECT_EQ(c.control_socket, "/run/vigil/vigild.sock");
}

TEST(Config, EmptyFileMeansDefaults) {
    auto c = parse("", "empty.toml");
    ASSERT_TRUE(c.has_value()) << c.error().text();
    EXPECT_TRUE(c->standalone);
    EXPECT_EQ(c->probe_poll_interval, std::chrono::milliseconds(250));
    EXPECT_EQ(c->source, "empty.toml");
}

TEST(Config, ReadsEveryKey) {
    auto c = parse(R"(
[log]
level = "debug"
[metrics]
enabled = false
listen = "[::1]:9100"
[control]
socket = "/run/x/ctl.sock"
[probes]
poll_interval_ms = 100
block_error_events_per_second = 5
[storage]
slow_ms = 300
stall_ms = 2000
error_window_ms = 4000
recovery_hold_ms = 0
[network]
down_hold_ms = 0
up_hold_ms = 500
idle_after_ms = 1500
[watchdog]
enabled = true
device = "/run/lab/watchdog"
timeout_s = 10
)",
                   "t.toml");
    ASSERT_TRUE(c.has_value()) << c.error().text();
    EXPECT_EQ(c->log_level, LogLevel::kDebug);
    EXPECT_FALSE(c->metrics_enabled);
    EXPECT_EQ(c->metrics_listen.host, "::1");
    EXPECT_EQ(c->metrics_listen.port, 9100);
    EXPECT_EQ(c->control_socket, "/run/x/ctl.sock");
    EXPECT_EQ(c->probe_poll_interval, std::chrono::milliseconds(100));
    EXPECT_EQ(c->block_error_events_per_second, 5U);
    EXPECT_EQ(c->storage_slow, std::chrono::milliseconds(300));
    EXPECT_EQ(c->storage_stall, std::chrono::milliseconds(2000));
    EXPECT_EQ(c->storage_error_window, std::chrono::milliseconds(4000));
    EXPECT_EQ(c->storage_recovery_hold, std::chrono::milliseconds(0));
    EXPECT_TRUE(c->watchdog_enabled);
    EXPECT_EQ(c->watchdog_device, "/run/lab/watchdog");
    EXPECT_EQ(c->watchdog_timeout, std::chrono::seconds(10));
    EXPECT_EQ(c->link_down_hold, std::chrono::milliseconds(0));
    EXPECT_EQ(c->link_up_hold, std::chrono::milliseconds(500));
    EXPECT_EQ(c->link_idle_after, std::chrono::milliseconds(1500));
}

TEST(Config, StallMustExceedSlow) {
    const auto e = parse_error("[storage]\nslow_ms = 3000\nstall_ms = 2000\n");
    EXPECT_EQ(e.line, 3);
    EXPECT_NE(e.message.find("must be larger than storage.slow_ms"), std::string::npos)
        << e.message;
}

TEST(Config, MisspeltKeyNamesItsLine) {
    const auto e = parse_error("[metrics]\nenabled = true\nlisten_addr = \"127.0.0.1:1\"\n");
    EXPECT_EQ(e.line, 3);
    EXPECT_NE(e.message.find("unknown key \"listen_addr\""), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("listen"), std::string::npos) << "known keys are offered";
    EXPECT_EQ(e.text().rfind("test.toml:3: ", 0), 0U) << e.text();
}

TEST(Config, UnknownSectionAndTopLevelKey) {
    EXPECT_EQ(parse_error("\n[metric]\nlisten = \"a:1\"\n").line, 2);
    const auto e = parse_error("level = \"info\"\n");
    EXPECT_EQ(e.line, 1);
    EXPECT_NE(e.message.find("outside any section"), std::string::npos) << e.message;
}

TEST(Config, WrongTypes) {
    auto e = parse_error("[probes]\npoll_interval_ms = \"250\"\n");
    EXPECT_EQ(e.line, 2);
    EXPECT_NE(
        e.message.find("expected a whole number of milliseconds without a unit, got a string"),
        std::string::npos)
        << e.message;
    e = parse_error("[metrics]\nenabled = 1\n");
    EXPECT_NE(e.message.find("expected true or false"), std::string::npos) << e.message;
    e = parse_error("[metrics]\nlisten = 9774\n");
    EXPECT_NE(e.message.find("expected a string"), std::string::npos) << e.message;
    e = parse_error("metrics = 3\n");
    EXPECT_EQ(e.line, 1);
    EXPECT_NE(e.message.find("must be a table"), std::string::npos) << e.message;
}

TEST(Config, OutOfRangeValues) {
    auto e = parse_error("[probes]\n\npoll_interval_ms = 10\n");
    EXPECT_EQ(e.line, 3);
    EXPECT_NE(e.message.find("out of range [50, 5000]"), std::string::npos) << e.message;
    e = parse_error("[probes]\nblock_error_events_per_second = -1\n");
    EXPECT_NE(e.message.find("out of range"), std::string::npos) << e.message;
    e = parse_error("[metrics]\nlisten = \"127.0.0.1:70000\"\n");
    EXPECT_NE(e.message.find("port must be 1-65535"), std::string::npos) << e.message;
    e = parse_error("[log]\nlevel = \"loud\"\n");
    EXPECT_NE(e.message.find("unknown level"), std::string::npos) << e.message;
    e = parse_error("[control]\nsocket = \"relative.sock\"\n");
    EXPECT_NE(e.message.find("absolute path"), std::string::npos) << e.message;
}

TEST(Config, SyntaxErrorsAndGarbage) {
    auto e = parse_error("[metrics\nlisten = \"x\"\n");
    EXPECT_EQ(e.line, 1);
    EXPECT_FALSE(e.message.empty());
    // The size from the literal itself: counted by hand it read past the end.
    static constexpr char kElf[] =
        "\x7f"
        "ELF\x02\x01\x01\x00\xff\xfe\x00\x00\x13\x37";
    const std::string garbage(kElf, sizeof kElf - 1);
    e = parse_error(garbage);
    EXPECT_FALSE(e.message.empty());
    e = parse_error("[probes]\npoll_interval_ms = 100\npoll_interval_ms = 200\n");
    EXPECT_EQ(e.line, 3) << "a key given twice is refused where it repeats";
}

TEST(Config, EndpointParsing) {
    EXPECT_TRUE(parse_endpoint("0.0.0.0:1").has_value());
    EXPECT_FALSE(parse_endpoint("localhost").has_value());
    EXPECT_FALSE(parse_endpoint(":9774").has_value());
    EXPECT_FALSE(parse_endpoint("::1:9774").has_value()) << "IPv6 needs brackets";
    EXPECT_FALSE(parse_endpoint("[::1]9774").has_value());
    EXPECT_FALSE(parse_endpoint("host:12ab").has_value());
}

TEST(Config, MissingFileIsAnError) {
    auto c = load("/nonexistent/vigil.toml");
    ASSERT_FALSE(c.has_value());
    EXPECT_NE(c.error().text().find("/nonexistent/vigil.toml"), std::string::npos);
}

// The annotated example documents every key; it must parse and equal the defaults.
TEST(Config, ExampleFileIsValidAndMatchesDefaults) {
    auto c = load(VIGIL_EXAMPLE_CONFIG);
    ASSERT_TRUE(c.has_value()) << c.error().text();
    const Config defaults;
    EXPECT_EQ(c->log_level, defaults.log_level);
    EXPECT_EQ(c->metrics_enabled, defaults.metrics_enabled);
    EXPECT_EQ(c->metrics_listen.host, defaults.metrics_listen.host);
    EXPECT_EQ(c->metrics_listen.port, defaults.metrics_listen.port);
    EXPECT_EQ(c->control_socket, defaults.control_socket);
    EXPECT_EQ(c->probe_poll_interval, defaults.probe_poll_interval);
    EXPECT_EQ(c->block_error_events_per_second, defaults.block_error_events_per_second);
    EXPECT_EQ(c->storage_slow, defaults.storage_slow);
    EXPECT_EQ(c->storage_stall, defaults.storage_stall);
    EXPECT_EQ(c->storage_error_window, defaults.storage_error_window);
    EXPECT_EQ(c->storage_recovery_hold, defaults.storage_recovery_hold);
    EXPECT_EQ(c->watchdog_enabled, defaults.watchdog_enabled);
    EXPECT_EQ(c->watchdog_device, defaults.watchdog_device);
    EXPECT_EQ(c->watchdog_timeout, defaults.watchdog_timeout);
    EXPECT_EQ(c->link_down_hold, defaults.link_down_hold);
    EXPECT_EQ(c->link_up_hold, defaults.link_up_hold);
    EXPECT_EQ(c->link_idle_after, defaults.link_idle_after);
    EXPECT_EQ(c->flight_record, defaults.flight_record);
    EXPECT_EQ(c->nfs_mountstats, defaults.nfs_mountstats);
    EXPECT_EQ(c->nfs_poll_interval, defaults.nfs_poll_interval);
    EXPECT_EQ(c->nfs_slow_rtt, defaults.nfs_slow_rtt);
    EXPECT_EQ(c->nfs_stall, defaults.nfs_stall);
    EXPECT_EQ(c->nfs_error_window, defaults.nfs_error_window);
    EXPECT_EQ(c->nfs_recovery_hold, defaults.nfs_recovery_hold);
    EXPECT_EQ(c->nfs_forget_after, defaults.nfs_forget_after);
    EXPECT_EQ(c->hooks_dir, defaults.hooks_dir);
    EXPECT_EQ(c->hooks_timeout, defaults.hooks_timeout);
    EXPECT_EQ(c->hooks_max_concurrent, defaults.hooks_max_concurrent);
    EXPECT_EQ(c->hooks_queue_size, defaults.hooks_queue_size);
    EXPECT_EQ(c->hooks_user, defaults.hooks_user);
    EXPECT_EQ(c->webhook_enabled, defaults.webhook_enabled);
    EXPECT_EQ(c->webhook_listen.host, defaults.webhook_listen.host);
    EXPECT_EQ(c->webhook_listen.port, defaults.webhook_listen.port);
    EXPECT_EQ(c->webhook_token_file, defaults.webhook_token_file);
    EXPECT_EQ(c->webhook_max_body, defaults.webhook_max_body);
    EXPECT_TRUE(c->webhook_rules.empty());
    // Shipped standalone, with nothing armed and no cluster.
    EXPECT_TRUE(c->standalone);
    EXPECT_FALSE(c->watchdog_enabled);
    EXPECT_EQ(c->cluster_group, defaults.cluster_group);
    EXPECT_TRUE(c->cluster_hosts.empty());
    EXPECT_EQ(c->heartbeat_interval, defaults.heartbeat_interval);
    EXPECT_EQ(c->fence_delay, defaults.fence_delay);
    EXPECT_EQ(c->membership_timeout, defaults.membership_timeout);
    EXPECT_EQ(c->storage_grace, defaults.storage_grace);
    EXPECT_EQ(c->link_grace, defaults.link_grace);
    EXPECT_EQ(c->start_failure_hold, defaults.start_failure_hold);
    EXPECT_EQ(c->isolation_response, defaults.isolation_response);
    EXPECT_EQ(c->storm_guard_share, defaults.storm_guard_share);
    EXPECT_EQ(c->maintenance_at_start, defaults.maintenance_at_start);
    EXPECT_EQ(c->allow_unauthenticated_cluster, defaults.allow_unauthenticated_cluster);
    EXPECT_EQ(c->heartbeat_area, defaults.heartbeat_area);
    EXPECT_TRUE(c->evidence_map.domains.empty());
    EXPECT_TRUE(c->evidence_map.interfaces.empty());
    EXPECT_EQ(c->libvirt_uri, defaults.libvirt_uri);
    EXPECT_EQ(c->vm_start_timeout, defaults.vm_start_timeout);
    EXPECT_EQ(c->vm_resume_timeout, defaults.vm_resume_timeout);
    EXPECT_EQ(c->vm_stop_grace, defaults.vm_stop_grace);
    EXPECT_EQ(c->vm_stop_timeout, defaults.vm_stop_timeout);
}

// The commented-out examples in the shipped file are what the parser takes.
TEST(Config, ExampleFileCommentedExamplesParse) {
    std::ifstream in(VIGIL_EXAMPLE_CONFIG);
    std::string line;
    std::string examples;
    bool in_example = false;
    while (std::getline(in, line)) {
        const bool example_line = line.starts_with("#   ");
        const bool table = example_line && (line.starts_with("#   [storage.domains.") ||
                                            line.starts_with("#   [[cluster.hosts]]"));
        if (table) in_example = true;
        if (!example_line && line != "#") in_example = false;
        if (in_example && example_line) examples += line.substr(4) + "\n";
    }
    auto c = parse("[cluster]\nenabled = true\n[heartbeat]\narea = \"/x/hb\"\n" + examples,
                   "examples.toml");
    ASSERT_TRUE(c.has_value()) << c.error().text() << "\n" << examples;
    EXPECT_EQ(c->cluster_hosts.size(), 2u);
    EXPECT_EQ(c->evidence_map.domains.size(), 2u);
}

TEST(Config, NfsKeys) {
    auto c = parse(
        "[nfs]\nmountstats = \"/run/test/mountstats\"\npoll_interval_ms = 200\n"
        "slow_rtt_ms = 50\nstall_ms = 2000\nerror_window_ms = 3000\nrecovery_hold_ms = 0\n"
        "forget_after_ms = 60000\n",
        "t.toml");
    ASSERT_TRUE(c.has_value()) << c.error().text();
    EXPECT_EQ(c->nfs_mountstats, "/run/test/mountstats");
    EXPECT_EQ(c->nfs_poll_interval, std::chrono::milliseconds(200));
    EXPECT_EQ(c->nfs_slow_rtt, std::chrono::milliseconds(50));
    EXPECT_EQ(c->nfs_stall, std::chrono::milliseconds(2000));
    EXPECT_EQ(c->nfs_error_window, std::chrono::milliseconds(3000));
    EXPECT_EQ(c->nfs_recovery_hold, std::chrono::milliseconds(0));
    EXPECT_EQ(c->nfs_forget_after, std::chrono::milliseconds(60000));

    auto relative = parse("[nfs]\nmountstats = \"proc/self/mountstats\"\n", "t.toml");
    ASSERT_FALSE(relative.has_value());
    EXPECT_EQ(relative.error().text(),
              "t.toml:2: nfs.mountstats: must be an absolute path, got \"proc/self/mountstats\"");
    auto fast = parse("\n[nfs]\npoll_interval_ms = 5\n", "t.toml");
    ASSERT_FALSE(fast.has_value());
    EXPECT_EQ(fast.error().line, 3);
}

TEST(Config, HooksKeys) {
    const auto c = parse(
        "[hooks]\ndir = \"/srv/hooks\"\ntimeout_ms = 5000\nmax_concurrent = 2\n"
        "queue_size = 0\nuser = \"vigil-hooks\"\n",
        "t.toml");
    ASSERT_TRUE(c) << c.error().text();
    EXPECT_EQ(c->hooks_dir, "/srv/hooks");
    EXPECT_EQ(c->hooks_timeout, std::chrono::milliseconds(5000));
    EXPECT_EQ(c->hooks_max_concurrent, 2U);
    EXPECT_EQ(c->hooks_queue_size, 0U);
    EXPECT_EQ(c->hooks_user, "vigil-hooks");
}

TEST(Config, BadHooksValuesNameTheirLine) {
    auto e = parse_error("[hooks]\ndir = \"hooks.d\"\n");
    EXPECT_EQ(e.line, 2);
    EXPECT_NE(e.message.find("hooks.dir: must be an absolute path"), std::string::npos)
        << e.message;
    e = parse_error("[hooks]\n\ntimeout_ms = 0\n");
    EXPECT_EQ(e.line, 3);
    EXPECT_NE(e.message.find("out of range [100, 3600000]"), std::string::npos) << e.message;
    e = parse_error("[hooks]\nmax_concurrent = 0\n");
    EXPECT_NE(e.message.find("out of range [1, 64]"), std::string::npos) << e.message;
    e = parse_error("[hooks]\nqueue_size = -1\n");
    EXPECT_NE(e.message.find("out of range [0, 10000]"), std::string::npos) << e.message;
    e = parse_error("[hooks]\nuser = \"root; rm -rf /\"\n");
    EXPECT_EQ(e.line, 2);
    EXPECT_NE(e.message.find("is not a user name"), std::string::npos) << e.message;
    e = parse_error("[hooks]\nuser = \"0day\"\n");
    EXPECT_NE(e.message.find("is not a user name"), std::string::npos) << e.message;
    e = parse_error("[hooks]\nshell = true\n");
    EXPECT_NE(e.message.find("unknown key \"shell\" in [hooks]"), std::string::npos) << e.message;
}

TEST(Config, WebhookKeysAndRules) {
    const auto c = parse(
        "[webhook]\nenabled = true\nlisten = \"[::1]:9999\"\n"
        "token_file = \"/etc/vigil/t\"\nmax_body_bytes = 4096\n"
        "[[webhook.rule]]\nalert = \"Disk\"\nlabels = { severity = \"critical\" }\n"
        "action = \"drain\"\n"
        "[[webhook.rule]]\nalert = \"Work\"\naction = \"maintenance-on\"\n"
        "resolved_action = \"maintenance-off\"\nhost_label = \"instance\"\n"
        "[[webhook.rule]]\nalert = \"Fans\"\naction = \"cordon\"\n"
        "resolved_action = \"uncordon\"\n",
        "t.toml");
    ASSERT_TRUE(c) << c.error().text();
    EXPECT_TRUE(c->webhook_enabled);
    EXPECT_EQ(c->webhook_listen.host, "::1");
    EXPECT_EQ(c->webhook_listen.port, 9999);
    EXPECT_EQ(c->webhook_token_file, "/etc/vigil/t");
    EXPECT_EQ(c->webhook_max_body, 4096U);
    ASSERT_EQ(c->webhook_rules.size(), 3U);
    EXPECT_EQ(c->webhook_rules[0].alert, "Disk");
    ASSERT_EQ(c->webhook_rules[0].labels.size(), 1U);
    EXPECT_EQ(c->webhook_rules[0].labels[0].second, "critical");
    EXPECT_EQ(c->webhook_rules[0].host_label, "host");
    EXPECT_EQ(c->webhook_rules[1].resolved_action, "maintenance-off");
    EXPECT_EQ(c->webhook_rules[1].host_label, "instance");
    EXPECT_EQ(c->webhook_rules[2].action, "cordon");
    EXPECT_EQ(c->webhook_rules[2].resolved_action, "uncordon");
}

TEST(Config, BadWebhookValuesNameTheirLine) {
    auto e = parse_error("[webhook]\nmax_body_bytes = 10\n");
    EXPECT_EQ(e.line, 2);
    EXPECT_NE(e.message.find("out of range"), std::string::npos) << e.message;
    e = parse_error("[webhook]\ntoken_file = \"token\"\n");
    EXPECT_NE(e.message.find("absolute path"), std::string::npos) << e.message;
    e = parse_error("[[webhook.rule]]\nalert = \"A\"\n\naction = \"reboot\"\n");
    EXPECT_EQ(e.line, 4);
    EXPECT_NE(e.message.find("unknown action \"reboot\""), std::string::npos) << e.message;
    e = parse_error("[[webhook.rule]]\nalert = \"A\"\naction = \"drain\"\nhots = \"x\"\n");
    EXPECT_EQ(e.line, 4);
    EXPECT_NE(e.message.find("webhook.rule.hots: unknown key"), std::string::npos) << e.message;
    e = parse_error(
        "[[webhook.rule]]\nalert = \"A\"\nlabels = { severity = 3 }\n"
        "action = \"drain\"\n");
    EXPECT_EQ(e.line, 3);
    e = parse_error("[[webhook.rule]]\nalert = \"A\"\n");
    EXPECT_NE(e.message.find("needs at least alert and action"), std::string::npos) << e.message;
    e = parse_error("[webhook]\nrule = 3\n");
    EXPECT_EQ(e.line, 2);
    EXPECT_NE(e.message.find("array of tables"), std::string::npos) << e.message;
}

// ---- cluster mode -------------------------------------------------------------

constexpr std::string_view kClusterFile = R"([cluster]
enabled = true
group = "vigil-lab"
heartbeat_interval_ms = 500
fence_delay_ms = 9000
membership_timeout_ms = 2500
storage_grace_ms = 4000
link_grace_ms = 1500
start_failure_hold_ms = 20000
isolation_response = "always-stop"
storm_guard_share = 0.75
maintenance_at_start = true
allow_unauthenticated = true

[[cluster.hosts]]
name = "h1"
nodeid = 1
slot = 1
memory_mib = 4096

[[cluster.hosts]]
name = "h2"
nodeid = 7
slot = 0
memory_mib = 8192

[heartbeat]
area = "/var/lib/vigil/shared/heartbeat"

[storage]
slow_ms = 1000

[storage.domains.shared]
block_devices = ["sdb", "dm-3"]

[storage.domains.images]
nfs_mounts = ["/var/lib/vigil/nfs/images"]

[network]
cluster_interfaces = ["eth0"]
vm_uplink_interfaces = ["eth1", "bond0"]
storage_interfaces = ["eth2"]

[libvirt]
uri = "qemu+unix:///system"
start_timeout_ms = 40000
resume_timeout_ms = 5000
stop_grace_ms = 0
stop_timeout_ms = 60000
)";

// F9: one I/O error keeps a device failed for the error window + recovery hold + a
// poll; the grace counts over that state, so the sum must leave room in the grace.
TEST(Config, AStorageErrorWindowThatFillsTheGraceIsRefusedInClusterMode) {
    std::string text(kClusterFile);  // grace 4000, default hold 1000 and poll 250
    const auto with_storage = [&](std::string_view keys) {
        std::string t = text;
        const auto at = t.find("[storage]\n") + std::string_view("[storage]\n").size();
        return t.insert(at, keys);
    };
    EXPECT_TRUE(parse(with_storage("error_window_ms = 2749\n"), "c.toml").has_value());
    auto e = parse_error(with_storage("error_window_ms = 2750\n"));
    EXPECT_EQ(e.line, 31);
    EXPECT_NE(e.message.find("storage.error_window_ms (2750) + storage.recovery_hold_ms (1000) + "
                             "probes.poll_interval_ms (250) must be shorter than "
                             "cluster.storage_grace_ms (4000)"),
              std::string::npos)
        << e.message;
    EXPECT_NE(e.message.find("less than 2750"), std::string::npos) << e.message;
    // The same for NFS mounts, with their own window, hold and poll.
    e = parse_error(text + "[nfs]\nerror_window_ms = 2000\n");
    EXPECT_NE(e.message.find("nfs.error_window_ms (2000) + nfs.recovery_hold_ms (1000) + "
                             "nfs.poll_interval_ms (1000)"),
              std::string::npos)
        << e.message;
    // Standalone decides nothing: any window is taken.
    EXPECT_TRUE(parse("[storage]\nerror_window_ms = 60000\n", "s.toml").has_value());
    // The defaults pass with the default grace.
    EXPECT_LT(Config{}.storage_error_window + Config{}.storage_recovery_hold +
                  Config{}.probe_poll_interval,
              Config{}.storage_grace);
    EXPECT_LT(Config{}.nfs_error_window + Config{}.nfs_recovery_hold + Config{}.nfs_poll_interval,
              Config{}.storage_grace);
}

TEST(Config, ReadsEveryClusterKey) {
    auto c = parse(kClusterFile, "cluster.toml");
    ASSERT_TRUE(c.has_value()) << c.error().text();
    EXPECT_FALSE(c->standalone);
    EXPECT_EQ(c->cluster_group, "vigil-lab");
    EXPECT_EQ(c->heartbeat_interval, std::chrono::milliseconds(500));
    EXPECT_EQ(c->fence_delay, std::chrono::milliseconds(9000));
    EXPECT_EQ(c->membership_timeout, std::chrono::milliseconds(2500));
    EXPECT_EQ(c->storage_grace, std::chrono::milliseconds(4000));
    EXPECT_EQ(c->link_grace, std::chrono::milliseconds(1500));
    EXPECT_EQ(c->start_failure_hold, std::chrono::milliseconds(20000));
    EXPECT_EQ(c->isolation_response, core::IsolationResponse::kAlwaysStop);
    EXPECT_DOUBLE_EQ(c->storm_guard_share, 0.75);
    EXPECT_TRUE(c->maintenance_at_start);
    EXPECT_TRUE(c->allow_unauthenticated_cluster);
    ASSERT_EQ(c->cluster_hosts.size(), 2u);
    EXPECT_EQ(c->cluster_hosts[0].name, "h1");
    EXPECT_EQ(c->cluster_hosts[0].nodeid, 1u);
    EXPECT_EQ(c->cluster_hosts[0].slot, 1u);
    EXPECT_EQ(c->cluster_hosts[0].memory_mib, 4096u);
    EXPECT_EQ(c->cluster_hosts[1].name, "h2");
    EXPECT_EQ(c->cluster_hosts[1].nodeid, 7u);
    EXPECT_EQ(c->cluster_hosts[1].slot, 0u);
    EXPECT_EQ(c->cluster_hosts[1].memory_mib, 8192u);
    EXPECT_EQ(c->heartbeat_area, "/var/lib/vigil/shared/heartbeat");
    ASSERT_EQ(c->evidence_map.domains.size(), 2u);
    EXPECT_EQ(c->evidence_map.domains[0].name, "images");
    EXPECT_EQ(c->evidence_map.domains[0].nfs_mounts,
              std::vector<std::string>{"/var/lib/vigil/nfs/images"});
    EXPECT_EQ(c->evidence_map.domains[1].name, "shared");
    EXPECT_EQ(c->evidence_map.domains[1].block_devices, (std::vector<std::string>{"sdb", "dm-3"}));
    std::set<std::pair<std::string, core::NetRole>> ifaces;
    for (const auto& i : c->evidence_map.interfaces) ifaces.emplace(i.name, i.role);
    EXPECT_EQ(ifaces,
              (std::set<std::pair<std::string, core::NetRole>>{{"eth0", core::NetRole::kCluster},
                                                               {"eth1", core::NetRole::kVmUplink},
                                                               {"bond0", core::NetRole::kVmUplink},
                                                               {"eth2", core::NetRole::kStorage}}));
    EXPECT_TRUE(core::EvidenceMap::make(c->evidence_map).has_value());
    EXPECT_EQ(c->libvirt_uri, "qemu+unix:///system");
    EXPECT_EQ(c->vm_start_timeout, std::chrono::milliseconds(40000));
    EXPECT_EQ(c->vm_resume_timeout, std::chrono::milliseconds(5000));
    EXPECT_EQ(c->vm_stop_grace, std::chrono::milliseconds(0));
    EXPECT_EQ(c->vm_stop_timeout, std::chrono::milliseconds(60000));
}

TEST(Config, IsolationResponsesAndShares) {
    for (const char* r : {"stop-when-uplinks-dead", "leave-running", "always-stop"}) {
        auto c = parse(std::string("[cluster]\nisolation_response = \"") + r + "\"\n", "t.toml");
        ASSERT_TRUE(c.has_value()) << c.error().text();
        EXPECT_EQ(core::name(c->isolation_response), r);
    }
    auto one = parse("[cluster]\nstorm_guard_share = 1\n", "t.toml");
    ASSERT_TRUE(one.has_value()) << one.error().text();
    EXPECT_DOUBLE_EQ(one->storm_guard_share, 1.0);
}

// Cluster keys in a standalone file are checked like any other, and not used.
TEST(Config, ClusterKeysInAStandaloneFileAreCheckedNotRequired) {
    auto c = parse(
        "[cluster]\nenabled = false\nfence_delay_ms = 9000\n[[cluster.hosts]]\n"
        "name = \"h1\"\nnodeid = 1\nslot = 0\nmemory_mib = 1024\n",
        "t.toml");
    ASSERT_TRUE(c.has_value()) << c.error().text();
    EXPECT_TRUE(c->standalone);
    EXPECT_EQ(c->cluster_hosts.size(), 1u);
    auto bad = parse_error("[cluster]\nenabled = false\nfence_delay_ms = \"7s\"\n");
    EXPECT_EQ(bad.line, 3);
    EXPECT_NE(bad.message.find("cluster.fence_delay_ms: expected a whole number of milliseconds"),
              std::string::npos)
        << bad.message;
}

TEST(Config, ClusterModeNeedsHostsAndAHeartbeatArea) {
    auto no_hosts = parse_error("[cluster]\nenabled = true\n[heartbeat]\narea = \"/x/hb\"\n");
    EXPECT_EQ(no_hosts.line, 2);
    EXPECT_NE(no_hosts.message.find("[[cluster.hosts]]"), std::string::npos) << no_hosts.message;
    auto no_area = parse_error(
        "[cluster]\nenabled = true\n[[cluster.hosts]]\nname = \"h1\"\nnodeid = 1\nslot = 0\n"
        "memory_mib = 1024\n");
    EXPECT_EQ(no_area.line, 2);
    EXPECT_NE(no_area.message.find("heartbeat.area"), std::string::npos) << no_area.message;
}

std::string host(const char* name, int nodeid, int slot, int memory = 1024) {
    return "[[cluster.hosts]]\nname = \"" + std::string(name) +
           "\"\nnodeid = " + std::to_string(nodeid) + "\nslot = " + std::to_string(slot) +
           "\nmemory_mib = " + std::to_string(memory) + "\n";
}

TEST(Config, BadHostsNameTheirLine) {
    struct Case {
        std::string text;
        int line;
        std::string_view reason;
    };
    const std::vector<Case> cases = {
        {host("h1", 1, 0) + host("h2", 1, 1), 8, "nodeid 1 is also host \"h1\"'s"},
        {host("h1", 1, 0) + host("h2", 2, 0), 9, "slot 0 is also host \"h1\"'s"},
        {host("h1", 1, 0) + host("h1", 2, 1), 7, "\"h1\" names two hosts"},
        {host("h1", 1, 0) + host("h2", 2, 2), 1,
         "host \"h2\" has slot 2, but 2 hosts own slots 0 to 1"},
        {host("h1", 0, 0), 3, "cluster.hosts.nodeid: value 0 is out of range"},
        {host("h1", 1, 0, 0), 5, "cluster.hosts.memory_mib: value 0 is out of range"},
        {"[[cluster.hosts]]\nname = \"h1\"\nnodeid = 1\nslot = 0\n", 1,
         "each host needs name, nodeid, slot and memory_mib"},
        {"[[cluster.hosts]]\nname = \"h1\"\nnodeid = 1\nslot = 0\nmemory_mib = 1\nram = 2\n", 6,
         "cluster.hosts.ram: unknown key"},
        {"[cluster]\nhosts = 3\n", 2, "must be an array of tables"},
        {"[[cluster.hosts]]\nname = \"h1\"\nnodeid = \"one\"\nslot = 0\nmemory_mib = 1\n", 3,
         "cluster.hosts.nodeid: expected an integer, got a string"},
    };
    for (const auto& c : cases) {
        auto e = parse_error(c.text);
        EXPECT_EQ(e.line, c.line) << c.text << e.message;
        EXPECT_NE(e.message.find(c.reason), std::string::npos) << c.text << e.message;
    }
}

TEST(Config, BadClusterValuesNameTheirLine) {
    struct Case {
        std::string text;
        int line;
        std::string_view reason;
    };
    const std::vector<Case> cases = {
        {"[cluster]\ngroup = \"\"\n", 2, "cluster.group: must be 1 to 127 bytes"},
        {"[cluster]\ngroup = \"" + std::string(128, 'g') + "\"\n", 2, "must be 1 to 127 bytes"},
        {"[cluster]\nisolation_response = \"reboot\"\n", 2,
         "unknown isolation response \"reboot\" (stop-when-uplinks-dead, leave-running, "
         "always-stop)"},
        {"[cluster]\nstorm_guard_share = 0.0\n", 2, "cluster.storm_guard_share: value 0"},
        {"[cluster]\nstorm_guard_share = 1.5\n", 2, "out of range (0, 1]"},
        {"[cluster]\nstorm_guard_share = \"half\"\n", 2, "expected a number, got a string"},
        {"[cluster]\nheartbeat_interval_ms = 50\n", 2, "value 50 is out of range [100, 60000]"},
        {"[cluster]\nmembership_timeout_ms = -1\n", 2, "out of range"},
        {"[cluster]\nenabled = \"yes\"\n", 2, "cluster.enabled: expected true or false"},
        {"[cluster]\nallow_unauthenticated_cluster = true\n", 2,
         "unknown key \"allow_unauthenticated_cluster\" in [cluster]"},
        {"[heartbeat]\narea = \"shared/hb\"\n", 2, "heartbeat.area: must be an absolute path"},
        {"[heartbeat]\nslots = 3\n", 2, "unknown key \"slots\" in [heartbeat]"},
        {"[libvirt]\nuri = \"system\"\n", 2, "libvirt.uri: \"system\" is not a libvirt URI"},
        {"[libvirt]\nstart_timeout_ms = 10\n", 2, "libvirt.start_timeout_ms: value 10"},
    };
    for (const auto& c : cases) {
        auto e = parse_error(c.text);
        EXPECT_EQ(e.line, c.line) << c.text << e.message;
        EXPECT_NE(e.message.find(c.reason), std::string::npos) << c.text << e.message;
    }
}

// The evidence map is refused at the line that made it invalid, with the
// map's own reason.
TEST(Config, BadEvidenceMapNamesItsLine) {
    struct Case {
        std::string text;
        int line;
        std::string_view reason;
    };
    const std::vector<Case> cases = {
        {"[network]\ncluster_interfaces = [\"eth0\"]\nvm_uplink_interfaces = [\"eth0\"]\n", 3,
         "interface \"eth0\" has two roles"},
        {"[network]\nstorage_interfaces = [\"eth2\", \"eth2\"]\n", 2,
         "interface \"eth2\" is listed twice in network.storage_interfaces"},
        {"[network]\ncluster_interfaces = [\"an-interface-name-too-long\"]\n", 2,
         "an-interface-name-too-long"},
        {"[network]\ncluster_interfaces = [1]\n", 2, "expected an array of strings"},
        {"[storage.domains.shared]\nblock_devices = []\n", 1,
         "storage.domains.shared: storage domain \"shared\" has no block devices and no NFS "
         "mounts"},
        {"[storage.domains.a]\nblock_devices = [\"sdb\"]\n[storage.domains.b]\n"
         "block_devices = [\"sdb\"]\n",
         3, "storage.domains.b: "},
        {"[storage.domains.shared]\nblock_devices = [\"/dev/sdb\"]\n", 1, "/dev/sdb"},
        {"[storage.domains.shared]\nnfs_mounts = [\"nfs/images\"]\n", 1, "nfs/images"},
        {"[storage.domains.shared]\ndevices = [\"sdb\"]\n", 2,
         "storage.domains.shared.devices: unknown key (block_devices, nfs_mounts)"},
        {"[storage]\ndomains = 1\n", 2, "storage.domains must be a table of tables"},
        {"[storage.domains]\nshared = 1\n", 2, "storage.domains.shared: expected a table"},
    };
    for (const auto& c : cases) {
        auto e = parse_error(c.text);
        EXPECT_EQ(e.line, c.line) << c.text << e.message;
        EXPECT_NE(e.message.find(c.reason), std::string::npos) << c.text << e.message;
    }
}

// ---- every kind of bad value, as a user would write it -----------------------

struct BadValue {
    std::string text;
    int line;
    std::string_view reason;
};

void expect_refused(const std::vector<BadValue>& cases) {
    for (const auto& c : cases) {
        auto e = parse_error(c.text);
        EXPECT_EQ(e.line, c.line) << c.text << e.message;
        EXPECT_NE(e.message.find(c.reason), std::string::npos) << c.text << e.message;
    }
}

// A drain by migration: off by default, a boolean, and every host needs the
// libvirt URI its libvirtd is reached at.
TEST(Config, DrainByMigrationNeedsAMigrationUriForEveryHost) {
    const std::string area = "[heartbeat]\narea = \"/x/hb\"\n";
    auto off = parse("[cluster]\nenabled = true\n" + host("h1", 1, 0) + area, "t.toml");
    ASSERT_TRUE(off.has_value()) << off.error().text();
    EXPECT_FALSE(off->drain_migrate);
    EXPECT_EQ(off->vm_migrate_timeout, std::chrono::milliseconds{300000});
    const std::string uri1 = "migration_uri = \"qemu+tls://h1.example/system\"\n";
    const std::string uri2 = "migration_uri = \"qemu+ssh://root@h2/system\"\n";
    auto on = parse("[cluster]\nenabled = true\ndrain_migrate = true\n" + host("h1", 1, 0) + uri1 +
                        host("h2", 2, 1) + uri2 + area + "[libvirt]\nmigrate_timeout_ms = 60000\n",
                    "t.toml");
    ASSERT_TRUE(on.has_value()) << on.error().text();
    EXPECT_TRUE(on->drain_migrate);
    EXPECT_EQ(on->cluster_hosts[0].migration_uri, "qemu+tls://h1.example/system");
    EXPECT_EQ(on->cluster_hosts[1].migration_uri, "qemu+ssh://root@h2/system");
    EXPECT_EQ(on->vm_migrate_timeout, std::chrono::milliseconds{60000});
    expect_refused({
        {"[cluster]\ndrain_migrate = \"yes\"\n", 2,
         "cluster.drain_migrate: expected true or false"},
        {"[cluster]\ndrain_migrate = 1\n", 2, "cluster.drain_migrate: expected true or false"},
        {host("h1", 1, 0) + "migration_uri = \"h1:16509\"\n", 6,
         "cluster.hosts.migration_uri: \"h1:16509\" is not a libvirt URI"},
        {host("h1", 1, 0) + "migration_uri = \"qemu+tls://h1 /system\"\n", 6,
         "is not a libvirt URI"},
        {host("h1", 1, 0) + "migration_uri = 16509\n", 6,
         "cluster.hosts.migration_uri: expected a string, got an integer"},
        {"[cluster]\nenabled = true\ndrain_migrate = true\n" + host("h1", 1, 0) + uri1 +
             host("h2", 2, 1) + area,
         3, "cluster.drain_migrate = true needs a migration_uri for every host"},
        {"[libvirt]\nmigrate_timeout_ms = 10\n", 2,
         "libvirt.migrate_timeout_ms: value 10 is out of range [1000, 86400000]"},
    });
}

// The listeners pack the octets without checking them: 999.1.1.1 would bind
// 231.1.1.1. Both listen keys go through parse_endpoint().
TEST(Config, BadAddressesAreRefusedWithTheirLine) {
    expect_refused({
        {"[metrics]\nlisten = \"999.1.1.1:1\"\n", 2,
         "metrics.listen: \"999.1.1.1\" is not an IPv4 address: octet 999 is larger than 255"},
        {"[metrics]\nlisten = \"1.2.3.256:1\"\n", 2, "octet 256 is larger than 255"},
        {"[webhook]\n\nlisten = \"1.2.3:9775\"\n", 3, "webhook.listen: \"1.2.3\" is not an IPv4"},
        {"[metrics]\nlisten = \"127.1:1\"\n", 2, "2 numbers, not four"},
        {"[metrics]\nlisten = \"1.2.3.4.5:1\"\n", 2, "not an IPv4 address"},
        {"[metrics]\nlisten = \"1..3.4:1\"\n", 2, "not an IPv4 address"},
        {"[metrics]\nlisten = \"010.0.0.1:1\"\n", 2, "has a leading zero"},
        {"[metrics]\nlisten = \" 127.0.0.1:1\"\n", 2, "is not an IP address"},
        {"[metrics]\nlisten = \"localhost:9774\"\n", 2,
         "\"localhost\" is not an IP address: give an IPv4 address"},
        {"[metrics]\nlisten = \"[::1]:0\"\n", 2, "port must be 1-65535, got \"0\""},
        {"[metrics]\nlisten = \"127.0.0.1:65536\"\n", 2, "port must be 1-65535"},
        {"[metrics]\nlisten = \"127.0.0.1:-1\"\n", 2, "port must be 1-65535"},
        {"[metrics]\nlisten = \"127.0.0.1:\"\n", 2, "port must be 1-65535"},
        {"[metrics]\nlisten = \"127.0.0.1\"\n", 2, "expected \"host:port\""},
        {"[metrics]\nlisten = \"::1:9774\"\n", 2, "expected \"host:port\" (or \"[IPv6]:port\")"},
        {"[metrics]\nlisten = \"[::1:9774\"\n", 2, "expected \"[address]:port\""},
        {"[metrics]\nlisten = \"[]:9774\"\n", 2, "missing host"},
        {"[metrics]\nlisten = \"[zz::1]:9774\"\n", 2, "\"zz::1\" is not an IPv6 address"},
        {"[metrics]\nlisten = \"[fe80::1%eth0]:9774\"\n", 2, "zone ids"},
        {"[metrics]\nlisten = \"[127.0.0.1]:9774\"\n", 2,
         "is an IPv4 address: brackets are for IPv6, write 127.0.0.1:9774"},
        {"[webhook]\nenabled = true\nlisten = \"127.0.0.1:9774\"\n", 3,
         "webhook.listen and metrics.listen both take port 9774"},
        {"[metrics]\nlisten = \"0.0.0.0:9000\"\n[webhook]\nenabled = true\n"
         "listen = \"[::1]:9000\"\n",
         5, "both take port 9000"},
    });
    for (const char* good : {"0.0.0.0:1", "255.255.255.255:65535", "10.0.0.1:9774", "[::]:1",
                             "[::1]:9774", "[2001:db8::7]:80", "[::ffff:10.0.0.1]:1"}) {
        EXPECT_TRUE(parse_endpoint(good).has_value()) << good << parse_endpoint(good).error();
    }
    // Disabled, or on other ports, the two listeners do not clash.
    EXPECT_TRUE(parse("[webhook]\nlisten = \"127.0.0.1:9774\"\n", "t.toml").has_value());
    EXPECT_TRUE(parse("[webhook]\nenabled = true\nlisten = \"127.0.0.2:9774\"\n", "t.toml"));
}

TEST(Config, BadPathsAreRefusedWithTheirLine) {
    expect_refused({
        {"[control]\nsocket = \"\"\n", 2, "control.socket: must be an absolute path, got an empty"},
        {"[control]\nsocket = \"run/vigild.sock\"\n", 2,
         "must be an absolute path, got \"run/vigild.sock\""},
        {"[control]\nsocket = \"/run/vigil/\"\n", 2, "ends in \"/\", a directory; give a file"},
        {"[control]\nsocket = \"/\"\n", 2, "ends in \"/\""},
        {"[control]\nsocket = \"/run/../vigild.sock\"\n", 2, "has a \"..\" component"},
        {"[fence]\nflight_record = \"/var/lib/./vigil/fr\"\n", 2,
         "fence.flight_record: \"/var/lib/./vigil/fr\" has a \".\" component"},
        {"[watchdog]\ndevice = \"/dev/watch\\u0001dog\"\n", 2, "without control characters"},
        {"[watchdog]\ndevice = \"watchdog\"\n", 2, "watchdog.device: must be an absolute path"},
        {"[nfs]\nmountstats = \"/proc/self/mountstats/\"\n", 2, "nfs.mountstats: "},
        {"[webhook]\ntoken_file = \"/etc/vigil/\"\n", 2, "webhook.token_file: "},
        {"[heartbeat]\narea = \"/srv/../hb\"\n", 2, "heartbeat.area: "},
        {"[hooks]\ndir = \"/etc/vigil/hooks.d/..\"\n", 2, "hooks.dir: "},
        {"[hooks]\ndir = \"/" + std::string(4100, 'd') + "\"\n", 2, "more than a path may be"},
        {"[control]\nsocket = \"/" + std::string(120, 's') + "\"\n", 2,
         "longer than a unix socket path may be (107)"},
    });
    // A directory may end in "/"; the root directory is a directory.
    EXPECT_TRUE(parse("[hooks]\ndir = \"/etc/vigil/hooks.d/\"\n", "t.toml").has_value());
}

TEST(Config, BadDurationsAreRefusedWithTheirLine) {
    expect_refused({
        {"[probes]\npoll_interval_ms = \"250ms\"\n", 2,
         "probes.poll_interval_ms: expected a whole number of milliseconds without a unit, got a "
         "string"},
        {"[cluster]\nfence_delay_ms = 7.5\n", 2, "whole number of milliseconds without a unit"},
        {"[watchdog]\ntimeout_s = \"5s\"\n", 2, "whole number of seconds without a unit"},
        {"[storage]\nslow_ms = -1\n", 2, "value -1 is out of range [100, 600000]"},
        {"[watchdog]\ntimeout_s = 0\n", 2, "value 0 is out of range [2, 600]"},
        {"[hooks]\ntimeout_ms = 0\n", 2, "value 0 is out of range"},
        {"[libvirt]\nstop_timeout_ms = 9223372036854775807\n", 2, "out of range"},
        // Beyond 64 bits: the TOML reader refuses it at its line.
        {"[nfs]\nstall_ms = 99999999999999999999\n", 2, "not representable in 64 bits"},
        {"[network]\ndown_hold_ms = true\n", 2, "expected an integer, got a boolean"},
    });
}

TEST(Config, BadNamesAreRefusedWithTheirLine) {
    expect_refused({
        {"[cluster]\ngroup = \"my group\"\n", 2, "cluster.group: \"my group\" is not a name"},
        {"[cluster]\ngroup = \"vigil/lab\"\n", 2, "is not a name"},
        {host("h 1", 1, 0), 2, "cluster.hosts.name: \"h 1\" is not a name"},
        {host("h1/a", 1, 0), 2, "is not a name"},
        {host("-h1", 1, 0), 2, "is not a name"},
        {host("", 1, 0), 2, "cluster.hosts.name: must not be empty"},
        {host(std::string(65, 'h').c_str(), 1, 0), 2, "more than 64"},
        {"[storage.domains.\"shared disks\"]\nblock_devices = [\"sda\"]\n", 1,
         "storage.domains: the domain name \"shared disks\" is not a name"},
        {"[storage.domains.\"a/b\"]\nblock_devices = [\"sda\"]\n", 1, "is not a name"},
        {"[[webhook.rule]]\nalert = \"A\"\naction = \"drain\"\nhost_label = \"host name\"\n", 4,
         "webhook.rule.host_label: \"host name\" is not a label name"},
        {"[[webhook.rule]]\nalert = \"A\"\naction = \"drain\"\nlabels = { \"a-b\" = \"x\" }\n", 4,
         "webhook.rule.labels: \"a-b\" is not a label name"},
        {"[[webhook.rule]]\nalert = \"A\"\naction = \"drain\"\nhost = \"h 1\"\n", 4,
         "webhook.rule.host: \"h 1\" is not a name"},
        {"[[webhook.rule]]\nalert = \"Disk \"\naction = \"drain\"\n", 2, "white space at an end"},
        {"[hooks]\nuser = \"a b\"\n", 2, "is not a user name"},
        {"[network]\nvm_uplink_interfaces = [\"eth 0\"]\n", 2, "a name the kernel does not allow"},
        {"[storage.domains.shared]\nblock_devices = [\"/dev/sda\"]\n", 1, "a path"},
        {"[libvirt]\nuri = \"qemu:///system \"\n", 2, "is not a libvirt URI"},
        {"[libvirt]\nuri = \"qemu:\"\n", 2, "is not a libvirt URI"},
        {"[libvirt]\nuri = \"://x\"\n", 2, "is not a libvirt URI"},
    });
    EXPECT_TRUE(
        parse("[libvirt]\nuri = \"qemu+ssh://root@h2.example/system?no_tty=1\"\n", "t.toml"));
    EXPECT_TRUE(parse("[cluster]\ngroup = \"vigil-lab.2_a\"\n", "t.toml"));
}

TEST(Config, DuplicatesAreRefusedWhereTheyRepeat) {
    expect_refused({
        {host("h1", 1, 0) + host("h2", 1, 1), 8, "nodeid 1 is also host \"h1\"'s"},
        {host("h1", 1, 0) + host("h2", 2, 0), 9, "slot 0 is also host \"h1\"'s"},
        {host("h1", 1, 0) + host("h1", 2, 1), 7, "\"h1\" names two hosts"},
        {"[storage.domains.a]\nblock_devices = [\"sda\"]\n[storage.domains.b]\n"
         "block_devices = [\"sda\"]\n",
         3, "is in storage domains \"a\" and \"b\""},
        {"[network]\ncluster_interfaces = [\"eth0\", \"eth0\"]\n", 2, "listed twice"},
        {"[[webhook.rule]]\nalert = \"A\"\naction = \"drain\"\n"
         "[[webhook.rule]]\nalert = \"A\"\nlabels = { s = \"x\" }\naction = \"drain\"\n",
         4, "rule 2 (alert \"A\") is matched first by rule 1"},
        {"[[webhook.rule]]\nalert = \"A\"\nlabels = { s = \"x\", t = \"y\" }\naction = \"drain\"\n"
         "[[webhook.rule]]\nalert = \"A\"\nlabels = { t = \"y\", s = \"x\" }\n"
         "action = \"maintenance-on\"\n",
         5, "would never act"},
        {"[probes]\npoll_interval_ms = 100\npoll_interval_ms = 200\n", 3, ""},
    });
    // A narrower rule before a wider one is fine: each can act.
    EXPECT_TRUE(
        parse("[[webhook.rule]]\nalert = \"A\"\nlabels = { s = \"x\" }\naction = \"drain\"\n"
              "[[webhook.rule]]\nalert = \"A\"\naction = \"maintenance-on\"\n",
              "t.toml"));
}

TEST(Config, AWebhookRuleForAHostTheClusterLacksIsRefused) {
    std::string text(kClusterFile);
    text += "[[webhook.rule]]\nalert = \"A\"\naction = \"drain\"\nhost = \"h3\"\n";
    const auto e = parse_error(text);
    EXPECT_NE(e.message.find("webhook.rule.host: \"h3\" is not one of cluster.hosts"),
              std::string::npos)
        << e.message;
    EXPECT_GT(e.line, 0);
    text.replace(text.rfind("h3"), 2, "h2");
    EXPECT_TRUE(parse(text, "t.toml").has_value());
}

// ---- reload -------------------------------------------------------------------

Config parsed(std::string_view text) {
    auto c = parse(text, "/etc/vigil/vigil.toml");
    EXPECT_TRUE(c.has_value()) << c.error().text();
    return c.value_or(Config{});
}

TEST(Reload, TheLogLevelChangesLive) {
    const Config running = parsed("[log]\nlevel = \"info\"\n");
    const auto plan = plan_reload(running, parsed("[log]\nlevel = \"debug\"\n"));
    EXPECT_EQ(plan.config.log_level, LogLevel::kDebug);
    ASSERT_EQ(plan.applied.size(), 1U);
    EXPECT_EQ(plan.applied[0].key, "log.level");
    EXPECT_EQ(plan.applied[0].from, "\"info\"");
    EXPECT_EQ(plan.applied[0].to, "\"debug\"");
    EXPECT_TRUE(plan.refused.empty());
}

TEST(Reload, AListenAddressChangeIsRefusedByNameAndTheRestStillApplies) {
    const Config running = parsed("[metrics]\nlisten = \"127.0.0.1:9774\"\n");
    const auto plan = plan_reload(
        running, parsed("[metrics]\nlisten = \"[::1]:9100\"\n[log]\nlevel = \"warning\"\n"));
    ASSERT_EQ(plan.refused.size(), 1U);
    EXPECT_EQ(plan.refused[0].key, "metrics.listen");
    EXPECT_EQ(plan.refused[0].from, "\"127.0.0.1:9774\"");
    EXPECT_EQ(plan.refused[0].to, "\"[::1]:9100\"");
    EXPECT_EQ(plan.config.metrics_listen.host, "127.0.0.1") << "the running value is kept";
    EXPECT_EQ(plan.config.metrics_listen.port, 9774);
    EXPECT_EQ(plan.config.log_level, LogLevel::kWarning);
}

TEST(Reload, TheWatchdogIsNeverArmedOrDisarmedByAReload) {
    const Config running;
    const auto plan = plan_reload(running, parsed("[watchdog]\nenabled = true\ntimeout_s = 30\n"));
    EXPECT_FALSE(plan.config.watchdog_enabled);
    EXPECT_EQ(plan.config.watchdog_timeout, std::chrono::seconds(5));
    std::set<std::string> refused;
    for (const auto& c : plan.refused) refused.insert(c.key);
    EXPECT_EQ(refused, (std::set<std::string>{"watchdog.enabled", "watchdog.timeout_s"}));
}

// vigild does not start the webhook receiver or the hook runner yet, so
// their settings take a restart; any change within a rule row shows.
TEST(Reload, AChangedWebhookRuleIsRefusedByNameAndKept) {
    const std::string rule =
        "[hooks]\ntimeout_ms = 1000\n"
        "[[webhook.rule]]\nalert = \"A\"\nlabels = { severity = \"critical\" }\n"
        "action = \"drain\"\n";
    const Config running = parsed(rule);
    std::string changed = rule;
    changed.replace(changed.find("critical"), 8, "warning");
    changed.replace(changed.find("1000"), 4, "2000");
    const auto plan = plan_reload(running, parsed(changed));
    std::set<std::string> refused;
    for (const auto& c : plan.refused) refused.insert(c.key);
    EXPECT_EQ(refused, (std::set<std::string>{"hooks.timeout_ms", "webhook.rule"}));
    EXPECT_TRUE(plan.applied.empty());
    ASSERT_EQ(plan.config.webhook_rules.size(), 1U);
    EXPECT_EQ(plan.config.webhook_rules[0].labels[0].second, "critical");
    EXPECT_EQ(plan.config.hooks_timeout, std::chrono::milliseconds(1000));
}

// Joining, leaving or retiming the cluster takes a restart, each key by name.
TEST(Reload, EveryClusterKeyTakesARestart) {
    const Config running = parsed(std::string(kClusterFile));
    std::string changed(kClusterFile);
    const std::vector<std::pair<std::string, std::string>> edits = {
        {"enabled = true", "enabled = false"},
        {"group = \"vigil-lab\"", "group = \"other\""},
        {"fence_delay_ms = 9000", "fence_delay_ms = 12000"},
        {"isolation_response = \"always-stop\"", "isolation_response = \"leave-running\""},
        {"storm_guard_share = 0.75", "storm_guard_share = 0.5"},
        {"memory_mib = 8192", "memory_mib = 16384"},
        {"area = \"/var/lib/vigil/shared/heartbeat\"", "area = \"/srv/hb\""},
        {"block_devices = [\"sdb\", \"dm-3\"]", "block_devices = [\"sdb\"]"},
        {"vm_uplink_interfaces = [\"eth1\", \"bond0\"]", "vm_uplink_interfaces = [\"eth1\"]"},
        {"uri = \"qemu+unix:///system\"", "uri = \"qemu:///system\""},
        {"stop_grace_ms = 0", "stop_grace_ms = 1000"},
    };
    for (const auto& [from, to] : edits) {
        const auto at = changed.find(from);
        ASSERT_NE(at, std::string::npos) << from;
        changed.replace(at, from.size(), to);
    }
    const auto plan = plan_reload(running, parsed(changed));
    EXPECT_TRUE(plan.applied.empty());
    std::set<std::string> refused;
    for (const auto& r : plan.refused) refused.insert(r.key);
    EXPECT_EQ(refused,
              (std::set<std::string>{"cluster.enabled", "cluster.group", "cluster.fence_delay_ms",
                                     "cluster.isolation_response", "cluster.storm_guard_share",
                                     "cluster.hosts", "heartbeat.area", "storage.domains",
                                     "network.vm_uplink_interfaces", "libvirt.uri",
                                     "libvirt.stop_grace_ms"}));
    EXPECT_FALSE(plan.config.standalone);
    EXPECT_EQ(plan.config.fence_delay, std::chrono::milliseconds(9000));
    EXPECT_EQ(plan.config.cluster_hosts[1].memory_mib, 8192u);
    EXPECT_EQ(plan.config.evidence_map.domains[1].block_devices.size(), 2u);
    for (const auto& k : reloadable_keys()) {
        if (k.key.starts_with("cluster.") || k.key.starts_with("heartbeat.") ||
            k.key.starts_with("libvirt.")) {
            EXPECT_FALSE(k.live) << k.key;
        }
    }
}

TEST(Reload, AnUnchangedFileChangesNothing) {
    const Config running = parsed("[log]\nlevel = \"error\"\n");
    const auto plan = plan_reload(running, running);
    EXPECT_TRUE(plan.applied.empty());
    EXPECT_TRUE(plan.refused.empty());
}

// Every key of the schema has a reload rule and no rule names a key the
// schema lacks: a new key cannot be forgotten here.
TEST(Reload, EveryKeyHasARule) {
    std::vector<std::string> rules;
    for (const auto& k : reloadable_keys()) rules.push_back(k.key);
    std::sort(rules.begin(), rules.end());
    EXPECT_EQ(rules, known_keys());
}

// Every key of the schema is in the annotated file the package installs as
// /etc/vigil/vigil.toml, each under a comment that explains it.
TEST(Config, ExampleFileHasEveryKeyWithAComment) {
    std::ifstream in(VIGIL_EXAMPLE_CONFIG);
    std::string line;
    std::string section;
    bool commented = false;
    std::set<std::string> present;
    std::string block;  // the comment above the current key or group of keys
    std::set<std::string> marked_live;
    bool previous_was_comment = false;
    const std::regex section_re(R"(^\[([a-z_]+)\]\s*$)");
    const std::regex key_re(R"(^([a-z_]+)\s*=)");
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_search(line, m, section_re)) {
            section = m[1];
        } else if (std::regex_search(line, m, key_re)) {
            const std::string key = section + "." + std::string(m[1]);
            present.insert(key);
            EXPECT_TRUE(commented) << key << " has no comment above it (or above its group)";
            if (block.find("Changes on reload.") != std::string::npos) marked_live.insert(key);
        }
        const bool comment = line.starts_with("#");
        if (comment && !previous_was_comment) block.clear();
        if (comment) {
            commented = true;
            block += line + "\n";
        }
        if (line.empty()) commented = false;
        previous_was_comment = comment;
    }
    const auto known = known_keys();
    EXPECT_EQ(present, std::set<std::string>(known.begin(), known.end()));
    // The file (and so vigil.toml(5)) says which keys a reload applies.
    std::set<std::string> live;
    for (const auto& k : reloadable_keys()) {
        if (k.live) live.insert(k.key);
    }
    EXPECT_EQ(marked_live, live);
}

}  // namespace
}  // namespace vigil::config
