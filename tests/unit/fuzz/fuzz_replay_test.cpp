// Runs each fuzz entry point over deterministic mutations of real inputs in
// ordinary test runs. Any crash, sanitizer report or abort fails the test.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/adapters/heartbeat_area.h"
#include "daemon/core/slot_codec.h"
#include "tests/tools/formats/next_format.h"
#include "tests/tools/fuzz/mutate.h"

namespace config_fuzz {
int one_input(const std::uint8_t* data, std::size_t size);
}
namespace control_fuzz {
int one_input(const std::uint8_t* data, std::size_t size);
}
namespace cluster_fuzz {
int one_input(const std::uint8_t* data, std::size_t size);
}
namespace heartbeat_fuzz {
int one_input(const std::uint8_t* data, std::size_t size);
}
namespace webhook_fuzz {
int one_input(const std::uint8_t* data, std::size_t size);
}

namespace {

using Entry = std::function<int(const std::uint8_t*, std::size_t)>;

void replay(const Entry& entry, const std::vector<std::string>& seeds, int mutations_per_seed) {
    std::mt19937 rng(20261125);
    auto feed = [&](const std::string& s) {
        entry(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    };
    for (const auto& seed : seeds) {
        feed(seed);
        for (int i = 0; i < mutations_per_seed; ++i) feed(vigil::testing::mutate(seed, rng));
    }
    for (int i = 0; i < 1000; ++i) feed(vigil::testing::random_bytes(rng, 512));
}

std::string file(const char* path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(FuzzReplay, ConfigParserNeverCrashes) {
    const std::string example = file(VIGIL_EXAMPLE_CONFIG);
    ASSERT_FALSE(example.empty());
    replay(config_fuzz::one_input,
           {example, "[probes]\npoll_interval_ms = 100\n", "[metrics]\nlisten = \"[::1]:1\"\n",
            "[cluster]\nenabled = true\n[[cluster.hosts]]\nname = \"h1\"\nnodeid = 1\nslot = 0\n"
            "memory_mib = 64\n[[cluster.hosts]]\nname = \"h2\"\nnodeid = 2\nslot = 1\n"
            "memory_mib = 64\n[heartbeat]\narea = \"/x/hb\"\n[storage.domains.shared]\n"
            "block_devices = [\"sdb\"]\nnfs_mounts = [\"/mnt/n\"]\n[network]\n"
            "cluster_interfaces = [\"eth0\"]\nvm_uplink_interfaces = [\"eth1\"]\n"},
           3000);
}

TEST(FuzzReplay, ControlRequestsNeverCrash) {
    replay(control_fuzz::one_input,
           {"{\"command\":\"status\"}", "{\"command\": [1, {\"a\": null}]}", "\"status\"",
            "{\"command\":\"explain\",\"subject\":\"vm1\"}",
            "{\"command\":\"explain\",\"subject\":\"h\\u00013\"}",
            "{\"command\":\"status\",\"subject\":7}"},
           3000);
}

// Seeds: real statuses behind their sender's nodeid (little-endian, as the
// entry point reads it), one of them sent by the wrong node.
TEST(FuzzReplay, ClusterMessagesNeverCrash) {
    auto seed = [](std::uint32_t nodeid, const vigil::core::HostStatus& s) {
        std::string out(4, '\0');
        std::memcpy(out.data(), &nodeid, 4);
        return out + vigil::core::encode_status(s);
    };
    using namespace vigil::core;
    const HostStatus busy{.host = HostId{2},
                          .incarnation = 5,
                          .sequence = 99,
                          .state = SelfState::kIsolated,
                          .storage_ok = true,
                          .held = {{"db", VmState::kPausedIoError}, {"web", VmState::kRunning}},
                          .assignments = {{"dns", HostId{3}}}};
    auto raw = [](std::uint32_t nodeid, const std::string& text) {
        std::string out(4, '\0');
        std::memcpy(out.data(), &nodeid, 4);
        return out + text;
    };
    replay(cluster_fuzz::one_input,
           {seed(1, HostStatus{.host = HostId{1}, .sequence = 1}), seed(2, busy), seed(3, busy),
            raw(2, vigil::formats::next_minor(busy)), raw(2, vigil::formats::next_major(busy))},
           3000);
}

TEST(FuzzReplay, HeartbeatSlotsNeverCrash) {
    vigil::core::HostStatus status;
    status.host = vigil::core::HostId{1};
    status.sequence = 42;
    status.quorate = true;
    status.held = {{"vm-a", vigil::core::VmState::kPausedIoError}};
    status.assignments = {{"vm-b", vigil::core::HostId{2}}};
    vigil::adapters::LastWords words;
    words.host = vigil::core::HostId{2};
    words.decision = "fence: storage lost\nwith I/O in flight";
    words.evidence = {"slot write: EIO", "in flight 3"};
    replay(heartbeat_fuzz::one_input,
           {vigil::core::encode_status(status), vigil::adapters::encode_last_words(words),
            std::string(vigil::adapters::kSlotBlockBytes, '\0'), vigil::formats::next_minor(status),
            vigil::formats::next_major(status)},
           3000);
}

// Seeds: the checked-in corpus (what Alertmanager sends), also the
// libFuzzer starting point.
TEST(FuzzReplay, WebhookBodiesNeverCrash) {
    std::vector<std::string> seeds;
    for (const auto& e : std::filesystem::directory_iterator(VIGIL_WEBHOOK_CORPUS)) {
        seeds.push_back(file(e.path().c_str()));
    }
    ASSERT_GE(seeds.size(), 3u);
    replay(webhook_fuzz::one_input, seeds, 3000);
}

}  // namespace
