// /init of the vm test's initramfs: a static program that loads the i6300esb
// driver, opens /dev/watchdog through vigil's Watchdog, and runs the scenario
// named on the kernel command line, reporting each step on the serial console
// for the host side to time:
//   vigil.mode=stop   pet every second for 3 timeouts, then stop petting and
//                     keep printing until the watchdog resets the guest
//   vigil.mode=magic  pet, disarm with the magic close, stay alive for 3
//                     timeouts, then power off
//   vigil.mode=close  pet, then close the device without the magic character,
//                     as a crash would: the timer must keep running
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "fence/watchdog.h"

namespace {

using namespace std::chrono_literals;
using vigil::fence::Watchdog;
using vigil::fence::WatchdogOptions;

void say(const std::string& line) {
    const std::string text = "vigil: " + line + "\n";
    (void)!::write(STDOUT_FILENO, text.data(), text.size());
}

[[noreturn]] void halt_forever() {
    for (;;) std::this_thread::sleep_for(1h);
}

[[noreturn]] void fail(const std::string& why) {
    say("FAIL " + why);
    // Power off rather than return: an init that exits panics the kernel,
    // which would look like a reset to the host.
    ::reboot(RB_POWER_OFF);
    halt_forever();
}

std::string kernel_arg(const std::string& cmdline, const std::string& key, std::string fallback) {
    std::istringstream words(cmdline);
    std::string word;
    while (words >> word) {
        if (word.rfind(key + "=", 0) == 0) return word.substr(key.size() + 1);
    }
    return fallback;
}

void setup_system() {
    ::mkdir("/dev", 0755);
    ::mkdir("/proc", 0755);
    ::mount("devtmpfs", "/dev", "devtmpfs", 0, nullptr);
    ::mount("proc", "/proc", "proc", 0, nullptr);
    ::mkdir("/sys", 0755);
    ::mount("sysfs", "/sys", "sysfs", 0, nullptr);
    if (const int console = ::open("/dev/console", O_RDWR); console >= 0) {
        ::dup2(console, STDIN_FILENO);
        ::dup2(console, STDOUT_FILENO);
        ::dup2(console, STDERR_FILENO);
        if (console > STDERR_FILENO) ::close(console);
    }
    // The watchdog core first: i6300esb needs its symbols.
    for (const char* name : {"/watchdog.ko", "/i6300esb.ko"}) {
        const int module = ::open(name, O_RDONLY | O_CLOEXEC);
        if (module < 0) fail(std::string("no ") + name + " in the initramfs");
        if (::syscall(SYS_finit_module, module, "", 0) != 0 && errno != EEXIST) {
            fail(std::string("finit_module ") + name + ": " + std::strerror(errno));
        }
        ::close(module);
    }
    for (int i = 0; i < 100 && ::access("/dev/watchdog", F_OK) != 0; ++i)
        std::this_thread::sleep_for(50ms);
}

}  // namespace

int main() {
    setup_system();
    std::string cmdline;
    std::getline(std::ifstream("/proc/cmdline"), cmdline);
    const std::string mode = kernel_arg(cmdline, "vigil.mode", "stop");
    const auto timeout = std::chrono::seconds(std::stoi(kernel_arg(cmdline, "vigil.timeout", "4")));

    auto dog = Watchdog::make(WatchdogOptions{"/dev/watchdog", timeout});
    if (!dog) fail("watchdog: " + dog.error().message);
    const auto& caps = dog->capabilities();
    say("armed timeout=" + std::to_string(timeout.count()) + " identity=" + caps.identity +
        " keepalive=" + std::string(vigil::fence::name(caps.keepalive)) +
        " magic_close=" + std::to_string(caps.magic_close) +
        " nowayout=" + (caps.nowayout ? std::to_string(*caps.nowayout) : std::string("unknown")));

    const int pets = static_cast<int>(3 * timeout.count());
    if (mode == "stop") {
        for (int i = 1; i <= pets; ++i) {
            std::this_thread::sleep_for(1s);
            if (auto ok = dog->pet(); !ok) fail("pet: " + ok.error().message);
            say("pet " + std::to_string(i));
        }
        say("last pet");
        // Deliberately hold the device without petting; keep talking so the
        // host sees the guest alive right up to the reset.
        for (int ms = 250;; ms += 250) {
            std::this_thread::sleep_for(250ms);
            say("alive " + std::to_string(ms) + " ms after the last pet");
        }
    }
    if (mode == "magic") {
        if (auto ok = dog->pet(); !ok) fail("pet: " + ok.error().message);
        if (auto ok = dog->disarm(); !ok) fail("disarm: " + ok.error().message);
        say("disarmed");
        for (int i = 1; i <= pets; ++i) {
            std::this_thread::sleep_for(1s);
            say("alive " + std::to_string(i) + " s after disarm");
        }
        say("survived");
        ::sync();
        ::reboot(RB_POWER_OFF);
        halt_forever();
    }
    if (mode == "close") {
        if (auto ok = dog->pet(); !ok) fail("pet: " + ok.error().message);
        dog = std::unexpected(vigil::Error{vigil::ErrorKind::kFailed, "closed"});
        say("closed without the magic character");
        for (int ms = 250;; ms += 250) {
            std::this_thread::sleep_for(250ms);
            say("alive " + std::to_string(ms) + " ms after the close");
        }
    }
    fail("unknown vigil.mode " + mode);
}
