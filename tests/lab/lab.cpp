#include "tests/lab/lab.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "tests/lab/host_init.h"
#include "tests/lab/loops.h"
#include "tests/lab/safety.h"
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

constexpr size_t kDiskSize = size_t{1024} * 1024;

std::error_code& ec_ignore() {
    thread_local std::error_code ec;
    return ec;
}

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
    // Each host's loop devices went with its init (autoclear); whatever of
    // this run is still attached (a host that could not be killed, an
    // attach racing the end) is detached here.
    detach_loops_of_run(run_id, log);
    // Outside the hosts: each host's power process (it ends with its init)
    // and its emulated watchdog (stopped, so that it unmounts itself).
    auto run_dir = (root / ("run-" + run_id)).string();
    auto ours = [&](pid_t p) {
        std::error_code e;
        auto cwd = fs::read_symlink("/proc/" + std::to_string(p) + "/cwd", e).string();
        if (cwd.starts_with(run_dir + "/")) return true;
        for (const auto& a : cmdline_of(p))
            if (a.starts_with(run_dir + "/")) return true;
        return false;
    };
    std::vector<pid_t> outside;
    for (pid_t p : pids_in_ns("pid", ns_inode("/proc/self/ns/pid"))) {
        auto comm = comm_of(p);
        if ((comm.starts_with("lab-power-") || comm.starts_with("vigil-watchdog")) && ours(p)) {
            outside.push_back(p);
            if (comm.starts_with("vigil-watchdog")) ::kill(p, SIGTERM);
        }
    }
    if (!wait_until([&] { return std::all_of(outside.begin(), outside.end(), gone); },
                    std::chrono::seconds(5))) {
        for (pid_t p : outside) ::kill(p, SIGKILL);
        (void)wait_until([&] { return std::all_of(outside.begin(), outside.end(), gone); },
                         std::chrono::seconds(5));
    }
    std::error_code ec;
    if (fs::is_directory(run_dir, ec))
        for (const auto& e : fs::directory_iterator(run_dir, ec))
            if (e.path().filename().string().starts_with("h"))
                ::umount2((e.path() / "watchdog").c_str(), MNT_DETACH);
    fs::remove_all(root / ("run-" + run_id), ec);
    if (ec) log << "warning: cannot remove run directory: " << ec.message() << "\n";
}

Result<> net_setup(const Layout& l) {
    auto sw = l.switch_netns();
    if (auto r = run_ok({"ip", "netns", "add", sw}); !r) return std::unexpected(r.error());
    // A switch sends nothing of its own. With IPv6 its bridges and ports
    // would: each port solicits routers from the host behind it, again and
    // again at growing intervals, and a host alone behind a partition would
    // receive those and not see its link idle for seconds (F7-vm missed its
    // bound so). Devices made here later take the default.
    std::vector<std::vector<std::string>> cmds = {
        {"ip", "netns", "exec", sw, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
         "net.ipv6.conf.default.disable_ipv6=1"},
        {"ip", "-n", sw, "link", "set", "lo", "up"}};
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
    for (const char* d :
         {"etc/libvirt/qemu", "etc/corosync", "etc/vigil", "var/lib/libvirt", "var/cache/libvirt",
          "var/log/libvirt", "var/lib/corosync", "var/lib/vigil", "log", "watchdog"}) {
        std::error_code ec;
        fs::create_directories(dir / d, ec);
        if (ec) return fail("cannot create " + (dir / d).string() + ": " + ec.message());
    }
    const std::pair<const char*, std::string> files[] = {
        {"etc/libvirt/libvirtd.conf", l.libvirtd_conf(h)},
        {"etc/libvirt/qemu.conf", l.qemu_conf(h)},
        {"etc/libvirt/qemu-lockd.conf", Layout::qemu_lockd_conf()},
        {"etc/libvirt/virtlogd.conf", ""},
        {"etc/libvirt/virtlockd.conf", ""},
        {"etc/corosync/corosync.conf", l.corosync_conf(h)},
        {"etc/vigil/vigil.toml", l.vigil_toml(h)},
    };
    for (const auto& [name, text] : files)
        if (auto r = write_file(dir / name, text); !r) return r;
    // One knet key per run, the same on every host.
    auto key = read_file(l.run_dir() / "authkey");
    if (!key) return std::unexpected(key.error());
    if (auto r = write_file(dir / "etc/corosync/authkey", *key); !r) return r;
    fs::permissions(dir / "etc/corosync/authkey", fs::perms::owner_read, ec_ignore());
    // The webhook's bearer token, one per run, the same on every host; root
    // only, as vigild demands.
    auto token = read_file(l.run_dir() / "webhook.token");
    if (!token) return std::unexpected(token.error());
    auto token_file = dir / fs::path(kInHostWebhookToken).relative_path();
    if (auto r = write_file(token_file, *token); !r) return r;
    fs::permissions(token_file, fs::perms::owner_read | fs::perms::owner_write, ec_ignore());
    // The recording hook (layout.h): root's, not writable by others.
    auto hooks = dir / fs::path(kInHostHooksDir).relative_path();
    fs::create_directories(hooks, ec_ignore());
    if (auto r = write_file(hooks / "record", Layout::record_hook()); !r) return r;
    fs::permissions(hooks / "record",
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec,
                    ec_ignore());
    return {};
}

