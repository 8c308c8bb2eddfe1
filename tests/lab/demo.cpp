#include "tests/lab/demo.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "tests/lab/checker.h"
#include "tests/lab/nemesis.h"

namespace vigil::lab {
namespace {

void pause_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

}  // namespace

Result<> run_demo(const std::filesystem::path& root, std::ostream& out) {
    out << "Bringing up three hosts, each with one guest that writes to shared storage...\n"
        << std::flush;
    auto lab = Lab::up(root, 3, 3, Tools::from_build(), std::cerr);
    if (!lab) return std::unexpected(lab.error());
    auto timeline_path = lab->layout().run_dir() / "demo-timeline.json";

    std::cout.flush();
    pid_t checker = ::fork();
    if (checker < 0) return fail("cannot fork the checker");
    if (checker == 0) {
        auto t = run_checker(*lab, 0, timeline_path);
        if (!t) {
            std::cerr << "checker: " << t.error().what << "\n";
            ::_exit(1);
        }
        std::cout << "\nTimeline (seconds since the checker started):\n"
                  << describe(*t) << std::flush;
        ::_exit(t->violations.empty() ? 0 : 3);
    }
    pause_s(2);

    auto step = [&](const char* story, const Result<>& r) -> Result<> {
        out << story << "\n" << std::flush;
        if (!r) out << "  (could not: " << r.error().what << ")\n";
        return {};
    };
    (void)step("1. h1 loses power.", power_off(*lab, 1));
    pause_s(8);
    (void)step("2. Someone pulls h2's cluster cable; its storage and VM links still work.",
               cut(*lab, 2, {Net::kCluster}));
    pause_s(6);
    (void)step("   The cable goes back in.", heal(*lab));
    pause_s(3);
    if (lab->tools().faultfs) {
        (void)step("3. The storage array goes away for every host.",
                   storage(*lab, 0, StorageMode::kFail));
        pause_s(4);
        (void)step("   It comes back.", storage(*lab, 0, StorageMode::kOk));
        pause_s(4);
    } else {
        out << "3. (storage faults need vigil-faultfs, which is not built)\n";
    }

    ::kill(checker, SIGTERM);
    int status = 0;
    ::waitpid(checker, &status, 0);
    out << "\nThe timeline is in " << timeline_path.string()
        << "; `vigil-lab status` shows the lab,\n"
        << "`vigil-lab down` removes it.\n";
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) return fail("the checker found violations");
    return {};
}

}  // namespace vigil::lab
