#include "daemon/host/refusal_log.h"

#include <vector>

namespace vigil::host {

using adapters::Priority;
namespace mid = adapters::message_id;

void RefusalLog::refused(const std::string& who, const core::DecodeError& why,
                         adapters::Fields fields) {
    metrics_.count_bad_input(source_);
    metrics_.count_refused_record(source_, core::name(why.reason));
    if (!open_[who].insert(why.reason).second) return;
    std::string message = source_ + " input refused: " + why.message;
    if (why.reason == core::Refusal::kNewerFormat) {
        message += "; upgrade this host: until then " + who +
                   " counts as running, is not given VMs and is not coordinated over";
    }
    message += " (logged once until " + who + " is read again)";
    fields.insert(fields.begin(), {{"SOURCE", source_},
                                   {"REFUSAL", std::string(core::name(why.reason))},
                                   {"REASON", why.message}});
    journal_.log(Priority::kWarning, mid::kBadInput, message, fields);
    ++lines_;
}

void RefusalLog::accepted(const std::string& who) {
    const auto it = open_.find(who);
    if (it == open_.end()) return;
    open_.erase(it);
    journal_.log(Priority::kNotice, mid::kBadInput, source_ + " input from " + who + " read again",
                 {{"SOURCE", source_}});
    ++lines_;
}

void RefusalLog::accept_all_but(const std::set<std::string>& now_refused) {
    std::vector<std::string> done;
    for (const auto& [who, reasons] : open_) {
        if (!now_refused.contains(who)) done.push_back(who);
    }
    for (const auto& who : done) accepted(who);
}

}  // namespace vigil::host
