// libFuzzer entry point for the heartbeat slot reader: the input lands in the
// status block of slot 0 and the last-words block of slot 1 of a two-slot
// area, as a corrupt peer or a torn write would leave it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "daemon/adapters/heartbeat_area.h"

namespace heartbeat_fuzz {

int one_input(const std::uint8_t* data, std::size_t size) {
    using namespace vigil::adapters;
    std::string area(area_bytes(2), '\0');
    const auto n = std::min(size, kSlotBlockBytes);
    std::copy_n(reinterpret_cast<const char*>(data), n, area.begin() + status_offset(0));
    std::copy_n(reinterpret_cast<const char*>(data), n, area.begin() + last_words_offset(1));
    const std::vector<vigil::core::HostId> owners{vigil::core::HostId{1}, vigil::core::HostId{2}};
    const auto view = parse_area(std::as_bytes(std::span(area.data(), area.size())), owners);

    for (const auto& s : view.slots) {
        if (s.host != owners[0]) std::abort();  // only slot 0 had content
        // Whatever is believed must survive being written again.
        const auto block = encode_status_block(s);
        if (block && block->size() != kSlotBlockBytes) std::abort();
    }
    for (const auto& w : view.last_words) {
        if (w.slot != 1 || w.words.host != owners[1]) std::abort();
        const auto again = decode_last_words(encode_last_words(w.words));
        if (!again || *again != w.words) std::abort();
    }
    for (const auto& r : view.refused) {
        if (r.reason.empty() || r.slot > 1) std::abort();
    }
    if (view.slots.size() + view.last_words.size() + view.refused.size() > 2) std::abort();
    // The text decoder alone, without the block framing.
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (const auto w = decode_last_words(text); !w && w.error().message.empty()) std::abort();
    return 0;
}

}  // namespace heartbeat_fuzz

#ifdef VIGIL_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return heartbeat_fuzz::one_input(data, size);
}
#endif
