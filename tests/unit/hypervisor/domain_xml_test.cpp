// Domain XML as libvirt hands it over: the vigil element found or not,
// refused with a reason when malformed, oversized or hostile; and libvirt's
// states and lifecycle events mapped to what the core decides on.
#include "daemon/adapters/domain_xml.h"

#include <gtest/gtest.h>
#include <libvirt/libvirt.h>

#include <fstream>
#include <sstream>

namespace vigil::adapters {
namespace {

std::string fixture(const std::string& name) {
    std::ifstream in(std::string(VIGIL_HYPERVISOR_FIXTURES) + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string with_metadata(const std::string& metadata, const std::string& name = "vm1") {
    return "<domain type='qemu'><name>" + name + "</name><memory unit='MiB'>64</memory><metadata>" +
           metadata + "</metadata></domain>";
}

std::string error_of(std::string_view xml) {
    auto r = parse_domain_xml(xml);
    EXPECT_FALSE(r.has_value()) << xml;
    return r ? std::string() : r.error().message;
}

TEST(DomainXml, FindsTheHaElementAmongOtherMetadata) {
    const std::string xml = fixture("ha_domain.xml");
    ASSERT_FALSE(xml.empty());
    auto d = parse_domain_xml(xml);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->name, "web1");
    EXPECT_EQ(d->memory_mib, 1024u);
    ASSERT_TRUE(d->ha);
    EXPECT_EQ(d->ha->priority, 10);
    EXPECT_EQ(d->ha->memory_mib, 512u);
}

TEST(DomainXml, ADomainWithoutTheElementIsNotHa) {
    auto d = parse_domain_xml(fixture("plain_domain.xml"));
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->name, "scratch");
    EXPECT_EQ(d->memory_mib, 48u);
    EXPECT_FALSE(d->ha);
    // Same local name, other namespace (or none): not ours.
    EXPECT_FALSE(parse_domain_xml(with_metadata("<x:ha xmlns:x='urn:other'/>"))->ha);
    EXPECT_FALSE(parse_domain_xml(with_metadata("<ha priority='3'/>"))->ha);
}

TEST(DomainXml, DefaultsComeFromTheDomainAndAnyPrefixWorks) {
    auto d = parse_domain_xml(with_metadata("<v:ha xmlns:v='urn:vigil:ha:1'/>"));
    ASSERT_TRUE(d) << d.error().message;
    ASSERT_TRUE(d->ha);
    EXPECT_EQ(d->ha->priority, 0);
    EXPECT_EQ(d->ha->memory_mib, 64u);
    d = parse_domain_xml(with_metadata("<ha xmlns='urn:vigil:ha:1' priority=' 1000 '/>"));
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->ha->priority, 1000);
}

TEST(DomainXml, MemoryUnitsRoundUpToWholeMebibytes) {
    auto mib = [](const std::string& memory) {
        auto d = parse_domain_xml("<domain><name>a</name>" + memory + "</domain>");
        return d ? d->memory_mib : 0;
    };
    EXPECT_EQ(mib("<memory>65536</memory>"), 64u);  // KiB by default
    EXPECT_EQ(mib("<memory unit='b'>1</memory>"), 1u);
    EXPECT_EQ(mib("<memory unit='GiB'>2</memory>"), 2048u);
    EXPECT_EQ(mib("<memory unit='MB'>1</memory>"), 1u);
    EXPECT_EQ(mib("<memory unit='parsecs'>1</memory>"), 0u);
    EXPECT_EQ(mib("<memory unit='TiB'>18446744073709551615</memory>"), 0u);
    EXPECT_EQ(mib("<memory>-1</memory>"), 0u);
}

TEST(DomainXml, CarriesTheIoErrorPolicyAndStorageDomain) {
    auto d = parse_domain_xml(fixture("ha_policy_domain.xml"));
    ASSERT_TRUE(d) << d.error().message;
    ASSERT_TRUE(d->ha);
    EXPECT_EQ(d->ha->priority, 50);
    EXPECT_EQ(d->ha->memory_mib, 256u);
    EXPECT_EQ(d->ha->io_error, core::IoErrorPolicy::kRecoverElsewhere);
    EXPECT_EQ(d->ha->storage_domain, "san-a");
    // Defaults: auto-resume on the domain "shared".
    d = parse_domain_xml(with_metadata("<ha xmlns='urn:vigil:ha:1'/>"));
    ASSERT_TRUE(d && d->ha);
    EXPECT_EQ(d->ha->io_error, core::IoErrorPolicy::kAutoResume);
    EXPECT_EQ(d->ha->storage_domain, "shared");
    d = parse_domain_xml(
        with_metadata("<ha xmlns='urn:vigil:ha:1' io_error=' leave-paused ' storage_domain='x'/>"));
    ASSERT_TRUE(d && d->ha);
    EXPECT_EQ(d->ha->io_error, core::IoErrorPolicy::kLeavePaused);
    EXPECT_EQ(d->ha->storage_domain, "x");
    EXPECT_EQ(parse_io_error_policy("auto-resume"), core::IoErrorPolicy::kAutoResume);
    EXPECT_FALSE(parse_io_error_policy("Auto-Resume"));
}

TEST(DomainXml, BadValuesAreRefusedWithTheReason) {
    const std::string ns = "xmlns:vigil='urn:vigil:ha:1'";
    EXPECT_NE(error_of(with_metadata("<vigil:ha " + ns + " priority='high'/>")).find("priority"),
              std::string::npos);
    EXPECT_NE(error_of(with_metadata("<vigil:ha " + ns + " priority='1001'/>")).find("priority"),
              std::string::npos);
    EXPECT_NE(error_of(with_metadata("<vigil:ha " + ns + " priority='-1'/>")).find("priority"),
              std::string::npos);
    EXPECT_NE(error_of(with_metadata("<vigil:ha " + ns + " memory_mib='0'/>")).find("memory_mib"),
              std::string::npos);
    EXPECT_NE(error_of(with_metadata("<vigil:ha " + ns + "/><vigil:ha " + ns + "/>"))
                  .find("more than one"),
              std::string::npos);
    EXPECT_NE(error_of(with_metadata("<vigil:hA " + ns + "/>")).find("unknown element"),
              std::string::npos);
    EXPECT_NE(error_of(with_metadata("<vigil:ha " + ns + "><x/></vigil:ha>")).find("child"),
              std::string::npos);
    for (const char* bad : {"", "resume", "auto_resume", "auto-resume,leave-paused"}) {
        EXPECT_NE(error_of(with_metadata("<vigil:ha " + ns + " io_error='" + bad + "'/>"))
                      .find("io_error"),
                  std::string::npos)
            << bad;
    }
    for (const std::string& bad :
         {std::string(), std::string("two words"), std::string("tab\there"),
          std::string("caf\xc3\xa9"), std::string(kMaxStorageDomainBytes + 1, 'd')}) {
        std::string ha = "<vigil:ha ";
        ha.append(ns).append(" storage_domain='").append(bad).append("'/>");
        EXPECT_NE(error_of(with_metadata(ha)).find("storage_domain"), std::string::npos) << bad;
    }
    EXPECT_TRUE(parse_domain_xml(with_metadata("<vigil:ha " + ns + " storage_domain='" +
                                               std::string(kMaxStorageDomainBytes, 'd') + "'/>")));
    // An HA VM's name travels in heartbeat slots: one printable word.
    EXPECT_NE(error_of(with_metadata("<vigil:ha " + ns + "/>", "two words")).find("names"),
              std::string::npos);
    EXPECT_TRUE(parse_domain_xml(with_metadata("", "two words")));  // not HA: not our business
}

TEST(DomainXml, MalformedDocumentsAreRefusedWithTheLine) {
    EXPECT_NE(error_of("<domain><name>a</name>\n<metadata></domain>").find("line 2"),
              std::string::npos);
    EXPECT_NE(error_of("").find("domain XML"), std::string::npos);
    EXPECT_NE(error_of("<vm><name>a</name></vm>").find("<domain>"), std::string::npos);
    EXPECT_NE(error_of("<domain><memory>1</memory></domain>").find("no <name>"), std::string::npos);
    EXPECT_NE(error_of("<domain><name>a</name><name>b</name></domain>").find("more than one"),
              std::string::npos);
    // The size from the literal itself: counted by hand it read past the end.
    static constexpr char kNul[] = "<domain>\0<name>a</name></domain>";
    EXPECT_FALSE(parse_domain_xml(std::string(kNul, sizeof kNul - 1)));
}

TEST(DomainXml, OversizedDocumentsAreRefusedBeforeParsing) {
    std::string big = with_metadata(std::string(kMaxDomainXmlBytes, ' '));
    EXPECT_NE(error_of(big).find("more than"), std::string::npos);
    // Deep nesting stays within libxml2's own limit.
    std::string deep = "<domain><name>a</name>";
    for (int i = 0; i < 5000; ++i) deep += "<d>";
    EXPECT_FALSE(parse_domain_xml(deep));
}

TEST(DomainXml, HostileEntitiesAreRefused) {
    const std::string laughs =
        "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'>"
        "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;'>]>"
        "<domain><name>&c;</name></domain>";
    EXPECT_NE(error_of(laughs).find("not accepted"), std::string::npos);
    const std::string external =
        "<!DOCTYPE domain SYSTEM 'http://192.0.2.1/x.dtd'><domain><name>a</name></domain>";
    EXPECT_NE(error_of(external).find("not accepted"), std::string::npos);
    const std::string file_entity =
        "<!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/shadow'>]><domain><name>&x;</name></domain>";
    EXPECT_FALSE(parse_domain_xml(file_entity));
    // An undeclared entity is a well-formedness error, not an empty string.
    EXPECT_FALSE(parse_domain_xml("<domain><name>&x;</name></domain>"));
    // UTF-16 cannot smuggle a DTD past the check: the encoding is forced.
    std::string utf16;
    for (char c : std::string("<!DOCTYPE d [<!ENTITY x 'y'>]><domain><name>&x;</name></domain>")) {
        utf16 += c;
        utf16 += '\0';
    }
    EXPECT_FALSE(parse_domain_xml("\xff\xfe" + utf16));
}

TEST(StateMapping, PausedForAnIoErrorIsToldApart) {
    using core::VmState;
    EXPECT_EQ(map_domain_state(VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_BOOTED), VmState::kRunning);
    EXPECT_EQ(map_domain_state(VIR_DOMAIN_BLOCKED, 0), VmState::kRunning);
    EXPECT_EQ(map_domain_state(VIR_DOMAIN_SHUTDOWN, VIR_DOMAIN_SHUTDOWN_USER), VmState::kRunning);
    EXPECT_EQ(map_domain_state(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_IOERROR),
              VmState::kPausedIoError);
    EXPECT_EQ(map_domain_state(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER), VmState::kPaused);
    EXPECT_EQ(map_domain_state(VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_MIGRATION), VmState::kPaused);
    EXPECT_EQ(map_domain_state(VIR_DOMAIN_PMSUSPENDED, 0), VmState::kPaused);
    EXPECT_EQ(map_domain_state(VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_SHUTOFF_DESTROYED),
              VmState::kShutOff);
    EXPECT_EQ(map_domain_state(VIR_DOMAIN_CRASHED, 0), VmState::kShutOff);
    EXPECT_EQ(map_domain_state(VIR_DOMAIN_NOSTATE, 0), std::nullopt);
    EXPECT_EQ(map_domain_state(4242, 0), std::nullopt);
}

TEST(StateMapping, LifecycleEvents) {
    using core::VmState;
    EXPECT_EQ(map_lifecycle_event(VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_IOERROR),
              VmState::kPausedIoError);
    EXPECT_EQ(map_lifecycle_event(VIR_DOMAIN_EVENT_SUSPENDED, VIR_DOMAIN_EVENT_SUSPENDED_PAUSED),
              VmState::kPaused);
    EXPECT_EQ(map_lifecycle_event(VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED),
              VmState::kRunning);
    EXPECT_EQ(map_lifecycle_event(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED),
              VmState::kRunning);
    EXPECT_EQ(map_lifecycle_event(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED),
              VmState::kShutOff);
    EXPECT_EQ(map_lifecycle_event(VIR_DOMAIN_EVENT_CRASHED, 0), VmState::kShutOff);
    // Shutting down: qemu still holds the disks until STOPPED.
    EXPECT_EQ(map_lifecycle_event(VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_GUEST),
              std::nullopt);
    EXPECT_EQ(map_lifecycle_event(VIR_DOMAIN_EVENT_DEFINED, 0), std::nullopt);
    EXPECT_EQ(map_lifecycle_event(VIR_DOMAIN_EVENT_UNDEFINED, 0), std::nullopt);
}

}  // namespace
}  // namespace vigil::adapters
