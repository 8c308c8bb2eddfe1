// What vigil reads from libvirt about a domain: its name, its memory, and
// whether it is an HA VM (the vigil element in the domain's <metadata>, see
// docs/vm-metadata.md), plus the mapping of libvirt states to core::VmState.
// Domain XML is outside input: it is parsed with libxml2 under a size cap,
// without network access, DTD loading or entity substitution; anything
// malformed is an error with a reason, never a crash (fuzzed:
// tests/unit/hypervisor/domain_xml_fuzz*). Pure: no libvirt calls here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/core/policy.h"
#include "daemon/core/types.h"
#include "daemon/ports/error.h"

namespace vigil::adapters {

// The namespace of the vigil element; the trailing number is the format's
// version, bumped only for an incompatible change.
inline constexpr std::string_view kHaNamespace = "urn:vigil:ha:1";
inline constexpr std::string_view kHaElement = "ha";  // local name
// libvirt writes domain XML of a few KiB; anything near this is not a domain.
inline constexpr std::size_t kMaxDomainXmlBytes = std::size_t{256} * 1024;
inline constexpr int kMaxHaPriority = 1000;
inline constexpr std::uint64_t kMaxMemoryMib = std::uint64_t{1} << 24;  // 16 TiB
// A storage domain's name (`[storage.domains.<name>]`) travels with the VM's
// policy: one printable word, like a VM name, and short.
inline constexpr std::size_t kMaxStorageDomainBytes = 64;
inline constexpr std::string_view kDefaultStorageDomain = "shared";

struct HaMetadata {
    int priority = 0;  // higher restarts first
    // What a host must have free to take the VM; the domain's <memory> when
    // the element does not say.
    std::uint64_t memory_mib = 0;
    // What to do when the VM pauses on an I/O error (SPEC F5, F6, F10).
    core::IoErrorPolicy io_error = core::IoErrorPolicy::kAutoResume;
    // The storage domain its disks live on, by its `[storage.domains.<name>]`.
    std::string storage_domain = std::string(kDefaultStorageDomain);
    bool operator==(const HaMetadata&) const = default;
};

struct DomainDescription {
    std::string name;
    std::uint64_t memory_mib = 0;  // <memory>, rounded up to whole MiB
    std::optional<HaMetadata> ha;  // nullopt: not an HA VM, vigil leaves it alone
};

// A whole domain XML document, as virDomainGetXMLDesc returns it.
[[nodiscard]] std::expected<DomainDescription, Error> parse_domain_xml(std::string_view xml);

// libvirt's virDomainState and its reason (virDomainPausedReason ...) as the
// core sees them. nullopt for VIR_DOMAIN_NOSTATE and unknown values: no
// evidence is better than wrong evidence.
[[nodiscard]] std::optional<core::VmState> map_domain_state(int state, int reason);
// A lifecycle event (virDomainEventType and its detail). nullopt for events
// that do not change what the core needs (defined, undefined, a guest that
// is only shutting down: its qemu still holds the disks).
[[nodiscard]] std::optional<core::VmState> map_lifecycle_event(int event, int detail);

// `io_error` as the metadata spells it: auto-resume, leave-paused,
// recover-elsewhere; nullopt for anything else.
[[nodiscard]] std::optional<core::IoErrorPolicy> parse_io_error_policy(std::string_view text);

}  // namespace vigil::adapters
