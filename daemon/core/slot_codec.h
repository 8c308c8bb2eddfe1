#pragma once

// The on-disk form of a storage heartbeat slot (and of the cluster status message):
// line-oriented text with a checksum, so a torn or corrupt slot is refused with a
// reason instead of being believed.
//
// Formats and upgrades. A cluster is upgraded one host at a time, so for a while
// hosts of two releases read each other's records. Every record says its format on
// its first line, `vigil-slot <major>[.<minor>]` (the status; `vigil-last-words
// <major>[.<minor>]` for last words); a missing minor is 0. That line and the
// closing `crc` line are the envelope: no format ever changes them. A reader:
//   - reads every minor of every major it knows, and skips the lines and flags it
//     does not know (they belong to a newer minor);
//   - refuses a newer major as "written by a newer vigil (format N.n, this reader
//     knows up to M)", a refusal of its own kind (Refusal::kNewerFormat), so the
//     daemon counts it apart and still takes the record as a sign that the peer
//     runs (see PeerUnreadableEvidence);
//   - reads the records of every earlier release: format 1 has said
//     `vigil-slot 1` since the first one, and that is read as 1.0.
// What a change needs:
//   - same major, new minor: a new optional line or flag that a reader may ignore
//     without acting wrongly (it only adds information). Writers may add it once
//     every host runs a reader of this rule (this release or later): readers from
//     before it refuse unknown lines (they refused `declined` and `fenced` when
//     those lines came).
//   - new major: anything an older reader would misread by ignoring or by
//     reading as before: a line whose meaning or syntax changes, a line that must
//     not be ignored (safety), a removed required line, another checksum.
// The order of an upgrade: readers first, writers later. Release R+1 reads the new
// major and still writes the old one; only once every host runs R+1 or later may a
// release (R+2, or R+1 switched by configuration) write the new major. A host that
// meets a newer major anyway (a skipped release, a downgrade) refuses it, counts
// it, logs it once per peer and keeps the peer alive while it is a member; it does
// not place VMs on it or coordinate over it. tests/unit/core/slot_codec_test.cpp
// holds the synthetic next versions this rule is tested with.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "daemon/core/types.h"
#include "daemon/ports/error.h"

namespace vigil::core {

inline constexpr std::size_t kMaxSlotBytes = 4096;

// The newest major format of status records this reader knows, and what its
// writer writes: format 1.1, which adds the flags `knows-freeze` and `frozen`
// (HostStatus) to 1.0. A reader of the rule above skips both; the freeze itself
// waits until every host writes `knows-freeze` (HostEngine::freeze_check).
inline constexpr std::uint32_t kStatusFormatMajor = 1;
inline constexpr std::uint32_t kStatusFormatMinor = 1;

// Why a record was refused: a bounded set, the `reason` label of
// vigil_peer_records_refused_total.
enum class Refusal : std::uint8_t {
    kCorrupt,      // checksum missing or wrong: torn or damaged
    kMalformed,    // sealed but not a record this format allows
    kNewerFormat,  // a major format this reader does not know
    kWrongSender,  // speaks for another host than the one that wrote or sent it
};
inline constexpr Refusal kAllRefusals[] = {Refusal::kCorrupt, Refusal::kMalformed,
                                           Refusal::kNewerFormat, Refusal::kWrongSender};
[[nodiscard]] std::string_view name(Refusal r);

struct DecodeError {
    Refusal reason = Refusal::kMalformed;
    std::string message;  // for people: what was wrong, where
};

struct FormatVersion {
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
};

// The first line of a record whose envelope starts with `magic` ("vigil-slot"):
// its version when this reader knows the major (at most `known_major`); a newer
// major is Refusal::kNewerFormat, anything else kMalformed.
[[nodiscard]] std::expected<FormatVersion, DecodeError> read_format_line(std::string_view line,
                                                                         std::string_view magic,
                                                                         std::uint32_t known_major);

// The checksummed text form every heartbeat record uses: a body of lines, then
// "crc <FNV-1a of the body, 16 hex digits>\n".
[[nodiscard]] std::string seal_text(std::string body);
// The body of sealed text, or why it cannot be believed (no checksum line: torn;
// a wrong one: corrupt or torn).
[[nodiscard]] std::expected<std::string_view, Error> unseal_text(std::string_view text);
// FNV-1a of a record's bytes: tells whether a record this reader cannot read
// changed since the last look (its writer wrote again).
[[nodiscard]] std::uint64_t fingerprint(std::string_view text);

[[nodiscard]] std::string encode_status(const HostStatus& status);
[[nodiscard]] std::expected<HostStatus, DecodeError> decode_status(std::string_view text);

}  // namespace vigil::core
