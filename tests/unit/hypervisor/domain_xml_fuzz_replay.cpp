// Runs the fuzz entry point over deterministic mutations of the fixtures.
// Any crash, sanitizer report or abort fails the test.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "tests/tools/fuzz/mutate.h"

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer's entry point
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::string fixture(const std::string& name) {
    std::ifstream in(std::string(VIGIL_HYPERVISOR_FIXTURES) + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void feed(const std::string& s) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

TEST(DomainXmlFuzzReplay, MutatedFixturesNeverCrash) {
    std::mt19937 rng(20261125);
    for (const char* name : {"ha_domain.xml", "ha_policy_domain.xml", "plain_domain.xml"}) {
        const std::string base = fixture(name);
        ASSERT_FALSE(base.empty()) << name;
        feed(base);
        for (int i = 0; i < 3000; ++i) feed(vigil::testing::mutate(base, rng));
    }
    for (int i = 0; i < 2000; ++i) feed(vigil::testing::random_bytes(rng, 512));
}

}  // namespace
