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

#include "daemon/core/types.h"
#include "daemon/ports/error.h"

namespace vigil::adapters {

// The namespace of the vigil element; the trailing number is the format's
// version, bumped only for an incompatible change.
inline constexpr std::string_view kHaNamespace = "urn:vigil:ha:1";
inline constexpr std::string_view kHaElement = "ha";  // local name
// libvirt writes domain XML of a few KiB; anything near this is not a domain.
inline constexpr std::size_t kMaxDomainXmlBytes = 256 * 1024;
inline constexpr int kMaxHaPriority = 1000;
inline constexpr std::uint64_t kMaxMemoryMib = std::uint64_t{1} << 24;  // 16 TiB

struct HaMetadata {
    int priority = 0;  // higher restarts first
    // What a host must have free to take the VM; the domain's <memory> when
    // the element does not say.
    std::uint64_t memory_mib = 0;
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

[[nodiscard]] constexpr const char* to_string(core::VmState state) {
    switch (state) {
        case core::VmState::kRunning:
            return "running";
        case core::VmState::kPausedIoError:
            return "paused_io_error";
        case core::VmState::kPaused:
            return "paused";
        case core::VmState::kShutOff:
            return "shut_off";
    }
    return "unknown";
}

}  // namespace vigil::adapters
