#include "tests/lab/lab.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "tests/lab/host_init.h"
#include "tests/lab/stamp.h"

namespace vigil::lab {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string_view storage_mode_name(StorageMode mode) {
    switch (mode) {
        case StorageMode::kOk:
            return "ok";
        case StorageMode::kFail:
            return "fail";
        case StorageMode::kEnospc:
            return "enospc";
        case StorageMode::kStall:
            return "stall";
        case StorageMode::kSlow:
            return "slow";
    }
    return "?";
}

std::optional<StorageMode> parse_storage_mode(std::string_view name) {
    for (auto m : {StorageMode::kOk, StorageMode::kFail, StorageMode::kEnospc, StorageMode::kStall,
                   StorageMode::kSlow})
        if (storage_mode_name(m) == name) return m;
    return std::nullopt;
}

std::string_view power_name(Power power) {
    switch (power) {
        case Power::kOn:
            return "on";
        case Power::kOff:
            return "off";
        case Power::kHung:
            return "hung";
    }
    return "?";
}

fs::path default_root() {
    if (const char* v = std::getenv("VIGIL_LAB_ROOT"); v && *v) return v;
    return "/var/lib/vigil-lab";
}

namespace {

constexpr size_t kDiskSize = 1024 * 1024;

fs::path state_file(const fs::path& root) { return root / "state.json"; }

std::string new_run_id() {
    std::ostringstream s;
    s << std::hex << ::getpid() << (std::time(nullptr) & 0xfff);
    return s.str().substr(0, 12);
}

bool gone(pid_t pid) {
    char st = state_of(pid);
    return st == '\0' || st == 'Z';
}

// Kills every process in `netns`, waits until each has really exited (a
// process leaves its namespaces before it has finished exiting, and its
// mounts go only then), deletes the namespace.
void remove_netns(const std::string& netns, std::ostream& log) {
    auto link = fs::path("/run/netns") / netns;
    auto ino = ns_inode(link);
    if (ino != 0) {
        // Daemons first, so each host's init reaps them; then the inits. A
        // hung (stopped) host is continued so that it can die.
        std::vector<pid_t> inits;
        std::vector<pid_t> others;
        for (pid_t p : pids_in_ns("net", ino))
            (comm_of(p).starts_with("lab-init") ? inits : others).push_back(p);
        for (pid_t p : inits) ::kill(p, SIGCONT);
        for (pid_t p : others) {
            ::kill(p, SIGKILL);
            ::kill(p, SIGCONT);
        }
        auto all_gone = [](const std::vector<pid_t>& pids) {
            return std::all_of(pids.begin(), pids.end(), gone);
        };
        if (!wait_until([&] { return all_gone(others); }, std::chrono::seconds(10)))
            log << "warning: processes of " << netns << " outlive SIGKILL\n";
        for (pid_t p : inits) ::kill(p, SIGKILL);
        (void)wait_until([&] { return all_gone(inits); }, std::chrono::seconds(5));
        // Anything started in the meantime (a restart racing the kill).
        for (pid_t p : pids_in_ns("net", ino)) ::kill(p, SIGKILL);
        if (!wait_until([&] { return pids_in_ns("net", ino).empty(); }, std::chrono::seconds(5)))
            log << "warning: processes remain in " << netns << "\n";
    }
    if (fs::exists(link)) {
        auto r = run_ok({"ip", "netns", "del", netns});
        if (!r) log << "warning: " << r.error().what << "\n";
    }
}

// Everything a run with id `run_id` may have left: namespaces named after
// it (found by name, so a run that crashed before saving state is covered
// too) and its directory.
void remove_run(const fs::path& root, const std::string& run_id, std::ostream& log) {
    auto prefix = "vl-" + run_id + "-";
    std::vector<std::string> names;
    if (auto list = run_ok({"ip", "netns", "list"}); list) {
        std::istringstream in(*list);
        for (std::string line; std::getline(in, line);) {
            auto name = line.substr(0, line.find(' '));
            if (name.starts_with(prefix)) names.push_back(name);
        }
    }
    // Hosts before the switch: their processes hold links into it.
    std::sort(names.begin(), names.end(), [](const auto& a, const auto& b) {
        return !a.ends_with("-sw") && b.ends_with("-sw");
    });
    for (const auto& n : names) remove_netns(n, log);
    std::error_code ec;
    fs::remove_all(root / ("run-" + run_id), ec);
    if (ec) log << "warning: cannot remove run directory: " << ec.message() << "\n";
}

Result<> net_setup(const Layout& l) {
    auto sw = l.switch_netns();
    if (auto r = run_ok({"ip", "netns", "add", sw}); !r) return std::unexpected(r.error());
    std::vector<std::vector<std::string>> cmds = {{"ip", "-n", sw, "link", "set", "lo", "up"}};
    for (Net n : kNets) {
        cmds.push_back({"ip", "-n", sw, "link", "add", Layout::bridge(n), "type", "bridge"});
        cmds.push_back({"ip", "-n", sw, "link", "set", Layout::bridge(n), "up"});
    }
    for (int h = 1; h <= l.hosts(); ++h) {
        auto ns = l.host_netns(h);
        if (auto r = run_ok({"ip", "netns", "add", ns}); !r) return std::unexpected(r.error());
        cmds.push_back({"ip", "-n", ns, "link", "set", "lo", "up"});
        for (Net n : kNets) {
            auto sw_if = Layout::switch_ifname(n, h);
            auto host_if = Layout::host_ifname(n);
            cmds.push_back({"ip", "-n", sw, "link", "add", sw_if, "type", "veth", "peer", "name",
                            host_if, "netns", ns});
            cmds.push_back({"ip", "-n", sw, "link", "set", sw_if, "master", Layout::bridge(n)});
            cmds.push_back({"ip", "-n", sw, "link", "set", sw_if, "up"});
            cmds.push_back(
                {"ip", "-n", ns, "addr", "add", l.address(n, h) + "/24", "dev", host_if});
            cmds.push_back({"ip", "-n", ns, "link", "set", host_if, "up"});
        }
    }
    for (const auto& c : cmds)
        if (auto r = run_ok(c); !r) return std::unexpected(r.error());
    return {};
}

Result<> write_host_files(const Layout& l, int h) {
    auto dir = l.host_dir(h);
    for (const char* d : {"etc/libvirt/qemu", "etc/corosync", "var/lib/libvirt",
                          "var/cache/libvirt", "var/log/libvirt", "var/lib/corosync", "log"}) {
        std::error_code ec;
        fs::create_directories(dir / d, ec);
        if (ec) return fail("cannot create " + (dir / d).string() + ": " + ec.message());
    }
    const std::pair<const char*, std::string> files[] = {
        {"etc/libvirt/libvirtd.conf", Layout::libvirtd_conf()},
        {"etc/libvirt/qemu.conf", Layout::qemu_conf()},
        {"etc/libvirt/qemu-lockd.conf", Layout::qemu_lockd_conf()},
        {"etc/libvirt/virtlogd.conf", ""},
        {"etc/libvirt/virtlockd.conf", ""},
        {"etc/corosync/corosync.conf", l.corosync_conf(h)},
    };
    for (const auto& [name, text] : files)
        if (auto r = write_file(dir / name, text); !r) return r;
    return {};
}

json state_json(const Layout& l, const std::vector<HostState>& hosts,
                const std::vector<std::vector<int>>& partition, double up_seconds) {
    json j;
    j["run_id"] = l.run_id();
    j["hosts"] = l.hosts();
    j["vms"] = l.vms();
    j["up_seconds"] = up_seconds;
    j["partition"] = partition;
    json hs = json::array();
    for (const auto& h : hosts) {
        json cut = json::array();
        for (Net n : h.cut) cut.push_back(net_name(n));
        hs.push_back({{"init", h.init},
                      {"power", power_name(h.power)},
                      {"cut", cut},
                      {"storage", storage_mode_name(h.storage)}});
    }
    j["host_state"] = hs;
    return j;
}

}  // namespace

Result<Lab> Lab::up(const fs::path& root, int hosts, int vms, const Tools& tools,
                    std::ostream& log) {
    auto t0 = std::chrono::steady_clock::now();
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) return fail("cannot create " + root.string() + ": " + ec.message());
    if (auto r = down(root, log); !r) return std::unexpected(r.error());
    auto layout = Layout::make(root, new_run_id(), hosts, vms);
    if (!layout) return std::unexpected(layout.error());
    Lab lab(*layout, tools);
    const auto& l = lab.layout_;
    log << "lab: run " << l.run_id() << ", " << hosts << " hosts, " << vms << " VMs, in "
        << l.run_dir().string() << "\n";
    fs::create_directories(l.shared_dir() / "lockspace", ec);
    fs::create_directories(l.shared_dir() / "domains", ec);
    if (ec) return fail("cannot create " + l.shared_dir().string() + ": " + ec.message());
    // State first: if this process dies half-way, the next up or down still
    // finds the run by its id.
    if (auto r = lab.save(); !r) return std::unexpected(r.error());
    // A bring-up that fails takes down what it made; the error carries the
    // logs that explain it.
    auto undo = [&](Error e) -> Result<Lab> {
        log << "lab: bring-up failed: " << e.what << "\n";
        (void)down(root, log);
        return std::unexpected(e);
    };
    if (auto r = net_setup(l); !r) return undo(r.error());
    for (int h = 1; h <= hosts; ++h) {
        if (auto r = write_host_files(l, h); !r) return undo(r.error());
        auto pid = start_host_init(l, h, tools);
        if (!pid) return undo(pid.error());
        lab.host(h).init = *pid;
        if (auto r = lab.save(); !r) return undo(r.error());
    }
    log << "lab: hosts started, waiting for libvirtd and a quorate membership\n";
    for (int h = 1; h <= hosts; ++h) {
        std::string last;
        bool ok = wait_until(
            [&] {
                auto r = lab.virsh(h, {"version"});
                if (!r) last = r.error().what;
                return r.has_value();
            },
            std::chrono::seconds(40), std::chrono::milliseconds(200));
        if (!ok) {
            auto tail = [&](const char* name) {
                auto text = read_file(l.host_dir(h) / "log" / name).value_or("");
                return text.substr(text.size() > 1500 ? text.size() - 1500 : 0);
            };
            return undo(Error{"libvirtd on " + l.host_name(h) + " does not answer: " + last +
                              "\n--- init.log\n" + tail("init.log") + "--- libvirtd.log\n" +
                              tail("libvirtd.log")});
        }
    }
    for (int h = 1; h <= hosts; ++h) {
        bool ok = wait_until([&] { return lab.quorate(h).value_or(false); },
                             std::chrono::seconds(30), std::chrono::milliseconds(200));
        if (!ok) return undo(Error{"corosync on " + l.host_name(h) + " is not quorate"});
    }
    for (int v = 1; v <= vms; ++v) {
        if (auto r = write_guest_disk(l.vm_image(v), tools.guest_image, kDiskSize); !r)
            return undo(r.error());
        if (auto r =
                write_file(l.shared_dir() / "domains" / (l.vm_name(v) + ".xml"), l.domain_xml(v));
            !r)
            return undo(r.error());
        int h = l.vm_home(v);
        if (auto r = lab.virsh(h, {"define", l.vm_xml_in_host(v)}); !r) return undo(r.error());
        if (auto r = lab.virsh(h, {"start", l.vm_name(v)}); !r) return undo(r.error());
    }
    for (int v = 1; v <= vms; ++v) {
        bool ok = wait_until(
            [&] {
                auto s = read_stamps(l.vm_image(v));
                return s && !s->empty();
            },
            std::chrono::seconds(20), std::chrono::milliseconds(100));
        if (!ok) return undo(Error{l.vm_name(v) + " never wrote a stamp"});
    }
    lab.up_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (auto r = lab.save(); !r) return undo(r.error());
    lab.record("lab", "up", std::to_string(hosts) + " hosts, " + std::to_string(vms) + " VMs");
    log << "lab: up in " << std::fixed << std::setprecision(1) << lab.up_seconds_ << " s\n";
    return lab;
}

