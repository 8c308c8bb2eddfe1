// libFuzzer entry point for the configuration parser. With clang:
//   config_fuzz packaging/
// With GCC it is linked into fuzz_replay_test, which feeds it deterministic
// mutations of the annotated example.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "daemon/config/config.h"

namespace config_fuzz {

int one_input(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto parsed = vigil::config::parse(text, "fuzz.toml");
    if (!parsed) {
        // A refusal must say why, and name this file.
        if (parsed.error().message.empty() || parsed.error().file != "fuzz.toml") std::abort();
        return 0;
    }
    // Whatever was accepted respects the documented ranges.
    if (parsed->probe_poll_interval.count() < 50 || parsed->probe_poll_interval.count() > 5000) {
        std::abort();
    }
    if (parsed->storage_stall <= parsed->storage_slow) std::abort();
    if (parsed->metrics_listen.port == 0 || parsed->control_socket.empty() ||
        parsed->control_socket.front() != '/') {
        std::abort();
    }
    // Cluster mode: hosts with slots 0 to n-1, an area, a valid evidence map.
    if (!parsed->standalone && (parsed->cluster_hosts.empty() || parsed->heartbeat_area.empty() ||
                                parsed->heartbeat_area.front() != '/')) {
        std::abort();
    }
    std::vector<bool> slot_taken(parsed->cluster_hosts.size(), false);
    for (const auto& h : parsed->cluster_hosts) {
        if (h.nodeid == 0 || h.memory_mib == 0 || h.slot >= slot_taken.size() ||
            slot_taken[h.slot]) {
            std::abort();
        }
        slot_taken[h.slot] = true;
    }
    if (!vigil::core::EvidenceMap::make(parsed->evidence_map)) std::abort();
    if (!(parsed->storm_guard_share > 0.0 && parsed->storm_guard_share <= 1.0)) std::abort();
    return 0;
}

}  // namespace config_fuzz

#ifdef VIGIL_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return config_fuzz::one_input(data, size);
}
#endif
