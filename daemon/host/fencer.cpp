#include "daemon/host/fencer.h"

namespace vigil::host {

using adapters::Priority;
namespace mid = adapters::message_id;

namespace {
// The slot's last-words block is small; the flight record keeps more.
constexpr std::size_t kLastWordsEvidence = 8;
}  // namespace

void Fencer::note(std::string evidence) {
    if (parts_.recorder) parts_.recorder->note(evidence);
    notes_.push_back(std::move(evidence));
    if (notes_.size() > kLastWordsEvidence) notes_.erase(notes_.begin());
}

void Fencer::write_last_words(const core::Decision& why,
                              std::chrono::system_clock::time_point wall) {
    const auto decision = core::to_string(why);
    if (parts_.recorder) {
        if (auto ok = parts_.recorder->commit(decision, wall); !ok) {
            journal_.log(Priority::kError, mid::kFlightRecord,
                         "flight record not written before the self-fence: " + ok.error().message,
                         {{"PATH", parts_.recorder->path().string()}});
        } else {
            journal_.log(Priority::kNotice, mid::kFlightRecord,
                         "flight record written before the self-fence",
                         {{"PATH", parts_.recorder->path().string()}, {"DECISION", decision}});
        }
    }
    const adapters::LastWords words{
        .host = self_,
        .incarnation = incarnation_,
        .written_unix_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count(),
        .decision = decision,
        .evidence = notes_};
    if (auto ok = parts_.last_words(words); !ok) {
        journal_.log(Priority::kError, mid::kHeartbeat,
                     "last words not written to our slot: " + ok.error().message,
                     {{"REASON", ok.error().message}});
    }
}

void Fencer::reboot_now() {
    journal_.log(Priority::kError, mid::kSelfFence, "rebooting this host now (self-fence)", {});
    const auto failed = fence::reboot_now(parts_.reboot);
    // Still here: both ways were refused. Petting has stopped; the watchdog resets the host.
    journal_.log(Priority::kError, mid::kSelfFence,
                 "reboot failed, the watchdog will reset this host: " + failed.message,
                 {{"REASON", failed.message}});
}

ports::RequestId Fencer::fence_peer(core::HostId peer) {
    const auto id = next_id_++;
    journal_.log(Priority::kWarning, mid::kSelfFence,
                 "cannot power " + core::host_name(peer) +
                     " off: no fence agent is configured; waiting out the fence delay",
                 {{"PEER", core::host_name(peer)}});
    parts_.later([on_fence = parts_.on_fence, id] {
        if (on_fence) on_fence(id, false, "no fence agent configured");
    });
    return id;
}

}  // namespace vigil::host
