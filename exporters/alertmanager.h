// Alertmanager's webhook notifications (JSON, version 4) and the rules that
// turn an alert into an action on a host. Pure: no I/O, no clock, no
// threads; the HTTP receiver (webhook.h) and the fuzz target share it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>
#include "daemon/ports/error.h"

namespace vigil::exporters {

// What an alert may ask of a host. The core's AdminCommand takes each: drain (move
// the host's HA VMs away, then stay cordoned), cordon (keep them, take no new ones),
// uncordon (end either).
enum class HostAction : std::uint8_t {
    kDrain,
    kMaintenanceOn,
    kMaintenanceOff,
    kCordon,
    kUncordon
};

inline constexpr HostAction kAllHostActions[] = {HostAction::kDrain, HostAction::kMaintenanceOn,
                                                 HostAction::kMaintenanceOff, HostAction::kCordon,
                                                 HostAction::kUncordon};

// "drain", "maintenance-on", "maintenance-off", "cordon", "uncordon": as written in
// the config.
[[nodiscard]] std::string_view name(HostAction action);
[[nodiscard]] std::optional<HostAction> parse_host_action(std::string_view text);

enum class AlertStatus : std::uint8_t { kFiring, kResolved };

struct Alert {
    AlertStatus status = AlertStatus::kFiring;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> annotations;
    std::string starts_at;
    std::string ends_at;
    std::string fingerprint;  // empty when the sender gave none
};

struct AlertmanagerMessage {
    std::string receiver;
    AlertStatus status = AlertStatus::kFiring;
    std::string group_key;
    std::vector<Alert> alerts;
};

// Limits on what one message may hold, beyond the HTTP body limit.
inline constexpr std::size_t kMaxAlerts = 1000;
inline constexpr std::size_t kMaxLabels = 64;

// Parses a webhook body. Anything but a version "4" message with the fields
// Alertmanager always sends, of the right types, is refused with the reason.
[[nodiscard]] std::expected<AlertmanagerMessage, Error> parse_alertmanager_webhook(
    std::string_view body);

// An alert named `alert` whose labels include all of `labels` asks for
// `action` on a host: `host` when set, else the value of its `host_label`
// label. When it resolves, `resolved_action` (if any) follows.
struct AlertRule {
    std::string alert;
    std::map<std::string, std::string> labels;
    HostAction action = HostAction::kDrain;
    std::optional<HostAction> resolved_action;
    std::string host;
    std::string host_label = "host";
};

struct AlertAction {
    HostAction action = HostAction::kDrain;
    std::string host;
    std::string alert;        // the alert's name
    std::string fingerprint;  // the alert's identity, for the log
    std::size_t rule = 0;     // index in the rule table
    bool resolved = false;    // the alert resolved and this is its resolved_action
};

// An alert that matched a rule but could not be acted on.
struct AlertSkip {
    std::string alert;
    std::string reason;
};

struct AlertOutcome {
    std::vector<AlertAction> actions;
    std::size_t duplicates = 0;  // already acted on: repeats and retries
    std::size_t unmatched = 0;   // no rule for them
    std::vector<AlertSkip> skipped;
};

// The rule table and what it has acted on. Alertmanager sends a firing
// alert again on every group change, repeat interval and retry: an alert
// (fingerprint and start) acts once while it fires, and its resolution acts
// once. The memory of what was acted on is bounded; the oldest is forgotten.
class AlertActions {
  public:
    explicit AlertActions(std::vector<AlertRule> rules, std::size_t memory = 4096);
    [[nodiscard]] AlertOutcome apply(const AlertmanagerMessage& message);
    [[nodiscard]] const std::vector<AlertRule>& rules() const { return rules_; }

  private:
    void remember(const std::string& key);
    std::vector<AlertRule> rules_;
    std::size_t memory_;
    std::set<std::string> firing_;  // keys acted on while firing
    std::deque<std::string> order_;
};

}  // namespace vigil::exporters
