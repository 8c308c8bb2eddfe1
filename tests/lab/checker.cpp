#include "tests/lab/checker.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

namespace vigil::lab {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string_view violation_name(ViolationKind kind) {
    switch (kind) {
        case ViolationKind::kDoubleRun:
            return "double-run";
        case ViolationKind::kDoubleWriter:
            return "double-writer";
        case ViolationKind::kStaleWrite:
            return "stale-write";
        case ViolationKind::kLostWrite:
            return "lost-write";
    }
    return "?";
}

namespace {
std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
    return buf;
}
}  // namespace

void Analyzer::note(double t, const std::string& kind, const std::string& text) {
    timeline_.events.push_back({t, kind, text});
    if (kind == "fault") faults_.emplace_back(t, text);
}

void Analyzer::violate(double t, const std::string& vm, ViolationKind kind,
                       const std::string& detail) {
    timeline_.violations.push_back({t, vm, kind, detail});
    timeline_.events.push_back(
        {t, "violation", vm + ": " + std::string(violation_name(kind)) + ", " + detail});
}

void Analyzer::add(const Sample& s) {
    if (!started_) {
        timeline_.start = s.t;
        started_ = true;
    }
    ++timeline_.samples;
    for (const auto& vm : vms_) {
        auto& tr = track_[vm];
        // Who runs it, and whether more than one of them could write.
        std::vector<const QemuProcess*> runs;
        for (const auto& q : s.qemus)
            if (q.vm == vm) runs.push_back(&q);
        int live = 0;
        int incoming = 0;
        std::string where;
        for (auto* q : runs) {
            live += q->frozen ? 0 : 1;
            incoming += !q->frozen && q->incoming ? 1 : 0;
            where += (where.empty() ? "" : "+") + q->host + (q->frozen ? "(frozen)" : "") +
                     (q->incoming ? "(incoming)" : "");
        }
        // A live migration: the source and the qemu libvirt started on the
        // target to receive the guest, which runs it only once the source
        // has stopped (the stamps below tell if both wrote).
        const bool migrating = live == 2 && incoming == 1;
        const bool double_run = live >= 2 && !migrating;
        if (double_run && !tr.double_run)
            violate(s.t, vm, ViolationKind::kDoubleRun, "qemu live on " + where);
        tr.double_run = double_run;

        // Which instances wrote since the last sample.
        std::vector<const Stamp*> advanced;
        if (auto it = s.stamps.find(vm); it != s.stamps.end())
            for (const auto& st : it->second) {
                auto& seen = tr.seq[st.instance];
                if (st.seq > seen) {
                    bool first_sight = seen == 0;
                    seen = st.seq;
                    // A stamp that was already on disk when the checker
                    // started is history, not a write we saw happen.
                    if (first_sight && timeline_.samples == 1) {
                        tr.host[st.instance] = st.host;
                        continue;
                    }
                    advanced.push_back(&st);
                    auto& w = timeline_.writers[vm][st.instance];
                    w.first = st.host;
                    w.second = st.seq;
                }
            }
        if (advanced.size() >= 2) {
            std::string who;
            for (auto* a : advanced)
                who += (who.empty() ? "" : " and ") + hex(a->instance) + "@" + a->host;
            violate(s.t, vm, ViolationKind::kDoubleWriter, "instances " + who + " both wrote");
        }
        for (auto* a : advanced) {
            auto& was = tr.host[a->instance];
            if (!was.empty() && was != a->host) {
                if (tr.left[a->instance].contains(a->host)) {
                    violate(s.t, vm, ViolationKind::kStaleWrite,
                            "instance " + hex(a->instance) + " wrote on " + a->host +
                                " after it moved from there to " + was);
                } else {
                    std::string text = vm;
                    text.append(": instance ")
                        .append(hex(a->instance))
                        .append(" moved from ")
                        .append(was)
                        .append(" to ")
                        .append(a->host);
                    timeline_.events.push_back({s.t, "vm", std::move(text)});
                }
                tr.left[a->instance].insert(was);
            }
            was = a->host;
            if (tr.superseded.contains(a->instance))
                violate(s.t, vm, ViolationKind::kStaleWrite,
                        "instance " + hex(a->instance) + "@" + a->host +
                            " wrote after a newer instance");
            if (tr.current && *tr.current != a->instance) {
                tr.superseded.insert(*tr.current);
                timeline_.events.push_back(
                    {s.t, "vm",
                     vm + ": new instance " + hex(a->instance) + " writing on " + a->host});
            }
            tr.current = a->instance;
        }
        std::set<std::tuple<size_t, uint64_t, uint64_t>> lost_now;
        if (auto it = s.lost.find(vm); it != s.lost.end())
            for (const auto& lw : it->second) {
                auto key = std::make_tuple(lw.slot, lw.stamp.instance, lw.stamp.seq);
                lost_now.insert(key);
                if (!tr.lost_seen.contains(key) || !tr.lost_reported.insert(key).second) continue;
                violate(s.t, vm, ViolationKind::kLostWrite,
                        "slot " + std::to_string(lw.slot) + " holds write " +
                            std::to_string(lw.stamp.seq) + " of instance " +
                            hex(lw.stamp.instance) + "@" + lw.stamp.host +
                            ", which has written up to " + std::to_string(lw.newest));
            }
        tr.lost_seen = std::move(lost_now);
        if (!advanced.empty()) {
            if (tr.gap_open) {
                tr.gaps.emplace_back(*tr.gap_open, s.t);
                tr.gap_open.reset();
            }
            tr.last_write = s.t;
        } else if (!tr.gap_open && tr.last_write >= 0 && s.t - tr.last_write > kWritingWindow) {
            tr.gap_open = tr.last_write;
        }

        std::string state;
        bool writing = tr.last_write >= 0 && s.t - tr.last_write <= kWritingWindow;
        if (runs.empty())
            state = "not running";
        else
            state = (writing ? "writing on " : "not writing, qemu on ") + where;
        // The first sample only sets the baseline: writing needs two.
        if (state != tr.state && timeline_.samples > 1) {
            timeline_.events.push_back({s.t, "vm", std::string(vm).append(": ").append(state)});
            tr.state = state;
        }
        auto lease_it = s.leases.find(vm);
        std::string lease = lease_it == s.leases.end() ? "" : lease_it->second;
        if (lease != tr.lease) {
            timeline_.events.push_back(
                {s.t, "lease",
                 vm + ": " + (lease.empty() ? "lease free" : "lease held by " + lease)});
            tr.lease = lease;
        }
    }
}

