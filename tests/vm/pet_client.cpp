// A minimal watchdog client for the emulated-watchdog chaos test, standing in
// for vigild's loop: opens the device through vigil's Watchdog, pets it every
// INTERVAL_MS from one single-threaded loop, and disarms with the magic close on
// SIGTERM (a deliberate clean stop). SIGSTOP freezes the loop and so the pets.
// Usage: pet_client PATH TIMEOUT_S INTERVAL_MS
#include <signal.h>

#include <cstdio>
#include <ctime>
#include <string>

#include "fence/watchdog.h"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: pet_client PATH TIMEOUT_S INTERVAL_MS\n");
        return 2;
    }
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_signals, nullptr);

    auto dog = vigil::fence::Watchdog::make(
        vigil::fence::WatchdogOptions{argv[1], std::chrono::seconds(std::stoi(argv[2]))});
    if (!dog) {
        std::fprintf(stderr, "pet_client: %s\n", dog.error().message.c_str());
        return 1;
    }
    std::printf("armed\n");
    std::fflush(stdout);
    const long interval_ms = std::stol(argv[3]);
    const timespec interval{interval_ms / 1000, (interval_ms % 1000) * 1000000};
    for (;;) {
        const int sig = sigtimedwait(&stop_signals, nullptr, &interval);
        if (sig == SIGTERM || sig == SIGINT) break;
        if (auto ok = dog->pet(); !ok) {
            std::fprintf(stderr, "pet_client: %s\n", ok.error().message.c_str());
            return 1;
        }
    }
    if (auto ok = dog->disarm(); !ok) {
        std::fprintf(stderr, "pet_client: disarm: %s\n", ok.error().message.c_str());
        return 1;
    }
    std::printf("disarmed\n");
    return 0;
}
