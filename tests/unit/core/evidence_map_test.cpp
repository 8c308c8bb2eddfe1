#include "daemon/core/evidence_map.h"

#include <gtest/gtest.h>

#include <array>

#include "daemon/core/decision.h"

namespace vigil::core {
namespace {

EvidenceMapConfig two_domains() {
    return {.domains = {{.name = "san", .block_devices = {"dm-3", "dm-4"}, .nfs_mounts = {}},
                        {.name = "images",
                         .block_devices = {"loop7"},
                         .nfs_mounts = {"/var/lib/vigil/nfs/images"}}},
            .interfaces = {{.name = "bond0", .role = NetRole::kCluster},
                           {.name = "eth1", .role = NetRole::kVmUplink},
                           {.name = "eth2", .role = NetRole::kVmUplink},
                           {.name = "eth3", .role = NetRole::kStorage}}};
}

EvidenceMap map_of(const EvidenceMapConfig& config) {
    auto m = EvidenceMap::make(config);
    EXPECT_TRUE(m.has_value()) << m.error();
    return std::move(*m);
}

void expect_refused(const EvidenceMapConfig& config, std::string_view why) {
    const auto m = EvidenceMap::make(config);
    ASSERT_FALSE(m.has_value()) << "accepted, expected: " << why;
    EXPECT_NE(m.error().message.find(why), std::string::npos) << m.error().message;
}

// Severity order, least to worst, and link liveness, best to worst.
constexpr std::array kWorse = {StorageHealth::kOk, StorageHealth::kDegraded,
                               StorageHealth::kNoSpace, StorageHealth::kStalled,
                               StorageHealth::kFailed};
constexpr std::array kBetter = {LinkState::kUp, LinkState::kIdle, LinkState::kDown};

TEST(EvidenceMap, AcceptsAValidConfigAndAnEmptyOne) {
    EXPECT_TRUE(EvidenceMap::make(two_domains()).has_value());
    const auto empty = EvidenceMap::make({});
    ASSERT_TRUE(empty.has_value());
    EXPECT_TRUE(empty->current().empty());
}

TEST(EvidenceMap, RefusesEmptyNames) {
    auto c = two_domains();
    c.domains[0].name = "";
    expect_refused(c, "a storage domain has an empty name");
    c = two_domains();
    c.domains[0].block_devices.push_back("");
    expect_refused(c, "storage domain \"san\" lists an empty block device name");
    c = two_domains();
    c.domains[1].nfs_mounts.push_back("");
    expect_refused(c, "storage domain \"images\" lists an empty NFS mount point");
    c = two_domains();
    c.interfaces.push_back({.name = "", .role = NetRole::kStorage});
    expect_refused(c, "an interface has an empty name");
}

TEST(EvidenceMap, RefusesADuplicateDomainName) {
    auto c = two_domains();
    c.domains.push_back({.name = "san", .block_devices = {"sdq"}, .nfs_mounts = {}});
    expect_refused(c, "storage domain \"san\" is configured twice");
}

TEST(EvidenceMap, RefusesAnEmptyDomain) {
    auto c = two_domains();
    c.domains.push_back({.name = "nothing", .block_devices = {}, .nfs_mounts = {}});
    expect_refused(c, "storage domain \"nothing\" has no block devices and no NFS mounts");
}

TEST(EvidenceMap, RefusesAMemberInTwoDomains) {
    auto c = two_domains();
    c.domains[1].block_devices.push_back("dm-4");
    expect_refused(c, "block device \"dm-4\" is in storage domains \"san\" and \"images\"");
    c = two_domains();
    c.domains.push_back(
        {.name = "other", .block_devices = {}, .nfs_mounts = {"/var/lib/vigil/nfs/images"}});
    expect_refused(
        c,
        "NFS mount \"/var/lib/vigil/nfs/images\" is in storage domains \"images\" and \"other\"");
}

TEST(EvidenceMap, RefusesAMemberListedTwiceInOneDomain) {
    auto c = two_domains();
    c.domains[0].block_devices.push_back("dm-3");
    expect_refused(c, "block device \"dm-3\" is listed twice in storage domain \"san\"");
    c = two_domains();
    c.domains[1].nfs_mounts.push_back("/var/lib/vigil/nfs/images");
    expect_refused(c, "is listed twice in storage domain \"images\"");
}

TEST(EvidenceMap, RefusesAnInterfaceWithTwoRoles) {
    auto c = two_domains();
    c.interfaces.push_back({.name = "eth1", .role = NetRole::kStorage});
    expect_refused(c,
                   "interface \"eth1\" has two roles (network.vm_uplink_interfaces and "
                   "network.storage_interfaces)");
    c = two_domains();
    c.interfaces.push_back({.name = "bond0", .role = NetRole::kCluster});
    expect_refused(c, "interface \"bond0\" is listed twice in network.cluster_interfaces");
}

TEST(EvidenceMap, RefusesNamesTheKernelNeverReports) {
    auto c = two_domains();
    c.domains[0].block_devices.push_back("/dev/sdb");
    expect_refused(c, "block device \"/dev/sdb\", a path");
    c = two_domains();
    c.domains[1].nfs_mounts.push_back("mnt/images");
    expect_refused(c, "NFS mount point \"mnt/images\", a relative path");
    c = two_domains();
    c.domains[1].nfs_mounts.push_back("/mnt/images/");
    expect_refused(c, "NFS mount point \"/mnt/images/\" with a trailing slash");
    c = two_domains();
    c.interfaces.push_back({.name = "a-very-long-name0", .role = NetRole::kStorage});
    expect_refused(c, "longer than 15 characters");
    c = two_domains();
    c.interfaces.push_back({.name = "eth0:1", .role = NetRole::kStorage});
    expect_refused(c, "interface \"eth0:1\" has a name the kernel does not allow");
    // The longest name the kernel allows is fine, and so is the root as a mount point.
    c = two_domains();
    c.interfaces.push_back({.name = "abcdefghijklmno", .role = NetRole::kStorage});
    c.domains[1].nfs_mounts.push_back("/");
    EXPECT_TRUE(EvidenceMap::make(c).has_value());
}

TEST(EvidenceMap, DomainIsTheWorstOfItsMembers) {
    for (std::size_t i = 0; i < kWorse.size(); ++i) {
        for (std::size_t j = 0; j < kWorse.size(); ++j) {
            auto m = map_of(two_domains());
            (void)m.observe_block("dm-3", kWorse[i], false);
            (void)m.observe_block("dm-4", kWorse[j], false);
            const auto all = m.current();
            ASSERT_EQ(all.size(), 1u);
            const auto& e = std::get<StorageEvidence>(all[0]);
            EXPECT_EQ(e.domain, "san");
            EXPECT_EQ(e.health, kWorse[std::max(i, j)])
                << name(kWorse[i]) << " and " << name(kWorse[j]) << " gave " << name(e.health);
        }
    }
}

TEST(EvidenceMap, RoleIsTheBestOfItsInterfaces) {
    for (std::size_t i = 0; i < kBetter.size(); ++i) {
        for (std::size_t j = 0; j < kBetter.size(); ++j) {
            auto m = map_of(two_domains());
            (void)m.observe_link("eth1", kBetter[i]);
            const auto r = m.observe_link("eth2", kBetter[j]);
            ASSERT_TRUE(r.mapped);
            const auto all = m.current();
            ASSERT_EQ(all.size(), 1u);
            const auto& e = std::get<LinkEvidence>(all[0]);
            EXPECT_EQ(e.role, NetRole::kVmUplink);
            EXPECT_EQ(e.state, kBetter[std::min(i, j)])
                << name(kBetter[i]) << " and " << name(kBetter[j]) << " gave " << name(e.state);
        }
    }
}

TEST(EvidenceMap, UplinksAreDeadOnlyWhenAllAre) {
    auto m = map_of(two_domains());
    auto r = m.observe_link("eth1", LinkState::kUp);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->state, LinkState::kUp);
    EXPECT_FALSE(m.observe_link("eth2", LinkState::kUp).evidence);
    EXPECT_FALSE(m.observe_link("eth1", LinkState::kDown).evidence);  // eth2 still up
    r = m.observe_link("eth2", LinkState::kIdle);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->state, LinkState::kIdle);
    r = m.observe_link("eth2", LinkState::kDown);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->role, NetRole::kVmUplink);
    EXPECT_EQ(r.evidence->state, LinkState::kDown);
    r = m.observe_link("eth1", LinkState::kUp);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->state, LinkState::kUp);
}

