// A lab host's init: PID 1 of the host's own PID namespace, owner of its mount
// namespace; it starts the host's daemons as its children and reaps
// everything below it, as PID 1 does on a real host. It restarts vigild when it
// dies, as systemd's Restart=always does.
#pragma once

#include <sys/types.h>

#include "tests/lab/layout.h"
#include "tests/lab/sys.h"
#include "tests/lab/tools.h"

namespace vigil::lab {

// Starts `host`: a power process (outside the host) makes a new PID
// namespace and forks the host's init into it as its PID 1, in the host's
// (existing) network namespace and a new mount namespace with its own /proc.
// Returns the init's pid (as the machine sees it) once its mounts are in place
// and its daemons are started. When the init ends, however, every process of
// the host ends with it (the kernel kills a PID namespace with its init) and
// the power process writes how into init_exit_file().
// vigild (when built) starts only once safety_mark() exists, with --config
// kInHostVigilConfig if `vigild_config`.
[[nodiscard]] Result<pid_t> start_host_init(const Layout& layout, int host, const Tools& tools,
                                            bool vigild_config);
// Written by the lab once the host passed its safety checks (safety.h).
[[nodiscard]] std::filesystem::path safety_mark(const Layout& layout, int host);

// While it exists vigild is stopped as `systemctl stop vigild` leaves it: the
// init does not restart it; once it is removed the init starts it again, as
// `systemctl start vigild` would.
[[nodiscard]] std::filesystem::path vigild_stopped_mark(const Layout& layout, int host);

// The regular file bound over the host's /proc/sysrq-trigger.
[[nodiscard]] std::filesystem::path sysrq_cover(const Layout& layout, int host);
// {"t": ..., "init": PID, "signal": N} or {..., "exit": N}: how the host's
// last init ended; absent while it runs.
[[nodiscard]] std::filesystem::path init_exit_file(const Layout& layout, int host);

// {"vm1": "loop7", ..., "heartbeat": "loop9"}: the loop device of each disk
// of the shared storage in the host's current boot (loops.h), written by its
// init before any daemon that uses them starts.
[[nodiscard]] std::filesystem::path loops_file(const Layout& layout, int host);

// The control socket of a host's storage view, as seen from outside the host.
[[nodiscard]] std::filesystem::path faultfs_control(const Layout& layout, int host);

}  // namespace vigil::lab