Result<Lab> Lab::load(const fs::path& root) {
    auto text = read_file(state_file(root));
    if (!text) return fail("no lab is up under " + root.string());
    json j;
    try {
        j = json::parse(*text);
        auto layout = Layout::make(root, j.at("run_id").get<std::string>(),
                                   j.at("hosts").get<int>(), j.at("vms").get<int>());
        if (!layout) return std::unexpected(layout.error());
        Lab lab(*layout, Tools::from_build());
        lab.up_seconds_ = j.value("up_seconds", 0.0);
        lab.partition_ = j.value("partition", std::vector<std::vector<int>>{});
        if (j.contains("host_state")) {
            int h = 1;
            for (const auto& hs : j["host_state"]) {
                if (h > layout->hosts()) break;
                auto& s = lab.host(h++);
                s.init = hs.value("init", 0);
                auto p = hs.value("power", "on");
                s.power = p == "off" ? Power::kOff : p == "hung" ? Power::kHung : Power::kOn;
                for (const auto& n : hs.value("cut", std::vector<std::string>{}))
                    if (auto net = parse_net(n)) s.cut.insert(*net);
                s.storage =
                    parse_storage_mode(hs.value("storage", "ok")).value_or(StorageMode::kOk);
            }
        }
        return lab;
    } catch (const json::exception& e) {
        return fail("corrupt lab state " + state_file(root).string() + ": " + e.what());
    }
}