TEST(EvidenceMap, EmitsOnlyWhenTheValueChanges) {
    auto m = map_of(two_domains());
    auto r = m.observe_block("dm-3", StorageHealth::kOk, false);
    ASSERT_TRUE(r.mapped);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->domain, "san");
    EXPECT_EQ(r.evidence->health, StorageHealth::kOk);
    EXPECT_FALSE(r.evidence->io_in_flight);
    // Every poll feeds every device: the same value is no new evidence.
    for (int poll = 0; poll < 5; ++poll) {
        r = m.observe_block("dm-3", StorageHealth::kOk, poll % 2 == 0);
        EXPECT_TRUE(r.mapped);
        EXPECT_FALSE(r.evidence) << "poll " << poll;
    }
    // A member that does not change the worst is no new evidence either.
    (void)m.observe_block("dm-4", StorageHealth::kStalled, false);
    EXPECT_FALSE(m.observe_block("dm-3", StorageHealth::kDegraded, false).evidence);
    // ... while a change of the domain's value is, once.
    r = m.observe_block("dm-3", StorageHealth::kFailed, false);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kFailed);
    EXPECT_FALSE(m.observe_block("dm-3", StorageHealth::kFailed, false).evidence);
    // So does a change of io_in_flight alone.
    r = m.observe_block("dm-3", StorageHealth::kFailed, true);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kFailed);
    EXPECT_TRUE(r.evidence->io_in_flight);

    EXPECT_TRUE(m.observe_link("bond0", LinkState::kUp).evidence);
    EXPECT_FALSE(m.observe_link("bond0", LinkState::kUp).evidence);
    EXPECT_TRUE(m.observe_link("bond0", LinkState::kDown).evidence);
}

