// The local libvirt, as vigild's loop meets it: which domains are HA VMs and
// in what state (as core::VmEvidence), I/O error reasons, and the actions the
// core asks for (start, resume, stop), each with a timeout and one result.
//
// Nothing here blocks the caller's loop. libvirt runs on two threads of its
// own: the process-wide libvirt event thread (virEventRunDefaultImpl, which
// delivers domain events and keepalives) and one worker per instance that
// makes the calls that can hang (a wedged libvirtd blocks any RPC). Both only
// post messages; fd() becomes readable when one is waiting and dispatch(),
// on the loop thread, drains them and calls the sink. Why a thread and not
// virEventRegisterImpl on sd-event: libvirt's hooks would then run on the
// loop thread, and its synchronous calls (virDomainCreate waits for qemu)
// would still need a thread; one event implementation per process also
// means vigild's loop would be libvirt's for good.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/adapters/domain_xml.h"
#include "daemon/core/evidence.h"
#include "daemon/ports/error.h"

namespace vigil::adapters {

struct HypervisorConfig {
    std::string uri = "qemu:///system";
    std::chrono::milliseconds start_timeout{30'000};
    std::chrono::milliseconds resume_timeout{10'000};
    // Graceful shutdown this long, then destroy (fence::VmStopJob).
    std::chrono::milliseconds stop_grace{20'000};
    std::chrono::milliseconds stop_timeout{30'000};
    // A live migration still going after this is aborted (virDomainAbortJob).
    std::chrono::milliseconds migrate_timeout{300'000};
    // libvirt keepalive: a libvirtd silent for interval * (count + 1) is
    // taken for dead, which also ends any call the worker waits in.
    int keepalive_interval_s = 2;
    unsigned keepalive_count = 3;
};

enum class VmAction : std::uint8_t { kStart, kResume, kStop, kMigrate };

enum class ActionOutcome : std::uint8_t {
    kDone,
    kAlreadyDone,      // start of a running VM, resume of a running one, stop of a stopped one
    kLockedElsewhere,  // the lock manager refused the start: its disks are leased elsewhere
    kNotFound,         // no such domain defined here
    kTimedOut,         // no answer within the action's timeout (the call may still finish)
    kFailed,
};

[[nodiscard]] constexpr std::string_view name(VmAction action) {
    switch (action) {
        case VmAction::kStart:
            return "start";
        case VmAction::kResume:
            return "resume";
        case VmAction::kStop:
            return "stop";
        case VmAction::kMigrate:
            return "migrate";
    }
    return "unknown";
}

[[nodiscard]] constexpr std::string_view name(ActionOutcome outcome) {
    switch (outcome) {
        case ActionOutcome::kDone:
            return "done";
        case ActionOutcome::kAlreadyDone:
            return "already_done";
        case ActionOutcome::kLockedElsewhere:
            return "locked_elsewhere";
        case ActionOutcome::kNotFound:
            return "not_found";
        case ActionOutcome::kTimedOut:
            return "timed_out";
        case ActionOutcome::kFailed:
            return "failed";
    }
    return "unknown";
}

using ActionId = std::uint64_t;

// A live migration to another host's libvirtd, peer to peer (the source's
// libvirtd connects to the destination itself), live, the definition made
// persistent there. The source's definition stays: an HA VM is defined on
// every host, which any of them may be asked to start later; undefining it
// here (VIR_MIGRATE_UNDEFINE_SOURCE) would make this host decline it. An I/O
// error during the migration aborts it (VIR_MIGRATE_ABORT_ON_ERROR): the
// guest stays here, paused as the I/O-error policy expects.
inline constexpr unsigned kMigrateFlags =
    1U /* VIR_MIGRATE_LIVE */ | 2U /* VIR_MIGRATE_PEER2PEER */ | 8U /* VIR_MIGRATE_PERSIST_DEST */ |
    4096U /* VIR_MIGRATE_ABORT_ON_ERROR */;

// What a migration's end means to the core, from what the adapter saw: the
// call's result, whether the time limit aborted it, and then whether the
// domain is active here (1 yes, 0 no, -1 could not tell). The promise is the
// port's: done means it runs there and nothing of it here; failed or timed
// out means it did not move. A failed call with the domain not (known to be)
// active here is reported done: it may have moved with the answer lost, so
// the core keeps it claimed until the target's status settles where it is,
// rather than let it be started a second time.
[[nodiscard]] ActionOutcome migration_outcome(bool call_ok, bool aborted, int active_here);

struct ActionResult {
    ActionId id = 0;
    VmAction action = VmAction::kStart;
    std::string vm;
    ActionOutcome outcome = ActionOutcome::kFailed;
    std::string detail;  // libvirt's message, for anything but kDone
    std::chrono::milliseconds took{};
};

// VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON: tells ENOSPC (F10) from a dead path.
struct IoErrorEvent {
    std::string vm;
    std::string device;  // the disk's alias, e.g. "virtio-disk0"
    std::string path;    // its source
    std::string reason;  // "enospc", "eio", ...
};

struct HaVm {
    std::string name;
    HaMetadata ha;
    std::optional<core::VmState> state;  // nullopt until known
};

// Called from dispatch(), on the loop thread.
struct HypervisorSink {
    std::function<void(const core::VmEvidence&)> on_vm;  // HA VMs only, every change
    std::function<void(const IoErrorEvent&)> on_io_error;
    std::function<void(const ActionResult&)> on_action;
    // A snapshot was taken (refresh() or a reconnect): vms() is current.
    std::function<void()> on_listed;
    // libvirt went away or came back; `why` says what happened.
    std::function<void(bool connected, const std::string& why)> on_connection;
    // A domain whose XML was refused (also counted in bad_input()).
    std::function<void(const std::string& vm, const Error& why)> on_bad_input;
};

class LibvirtHypervisor {
  public:
    [[nodiscard]] static std::expected<std::unique_ptr<LibvirtHypervisor>, Error> make(
        HypervisorConfig config, HypervisorSink sink);
    // Returns at once: the worker finishes the call it is in (bounded by the
    // keepalive when libvirtd is stuck), then closes the connection.
    ~LibvirtHypervisor();
    LibvirtHypervisor(const LibvirtHypervisor&) = delete;
    LibvirtHypervisor& operator=(const LibvirtHypervisor&) = delete;

    // Readable while messages wait for dispatch().
    [[nodiscard]] int fd() const;
    // Never blocks.
    void dispatch();

    // Lists every domain (on the worker) and reports each HA VM's state.
    void refresh();
    [[nodiscard]] ActionId start(const std::string& vm);
    [[nodiscard]] ActionId resume(const std::string& vm);
    [[nodiscard]] ActionId stop(const std::string& vm);
    // To the libvirtd at `dest_uri` (a libvirt URI such as qemu+tls://h2/system),
    // on a thread of its own with a connection of its own, so that a migration
    // that takes minutes holds up no other action; bounded by migrate_timeout.
    [[nodiscard]] ActionId migrate(const std::string& vm, const std::string& dest_uri);
    // An action that cannot be carried out here: its failed result comes through
    // dispatch() like any other.
    [[nodiscard]] ActionId refuse(VmAction action, const std::string& vm, std::string why);

    // HA VMs of the last snapshot, updated by events.
    [[nodiscard]] const std::map<std::string, HaVm>& vms() const { return vms_; }
    [[nodiscard]] bool connected() const { return connected_; }
    [[nodiscard]] std::uint64_t bad_input() const { return bad_input_; }

    struct Shared;

  private:
    LibvirtHypervisor(HypervisorConfig config, HypervisorSink sink, std::shared_ptr<Shared> shared);
    ActionId submit(VmAction action, const std::string& vm, std::string dest_uri = {});
    void apply(const DomainDescription& desc, std::optional<core::VmState> state);

    HypervisorConfig config_;
    HypervisorSink sink_;
    std::shared_ptr<Shared> shared_;
    std::map<std::string, HaVm> vms_;
    // Sequence of each domain's last lifecycle event, so that an older
    // snapshot does not undo it.
    std::map<std::string, std::uint64_t> last_event_;
    bool connected_ = false;
    std::uint64_t bad_input_ = 0;
};

}  // namespace vigil::adapters