Timeline Analyzer::finish(double end) {
    timeline_.end = end;
    for (const auto& [ft, what] : faults_) {
        for (const auto& vm : vms_) {
            auto& tr = track_[vm];
            Recovery r{ft, what, vm, std::nullopt};
            bool affected = false;
            // A fault owns the writing gaps that begin around it; a VM that
            // had stopped writing before is not its doing.
            auto owns = [&](double from) {
                return from >= ft - kWritingWindow && from <= ft + kFaultReach;
            };
            for (auto [from, to] : tr.gaps)
                if (owns(from)) {
                    affected = true;
                    r.after_s = std::max(0.0, to - ft);
                    break;
                }
            if (!affected && tr.gap_open && owns(*tr.gap_open)) affected = true;
            if (affected) timeline_.recoveries.push_back(r);
        }
    }
    std::stable_sort(timeline_.events.begin(), timeline_.events.end(),
                     [](const auto& a, const auto& b) { return a.t < b.t; });
    return timeline_;
}

Result<Sampler> Sampler::make(const Lab& lab) {
    Sampler s(lab);
    const auto& l = lab.layout();
    for (int v = 1; v <= l.vms(); ++v) {
        // virtlockd names a lease file after the SHA-256 of the disk path.
        auto sum = run_ok({"sh", "-c", "printf %s \"$1\" | sha256sum", "sh", l.vm_disk_in_host(v)});
        if (!sum) return std::unexpected(sum.error());
        s.lease_files_[sum->substr(0, 64)] = l.vm_name(v);
    }
    return s;
}

