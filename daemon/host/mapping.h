// The pure parts of the real ports: how adapter results become core evidence,
// how the core's reasons become the watchdog's, which host owns which slot,
// the incarnation rule and the watchdog reopen rule. No I/O: tested alone
// (tests/unit/host).
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/adapters/hypervisor.h"
#include "daemon/config/config.h"
#include "daemon/core/decision.h"
#include "daemon/core/engine.h"
#include "daemon/core/evidence.h"
#include "daemon/ports/error.h"
#include "exporters/metrics.h"
#include "fence/watchdog.h"

namespace vigil::host {

// An action's result as the core counts it. kAlreadyDone is done (a start of a
// running VM leaves it running here); kNotFound is a failure whose detail says
// so (the domain is not defined on this host).
[[nodiscard]] core::ActionEvidence to_action_evidence(const adapters::ActionResult& result);
[[nodiscard]] core::VmAction to_core(adapters::VmAction action);

// Why the driver did not pet, as the watchdog counts it: a self-fence (the
// core wants this host dead) or not-safe (it cannot vouch that running on is
// safe: no quorum and no fresh slot write, no VM listing yet, ...).
[[nodiscard]] fence::WithholdReason withhold_reason(core::Reason why);

// The storage heartbeat's owners, in slot order, and our own slot.
struct SlotOwners {
    std::vector<core::HostId> owners;  // owners[i] owns slot i
    std::uint32_t own_slot = 0;
};
// From `[[cluster.hosts]]`: every slot from 0 to the highest one must have one
// owner, and `self` must be one of them. The error names the host or slot.
[[nodiscard]] std::expected<SlotOwners, Error> slot_owners(
    const std::vector<config::ClusterHost>& hosts, core::HostId self);

// The HA VMs the hypervisor lists now: those with a qemu process here
// (a known state other than shut off), and the policy from their metadata.
[[nodiscard]] core::VmInventoryEvidence vm_inventory(
    const std::map<std::string, adapters::HaVm>& vms);
[[nodiscard]] core::VmPolicyEvidence vm_policies(const std::map<std::string, adapters::HaVm>& vms);

// A VM paused for an I/O error, from its IO_ERROR_REASON event.
[[nodiscard]] core::VmEvidence io_error_evidence(const adapters::IoErrorEvent& event);

// The incarnation of a daemon run: strictly greater than the previous run's on
// this host, and (from the wall clock in microseconds) greater than any run
// before the counter file was lost, unless the clock went back by more than
// the time between the runs.
[[nodiscard]] std::uint64_t next_incarnation(std::optional<std::uint64_t> previous,
                                             std::chrono::system_clock::time_point wall);

// What the pet file in /run/vigil says about the previous run's watchdog:
// armed, and when it was last petted (CLOCK_BOOTTIME, which counts suspend).
struct PetRecord {
    std::chrono::nanoseconds last_pet_boottime{};
};
[[nodiscard]] std::string format_pet_record(const PetRecord& record);
[[nodiscard]] std::expected<PetRecord, Error> parse_pet_record(std::string_view text);

// When this start may open the watchdog, which pets it. Peers count a silent
// host dead fence_delay after its last sign of life, knowing its watchdog
// fired at most watchdog_timeout after the last pet; so a pet is only ever
// made on proof that peers heard this host recently (the core's pet rule).
// Opening at start is such a pet only when nothing is armed: no record (the
// first start since boot, or after a clean disarm) or one from an earlier
// boot (CLOCK_BOOTTIME started again; that watchdog is gone). A record from
// this boot (or a damaged one) means an earlier vigild left the watchdog
// armed: its last pet rested on its own proof, which peers may be counting
// past by now, and opening on the strength of it could keep this host alive
// past the moment they restart its VMs. Then the device is opened at the
// first pet the core allows this run, on its own proof, like any later pet;
// until then the earlier run's timer runs on, and fires if that proof comes
// too late.
enum class OpenWhen : std::uint8_t { kAtStart, kAtFirstAllowedPet };
struct ReopenVerdict {
    OpenWhen when = OpenWhen::kAtStart;
    std::string why;  // for the log, with the numbers
};
[[nodiscard]] ReopenVerdict reopen_verdict(const std::optional<PetRecord>& record,
                                           std::chrono::nanoseconds now_boottime,
                                           std::chrono::nanoseconds watchdog_timeout);

// What /metrics serves of the cluster, from the engine's snapshot: every
// configured peer (named as configured, else "h<nodeid>") with its class and
// the age of its last sign of life (a status message or a slot advance; one
// never heard from counts from `started`), every HA VM the core knows with
// the state of its qemu here, the active alerts of every kind (0 included).
struct ClusterView {
    const core::EngineSnapshot& engine;
    std::size_t members = 0;                            // hosts in the last membership view
    const std::map<std::uint32_t, std::string>& names;  // configured names by nodeid
    core::TimePoint now;
    core::TimePoint started;
};
[[nodiscard]] exporters::ClusterMetrics cluster_metrics(const ClusterView& view);

// The watchdog's status as the exporters serve it.
[[nodiscard]] exporters::WatchdogMetrics watchdog_metrics(const fence::WatchdogStatus& status);

}  // namespace vigil::host
