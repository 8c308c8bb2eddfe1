// libFuzzer entry point for the domain XML parser. With clang:
//   domain_xml_fuzz -max_len=65536 fixtures/
// With GCC it is linked into domain_xml_fuzz_replay, which feeds it
// deterministic mutations of the fixtures as a unit test.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "daemon/adapters/domain_xml.h"

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer's entry point
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto parsed = vigil::adapters::parse_domain_xml(text);
    if (!parsed) {
        if (parsed.error().message.empty()) std::abort();
        return 0;
    }
    if (parsed->name.empty()) std::abort();
    if (parsed->ha) {
        if (parsed->ha->priority < 0 || parsed->ha->priority > vigil::adapters::kMaxHaPriority)
            std::abort();
        if (parsed->ha->memory_mib > vigil::adapters::kMaxMemoryMib) std::abort();
        if (parsed->name.find(' ') != std::string::npos) std::abort();
        const auto& domain = parsed->ha->storage_domain;
        if (domain.empty() || domain.size() > vigil::adapters::kMaxStorageDomainBytes ||
            domain.find(' ') != std::string::npos)
            std::abort();
    }
    return 0;
}