// Makes the run's corosync key (corosync-keygen's size, from the kernel's
// random source) and its webhook token (48 hex digits).
Result<> make_authkey(const Layout& l) {
    std::string key(256 + 24, '\0');
    int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::read(fd, key.data(), key.size()) != static_cast<ssize_t>(key.size())) {
        if (fd >= 0) ::close(fd);
        return fail("cannot read /dev/urandom");
    }
    ::close(fd);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string token;
    for (size_t i = 256; i < key.size(); ++i) {
        auto b = static_cast<unsigned char>(key[i]);
        token += kHex[b >> 4];
        token += kHex[b & 15];
    }
    key.resize(256);
    if (auto r = write_file(l.run_dir() / "webhook.token", token + "\n"); !r) return r;
    fs::permissions(l.run_dir() / "webhook.token", fs::perms::owner_read | fs::perms::owner_write,
                    ec_ignore());
    return write_file(l.run_dir() / "authkey", key);
}

// The machine's mount points for each host's /etc/vigil and /var/lib/vigil,
// made empty if missing; nothing is ever written in them.
Result<> make_mount_points() {
    for (const char* d : {"/etc/vigil", "/var/lib/vigil"}) {
        std::error_code ec;
        if (fs::is_directory(d, ec)) continue;
        fs::create_directory(d, ec);
        if (ec)
            return fail(std::string("cannot create the mount point ") + d + ": " + ec.message());
    }
    return {};
}

// Whether this vigild reads the lab's generated config (cluster mode): until
// its parser knows [cluster], it runs standalone without one. Any other
// complaint about the file is the lab's mistake and stops the bring-up.
// The lab's config must pass vigild's own check (timing chain, corosync
// facts are checked again at start); a refusal is the lab's bug.
Result<> vigild_takes_config(const Layout& l, const Tools& tools) {
    auto r = run({tools.vigild->string(), "--check-config", "--config",
                  (l.host_dir(1) / "etc/vigil/vigil.toml").string()});
    if (!r) return std::unexpected(r.error());
    if (r->status == 0) return {};
    return fail("vigild refuses the lab's config: " + r->err);
}

json state_json(const Layout& l, const std::vector<HostState>& hosts,
                const std::vector<std::vector<int>>& partition, double up_seconds,
                bool vigild_config) {
    json j;
    j["run_id"] = l.run_id();
    j["hosts"] = l.hosts();
    j["vms"] = l.vms();
    j["drain_migrate"] = l.drain_migrate();
    j["up_seconds"] = up_seconds;
    j["vigild_config"] = vigild_config;
    j["partition"] = partition;
    json hs = json::array();
    for (const auto& h : hosts) {
        json cut = json::array();
        for (Net n : h.cut) cut.push_back(net_name(n));
        hs.push_back({{"init", h.init},
                      {"watchdog", h.watchdog},
                      {"power", power_name(h.power)},
                      {"cut", cut},
                      {"storage", storage_mode_name(h.storage)},
                      {"storage_vm", h.storage_vm}});
    }
    j["host_state"] = hs;
    return j;
}

}  // namespace

