// vigil-fence-probe: vigild's own self-fence path (fence::reboot_now with the
// real reboot(2) and SysRq calls) for the lab's self-fence test, run inside a
// lab host. It refuses to act unless it can prove a reboot ends only a lab
// host: its PID namespace is not the one given as the machine's (by inode),
// and the SysRq trigger it would write is either absent or a file that is not
// procfs's (the host's cover file, bound over it).
//
//   vigil-fence-probe --machine-pidns INODE [--check-only]
//
// Prints one JSON line with what it checked; exit 0 (check-only and safe),
// 3 (refused), 1 (reboot_now returned, with its reasons).
#include <sys/stat.h>
#include <sys/vfs.h>

#include <linux/magic.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "fence/reboot.h"

namespace {

constexpr const char* kTrigger = "/proc/sysrq-trigger";

bool mounted_at(const char* path) {
    std::ifstream in("/proc/self/mountinfo");
    const std::string want = std::string(" ") + path + " ";
    for (std::string line; std::getline(in, line);)
        if (line.find(want) != std::string::npos) return true;
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned long long machine = 0;
    bool check_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--check-only") {
            check_only = true;
        } else if (a == "--machine-pidns" && i + 1 < argc) {
            machine = std::strtoull(argv[++i], nullptr, 10);
        } else {
            std::fprintf(stderr, "usage: vigil-fence-probe --machine-pidns INODE [--check-only]\n");
            return 2;
        }
    }
    struct stat ns {};
    const bool ns_readable = ::stat("/proc/self/ns/pid", &ns) == 0;
    const bool own_pidns = machine != 0 && ns_readable && ns.st_ino != machine;

    std::string trigger = "absent";
    bool trigger_safe = false;
    struct stat st {};
    if (::stat(kTrigger, &st) != 0) {
        trigger_safe = errno == ENOENT;
        if (!trigger_safe) trigger = std::string("unreadable: ") + std::strerror(errno);
    } else {
        struct statfs fs {};
        const bool procfs = ::statfs(kTrigger, &fs) != 0 || fs.f_type == PROC_SUPER_MAGIC;
        trigger_safe = !procfs && mounted_at(kTrigger);
        trigger = trigger_safe ? "covered" : "NOT covered";
    }
    const bool safe = own_pidns && trigger_safe;
    std::printf(
        "{\"kind\": \"checks\", \"pidns\": %llu, \"machine_pidns\": %llu, \"own_pidns\": %s, "
        "\"trigger\": \"%s\", \"safe\": %s}\n",
        ns_readable ? static_cast<unsigned long long>(ns.st_ino) : 0ULL, machine,
        own_pidns ? "true" : "false", trigger.c_str(), safe ? "true" : "false");
    std::fflush(stdout);
    if (!safe) return 3;
    if (check_only) return 0;
    vigil::fence::LinuxRebootCalls calls;
    auto err = vigil::fence::reboot_now(calls);
    std::printf("{\"kind\": \"returned\", \"error\": \"%s\"}\n", err.message.c_str());
    return 1;
}
