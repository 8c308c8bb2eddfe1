// The storage heartbeat without storage: the slot layout and parsers, and the
// I/O lanes driven by a scripted area whose writes can fail or hang.
#include <gtest/gtest.h>
#include <poll.h>
#include <algorithm>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "daemon/adapters/heartbeat.h"
#include "tests/tools/formats/next_format.h"

namespace vigil::adapters {
namespace {

using core::HostId;
using core::HostStatus;
using namespace std::chrono_literals;

HostStatus status_of(std::uint32_t host, std::uint64_t sequence) {
    HostStatus s;
    s.host = HostId{host};
    s.incarnation = 7;
    s.sequence = sequence;
    s.quorate = true;
    s.storage_ok = true;
    s.held = {{"vm-a", core::VmState::kRunning}};
    return s;
}

std::span<const std::byte> bytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

void put(std::string& area, std::uint64_t offset, const std::string& block) {
    area.replace(offset, block.size(), block);
}

TEST(HeartbeatLayout, SlotsAreAlignedAndHoldTwoBlocks) {
    EXPECT_EQ(kSlotBlockBytes, 4096u);
    for (std::uint32_t slot : {0u, 1u, 7u, kMaxHeartbeatSlots - 1}) {
        EXPECT_EQ(status_offset(slot) % 4096, 0u);
        EXPECT_EQ(last_words_offset(slot) % 4096, 0u);
        EXPECT_EQ(last_words_offset(slot), status_offset(slot) + 4096);
        EXPECT_EQ(status_offset(slot + 1), last_words_offset(slot) + 4096);
    }
    EXPECT_EQ(area_bytes(3), 3u * 8192u);
}

TEST(HeartbeatSlot, StatusRoundTripsThroughABlock) {
    const auto block = encode_status_block(status_of(4, 99));
    ASSERT_TRUE(block) << block.error();
    ASSERT_EQ(block->size(), kSlotBlockBytes);
    const auto back = read_status_block(bytes(*block), 2, HostId{4});
    ASSERT_TRUE(back) << back.error().message;
    ASSERT_TRUE(back->has_value());
    EXPECT_EQ(**back, status_of(4, 99));
}

TEST(HeartbeatSlot, ZeroBlockWasNeverWritten) {
    const std::string zero(kSlotBlockBytes, '\0');
    const auto r = read_status_block(bytes(zero), 0, HostId{1});
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->has_value());
    const auto w = read_last_words_block(bytes(zero), 0, HostId{1});
    ASSERT_TRUE(w);
    EXPECT_FALSE(w->has_value());
}

TEST(HeartbeatSlot, CorruptByteIsRefusedWithTheReason) {
    auto block = *encode_status_block(status_of(1, 5));
    block[30] ^= 0x01;
    const auto r = read_status_block(bytes(block), 0, HostId{1});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("heartbeat slot 0"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("checksum"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().reason, core::Refusal::kCorrupt);
}

TEST(HeartbeatSlot, ForeignHostIsRefused) {
    const auto block = *encode_status_block(status_of(2, 5));
    const auto r = read_status_block(bytes(block), 0, HostId{1});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("written by host 2, belongs to host 1"), std::string::npos)
        << r.error().message;
    const auto unassigned = read_status_block(bytes(block), 3, HostId{0});
    ASSERT_FALSE(unassigned);
    EXPECT_NE(unassigned.error().message.find("unassigned"), std::string::npos);
    EXPECT_EQ(r.error().reason, core::Refusal::kWrongSender);
}

TEST(HeartbeatSlot, TornWriteIsRefusedButAShorterWholeStatusIsRead) {
    auto big = status_of(1, 1);
    for (int i = 0; i < 80; ++i) big.held.push_back({"vm-" + std::to_string(i), {}});
    const auto old_block = *encode_status_block(big);
    ASSERT_GT(core::encode_status(big).size(), 1024u);

    // The first sector of a new, equally long status landed; the rest is old.
    auto newer = big;
    newer.sequence = 2;
    newer.held[0].state = core::VmState::kPaused;
    auto torn = *encode_status_block(newer);
    std::memcpy(torn.data() + 512, old_block.data() + 512, kSlotBlockBytes - 512);
    const auto r = read_status_block(bytes(torn), 0, HostId{1});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("checksum"), std::string::npos) << r.error().message;