TEST(EvidenceMap, ADomainWithNoMemberObservedIsUnknown) {
    auto m = map_of(two_domains());
    EXPECT_TRUE(m.current().empty());
    auto r = m.observe_nfs("/var/lib/vigil/nfs/images", NfsMountState::kOk, false);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->domain, "images");
    // "san" has not been seen at all: it is absent, not ok; no role either.
    const auto all = m.current();
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(std::get<StorageEvidence>(all[0]).domain, "images");
}

TEST(EvidenceMap, MembersNotYetObservedDoNotCount) {
    auto m = map_of(two_domains());
    // loop7 has not been seen: the mount alone decides, and it is fine.
    auto r = m.observe_nfs("/var/lib/vigil/nfs/images", NfsMountState::kDegraded, false);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kDegraded);
    // eth2 has not been seen: eth1 alone decides the role.
    const auto l = m.observe_link("eth1", LinkState::kDown);
    ASSERT_TRUE(l.evidence);
    EXPECT_EQ(l.evidence->state, LinkState::kDown);
}

TEST(EvidenceMap, IgnoresWhatTheMapDoesNotName) {
    auto m = map_of(two_domains());
    for (const auto h : kWorse) {
        const auto r = m.observe_block("sda", h, true);
        EXPECT_FALSE(r.mapped);
        EXPECT_FALSE(r.evidence);
    }
    EXPECT_FALSE(m.block_device_gone("sda").mapped);
    EXPECT_FALSE(m.observe_nfs("/mnt/other", NfsMountState::kStalled, true).mapped);
    EXPECT_FALSE(m.observe_nfs("/var/lib/vigil/nfs", NfsMountState::kGone, true).mapped);
    EXPECT_FALSE(m.observe_link("eth9", LinkState::kDown).mapped);
    // A block device named like a mount point, or a mount like a device, is not it.
    EXPECT_FALSE(m.observe_nfs("loop7", NfsMountState::kOk, false).mapped);
    EXPECT_FALSE(m.observe_block("/var/lib/vigil/nfs/images", StorageHealth::kOk, false).mapped);
    EXPECT_TRUE(m.current().empty());
}