Result<Lab> Lab::up(const fs::path& root, int hosts, int vms, const Tools& tools, std::ostream& log,
                    UpOptions options) {
    const bool cluster_vigild = options.cluster_vigild;
    auto t0 = std::chrono::steady_clock::now();
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) return fail("cannot create " + root.string() + ": " + ec.message());
    if (auto r = down(root, log); !r) return std::unexpected(r.error());
    auto layout = Layout::make(root, new_run_id(), hosts, vms);
    if (!layout) return std::unexpected(layout.error());
    layout->set_drain_migrate(options.drain_migrate);
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
    auto undo = [&](const Error& e) -> Result<Lab> {
        log << "lab: bring-up failed: " << e.what << "\n";
        // The bring-up's error is the one returned; a failing clean-up is
        // told, not hidden.
        if (auto r = down(root, log); !r)
            log << "lab: taking it down failed too: " << r.error().what << "\n";
        return std::unexpected(e);
    };
    if (auto r = net_setup(l); !r) return undo(r.error());
    if (auto r = make_authkey(l); !r) return undo(r.error());
    if (auto r = make_mount_points(); !r) return undo(r.error());
    for (int h = 1; h <= hosts; ++h)
        if (auto r = write_host_files(l, h); !r) return undo(r.error());
    lab.vigild_config_ = cluster_vigild && tools.vigild.has_value();
    if (lab.vigild_config_) {
        if (auto r = vigild_takes_config(l, tools); !r) return undo(r.error());
    } else {
        // vigild reads /etc/vigil/vigil.toml by default: standalone, it must
        // not find the cluster config there, which is kept under another name.
        log << "lab: vigild runs standalone\n";
        for (int h = 1; h <= hosts; ++h)
            fs::rename(l.host_dir(h) / "etc/vigil/vigil.toml",
                       l.host_dir(h) / "etc/vigil/vigil.toml.cluster", ec);
    }
    if (lab.vigild_config_ && tools.vigilctl) {
        auto r = run_ok({tools.vigilctl->string(), "format-heartbeat", "--area",
                         l.heartbeat_image().string(), "--slots", std::to_string(hosts)});
        if (!r) return undo(r.error());
    }
    // Every disk of the shared storage exists before a host attaches its
    // loop devices to them at boot.
    if (!fs::exists(l.heartbeat_image(), ec))
        if (auto r = write_file(l.heartbeat_image(), std::string(kDiskSize, '\0')); !r)
            return undo(r.error());
    for (int v = 1; v <= vms; ++v)
        if (auto r = write_guest_disk(l.vm_image(v), tools.guest_image, kDiskSize); !r)
            return undo(r.error());
    for (int h = 1; h <= hosts; ++h)
        if (auto r = lab.boot(h, log, true); !r) return undo(r.error());
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
        if (auto r =
                write_file(l.shared_dir() / "domains" / (l.vm_name(v) + ".xml"), l.domain_xml(v));
            !r)
            return undo(r.error());
        // Defined on every host, so any survivor can start it (docs/lab.md);
        // started on its home host only.
        for (int h = 1; h <= hosts; ++h)
            if (auto r = lab.virsh(h, {"define", l.vm_xml_in_host(v)}); !r) return undo(r.error());
        if (auto r = lab.virsh(l.vm_home(v), {"start", l.vm_name(v)}); !r) return undo(r.error());
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
    // Every guest runs where the lab put it: vigild may take over now.
    for (int h = 1; h <= hosts; ++h)
        if (auto r = lab.release_vigild(h); !r) return undo(r.error());
    lab.up_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (auto r = lab.save(); !r) return undo(r.error());
    lab.record("lab", "up", std::to_string(hosts) + " hosts, " + std::to_string(vms) + " VMs");
    log << "lab: up in " << std::fixed << std::setprecision(1) << lab.up_seconds_ << " s\n";
    return lab;
}

void Lab::stop_watchdog(int h) {
    auto& s = host(h);
    auto mnt = layout_.host_dir(h) / "watchdog";
    if (s.watchdog > 0 && !gone(s.watchdog)) {
        // By pid, and only if it is still this host's emulator.
        auto args = cmdline_of(s.watchdog);
        bool mine = std::find(args.begin(), args.end(), mnt.string()) != args.end();
        if (mine) {
            ::kill(s.watchdog, SIGTERM);
            if (!wait_until([&] { return gone(s.watchdog); }, std::chrono::seconds(5)))
                ::kill(s.watchdog, SIGKILL);
            (void)wait_until([&] { return gone(s.watchdog); }, std::chrono::seconds(5));
        }
    }
    ::umount2(mnt.c_str(), MNT_DETACH);
    s.watchdog = 0;
}

Result<std::map<std::string, std::string>> host_loops(const Layout& l, int h) {
    auto text = read_file(loops_file(l, h));
    if (!text) return std::unexpected(text.error());
    auto j = json::parse(*text, nullptr, false);
    if (!j.is_object()) return fail("corrupt " + loops_file(l, h).string());
    std::map<std::string, std::string> out;
    for (const auto& [disk, dev] : j.items())
        if (dev.is_string()) out[disk] = dev.get<std::string>();
    return out;
}