    // A short status that fits one sector, over the old long one whose tail
    // sectors were not rewritten: the text before the NUL is whole.
    auto small = *encode_status_block(status_of(1, 3));
    std::memcpy(small.data() + 512, old_block.data() + 512, kSlotBlockBytes - 512);
    const auto s = read_status_block(bytes(small), 0, HostId{1});
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ((*s)->sequence, 3u);
}

TEST(HeartbeatSlot, StatusTooLargeForASlotIsAnError) {
    auto huge = status_of(1, 1);
    for (int i = 0; i < 400; ++i) huge.held.push_back({"a-long-vm-name-" + std::to_string(i), {}});
    const auto block = encode_status_block(huge);
    ASSERT_FALSE(block);
    EXPECT_NE(block.error().message.find("a slot holds 4095"), std::string::npos)
        << block.error().message;
}

LastWords words_of(std::uint32_t host) {
    LastWords w;
    w.host = HostId{host};
    w.incarnation = 12;
    w.written_unix_ms = 1764000000123;
    w.decision = "fence: storage lost with I/O in flight\nsecond line \\ with \x01 bytes";
    w.evidence = {"slot write failed: EIO", "in flight: 3 requests, oldest 9 s"};
    return w;
}

TEST(HeartbeatLastWords, RoundTripWithControlCharacters) {
    const auto block = encode_last_words_block(words_of(3));
    ASSERT_EQ(block.size(), kSlotBlockBytes);
    const auto back = read_last_words_block(bytes(block), 1, HostId{3});
    ASSERT_TRUE(back) << back.error().message;
    ASSERT_TRUE(back->has_value());
    EXPECT_EQ(**back, words_of(3));
}

TEST(HeartbeatLastWords, AlwaysFitsAndKeepsTheNewestEvidence) {
    auto w = words_of(3);
    w.decision = std::string(5000, '\x02');  // escapes to four bytes each
    w.evidence.clear();
    for (int i = 0; i < 50; ++i)
        w.evidence.push_back("e" + std::to_string(i) + std::string(300, 'x'));
    const auto text = encode_last_words(w);
    ASSERT_LT(text.size(), kSlotBlockBytes);
    const auto back = decode_last_words(text);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->decision, std::string(kMaxLastWordsDecision, '\x02'));
    ASSERT_FALSE(back->evidence.empty());
    EXPECT_LT(back->evidence.size(), 50u);
    EXPECT_EQ(back->evidence.back(), w.evidence.back());
}

TEST(HeartbeatLastWords, CorruptOrForeignIsRefused) {
    auto block = encode_last_words_block(words_of(3));
    EXPECT_FALSE(read_last_words_block(bytes(block), 1, HostId{4}));
    block[40] ^= 0x10;
    const auto r = read_last_words_block(bytes(block), 1, HostId{3});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("checksum"), std::string::npos) << r.error().message;
    EXPECT_FALSE(decode_last_words("vigil-last-words 1\ndecision \\q\ncrc 0\n"));
}

// Slot 1's owner runs a vigil that writes a newer major format: refused as such,
// and reported with a fingerprint that changes when it writes again.
TEST(HeartbeatArea, ANewerFormatSlotIsRefusedAndReportedAsUnreadable) {
    const auto at = [](std::uint64_t seq) {
        std::string area(area_bytes(2), '\0');
        put(area, status_offset(0), *encode_status_block(status_of(10, seq)));
        auto newer = formats::next_major(status_of(11, seq));
        newer.resize(kSlotBlockBytes, '\0');
        put(area, status_offset(1), newer);
        const std::vector<HostId> owners{HostId{10}, HostId{11}};
        return parse_area(bytes(area), owners);
    };
    const auto view = at(1);
    ASSERT_EQ(view.slots.size(), 1u);
    ASSERT_EQ(view.refused.size(), 1u);
    EXPECT_EQ(view.refused[0].slot, 1u);
    EXPECT_EQ(view.refused[0].kind, core::Refusal::kNewerFormat);
    EXPECT_FALSE(view.refused[0].last_words);
    EXPECT_EQ(view.refused[0].reason,
              "heartbeat slot 1: slot written by a newer vigil (format 2.0, this reader knows up "
              "to 1)");
    ASSERT_EQ(view.unreadable.size(), 1u);
    EXPECT_EQ(view.unreadable[0].host, HostId{11});
    EXPECT_EQ(at(1).unreadable[0].fingerprint, view.unreadable[0].fingerprint);
    EXPECT_NE(at(2).unreadable[0].fingerprint, view.unreadable[0].fingerprint);
}

