#include "daemon/host/heartbeat_port.h"

#include <chrono>
#include <set>
#include <string>
#include <variant>

namespace vigil::host {

using adapters::Priority;
namespace mid = adapters::message_id;

void HeartbeatPort::submit_write(const core::HostStatus& status, core::TimePoint now) {
    auto ok = store_.write(status, now);
    if (!ok) {
        // Nothing was submitted: to the core this is a failed write.
        on_evidence_(core::SlotWriteEvidence{.ok = false, .sequence = status.sequence});
        metrics_.count_slot_failure("write");
        journal_.log(Priority::kError, mid::kHeartbeat,
                     "slot write not submitted: " + ok.error().message,
                     {{"REASON", ok.error().message}});
    }
}

void HeartbeatPort::submit_read(core::TimePoint now) { (void)store_.read(now); }

void HeartbeatPort::dispatch() {
    for (auto& result : store_.dispatch()) {
        if (auto* w = std::get_if<adapters::SlotWriteResult>(&result)) {
            if (w->error != write_error_) {
                write_error_ = w->error;
                journal_.log(
                    w->error.empty() ? Priority::kNotice : Priority::kWarning, mid::kHeartbeat,
                    w->error.empty() ? "slot writes work again" : "slot write failed: " + w->error,
                    {{"REASON", w->error}});
            }
            if (w->evidence.ok) {
                metrics_.observe_slot_write(
                    std::chrono::duration<double>(w->evidence.latency).count());
            } else {
                metrics_.count_slot_failure("write");
            }
            on_evidence_(w->evidence);
            continue;
        }
        auto& r = std::get<adapters::SlotReadResult>(result);
        std::set<std::string> refused_now;
        for (const auto& refused : r.refused) {
            const auto who =
                "slot " + std::to_string(refused.slot) + (refused.last_words ? " last words" : "");
            refused_now.insert(who);
            refusals_.refused(who, {refused.kind, refused.reason},
                              {{"SLOT", std::to_string(refused.slot)}});
        }
        // A read that failed says nothing of the blocks it did not read.
        if (r.evidence.ok) refusals_.accept_all_but(refused_now);
        if (r.error != read_error_) {
            read_error_ = r.error;
            journal_.log(r.error.empty() ? Priority::kNotice : Priority::kWarning, mid::kHeartbeat,
                         r.error.empty() ? "slot reads work again"
                                         : "reading the heartbeat slots failed: " + r.error,
                         {{"REASON", r.error}});
        }
        if (!r.evidence.ok) metrics_.count_slot_failure("read");
        on_evidence_(r.evidence);
    }
}

}  // namespace vigil::host
