// The EventSink port: every decision and every action outcome goes to the
// journal (one MESSAGE_ID per kind of decision), into the flight recorder's
// notes (and the slot's last words), to the metrics (decisions by kind,
// outcomes by action and outcome), and, for the events hooks know, to the
// hook runner.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/adapters/journal.h"
#include "daemon/core/decision.h"
#include "daemon/ports/event_sink.h"
#include "exporters/hooks.h"
#include "exporters/metrics.h"

namespace vigil::host {

// The MESSAGE_ID of a decision's journal record.
[[nodiscard]] std::string_view message_id_of(core::DecisionKind kind);

struct HookCall {
    exporters::HookEvent event = exporters::HookEvent::kPeerDead;
    exporters::HookFields fields;
    bool operator==(const HookCall&) const = default;
};

// Which hook events decisions and outcomes are. Keeps what it needs to tell a
// quorum regained (this host was isolated or released and no longer is).
class HookMapper {
  public:
    [[nodiscard]] std::vector<HookCall> on_decision(const core::Decision& d);
    [[nodiscard]] std::vector<HookCall> on_outcome(const core::ActionEvidence& a) const;

  private:
    bool quorum_lost_ = false;
};

struct SinkParts {
    const adapters::Journal& journal;
    exporters::Metrics& metrics;
    std::function<void(std::string)> note;   // the flight recorder's (and last words') notes
    exporters::HookRunner* hooks = nullptr;  // null: no hook runner
    // Every decision, after it is logged (vigilctl explain's history); may be empty.
    std::function<void(core::TimePoint, const core::Decision&)> on_decision;
};

class EventSink final : public ports::EventSink {
  public:
    explicit EventSink(SinkParts parts) : parts_(std::move(parts)) {}
    void decision(core::TimePoint at, const core::Decision& decision) override;
    void outcome(core::TimePoint at, const core::ActionEvidence& outcome) override;

  private:
    void run_hooks(const std::vector<HookCall>& calls);

    SinkParts parts_;
    HookMapper hooks_;
};

}  // namespace vigil::host
