#include "daemon/driver/host_driver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "tests/unit/driver/fakes.h"

namespace vigil::driver {
namespace {

using namespace std::chrono_literals;
using testing::FakeWorld;
using Calls = std::vector<std::string>;

core::TimePoint t(double seconds) {
    return core::TimePoint{
        std::chrono::duration_cast<core::Duration>(std::chrono::duration<double>(seconds))};
}

core::Policy cluster_policy() {
    core::Policy p;
    for (std::uint32_t i = 1; i <= 3; ++i) p.hosts.push_back({core::HostId{i}, 4096});
    p.vms = {{.name = "web", .priority = 10, .memory_mib = 1024},
             {.name = "db", .priority = 5, .memory_mib = 1024}};
    return p;
}

std::vector<core::HostId> ids(std::initializer_list<std::uint32_t> l) {
    std::vector<core::HostId> out;
    for (auto i : l) out.push_back(core::HostId{i});
    return out;
}

core::HostStatus peer_status(std::uint32_t id, std::uint64_t seq,
                             std::vector<std::string> vms = {}) {
    core::HostStatus s{.host = core::HostId{id},
                       .incarnation = 1,
                       .sequence = seq,
                       .state = core::SelfState::kOk,
                       .quorate = true,
                       .storage_ok = true};
    for (auto& v : vms) s.held.push_back({std::move(v), core::VmState::kRunning});
    return s;
}

std::vector<core::Decision> of_kind(const std::vector<core::Decision>& ds, core::DecisionKind k) {
    std::vector<core::Decision> out;
    std::ranges::copy_if(ds, std::back_inserter(out),
                         [&](const core::Decision& d) { return d.kind == k; });
    return out;
}

class HostDriverTest : public ::testing::Test {
  protected:
    HostDriver make(std::uint32_t self = 1, std::uint64_t incarnation = 1,
                    core::Policy policy = cluster_policy()) {
        const auto timeout = policy.watchdog_timeout;
        auto d = HostDriver::make(std::move(policy), core::HostId{self}, incarnation, timeout,
                                  w.ports());
        EXPECT_TRUE(d.has_value()) << d.error();
        return std::move(*d);
    }
    // Moves both clocks forward to `seconds`.
    void at(double seconds) {
        ASSERT_GE(t(seconds), w.clock.now());
        w.clock.advance(t(seconds) - w.clock.now());
    }
    [[nodiscard]] std::size_t mark() const { return w.log.calls.size(); }

