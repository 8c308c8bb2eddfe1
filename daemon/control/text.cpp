#include "daemon/control/text.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <vector>

namespace vigil::control {
namespace {

using nlohmann::json;

[[gnu::format(printf, 2, 3)]] void add(std::string& out, const char* fmt, ...) {
    char buf[1024];
    va_list args;
    va_start(args, fmt);
    const int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);
    if (n > 0) out.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof(buf) - 1));
}

const json& at(const json& j, const char* key) {
    static const json kNull;
    if (!j.is_object()) return kNull;
    const auto it = j.find(key);
    return it == j.end() ? kNull : *it;
}

std::string str(const json& j, const char* key, const char* fallback = "?") {
    const auto& v = at(j, key);
    return v.is_string() ? v.get<std::string>() : fallback;
}

double num(const json& j, const char* key, double fallback = 0) {
    const auto& v = at(j, key);
    return v.is_number() ? v.get<double>() : fallback;
}

bool flag(const json& j, const char* key) {
    const auto& v = at(j, key);
    return v.is_boolean() && v.get<bool>();
}

std::string text_of(const json& j) {
    if (j.is_null()) return "-";
    if (j.is_string()) return j.get<std::string>();
    if (j.is_object() && j.contains("name") && j["name"].is_string()) {
        return j["name"].get<std::string>();
    }
    return j.dump();
}

std::string format_duration(double seconds) {
    const auto s = static_cast<long long>(seconds);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%lldd %02lld:%02lld:%02lld", s / 86400, s / 3600 % 24,
                  s / 60 % 60, s % 60);
    return buf;
}

std::string wall_text(const json& seconds) {
    if (!seconds.is_number()) return "?";
    const auto t = static_cast<std::time_t>(seconds.get<double>());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
}