TEST(EvidenceMap, InFlightCountsOnlyOnTroubledMembers) {
    auto m = map_of(two_domains());
    // Requests in flight on a healthy, slow or full device are ordinary I/O.
    for (const auto h : {StorageHealth::kOk, StorageHealth::kDegraded, StorageHealth::kNoSpace}) {
        (void)m.observe_block("dm-3", h, true);
        const auto all = m.current();
        ASSERT_EQ(all.size(), 1u);
        EXPECT_FALSE(std::get<StorageEvidence>(all[0]).io_in_flight) << name(h);
    }
    // Failed through dm-4, which has nothing in flight; dm-3 is degraded with
    // requests that will complete: nothing may land late.
    auto r = m.observe_block("dm-4", StorageHealth::kFailed, false);
    ASSERT_TRUE(r.evidence);
    (void)m.observe_block("dm-3", StorageHealth::kDegraded, true);
    auto all = m.current();
    EXPECT_EQ(std::get<StorageEvidence>(all[0]).health, StorageHealth::kFailed);
    EXPECT_FALSE(std::get<StorageEvidence>(all[0]).io_in_flight);
    // dm-3 stalls with its requests still waiting: they may land late.
    r = m.observe_block("dm-3", StorageHealth::kStalled, true);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kFailed);
    EXPECT_TRUE(r.evidence->io_in_flight);
    // A stalled NFS mount with unanswered requests counts the same way.
    r = m.observe_nfs("/var/lib/vigil/nfs/images", NfsMountState::kStalled, true);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->domain, "images");
    EXPECT_EQ(r.evidence->health, StorageHealth::kStalled);
    EXPECT_TRUE(r.evidence->io_in_flight);
}

TEST(EvidenceMap, BlockAndNfsMembersOfOneDomain) {
    auto m = map_of(two_domains());
    const std::string mount = "/var/lib/vigil/nfs/images";
    EXPECT_TRUE(m.observe_block("loop7", StorageHealth::kOk, false).evidence);
    EXPECT_FALSE(m.observe_nfs(mount, NfsMountState::kOk, false).evidence);
    auto r = m.observe_nfs(mount, NfsMountState::kStalled, true);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kStalled);
    EXPECT_TRUE(r.evidence->io_in_flight);
    r = m.observe_block("loop7", StorageHealth::kNoSpace, false);
    EXPECT_FALSE(r.evidence);  // stalled is worse than full
    r = m.observe_nfs(mount, NfsMountState::kOk, false);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kNoSpace);
    EXPECT_FALSE(r.evidence->io_in_flight);
    r = m.observe_block("loop7", StorageHealth::kOk, false);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kOk);
}