Result<> Lab::down(const fs::path& root, std::ostream& log) {
    std::set<std::string> ids;
    if (auto text = read_file(state_file(root))) {
        try {
            ids.insert(json::parse(*text).at("run_id").get<std::string>());
        } catch (const json::exception&) {
            log << "lab: ignoring corrupt " << state_file(root).string() << "\n";
        }
    }
    std::error_code ec;
    if (fs::is_directory(root, ec))
        for (const auto& e : fs::directory_iterator(root, ec)) {
            auto name = e.path().filename().string();
            if (name.starts_with("run-")) ids.insert(name.substr(4));
        }
    for (const auto& id : ids) {
        log << "lab: removing run " << id << "\n";
        remove_run(root, id, log);
    }
    fs::remove(state_file(root), ec);
    return {};
}

Result<> Lab::save() const {
    return write_file(state_file(layout_.root()),
                      state_json(layout_, hosts_, partition_, up_seconds_).dump(2) + "\n");
}

void Lab::record(const std::string& kind, const std::string& action, const std::string& detail) {
    json j{{"t", now_s()}, {"kind", kind}, {"action", action}, {"detail", detail}};
    (void)append_line(layout_.events_file(), j.dump());
}

Result<Place> Lab::place(int h) const {
    const auto& s = host(h);
    if (s.init == 0 || state_of(s.init) == '\0' || state_of(s.init) == 'Z')
        return fail(layout_.host_name(h) + " is down (its init is gone)");
    return Place{.netns = fs::path("/run/netns") / layout_.host_netns(h), .mount_of = s.init};
}

