// Where each data operation of vigil-faultfs asks the current fault mode what
// to do. A stall is a wait on a condition that every mode change signals, so
// switching modes wakes blocked operations at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "tests/tools/faultfs/protocol.h"

namespace vigil::faultfs {

class Gate {
  public:
    // Returns 0 when the operation may go on to the source directory, or a
    // negative errno to hand back to the kernel. Blocks while the mode stalls
    // `op`; sleeps for the delay while it slows `op`.
    // `file`: the operation's file, its path in the mount.
    [[nodiscard]] int enter(Op op, std::string_view file = {});

    void set_mode(const Mode& mode);

    // For shutdown: wakes every blocked operation and keeps the mode `ok` from
    // then on, so nothing can block the file system's exit again.
    void release_all();

    [[nodiscard]] Status status() const;

  private:
    mutable std::mutex mu_;
    std::condition_variable changed_;
    Mode mode_;
    std::uint64_t generation_ = 0;
    bool released_ = false;
    Status counters_;
};

}  // namespace vigil::faultfs