TEST(HeartbeatLastWords, ANewerFormatIsRefusedAsSuchAndUnknownLinesSkipped) {
    const auto text = encode_last_words(words_of(3));
    ASSERT_TRUE(text.starts_with("vigil-last-words 1\n"));
    const auto newer = decode_last_words(formats::rewrite(text, "vigil-last-words 2", ""));
    ASSERT_FALSE(newer);
    EXPECT_EQ(newer.error().reason, core::Refusal::kNewerFormat);
    const auto minor =
        decode_last_words(formats::rewrite(text, "vigil-last-words 1.3", "cause storage\n"));
    ASSERT_TRUE(minor) << minor.error().message;
    EXPECT_EQ(*minor, words_of(3));
}

TEST(HeartbeatArea, BadSlotsAreRefusedOneByOneAndTheOthersRead) {
    std::string area(area_bytes(4), '\0');
    put(area, status_offset(0), *encode_status_block(status_of(10, 1)));
    auto bad = *encode_status_block(status_of(11, 1));
    bad[20] = '#';
    put(area, status_offset(1), bad);
    // slot 2 never written
    put(area, status_offset(3), *encode_status_block(status_of(10, 1)));  // foreign
    put(area, last_words_offset(0), encode_last_words_block(words_of(10)));
    const std::vector<HostId> owners{HostId{10}, HostId{11}, HostId{12}, HostId{13}};
    const auto view = parse_area(bytes(area), owners);
    ASSERT_EQ(view.slots.size(), 1u);
    EXPECT_EQ(view.slots[0], status_of(10, 1));
    ASSERT_EQ(view.last_words.size(), 1u);
    EXPECT_EQ(view.last_words[0].slot, 0u);
    ASSERT_EQ(view.refused.size(), 2u);
    EXPECT_EQ(view.refused[0].slot, 1u);
    EXPECT_EQ(view.refused[1].slot, 3u);
    EXPECT_NE(view.refused[1].reason.find("written by host 10"), std::string::npos);

    const auto short_view = parse_area(bytes(area).first(area_bytes(2)), owners);
    EXPECT_EQ(short_view.slots.size(), 1u);
    ASSERT_EQ(short_view.refused.size(), 3u);
    EXPECT_NE(short_view.refused[2].reason.find("beyond the end"), std::string::npos);
}

// ---- the I/O lanes, on a scripted area --------------------------------------

// An area in memory whose writes pass, fail with an errno, or hang until
// released, as the test says.
struct Script {
    std::mutex mu;
    std::condition_variable cv;
    std::string area = std::string(area_bytes(2), '\0');
    int write_errno = 0;
    bool hold_writes = false;
    int held = 0;  // writes waiting now
    int opens = 0;
    std::string torn_area;  // what the next `torn_reads` reads return instead
    int torn_reads = 0;
    int reads = 0;
};

class ScriptedFile final : public AreaFile {
  public:
    explicit ScriptedFile(std::shared_ptr<Script> s) : s_(std::move(s)) {}
    std::expected<void, Error> write(std::uint64_t offset,
                                     std::span<const std::byte> block) override {
        std::unique_lock lock(s_->mu);
        ++s_->held;
        s_->cv.notify_all();
        s_->cv.wait(lock, [&] { return !s_->hold_writes; });
        --s_->held;
        s_->cv.notify_all();
        if (s_->write_errno != 0)
            return std::unexpected(Error::from_errno("write", s_->write_errno));
        std::memcpy(s_->area.data() + offset, block.data(), block.size());
        return {};
    }
    std::expected<std::size_t, Error> read(std::uint64_t offset,
                                           std::span<std::byte> into) override {
        std::lock_guard lock(s_->mu);
        ++s_->reads;
        const auto& from = s_->torn_reads > 0 ? s_->torn_area : s_->area;
        if (s_->torn_reads > 0) --s_->torn_reads;
        const auto n = std::min<std::size_t>(into.size(), from.size() - offset);
        std::memcpy(into.data(), from.data() + offset, n);
        return n;
    }
    bool direct_io() const override { return true; }