// Columns padded to their widest cell, two spaces apart, the last one not padded.
using Row = std::vector<std::string>;
void table(std::string& out, const std::vector<Row>& rows, const char* indent = "  ") {
    std::vector<std::size_t> width;
    for (const auto& r : rows) {
        if (width.size() < r.size()) width.resize(r.size(), 0);
        for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    for (const auto& r : rows) {
        std::string line = indent;
        for (std::size_t i = 0; i < r.size(); ++i) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
}

std::string held_text(const json& status) {
    std::string held;
    for (const auto& h : at(status, "held").is_array() ? at(status, "held") : json::array()) {
        held += (held.empty() ? "" : ", ") + str(h, "vm");
        const auto state = str(h, "state", "");
        if (state != "running") held += " (" + state + ")";
    }
    return held.empty() ? "-" : held;
}

std::string names_text(const json& names) {
    std::string s;
    for (const auto& n : names.is_array() ? names : json::array()) {
        s += (s.empty() ? "" : ", ") + text_of(n);
    }
    return s;
}

// "drain: moving db; left web, app; kept here (no host can take them): big", or
// "drain: done, cordoned" once nothing is left to move.
std::string drain_text(const json& d) {
    const auto moving = names_text(at(d, "moving"));
    const auto left = names_text(at(d, "left"));
    const auto blocked = names_text(at(d, "blocked"));
    std::string s;
    if (!moving.empty()) s += "moving " + moving;
    if (!left.empty()) s += (s.empty() ? "" : "; ") + ("left " + left);
    if (!blocked.empty())
        s += (s.empty() ? "" : "; ") + ("kept here (no host can take them): " + blocked);
    return "drain: " + (s.empty() ? std::string("done, cordoned") : s);
}

// One line per VM of the drain going by a live migration, and per VM whose
// migration failed: "migrating dns to h2 for 3.0 s", "...: moved, ours until h2
// runs it"; "migration of db to h1 timed-out (aborted after 300000 ms) 2.0 s ago:
// stopped here once h1 no longer holds it".
void print_migrations(std::string& out, const json& d) {
    const auto& migrating = at(d, "migrating");
    for (const auto& m : migrating.is_array() ? migrating : json::array()) {
        const auto target = text_of(at(m, "target"));
        const auto moved = flag(m, "moved") ? ": moved, ours until " + target + " runs it" : "";
        add(out, "  migrating %s to %s for %.1f s%s\n", str(m, "vm").c_str(), target.c_str(),
            num(m, "for_seconds"), moved.c_str());
    }
    const auto& failed = at(d, "migration_failed");
    for (const auto& f : failed.is_array() ? failed : json::array()) {
        const auto target = text_of(at(f, "target"));
        const auto detail = str(f, "detail", "");
        const auto why = detail.empty() ? std::string() : " (" + detail + ")";
        add(out, "  migration of %s to %s %s%s %s: stopped here once %s no longer holds it\n",
            str(f, "vm").c_str(), target.c_str(), str(f, "outcome").c_str(), why.c_str(),
            ago_text(at(f, "at_seconds_ago")).c_str(), target.c_str());
    }
}

std::string flags_text(const json& j) {
    std::string f;
    if (flag(j, "maintenance")) f += "maintenance";
    if (flag(j, "cordoned")) f += (f.empty() ? "" : ",") + std::string("cordoned");
    if (flag(j, "draining")) f += (f.empty() ? "" : ",") + std::string("draining");
    return f.empty() ? "-" : f;
}

void print_cluster(std::string& out, const json& c) {
    const auto& h = at(c, "host");
    add(out, "host %s (nodeid %s, slot %s): %s, %s, coordinator %s, incarnation %s\n",
        text_of(at(h, "name")).c_str(), text_of(at(h, "id")).c_str(),
        text_of(at(h, "slot_index")).c_str(), text_of(at(h, "state")).c_str(),
        flag(h, "quorate") ? "quorate" : "NOT QUORATE", text_of(at(h, "coordinator")).c_str(),
        text_of(at(h, "incarnation")).c_str());
    if (flags_text(h) != "-") add(out, "  %s\n", flags_text(h).c_str());
    if (const auto& d = at(h, "drain"); d.is_object()) {
        add(out, "  %s\n", drain_text(d).c_str());
        print_migrations(out, d);
    }
    if (flag(h, "fenced")) add(out, "  SELF-FENCING: this host is being reset\n");
    if (!str(h, "waiting_for", "").empty()) {
        add(out, "  waiting for %s\n", str(h, "waiting_for").c_str());
    }
    if (!flag(h, "corosync_connected")) add(out, "  corosync: NOT CONNECTED\n");
    const auto& hb = at(c, "heartbeat");
    add(out, "  heartbeat #%s, last %s; %s decisions\n", text_of(at(hb, "count")).c_str(),
        ago_text(at(hb, "last_seconds_ago")).c_str(), text_of(at(hb, "decisions")).c_str());

    out += "\npeers:\n";
    std::vector<Row> rows{{"NAME", "CLASS", "REASON", "LAST SIGN OF LIFE", "SLOT", "SLOT SAYS",
                           "HELD", "DECLINED", "FLAGS"}};
    const auto& peers = at(c, "peers");
    for (const auto& p : peers.is_array() ? peers : json::array()) {
        const auto& st = at(p, "status");
        std::string declined;
        for (const auto& d : at(st, "declined").is_array() ? at(st, "declined") : json::array()) {
            declined += (declined.empty() ? "" : ", ") + text_of(d);
        }
        rows.push_back({text_of(at(p, "name")), text_of(at(p, "class")), text_of(at(p, "reason")),
                        ago_text(at(p, "last_sign_of_life_seconds_ago")),
                        text_of(at(p, "slot_index")),
                        st.is_null() ? "nothing yet" : text_of(at(st, "state")),
                        st.is_null() ? "-" : held_text(st), declined.empty() ? "-" : declined,
                        st.is_null() ? "-" : flags_text(st)});
    }
    if (rows.size() == 1) {
        out += "  none\n";
    } else {
        table(out, rows);
    }

    out += "\nHA VMs:\n";
    rows = {{"NAME", "HERE", "RUNS ON", "PRIORITY", "MEMORY", "ON I/O ERROR", "STORAGE DOMAIN"}};
    const auto& vms = at(c, "vms");
    for (const auto& v : vms.is_array() ? vms : json::array()) {
        const auto& pol = at(v, "policy");
        const auto& mem = at(pol, "memory_mib");
        rows.push_back({text_of(at(v, "name")),
                        at(v, "state_here").is_null() ? "-" : text_of(at(v, "state_here")),
                        text_of(at(v, "owner")), text_of(at(pol, "priority")),
                        mem.is_number() ? mem.dump() + " MiB" : "-", text_of(at(pol, "io_error")),
                        text_of(at(pol, "storage_domain"))});
    }
    if (rows.size() == 1) {
        out += "  none\n";
    } else {
        table(out, rows);
    }
    const auto& act = at(c, "actions");
    const auto& flying = at(act, "in_flight");
    for (const auto& a : flying.is_array() ? flying : json::array()) {
        add(out, "  in flight: %s %s for %.1f s\n", str(a, "action").c_str(), str(a, "vm").c_str(),
            num(a, "for_seconds"));
    }

    out += "\nwatchdog: ";
    const auto& w = at(c, "watchdog");
    if (w.is_null()) {
        out += "none\n";
    } else {
        add(out, "%s, timeout %s s", flag(w, "armed") ? "armed" : "NOT ARMED",
            text_of(at(w, "timeout_seconds")).c_str());
        if (at(w, "time_left_seconds").is_number()) {
            add(out, ", %.1f s left%s", num(w, "time_left_seconds"),
                flag(w, "time_left_from_device") ? " (device)" : " (counted)");
        }
        add(out, ", %s pets (%s late), last pet %s\n", text_of(at(w, "pets")).c_str(),
            text_of(at(w, "late_pets")).c_str(), ago_text(at(w, "since_last_pet_seconds")).c_str());
        add(out, "  last verdict: %s (%s)", flag(hb, "pet") ? "pet" : "WITHHOLD",
            text_of(at(hb, "pet_reason")).c_str());
        std::string withheld;
        const auto& by = at(w, "withheld");
        if (by.is_object()) {
            for (const auto& [reason, n] : by.items()) {
                withheld += (withheld.empty() ? "" : ", ") + reason + " " + n.dump();
            }
        }
        add(out, "; withheld: %s\n", withheld.empty() ? "-" : withheld.c_str());
    }

    std::string domains;
    const auto& sd = at(c, "storage_domains");
    for (const auto& d : sd.is_array() ? sd : json::array()) {
        domains += (domains.empty() ? "" : ", ") + str(d, "name") + " " + str(d, "health") +
                   (flag(d, "io_in_flight") ? " (I/O in flight)" : "");
    }
    std::string links;
    const auto& ls = at(c, "links");
    for (const auto& l : ls.is_array() ? ls : json::array()) {
        links += (links.empty() ? "" : ", ") + str(l, "role") + " " + str(l, "state");
    }
    add(out, "storage domains: %s\nnetworks: %s\n\n",
        domains.empty() ? "none seen" : domains.c_str(),
        links.empty() ? "none seen" : links.c_str());
}

void print_decision(std::string& out, const json& d, const char* indent) {
    add(out, "%s#%s %s (%s)  %s  reason %s\n", indent, text_of(at(d, "number")).c_str(),
        ago_text(at(d, "at_seconds_ago")).c_str(), wall_text(at(d, "wall_time")).c_str(),
        str(d, "kind").c_str(), str(d, "reason").c_str());
    std::string what;
    for (const char* key : {"vm", "peer", "target", "peer_class", "self_state", "alert"}) {
        if (!at(d, key).is_null())
            what += std::string(what.empty() ? "" : ", ") + key + " " + text_of(at(d, key));
    }
    if (!what.empty()) add(out, "%s    %s\n", indent, what.c_str());
    const auto& ev = at(d, "evidence");
    for (const auto& f : ev.is_array() ? ev : json::array()) {
        add(out, "%s    %s = %s\n", indent, str(f, "key").c_str(), str(f, "value").c_str());
    }
}

}  // namespace

std::string ago_text(const json& seconds) {
    if (!seconds.is_number()) return "never";
    const double s = std::max(0.0, seconds.get<double>());
    char buf[64];
    if (s < 100) {
        std::snprintf(buf, sizeof(buf), "%.1f s ago", s);
    } else if (s < 3600) {
        const auto whole = static_cast<long long>(s);
        std::snprintf(buf, sizeof(buf), "%lld min %02lld s ago", whole / 60, whole % 60);
    } else {
        const auto whole = static_cast<long long>(s);
        std::snprintf(buf, sizeof(buf), "%lld h %02lld min ago", whole / 3600, whole / 60 % 60);
    }
    return buf;
}

std::string admin_text(const json& a) {
    std::string out;
    if (!a.is_object()) return "maintenance: ?\n";
    if (flag(a, "maintenance")) {
        const auto& until = at(a, "maintenance_until");
        if (until.is_string()) {
            add(out, "maintenance: ON until %s (%s left), asked by %s\n",
                until.get<std::string>().c_str(),
                format_duration(num(a, "maintenance_left_seconds")).c_str(),
                str(a, "maintenance_by", "-").c_str());
        } else {
            add(out, "maintenance: ON until turned off, asked by %s\n",
                str(a, "maintenance_by", "-").c_str());
        }
    } else {
        out += "maintenance: off\n";
    }
    if (flag(a, "draining")) {
        add(out, "cordon: ON, drained (its HA VMs go to other hosts), asked by %s\n",
            str(a, "cordoned_by", "-").c_str());
    } else if (flag(a, "cordoned")) {
        add(out, "cordon: ON (takes no new VMs), asked by %s\n",
            str(a, "cordoned_by", "-").c_str());
    } else {
        out += "cordon: off\n";
    }
    if ((flag(a, "maintenance") || flag(a, "cordoned")) && at(a, "effective").is_boolean() &&
        !flag(a, "effective")) {
        out += "  (standalone mode: recorded, and acted on once cluster mode runs)\n";
    }
    const std::string error = str(a, "file_error", "");
    if (!error.empty()) add(out, "  state file problem: %s\n", error.c_str());
    return out;
}

std::string event_text(const json& e) {
    std::string out = str(e, "time") + "  " + str(e, "kind");
    out.resize(std::max<std::size_t>(out.size(), 34), ' ');
    out += str(e, "message", "");
    out += "\n";
    return out;
}

std::string events_text(const json& events) {
    std::string out;
    const auto& list = at(events, "list");
    if (!list.is_array() || list.empty()) return "no events yet\n";
    for (const auto& e : list) out += event_text(e);
    return out;
}

std::string status_text(const json& st) {
    std::string out;
    add(out, "vigild %s, %s mode, up %s\n", str(st, "version").c_str(), str(st, "mode").c_str(),
        format_duration(num(st, "uptime_seconds")).c_str());
    const std::string config = str(st, "config", "");
    add(out, "config: %s\n", config.empty() ? "(built-in defaults)" : config.c_str());
    out += admin_text(at(st, "admin")) + "\n";
    if (at(st, "cluster").is_object()) print_cluster(out, at(st, "cluster"));
    out += "probes:\n";
    const auto& probes = at(st, "probes");
    for (const auto& p : probes.is_array() ? probes : json::array()) {
        const std::string state = str(p, "state");
        add(out, "  %-22s %-12s %s", str(p, "name").c_str(), state.c_str(),
            str(p, "hook", "").c_str());
        if (state != "attached") {
            add(out, "\n  %-22s %-12s why: %s", "", "", str(p, "reason", "").c_str());
        }
        out += "\n";
    }
    out += "\nblock devices:\n";
    const auto& devices = at(st, "block_devices");
    if (!devices.is_array() || devices.empty()) out += "  none seen yet\n";
    for (const auto& d : devices.is_array() ? devices : json::array()) {
        add(out, "  %-12s %-9s in flight %.0f, oldest %.0f ms\n", str(d, "device").c_str(),
            str(d, "state").c_str(), num(d, "in_flight"), num(d, "oldest_in_flight_ms"));
        const auto& errors = at(d, "io_errors");
        for (const auto& e : errors.is_array() ? errors : json::array()) {
            add(out, "  %-12s   I/O errors: %s %s x%.0f\n", "", str(e, "op").c_str(),
                str(e, "error").c_str(), num(e, "count"));
        }
        const auto& writeback = at(d, "writeback_errors");
        if (writeback.is_object()) {
            for (const auto& [error, count] : writeback.items()) {
                add(out, "  %-12s   writeback errors: %s x%s\n", "", error.c_str(),
                    count.dump().c_str());
            }
        }
    }
    out += "\ninterfaces:\n";
    const auto& interfaces = at(st, "interfaces");
    if (!interfaces.is_array() || interfaces.empty()) out += "  none\n";
    for (const auto& i : interfaces.is_array() ? interfaces : json::array()) {
        add(out, "  %-12s %-5s for %.0f s, carrier %s, operstate %s\n", str(i, "interface").c_str(),
            str(i, "state").c_str(), num(i, "for_seconds"), flag(i, "carrier") ? "on" : "off",
            str(i, "operstate").c_str());
    }
    // Hosts without NFS get no section at all.
    const auto& nfs = at(st, "nfs_mounts");
    const std::string nfs_error = str(st, "nfs_mountstats_error", "");
    if ((!nfs.is_array() || nfs.empty()) && nfs_error.empty()) return out;
    out += "\nNFS mounts:\n";
    if (!nfs_error.empty()) add(out, "  mountstats unreadable: %s\n", nfs_error.c_str());
    for (const auto& m : nfs.is_array() ? nfs : json::array()) {
        add(out, "  %-24s %-8s for %.0f s, %s\n", str(m, "mount").c_str(), str(m, "state").c_str(),
            num(m, "for_seconds"), str(m, "device").c_str());
        add(out, "  %-24s   ops %.0f, retransmissions %.0f, major timeouts %.0f, unanswered %.0f",
            "", num(m, "operations"), num(m, "retransmissions"), num(m, "major_timeouts"),
            num(m, "unanswered"));
        if (at(m, "mean_rtt_ms").is_number()) add(out, ", mean RTT %.1f ms", num(m, "mean_rtt_ms"));
        out += "\n";
    }
    return out;
}

std::string explain_text(const json& ex) {
    std::string out;
    const auto& decisions = at(ex, "decisions");
    if (decisions.is_array()) {
        const auto& subject = at(ex, "subject");
        if (subject.is_object()) {
            add(out, "%s %s: ", str(subject, "kind") == "vm" ? "VM" : "host",
                str(subject, "name").c_str());
            if (decisions.empty()) {
                out += "no decision about it since vigild started\n";
            } else {
                out += "latest decision\n";
                print_decision(out, decisions.front(), "  ");
                if (decisions.size() > 1) {
                    out += "before it, newest first:\n";
                    for (std::size_t i = 1; i < decisions.size(); ++i) {
                        print_decision(out, decisions[i], "  ");
                    }
                }
            }
        } else if (decisions.empty()) {
            out += "no decision since vigild started\n";
        } else {
            add(out, "latest decisions, newest first (%zu):\n", decisions.size());
            for (const auto& d : decisions) print_decision(out, d, "  ");
        }
        out += "\n";
    }
    const auto& previous = at(ex, "previous_self_fence");
    const std::string error = str(ex, "flight_record_error", "");
    if (!error.empty()) {
        add(out, "the flight record %s is damaged: %s\n", str(ex, "flight_record").c_str(),
            error.c_str());
    }
    if (!previous.is_object()) {
        add(out, "no self-fence recorded in %s\n", str(ex, "flight_record").c_str());
        return out;
    }
    add(out, "last self-fence%s: %s\n",
        flag(previous, "earlier_boot") ? " (ended the previous boot)" : "",
        str(previous, "decision").c_str());
    out += "evidence before it, oldest first:\n";
    const auto& ev = at(previous, "evidence");
    for (const auto& e : ev.is_array() ? ev : json::array()) add(out, "  %s\n", text_of(e).c_str());
    return out;
}

}  // namespace vigil::control
