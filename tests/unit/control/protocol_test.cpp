// The control protocol's requests: explain's subject is bounded and checked.
#include <gtest/gtest.h>

#include <string>

#include "daemon/adapters/control_protocol.h"

namespace vigil::adapters {
namespace {

TEST(ControlProtocol, ExplainTakesASubjectAndRoundTrips) {
    auto r = parse_control_request(R"({"command":"explain","subject":"vm-1.web"})");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->command, ControlCommand::explain);
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
    EXPECT_EQ(s->command, ControlCommand::status);
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
             {R"({"command":"status","subject":"h3"})", "explain only"},
             {R"({"command":"explain","subject":")" + longest + R"(v"})", "at most 128"},
         }) {
        auto r = parse_control_request(c.line);
        ASSERT_FALSE(r) << c.line;
        EXPECT_NE(r.error().find(c.says), std::string::npos) << c.line << ": " << r.error();
    }
    auto ok = parse_control_request(R"({"command":"explain","subject":")" + longest + R"("})");
    ASSERT_TRUE(ok) << ok.error();
    EXPECT_EQ(ok->subject.size(), kMaxSubject);
}

TEST(ControlProtocol, OversizedSubjectErrorDoesNotEchoIt) {
    const std::string huge(60 * 1024, 'x');
    auto r = parse_control_request(R"({"command":"explain","subject":")" + huge + R"("})");
    ASSERT_FALSE(r);
    EXPECT_LT(r.error().size(), 200U) << "the error names the size, not the subject";
}

}  // namespace
}  // namespace vigil::adapters
