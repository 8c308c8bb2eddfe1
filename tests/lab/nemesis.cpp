#include "tests/lab/nemesis.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <set>
#include <thread>

#include "tests/lab/host_init.h"

namespace vigil::lab {
namespace {

Result<> require_on(const Lab& lab, int host) {
    if (lab.host(host).power == Power::kOff)
        return fail(lab.layout().host_name(host) + " is powered off");
    return {};
}

std::string nets_text(const std::vector<Net>& nets) {
    std::string s;
    for (Net n : nets) s += (s.empty() ? "" : ",") + std::string(net_name(n));
    return s;
}

// What the host's storage view must do now: its own mode, unless its
// storage network is cut, which hangs I/O whatever the array does.
StorageMode effective_storage(const HostState& s) {
    return s.cut.contains(Net::kStorage) ? StorageMode::kStall : s.storage;
}

std::string faultfs_mode(StorageMode mode) {
    switch (mode) {
        case StorageMode::kOk:
            return "ok";
        case StorageMode::kFail:
            return "eio";
        case StorageMode::kEnospc:
            return "enospc";
        case StorageMode::kStall:
            return "stall";
        case StorageMode::kSlow:
            return "slow 200";
    }
    return "ok";
}

Result<> apply_storage(const Lab& lab, int host) {
    const auto& s = lab.host(host);
    // A host that is off or was reset has no storage view to set; it gets a
    // fresh one at power-on.
    if (s.power == Power::kOff || !lab.place(host)) return {};
    auto mode = effective_storage(s);
    if (!lab.tools().faultfs) {
        if (mode == StorageMode::kOk) return {};
        return fail("storage faults need vigil-faultfs, which is not built");
    }
    std::vector<std::string> argv{lab.tools().faultfs->string(), "ctl",
                                  faultfs_control(lab.layout(), host).string()};
    auto words = faultfs_mode(mode);
    // A volume's fault is its disk file's: what the host's view shows of it.
    if (mode != StorageMode::kOk && s.storage_vm > 0 && !s.cut.contains(Net::kStorage))
        words += " file " + lab.layout().vm_image(s.storage_vm).filename().string();
    for (size_t at = 0; at < words.size();) {
        auto sp = words.find(' ', at);
        argv.push_back(words.substr(at, sp - at));
        at = sp == std::string::npos ? words.size() : sp + 1;
    }
    if (auto r = run_ok(argv, {}, std::chrono::seconds(10)); !r) return std::unexpected(r.error());
    return {};
}

Result<> signal_host(const Lab& lab, int host, int sig) {
    if (auto r = foreign_host(lab, host); !r) return r;
    for (pid_t p : lab.processes(host)) ::kill(p, sig);
    return {};
}

}  // namespace

Result<> power_off(Lab& lab, int host) {
    if (auto r = require_on(lab, host); !r) return r;
    if (auto r = foreign_host(lab, host); !r) return r;
    auto& s = lab.host(host);
    lab.record("fault", "power-off", lab.layout().host_name(host));
    // The init is PID 1 of the host's PID namespace: the kernel kills the
    // rest with it. What the host left in its network namespace goes too.
    if (s.init > 0) ::kill(s.init, SIGKILL);
    auto procs = lab.processes(host);
    // Everything but the init first, so the init reaps them; then the init.
    for (pid_t p : procs)
        if (p != s.init) {
            ::kill(p, SIGKILL);
            ::kill(p, SIGCONT);
        }
    (void)wait_until([&] { return lab.processes(host).size() <= 1; }, std::chrono::seconds(3));
    for (pid_t p : lab.processes(host)) {
        ::kill(p, SIGKILL);
        ::kill(p, SIGCONT);
    }
    (void)wait_until([&] { return lab.processes(host).empty(); }, std::chrono::seconds(5));
    // A power cut stops the host's hardware too, its watchdog included.
    lab.stop_watchdog(host);
    s.power = Power::kOff;
    if (auto r = lab.apply_links(host); !r) return r;
    if (!lab.processes(host).empty())
        return fail("processes of " + lab.layout().host_name(host) + " survived SIGKILL");
    return lab.save();
}

Result<> power_on(Lab& lab, int host, std::ostream& log) {
    auto& s = lab.host(host);
    const auto name = lab.layout().host_name(host);
    if (lab.place(host))
        return fail(name + " is running (power-off, or wait for its reset, first)");
    if (auto r = foreign_host(lab, host); !r) return r;
    // What a reset left: its watchdog and anything in its network namespace.
    lab.stop_watchdog(host);
    for (pid_t p : lab.processes(host)) ::kill(p, SIGKILL);
    (void)wait_until([&] { return lab.processes(host).empty(); }, std::chrono::seconds(5));
    s.power = Power::kOn;
    s.storage = StorageMode::kOk;
    s.storage_vm = 0;
    if (auto r = lab.apply_links(host); !r) return r;
    if (auto r = lab.boot(host, log); !r) {
        s.power = Power::kOff;
        // The boot's error is the one returned; a state not saved is told.
        if (auto saved = lab.save(); !saved)
            log << "lab: cannot save the state of " << name << ": " << saved.error().what << "\n";
        return r;
    }
    lab.record("repair", "power-on", name);
    if (auto r = lab.save(); !r) return r;
    // Booted when libvirtd answers and corosync has it back in the cluster.
    if (!wait_until([&] { return lab.virsh(host, {"version"}).has_value(); },
                    std::chrono::seconds(40), std::chrono::milliseconds(200)))
        return fail("libvirtd on " + name + " does not answer after power-on");
    if (!wait_until([&] { return lab.quorate(host).value_or(false); }, std::chrono::seconds(30),
                    std::chrono::milliseconds(200)))
        return fail(name + " did not rejoin a quorate membership after power-on");
    return {};
}

Result<> hang(Lab& lab, int host) {
    if (auto r = require_on(lab, host); !r) return r;
    lab.record("fault", "hang", lab.layout().host_name(host));
    if (auto r = signal_host(lab, host, SIGSTOP); !r) return r;
    lab.host(host).power = Power::kHung;
    return lab.save();
}

Result<> resume(Lab& lab, int host) {
    if (auto r = require_on(lab, host); !r) return r;
    if (auto r = signal_host(lab, host, SIGCONT); !r) return r;
    lab.host(host).power = Power::kOn;
    lab.record("repair", "resume", lab.layout().host_name(host));
    return lab.save();
}

Result<> cut(Lab& lab, int host, const std::vector<Net>& nets) {
    if (auto r = require_on(lab, host); !r) return r;
    auto& s = lab.host(host);
    lab.record("fault", "cut", lab.layout().host_name(host) + " " + nets_text(nets));
    for (Net n : nets) s.cut.insert(n);
    if (auto r = lab.apply_links(host); !r) return r;
    // Only a cut storage network changes what the storage view must do.
    if (std::find(nets.begin(), nets.end(), Net::kStorage) != nets.end())
        if (auto r = apply_storage(lab, host); !r) return r;
    return lab.save();
}

Result<> reconnect(Lab& lab, int host, const std::vector<Net>& nets) {
    if (auto r = require_on(lab, host); !r) return r;
    auto& s = lab.host(host);
    bool storage_too = false;
    for (Net n : nets) {
        s.cut.erase(n);
        storage_too = storage_too || n == Net::kStorage;
    }
    if (auto r = lab.apply_links(host); !r) return r;
    if (storage_too)
        if (auto r = apply_storage(lab, host); !r) return r;
    lab.record("repair", "reconnect", lab.layout().host_name(host) + " " + nets_text(nets));
    return lab.save();
}

Result<> heal(Lab& lab) {
    const auto& l = lab.layout();
    auto sw = l.switch_netns();
    for (Net n : kNets) {
        for (int h = 1; h <= l.hosts(); ++h) {
            auto r = run_ok({"ip", "-n", sw, "link", "set", Layout::switch_ifname(n, h), "master",
                             Layout::bridge(n)});
            if (!r) return std::unexpected(r.error());
        }
        for (size_t g = 2; g <= lab.partition().size(); ++g)
            // NOLINTNEXTLINE(bugprone-unused-return-value): best effort, no host is on it now
            (void)run({"ip", "-n", sw, "link", "del", Layout::bridge(n, static_cast<int>(g))});
    }
    lab.partition().clear();
    for (int h = 1; h <= l.hosts(); ++h) {
        lab.host(h).cut.clear();
        if (auto r = lab.apply_links(h); !r) return r;
        if (auto r = apply_storage(lab, h); !r) return r;
    }
    lab.record("repair", "heal", "every network");
    return lab.save();
}

Result<> storage(Lab& lab, int host, StorageMode mode, int vm) {
    const auto& l = lab.layout();
    std::vector<int> hosts;
    if (host == 0) {
        for (int h = 1; h <= l.hosts(); ++h) hosts.push_back(h);
    } else {
        if (auto r = require_on(lab, host); !r) return r;
        hosts.push_back(host);
    }
    if (vm < 0 || vm > l.vms()) return fail("no guest " + std::to_string(vm) + " in this lab");
    lab.record(mode == StorageMode::kOk ? "repair" : "fault", "storage",
               (host == 0 ? std::string("all") : l.host_name(host)) + " " +
                   std::string(storage_mode_name(mode)) + (vm ? " " + l.vm_name(vm) : ""));
    for (int h : hosts) {
        lab.host(h).storage = mode;
        lab.host(h).storage_vm = mode == StorageMode::kOk ? 0 : vm;
        if (auto r = apply_storage(lab, h); !r) return r;
    }
    return lab.save();
}

Result<> kill_daemon(Lab& lab, int host) {
    if (auto r = require_on(lab, host); !r) return r;
    int killed = 0;
    for (pid_t p : lab.processes(host))
        if (comm_of(p) == "vigild") {
            ::kill(p, SIGKILL);
            ++killed;
        }
    if (killed == 0) return fail("vigild is not running on " + lab.layout().host_name(host));
    lab.record("fault", "kill-daemon", lab.layout().host_name(host));
    return lab.save();
}

Result<> stop_daemon(Lab& lab, int host) {
    if (auto r = require_on(lab, host); !r) return r;
    const auto mark = vigild_stopped_mark(lab.layout(), host);
    { std::ofstream(mark) << "stopped\n"; }
    std::vector<pid_t> vigild;
    for (pid_t p : lab.processes(host))
        if (comm_of(p) == "vigild") vigild.push_back(p);
    if (vigild.empty()) return fail("vigild is not running on " + lab.layout().host_name(host));
    for (pid_t p : vigild) ::kill(p, SIGTERM);
    lab.record("fault", "stop-daemon", lab.layout().host_name(host));
    // The unit's TimeoutStopSec (packaging/vigild.service).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
        bool running = false;
        for (pid_t p : lab.processes(host)) running = running || comm_of(p) == "vigild";
        if (!running) break;
        if (std::chrono::steady_clock::now() > deadline)
            return fail("vigild on " + lab.layout().host_name(host) +
                        " did not exit within 20 s of SIGTERM");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    lab.record("lab", "vigild exited", lab.layout().host_name(host));
    return lab.save();
}

Result<> start_daemon(Lab& lab, int host) {
    if (auto r = require_on(lab, host); !r) return r;
    std::error_code ec;
    std::filesystem::remove(vigild_stopped_mark(lab.layout(), host), ec);
    lab.record("fault", "start-daemon", lab.layout().host_name(host));
    return lab.save();
}

Result<> partition(Lab& lab, const std::vector<std::vector<int>>& groups,
                   const std::vector<Net>& nets) {
    const auto& l = lab.layout();
    if (!lab.partition().empty()) {
        if (auto r = heal(lab); !r) return r;
    }
    auto sw = l.switch_netns();
    for (Net n : nets) {
        for (size_t g = 1; g < groups.size(); ++g) {
            auto br = Layout::bridge(n, static_cast<int>(g + 1));
            // A switch sends nothing of its own. A new bridge with IPv6 would
            // (duplicate address detection, router solicitations for many
            // seconds), and a host alone behind it would keep receiving and
            // never see its link idle.
            for (const auto& args : std::vector<std::vector<std::string>>{
                     {"ip", "-n", sw, "link", "add", br, "type", "bridge"},
                     {"ip", "netns", "exec", sw, "sysctl", "-qw",
                      "net.ipv6.conf." + br + ".disable_ipv6=1"},
                     {"ip", "-n", sw, "link", "set", br, "up"}})
                if (auto r = run_ok(args); !r) return std::unexpected(r.error());
            for (int h : groups[g]) {
                auto r = run_ok(
                    {"ip", "-n", sw, "link", "set", Layout::switch_ifname(n, h), "master", br});
                if (!r) return std::unexpected(r.error());
            }
        }
    }
    lab.partition() = groups;
    std::string text;
    for (const auto& g : groups) {
        if (!text.empty()) text += "/";
        for (size_t i = 0; i < g.size(); ++i) text += (i ? "," : "") + l.host_name(g[i]);
    }
    lab.record("fault", "partition", text + " " + nets_text(nets));
    return lab.save();
}

Result<std::vector<std::vector<int>>> parse_groups(const Layout& layout, std::string_view text) {
    std::vector<std::vector<int>> groups(1);
    std::set<int> seen;
    std::string word;
    auto flush = [&]() -> Result<> {
        auto h = layout.host_index(word);
        if (!h) return fail("no host '" + word + "' in this lab");
        if (!seen.insert(*h).second) return fail(word + " appears twice");
        groups.back().push_back(*h);
        word.clear();
        return {};
    };
    for (char c : text) {
        if (c == ',' || c == '/') {
            if (auto r = flush(); !r) return std::unexpected(r.error());
            if (c == '/') groups.emplace_back();
        } else {
            word += c;
        }
    }
    if (auto r = flush(); !r) return std::unexpected(r.error());
    if (groups.size() < 2) return fail("a partition needs at least two groups: h1,h2/h3");
    return groups;
}

Result<std::vector<Net>> parse_nets(std::string_view text) {
    if (text == "all") return std::vector<Net>(kNets.begin(), kNets.end());
    if (auto n = parse_net(text)) return std::vector<Net>{*n};
    return fail("network must be cluster, vm, storage or all, not '" + std::string(text) + "'");
}

}  // namespace vigil::lab
