// libFuzzer entry point for delivered cluster messages: the first four bytes
// are the sender's nodeid as corosync reports it, the rest the payload.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "daemon/adapters/cluster.h"
#include "daemon/core/slot_codec.h"

namespace cluster_fuzz {

int one_input(const std::uint8_t* data, std::size_t size) {
    std::uint32_t nodeid = 0;
    if (size >= sizeof nodeid) {
        std::memcpy(&nodeid, data, sizeof nodeid);
        data += sizeof nodeid;
        size -= sizeof nodeid;
    }
    const std::string_view payload(reinterpret_cast<const char*>(data), size);
    const auto m = vigil::adapters::validate_peer_message(nodeid, payload);
    if (!m) {
        if (m.error().message.empty()) std::abort();
        return 0;
    }
    // Whatever is accepted speaks for its sender and survives a round trip.
    if (m->status.host.value != nodeid) std::abort();
    const auto again = vigil::core::decode_status(vigil::core::encode_status(m->status));
    if (!again || *again != m->status) std::abort();
    return 0;
}

}  // namespace cluster_fuzz

#ifdef VIGIL_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return cluster_fuzz::one_input(data, size);
}
#endif
