#include "tests/tools/faultfs/gate.h"

#include <cerrno>

namespace vigil::faultfs {

int Gate::enter(Op op, std::string_view file) {
    std::unique_lock lock(mu_);
    for (;;) {
        const std::uint64_t seen = generation_;
        const auto changed = [&] { return generation_ != seen; };
        switch (action_for(mode_, op, file)) {
            case Action::kPass:
                ++(op == Op::kRead ? counters_.reads : counters_.writes);
                return 0;
            case Action::kFailEio:
                ++counters_.injected;
                return -EIO;
            case Action::kFailEnospc:
                ++counters_.injected;
                return -ENOSPC;
            case Action::kStall:
                ++counters_.stalled;
                changed_.wait(lock, changed);
                --counters_.stalled;
                break;  // decide again under the new mode
            case Action::kDelay:
                if (!changed_.wait_for(lock, mode_.delay, changed)) {
                    ++(op == Op::kRead ? counters_.reads : counters_.writes);
                    return 0;
                }
                break;  // the mode changed while waiting: its rule applies now
        }
    }
}

void Gate::set_mode(const Mode& mode) {
    {
        const std::lock_guard lock(mu_);
        if (released_) return;
        mode_ = mode;
        ++generation_;
    }
    changed_.notify_all();
}

void Gate::release_all() {
    {
        const std::lock_guard lock(mu_);
        released_ = true;
        mode_ = Mode{};
        ++generation_;
    }
    changed_.notify_all();
}

Status Gate::status() const {
    const std::lock_guard lock(mu_);
    Status out = counters_;
    out.mode = mode_;
    return out;
}

}  // namespace vigil::faultfs