    FakeWorld w;
};

// --- make ---

TEST_F(HostDriverTest, RefusesAnAcceptedWatchdogTimeoutTheFenceDelayNoLongerCovers) {
    auto policy = cluster_policy();  // watchdog 5 s, fence delay 7 s: valid as configured
    ASSERT_TRUE(policy.validate().has_value());
    const auto d = HostDriver::make(policy, core::HostId{1}, 1, 6s, w.ports());
    ASSERT_FALSE(d.has_value());
    EXPECT_NE(d.error().message.find("6.000 s"), std::string::npos) << d.error().message;
    EXPECT_NE(d.error().message.find("5.000 s"), std::string::npos) << d.error().message;
    EXPECT_NE(d.error().message.find("fence delay (7 s)"), std::string::npos) << d.error().message;
}

TEST_F(HostDriverTest, CountsWithTheAcceptedWatchdogTimeoutWhenItStillFits) {
    const auto d = HostDriver::make(cluster_policy(), core::HostId{1}, 1, 4s, w.ports());
    ASSERT_TRUE(d.has_value()) << d.error();
    EXPECT_EQ(d->engine().policy().watchdog_timeout, 4s);
    EXPECT_TRUE(w.log.calls.empty());  // building it touches nothing
}

TEST_F(HostDriverTest, RefusesABadPolicyWithTheCoresOwnWords) {
    auto policy = cluster_policy();
    policy.fence_delay = 5s;
    const auto expected = policy.validate();
    ASSERT_FALSE(expected.has_value());
    const auto d = HostDriver::make(policy, core::HostId{1}, 1, 5s, w.ports());
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().message, expected.error().message);
}

TEST_F(HostDriverTest, RefusesAHostThatIsNotConfigured) {
    const auto d = HostDriver::make(cluster_policy(), core::HostId{9}, 1, 5s, w.ports());
    ASSERT_FALSE(d.has_value());
    EXPECT_NE(d.error().message.find("h9"), std::string::npos) << d.error().message;
}

// --- one heartbeat ---

TEST_F(HostDriverTest, BeforeTheFirstListingAHeartbeatWithholdsAndPublishesNothing) {
    auto d = make();
    d.start();
    EXPECT_EQ(w.log.calls, (Calls{"hypervisor.refresh"}));
    // Everything else would let it pet: quorate, slot writes fine.
    d.observe(core::MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    d.observe(core::SlotWriteEvidence{.ok = true, .latency = 2ms});
    at(1);
    const auto m = mark();
    d.heartbeat();
    EXPECT_EQ(w.log.since(m), (Calls{"watchdog.withhold no-vm-listing-yet"}));
    EXPECT_TRUE(w.heartbeat.writes.empty());
    EXPECT_TRUE(w.cluster.sent.empty());
    const auto s = d.snapshot();
    EXPECT_FALSE(s.publishing);
    EXPECT_EQ(s.withheld, 1u);
    EXPECT_EQ(s.last_verdict, (core::PetVerdict{false, core::Reason::kNoVmListingYet}));
}

TEST_F(HostDriverTest, AfterTheListingAHeartbeatPetsThenWritesThenBroadcasts) {
    auto d = make(1, 42);
    d.start();
    d.observe(core::MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    d.observe(core::SlotWriteEvidence{.ok = true, .latency = 2ms});
    d.observe(core::VmInventoryEvidence{.vms = {{.vm = "web", .state = core::VmState::kRunning}}});
    at(1);
    const auto m = mark();
    d.heartbeat();
    EXPECT_EQ(w.log.since(m),
              (Calls{"watchdog.pet", "heartbeat.submit_write seq=1", "cluster.broadcast seq=1"}));
    ASSERT_EQ(w.heartbeat.writes.size(), 1u);
    ASSERT_EQ(w.cluster.sent.size(), 1u);
    EXPECT_EQ(w.heartbeat.writes[0].first, w.cluster.sent[0]);  // one status, both ways
    EXPECT_EQ(w.heartbeat.writes[0].second, t(1));
    EXPECT_EQ(w.cluster.sent[0].host, core::HostId{1});
    EXPECT_EQ(w.cluster.sent[0].incarnation, 42u);
    ASSERT_EQ(w.cluster.sent[0].held.size(), 1u);
    const auto s = d.snapshot();
    EXPECT_TRUE(s.publishing);
    EXPECT_EQ(s.pets, 1u);
    EXPECT_EQ(s.last_pet, t(1));
    EXPECT_EQ(s.heartbeats, 1u);
}

TEST_F(HostDriverTest, AWithheldPetStillComesBeforeTheWriteAndTheBroadcast) {
    auto d = make();
    d.observe(core::VmInventoryEvidence{});
    d.observe(core::MembershipEvidence{.members = ids({1}), .quorate = false});
    at(1);
    const auto m = mark();
    d.heartbeat();
    EXPECT_EQ(w.log.since(m), (Calls{"watchdog.withhold no-quorum-no-storage",
                                     "heartbeat.submit_write seq=1", "cluster.broadcast seq=1"}));
}

TEST_F(HostDriverTest, ReadSlotsSubmitsAReadATenthOfAHeartbeatAhead) {
    auto d = make();
    EXPECT_EQ(d.read_lead(), 100ms);
    at(0.9);
    d.read_slots();
    EXPECT_EQ(w.log.calls, (Calls{"heartbeat.submit_read"}));
    ASSERT_EQ(w.heartbeat.reads.size(), 1u);
    EXPECT_EQ(w.heartbeat.reads[0], t(0.9));
}

// --- early heartbeats ---

TEST_F(HostDriverTest, AsksForAHeartbeatWhenASilentPeersFenceDelayRunsOutOnceEach) {
    auto d = make(1);
    d.observe(core::VmInventoryEvidence{});
    d.observe(core::MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    for (int s = 1; s <= 3; ++s) {
        at(s);
        const auto h2 = peer_status(2, static_cast<std::uint64_t>(s));
        const auto h3 = peer_status(3, static_cast<std::uint64_t>(s), {"web"});
        d.observe(core::PeerMessageEvidence{h2});
        d.observe(core::PeerMessageEvidence{h3});
        d.observe(core::SlotReadEvidence{.ok = true, .slots = {h2, h3}});
        d.heartbeat();
    }
    EXPECT_TRUE(w.pacer.requests.empty());  // everyone heard: the cadence is enough
    // h3 falls silent after t=3 and leaves the membership.
    at(3.5);
    d.observe(core::MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    at(4);
    d.observe(core::PeerMessageEvidence{peer_status(2, 4)});
    d.heartbeat();
    // Its fence delay (7 s) runs out at 10: the read goes out a read lead before.
    ASSERT_EQ(w.pacer.requests.size(), 1u);
    EXPECT_EQ(w.pacer.requests[0], t(10) - d.read_lead());
    at(5);
    d.heartbeat();
    EXPECT_EQ(w.pacer.requests.size(), 1u);  // asked once, not at every heartbeat
    EXPECT_EQ(d.snapshot().early_beats, 1u);
}

// --- our own status back through the cluster ---

class OwnMessageTest : public HostDriverTest {
  protected:
    // Listed, quorate, no slot write: only our own message coming back may let it pet.
    HostDriver listed_and_withheld(bool quorate = true) {
        auto d = make(1, 7);
        d.observe(core::VmInventoryEvidence{});
        d.observe(quorate ? core::MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true}
                          : core::MembershipEvidence{.members = ids({1}), .quorate = false});
        at(1);
        d.heartbeat();
        EXPECT_EQ(w.watchdog.pets, 0);
        EXPECT_EQ(w.watchdog.withheld, std::vector<core::Reason>{core::Reason::kNoQuorumNoStorage});
        EXPECT_EQ(w.cluster.sent.size(), 1u);
        return d;
    }
};

TEST_F(OwnMessageTest, OurOwnMessageBackPetsAtOnce) {
    auto d = listed_and_withheld();
    const auto own = w.cluster.sent.back();
    at(1.2);
    const auto m = mark();
    d.observe(core::PeerMessageEvidence{own});
    EXPECT_EQ(w.log.since(m), (Calls{"watchdog.pet"}));
    const auto s = d.snapshot();
    EXPECT_EQ(s.own_delivered, t(1.2));
    EXPECT_EQ(s.last_pet, t(1.2));
    EXPECT_EQ(s.pets, 1u);
}

TEST_F(OwnMessageTest, OurOwnMessageBackDoesNotPetWithoutQuorum) {
    auto d = listed_and_withheld(false);
    at(1.2);
    const auto m = mark();
    d.observe(core::PeerMessageEvidence{w.cluster.sent.back()});
    EXPECT_TRUE(w.log.since(m).empty());
    EXPECT_EQ(d.snapshot().own_delivered, t(1.2));  // it came back; it is just not enough
}

TEST_F(OwnMessageTest, AMessageFromAPreviousIncarnationOfOurselvesDoesNotPet) {
    auto d = listed_and_withheld();
    auto old = w.cluster.sent.back();
    old.incarnation = 6;
    at(1.2);
    const auto m = mark();
    d.observe(core::PeerMessageEvidence{old});
    EXPECT_TRUE(w.log.since(m).empty());
    EXPECT_FALSE(d.snapshot().own_delivered.has_value());
    // The current one does: the setup could pet.
    d.observe(core::PeerMessageEvidence{w.cluster.sent.back()});
    EXPECT_EQ(w.log.since(m), (Calls{"watchdog.pet"}));
}

TEST_F(OwnMessageTest, APeersMessageDoesNotPet) {
    auto d = listed_and_withheld();
    auto peer = w.cluster.sent.back();
    peer.host = core::HostId{2};  // same incarnation number, another host
    at(1.2);
    const auto m = mark();
    d.observe(core::PeerMessageEvidence{peer});
    EXPECT_TRUE(w.log.since(m).empty());
    EXPECT_FALSE(d.snapshot().own_delivered.has_value());
}

// --- decisions carried out through the driver ---

// h2 follows coordinator h1, which assigns web to h2 from t=10; h3's slot never moves
// (dead once the fence delay from the start has passed). Every step feeds `twin`, an
// engine given the same evidence at the same times, to say what the driver's engine
// decided.
class FollowerTest : public HostDriverTest {
  protected:
    void SetUp() override {
        driver_.emplace(make(2));
        auto e = core::HostEngine::make(cluster_policy(), core::HostId{2}, 1, t(0));
        ASSERT_TRUE(e.has_value());
        twin_.emplace(std::move(*e));
        feed(core::VmInventoryEvidence{});
        feed(core::MembershipEvidence{.members = ids({1, 2}), .quorate = true});
    }
    void feed(const core::Evidence& e) {
        driver_->observe(e);
        twin_->observe(w.clock.now(), e);
    }
    // Returns what the twin decided in this step's tick.
    std::vector<core::Decision> step(double s) {
        at(s);
        const auto seq = static_cast<std::uint64_t>(s * 2) + 1;
        auto h1 = peer_status(1, seq);
        // Stamped with the twin's newest status, as a coordinator that read it would.
        if (s >= 10)
            h1.assignments = {
                {"web", core::HostId{2}, twin_->incarnation(), twin_->snapshot().sequence}};
        feed(core::PeerMessageEvidence{h1});
        feed(core::StorageEvidence{.domain = "shared", .health = core::StorageHealth::kOk});
        feed(core::SlotWriteEvidence{.ok = true, .latency = 2ms});
        feed(core::SlotReadEvidence{.ok = true, .slots = {h1, peer_status(3, 1, {"db", "web"})}});
        driver_->heartbeat();
        return twin_->tick(w.clock.now()).decisions;
    }
    HostDriver& d() { return *driver_; }

    std::optional<HostDriver> driver_;
    std::optional<core::HostEngine> twin_;
};

TEST_F(FollowerTest, EveryDecisionOfATickReachesTheEventSink) {
    std::vector<std::pair<core::TimePoint, core::Decision>> expected;
    for (double s = 0; s <= 11; s += 0.5) {
        for (auto& dec : step(s)) expected.emplace_back(t(s), std::move(dec));
    }
    std::vector<core::Decision> all;
    all.reserve(expected.size());
    for (const auto& [when, dec] : expected) all.push_back(dec);
    // The window holds pet, peer-class and start decisions, not only one kind.
    ASSERT_EQ(of_kind(all, core::DecisionKind::kStartVm).size(), 1u);
    ASSERT_FALSE(of_kind(all, core::DecisionKind::kPeerClass).empty());
    ASSERT_FALSE(of_kind(all, core::DecisionKind::kPetStarted).empty());
    EXPECT_EQ(w.events.decisions, expected);
    EXPECT_EQ(d().snapshot().decisions, expected.size());
}

TEST_F(FollowerTest, AnAssignedStartIsIssuedOnceAndItsOutcomeGoesBackToTheCore) {
    for (double s = 0; s < 10; s += 0.5) (void)step(s);
    EXPECT_EQ(w.hypervisor.last_id, 0u);
    (void)step(10);
    EXPECT_EQ(std::ranges::count(w.log.calls, "hypervisor.start web #1"), 1);
    for (double s = 10.5; s <= 12; s += 0.5) (void)step(s);
    EXPECT_EQ(w.hypervisor.last_id, 1u);  // nothing else issued while it starts

    at(12.2);
    const core::ActionEvidence failed{.vm = "web",
                                      .action = core::VmAction::kStart,
                                      .outcome = core::ActionOutcome::kFailed,
                                      .detail = "qemu exited"};
    d().on_action(1, failed);
    ASSERT_EQ(w.events.outcomes.size(), 1u);
    EXPECT_EQ(w.events.outcomes[0].first, t(12.2));
    EXPECT_EQ(w.events.outcomes[0].second.detail, "qemu exited");
    EXPECT_EQ(w.hypervisor.refreshes, 0);
    // The core took it: the next status declines web.
    (void)step(12.5);
    EXPECT_EQ(w.cluster.sent.back().declined, std::vector<std::string>{"web"});
}

TEST_F(FollowerTest, ATimedOutActionAsksTheHypervisorForAFreshListing) {
    for (double s = 0; s <= 10; s += 0.5) (void)step(s);
    at(10.2);
    const auto m = mark();
    d().on_action(1, core::ActionEvidence{.vm = "web",
                                          .action = core::VmAction::kStart,
                                          .outcome = core::ActionOutcome::kTimedOut});
    EXPECT_EQ(w.log.since(m), (Calls{"hypervisor.refresh"}));
    ASSERT_EQ(w.events.outcomes.size(), 1u);
    EXPECT_EQ(w.events.outcomes[0].second.outcome, core::ActionOutcome::kTimedOut);
}

TEST_F(FollowerTest, AnOutcomeWithAnUnknownIdIsIgnored) {
    for (double s = 0; s <= 10; s += 0.5) (void)step(s);
    at(10.2);
    const auto m = mark();
    // A timed-out result, so that feeding it would show as a refresh too.
    d().on_action(99, core::ActionEvidence{.vm = "web",
                                           .action = core::VmAction::kStart,
                                           .outcome = core::ActionOutcome::kTimedOut});
    EXPECT_TRUE(w.log.since(m).empty());
    EXPECT_TRUE(w.events.outcomes.empty());
    EXPECT_EQ(d().snapshot().executor.in_flight.at("web").id, 1u);
}

// h1 holds web, paused on an I/O error, and resumes it; libvirt does not answer. A
// quorum loss (policy: always stop when isolated) asks for a stop, which waits behind
// the resume. Quorum comes back before the resume ends, and the core asks for the resume
// again: its newest word for web is "resume", so the stop that waited is stale. Issued
// after the resume, it would shut down a VM the core now wants running.
TEST_F(HostDriverTest, ARepeatOfTheRunningActionDropsAStaleWaitingOne) {
    auto policy = cluster_policy();
    policy.isolation_response = core::IsolationResponse::kAlwaysStop;
    auto d = make(1, 1, policy);
    d.observe(
        core::VmInventoryEvidence{.vms = {{.vm = "web", .state = core::VmState::kPausedIoError}}});
    const auto all = core::MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true};
    d.observe(all);
    for (double s = 0; s <= 8; s += 1) {
        at(s);
        if (s == 1) d.observe(core::MembershipEvidence{.members = ids({1}), .quorate = false});
        if (s == 2) d.observe(all);
        d.observe(core::StorageEvidence{.domain = "shared"});
        d.observe(core::SlotWriteEvidence{.ok = true, .latency = 2ms});
        d.heartbeat();
    }
    std::vector<core::Decision> decided;
    decided.reserve(w.events.decisions.size());
    for (const auto& [when, dec] : w.events.decisions) decided.push_back(dec);
    const auto resumes = of_kind(decided, core::DecisionKind::kResumeVm);
    const auto stops = of_kind(decided, core::DecisionKind::kStopVm);
    ASSERT_EQ(stops.size(), 1u);
    ASSERT_EQ(resumes.size(), 2u);        // the scene this test is about: resume, stop, resume
    EXPECT_EQ(w.hypervisor.last_id, 1u);  // only the first resume was issued
    ASSERT_EQ(w.events.outcomes.size(), 1u);
    EXPECT_EQ(w.events.outcomes[0].second.action, core::VmAction::kStop);
    EXPECT_EQ(w.events.outcomes[0].second.outcome, core::ActionOutcome::kFailed);
    EXPECT_EQ(w.events.outcomes[0].second.detail, "superseded");
    const auto ex = d.snapshot().executor;
    EXPECT_TRUE(ex.waiting.empty());
    EXPECT_EQ(ex.repeated, 1u);
    EXPECT_EQ(ex.superseded, 1u);

    at(8.5);
    d.on_action(1, core::ActionEvidence{.vm = "web", .action = core::VmAction::kResume});
    EXPECT_EQ(w.hypervisor.last_id, 1u);  // no stop after it
}

// --- self-fence ---

// h3 runs web; its storage fails with I/O in flight at t=10 and does not come back:
// the core reboots it at t=16 (see the engine's own test of the rule).
TEST_F(HostDriverTest, ASelfFenceWithholdsWritesLastWordsRebootsAndThenNothingMore) {
    auto d = make(3);
    d.observe(core::VmInventoryEvidence{.vms = {{.vm = "web", .state = core::VmState::kRunning}}});
    d.observe(core::MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
    std::optional<double> fenced_at;
    std::size_t m = 0;
    for (double s = 0; s <= 20 && !fenced_at; s += 1) {
        at(s);
        const auto seq = static_cast<std::uint64_t>(s) + 1;
        d.observe(core::PeerMessageEvidence{peer_status(1, seq)});
        d.observe(core::PeerMessageEvidence{peer_status(2, seq)});
        if (s < 10) {
            d.observe(core::StorageEvidence{.domain = "shared"});
            d.observe(core::SlotWriteEvidence{.ok = true, .latency = 2ms});
            d.observe(core::SlotReadEvidence{.ok = true});
        } else {
            d.observe(core::StorageEvidence{
                .domain = "shared", .health = core::StorageHealth::kFailed, .io_in_flight = true});
            d.observe(core::SlotWriteEvidence{.ok = false});
            d.observe(core::SlotReadEvidence{.ok = false});
        }
        m = mark();
        d.heartbeat();
        if (d.fenced()) fenced_at = s;
    }
    ASSERT_TRUE(fenced_at.has_value());
    // Storage grace 5 s, a heartbeat and the membership timeout for peers' reports.
    EXPECT_DOUBLE_EQ(*fenced_at, 17.0);
    // No pet, no slot write, no broadcast after the reboot call.
    EXPECT_EQ(w.log.since(m),
              (Calls{"watchdog.withhold self-fencing", "fencer.write_last_words self-fence-reboot",
                     "fencer.reboot_now"}));
    ASSERT_EQ(w.fencer.last_words.size(), 1u);
    EXPECT_EQ(w.fencer.last_words[0].first.reason, core::Reason::kStorageLostIoInFlight);
    EXPECT_EQ(w.fencer.last_words[0].second, w.clock.wall());
    // The whole tick is on record, the reboot and what came with it (the fencing
    // state), although the reboot does not return.
    ASSERT_FALSE(w.events.decisions.empty());
    const auto& logged = w.events.decisions;
    EXPECT_TRUE(std::ranges::any_of(
        logged, [&](const auto& e) { return e.second == w.fencer.last_words[0].first; }));
    EXPECT_TRUE(std::ranges::any_of(logged, [](const auto& e) {
        return e.second.kind == core::DecisionKind::kSelfState &&
               e.second.self_state == core::SelfState::kFencing;
    }));

    // The simulator's reboot returns: the driver must stay silent until it is reset.
    const auto after = mark();
    const auto decisions = w.events.decisions.size();
    at(17.5);
    d.read_slots();
    d.observe(core::PeerMessageEvidence{w.cluster.sent.back()});  // our last status, back
    d.observe(core::ActionEvidence{
        .vm = "web", .action = core::VmAction::kStop, .outcome = core::ActionOutcome::kTimedOut});
    d.on_action(1, core::ActionEvidence{.vm = "web", .outcome = core::ActionOutcome::kTimedOut});
    at(18);
    d.heartbeat();
    EXPECT_TRUE(w.log.since(after).empty());
    EXPECT_EQ(w.events.decisions.size(), decisions);
    EXPECT_TRUE(w.events.outcomes.empty());
    EXPECT_TRUE(d.fenced());
    EXPECT_EQ(d.snapshot().heartbeats, 18u);
}

// --- a deliberate stop ---

class FreezeTest : public HostDriverTest {
  protected:
    void healthy(HostDriver& d, double until, bool peers_know = true) {
        d.start();
        d.observe(core::MembershipEvidence{.members = ids({1, 2, 3}), .quorate = true});
        d.observe(
            core::VmInventoryEvidence{.vms = {{.vm = "web", .state = core::VmState::kRunning}}});
        for (double s = 1; s <= until; s += 1) {
            at(s);
            const auto seq = static_cast<std::uint64_t>(s);
            auto h2 = peer_status(2, seq);
            auto h3 = peer_status(3, seq);
            h2.knows_freeze = h3.knows_freeze = peers_know;
            d.observe(core::PeerMessageEvidence{h2});
            d.observe(core::PeerMessageEvidence{h3});
            d.observe(core::SlotReadEvidence{.ok = true, .slots = {h2, h3}});
            d.heartbeat();
            d.observe(core::SlotWriteEvidence{
                .ok = true, .latency = 2ms, .sequence = w.heartbeat.writes.back().first.sequence});
            d.observe(core::PeerMessageEvidence{w.cluster.sent.back()});
        }
    }
};

// The frozen record goes to the slot first; the broadcast follows only once that
// very write is back ok (an earlier write's result does not count). Heartbeats
// after it publish nothing and pet by the same rule.
TEST_F(FreezeTest, TheFrozenRecordIsBroadcastOnlyOnceItsWriteIsOnStorage) {
    auto d = make();
    healthy(d, 5);
    at(5.5);
    auto m = mark();
    const auto check = d.freeze();
    ASSERT_TRUE(check.ok());
    EXPECT_EQ(w.log.since(m), (Calls{"heartbeat.submit_write seq=6"}));
    const auto frozen = w.heartbeat.writes.back().first;
    EXPECT_TRUE(frozen.frozen);
    EXPECT_EQ(d.freeze_stage(), FreezeStage::kWriting);
    d.observe(core::SlotWriteEvidence{.ok = true, .latency = 2ms, .sequence = 5});
    EXPECT_EQ(d.freeze_stage(), FreezeStage::kWriting);
    m = mark();
    d.observe(core::SlotWriteEvidence{.ok = true, .latency = 2ms, .sequence = 6});
    EXPECT_EQ(d.freeze_stage(), FreezeStage::kOnStorage);
    EXPECT_EQ(w.log.since(m), (Calls{"cluster.broadcast seq=6"}));
    EXPECT_EQ(w.cluster.sent.back(), frozen);
    at(6);
    m = mark();
    d.heartbeat();
    EXPECT_EQ(w.log.since(m), (Calls{"watchdog.pet"}));
}

TEST_F(FreezeTest, AFailedWriteIsRetractedThroughTheSlotAndTheCluster) {
    auto d = make();
    healthy(d, 5);
    at(5.5);
    ASSERT_TRUE(d.freeze().ok());
    d.observe(core::SlotWriteEvidence{.ok = false, .sequence = 6});
    EXPECT_EQ(d.freeze_stage(), FreezeStage::kFailed);
    EXPECT_TRUE(std::ranges::none_of(w.cluster.sent, &core::HostStatus::frozen));
    const auto m = mark();
    d.retract_freeze();
    EXPECT_EQ(w.log.since(m), (Calls{"heartbeat.submit_write seq=7", "cluster.broadcast seq=7"}));
    EXPECT_FALSE(w.cluster.sent.back().frozen);
    EXPECT_EQ(d.freeze_stage(), FreezeStage::kRetracted);
}

TEST_F(FreezeTest, APeerOfTheOlderReleaseMeansNothingIsWritten) {
    auto d = make();
    healthy(d, 5, false);
    at(5.5);
    const auto m = mark();
    const auto check = d.freeze();
    EXPECT_FALSE(check.ok());
    EXPECT_EQ(check.unaware, ids({2, 3}));
    EXPECT_TRUE(w.log.since(m).empty());
    EXPECT_EQ(d.freeze_stage(), FreezeStage::kNone);
}

}  // namespace
}  // namespace vigil::driver
