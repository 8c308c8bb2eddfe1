#include "daemon/driver/host_driver.h"

#include <algorithm>
#include <variant>
#include "daemon/ports/error.h"

namespace vigil::driver {

std::expected<HostDriver, Error> HostDriver::make(core::Policy policy, core::HostId self,
                                                  std::uint64_t incarnation,
                                                  core::Duration watchdog_timeout, Ports ports) {
    const auto configured = policy.watchdog_timeout;
    policy.watchdog_timeout = watchdog_timeout;
    if (auto ok = policy.validate(); !ok) {
        if (configured != watchdog_timeout) {
            return std::unexpected("the watchdog accepted a timeout of " +
                                   core::format_seconds(watchdog_timeout) + " s, not the " +
                                   core::format_seconds(configured) +
                                   " s configured: " + ok.error().message);
        }
        return std::unexpected(ok.error());
    }
    auto engine = core::HostEngine::make(std::move(policy), self, incarnation, ports.clock.now());
    if (!engine) return std::unexpected(engine.error());
    return HostDriver(std::move(*engine), ports);
}

void HostDriver::start() { ports_.hypervisor.refresh(); }

void HostDriver::pet(core::TimePoint now) {
    ports_.watchdog.pet();
    last_pet_ = now;
    ++pets_;
}

void HostDriver::feed(core::TimePoint now, const core::ActionEvidence& evidence) {
    ports_.events.outcome(now, evidence);
    engine_.observe(now, evidence);
    // The call may still finish: only a fresh listing tells what runs here now.
    if (evidence.outcome == core::ActionOutcome::kTimedOut) ports_.hypervisor.refresh();
}

void HostDriver::pace(core::TimePoint now) {
    const auto want = engine_.tick_wanted_at();
    // Each wanted moment is asked for once: a tick that ran a little early (the
    // loop's granularity) leaves the rest to the regular heartbeats.
    if (!want || want == paced_for_) return;
    paced_for_ = want;
    ++early_beats_;
    ports_.pacer.beat_early(std::max(*want - read_lead(), now));
}

void HostDriver::heartbeat() {
    if (executor_.fenced()) return;
    const auto now = ports_.clock.now();
    if (freeze_stage_ != FreezeStage::kNone) {
        // On our way out: the host still lives by the same rule until the caller
        // disarms or exits, and says nothing more.
        const auto verdict = engine_.should_pet(now);
        if (verdict.pet) {
            pet(now);
        } else {
            ports_.watchdog.withhold(verdict.reason);
            ++withheld_;
        }
        return;
    }
    auto result = engine_.tick(now);
    ++heartbeats_;
    last_heartbeat_ = now;
    publishing_ = result.publish;
    // Every decision of the tick is logged before any is carried out: a self-fence
    // does not return, and what came with it (the pet stopping, the state) must be
    // on record too.
    for (const auto& d : result.decisions) {
        ++decisions_;
        ports_.events.decision(now, d);
    }
    for (const auto& d : result.decisions) {
        for (const auto& dropped : executor_.carry_out(d)) feed(now, dropped);
        if (executor_.fenced()) return;  // nothing more leaves this host
    }
    last_verdict_ = core::PetVerdict{.pet = result.pet_watchdog, .reason = result.pet_reason};
    if (result.pet_watchdog) {
        pet(now);
    } else {
        ports_.watchdog.withhold(result.pet_reason);
        ++withheld_;
    }
    if (result.publish) {
        ports_.heartbeat.submit_write(result.status, now);
        ports_.cluster.broadcast(result.status);
    }
    pace(now);
}

core::FreezeCheck HostDriver::freeze() {
    const auto now = ports_.clock.now();
    auto check = engine_.freeze_check(now);
    if (!check.ok() || freeze_stage_ != FreezeStage::kNone) return check;
    frozen_record_ = engine_.freeze(now);
    freeze_stage_ = FreezeStage::kWriting;
    // The slot first: the broadcast follows once the record is on storage, so a
    // freeze that never lands was never heard of either.
    ports_.heartbeat.submit_write(*frozen_record_, now);
    return check;
}

void HostDriver::retract_freeze() {
    if (freeze_stage_ == FreezeStage::kNone || freeze_stage_ == FreezeStage::kRetracted) return;
    const auto now = ports_.clock.now();
    const auto status = engine_.retract_freeze(now);
    freeze_stage_ = FreezeStage::kRetracted;
    ports_.heartbeat.submit_write(status, now);
    ports_.cluster.broadcast(status);
}

void HostDriver::read_slots() {
    if (executor_.fenced()) return;
    ports_.heartbeat.submit_read(ports_.clock.now());
}

void HostDriver::observe(const core::Evidence& evidence) {
    if (executor_.fenced()) return;
    const auto now = ports_.clock.now();
    // Outcomes come through on_action, which matches them to what the executor
    // issued; one that did not would leave the executor's table wrong.
    if (std::holds_alternative<core::ActionEvidence>(evidence)) return;
    engine_.observe(now, evidence);
    pace(now);
    if (const auto* w = std::get_if<core::SlotWriteEvidence>(&evidence);
        w && freeze_stage_ == FreezeStage::kWriting && frozen_record_ &&
        w->sequence == frozen_record_->sequence) {
        freeze_stage_ = w->ok ? FreezeStage::kOnStorage : FreezeStage::kFailed;
        if (w->ok) ports_.cluster.broadcast(*frozen_record_);
        return;
    }
    if (std::holds_alternative<core::StorageEvidence>(evidence)) {
        // Storage that answers again resumes its paused VMs now, not at the next tick.
        for (const auto& d : engine_.resumes(now)) {
            ++decisions_;
            ports_.events.decision(now, d);
            for (const auto& dropped : executor_.carry_out(d)) feed(now, dropped);
        }
        return;
    }
    const auto* message = std::get_if<core::PeerMessageEvidence>(&evidence);
    if (message == nullptr || message->status.host != engine_.self() ||
        message->status.incarnation != engine_.incarnation()) {
        return;
    }
    own_delivered_ = now;
    // Our own status came back through the cluster: the peers heard us just now.
    if (engine_.should_pet(now).pet) pet(now);
}

void HostDriver::on_action(ports::RequestId id, const core::ActionEvidence& result) {
    if (executor_.fenced()) return;
    const auto now = ports_.clock.now();
    if (auto evidence = executor_.finish(id, result)) feed(now, *evidence);
    pace(now);
}

void HostDriver::on_fence(ports::RequestId id, bool confirmed, const std::string& detail) {
    if (executor_.fenced()) return;
    if (auto evidence = executor_.finish_fence(id, confirmed, detail))
        engine_.observe(ports_.clock.now(), *evidence);
}

DriverSnapshot HostDriver::snapshot() const {
    return DriverSnapshot{.heartbeats = heartbeats_,
                          .last_heartbeat = last_heartbeat_,
                          .last_verdict = last_verdict_,
                          .last_pet = last_pet_,
                          .pets = pets_,
                          .withheld = withheld_,
                          .decisions = decisions_,
                          .early_beats = early_beats_,
                          .publishing = publishing_,
                          .own_delivered = own_delivered_,
                          .executor = executor_.snapshot()};
}

}  // namespace vigil::driver
