// The self-fence path through fakes of the reboot calls and the last-words
// writer: the flight record is committed first, then our slot's last words,
// then the reboot; a refused reboot is logged and returns (the watchdog is
// left). Nothing here can reboot the machine: RebootCalls is a fake.
#include "daemon/host/fencer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace vigil::host {
namespace {

using namespace std::chrono_literals;

struct FakeReboot final : fence::RebootCalls {
    std::vector<std::string>& log;
    explicit FakeReboot(std::vector<std::string>& l) : log(l) {}
    int reboot_syscall() override {
        log.push_back("reboot");
        return EPERM;
    }
    int sysrq(char) override {
        log.push_back("sysrq");
        return EACCES;
    }
};

TEST(HostFencer, FlightRecordThenLastWordsThenReboot) {
    const auto dir =
        std::filesystem::temp_directory_path() / ("vigil-fencer-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    struct Cleanup {
        std::filesystem::path d;
        ~Cleanup() {
            std::error_code ec;
            std::filesystem::remove_all(d, ec);
        }
    } cleanup{dir};
    auto recorder = fence::FlightRecorder::make(dir / "flight-record", 8);
    ASSERT_TRUE(recorder) << recorder.error().message;
    std::vector<std::string> log;
    FakeReboot reboot(log);
    adapters::LastWords written;
    std::vector<std::function<void()>> later;
    std::vector<std::pair<ports::RequestId, bool>> answers;
    adapters::Journal journal(adapters::Priority::kError);
    Fencer f(
        FencerParts{.recorder = &*recorder,
                    .last_words = [&](const adapters::LastWords& w) -> std::expected<void, Error> {
                        // The flight record is on disk before the slot is written.
                        auto rec = fence::FlightRecorder::read(dir / "flight-record");
                        log.push_back(rec && *rec ? "last-words after record"
                                                  : "last-words before record");
                        written = w;
                        return {};
                    },
                    .reboot = reboot,
                    .later = [&](std::function<void()> fn) { later.push_back(std::move(fn)); },
                    .on_fence = [&](ports::RequestId id, bool ok,
                                    const std::string&) { answers.emplace_back(id, ok); }},
        core::HostId{2}, 42, journal);
    f.note("storage device sdb is failed");
    const core::Decision why{.kind = core::DecisionKind::kSelfFenceReboot,
                             .reason = core::Reason::kStorageLostIoInFlight};
    f.write_last_words(why, std::chrono::system_clock::time_point(1000s));
    f.reboot_now();
    EXPECT_EQ(log, (std::vector<std::string>{"last-words after record", "reboot", "sysrq"}));
    EXPECT_EQ(written.host.value, 2U);
    EXPECT_EQ(written.incarnation, 42U);
    EXPECT_EQ(written.written_unix_ms, 1'000'000);
    EXPECT_EQ(written.decision, core::to_string(why));
    EXPECT_EQ(written.evidence, std::vector<std::string>{"storage device sdb is failed"});
    const auto rec = fence::FlightRecorder::read(dir / "flight-record");
    ASSERT_TRUE(rec && *rec);
    EXPECT_EQ((*rec)->decision, core::to_string(why));

    // No fence agent: answered "not confirmed" later, not inside the call.
    const auto id = f.fence_peer(core::HostId{3});
    EXPECT_TRUE(answers.empty());
    ASSERT_EQ(later.size(), 1U);
    later[0]();
    ASSERT_EQ(answers.size(), 1U);
    EXPECT_EQ(answers[0].first, id);
    EXPECT_FALSE(answers[0].second);
}

}  // namespace
}  // namespace vigil::host
