#include "daemon/core/slot_codec.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/tools/formats/next_format.h"

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
                      .cordoned = true,
                      .held = {{"db", VmState::kPausedIoError}, {"web", VmState::kRunning}},
                      .assignments = {{"dns", HostId{2}}}};
}

// Every field of format 1.0, the declined and fenced lines included.
HostStatus every_field() {
    auto s = sample();
    s.quorate = true;
    s.maintenance = true;
    s.assignments = {{"dns", HostId{2}, 1764000000000001, 41}};
    s.declined = {"mail"};
    s.fenced = {{HostId{4}, 1764000000000002}};
    return s;
}

std::string file(const char* path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(SlotCodec, RoundTrips) {
    const auto decoded = decode_status(encode_status(sample()));
    ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
    EXPECT_EQ(*decoded, sample());
}

TEST(SlotCodec, RefusesAFlippedByte) {
    std::string text = encode_status(sample());
    text[text.find("12345")] = '9';
    const auto decoded = decode_status(text);
    ASSERT_FALSE(decoded.has_value());
    EXPECT_NE(decoded.error().message.find("checksum mismatch"), std::string::npos);
    EXPECT_EQ(decoded.error().reason, Refusal::kCorrupt);
}

TEST(SlotCodec, RefusesATornWrite) {
    const std::string text = encode_status(sample());
    const auto decoded = decode_status(text.substr(0, text.size() / 2));
    ASSERT_FALSE(decoded.has_value());
    EXPECT_EQ(decoded.error().reason, Refusal::kCorrupt);
}

TEST(SlotCodec, RefusesGarbageWithAReason) {
    const std::string_view junks[] = {"", "crc 0\n", "hello\ncrc zz\n",
                                      std::string_view("\0\0\0", 3)};
    for (const std::string_view junk : junks) {
        const auto decoded = decode_status(junk);
        ASSERT_FALSE(decoded.has_value());
        EXPECT_FALSE(decoded.error().message.empty());
        EXPECT_NE(decoded.error().reason, Refusal::kNewerFormat);
    }
    EXPECT_FALSE(decode_status(std::string(kMaxSlotBytes + 1, 'x')).has_value());
}

// The bytes the release before wrote (format 1.0), checked in: a reader must go
// on reading them. Such a writer does not know frozen records.
TEST(SlotFormat, TheLastReleasesRecordStillDecodes) {
    const auto old = file(VIGIL_FORMAT_SAMPLES "/status-1.0");
    ASSERT_FALSE(old.empty());
    ASSERT_TRUE(old.starts_with("vigil-slot 1\n"));
    const auto decoded = decode_status(old);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, every_field());
    EXPECT_FALSE(decoded->knows_freeze);
    EXPECT_FALSE(decoded->frozen);
}

// The bytes this release writes (format 1.1: knows-freeze, frozen), checked in:
// the writer must not change them before every reader knows the new form.
TEST(SlotFormat, TodaysRecordIsWrittenAndRead) {
    const auto today = file(VIGIL_FORMAT_SAMPLES "/status-1.1");
    ASSERT_TRUE(today.starts_with("vigil-slot 1.1\n"));
    auto s = every_field();
    s.knows_freeze = true;
    s.frozen = true;
    EXPECT_EQ(encode_status(s), today);
    const auto decoded = decode_status(today);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, s);
}

TEST(SlotFormat, UnknownLinesAndFlagsOfAKnownFormatAreSkipped) {
    auto text = encode_status(sample());
    text = formats::rewrite(text, "vigil-slot 1", "mood cheerful 3\nflags quorate sparkly\n");
    const auto decoded = decode_status(text);
    ASSERT_TRUE(decoded) << decoded.error().message;
    auto want = sample();
    want.quorate = true;  // the second flags line still counts
    EXPECT_EQ(*decoded, want);
}

TEST(SlotFormat, ANextMinorVersionIsRead) {
    const auto text = formats::next_minor(every_field());
    ASSERT_TRUE(text.starts_with("vigil-slot 1.2\n"));
    ASSERT_NE(text.find("migrating web 2"), std::string::npos);
    ASSERT_NE(text.find(" hugepages"), std::string::npos);
    const auto decoded = decode_status(text);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, every_field());
}

TEST(SlotFormat, ANextMajorVersionIsRefusedAsNewer) {
    const auto decoded = decode_status(formats::next_major(sample()));
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().reason, Refusal::kNewerFormat);
    EXPECT_EQ(decoded.error().message,
              "slot written by a newer vigil (format 2.0, this reader knows up to 1)");
    // Even when it seals differently: the first line decides.
    const auto other_seal = decode_status("vigil-slot 3.2\nhost 3\nsha256 00\n");
    ASSERT_FALSE(other_seal);
    EXPECT_EQ(other_seal.error().reason, Refusal::kNewerFormat);
    EXPECT_NE(other_seal.error().message.find("format 3.2"), std::string::npos);
}

TEST(SlotFormat, FormatLineSyntax) {
    const auto read = [](std::string_view line) { return read_format_line(line, "vigil-slot", 1); };
    ASSERT_TRUE(read("vigil-slot 1"));
    EXPECT_EQ(read("vigil-slot 1")->minor, 0u);
    EXPECT_EQ(read("vigil-slot 1.7")->minor, 7u);
    EXPECT_EQ(read("vigil-slot 2").error().reason, Refusal::kNewerFormat);
    for (const std::string_view bad :
         {"vigil-slot", "vigil-slot ", "vigil-slot 0", "vigil-slot x", "vigil-slot 1.",
          "vigil-slot 1.x", "vigil-slot -1", "vigil-slots 1", "vigil-last-words 1",
          "vigil-slot 99999999999"}) {
        const auto v = read(bad);
        ASSERT_FALSE(v) << bad;
        EXPECT_EQ(v.error().reason, Refusal::kMalformed) << bad;
    }
}

}  // namespace
}  // namespace vigil::core