  private:
    std::shared_ptr<Script> s_;
};

class HeartbeatLanes : public ::testing::Test {
  protected:
    void SetUp() override {
        auto made =
            StorageHeartbeat::make({"scripted", {HostId{1}, HostId{2}}, 0}, [s = script_](bool) {
                std::lock_guard lock(s->mu);
                ++s->opens;
                return std::expected<std::unique_ptr<AreaFile>, Error>(
                    std::make_unique<ScriptedFile>(s));
            });
        ASSERT_TRUE(made) << made.error().message;
        hb_ = std::move(*made);
    }

    // Waits on fd() as the loop would, then dispatches.
    std::vector<HeartbeatResult> next_results(std::size_t want,
                                              std::chrono::milliseconds timeout = 10s) {
        std::vector<HeartbeatResult> out;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
            pollfd p{hb_->fd(), POLLIN, 0};
            if (::poll(&p, 1, 100) == 1) {
                for (auto& r : hb_->dispatch()) out.push_back(std::move(r));
            }
        }
        return out;
    }

    void set(auto&& change) {
        std::lock_guard lock(script_->mu);
        change(*script_);
        script_->cv.notify_all();
    }

    bool wait_held(int n) {
        std::unique_lock lock(script_->mu);
        return script_->cv.wait_for(lock, 10s, [&] { return script_->held == n; });
    }

    std::shared_ptr<Script> script_ = std::make_shared<Script>();
    std::unique_ptr<StorageHeartbeat> hb_;
};

core::TimePoint at(int seconds) { return core::TimePoint{std::chrono::seconds(seconds)}; }

TEST_F(HeartbeatLanes, WriteThenReadSeesOwnSlot) {
    ASSERT_EQ(*hb_->write(status_of(1, 5), at(1)), StorageHeartbeat::Submitted::kStarted);
    auto w = next_results(1);
    ASSERT_EQ(w.size(), 1u);
    ASSERT_TRUE(std::get<SlotWriteResult>(w[0]).evidence.ok);
    EXPECT_FALSE(hb_->write_pending_since());
    EXPECT_TRUE(hb_->direct_io());

    hb_->read(at(2));
    auto r = next_results(1);
    ASSERT_EQ(r.size(), 1u);
    const auto& read = std::get<SlotReadResult>(r[0]);
    ASSERT_TRUE(read.evidence.ok) << read.error;
    ASSERT_EQ(read.evidence.slots.size(), 1u);
    EXPECT_EQ(read.evidence.slots[0], status_of(1, 5));
}

TEST_F(HeartbeatLanes, WriteErrorIsReportedAndTheFileReopened) {
    set([](Script& s) { s.write_errno = EIO; });
    ASSERT_TRUE(hb_->write(status_of(1, 1), at(1)));
    auto w = next_results(1);
    ASSERT_EQ(w.size(), 1u);
    const auto& result = std::get<SlotWriteResult>(w[0]);
    EXPECT_FALSE(result.evidence.ok);
    EXPECT_NE(result.error.find("Input/output error"), std::string::npos) << result.error;

    set([](Script& s) { s.write_errno = 0; });
    ASSERT_TRUE(hb_->write(status_of(1, 2), at(2)));
    w = next_results(1);
    ASSERT_EQ(w.size(), 1u);
    EXPECT_TRUE(std::get<SlotWriteResult>(w[0]).evidence.ok);
    std::lock_guard lock(script_->mu);
    EXPECT_EQ(script_->opens, 2);  // write lane twice; the read lane never opened
}