Result<std::string> Lab::exec(int h, const std::vector<std::string>& argv) const {
    auto p = place(h);
    if (!p) return std::unexpected(p.error());
    return run_ok(argv, *p, std::chrono::seconds(20));
}

Result<std::string> Lab::virsh(int h, const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"virsh", "-q", "-c", "qemu:///system"};
    argv.insert(argv.end(), args.begin(), args.end());
    return exec(h, argv);
}

Result<bool> Lab::quorate(int h) const {
    auto p = place(h);
    if (!p) return std::unexpected(p.error());
    auto r = run({"corosync-quorumtool", "-s"}, *p, std::chrono::seconds(5));
    if (!r) return std::unexpected(r.error());
    if (r->out.find("Quorate:") == std::string::npos)
        return fail("corosync on " + layout_.host_name(h) + " does not answer: " + r->err);
    auto line = r->out.substr(r->out.find("Quorate:"));
    line = line.substr(0, line.find('\n'));
    return line.find("Yes") != std::string::npos;
}

std::vector<pid_t> Lab::processes(int h) const {
    return pids_in_ns("net", ns_inode(fs::path("/run/netns") / layout_.host_netns(h)));
}

Result<> Lab::apply_links(int h) const {
    const auto& s = host(h);
    for (Net n : kNets) {
        bool up = s.power == Power::kOn && !s.cut.contains(n);
        // hung hosts keep their carrier: the links are fine, the host is not
        if (s.power == Power::kHung) up = !s.cut.contains(n);
        auto r = run_ok({"ip", "-n", layout_.host_netns(h), "link", "set", Layout::host_ifname(n),
                         up ? "up" : "down"});
        if (!r) return std::unexpected(r.error());
    }
    return {};
}

