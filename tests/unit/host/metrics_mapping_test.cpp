// From the engine's snapshot to what /metrics serves of the cluster: peers by
// their configured names with one class set, ages of their last sign of life,
// HA VMs by the state of their qemu here, active alerts of every kind; and
// the exposition text those values make, series of a VM that went included.
#include <gtest/gtest.h>

#include "daemon/core/alerts.h"
#include "daemon/host/mapping.h"
#include "daemon/host/refusal_log.h"

namespace vigil::host {
namespace {

using namespace std::chrono_literals;

core::TimePoint at(core::Duration d) { return core::TimePoint(d); }

core::EngineSnapshot snapshot() {
    core::EngineSnapshot e{.self = core::HostId{1}, .quorate = true};
    // h2: a message at 8 s and a slot advance at 9 s; h3: never heard from.
    e.peers.push_back(core::PeerSnapshot{.id = core::HostId{2},
                                         .cls = core::PeerClass::kAlive,
                                         .in_membership = true,
                                         .last_message = at(8s),
                                         .last_slot_advance = at(9s)});
    e.peers.push_back(core::PeerSnapshot{.id = core::HostId{3}, .cls = core::PeerClass::kDead});
    e.vms.push_back(core::VmSnapshot{.name = "web", .here = core::VmState::kPausedIoError});
    e.vms.push_back(core::VmSnapshot{.name = "db", .owner = core::HostId{2}});
    e.alerts_active = {{core::AlertKind::kVmIoError, 1}, {core::AlertKind::kNoCapacity, 2}};
    return e;
}

TEST(ClusterMetrics, SnapshotBecomesLabelsAndValues) {
    const auto engine = snapshot();
    const std::map<std::uint32_t, std::string> names{{1, "alpha"}, {2, "beta"}};
    const auto m = cluster_metrics(ClusterView{
        .engine = engine, .members = 2, .names = names, .now = at(10s), .started = at(4s)});
    EXPECT_TRUE(m.quorate);
    EXPECT_EQ(m.members, 2u);
    ASSERT_EQ(m.peers.size(), 2u);
    EXPECT_EQ(m.peers[0].peer, "beta");
    EXPECT_EQ(m.peers[0].cls, "alive");
    EXPECT_DOUBLE_EQ(m.peers[0].last_sign_of_life_age_seconds, 1.0);  // the newer of the two
    EXPECT_TRUE(m.peers[0].in_membership);
    EXPECT_EQ(m.peers[1].peer, "h3");  // not named in the configuration
    EXPECT_EQ(m.peers[1].cls, "dead");
    EXPECT_DOUBLE_EQ(m.peers[1].last_sign_of_life_age_seconds, 6.0);  // since vigild started
    EXPECT_EQ(m.peer_classes, (std::vector<std::string>{"alive", "isolated", "suspect", "dead",
                                                        "released", "frozen"}));
    ASSERT_EQ(m.vms.size(), 2u);
    EXPECT_EQ(m.vms[0].state, "paused-io-error");
    EXPECT_TRUE(m.vms[0].running_here);  // a paused qemu still holds its disks here
    EXPECT_EQ(m.vms[1].state, "absent");
    EXPECT_FALSE(m.vms[1].running_here);
    EXPECT_EQ(m.vm_states.front(), "absent");
    EXPECT_EQ(m.vm_states.size(), std::size(core::kAllVmStates) + 1);
    // Every kind, 0 included, in declaration order.
    ASSERT_EQ(m.alerts_active.size(), std::size(core::kAllAlertKinds));
    for (const auto& [kind, n] : m.alerts_active) {
        EXPECT_EQ(n, kind == "vm-io-error" ? 1u : kind == "no-capacity" ? 2u : 0u) << kind;
    }
}

TEST(ClusterMetrics, ShutOffIsNotRunningHere) {
    core::EngineSnapshot e;
    e.vms.push_back(core::VmSnapshot{.name = "old", .here = core::VmState::kShutOff});
    const std::map<std::uint32_t, std::string> names;
    const auto m = cluster_metrics(ClusterView{.engine = e, .names = names});
    ASSERT_EQ(m.vms.size(), 1u);
    EXPECT_EQ(m.vms[0].state, "shut-off");
    EXPECT_FALSE(m.vms[0].running_here);
}

TEST(ClusterMetrics, AlertLatchCountsWhatIsActiveByKind) {
    core::AlertLatch latch;
    latch.raise({.key = "no-capacity:web", .kind = core::AlertKind::kNoCapacity});
    latch.raise({.key = "no-capacity:db", .kind = core::AlertKind::kNoCapacity});
    latch.raise({.key = "quorum-lost", .kind = core::AlertKind::kQuorumLost});
    EXPECT_TRUE(latch.active_by_kind().empty());  // active once the tick ends
    EXPECT_EQ(latch.end_tick().size(), 3u);
    EXPECT_EQ(latch.active_by_kind(),
              (std::map<core::AlertKind, std::size_t>{{core::AlertKind::kQuorumLost, 1},
                                                      {core::AlertKind::kNoCapacity, 2}}));
    latch.raise({.key = "no-capacity:db", .kind = core::AlertKind::kNoCapacity});
    EXPECT_TRUE(latch.end_tick().empty());  // not started again
    EXPECT_EQ(latch.active_by_kind(),
              (std::map<core::AlertKind, std::size_t>{{core::AlertKind::kNoCapacity, 1}}));
}

bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(ClusterMetrics, RenderedOnceEachAndAVmThatWentLeavesNoSeries) {
    auto metrics = exporters::Metrics::make({.serve = false, .version = "test"});
    ASSERT_TRUE(metrics.has_value()) << metrics.error().message;
    auto& m = **metrics;
    // Before cluster mode sets anything: declared, no series.
    auto text = m.render();
    EXPECT_NE(text.find("# TYPE vigil_cluster_quorate gauge"), std::string::npos);
    EXPECT_EQ(text.find("\nvigil_cluster_quorate "), std::string::npos) << text;

    const auto engine = snapshot();
    const std::map<std::uint32_t, std::string> names{{2, "beta"}};
    m.set_cluster(cluster_metrics(ClusterView{
        .engine = engine, .members = 2, .names = names, .now = at(10s), .started = at(4s)}));
    m.observe_slot_write(0.003);
    m.count_slot_failure("read");
    m.count_decision("start-vm", "assigned-by-coordinator");
    text = m.render();
    EXPECT_TRUE(has_line(text, "vigil_cluster_quorate 1")) << text;
    EXPECT_TRUE(has_line(text, "vigil_cluster_members 2")) << text;
    EXPECT_TRUE(has_line(text, "vigil_peer_class{class=\"alive\",peer=\"beta\"} 1")) << text;
    EXPECT_TRUE(has_line(text, "vigil_peer_class{class=\"dead\",peer=\"beta\"} 0")) << text;
    EXPECT_TRUE(has_line(text, "vigil_peer_class{class=\"dead\",peer=\"h3\"} 1")) << text;
    EXPECT_TRUE(has_line(text, "vigil_peer_last_sign_of_life_age_seconds{peer=\"h3\"} 6")) << text;
    EXPECT_TRUE(has_line(text, "vigil_vm_state{state=\"paused-io-error\",vm=\"web\"} 1")) << text;
    EXPECT_TRUE(has_line(text, "vigil_vm_running_here{vm=\"db\"} 0")) << text;
    EXPECT_TRUE(has_line(text, "vigil_alerts_active{kind=\"no-capacity\"} 2")) << text;
    EXPECT_TRUE(has_line(text, "vigil_alerts_active{kind=\"fence-failed\"} 0")) << text;
    EXPECT_TRUE(
        has_line(text, "vigil_heartbeat_slot_write_duration_seconds_bucket{le=\"0.005\"} 1"))
        << text;
    EXPECT_TRUE(
        has_line(text, "vigil_heartbeat_slot_write_duration_seconds_bucket{le=\"0.0025\"} 0"))
        << text;
    EXPECT_TRUE(has_line(text, "vigil_heartbeat_slot_failures_total{op=\"read\"} 1")) << text;
    EXPECT_TRUE(has_line(text, "vigil_heartbeat_slot_failures_total{op=\"write\"} 0")) << text;
    EXPECT_TRUE(has_line(
        text, "vigil_decisions_total{kind=\"start-vm\",reason=\"assigned-by-coordinator\"} 1"))
        << text;

    // web is undefined: its series go; db stays.
    auto fewer = engine;
    fewer.vms.erase(fewer.vms.begin());
    m.set_cluster(cluster_metrics(ClusterView{
        .engine = fewer, .members = 2, .names = names, .now = at(11s), .started = at(4s)}));
    text = m.render();
    EXPECT_EQ(text.find("vm=\"web\""), std::string::npos) << text;
    EXPECT_TRUE(has_line(text, "vigil_vm_running_here{vm=\"db\"} 0")) << text;
}

}  // namespace
}  // namespace vigil::host

