// Pure parts of the lab: names and configuration, argument parsing, stamp
// parsing, the checker's analysis, fed made-up samples, and its picture.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "tests/lab/checker.h"
#include "tests/lab/layout.h"
#include "tests/lab/matrix.h"
#include "tests/lab/nemesis.h"
#include "tests/lab/picture.h"
#include "tests/lab/safety.h"
#include "tests/lab/stamp.h"

namespace vigil::lab {
namespace {

Layout three() { return *Layout::make("/var/lib/lab", "ab12", 3, 4); }

TEST(Layout, RefusesBadShapes) {
    EXPECT_FALSE(Layout::make("relative", "ab", 3, 2));
    EXPECT_FALSE(Layout::make("/x", "a-b", 3, 2));
    EXPECT_FALSE(Layout::make("/x", "ab", 0, 2));
    EXPECT_FALSE(Layout::make("/x", "ab", kMaxHosts + 1, 2));
    EXPECT_FALSE(Layout::make("/x", "ab", 3, -1));
}

TEST(Layout, NamesAreUniquePerRunAndFitInterfaceNames) {
    auto l = three();
    EXPECT_EQ(l.host_netns(2), "vl-ab12-h2");
    EXPECT_EQ(l.switch_netns(), "vl-ab12-sw");
    EXPECT_NE(l.host_netns(1), Layout::make("/x", "ab13", 3, 0)->host_netns(1));
    for (Net n : kNets) {
        EXPECT_LE(Layout::switch_ifname(n, kMaxHosts).size(), 15u);
        EXPECT_LE(Layout::bridge(n, kMaxHosts).size(), 15u);
    }
    EXPECT_EQ(l.address(Net::kCluster, 3), "10.201.1.3");
    EXPECT_EQ(l.address(Net::kStorage, 1), "10.201.3.1");
}

TEST(Layout, SpreadsVmsOverHosts) {
    auto l = three();
    EXPECT_EQ(l.vm_home(1), 1);
    EXPECT_EQ(l.vm_home(3), 3);
    EXPECT_EQ(l.vm_home(4), 1);
    EXPECT_EQ(l.vm_index("vm4"), 4);
    EXPECT_FALSE(l.vm_index("vm5"));
    EXPECT_EQ(l.host_index("h3"), 3);
    EXPECT_FALSE(l.host_index("h4"));
    EXPECT_FALSE(l.host_index("h"));
}

TEST(Layout, CorosyncListsEveryHostWithAOneSecondToken) {
    auto conf = three().corosync_conf(2);
    EXPECT_NE(conf.find("transport: knet"), std::string::npos);
    EXPECT_NE(conf.find("token: 500\n"), std::string::npos);
    EXPECT_NE(conf.find("token_coefficient: 0\n"), std::string::npos);
    EXPECT_NE(conf.find("crypto_cipher: aes256\n  crypto_hash: sha256\n"), std::string::npos);
    for (int h = 1; h <= 3; ++h)
        EXPECT_NE(conf.find("ring0_addr: 10.201.1." + std::to_string(h)), std::string::npos);
    EXPECT_EQ(conf.find("two_node"), std::string::npos);
    EXPECT_NE(Layout::make("/x", "a", 2, 0)->corosync_conf(1).find("two_node: 1"),
              std::string::npos);
}

TEST(Layout, GuestStopsOnIoErrorsAndUsesTheSharedDisk) {
    auto xml = three().domain_xml(2);
    EXPECT_NE(xml.find("<domain type='qemu'>"), std::string::npos);
    EXPECT_NE(xml.find("error_policy='stop'"), std::string::npos);
    EXPECT_NE(xml.find("rerror_policy='stop'"), std::string::npos);
    EXPECT_NE(xml.find("<disk type='block' device='disk'>"), std::string::npos);
    EXPECT_NE(xml.find("<source dev='/run/vigil-lab/disks/vm2'/>"), std::string::npos);
    EXPECT_NE(xml.find("<vigil:ha xmlns:vigil='urn:vigil:ha:1' priority='3' io_error='auto-resume' "
                       "storage_domain='shared'/>"),
              std::string::npos);
    EXPECT_NE(three().qemu_conf(2).find("lock_manager = \"lockd\""), std::string::npos);
}

// A peer-to-peer live migration from any host to h2: its libvirtd listens on
// its cluster address, its incoming qemu too and names that address (not the
// machine's hostname), and its host UUID is its own.
TEST(Layout, HostsTakeMigrationsOnTheirClusterAddress) {
    auto l = three();
    const auto qemu = l.qemu_conf(2);
    EXPECT_NE(qemu.find("migration_address = \"10.201.1.2\"\n"), std::string::npos) << qemu;
    EXPECT_NE(qemu.find("migration_host = \"10.201.1.2\"\n"), std::string::npos) << qemu;
    const auto conf = l.libvirtd_conf(2);
    for (const char* want : {"listen_tls = 0\n", "listen_tcp = 1\n", "auth_tcp = \"none\"\n",
                             "listen_addr = \"10.201.1.2\"\n"})
        EXPECT_NE(conf.find(want), std::string::npos) << want << "\n" << conf;
    const auto uuid_of = [&](int h) {
        const auto c = l.libvirtd_conf(h);
        const auto at = c.find("host_uuid = \"");
        return at == std::string::npos ? std::string() : c.substr(at + 13, 36);
    };
    EXPECT_EQ(uuid_of(2).size(), 36u);
    EXPECT_NE(uuid_of(1), uuid_of(2));
    EXPECT_NE(uuid_of(2), uuid_of(3));
    EXPECT_EQ(l.migration_uri(2), "qemu+tcp://10.201.1.2/system");
}

TEST(Nemesis, ParsesPartitionGroups) {
    auto l = three();
    auto g = parse_groups(l, "h1,h2/h3");
    ASSERT_TRUE(g);
    EXPECT_EQ(*g, (std::vector<std::vector<int>>{{1, 2}, {3}}));
    EXPECT_FALSE(parse_groups(l, "h1,h2,h3"));
    EXPECT_FALSE(parse_groups(l, "h1/h1"));
    EXPECT_FALSE(parse_groups(l, "h1/h4"));
    EXPECT_FALSE(parse_groups(l, "h1//h2"));
    EXPECT_EQ(parse_nets("all")->size(), 3u);
    EXPECT_FALSE(parse_nets("san"));
}

std::string sector(uint64_t instance, uint64_t seq, const char* host) {
    std::string s(kSectorSize, '\0');
    std::memcpy(s.data(), "VIGLSTMP", 8);
    for (size_t i = 0; i < 8; ++i) {
        s[8 + i] = static_cast<char>((instance >> (8 * i)) & 0xff);
        s[16 + i] = static_cast<char>((seq >> (8 * i)) & 0xff);
    }
    std::memcpy(s.data() + 24, host, std::strlen(host));
    return s;
}

TEST(Stamp, KeepsTheNewestStampOfEachInstance) {
    std::string head(kSectorSize, 'B');  // the boot sector is not a stamp
    head += sector(7, 1, "h1") + sector(7, 2, "h1") + sector(9, 5, "h2");
    head += std::string(kSectorSize, '\0');
    auto stamps = parse_stamps(head);
    ASSERT_EQ(stamps.size(), 2u);
    EXPECT_EQ(stamps[0].instance, 7u);
    EXPECT_EQ(stamps[0].seq, 2u);
    EXPECT_EQ(stamps[0].host, "h1");
    EXPECT_EQ(stamps[1].host, "h2");
}

// The slots of a disk after `writes` of one instance in order, from seq 1
// (write seq in slot seq % 64 + 1); writes in `lost` never land.
std::string disk_after(uint64_t instance, uint64_t writes, const char* host,
                       const std::set<uint64_t>& lost = {}) {
    std::string head((kStampSlots + 1) * kSectorSize, '\0');
    for (uint64_t seq = 1; seq <= writes; ++seq) {
        if (lost.contains(seq)) continue;
        head.replace((seq % kStampSlots + 1) * kSectorSize, kSectorSize,
                     sector(instance, seq, host));
    }
    return head;
}

TEST(Stamp, AFullRoundOfWritesInOrderLosesNothing) {
    EXPECT_TRUE(find_lost_writes(disk_after(7, 10, "h1")).empty());
    EXPECT_TRUE(find_lost_writes(disk_after(7, 64, "h1")).empty());
    EXPECT_TRUE(find_lost_writes(disk_after(7, 1000, "h1")).empty());
    // A new instance over an old one's slots: each keeps its own newest writes.
    auto head = disk_after(7, 500, "h1");
    for (uint64_t seq = 1; seq <= 20; ++seq)
        head.replace((seq % kStampSlots + 1) * kSectorSize, kSectorSize, sector(9, seq, "h2"));
    EXPECT_TRUE(find_lost_writes(head).empty());
}

TEST(Stamp, AWriteThatNeverLandedShowsOnceARoundHasPassed) {
    // Write 100 lost: its slot (37) keeps write 36 until 64 writes after it.
    EXPECT_TRUE(find_lost_writes(disk_after(7, 99, "h1", {100})).empty());
    auto lost = find_lost_writes(disk_after(7, 101, "h1", {100}));
    ASSERT_EQ(lost.size(), 1u);
    EXPECT_EQ(lost[0].slot, 37u);
    EXPECT_EQ(lost[0].stamp.seq, 36u);
    EXPECT_EQ(lost[0].newest, 101u);
    EXPECT_EQ(lost[0].stamp.host, "h1");
    EXPECT_EQ(find_lost_writes(disk_after(7, 163, "h1", {100})).size(), 1u);
    // Write 164 lands in the same slot and hides it again: the checker must
    // look within a round (about 7 s of writes), and does, every 100 ms.
    EXPECT_TRUE(find_lost_writes(disk_after(7, 164, "h1", {100})).empty());
    // An old write landing late over a newer one is one too.
    auto late = disk_after(7, 200, "h1");
    late.replace((120 % kStampSlots + 1) * kSectorSize, kSectorSize, sector(7, 56, "h1"));
    ASSERT_EQ(find_lost_writes(late).size(), 1u);
    // So is a stamp out of its place.
    auto odd = disk_after(7, 10, "h1");
    odd.replace(30 * kSectorSize, kSectorSize, sector(7, 5, "h1"));
    ASSERT_EQ(find_lost_writes(odd).size(), 1u);
    EXPECT_EQ(find_lost_writes(odd)[0].slot, 30u);
}

Sample at(double t, std::vector<QemuProcess> q, std::vector<Stamp> st) {
    Sample s;
    s.t = t;
    s.qemus = std::move(q);
    s.stamps["vm1"] = std::move(st);
    return s;
}

TEST(Analyzer, OneWriterAtATimeIsClean) {
    Analyzer a({"vm1"});
    a.add(at(0.0, {{"vm1", "h1", 10, false}}, {{1, 5, "h1"}}));
    a.add(at(0.1, {{"vm1", "h1", 10, false}}, {{1, 6, "h1"}}));
    a.note(0.15, "fault", "power-off h1");
    a.add(at(0.2, {}, {{1, 6, "h1"}}));
    a.add(at(1.5, {}, {{1, 6, "h1"}}));
    a.add(at(2.0, {{"vm1", "h2", 20, false}}, {{1, 6, "h1"}, {2, 1, "h2"}}));
    a.add(at(2.1, {{"vm1", "h2", 20, false}}, {{1, 6, "h1"}, {2, 2, "h2"}}));
    auto t = a.finish(2.2);
    EXPECT_TRUE(t.violations.empty());
    ASSERT_EQ(t.recoveries.size(), 1u);
    ASSERT_TRUE(t.recoveries[0].after_s);
    EXPECT_NEAR(*t.recoveries[0].after_s, 2.0 - 0.15, 1e-9);
    EXPECT_EQ(t.writers["vm1"].size(), 2u);
}

TEST(Analyzer, FlagsTwoLiveQemusButNotAFrozenOne) {
    Analyzer a({"vm1"});
    a.add(at(0.0, {{"vm1", "h1", 10, true}, {"vm1", "h2", 20, false}}, {}));
    EXPECT_TRUE(a.finish(0.1).violations.empty());
    Analyzer b({"vm1"});
    b.add(at(0.0, {{"vm1", "h1", 10, false}, {"vm1", "h2", 20, false}}, {}));
    b.add(at(0.1, {{"vm1", "h1", 10, false}, {"vm1", "h2", 20, false}}, {}));
    auto t = b.finish(0.2);
    ASSERT_EQ(t.violations.size(), 1u);  // once per episode, not per sample
    EXPECT_EQ(t.violations[0].kind, ViolationKind::kDoubleRun);
}

// A live migration: the target's qemu (-incoming) beside the source's is no
// double run; the instance's stamps move from h1 to h2, the same id and
// sequence, which the timeline tells.
TEST(Analyzer, ALiveMigrationIsOneRunThatMoves) {
    Analyzer a({"vm1"});
    const QemuProcess src{.vm = "vm1", .host = "h1", .pid = 10};
    const QemuProcess dst{.vm = "vm1", .host = "h2", .pid = 20, .incoming = true};
    a.add(at(0.0, {src}, {{1, 5, "h1"}}));
    a.add(at(0.1, {src, dst}, {{1, 6, "h1"}}));
    a.add(at(0.2, {src, dst}, {{1, 7, "h1"}}));
    a.add(at(0.3, {src, dst}, {{1, 8, "h2"}}));
    a.add(at(0.4, {dst}, {{1, 9, "h2"}}));
    auto t = a.finish(0.5);
    EXPECT_TRUE(t.violations.empty());
    bool moved = false;
    for (const auto& e : t.events)
        moved = moved || (e.kind == "vm" && e.text == "vm1: instance 1 moved from h1 to h2");
    EXPECT_TRUE(moved);
    EXPECT_EQ(t.writers["vm1"].size(), 1u);
    EXPECT_EQ(t.writers["vm1"][1].first, "h2");
}

// Both copies of a migrated instance writing: the stamps go back to the host
// it left. And two qemus of which neither (or both) is the migration's
// target are a double run.
TEST(Analyzer, FlagsAMigratedInstanceWritingFromTheHostItLeft) {
    Analyzer a({"vm1"});
    a.add(at(0.0, {}, {{1, 5, "h1"}}));
    a.add(at(0.1, {}, {{1, 6, "h2"}}));
    a.add(at(0.2, {}, {{1, 7, "h1"}}));
    auto t = a.finish(0.3);
    ASSERT_EQ(t.violations.size(), 1u);
    EXPECT_EQ(t.violations[0].kind, ViolationKind::kStaleWrite);
    EXPECT_NE(t.violations[0].detail.find("after it moved from there to h2"), std::string::npos);

    Analyzer b({"vm1"});
    const QemuProcess in1{.vm = "vm1", .host = "h1", .pid = 10, .incoming = true};
    const QemuProcess in2{.vm = "vm1", .host = "h2", .pid = 20, .incoming = true};
    const QemuProcess in3{.vm = "vm1", .host = "h3", .pid = 30};
    b.add(at(0.0, {in1, in2}, {}));
    b.add(at(0.1, {in1}, {}));
    b.add(at(0.2, {in1, in2, in3}, {}));
    auto u = b.finish(0.3);
    ASSERT_EQ(u.violations.size(), 2u);
    EXPECT_EQ(u.violations[0].kind, ViolationKind::kDoubleRun);
    EXPECT_EQ(u.violations[1].kind, ViolationKind::kDoubleRun);
}

TEST(Analyzer, FlagsAStaleWriteAfterTakeOver) {
    Analyzer a({"vm1"});
    a.add(at(0.0, {}, {{1, 5, "h1"}}));
    a.add(at(0.1, {}, {{1, 6, "h1"}}));
    a.add(at(0.2, {}, {{1, 6, "h1"}, {2, 1, "h2"}}));
    a.add(at(0.3, {}, {{1, 7, "h1"}, {2, 1, "h2"}}));
    auto t = a.finish(0.4);
    ASSERT_EQ(t.violations.size(), 1u);
    EXPECT_EQ(t.violations[0].kind, ViolationKind::kStaleWrite);
}

TEST(Analyzer, FlagsTwoInstancesWritingInOneSample) {
    Analyzer a({"vm1"});
    a.add(at(0.0, {}, {{1, 5, "h1"}, {2, 5, "h2"}}));
    a.add(at(0.1, {}, {{1, 6, "h1"}, {2, 6, "h2"}}));
    auto t = a.finish(0.2);
    ASSERT_FALSE(t.violations.empty());
    EXPECT_EQ(t.violations[0].kind, ViolationKind::kDoubleWriter);
}

TEST(Analyzer, ALaterFaultDoesNotClaimAVmThatWasAlreadyDown) {
    Analyzer a({"vm1"});
    a.add(at(0.0, {{"vm1", "h1", 10, false}}, {{1, 5, "h1"}}));
    a.add(at(0.1, {{"vm1", "h1", 10, false}}, {{1, 6, "h1"}}));
    a.note(0.15, "fault", "power-off h1");
    for (int i = 2; i <= 60; ++i) a.add(at(0.1 * i, {}, {{1, 6, "h1"}}));
    a.note(5.0, "fault", "cut h2 cluster");
    auto t = a.finish(6.1);
    ASSERT_EQ(t.recoveries.size(), 1u);
    EXPECT_EQ(t.recoveries[0].fault, "power-off h1");
    EXPECT_FALSE(t.recoveries[0].after_s);
}

TEST(Analyzer, AFaultThatStopsNothingHasNoRecovery) {
    Analyzer a({"vm1"});
    a.add(at(0.0, {{"vm1", "h1", 10, false}}, {{1, 5, "h1"}}));
    a.note(0.05, "fault", "cut h3 cluster");
    for (int i = 1; i <= 20; ++i)
        a.add(at(0.1 * i, {{"vm1", "h1", 10, false}}, {{1, static_cast<uint64_t>(5 + i), "h1"}}));
    EXPECT_TRUE(a.finish(2.1).recoveries.empty());
}

// F9's judge reads the real length of each blip the schedule played; a
// blip of another name, or an event of another kind, is not one of them.
TEST(Judge, ReadsTheRealLengthOfEachBlip) {
    RowRun run;
    run.timeline = nlohmann::json::parse(R"({"events": [
        {"t": 1.0, "kind": "fault", "text": "cut h1 cluster,vm"},
        {"t": 1.6, "kind": "lab", "text": "blip h1 cluster,vm 0.596"},
        {"t": 3.2, "kind": "lab", "text": "blip h1 cluster,vm 0.531"},
        {"t": 4.0, "kind": "lab", "text": "blip h1 storage stall 3.201"},
        {"t": 5.0, "kind": "vigild", "text": "blip h1 cluster,vm 9"}]})");
    Judge j(run);
    EXPECT_EQ(j.blips("h1 cluster,vm"), (std::vector<double>{0.596, 0.531}));
    EXPECT_EQ(j.blips("h1 storage stall"), (std::vector<double>{3.201}));
    EXPECT_TRUE(j.blips("h1 storage").empty());
    EXPECT_TRUE(j.blips("all storage stall").empty());
}