Sample Sampler::take() const {
    const auto& l = lab_->layout();
    Sample s;
    s.t = now_s();
    std::map<ino_t, std::string> host_of_ns;
    for (int h = 1; h <= l.hosts(); ++h)
        host_of_ns[ns_inode(fs::path("/run/netns") / l.host_netns(h))] = l.host_name(h);
    auto host_of = [&](pid_t pid) -> std::string {
        auto it = host_of_ns.find(ns_inode("/proc/" + std::to_string(pid) + "/ns/net"));
        return it == host_of_ns.end() ? "" : it->second;
    };
    if (DIR* d = ::opendir("/proc")) {
        while (auto* e = ::readdir(d)) {
            char* endp = nullptr;
            long pid = std::strtol(e->d_name, &endp, 10);
            if (!endp || *endp != '\0' || pid <= 0) continue;
            auto comm = comm_of(static_cast<pid_t>(pid));
            if (!comm.starts_with("qemu-system")) continue;
            auto host = host_of(static_cast<pid_t>(pid));
            if (host.empty()) continue;
            auto args = cmdline_of(static_cast<pid_t>(pid));
            for (size_t i = 0; i + 1 < args.size(); ++i) {
                if (args[i] != "-name") continue;
                auto name = args[i + 1];
                if (name.starts_with("guest=")) name = name.substr(6);
                name = name.substr(0, name.find(','));
                char st = state_of(static_cast<pid_t>(pid));
                if (st == 'Z' || st == '\0') break;
                s.qemus.push_back({.vm = name,
                                   .host = host,
                                   .pid = static_cast<pid_t>(pid),
                                   .frozen = st == 'T' || st == 't',
                                   .incoming = std::ranges::find(args, "-incoming") != args.end()});
                break;
            }
        }
        ::closedir(d);
    }
    // Leases: fcntl locks virtlockd holds on files of the lockspace.
    std::map<ino_t, std::string> vm_of_inode;
    for (const auto& [file, vm] : lease_files_) {
        struct stat st {};
        if (::stat((l.shared_dir() / "lockspace" / file).c_str(), &st) == 0)
            vm_of_inode[st.st_ino] = vm;
    }
    std::ifstream locks("/proc/locks");
    for (std::string line; std::getline(locks, line);) {
        std::istringstream in(line);
        std::string num, cls, mode, type, pid, dev;
        if (!(in >> num >> cls >> mode >> type >> pid >> dev)) continue;
        if (num.ends_with("->") || cls != "POSIX" || type != "WRITE") continue;
        auto colon = dev.rfind(':');
        if (colon == std::string::npos) continue;
        auto it = vm_of_inode.find(static_cast<ino_t>(std::stoull(dev.substr(colon + 1))));
        if (it == vm_of_inode.end()) continue;
        auto host = host_of(static_cast<pid_t>(std::stol(pid)));
        s.leases[it->second] = host.empty() ? "?" : host;
    }
    for (int v = 1; v <= l.vms(); ++v)
        if (auto head = read_stamp_head(l.vm_image(v))) {
            s.stamps[l.vm_name(v)] = parse_stamps(*head);
            if (auto lost = find_lost_writes(*head); !lost.empty()) s.lost[l.vm_name(v)] = lost;
        }
    return s;
}

std::string to_json(const Timeline& t) {
    json j;
    j["start"] = t.start;
    j["end"] = t.end;
    j["samples"] = t.samples;
    json events = json::array();
    for (const auto& e : t.events)
        events.push_back({{"t", e.t - t.start}, {"kind", e.kind}, {"text", e.text}});
    j["events"] = events;
    json violations = json::array();
    for (const auto& v : t.violations)
        violations.push_back({{"t", v.t - t.start},
                              {"vm", v.vm},
                              {"kind", violation_name(v.kind)},
                              {"detail", v.detail}});
    j["violations"] = violations;
    json recoveries = json::array();
    for (const auto& r : t.recoveries)
        recoveries.push_back(
            {{"fault_t", r.fault_t - t.start},
             {"fault", r.fault},
             {"vm", r.vm},
             {"writing_again_after_s", r.after_s ? json(*r.after_s) : json(nullptr)}});
    j["recoveries"] = recoveries;
    json writers = json::object();
    for (const auto& [vm, inst] : t.writers) {
        json list = json::array();
        for (const auto& [id, hw] : inst)
            list.push_back({{"instance", hex(id)}, {"host", hw.first}, {"last_seq", hw.second}});
        writers[vm] = list;
    }
    j["writers"] = writers;
    return j.dump(2) + "\n";
}