namespace vigil::host {
namespace {

// A peer writing a newer format is refused at every heartbeat: counted every
// time, logged once, and once more when it is read again.
TEST(RefusalLog, CountsEveryRefusalAndLogsOncePerPeerAndReason) {
    auto metrics = exporters::Metrics::make({.serve = false, .version = "test"});
    ASSERT_TRUE(metrics.has_value()) << metrics.error().message;
    adapters::Journal journal(adapters::Priority::kError);  // nothing reaches the journal
    RefusalLog log("cluster", journal, **metrics);
    const core::DecodeError newer{core::Refusal::kNewerFormat, "slot written by a newer vigil"};
    for (int i = 0; i < 30; ++i) log.refused("node 3", newer, {{"NODEID", "3"}});
    EXPECT_EQ(log.lines(), 1u);
    log.refused("node 3", {core::Refusal::kCorrupt, "checksum mismatch"}, {});
    log.refused("node 2", newer, {});
    EXPECT_EQ(log.lines(), 3u);
    const auto text = (*metrics)->render();
    EXPECT_TRUE(has_line(
        text, "vigil_peer_records_refused_total{reason=\"newer-format\",source=\"cluster\"} 31"))
        << text;
    EXPECT_TRUE(
        has_line(text, "vigil_peer_records_refused_total{reason=\"corrupt\",source=\"cluster\"} 1"))
        << text;
    EXPECT_TRUE(has_line(
        text,
        "vigil_peer_records_refused_total{reason=\"wrong-sender\",source=\"heartbeat_slot\"} 0"))
        << text;
    EXPECT_TRUE(has_line(text, "vigil_bad_input_total{source=\"cluster\"} 32")) << text;
    // node 3 read again: one line; its next refusal is news again.
    log.accept_all_but({"node 2"});
    EXPECT_EQ(log.lines(), 4u);
    EXPECT_EQ(log.open().size(), 1u);
    log.accepted("node 3");  // nothing open for it: no line
    EXPECT_EQ(log.lines(), 4u);
    log.refused("node 3", newer, {});
    EXPECT_EQ(log.lines(), 5u);
}

}  // namespace
}  // namespace vigil::host
