// A lab host's init: the process that owns the host's mount namespace, starts
// its daemons as its children and reaps everything below it (it is a child
// subreaper), the way PID 1 would on a real host. It restarts vigild when it
// dies, as systemd's Restart=always does.
#pragma once

#include <sys/types.h>

#include "tests/lab/layout.h"
#include "tests/lab/sys.h"
#include "tests/lab/tools.h"

namespace vigil::lab {

// Forks the init of `host` into the host's (existing) network namespace and
// returns its pid once its mounts are in place and its daemons are started.
[[nodiscard]] Result<pid_t> start_host_init(const Layout& layout, int host, const Tools& tools);

// The control socket of a host's storage view, as seen from outside the host.
[[nodiscard]] std::filesystem::path faultfs_control(const Layout& layout, int host);

}  // namespace vigil::lab