// A guest that stopped writing just before the fault (a loaded machine) is
// still held to writing again after the repair; one that never does fails.
TEST(Judge, AGuestMustWriteAgainAfterTheRepairWhoeverStoppedIt) {
    RowRun run;
    run.timeline = nlohmann::json::parse(R"({"events": [
        {"t": 14.3, "kind": "vm", "text": "vm1: not writing, qemu on h1"},
        {"t": 14.3, "kind": "vm", "text": "vm2: not writing, qemu on h2"},
        {"t": 14.4, "kind": "fault", "text": "storage all stall"},
        {"t": 17.4, "kind": "repair", "text": "storage all ok"},
        {"t": 17.5, "kind": "vm", "text": "vm1: writing on h1"}]})");
    Judge j(run);
    j.writing_within_of_repair("storage all ok", "vm1", 1.1);
    EXPECT_TRUE(run.failures.empty());
    EXPECT_NEAR(run.figures.at("vm1 writing again after storage all ok s"), 0.1, 1e-9);
    j.writing_within_of_repair("storage all ok", "vm2", 1.1);
    EXPECT_EQ(run.failures.size(), 1u);
}

// The sabotage case for F6's "no write lost": a guest whose failed write
// was dropped (as werror=report would) instead of kept and retried (stop).
TEST(Analyzer, FlagsALostWriteOnceItHoldsForTwoSamples) {
    Analyzer a({"vm1"});
    auto sample = [](double t, const std::string& head) {
        Sample s;
        s.t = t;
        s.qemus = {{"vm1", "h1", 10, false}};
        s.stamps["vm1"] = parse_stamps(head);
        if (auto lost = find_lost_writes(head); !lost.empty()) s.lost["vm1"] = lost;
        return s;
    };
    a.add(sample(0.0, disk_after(7, 98, "h1", {100})));
    a.add(sample(0.1, disk_after(7, 101, "h1", {100})));  // a read racing writes looks so
    a.add(sample(0.2, disk_after(7, 130, "h1")));         // ... and was gone next time
    EXPECT_TRUE(a.finish(0.3).violations.empty());

    Analyzer b({"vm1"});
    b.add(sample(0.0, disk_after(7, 98, "h1", {100})));
    for (int i = 1; i <= 5; ++i)
        b.add(sample(0.1 * i, disk_after(7, 100 + static_cast<uint64_t>(i), "h1", {100})));
    auto t = b.finish(0.6);
    ASSERT_EQ(t.violations.size(), 1u);  // once, not per sample
    EXPECT_EQ(t.violations[0].kind, ViolationKind::kLostWrite);
    EXPECT_NEAR(t.violations[0].t, 0.2, 1e-9);
    EXPECT_NE(t.violations[0].detail.find("slot 37 holds write 36"), std::string::npos)
        << t.violations[0].detail;
    EXPECT_EQ(violation_name(ViolationKind::kLostWrite), "lost-write");
}

}  // namespace
}  // namespace vigil::lab

