// A lab run: bring-up, tear-down, state kept between commands, and running
// commands inside a host. The nemesis (nemesis.h) and the checker
// (checker.h) work on a Lab.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/lab/layout.h"
#include "tests/lab/sys.h"
#include "tests/lab/tools.h"

namespace vigil::lab {

enum class StorageMode : std::uint8_t { kOk, kFail, kEnospc, kStall, kSlow };
[[nodiscard]] std::string_view storage_mode_name(StorageMode mode);
[[nodiscard]] std::optional<StorageMode> parse_storage_mode(std::string_view name);

enum class Power : std::uint8_t { kOn, kOff, kHung };
[[nodiscard]] std::string_view power_name(Power power);

struct HostState {
    pid_t init = 0;
    pid_t watchdog = 0;  // its emulated watchdog, outside the host
    Power power = Power::kOn;
    std::set<Net> cut;
    StorageMode storage = StorageMode::kOk;
    // The guest whose volume alone the storage mode applies to (one full
    // volume, F10); 0: the whole view.
    int storage_vm = 0;
};

class Lab {
  public:
    // How a run is brought up. vigild runs in cluster mode with the lab's
    // config; with `cluster_vigild` false it runs standalone (it watches,
    // arms nothing and decides nothing), for tests of the lab's own
    // mechanics that a deciding vigild would interfere with. With
    // `drain_migrate`, vigild drains by live migration (Layout).
    struct UpOptions {
        bool cluster_vigild = true;
        bool drain_migrate = false;
    };
    // Cleans up whatever an earlier run under `root` left behind, then
    // brings up a new run. Progress goes to `log`.
    [[nodiscard]] static Result<Lab> up(const std::filesystem::path& root, int hosts, int vms,
                                        const Tools& tools, std::ostream& log, UpOptions options);
    [[nodiscard]] static Result<Lab> up(const std::filesystem::path& root, int hosts, int vms,
                                        const Tools& tools, std::ostream& log) {
        return up(root, hosts, vms, tools, log, UpOptions{});
    }
    // The run that is up under `root`.
    [[nodiscard]] static Result<Lab> load(const std::filesystem::path& root);
    // Removes every run under `root`, whether it is up, half up or crashed.
    [[nodiscard]] static Result<> down(const std::filesystem::path& root, std::ostream& log);

    // Boots host `h` (at up, and at power-on after a power-off or reset): its
    // emulated watchdog outside the host, a new PID namespace and init, its
    // daemons but vigild; then the safety checks (safety.h) from inside the
    // host, and only if they pass, vigild. A host failing them is killed.
    // With `hold_vigild`, the host waits for release_vigild() instead (at
    // up: the lab starts the guests where it wants them first, as an
    // operator would before turning HA on).
    [[nodiscard]] Result<> boot(int h, std::ostream& log, bool hold_vigild = false);
    // Lets vigild start on host `h`, which passed its safety checks.
    [[nodiscard]] Result<> release_vigild(int h);
    // The host's emulated watchdog ends (a power cut stops the hardware).
    void stop_watchdog(int h);

    [[nodiscard]] const Layout& layout() const { return layout_; }
    [[nodiscard]] const Tools& tools() const { return tools_; }
    [[nodiscard]] HostState& host(int h) { return hosts_.at(static_cast<size_t>(h - 1)); }
    [[nodiscard]] const HostState& host(int h) const {
        return hosts_.at(static_cast<size_t>(h - 1));
    }
    [[nodiscard]] std::vector<std::vector<int>>& partition() { return partition_; }
    [[nodiscard]] double up_seconds() const { return up_seconds_; }
    // Whether vigild runs with the lab's generated config (cluster mode);
    // false while vigild cannot parse it yet.
    [[nodiscard]] bool vigild_config() const { return vigild_config_; }

    [[nodiscard]] Result<> save() const;
    // Appends one record to the run's event log, which the checker reads.
    void record(const std::string& kind, const std::string& action, const std::string& detail);

    // Where commands for host `h` run: its network namespace and its init's
    // mount namespace (the init may be gone after a power-off).
    [[nodiscard]] Result<Place> place(int h) const;
    [[nodiscard]] Result<std::string> exec(int h, const std::vector<std::string>& argv) const;
    [[nodiscard]] Result<std::string> virsh(int h, const std::vector<std::string>& args) const;
    [[nodiscard]] Result<bool> quorate(int h) const;
    // Every live process of host `h` (its network namespace).
    [[nodiscard]] std::vector<pid_t> processes(int h) const;
    // Host-side links of `h` go up or down to match its cuts and power.
    [[nodiscard]] Result<> apply_links(int h) const;

    [[nodiscard]] std::string status_json() const;
    void print_status(std::ostream& out) const;

  private:
    Lab(Layout layout, Tools tools) : layout_(std::move(layout)), tools_(std::move(tools)) {
        hosts_.resize(static_cast<size_t>(layout_.hosts()));
    }

    Layout layout_;
    Tools tools_;
    std::vector<HostState> hosts_;
    std::vector<std::vector<int>> partition_;
    double up_seconds_ = 0;
    bool vigild_config_ = false;
    std::vector<std::string> safety_verdicts_;  // per host, from its last boot
};

// The loop device of each shared disk in host `h`'s current boot:
// {"vm1": "loop7", ..., "heartbeat": "loop9"} (host_init.h's loops_file()).
[[nodiscard]] Result<std::map<std::string, std::string>> host_loops(const Layout& l, int h);

// The lab root when none is given: $VIGIL_LAB_ROOT or /var/lib/vigil-lab.
[[nodiscard]] std::filesystem::path default_root();

// Refuses a host whose network or PID namespace is the lab's own or PID 1's:
// "every process of the host" would be every process of the machine.
[[nodiscard]] Result<> foreign_host(const Lab& lab, int h);

}  // namespace vigil::lab
