// The checks every delivered cluster message passes before the engine sees
// it, and the nodeid to HostId mapping of member lists.
#include <gtest/gtest.h>

#include "daemon/adapters/cluster.h"
#include "daemon/core/slot_codec.h"
#include "tests/tools/formats/next_format.h"

namespace vigil::adapters {
namespace {

core::HostStatus status_of(std::uint32_t host) {
    return core::HostStatus{.host = core::HostId{host},
                            .incarnation = 9,
                            .sequence = 41,
                            .state = core::SelfState::kOk,
                            .quorate = true,
                            .storage_ok = true,
                            .held = {{"web", core::VmState::kRunning}}};
}

TEST(ClusterMessage, AcceptsAStatusFromItsOwnNode) {
    auto m = validate_peer_message(2, core::encode_status(status_of(2)));
    ASSERT_TRUE(m.has_value()) << m.error().message;
    EXPECT_EQ(m->status, status_of(2));
}

TEST(ClusterMessage, RefusesAStatusSpeakingForAnotherHost) {
    auto m = validate_peer_message(1, core::encode_status(status_of(2)));
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().message, "node 1 sent a status of host 2");
}

TEST(ClusterMessage, RefusesGarbageWithTheDecoderReason) {
    for (std::string_view junk :
         {std::string_view(""), std::string_view("hello"), std::string_view("\0\xff\x01", 3)}) {
        auto m = validate_peer_message(1, junk);
        ASSERT_FALSE(m.has_value());
        EXPECT_TRUE(m.error().message.starts_with("undecodable status: ")) << m.error().message;
        EXPECT_GT(m.error().message.size(), std::string_view("undecodable status: ").size());
    }
    // A valid status with one byte changed fails its checksum.
    std::string text = core::encode_status(status_of(1));
    text[text.find("41")] = '5';
    auto m = validate_peer_message(1, text);
    ASSERT_FALSE(m.has_value());
    EXPECT_NE(m.error().message.find("checksum"), std::string::npos) << m.error().message;
}

TEST(ClusterMessage, RefusesANewerFormatAsSuch) {
    auto m = validate_peer_message(2, formats::next_major(status_of(2)));
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().reason, core::Refusal::kNewerFormat);
    EXPECT_EQ(m.error().message,
              "undecodable status: slot written by a newer vigil (format 2.0, this reader knows "
              "up to 1)");
    // A newer minor is read, its new line skipped.
    auto minor = validate_peer_message(2, formats::next_minor(status_of(2)));
    ASSERT_TRUE(minor.has_value()) << minor.error().message;
    EXPECT_EQ(minor->status, status_of(2));
    EXPECT_EQ(validate_peer_message(1, core::encode_status(status_of(2))).error().reason,
              core::Refusal::kWrongSender);
}

TEST(ClusterMessage, RefusesOversizeBeforeDecoding) {
    // A valid status followed by padding: refused for its size alone.
    std::string text = core::encode_status(status_of(1));
    text.append(core::kMaxSlotBytes + 1 - text.size(), '\n');
    auto m = validate_peer_message(1, text);
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().message, "message of 4097 bytes, more than 4096");
    EXPECT_TRUE(validate_peer_message(1, std::string(1 << 20, 'x'))
                    .error()
                    .message.starts_with("message of 1048576 bytes"));
}

TEST(ClusterMembers, NodeidIsTheHostIdOncePerNodeSorted) {
    EXPECT_EQ(host_of_nodeid(7), core::HostId{7});
    // Two members on node 3 (vigild and a tool) are one host.
    auto hosts = hosts_of_nodeids({3, 1, 3, 2});
    EXPECT_EQ(hosts, (std::vector<core::HostId>{{1}, {2}, {3}}));
    EXPECT_TRUE(hosts_of_nodeids({}).empty());
}

TEST(ClusterOptions, GroupNameIsCheckedBeforeConnecting) {
    for (const std::string& group : {std::string(), std::string(128, 'g')}) {
        auto c = Cluster::make({.group = group}, {});
        ASSERT_FALSE(c.has_value());
        EXPECT_EQ(c.error().message, "cluster group name must be 1 to 127 bytes");
    }
}

}  // namespace
}  // namespace vigil::adapters