namespace vigil::lab {
namespace {

TEST(Layout, VigilConfigIsClusterModeAtTheSpecsDefaultTimings) {
    auto conf = Layout::make("/x", "a", 3, 0)->vigil_toml(2);
    for (const char* want :
         {"[cluster]\nenabled = true\n", "heartbeat_interval_ms = 1000\n",
          "fence_delay_ms = 7000\n",
          "[watchdog]\nenabled = true\ndevice = \"/run/vigil-lab/watchdog/watchdog\"\n",
          "timeout_s = 5\n", "flight_record = \"/var/lib/vigil/flight-record\"\n",
          "socket = \"/run/vigil/vigild.sock\"\n", "[metrics]\nlisten = \"10.201.1.2:9774\"\n",
          "[hooks]\ndir = \"/etc/vigil/hooks.d\"\n",
          // One literal in two pieces (in parentheses) for each of these
          // sections: its keys must follow one another.
          ("[webhook]\nenabled = true\nlisten = \"10.201.1.2:9775\"\n"
           "token_file = \"/etc/vigil/webhook.token\"\n"),
          ("[[webhook.rule]]\nalert = \"VigilLabPlannedWork\"\naction = \"maintenance-on\"\n"
           "resolved_action = \"maintenance-off\"\n"),
          ("[[webhook.rule]]\nalert = \"VigilLabDrain\"\naction = \"drain\"\n"
           "resolved_action = \"uncordon\"\n"),
          "area = \"/run/vigil-lab/disks/heartbeat\"\n", "cluster_interfaces = [\"cl0\"]\n",
          "vm_uplink_interfaces = [\"vm0\"]\n", "storage_interfaces = [\"st0\"]\n",
          "[libvirt]\nstop_grace_ms = 2000\nmigrate_timeout_ms = 10000\n"})
        EXPECT_NE(conf.find(want), std::string::npos) << want << "\n" << conf;
    for (int h = 1; h <= 3; ++h)
        EXPECT_NE(conf.find("name = \"h" + std::to_string(h) + "\"\nnodeid = " + std::to_string(h) +
                            "\nslot = " + std::to_string(h - 1) +
                            "\nmemory_mib = 512\nmigration_uri = \"qemu+tcp://10.201.1." +
                            std::to_string(h) + "/system\"\n"),
                  std::string::npos)
            << conf;
    // Drains stop and start unless the lab is up with --drain-migrate.
    EXPECT_EQ(conf.find("drain_migrate"), std::string::npos) << conf;
    auto migrating = *Layout::make("/x", "a", 3, 0);
    migrating.set_drain_migrate(true);
    EXPECT_NE(migrating.vigil_toml(2).find("fence_delay_ms = 7000\ndrain_migrate = true\n"),
              std::string::npos);
    // No storage domain until the host's loop devices are known.
    EXPECT_EQ(conf.find("[storage.domains"), std::string::npos) << conf;
    conf = Layout::make("/x", "a", 3, 0)->vigil_toml(2, {"loop3", "loop9"});
    EXPECT_NE(conf.find("[storage.domains.shared]\nblock_devices = [\"loop3\", \"loop9\"]\n"),
              std::string::npos)
        << conf;
}

TEST(Layout, DisksAreLoopDevicesOverFilesNamedAfterTheRun) {
    auto l = *Layout::make("/x", "r1", 3, 2);
    EXPECT_EQ(l.vm_image(2), "/x/run-r1/shared/r1-vm2.img");
    EXPECT_EQ(l.heartbeat_image(), "/x/run-r1/shared/r1-heartbeat.img");
    EXPECT_EQ(l.vm_disk_in_host(2), "/run/vigil-lab/disks/vm2");
    auto disks = l.disks();
    ASSERT_EQ(disks.size(), 3U);
    EXPECT_EQ(disks[0].name, "vm1");
    EXPECT_EQ(disks[0].backing_in_host, "/run/vigil-lab/shared/r1-vm1.img");
    EXPECT_EQ(disks[2].name, "heartbeat");
    EXPECT_EQ(std::string(kInHostHeartbeat), "/run/vigil-lab/disks/heartbeat");
    EXPECT_NE(l.domain_xml(1).find("<source dev='/run/vigil-lab/disks/vm1'/>"), std::string::npos);
    EXPECT_TRUE(Layout::backing_of_run("/run/vigil-lab/shared/r1-vm1.img", "r1"));
    EXPECT_TRUE(Layout::backing_of_run("/run/vigil-lab/shared/r1-vm1.img (deleted)", "r1"));
    EXPECT_FALSE(Layout::backing_of_run("/run/vigil-lab/shared/r10-vm1.img", "r1"));
    EXPECT_FALSE(Layout::backing_of_run("/r1-x/vm1.img", "r1"));
    EXPECT_FALSE(Layout::backing_of_run("/a/r1-vm1.img", ""));
    EXPECT_EQ(Layout::broadcast(Net::kVm), "10.201.2.255");
}

OutsideView outside() {
    return {.lab_pidns = 100,
            .pid1_pidns = 0,
            .init_pidns = 200,
            .machine_has_trigger = false,
            .cover_dev = 7,
            .cover_ino = 9};
}

TEST(Safety, AHostInItsOwnPidNamespaceWithoutATriggerIsSafe) {
    auto in = parse_inside("pid:[200]\ntrigger absent\nmounts 0\n");
    ASSERT_TRUE(in) << in.error().what;
    auto v = judge(outside(), *in);
    EXPECT_TRUE(v.ok()) << v.text();
}

TEST(Safety, TheLabsOwnPidNamespaceIsRefused) {
    auto o = outside();
    o.init_pidns = 100;
    auto v = judge(o, *parse_inside("pid:[100]\ntrigger absent\nmounts 0\n"));
    EXPECT_FALSE(v.own_pidns);
    EXPECT_FALSE(v.ok());
    // PID 1's, when it can be read, too.
    o = outside();
    o.pid1_pidns = 200;
    EXPECT_FALSE(judge(o, *parse_inside("pid:[200]\ntrigger absent\nmounts 0\n")).ok());
    // And a namespace that is not the host init's (the command ran elsewhere).
    EXPECT_FALSE(judge(outside(), *parse_inside("pid:[300]\ntrigger absent\nmounts 0\n")).ok());
}

TEST(Safety, OnlyTheCoverFileCountsAsCovered) {
    auto o = outside();
    o.machine_has_trigger = true;
    EXPECT_TRUE(judge(o, *parse_inside("pid:[200]\ntrigger 7 9\nmounts 1\n")).ok());
    // The machine's trigger (another file), or the cover without its mount.
    EXPECT_FALSE(judge(o, *parse_inside("pid:[200]\ntrigger 3 4026531\nmounts 0\n")).ok());
    EXPECT_FALSE(judge(o, *parse_inside("pid:[200]\ntrigger 7 9\nmounts 0\n")).ok());
    // Hidden inside while the machine has one: not a /proc the lab made.
    EXPECT_FALSE(judge(o, *parse_inside("pid:[200]\ntrigger absent\nmounts 0\n")).ok());
}

TEST(Safety, UnreadableOutputIsAnError) {
    EXPECT_FALSE(parse_inside(""));
    EXPECT_FALSE(parse_inside("readlink: /proc/self/ns/pid: No such file or directory\n"));
    EXPECT_FALSE(parse_inside("pid:[200]\ntrigger x y\nmounts 0\n"));
    EXPECT_FALSE(parse_inside("pid:[200]\ntrigger absent\n"));
}

// A failover as the checker tells it: vm1 writes on h1, h1 loses power, vm1
// writes again on h2; vm2 pauses on h2 and writes again there.
nlohmann::json failover_timeline() {
    return nlohmann::json::parse(R"({
      "start": 100.0, "end": 130.0,
      "events": [
        {"t": 0.1, "kind": "vm", "text": "vm1: writing on h1"},
        {"t": 0.1, "kind": "vm", "text": "vm2: writing on h2"},
        {"t": 3.0, "kind": "fault", "text": "power-off h1"},
        {"t": 3.0, "kind": "vm", "text": "vm1: not running"},
        {"t": 5.0, "kind": "vm", "text": "vm2: not writing, qemu on h2"},
        {"t": 6.0, "kind": "vm", "text": "vm2: writing on h2"},
        {"t": 10.5, "kind": "vigild", "text": "h2: <5>peer-class peer=h1 class=dead reason=fence-delay-elapsed KIND=peer-class PEER=h1"},
        {"t": 10.6, "kind": "vigild", "text": "h2: <5>start-vm vm=vm1 KIND=start-vm VM=vm1"},
        {"t": 10.7, "kind": "vigild", "text": "h2: <6>interface lo is idle INTERFACE=lo"},
        {"t": 11.0, "kind": "vm", "text": "vm1: not writing, qemu on h1(frozen)+h2"},
        {"t": 11.7, "kind": "vm", "text": "vm1: new instance abd195f writing on h2"},
        {"t": 11.7, "kind": "vm", "text": "vm1: writing on h2"}
      ]})");
}

TEST(Picture, BarsFollowEachVmsStatesToTheEnd) {
    const auto bars = timeline_bars(failover_timeline());
    ASSERT_EQ(bars.size(), 6u);
    EXPECT_EQ(bars[0].vm, "vm1");
    EXPECT_EQ(bars[0].host, "h1");
    EXPECT_TRUE(bars[0].writing);
    EXPECT_DOUBLE_EQ(bars[0].to, 3.0) << "closed by 'not running'";
    EXPECT_EQ(bars[2].vm, "vm2");
    EXPECT_FALSE(bars[2].writing) << "paused: qemu runs, nothing written";
    EXPECT_DOUBLE_EQ(bars[2].to, 6.0);
    // The frozen qemu is not where vm1 runs; the live one is.
    EXPECT_EQ(bars[4].vm, "vm1");
    EXPECT_EQ(bars[4].host, "h2");
    EXPECT_FALSE(bars[4].writing);
    EXPECT_EQ(bars[5].host, "h2");
    EXPECT_TRUE(bars[5].writing);
    EXPECT_DOUBLE_EQ(bars[5].from, 11.7);
    EXPECT_DOUBLE_EQ(bars[5].to, 30.0) << "open to the end of the timeline";
}

TEST(Picture, TheSvgHasALanePerHostAMarkPerDecisionAndEscapesRecords) {
    const auto svg =
        timeline_svg(failover_timeline(), {"h1", "h2", "h3"}, {"vm1", "vm2"}, "F1 & friends");
    ASSERT_TRUE(svg.starts_with("<svg ")) << svg;
    EXPECT_TRUE(svg.ends_with("</svg>\n"));
    auto count = [&](std::string_view what) {
        size_t n = 0;
        for (auto at = svg.find(what); at != std::string::npos; at = svg.find(what, at + 1)) ++n;
        return n;
    };
    EXPECT_EQ(count("font-weight='bold'>h"), 3u) << "one lane label per host";
    EXPECT_EQ(count("<title>vm"), 6u) << "one bar per period";
    EXPECT_EQ(count("stroke-dasharray"), 1u) << "the fault";
    EXPECT_EQ(count("<path "), 2u) << "peer dead and start-vm; the interface record is no mark";
    EXPECT_NE(svg.find("F1 &amp; friends"), std::string::npos);
    EXPECT_NE(svg.find("&lt;5&gt;start-vm"), std::string::npos);
    EXPECT_EQ(svg.find("<5>"), std::string::npos) << "a raw record would break the XML";
}

}  // namespace
}  // namespace vigil::lab
