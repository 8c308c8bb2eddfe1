#include "daemon/core/slot_codec.h"

#include <gtest/gtest.h>

namespace vigil::core {
namespace {

HostStatus sample() {
    return HostStatus{.host = HostId{3},
                      .incarnation = 77,
                      .sequence = 12345,
                      .state = SelfState::kIsolated,
                      .quorate = false,
                      .storage_ok = true,
                      .maintenance = false,
                      .draining = true,
                      .held = {{"db", VmState::kPausedIoError}, {"web", VmState::kRunning}},
                      .assignments = {{"dns", HostId{2}}}};
}

TEST(SlotCodec, RoundTrips) {
    const auto decoded = decode_status(encode_status(sample()));
    ASSERT_TRUE(decoded.has_value()) << decoded.error();
    EXPECT_EQ(*decoded, sample());
}

TEST(SlotCodec, RefusesAFlippedByte) {
    std::string text = encode_status(sample());
    text[text.find("12345")] = '9';
    const auto decoded = decode_status(text);
    ASSERT_FALSE(decoded.has_value());
    EXPECT_NE(decoded.error().find("checksum mismatch"), std::string::npos);
}

TEST(SlotCodec, RefusesATornWrite) {
    const std::string text = encode_status(sample());
    const auto decoded = decode_status(text.substr(0, text.size() / 2));
    ASSERT_FALSE(decoded.has_value());
}

TEST(SlotCodec, RefusesGarbageWithAReason) {
    const std::string_view junks[] = {"", "crc 0\n", "hello\ncrc zz\n",
                                      std::string_view("\0\0\0", 3)};
    for (const std::string_view junk : junks) {
        const auto decoded = decode_status(junk);
        ASSERT_FALSE(decoded.has_value());
        EXPECT_FALSE(decoded.error().empty());
    }
    EXPECT_FALSE(decode_status(std::string(kMaxSlotBytes + 1, 'x')).has_value());
}

}  // namespace
}  // namespace vigil::core
