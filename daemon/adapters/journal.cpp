#include "daemon/adapters/journal.h"

#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include <cstdio>
#include <cstdlib>

namespace vigil::adapters {

Journal::Journal(Priority threshold)
    : threshold_(threshold),
      // systemd sets JOURNAL_STREAM when stderr already goes to the journal.
      to_journald_(std::getenv("JOURNAL_STREAM") != nullptr) {}

void Journal::log(Priority priority, std::string_view id, const std::string& message,
                  const Fields& fields) const {
    if (static_cast<int>(priority) > static_cast<int>(threshold_)) return;
    if (to_journald_) {
        std::vector<std::string> items;
        items.reserve(fields.size() + 4);
        items.push_back("MESSAGE=" + message);
        items.push_back("PRIORITY=" + std::to_string(static_cast<int>(priority)));
        items.push_back("MESSAGE_ID=" + std::string(id));
        items.push_back("SYSLOG_IDENTIFIER=vigild");
        for (const auto& [key, value] : fields) {
            std::string item = "VIGIL_";
            item += key;
            item += '=';
            item += value;
            items.push_back(std::move(item));
        }
        std::vector<iovec> iov;
        iov.reserve(items.size());
        for (auto& item : items) iov.push_back(iovec{item.data(), item.size()});
        if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0) return;
    }
    std::string line = message;
    for (const auto& [key, value] : fields) {
        line += " " + key + "=";
        line += value.find(' ') != std::string::npos ? "\"" + value + "\"" : value;
    }
    std::fprintf(stderr, "<%d>%s\n", static_cast<int>(priority), line.c_str());
    std::fflush(stderr);
}

}  // namespace vigil::adapters
