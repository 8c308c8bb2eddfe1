// libFuzzer entry point for the mountstats parser. With clang:
//   mountstats_fuzz -max_len=65536 fixtures/
// With GCC it is linked into mountstats_fuzz_replay, which feeds it
// deterministic mutations of the fixtures as a unit test.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "daemon/adapters/mountstats.h"

// NOLINTNEXTLINE(readability-identifier-naming): libFuzzer's entry point
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto parsed = vigil::adapters::parse_mountstats(text);
    if (!parsed) {
        // An error must say where: an empty message helps nobody.
        if (parsed.error().message.empty()) std::abort();
        return 0;
    }
    for (const auto& mount : *parsed) {
        if (mount.fstype != "nfs" && mount.fstype != "nfs4") std::abort();
        for (const auto& op : mount.ops) {
            if (op.name.empty() || op.retransmissions() > op.transmissions) std::abort();
        }
    }
    return 0;
}
