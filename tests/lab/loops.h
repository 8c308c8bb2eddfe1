// Loop devices for the lab's shared storage. A loop device is the machine's,
// not a host's: each is attached by a host's init with autoclear, over a file
// as that host's storage view shows it, and its file descriptor stays open in
// the init, so the kernel detaches it when the host ends, however it ends.
// `down` detaches whatever of a run is still attached (backing files carry
// the run id, Layout::backing_of_run).
#pragma once

#include <sys/types.h>

#include <iosfwd>
#include <string>
#include <vector>

#include "tests/lab/sys.h"

namespace vigil::lab {

struct Loop {
    int fd = -1;       // open on the loop device; closing the last one detaches it
    std::string name;  // the kernel's name, "loop7"
    dev_t dev = 0;
};

// Attaches a free loop device to `backing` (read-write, direct I/O, the
// kernel detaches it on its last close).
[[nodiscard]] Result<Loop> attach_loop(const std::string& backing);

// Loop devices attached now whose backing file is a disk of run `run_id`.
[[nodiscard]] std::vector<std::string> loops_of_run(const std::string& run_id);
// Detaches each of them; what cannot be detached is logged.
void detach_loops_of_run(const std::string& run_id, std::ostream& log);

}  // namespace vigil::lab
