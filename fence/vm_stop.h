// The isolation response: stop this host's HA VMs so their disks are free for a
// survivor. A graceful shutdown first, then destroy once the grace runs out; a
// VM paused on an I/O error cannot shut down and is destroyed at once. The job
// never blocks: the event loop calls step() from a timer, so it keeps petting
// (or deliberately not petting) the watchdog meanwhile.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/ports/error.h"

// libvirt's own declaration (libvirt-host.h), without its headers here.
typedef struct _virConnect* virConnectPtr;  // NOLINT(bugprone-reserved-identifier): libvirt's name

namespace vigil::fence {

enum class DomainState : std::uint8_t {
    kRunning,
    kPaused,
    kShuttingDown,
    kShutOff,
    kCrashed,
    kMissing,
    kOther
};

// What the job needs from the hypervisor; LibvirtDomainControl is the real one.
class DomainControl {
  public:
    virtual ~DomainControl() = default;
    [[nodiscard]] virtual std::expected<DomainState, Error> state(const std::string& name) = 0;
    [[nodiscard]] virtual std::expected<void, Error> shutdown(const std::string& name) = 0;
    [[nodiscard]] virtual std::expected<void, Error> destroy(const std::string& name) = 0;
};

class LibvirtDomainControl final : public DomainControl {
  public:
    // Opens its own connection, e.g. "qemu:///system" ("test:///default" in tests).
    [[nodiscard]] static std::expected<LibvirtDomainControl, Error> make(const std::string& uri);
    // Works over a connection someone else opened (and keeps open itself: it
    // takes a reference), e.g. the hypervisor adapter's, so that no second
    // connection is needed when the host is in trouble.
    [[nodiscard]] static LibvirtDomainControl share(virConnectPtr conn);
    LibvirtDomainControl(LibvirtDomainControl&& other) noexcept;
    LibvirtDomainControl& operator=(LibvirtDomainControl&& other) noexcept;
    LibvirtDomainControl(const LibvirtDomainControl&) = delete;
    LibvirtDomainControl& operator=(const LibvirtDomainControl&) = delete;
    ~LibvirtDomainControl() override;

    [[nodiscard]] std::expected<DomainState, Error> state(const std::string& name) override;
    [[nodiscard]] std::expected<void, Error> shutdown(const std::string& name) override;
    [[nodiscard]] std::expected<void, Error> destroy(const std::string& name) override;

  private:
    explicit LibvirtDomainControl(virConnectPtr conn) : conn_(conn) {}
    virConnectPtr conn_ = nullptr;
};

enum class VmStopOutcome : std::uint8_t {
    kPending,         // shutdown requested, grace not over
    kAlreadyStopped,  // was not running here (shut off, crashed or not defined)
    kShutDown,        // stopped by the guest within the grace
    kDestroyed,       // the grace ran out, or it was paused: destroyed
    kFailed,          // could not be stopped: the host must die instead
};

[[nodiscard]] constexpr std::string_view name(VmStopOutcome outcome) {
    switch (outcome) {
        case VmStopOutcome::kPending:
            return "pending";
        case VmStopOutcome::kAlreadyStopped:
            return "already_stopped";
        case VmStopOutcome::kShutDown:
            return "shut_down";
        case VmStopOutcome::kDestroyed:
            return "destroyed";
        case VmStopOutcome::kFailed:
            return "failed";
    }
    return "unknown";
}

struct VmStopResult {
    std::string name;
    VmStopOutcome outcome = VmStopOutcome::kPending;
    std::string detail;  // the error, for kFailed
};

class VmStopJob {
  public:
    using TimePoint = std::chrono::steady_clock::time_point;

    // Asks every VM to shut down (or destroys it when paused) and returns.
    [[nodiscard]] static VmStopJob start(DomainControl& control, std::vector<std::string> names,
                                         std::chrono::milliseconds grace, TimePoint now);
    // From a loop timer: checks progress, destroys what outlived the grace.
    // True once no VM is pending.
    bool step(TimePoint now);
    [[nodiscard]] bool done() const;
    // True when every VM is down; false if any kFailed (reboot instead).
    [[nodiscard]] bool all_stopped() const;
    [[nodiscard]] const std::vector<VmStopResult>& results() const { return results_; }

  private:
    VmStopJob(DomainControl& control, TimePoint deadline)
        : control_(&control), deadline_(deadline) {}
    void destroy(VmStopResult& vm);

    DomainControl* control_;
    TimePoint deadline_;
    std::vector<VmStopResult> results_;
};

}  // namespace vigil::fence