std::string describe(const Timeline& t) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1);
    // vigild's records end in KEY=value evidence fields; the JSON keeps them,
    // the text shows the message.
    static const std::regex kFields(" [A-Z_]+=.*$");
    for (const auto& e : t.events)
        out << std::setw(7) << (e.t - t.start) << " s  " << std::left << std::setw(9) << e.kind
            << std::right << " " << std::regex_replace(e.text, kFields, "") << "\n";
    out << t.samples << " samples over " << (t.end - t.start) << " s, " << t.violations.size()
        << " violation(s)\n";
    for (const auto& r : t.recoveries) {
        out << "  after '" << r.fault << "': " << r.vm << " ";
        if (r.after_s)
            out << "writing again " << *r.after_s << " s later\n";
        else
            out << "not writing again by the end\n";
    }
    return out.str();
}

Result<Timeline> run_checker(const Lab& lab, double seconds, const fs::path& out) {
    auto sampler = Sampler::make(lab);
    if (!sampler) return std::unexpected(sampler.error());
    const auto& l = lab.layout();
    std::vector<std::string> vms;
    for (int v = 1; v <= l.vms(); ++v) vms.push_back(l.vm_name(v));
    Analyzer analyzer(vms);

    // Tail the event log and each host's vigild log from where they are now.
    auto events_at = fs::exists(l.events_file()) ? fs::file_size(l.events_file()) : 0;
    std::map<int, uintmax_t> vigild_at;
    auto vigild_log = [&](int h) { return l.host_dir(h) / "log" / "vigild.log"; };
    for (int h = 1; h <= l.hosts(); ++h)
        vigild_at[h] = fs::exists(vigild_log(h)) ? fs::file_size(vigild_log(h)) : 0;
    // The emulated watchdog's log (it outlives a reset and is appended to at
    // each boot): when a host's watchdog resets it.
    std::map<int, uintmax_t> watchdog_at;
    auto watchdog_log = [&](int h) { return l.host_dir(h) / "log" / "watchdog.log"; };
    for (int h = 1; h <= l.hosts(); ++h)
        watchdog_at[h] = fs::exists(watchdog_log(h)) ? fs::file_size(watchdog_log(h)) : 0;
    auto tail = [](const fs::path& p, uintmax_t& at, auto&& each) {
        std::ifstream in(p);
        if (!in) return;
        in.seekg(static_cast<std::streamoff>(at));
        for (std::string line; std::getline(in, line);) {
            if (in.eof()) break;  // a line still being written
            at += line.size() + 1;
            each(line);
        }
    };

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    double start = now_s();
    for (;;) {
        tail(l.events_file(), events_at, [&](const std::string& line) {
            try {
                auto j = json::parse(line);
                analyzer.note(j.at("t").get<double>(), j.at("kind").get<std::string>(),
                              j.at("action").get<std::string>() + " " + j.value("detail", ""));
                // NOLINTNEXTLINE(bugprone-empty-catch): a line that is no event is skipped
            } catch (const json::exception&) {
            }
        });
        for (int h = 1; h <= l.hosts(); ++h)
            tail(vigild_log(h), vigild_at[h], [&](const std::string& line) {
                analyzer.note(now_s(), "vigild", l.host_name(h) + ": " + line);
            });
        for (int h = 1; h <= l.hosts(); ++h)
            tail(watchdog_log(h), watchdog_at[h], [&](const std::string& line) {
                analyzer.note(now_s(), "watchdog", l.host_name(h) + ": " + line);
            });
        analyzer.add(sampler->take());
        double now = now_s();
        if (seconds > 0 && now - start >= seconds) break;
        double next = kSampleInterval - std::fmod(now - start, kSampleInterval);
        timespec wait{0, static_cast<long>(next * 1e9)};
        if (::sigtimedwait(&mask, nullptr, &wait) > 0) break;
    }
    auto timeline = analyzer.finish(now_s());
    if (auto r = write_file(out, to_json(timeline)); !r) return std::unexpected(r.error());
    return timeline;
}

}  // namespace vigil::lab