TEST_F(HeartbeatLanes, StuckWriteKeepsOneWaitingAndReadsGoOn) {
    set([](Script& s) { s.hold_writes = true; });
    ASSERT_EQ(*hb_->write(status_of(1, 1), at(1)), StorageHeartbeat::Submitted::kStarted);
    ASSERT_TRUE(wait_held(1));
    EXPECT_EQ(hb_->write_pending_since(), at(1));
    // Newer statuses wait, each replacing the last: nothing piles up.
    EXPECT_EQ(*hb_->write(status_of(1, 2), at(2)), StorageHeartbeat::Submitted::kWaiting);
    EXPECT_EQ(*hb_->write(status_of(1, 3), at(3)), StorageHeartbeat::Submitted::kWaiting);
    EXPECT_EQ(hb_->write_pending_since(), at(1));

    // The read lane is not behind the stuck write.
    hb_->read(at(3));
    auto r = next_results(1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(std::get<SlotReadResult>(r[0]).evidence.ok);
    EXPECT_FALSE(hb_->read_pending_since());

    set([](Script& s) { s.hold_writes = false; });
    auto w = next_results(2);
    ASSERT_EQ(w.size(), 2u);
    EXPECT_TRUE(std::get<SlotWriteResult>(w[0]).evidence.ok);
    EXPECT_TRUE(std::get<SlotWriteResult>(w[1]).evidence.ok);
    EXPECT_TRUE(next_results(1, 300ms).empty());  // the second status was never written
    hb_->read(at(4));
    r = next_results(1);
    ASSERT_EQ(r.size(), 1u);
    ASSERT_EQ(std::get<SlotReadResult>(r[0]).evidence.slots.size(), 1u);
    EXPECT_EQ(std::get<SlotReadResult>(r[0]).evidence.slots[0].sequence, 3u);
    EXPECT_FALSE(hb_->write_pending_since());
}

TEST_F(HeartbeatLanes, DestroyingWithAStuckWriteDoesNotWait) {
    set([](Script& s) { s.hold_writes = true; });
    ASSERT_TRUE(hb_->write(status_of(1, 1), at(1)));
    ASSERT_TRUE(wait_held(1));
    const auto start = std::chrono::steady_clock::now();
    hb_.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    set([](Script& s) { s.hold_writes = false; });  // the detached lane ends on its own
    ASSERT_TRUE(wait_held(0));
}

TEST_F(HeartbeatLanes, BadSlotsAreCounted) {
    set([](Script& s) {
        auto bad = *encode_status_block(status_of(2, 1));
        bad[25] = '!';
        put(s.area, status_offset(1), bad);
    });
    ASSERT_TRUE(hb_->write(status_of(1, 1), at(1)));
    ASSERT_EQ(next_results(1).size(), 1u);
    hb_->read(at(1));
    auto r = next_results(1);
    ASSERT_EQ(r.size(), 1u);
    const auto& read = std::get<SlotReadResult>(r[0]);
    ASSERT_TRUE(read.evidence.ok);
    EXPECT_EQ(read.evidence.slots.size(), 1u);
    ASSERT_EQ(read.refused.size(), 1u);
    EXPECT_EQ(read.refused[0].slot, 1u);
    EXPECT_EQ(hb_->bad_input(), 1u);
}

// A read that overlaps a peer's write sees its slot half old, half new: the
// block fails its checksum though nothing is damaged.
void tear_peer_slot(Script& s, int torn_reads) {
    const auto old_block = *encode_status_block(status_of(2, 1));
    auto new_block = *encode_status_block(status_of(2, 2));
    put(s.area, status_offset(1), new_block);
    s.torn_area = s.area;
    // The old block up to its first byte that differs, the new one after it.
    const auto differ = std::ranges::mismatch(old_block, new_block).in1 - old_block.begin();
    const auto cut = static_cast<std::size_t>(differ) + 1;
    put(s.torn_area, status_offset(1), old_block.substr(0, cut) + new_block.substr(cut));
    s.torn_reads = torn_reads;
    s.reads = 0;
}

TEST_F(HeartbeatLanes, ATornReadIsReadAgainNotRefused) {
    set([](Script& s) { tear_peer_slot(s, 1); });
    hb_->read(at(1));
    auto r = next_results(1);
    ASSERT_EQ(r.size(), 1u);
    const auto& read = std::get<SlotReadResult>(r[0]);
    ASSERT_TRUE(read.evidence.ok) << read.error;
    EXPECT_TRUE(read.refused.empty()) << read.refused[0].reason;
    ASSERT_EQ(read.evidence.slots.size(), 1u);
    EXPECT_EQ(read.evidence.slots[0], status_of(2, 2));
    EXPECT_EQ(hb_->bad_input(), 0u);
    std::lock_guard lock(script_->mu);
    EXPECT_EQ(script_->reads, 2);
}

TEST_F(HeartbeatLanes, ABlockTornOnEveryReadIsRefusedOnce) {
    set([](Script& s) { tear_peer_slot(s, 100); });
    hb_->read(at(1));
    auto r = next_results(1);
    ASSERT_EQ(r.size(), 1u);
    const auto& read = std::get<SlotReadResult>(r[0]);
    ASSERT_TRUE(read.evidence.ok) << read.error;
    ASSERT_EQ(read.refused.size(), 1u);
    EXPECT_EQ(read.refused[0].kind, core::Refusal::kCorrupt);
    EXPECT_TRUE(read.evidence.slots.empty());
    EXPECT_EQ(hb_->bad_input(), 1u);
    std::lock_guard lock(script_->mu);
    EXPECT_EQ(script_->reads, 3);  // the read and two more
}

// A local file stands in for the shared area: format, last words, read back.
TEST(HeartbeatFile, FormatRefusesALiveAreaAndLastWordsLand) {
    char dir_template[] = "/tmp/vigil-heartbeat-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    const std::filesystem::path dir(dir_template);
    struct Cleanup {
        std::filesystem::path dir;
        ~Cleanup() { std::filesystem::remove_all(dir); }
    } cleanup{dir};
    const auto area = dir / "area";

    ASSERT_TRUE(format_heartbeat_area(area, 3, false));
    EXPECT_EQ(std::filesystem::file_size(area), area_bytes(3));
    ASSERT_TRUE(format_heartbeat_area(area, 3, false));  // still all zero: fine

    const auto written = write_last_words(area, 2, words_of(30));
    ASSERT_TRUE(written) << written.error().message;
    const auto refused = format_heartbeat_area(area, 3, false);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("not empty"), std::string::npos);

    auto file = open_area_file(area, false);
    ASSERT_TRUE(file) << file.error().message;
    std::string bytes_read(area_bytes(3), '\0');
    const auto n = (*file)->read(0, std::as_writable_bytes(std::span(bytes_read)));
    ASSERT_TRUE(n) << n.error().message;
    ASSERT_EQ(*n, area_bytes(3));
    const std::vector<HostId> owners{HostId{10}, HostId{20}, HostId{30}};
    const auto view = parse_area(bytes(bytes_read), owners);
    EXPECT_TRUE(view.refused.empty());
    ASSERT_EQ(view.last_words.size(), 1u);
    EXPECT_EQ(view.last_words[0].slot, 2u);
    EXPECT_EQ(view.last_words[0].words, words_of(30));

    ASSERT_TRUE(format_heartbeat_area(area, 2, true));
    EXPECT_EQ(std::filesystem::file_size(area), area_bytes(2));
    EXPECT_FALSE(open_area_file(dir / "missing", false));
}

TEST(HeartbeatConfig, RefusesSlotsThatCannotWork) {
    EXPECT_FALSE(StorageHeartbeat::make({"x", {}, 0}));
    EXPECT_FALSE(StorageHeartbeat::make({"x", {HostId{1}}, 1}));
    EXPECT_FALSE(StorageHeartbeat::make({"x", {HostId{0}, HostId{1}}, 0}));
    auto hb = StorageHeartbeat::make({"/nonexistent/vigil-area", {HostId{1}}, 0});
    ASSERT_TRUE(hb);
    EXPECT_FALSE((*hb)->write(status_of(2, 1), at(1)));  // not this slot's host
}

}  // namespace
}  // namespace vigil::adapters
