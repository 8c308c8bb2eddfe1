#include "tests/lab/safety.h"

#include <sys/stat.h>

#include <filesystem>
#include <sstream>

#include "tests/lab/host_init.h"
#include "tests/lab/lab.h"

namespace vigil::lab {

std::string Verdict::text() const {
    std::string s = own_pidns ? "own PID namespace" : "NOT in a PID namespace of its own";
    s += " (pid:[" + std::to_string(inside_pidns) + "], the lab's pid:[" +
         std::to_string(machine_pidns) + "], its init's pid:[" + std::to_string(init_pidns) + "])";
    s += ", SysRq trigger " + trigger;
    return s;
}

Result<InsideView> parse_inside(const std::string& output) {
    InsideView v;
    std::istringstream in(output);
    std::string line;
    if (!std::getline(in, line) || !line.starts_with("pid:[") || line.back() != ']')
        return fail("no PID namespace link inside the host: '" + line + "'");
    try {
        v.pidns = static_cast<ino_t>(std::stoull(line.substr(5, line.size() - 6)));
        if (!std::getline(in, line)) return fail("no trigger line");
        std::istringstream t(line);
        std::string word;
        std::string what;
        t >> word >> what;
        if (word != "trigger") return fail("bad trigger line: '" + line + "'");
        if (what != "absent") {
            v.trigger = true;
            v.trigger_dev = static_cast<dev_t>(std::stoull(what));
            unsigned long long ino = 0;
            if (!(t >> ino)) return fail("bad trigger line: '" + line + "'");
            v.trigger_ino = static_cast<ino_t>(ino);
        }
        if (!std::getline(in, line) || !line.starts_with("mounts "))
            return fail("no mounts line: '" + line + "'");
        v.trigger_mounts = std::stoi(line.substr(7));
    } catch (const std::exception&) {
        return fail("cannot read the inside view: '" + output + "'");
    }
    return v;
}

Verdict judge(const OutsideView& o, const InsideView& i) {
    Verdict v;
    v.inside_pidns = i.pidns;
    v.machine_pidns = o.lab_pidns;
    v.init_pidns = o.init_pidns;
    // PID 1's namespace may be unreadable (0) even to root: PID 1 of the
    // lab's /proc lives in the /proc's own PID namespace, the lab's, which
    // is compared anyway.
    v.own_pidns = i.pidns != 0 && o.lab_pidns != 0 && i.pidns != o.lab_pidns &&
                  i.pidns != o.pid1_pidns && i.pidns == o.init_pidns;
    if (i.trigger) {
        bool same = i.trigger_dev == o.cover_dev && i.trigger_ino == o.cover_ino && o.cover_ino;
        v.trigger_safe = same && i.trigger_mounts >= 1;
        v.trigger = v.trigger_safe ? "covered"
                    : !same        ? "NOT covered: it is not the host's cover file"
                                   : "NOT covered: no mount at /proc/sysrq-trigger";
    } else {
        // Nothing to write to inside; but a machine that has a trigger while
        // the host shows none has a /proc the lab did not make.
        v.trigger_safe = !o.machine_has_trigger;
        v.trigger = v.trigger_safe ? "absent (no SysRq in this kernel)"
                                   : "NOT covered: hidden inside but present on the machine";
    }
    return v;
}

Result<Verdict> probe_safety(const Lab& lab, int h) {
    OutsideView o;
    o.lab_pidns = ns_inode("/proc/self/ns/pid");
    o.pid1_pidns = ns_inode("/proc/1/ns/pid");
    o.init_pidns = ns_inode("/proc/" + std::to_string(lab.host(h).init) + "/ns/pid");
    std::error_code ec;
    o.machine_has_trigger = std::filesystem::exists("/proc/sysrq-trigger", ec);
    struct stat st {};
    if (::stat(sysrq_cover(lab.layout(), h).c_str(), &st) == 0) {
        o.cover_dev = st.st_dev;
        o.cover_ino = st.st_ino;
    }
    auto out = lab.exec(h, {"sh", "-c", kInsideScript});
    if (!out) return std::unexpected(out.error());
    auto inside = parse_inside(*out);
    if (!inside) return std::unexpected(inside.error());
    return judge(o, *inside);
}

}  // namespace vigil::lab