Result<> Lab::release_vigild(int h) {
    const auto& verdict = safety_verdicts_.at(static_cast<size_t>(h - 1));
    if (verdict.empty()) return fail(layout_.host_name(h) + " has not passed its safety checks");
    return write_file(safety_mark(layout_, h), verdict + "\n");
}

Result<> Lab::boot(int h, std::ostream& log, bool hold_vigild) {
    const auto& l = layout_;
    auto& s = host(h);
    auto dir = l.host_dir(h);
    if (tools_.watchdog) {
        // The host's hardware: in the machine's namespaces, detached from
        // this process, its pid kept in the state; mounted in the host's run
        // folder before the host's mount namespace copies it.
        stop_watchdog(h);
        // No stale pid for the new watchdog: an expiry before this boot's
        // init is written down resets nothing rather than an old pid.
        if (auto r = write_file(dir / "init.pid", "0\n"); !r) return r;
        pid_t pid = ::fork();
        if (pid < 0) return fail("fork: " + std::string(std::strerror(errno)));
        if (pid == 0) {
            ::setsid();
            int fd = ::open((dir / "log" / "watchdog.log").c_str(),
                            O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            int devnull = ::open("/dev/null", O_RDONLY);
            ::dup2(devnull, 0);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            std::vector<std::string> argv{tools_.watchdog->string(),         "--mountpoint",
                                          (dir / "watchdog").string(),       "--timeout",
                                          std::to_string(kWatchdogTimeoutS), "--host-init-pidfile",
                                          (dir / "init.pid").string()};
            std::vector<char*> args;
            args.reserve(argv.size() + 1);
            for (auto& a : argv) args.push_back(a.data());
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        s.watchdog = pid;
        if (auto r = save(); !r) return r;
        struct stat st {};
        if (!wait_until([&] { return ::stat((dir / "watchdog" / "status").c_str(), &st) == 0; },
                        std::chrono::seconds(10)))
            return fail("the emulated watchdog of " + l.host_name(h) + " did not mount");
    }
    auto pid = start_host_init(l, h, tools_, vigild_config_);
    if (!pid) return std::unexpected(pid.error());
    s.init = *pid;
    // The emulated watchdog resets the host through this file: without it
    // an expiry would reset nothing.
    if (auto r = write_file(dir / "init.pid", std::to_string(*pid) + "\n"); !r) return r;
    if (auto r = save(); !r) return r;
    // vigild (not started yet) watches this boot's loop devices as the
    // storage domain of every guest.
    if (vigild_config_) {
        auto devices = host_loops(l, h);
        if (!devices) {
            ::kill(s.init, SIGKILL);
            return std::unexpected(devices.error());
        }
        std::vector<std::string> names;
        for (const auto& [disk, dev] : *devices) names.push_back(dev);
        if (auto r = write_file(dir / "etc/vigil/vigil.toml", l.vigil_toml(h, names)); !r) {
            ::kill(s.init, SIGKILL);
            return r;
        }
    }
    safety_verdicts_.resize(static_cast<size_t>(l.hosts()));
    safety_verdicts_.at(static_cast<size_t>(h - 1)).clear();
    auto verdict = probe_safety(*this, h);
    if (!verdict || !verdict->ok()) {
        auto why = verdict ? verdict->text() : verdict.error().what;
        ::kill(s.init, SIGKILL);
        return fail("unsafe host " + l.host_name(h) + ", refused before vigild starts: " + why);
    }
    log << "lab: " << l.host_name(h) << " (init " << s.init << "): " << verdict->text() << "\n";
    safety_verdicts_.at(static_cast<size_t>(h - 1)) = verdict->text();
    if (hold_vigild) return {};
    return release_vigild(h);
}

Result<> foreign_host(const Lab& lab, int h) {
    auto net = ns_inode(fs::path("/run/netns") / lab.layout().host_netns(h));
    if (net == 0 || net == ns_inode("/proc/self/ns/net") || net == ns_inode("/proc/1/ns/net"))
        return fail("refusing " + lab.layout().host_name(h) +
                    ": its network namespace is missing, this process's or PID 1's");
    pid_t init = lab.host(h).init;
    if (init > 0 && state_of(init) != '\0') {
        auto pidns = ns_inode("/proc/" + std::to_string(init) + "/ns/pid");
        if (pidns == ns_inode("/proc/self/ns/pid") || pidns == ns_inode("/proc/1/ns/pid"))
            return fail("refusing " + lab.layout().host_name(h) +
                        ": its init shares this process's or PID 1's PID namespace");
    }
    return {};
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
        layout->set_drain_migrate(j.value("drain_migrate", false));
        Lab lab(*layout, Tools::from_build());
        lab.up_seconds_ = j.value("up_seconds", 0.0);
        lab.vigild_config_ = j.value("vigild_config", false);
        lab.partition_ = j.value("partition", std::vector<std::vector<int>>{});
        if (j.contains("host_state")) {
            int h = 1;
            for (const auto& hs : j["host_state"]) {
                if (h > layout->hosts()) break;
                auto& s = lab.host(h++);
                s.init = hs.value("init", 0);
                s.watchdog = hs.value("watchdog", 0);
                auto p = hs.value("power", "on");
                s.power = p == "off" ? Power::kOff : p == "hung" ? Power::kHung : Power::kOn;
                for (const auto& n : hs.value("cut", std::vector<std::string>{}))
                    if (auto net = parse_net(n)) s.cut.insert(*net);
                s.storage =
                    parse_storage_mode(hs.value("storage", "ok")).value_or(StorageMode::kOk);
                s.storage_vm = hs.value("storage_vm", 0);
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
    return write_file(
        state_file(layout_.root()),
        state_json(layout_, hosts_, partition_, up_seconds_, vigild_config_).dump(2) + "\n");
}

void Lab::record(const std::string& kind, const std::string& action, const std::string& detail) {
    json j{{"t", now_s()}, {"kind", kind}, {"action", action}, {"detail", detail}};
    // A fault goes ahead without its record, but the checker's timeline
    // then lacks it: say so.
    if (auto r = append_line(layout_.events_file(), j.dump()); !r)
        std::cerr << "lab: cannot record " << kind << " " << action << ": " << r.error().what
                  << "\n";
}

Result<Place> Lab::place(int h) const {
    const auto& s = host(h);
    if (s.init == 0 || state_of(s.init) == '\0' || state_of(s.init) == 'Z')
        return fail(layout_.host_name(h) + " is down (its init is gone)");
    return Place{.netns = fs::path("/run/netns") / layout_.host_netns(h),
                 .mount_of = s.init,
                 .pid_of = s.init};
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
    json j = state_json(layout_, hosts_, partition_, up_seconds_, vigild_config_);
    json hs = json::array();
    for (int h = 1; h <= layout_.hosts(); ++h) {
        const auto& s = host(h);
        // A host whose init ended without the nemesis was reset: by its
        // watchdog, or by itself (reboot(2) in its PID namespace ends the
        // init with SIGHUP). Its power process wrote down how.
        bool alive = place(h).has_value();
        bool reset = s.power != Power::kOff && !alive;
        json e{{"name", layout_.host_name(h)},
               {"power", reset ? std::string_view("reset") : power_name(s.power)},
               {"processes", processes(h).size()},
               {"storage", storage_mode_name(s.storage)}};
        if (reset) {
            auto how =
                json::parse(read_file(init_exit_file(layout_, h)).value_or("{}"), nullptr, false);
            std::string why = "init gone";
            if (how.is_object() && how.contains("signal")) {
                int sig = how["signal"].get<int>();
                why = sig == SIGHUP   ? "reboot(2)"
                      : sig == SIGINT ? "halt(2)"
                                      : "init killed by signal " + std::to_string(sig);
            } else if (how.is_object() && how.contains("exit")) {
                why = "init exited " + std::to_string(how["exit"].get<int>());
            }
            e["reset"] = why;
        }
        // What a SysRq write inside the host said (it lands in this file).
        if (auto sysrq = read_file(sysrq_cover(layout_, h)); sysrq && !sysrq->empty())
            e["sysrq"] = *sysrq;
        json cut = json::array();
        for (Net n : s.cut) cut.push_back(net_name(n));
        e["cut"] = cut;
        if (s.power != Power::kOff && alive && s.power != Power::kHung) {
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
            if (auto loops = host_loops(layout_, h)) e["disks"] = *loops;
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
        if (h.contains("reset")) out << " (" << h["reset"].get<std::string>() << ")";
        if (h.contains("sysrq")) out << "  sysrq " << h["sysrq"].dump() << " written";
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
