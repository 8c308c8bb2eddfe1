#pragma once

// The on-disk form of a storage heartbeat slot (and of the cluster status message):
// line-oriented text with a checksum, so a torn or corrupt slot is refused with a
// reason instead of being believed.

#include <expected>
#include <string>
#include <string_view>

#include "daemon/core/types.h"

namespace vigil::core {

inline constexpr std::size_t kMaxSlotBytes = 4096;

// The checksummed text form every heartbeat record uses: a body of lines, then
// "crc <FNV-1a of the body, 16 hex digits>\n".
[[nodiscard]] std::string seal_text(std::string body);
// The body of sealed text, or why it cannot be believed (no checksum line: torn;
// a wrong one: corrupt or torn).
[[nodiscard]] std::expected<std::string_view, std::string> unseal_text(std::string_view text);

[[nodiscard]] std::string encode_status(const HostStatus& status);
[[nodiscard]] std::expected<HostStatus, std::string> decode_status(std::string_view text);

}  // namespace vigil::core