std::string Lab::status_json() const {
    json j = state_json(layout_, hosts_, partition_, up_seconds_);
    json hs = json::array();
    for (int h = 1; h <= layout_.hosts(); ++h) {
        const auto& s = host(h);
        // A host whose init died without the nemesis (its watchdog reset it)
        // is down all the same.
        bool alive = place(h).has_value();
        json e{{"name", layout_.host_name(h)},
               {"power",
                s.power == Power::kOn && !alive ? std::string_view("down") : power_name(s.power)},
               {"processes", processes(h).size()},
               {"storage", storage_mode_name(s.storage)}};
        json cut = json::array();
        for (Net n : s.cut) cut.push_back(net_name(n));
        e["cut"] = cut;
        if (s.power == Power::kOn && alive) {
            auto q = quorate(h);
            e["quorate"] = q ? json(*q) : json(nullptr);
            json vms = json::object();
            if (auto list = virsh(h, {"list", "--all", "--name"})) {
                std::istringstream in(*list);
                for (std::string name; std::getline(in, name);) {
                    if (name.empty()) continue;
                    auto st = virsh(h, {"domstate", "--reason", name});
                    auto text = st ? *st : std::string("unknown");
                    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
                        text.pop_back();
                    vms[name] = text;
                }
            }
            e["vms"] = vms;
        }
        hs.push_back(e);
    }
    j["host_status"] = hs;
    return j.dump(2);
}

void Lab::print_status(std::ostream& out) const {
    auto j = json::parse(status_json());
    out << "run " << layout_.run_id() << ": " << layout_.hosts() << " hosts, " << layout_.vms()
        << " VMs, up in " << std::fixed << std::setprecision(1) << up_seconds_ << " s\n";
    for (const auto& h : j["host_status"]) {
        out << "  " << h["name"].get<std::string>() << "  power " << h["power"].get<std::string>()
            << "  processes " << h["processes"].get<size_t>() << "  storage "
            << h["storage"].get<std::string>();
        if (!h["cut"].empty()) out << "  cut " << h["cut"].dump();
        if (h.contains("quorate"))
            out << "  quorate "
                << (h["quorate"].is_null()     ? "?"
                    : h["quorate"].get<bool>() ? "yes"
                                               : "no");
        out << "\n";
        if (h.contains("vms"))
            for (const auto& [name, st] : h["vms"].items())
                out << "      " << name << ": " << st.get<std::string>() << "\n";
    }
    if (!partition_.empty()) out << "  partition " << json(partition_).dump() << "\n";
}

}  // namespace vigil::lab
