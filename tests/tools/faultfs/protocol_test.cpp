#include "tests/tools/faultfs/protocol.h"

#include <gtest/gtest.h>

namespace vigil::faultfs {
namespace {

using std::chrono::milliseconds;

Mode mode_of(std::string_view line) {
    auto request = parse_request(line);
    EXPECT_TRUE(request.has_value()) << line << ": " << request.error();
    if (!request) return {};
    const auto* set = std::get_if<SetMode>(&*request);
    EXPECT_NE(set, nullptr) << line;
    return set == nullptr ? Mode{} : set->mode;
}

TEST(FaultfsProtocol, ParsesEveryMode) {
    EXPECT_EQ(mode_of("ok"), (Mode{FaultKind::kOk, Scope::kAll, milliseconds(0)}));
    EXPECT_EQ(mode_of("eio"), (Mode{FaultKind::kEio, Scope::kAll, milliseconds(0)}));
    EXPECT_EQ(mode_of("eio read"), (Mode{FaultKind::kEio, Scope::kRead, milliseconds(0)}));
    EXPECT_EQ(mode_of("eio write"), (Mode{FaultKind::kEio, Scope::kWrite, milliseconds(0)}));
    EXPECT_EQ(mode_of("enospc"), (Mode{FaultKind::kEnospc, Scope::kWrite, milliseconds(0)}));
    EXPECT_EQ(mode_of("enospc write"), (Mode{FaultKind::kEnospc, Scope::kWrite, milliseconds(0)}));
    EXPECT_EQ(mode_of("stall"), (Mode{FaultKind::kStall, Scope::kAll, milliseconds(0)}));
    EXPECT_EQ(mode_of("stall write"), (Mode{FaultKind::kStall, Scope::kWrite, milliseconds(0)}));
    EXPECT_EQ(mode_of("slow 100"), (Mode{FaultKind::kSlow, Scope::kAll, milliseconds(100)}));
    EXPECT_EQ(mode_of("  slow\t250 read \r\n"),
              (Mode{FaultKind::kSlow, Scope::kRead, milliseconds(250)}));
}

TEST(FaultfsProtocol, AFaultCanBeScopedToOneFile) {
    Mode full = mode_of("enospc file run-vm1.img");
    EXPECT_EQ(full.kind, FaultKind::kEnospc);
    EXPECT_EQ(full.scope, Scope::kWrite);
    EXPECT_EQ(full.file, "run-vm1.img");
    EXPECT_EQ(mode_of("eio read file a/b.img").file, "a/b.img");
    EXPECT_EQ(mode_of("slow 5 write file x").delay, milliseconds(5));
    EXPECT_EQ(format_mode(full), "enospc file run-vm1.img");
    EXPECT_EQ(mode_of(format_mode(mode_of("stall read file x"))), mode_of("stall read file x"));
    EXPECT_EQ(action_for(full, Op::kWrite, "run-vm1.img"), Action::kFailEnospc);
    EXPECT_EQ(action_for(full, Op::kWrite, "run-heartbeat.img"), Action::kPass);
    EXPECT_EQ(action_for(mode_of("eio"), Op::kWrite, "any"), Action::kFailEio);
    for (const char* bad : {"ok file x", "eio file", "eio file /abs", "eio file ../up", "eio x y"})
        EXPECT_FALSE(parse_request(bad).has_value()) << bad;
    Status st;
    st.mode = full;
    auto back = parse_status(format_status(st));
    ASSERT_TRUE(back.has_value()) << back.error();
    EXPECT_EQ(back->mode, full);
}

TEST(FaultfsProtocol, StatusIsARequestOfItsOwn) {
    auto request = parse_request("status\n");
    ASSERT_TRUE(request.has_value());
    EXPECT_TRUE(std::holds_alternative<QueryStatus>(*request));
    EXPECT_FALSE(parse_request("status read").has_value());
}

TEST(FaultfsProtocol, RefusesMalformedRequestsWithAReason) {
    for (const char* bad :
         {"", "   ", "EIO", "eio both", "eio read write", "ok read", "enospc read", "slow",
          "slow -5", "slow 0", "slow 1e3", "slow 100ms", "slow 86400001",
          "slow 99999999999999999999", "stall forever", "reboot"}) {
        auto request = parse_request(bad);
        EXPECT_FALSE(request.has_value()) << "'" << bad << "' was accepted";
        if (!request) {
            EXPECT_FALSE(request.error().empty()) << bad;
        }
    }
}

TEST(FaultfsProtocol, FormatIsTheInverseOfParse) {
    for (const Mode& mode : {Mode{}, Mode{FaultKind::kEio, Scope::kRead, milliseconds(0)},
                             Mode{FaultKind::kEnospc, Scope::kWrite, milliseconds(0)},
                             Mode{FaultKind::kStall, Scope::kAll, milliseconds(0)},
                             Mode{FaultKind::kSlow, Scope::kWrite, milliseconds(7)}}) {
        const std::string text = format_mode(mode);
        EXPECT_EQ(mode_of(text), mode) << text;
    }
    EXPECT_EQ(format_mode(mode_of("slow 100 read")), "slow 100 read");
    EXPECT_EQ(format_mode(mode_of("enospc")), "enospc");
}

TEST(FaultfsProtocol, ActionFollowsKindAndScope) {
    const Mode eio_read{FaultKind::kEio, Scope::kRead, milliseconds(0)};
    EXPECT_EQ(action_for(eio_read, Op::kRead), Action::kFailEio);
    EXPECT_EQ(action_for(eio_read, Op::kWrite), Action::kPass);
    const Mode enospc{FaultKind::kEnospc, Scope::kWrite, milliseconds(0)};
    EXPECT_EQ(action_for(enospc, Op::kWrite), Action::kFailEnospc);
    EXPECT_EQ(action_for(enospc, Op::kRead), Action::kPass);
    // Even a hand-built enospc for all operations leaves reads working.
    EXPECT_EQ(action_for(Mode{FaultKind::kEnospc, Scope::kAll, milliseconds(0)}, Op::kRead),
              Action::kPass);
    const Mode stall_write{FaultKind::kStall, Scope::kWrite, milliseconds(0)};
    EXPECT_EQ(action_for(stall_write, Op::kWrite), Action::kStall);
    EXPECT_EQ(action_for(stall_write, Op::kRead), Action::kPass);
    EXPECT_EQ(action_for(Mode{FaultKind::kSlow, Scope::kAll, milliseconds(5)}, Op::kRead),
              Action::kDelay);
    EXPECT_EQ(action_for(Mode{}, Op::kWrite), Action::kPass);
}

TEST(FaultfsProtocol, StatusRoundTrips) {
    const Status status{Mode{FaultKind::kSlow, Scope::kRead, milliseconds(100)}, 12, 3, 4, 1};
    const std::string line = format_status(status);
    auto parsed = parse_status(line + "\n");
    ASSERT_TRUE(parsed.has_value()) << parsed.error();
    EXPECT_EQ(*parsed, status);
}

TEST(FaultfsProtocol, RepliesCarryTheServersReason) {
    EXPECT_TRUE(parse_reply("OK\n").has_value());
    auto err = parse_reply(format_error("unknown mode 'x'\nsecond line") + "\n");
    ASSERT_FALSE(err.has_value());
    EXPECT_EQ(err.error(), "unknown mode 'x' second line");
    EXPECT_FALSE(parse_reply("HELLO").has_value());
    EXPECT_FALSE(parse_status("OK").has_value());
    EXPECT_FALSE(parse_status("OK reads=1 writes=2 mode=ok").has_value());
    EXPECT_FALSE(parse_status("OK reads=x writes=2 injected=0 stalled=0 mode=ok").has_value());
    EXPECT_FALSE(parse_status("ERR no").has_value());
}

}  // namespace
}  // namespace vigil::faultfs
