// explain's decision history and JSON: decisions in, what explain returns out.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "daemon/control/history.h"
#include "daemon/control/status.h"

namespace vigil::control {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using core::Decision;
using core::DecisionKind;
using core::HostId;
using core::Reason;

constexpr HostId kSelf{1};
constexpr HostId kPeer{3};

core::TimePoint t(int s) { return core::TimePoint{} + std::chrono::seconds(s); }
std::chrono::system_clock::time_point wall(int s) {
    return std::chrono::system_clock::time_point{} + std::chrono::seconds(1'700'000'000 + s);
}

Decision peer_class(core::PeerClass cls, Reason why, std::vector<core::Fact> evidence = {}) {
    return Decision{.kind = DecisionKind::kPeerClass,
                    .reason = why,
                    .peer = kPeer,
                    .peer_class = cls,
                    .evidence = std::move(evidence)};
}

Decision start(const std::string& vm) {
    return Decision{
        .kind = DecisionKind::kStartVm, .reason = Reason::kAssignedByCoordinator, .vm = vm};
}

TEST(DecisionHistory, EachDecisionGoesToItsSubject) {
    EXPECT_EQ(subject_of(start("vm1"), kSelf), (Subject{.kind = Subject::Kind::kVm, .vm = "vm1"}));
    EXPECT_EQ(subject_of(peer_class(core::PeerClass::kDead, Reason::kFenceDelayElapsed), kSelf),
              Subject{.host = kPeer});
    const Decision assign{.kind = DecisionKind::kAssignVm,
                          .reason = Reason::kOwnerDead,
                          .peer = kPeer,
                          .vm = "vm3",
                          .target = HostId{2}};
    EXPECT_EQ(subject_of(assign, kSelf), (Subject{.kind = Subject::Kind::kVm, .vm = "vm3"}));
    EXPECT_EQ(subject_of(Decision{.kind = DecisionKind::kPetStopped}, kSelf),
              Subject{.host = kSelf});
    EXPECT_EQ(subject_of(Decision{.kind = DecisionKind::kAlert, .peer = kPeer}, kSelf),
              Subject{.host = kPeer});
    EXPECT_EQ(subject_of(Decision{.kind = DecisionKind::kAlert, .vm = "vm2"}, kSelf),
              (Subject{.kind = Subject::Kind::kVm, .vm = "vm2"}));
    EXPECT_EQ(subject_of(Decision{.kind = DecisionKind::kAlert}, kSelf), Subject{.host = kSelf});
}

TEST(DecisionHistory, KeepsTheNewestPerSubjectAndOverall) {
    DecisionHistory h(kSelf);
    for (int i = 0; i < 40; ++i) h.record(t(i), wall(i), start("vm1"));
    h.record(t(40), wall(40),
             peer_class(core::PeerClass::kSuspect, Reason::kSilentInsideFenceDelay));
    for (int i = 41; i < 100; ++i) h.record(t(i), wall(i), start("vm2"));

    const auto vm1 = h.about(Subject{.kind = Subject::Kind::kVm, .vm = "vm1"});
    ASSERT_EQ(vm1.size(), DecisionHistory::kPerSubject);
    EXPECT_EQ(vm1.front().at, t(39)) << "newest first";
    EXPECT_EQ(vm1.back().at, t(40 - static_cast<int>(DecisionHistory::kPerSubject)));
    EXPECT_EQ(vm1.front().number, 40U);

    const auto peer = h.about(Subject{.host = kPeer});
    ASSERT_EQ(peer.size(), 1U) << "another subject's flood does not push it out";
    EXPECT_EQ(peer.front().decision.reason, Reason::kSilentInsideFenceDelay);

    const auto all = h.latest();
    ASSERT_EQ(all.size(), DecisionHistory::kOverall);
    EXPECT_EQ(all.front().at, t(99));
    EXPECT_EQ(all.back().at, t(100 - static_cast<int>(DecisionHistory::kOverall)));
    EXPECT_EQ(h.recorded(), 100U);
    EXPECT_TRUE(h.about(Subject{.kind = Subject::Kind::kVm, .vm = "nope"}).empty());
}

TEST(DecisionHistory, TheNumberOfSubjectsIsBounded) {
    DecisionHistory h(kSelf);
    const auto n = static_cast<int>(DecisionHistory::kMaxSubjects);
    for (int i = 0; i < n + 10; ++i) h.record(t(i), wall(i), start("vm" + std::to_string(i)));
    EXPECT_FALSE(h.knows(Subject{.kind = Subject::Kind::kVm, .vm = "vm0"})) << "oldest gone";
    EXPECT_FALSE(h.knows(Subject{.kind = Subject::Kind::kVm, .vm = "vm9"}));
    EXPECT_TRUE(h.knows(Subject{.kind = Subject::Kind::kVm, .vm = "vm10"}));
    EXPECT_TRUE(h.knows(Subject{.kind = Subject::Kind::kVm, .vm = "vm" + std::to_string(n + 9)}));
}

ExplainSnapshot cluster_snapshot(DecisionHistory history) {
    ExplainSnapshot s{.flight_record = "/var/lib/vigil/flight-record"};
    s.cluster = ExplainSnapshot::Cluster{.history = std::move(history),
                                         .hosts = {{1, {"h1", 0}}, {2, {"h2", 1}}, {3, {"h3", 2}}},
                                         .vms = {"vm1", "vm2"},
                                         .now = std::chrono::seconds(30)};
    return s;
}

TEST(Explain, AHostsChainNewestFirstWithItsEvidence) {
    DecisionHistory h(kSelf);
    h.record(t(10), wall(10),
             peer_class(core::PeerClass::kSuspect, Reason::kSilentInsideFenceDelay,
                        {{"silent_for", "1.000"}}));
    h.record(t(11), wall(11), start("vm1"));
    h.record(t(17), wall(17),
             peer_class(core::PeerClass::kDead, Reason::kFenceDelayElapsed,
                        {{"silent_for", "7.000"}, {"fence_delay", "7.000"}}));
    const auto j = json::parse(explain_json(cluster_snapshot(h), "h3"));
    ASSERT_TRUE(j["ok"]) << j.dump();
    const auto& ex = j["explain"];
    EXPECT_EQ(ex["subject"], (json{{"kind", "host"}, {"id", 3}, {"name", "h3"}}));
    ASSERT_EQ(ex["decisions"].size(), 2U) << ex.dump();
    const auto& latest = ex["decisions"][0];
    EXPECT_EQ(latest["kind"], "peer-class");
    EXPECT_EQ(latest["reason"], "fence-delay-elapsed");
    EXPECT_EQ(latest["peer_class"], "dead");
    EXPECT_EQ(latest["peer"]["name"], "h3");
    EXPECT_DOUBLE_EQ(latest["at_seconds_ago"].get<double>(), 13.0);
    EXPECT_DOUBLE_EQ(latest["wall_time"].get<double>(), 1'700'000'017.0);
    EXPECT_EQ(latest["evidence"], (json::array({{{"key", "silent_for"}, {"value", "7.000"}},
                                                {{"key", "fence_delay"}, {"value", "7.000"}}})));
    EXPECT_EQ(ex["decisions"][1]["reason"], "silent-inside-fence-delay");
    EXPECT_TRUE(ex.contains("previous_self_fence")) << "the flight record stays in explain";

    // By its "h<nodeid>" name too, and a VM by its name.
    EXPECT_EQ(json::parse(explain_json(cluster_snapshot(h), "h3"))["explain"]["decisions"].size(),
              2U);
    const auto vm = json::parse(explain_json(cluster_snapshot(h), "vm1"));
    ASSERT_TRUE(vm["ok"]);
    EXPECT_EQ(vm["explain"]["subject"]["kind"], "vm");
    ASSERT_EQ(vm["explain"]["decisions"].size(), 1U);
    EXPECT_EQ(vm["explain"]["decisions"][0]["kind"], "start-vm");
}

TEST(Explain, NoSubjectGivesTheLatestOverall) {
    DecisionHistory h(kSelf);
    h.record(t(1), wall(1), start("vm1"));
    h.record(t(2), wall(2), start("vm2"));
    const auto j = json::parse(explain_json(cluster_snapshot(h)));
    ASSERT_TRUE(j["ok"]);
    EXPECT_TRUE(j["explain"]["subject"].is_null());
    ASSERT_EQ(j["explain"]["decisions"].size(), 2U);
    EXPECT_EQ(j["explain"]["decisions"][0]["vm"], "vm2");
    EXPECT_EQ(j["explain"]["history"]["recorded"], 2);
}

TEST(Explain, AKnownSubjectWithNoDecisionIsNotAnError) {
    const auto j = json::parse(explain_json(cluster_snapshot(DecisionHistory(kSelf)), "vm2"));
    ASSERT_TRUE(j["ok"]) << j.dump();
    EXPECT_TRUE(j["explain"]["decisions"].empty());
}

TEST(Explain, AnUnknownSubjectOrStandaloneModeIsAClearError) {
    const auto j = json::parse(explain_json(cluster_snapshot(DecisionHistory(kSelf)), "vm9"));
    EXPECT_FALSE(j["ok"]);
    EXPECT_EQ(j["error"], "no HA VM or host named \"vm9\" is known here (hosts: h1, h2, h3)");
    const auto standalone = json::parse(explain_json(ExplainSnapshot{}, "h3"));
    EXPECT_FALSE(standalone["ok"]);
    EXPECT_NE(standalone["error"].get<std::string>().find("standalone"), std::string::npos);
    const auto plain = json::parse(explain_json(ExplainSnapshot{}));
    EXPECT_TRUE(plain["ok"]);
    EXPECT_FALSE(plain["explain"].contains("decisions")) << "standalone keeps its old shape";
}

}  // namespace
}  // namespace vigil::control