TEST(EvidenceMap, AVanishedMemberIsFailedAndKeepsWhatWasInFlight) {
    auto m = map_of(two_domains());
    (void)m.observe_block("dm-3", StorageHealth::kOk, false);
    (void)m.observe_block("dm-4", StorageHealth::kOk, false);
    auto r = m.block_device_gone("dm-4");
    ASSERT_TRUE(r.mapped);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kFailed);
    EXPECT_FALSE(r.evidence->io_in_flight);
    // It comes back: its own state again.
    r = m.observe_block("dm-4", StorageHealth::kOk, false);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kOk);
    // Stalled with requests waiting, then gone: they are no longer visible,
    // so they still count.
    (void)m.observe_block("dm-4", StorageHealth::kStalled, true);
    r = m.block_device_gone("dm-4");
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kFailed);
    EXPECT_TRUE(r.evidence->io_in_flight);

    // The same for an NFS mount that leaves mountstats.
    const std::string mount = "/var/lib/vigil/nfs/images";
    (void)m.observe_nfs(mount, NfsMountState::kStalled, true);
    r = m.observe_nfs(mount, NfsMountState::kGone, false);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->domain, "images");
    EXPECT_EQ(r.evidence->health, StorageHealth::kFailed);
    EXPECT_TRUE(r.evidence->io_in_flight);
    EXPECT_FALSE(m.observe_nfs(mount, NfsMountState::kGone, false).evidence);
    r = m.observe_nfs(mount, NfsMountState::kOk, false);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kOk);
    EXPECT_FALSE(r.evidence->io_in_flight);
}

TEST(EvidenceMap, AMemberGoneBeforeItWasSeenIsFailed) {
    auto m = map_of(two_domains());
    const auto r = m.observe_nfs("/var/lib/vigil/nfs/images", NfsMountState::kGone, false);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kFailed);
    EXPECT_FALSE(r.evidence->io_in_flight);
}

TEST(EvidenceMap, CurrentGivesEveryKnownValueForAFreshEngine) {
    auto m = map_of(two_domains());
    (void)m.observe_link("eth3", LinkState::kIdle);
    (void)m.observe_block("dm-4", StorageHealth::kStalled, true);
    (void)m.observe_link("bond0", LinkState::kUp);
    (void)m.observe_block("loop7", StorageHealth::kOk, false);
    const auto all = m.current();
    ASSERT_EQ(all.size(), 4u);
    // Domains by name, then roles.
    const auto& images = std::get<StorageEvidence>(all[0]);
    EXPECT_EQ(images.domain, "images");
    EXPECT_EQ(images.health, StorageHealth::kOk);
    const auto& san = std::get<StorageEvidence>(all[1]);
    EXPECT_EQ(san.domain, "san");
    EXPECT_EQ(san.health, StorageHealth::kStalled);
    EXPECT_TRUE(san.io_in_flight);
    EXPECT_EQ(std::get<LinkEvidence>(all[2]).role, NetRole::kCluster);
    EXPECT_EQ(std::get<LinkEvidence>(all[2]).state, LinkState::kUp);
    EXPECT_EQ(std::get<LinkEvidence>(all[3]).role, NetRole::kStorage);
    EXPECT_EQ(std::get<LinkEvidence>(all[3]).state, LinkState::kIdle);
}

TEST(EvidenceMap, DomainAnswersOnlyWhenEveryFailedMemberDoes) {
    auto m = map_of(two_domains());
    (void)m.observe_block("dm-3", StorageHealth::kFailed, false, false);
    auto r = m.observe_block("dm-4", StorageHealth::kFailed, false, true);
    ASSERT_FALSE(r.evidence);  // still failed, not answering: no change
    r = m.observe_block("dm-3", StorageHealth::kFailed, false, true);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kFailed);
    EXPECT_TRUE(r.evidence->answering);
    // A stalled member gives its VMs no more than before.
    r = m.observe_block("dm-4", StorageHealth::kStalled, true, false);
    ASSERT_TRUE(r.evidence);
    EXPECT_FALSE(r.evidence->answering);
    r = m.observe_block("dm-4", StorageHealth::kOk, false, false);
    ASSERT_TRUE(r.evidence);
    EXPECT_TRUE(r.evidence->answering);
    // Answering means nothing for a member that is not failed.
    r = m.observe_block("dm-3", StorageHealth::kOk, false, true);
    ASSERT_TRUE(r.evidence);
    EXPECT_EQ(r.evidence->health, StorageHealth::kOk);
    EXPECT_FALSE(r.evidence->answering);
}

}  // namespace
}  // namespace vigil::core
