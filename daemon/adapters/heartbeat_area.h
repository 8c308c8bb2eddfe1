// The on-disk layout of the storage heartbeat area and its pure parsers: no
// I/O here, so every rule is unit-tested and fuzzed (tests/unit/heartbeat*).
//
// The area is a file or block device on storage every host sees. Slot i (one
// per host) starts at i * kSlotStride and holds two 4096-byte blocks:
//   +0     status block: core::encode_status() of the owner's HostStatus, then
//          zero padding. Written every heartbeat interval by its owner only.
//   +4096  last-words block: encode_last_words() of the record the owner wrote
//          just before a deliberate self-fence, then zero padding; all zero
//          until the first fence.
// Blocks are 4096-aligned so O_DIRECT works on every logical block size up to
// 4096 and a torn write can only mix whole sectors, which the checksums catch.
// An all-zero block was never written: not an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/core/evidence.h"
#include "daemon/core/slot_codec.h"
#include "daemon/core/types.h"
#include "daemon/ports/error.h"

namespace vigil::adapters {

inline constexpr std::size_t kSlotBlockBytes = core::kMaxSlotBytes;
inline constexpr std::size_t kSlotStride = 2 * kSlotBlockBytes;
// Bounds the area a reader allocates from a configuration value.
inline constexpr std::uint32_t kMaxHeartbeatSlots = 256;
static_assert(kSlotBlockBytes == 4096);

[[nodiscard]] constexpr std::uint64_t status_offset(std::uint32_t slot) {
    return std::uint64_t{slot} * kSlotStride;
}
[[nodiscard]] constexpr std::uint64_t last_words_offset(std::uint32_t slot) {
    return std::uint64_t{slot} * kSlotStride + kSlotBlockBytes;
}
[[nodiscard]] constexpr std::uint64_t area_bytes(std::uint32_t slots) {
    return std::uint64_t{slots} * kSlotStride;
}

// A host's record of why it fenced itself, so peers (and the host after its
// reset) can read the reason from shared storage even if its local disk is
// gone. The daemon fills it from the flight recorder's record (fence/ may
// not include daemon/, so the conversion lives in the wiring).
struct LastWords {
    core::HostId host;
    std::uint64_t incarnation = 0;
    std::int64_t written_unix_ms = 0;  // wall clock, for people only
    std::string decision;
    std::vector<std::string> evidence;  // oldest first
    bool operator==(const LastWords&) const = default;
};

// Longest decision and evidence line kept (before escaping, which may grow a
// byte to four); longer ones are cut. With these
// bounds the decision alone always fits a block; evidence is dropped oldest
// first until the record fits.
inline constexpr std::size_t kMaxLastWordsDecision = 768;
inline constexpr std::size_t kMaxLastWordsEvidence = 512;

// Exactly kSlotBlockBytes: the status text, zero padded. Error when the
// status does not fit (too many VMs or assignments for one slot).
[[nodiscard]] std::expected<std::string, Error> encode_status_block(const core::HostStatus& status);
// Exactly kSlotBlockBytes, always: cuts and drops evidence to fit.
[[nodiscard]] std::string encode_last_words_block(const LastWords& words);

// The text of a block: up to its first NUL. Bytes after it are ignored: a
// shorter status written over a longer one may leave the old tail in sectors a
// torn write did not reach, and the checksummed text before the NUL is whole.
[[nodiscard]] std::string_view block_text(std::span<const std::byte> block);

[[nodiscard]] std::string encode_last_words(const LastWords& words);
// Last words follow the format rule of slot_codec.h (`vigil-last-words 1`).
[[nodiscard]] std::expected<LastWords, core::DecodeError> decode_last_words(std::string_view text);

// One status block of slot `slot`, whose owner is `owner`: nullopt when never
// written; an error (with the reason) when corrupt, torn, of a newer format, or
// written by another host.
[[nodiscard]] std::expected<std::optional<core::HostStatus>, core::DecodeError> read_status_block(
    std::span<const std::byte> block, std::uint32_t slot, core::HostId owner);
[[nodiscard]] std::expected<std::optional<LastWords>, core::DecodeError> read_last_words_block(
    std::span<const std::byte> block, std::uint32_t slot, core::HostId owner);

struct RefusedSlot {
    std::uint32_t slot = 0;
    std::string reason;  // names the slot and what was wrong
    core::Refusal kind = core::Refusal::kMalformed;
    bool last_words = false;  // the last-words block, not the status block
};

struct SlotLastWords {
    std::uint32_t slot = 0;
    LastWords words;
};

struct AreaView {
    std::vector<core::HostStatus> slots;  // valid, written status blocks, by slot
    std::vector<SlotLastWords> last_words;
    // Each refused block once; the daemon counts them as
    // vigil_bad_input_total{source="heartbeat_slot"}.
    std::vector<RefusedSlot> refused;
    // Status blocks refused as a newer format, by owner: signs of life only.
    std::vector<core::UnreadableSlot> unreadable;
};

// `owners[i]` owns slot i (HostId 0: slot unassigned, any content in it is
// refused). `area` may be shorter than owners.size() slots: the missing slots
// are refused as beyond the end of the area.
[[nodiscard]] AreaView parse_area(std::span<const std::byte> area,
                                  std::span<const core::HostId> owners);

}  // namespace vigil::adapters
