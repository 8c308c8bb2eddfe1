// vigilctl's text from the control API's JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/control/text.h"

namespace vigil::control {
namespace {

using nlohmann::json;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

std::string line_with(const std::string& text, const std::string& needle) {
    for (const auto& l : lines_of(text))
        if (l.find(needle) != std::string::npos) return l;
    return {};
}

json cluster_status() {
    return json::parse(R"({
  "version": "0.9.0", "mode": "cluster", "config": "/etc/vigil/vigil.toml",
  "uptime_seconds": 65, "probes": [], "block_devices": [], "interfaces": [], "nfs_mounts": [],
  "nfs_mountstats_error": "",
  "cluster": {
    "host": {"id": 1, "name": "h1", "slot_index": 0, "incarnation": 1733000000000001,
             "sequence": 40, "state": "ok", "quorate": true, "maintenance": false,
             "draining": false, "coordinator": {"id": 1, "name": "h1"}, "vms_listed": true,
             "publishing": true, "corosync_connected": true, "waiting_for": "", "fenced": false},
    "heartbeat": {"count": 40, "last_seconds_ago": 0.31, "pet": true, "pet_reason": "quorate",
                  "pets": 52, "withheld": 0, "last_pet_seconds_ago": 0.3,
                  "own_delivered_seconds_ago": 0.2, "decisions": 9},
    "peers": [
      {"id": 2, "name": "h2", "class": "alive", "reason": "in-membership",
       "in_membership": true, "last_sign_of_life_seconds_ago": 0.42,
       "last_message_seconds_ago": 0.42, "last_slot_advance_seconds_ago": 0.9, "slot_index": 1,
       "status": {"state": "ok", "incarnation": 5, "sequence": 39, "quorate": true,
                  "storage_ok": true, "maintenance": false, "cordoned": true,
                  "held": [{"vm": "vm2", "state": "running"}, {"vm": "vm4", "state": "paused-io-error"}],
                  "declined": ["vm5"], "fenced": []}},
      {"id": 3, "name": "h3", "class": "dead", "reason": "fence-delay-elapsed",
       "in_membership": false, "last_sign_of_life_seconds_ago": 9.05,
       "last_message_seconds_ago": 9.05, "last_slot_advance_seconds_ago": null, "slot_index": 2,
       "status": null}],
    "vms": [
      {"name": "vm1", "state_here": "running", "owner": {"id": 1, "name": "h1"},
       "policy": {"priority": 10, "memory_mib": 512, "io_error": "pause", "storage_domain": "shared"}},
      {"name": "a-long-vm-name", "state_here": null, "owner": {"id": 2, "name": "h2"},
       "policy": null}],
    "actions": {"in_flight": [], "issued": 3, "repeated": 0, "superseded": 0},
    "storage_domains": [{"name": "shared", "health": "ok", "io_in_flight": false}],
    "links": [{"role": "cluster", "state": "up"}, {"role": "vm-uplink", "state": "down"}],
    "watchdog": {"armed": true, "timeout_seconds": 5, "since_last_pet_seconds": 0.3,
                 "time_left_seconds": 4.7, "time_left_from_device": true, "pets": 52,
                 "late_pets": 1, "withheld": {"fence_decided": 0, "not_safe": 2, "device_error": 0}}
  }})");
}

TEST(StatusText, ClusterSectionsSayWhatAnOperatorNeeds) {
    const auto text = status_text(cluster_status());
    EXPECT_NE(text.find("host h1 (nodeid 1, slot 0): ok, quorate, coordinator h1, incarnation "
                        "1733000000000001\n"),
              std::string::npos)
        << text;
    const auto h2 = line_with(text, "  h2 ");
    EXPECT_NE(h2.find("alive"), std::string::npos) << text;
    EXPECT_NE(h2.find("0.4 s ago"), std::string::npos) << h2;
    EXPECT_NE(h2.find("vm2, vm4 (paused-io-error)"), std::string::npos) << h2;
    EXPECT_NE(h2.find("vm5"), std::string::npos) << h2;
    EXPECT_NE(h2.find("cordoned"), std::string::npos) << h2;
    const auto h3 = line_with(text, "  h3 ");
    EXPECT_NE(h3.find("dead"), std::string::npos);
    EXPECT_NE(h3.find("fence-delay-elapsed"), std::string::npos);
    EXPECT_NE(h3.find("9.1 s ago"), std::string::npos) << h3;
    EXPECT_NE(h3.find("nothing yet"), std::string::npos) << h3;
    const auto vm1 = line_with(text, "  vm1 ");
    for (const char* want : {"running", "h1", "10", "512 MiB", "pause", "shared"})
        EXPECT_NE(vm1.find(want), std::string::npos) << want << " in " << vm1;
    EXPECT_NE(text.find("watchdog: armed, timeout 5 s, 4.7 s left (device), 52 pets (1 late), "
                        "last pet 0.3 s ago\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("last verdict: pet (quorate); withheld: device_error 0, fence_decided 0, "
                        "not_safe 2\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("storage domains: shared ok\nnetworks: cluster up, vm-uplink down\n"),
              std::string::npos)
        << text;
}

TEST(StatusText, TablesAreAligned) {
    const auto text = status_text(cluster_status());
    // Each column starts at the same place on every row of its table.
    const auto header = line_with(text, "NAME  CLASS");
    const auto h2 = line_with(text, "  h2 ");
    const auto h3 = line_with(text, "  h3 ");
    ASSERT_FALSE(header.empty()) << text;
    for (const char* col : {"CLASS", "REASON", "LAST SIGN OF LIFE", "SLOT SAYS"}) {
        const auto at = header.find(col);
        EXPECT_EQ(h2[at - 1], ' ') << col << "\n" << header << "\n" << h2;
        EXPECT_NE(h2[at], ' ') << col << "\n" << header << "\n" << h2;
        EXPECT_EQ(h3[at - 1], ' ') << col << "\n" << header << "\n" << h3;
        EXPECT_NE(h3[at], ' ') << col << "\n" << header << "\n" << h3;
    }
    const auto vms_header = line_with(text, "RUNS ON");
    const auto long_vm = line_with(text, "a-long-vm-name");
    const auto vm1 = line_with(text, "  vm1 ");
    EXPECT_EQ(vms_header.find("RUNS ON"), long_vm.find("h2")) << vms_header << "\n" << long_vm;
    EXPECT_EQ(vms_header.find("RUNS ON"), vm1.find("h1")) << vms_header << "\n" << vm1;
}

TEST(StatusText, AWitheldPetAndNoQuorumStandOut) {
    auto st = cluster_status();
    st["cluster"]["host"]["quorate"] = false;
    st["cluster"]["host"]["state"] = "isolated";
    st["cluster"]["heartbeat"]["pet"] = false;
    st["cluster"]["heartbeat"]["pet_reason"] = "no-quorum-no-storage";
    st["cluster"]["watchdog"]["armed"] = false;
    const auto text = status_text(st);
    EXPECT_NE(text.find("isolated, NOT QUORATE"), std::string::npos) << text;
    EXPECT_NE(text.find("last verdict: WITHHOLD (no-quorum-no-storage)"), std::string::npos);
    EXPECT_NE(text.find("watchdog: NOT ARMED"), std::string::npos);
}

TEST(StatusText, ADrainInProgressSaysWhatIsLeftToMove) {
    auto st = cluster_status();
    auto& h = st["cluster"]["host"];
    EXPECT_EQ(line_with(status_text(st), "drain:"), "") << "no drain, no drain line";
    h["cordoned"] = true;
    h["draining"] = true;
    h["drain"] = {{"moving", {"db"}}, {"left", {"web", "app"}}, {"blocked", {"big"}}};
    auto text = status_text(st);
    EXPECT_NE(text.find("  cordoned,draining\n"), std::string::npos) << text;
    EXPECT_EQ(line_with(text, "drain:"),
              "  drain: moving db; left web, app; kept here (no host can take them): big");
    h["drain"] = {{"moving", json::array()}, {"left", json::array()}, {"blocked", json::array()}};
    EXPECT_EQ(line_with(status_text(st), "drain:"), "  drain: done, cordoned");
}

TEST(StatusText, ADrainByMigrationSaysWhereEachVmGoesAndWhatFailed) {
    auto st = cluster_status();
    auto& h = st["cluster"]["host"];
    h["cordoned"] = true;
    h["draining"] = true;
    h["drain"] = json::parse(R"({"moving": ["db", "web"], "left": [], "blocked": [],
      "migrating": [{"vm": "web", "target": {"id": 2, "name": "h2"}, "for_seconds": 3.04,
                     "moved": false}],
      "migration_failed": [{"vm": "db", "target": {"id": 3, "name": "h3"},
                            "outcome": "failed", "detail": "", "at_seconds_ago": 1.2}]})");
    auto text = status_text(st);
    EXPECT_EQ(line_with(text, "migrating"), "  migrating web to h2 for 3.0 s") << text;
    EXPECT_EQ(line_with(text, "migration of"),
              "  migration of db to h3 failed 1.2 s ago: stopped here once h3 no longer holds it")
        << text;
    // A drain from a vigild without these lists, or with entries of the wrong shape.
    h["drain"] = {{"moving", {"db"}}, {"left", json::array()}, {"blocked", json::array()}};
    EXPECT_EQ(line_with(status_text(st), "migrat"), "");
    h["drain"]["migrating"] = {42, {{"vm", 7}}};
    EXPECT_NO_THROW(text = status_text(st));
    EXPECT_EQ(line_with(text, "drain:"), "  drain: moving db");
}

TEST(StatusText, StandaloneHasNoClusterSection) {
    auto st = cluster_status();
    st.erase("cluster");
    st["mode"] = "standalone";
    const auto text = status_text(st);
    EXPECT_EQ(text.find("peers:"), std::string::npos);
    EXPECT_NE(text.find("vigild 0.9.0, standalone mode, up 0d 00:01:05\n"), std::string::npos);
    EXPECT_NE(text.find("probes:\n"), std::string::npos);
}

TEST(StatusText, MissingOrWrongFieldsNeverThrow) {
    EXPECT_NO_THROW((void)status_text(json::object()));
    EXPECT_NO_THROW((void)status_text(json::array()));
    EXPECT_NO_THROW((void)status_text(json{{"cluster", {{"peers", 3}, {"vms", {1, 2}}}}}));
    EXPECT_NO_THROW((void)explain_text(json{{"decisions", {1, "x"}}, {"subject", 5}}));
}

TEST(AgoText, ReadsAtAGlance) {
    EXPECT_EQ(ago_text(json(2.06)), "2.1 s ago");
    EXPECT_EQ(ago_text(json(0)), "0.0 s ago");
    EXPECT_EQ(ago_text(json(200)), "3 min 20 s ago");
    EXPECT_EQ(ago_text(json(7500)), "2 h 05 min ago");
    EXPECT_EQ(ago_text(json(nullptr)), "never");
}

TEST(ExplainText, TheLatestDecisionThenTheOnesBefore) {
    const auto ex = json::parse(R"({
      "flight_record": "/var/lib/vigil/flight-record", "previous_self_fence": null,
      "flight_record_error": "", "subject": {"kind": "host", "id": 3, "name": "h3"},
      "decisions": [
        {"number": 12, "kind": "peer-class", "reason": "fence-delay-elapsed",
         "at_seconds_ago": 4.0, "wall_time": 1700000017, "vm": null,
         "peer": {"id": 3, "name": "h3"}, "target": null, "peer_class": "dead",
         "self_state": null, "alert": null,
         "evidence": [{"key": "silent_for", "value": "7.000"}, {"key": "fence_delay", "value": "7.000"}]},
        {"number": 8, "kind": "peer-class", "reason": "silent-inside-fence-delay",
         "at_seconds_ago": 10.0, "wall_time": 1700000011, "vm": null,
         "peer": {"id": 3, "name": "h3"}, "target": null, "peer_class": "suspect",
         "self_state": null, "alert": null, "evidence": []}]})");
    const auto text = explain_text(ex);
    EXPECT_EQ(text,
              "host h3: latest decision\n"
              "  #12 4.0 s ago (2023-11-14 22:13:37Z)  peer-class  reason fence-delay-elapsed\n"
              "      peer h3, peer_class dead\n"
              "      silent_for = 7.000\n"
              "      fence_delay = 7.000\n"
              "before it, newest first:\n"
              "  #8 10.0 s ago (2023-11-14 22:13:31Z)  peer-class  reason "
              "silent-inside-fence-delay\n"
              "      peer h3, peer_class suspect\n"
              "\n"
              "no self-fence recorded in /var/lib/vigil/flight-record\n");
}

TEST(ExplainText, StandaloneShowsOnlyTheFlightRecord) {
    const auto text = explain_text(json::parse(R"({
      "flight_record": "/f", "flight_record_error": "",
      "previous_self_fence": {"boot_id": "b", "earlier_boot": true, "written_at": 1,
                              "decision": "self-fence-reboot reason=storage-lost",
                              "evidence": ["a", "b"]}})"));
    EXPECT_EQ(text,
              "last self-fence (ended the previous boot): self-fence-reboot reason=storage-lost\n"
              "evidence before it, oldest first:\n  a\n  b\n");
}

}  // namespace
}  // namespace vigil::control
