#include "daemon/watch/nfs_watcher.h"

#include "daemon/adapters/mountstats.h"

namespace vigil::watch {

using adapters::Priority;
namespace mid = adapters::message_id;

void NfsWatcher::poll(core::TimePoint now) {
    static const std::vector<std::string> kStates = {"ok", "degraded", "stalled", "gone"};
    auto read = adapters::read_mountstats(mountstats_);
    if (!read) {
        // Counted at every refused reading, logged once per reason: a file
        // that stays broken must not flood the journal at the poll rate.
        out_.metrics.count_bad_input("mountstats");
        if (read.error().message != error_) {
            error_ = read.error().message;
            out_.journal.log(
                Priority::kWarning, mid::kBadInput,
                "mountstats input refused: " + error_ + "; NFS mounts keep their last state",
                {{"SOURCE", "mountstats"}, {"REASON", error_}, {"PATH", mountstats_}});
        }
        return;
    }
    if (!error_.empty()) {
        out_.journal.log(Priority::kNotice, mid::kNfsState,
                         "mountstats " + mountstats_ + " is readable again",
                         {{"PATH", mountstats_}});
        error_.clear();
    }
    std::vector<core::NfsMountSample> samples;
    samples.reserve(read->size());
    for (const auto& m : *read) samples.push_back(adapters::to_sample(m));
    const auto update = health_.observe(now, samples);
    for (const auto& t : update.transitions) {
        const std::string to = std::string(core::name(t.to));
        const std::string from = t.from ? std::string(core::name(*t.from)) : "unknown";
        const bool bad = t.to != core::NfsMountState::kOk;
        out_.evidence(bad ? Priority::kWarning : (t.from ? Priority::kNotice : Priority::kInfo),
                      mid::kNfsState,
                      "NFS mount " + t.mount + " is " + to + (t.from ? " (was " + from + ")" : "") +
                          ": " + t.evidence,
                      {{"MOUNT", t.mount},
                       {"NFS_DEVICE", t.device},
                       {"STATE", to},
                       {"PREVIOUS", from},
                       {"EVIDENCE", t.evidence}});
    }
    for (const auto& mount : update.forgotten) out_.metrics.forget_nfs_mount(mount, kStates);
    for (const auto& v : health_.mounts()) {
        out_.metrics.set_nfs_mount(v.mount,
                                   {.operations = v.counters.ops,
                                    .retransmissions = v.counters.retransmissions,
                                    .major_timeouts = v.counters.major_timeouts,
                                    .unanswered = v.unanswered,
                                    .state = std::string(core::name(v.state))},
                                   kStates);
        if (on_mount_) on_mount_(v.mount, v.state, v.unanswered > 0);
    }
}

}  // namespace vigil::watch
