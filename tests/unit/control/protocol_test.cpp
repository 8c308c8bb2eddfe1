// The control protocol's requests: explain's subject is bounded and checked.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "daemon/adapters/control_protocol.h"

namespace vigil::adapters {
namespace {

TEST(ControlProtocol, ExplainTakesASubjectAndRoundTrips) {
    auto r = parse_control_request(R"({"command":"explain","subject":"vm-1.web"})");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->command, ControlCommand::kExplain);
    EXPECT_EQ(r->subject, "vm-1.web");
    auto again = parse_control_request(format_control_request(*r));
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(*again, *r);
}

TEST(ControlProtocol, NoSubjectMeansEverything) {
    auto r = parse_control_request(R"({"command":"explain"})");
    ASSERT_TRUE(r) << r.error();
    EXPECT_TRUE(r->subject.empty());
    EXPECT_EQ(format_control_request(*r), R"({"command":"explain"})");
    auto s = parse_control_request(R"({"command":"status"})");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->command, ControlCommand::kStatus);
}

TEST(ControlProtocol, AdminAndEventsRequestsRoundTrip) {
    for (const auto& line : std::vector<std::string>{
             R"({"action":"maintenance-on","command":"admin","for_ms":3000})",
             R"({"action":"maintenance-on","command":"admin"})",
             R"({"action":"maintenance-off","command":"admin"})",
             R"({"action":"cordon","command":"admin"})",
             R"({"action":"uncordon","command":"admin"})", R"({"command":"events"})",
             R"({"command":"events","follow":true})"}) {
        auto r = parse_control_request(line);
        ASSERT_TRUE(r) << line << ": " << r.error();
        EXPECT_EQ(format_control_request(*r), line);
    }
    auto r =
        parse_control_request(R"({"command":"admin","action":"maintenance-on","for_ms":3000})");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->command, ControlCommand::kAdmin);
    EXPECT_EQ(r->action, AdminAction::kMaintenanceOn);
    EXPECT_EQ(r->for_duration, std::chrono::milliseconds(3000));
    auto f = parse_control_request(R"({"command":"events","follow":true})");
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->follow);
}

TEST(ControlProtocol, BadAdminAndEventsRequestsAreRefusedWithWhy) {
    struct Case {
        std::string line;
        std::string says;
    };
    for (const auto& c : std::vector<Case>{
             {R"({"command":"admin"})", "needs a string \"action\""},
             {R"({"command":"admin","action":7})", "needs a string \"action\""},
             {R"({"command":"admin","action":"reboot"})", "unknown admin action \"reboot\""},
             {R"({"command":"admin","action":"cordon","for_ms":1000})", "maintenance-on only"},
             {R"({"command":"admin","action":"maintenance-on","for_ms":"2h"})", "whole number"},
             {R"({"command":"admin","action":"maintenance-on","for_ms":1.5})", "whole number"},
             {R"({"command":"admin","action":"maintenance-on","for_ms":999})", "between 1000"},
             {R"({"command":"admin","action":"maintenance-on","for_ms":-5})", "between 1000"},
             {R"({"command":"admin","action":"maintenance-on","for_ms":18446744073709551615})",
              "between 1000"},
             {R"({"command":"admin","action":"maintenance-on","for":1000})", "not a key of admin"},
             {R"({"command":"events","follow":"yes"})", "true or false"},
             {R"({"command":"events","subject":"vm1"})", "not a key of events"}}) {
        auto r = parse_control_request(c.line);
        ASSERT_FALSE(r) << c.line;
        EXPECT_NE(r.error().message.find(c.says), std::string::npos)
            << c.line << ": " << r.error().message;
    }
}

TEST(ControlProtocol, BadSubjectsAreRefusedWithWhy) {
    struct Case {
        std::string line;
        std::string says;
    };
    const std::string longest(kMaxSubject, 'v');
    for (const auto& c : std::vector<Case>{
             {R"({"command":"explain","subject":""})", "empty"},
             {R"({"command":"explain","subject":7})", "must be a string"},
             {R"({"command":"explain","subject":["h3"]})", "must be a string"},
             {R"({"command":"explain","subject":"h\u00013"})", "control character"},
             {R"({"command":"explain","subject":"h3\n"})", "control character"},
             {R"({"command":"status","subject":"h3"})", "not a key of status"},
             {R"({"command":"explain","subject":")" + longest + R"(v"})", "at most 128"},
         }) {
        auto r = parse_control_request(c.line);
        ASSERT_FALSE(r) << c.line;
        EXPECT_NE(r.error().message.find(c.says), std::string::npos)
            << c.line << ": " << r.error().message;
    }
    auto ok = parse_control_request(R"({"command":"explain","subject":")" + longest + R"("})");
    ASSERT_TRUE(ok) << ok.error();
    EXPECT_EQ(ok->subject.size(), kMaxSubject);
}

TEST(ControlProtocol, OversizedSubjectErrorDoesNotEchoIt) {
    const std::string huge(std::size_t{60} * 1024, 'x');
    auto r = parse_control_request(R"({"command":"explain","subject":")" + huge + R"("})");
    ASSERT_FALSE(r);
    EXPECT_LT(r.error().message.size(), 200U) << "the error names the size, not the subject";
}

}  // namespace
}  // namespace vigil::adapters
