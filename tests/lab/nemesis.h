// The nemesis: faults done to lab hosts, each recorded in the run's event log
// so the checker can line them up with what the VMs did.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "tests/lab/lab.h"

namespace vigil::lab {

// SIGKILL every process of the host and drop its carriers: a power cut.
[[nodiscard]] Result<> power_off(Lab& lab, int host);
// Boots a host that was powered off or reset: its watchdog, a new PID
// namespace, init and daemons, its persistent folders kept, the safety checks
// again; returns once it is back in a quorate membership.
[[nodiscard]] Result<> power_on(Lab& lab, int host, std::ostream& log);
// SIGSTOP every process of the host: a frozen kernel. resume() undoes it.
[[nodiscard]] Result<> hang(Lab& lab, int host);
[[nodiscard]] Result<> resume(Lab& lab, int host);
// Pull the host's cable(s): the host-side link goes down, so the carrier
// drops on both ends. Cutting the storage network also stalls the host's
// storage view, as a hard-mounted NFS does when its server is unreachable.
[[nodiscard]] Result<> cut(Lab& lab, int host, const std::vector<Net>& nets);
// Put back the host's cables of `nets` alone, the rest of the lab as it is:
// the end of a short blip (heal() mends every host and network, a dozen
// `ip` calls, too slow to end a blip of half a second on time).
[[nodiscard]] Result<> reconnect(Lab& lab, int host, const std::vector<Net>& nets);
// Reconnect every cable and undo any partition (powered-off hosts stay off).
[[nodiscard]] Result<> heal(Lab& lab);
// Set the storage view of one host (or every host, host == 0); with `vm`,
// of that guest's volume alone (its disk's file; the rest of the view, the
// heartbeat area included, stays fine), as when one volume is full.
[[nodiscard]] Result<> storage(Lab& lab, int host, StorageMode mode, int vm = 0);
// SIGKILL vigild on the host (its init restarts it, as systemd would).
[[nodiscard]] Result<> kill_daemon(Lab& lab, int host);
// `systemctl stop vigild` on the host: SIGTERM, no restart; waits (up to the
// unit's TimeoutStopSec, 20 s) until vigild has exited.
[[nodiscard]] Result<> stop_daemon(Lab& lab, int host);
// `systemctl start vigild` after stop_daemon.
[[nodiscard]] Result<> start_daemon(Lab& lab, int host);
// Split `nets` into groups of hosts that only reach their own group. Carriers
// stay up: this is a switch failing, not a cable.
[[nodiscard]] Result<> partition(Lab& lab, const std::vector<std::vector<int>>& groups,
                                 const std::vector<Net>& nets);

// "h1,h2/h3" -> {{1,2},{3}}; every host at most once.
[[nodiscard]] Result<std::vector<std::vector<int>>> parse_groups(const Layout& layout,
                                                                 std::string_view text);
// "cluster" | "vm" | "storage" | "all"
[[nodiscard]] Result<std::vector<Net>> parse_nets(std::string_view text);

}  // namespace vigil::lab
