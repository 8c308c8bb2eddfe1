#include "tests/lab/demo.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <sstream>
#include <thread>

#include "tests/lab/checker.h"
#include "tests/lab/matrix.h"
#include "tests/lab/nemesis.h"
#include "tests/lab/picture.h"

namespace vigil::lab {
namespace {

using json = nlohmann::json;

void pause_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

std::string secs(double s) {
    std::ostringstream out;
    out.precision(1);
    out << std::fixed << s << " s";
    return out.str();
}

// What a newcomer should take from the story, from the timeline alone.
void tell_outcome(const json& timeline, const Layout& l, std::ostream& out) {
    RowRun run;
    run.timeline = timeline;
    Judge j(run);
    out << "\nWhat happened (from the write stamps on the shared disks):\n";
    const auto vm1 = l.vm_name(1);
    if (auto after = j.writing_again("power-off h1", vm1)) {
        std::string where;
        for (const auto& h : j.writers(vm1))
            if (h != "h1") where = h;
        out << "  " << vm1 << " wrote again on " << (where.empty() ? "?" : where) << " "
            << secs(*after) << " after h1 lost power (the spec's bound: watchdog "
            << kWatchdogTimeoutS << " s + 5 s).\n";
    } else {
        out << "  " << vm1 << " did not write again after h1 lost power.\n";
    }
    bool cable_stopped = false;
    for (int v = 1; v <= l.vms(); ++v) cable_stopped |= j.stopped("cut h2", l.vm_name(v));
    out << "  The pulled cable " << (cable_stopped ? "stopped a guest" : "stopped no guest")
        << " (h2's VM and storage links were up).\n";
    const auto back = j.event_at("repair", "storage all ok");
    for (int v = 1; v <= l.vms(); ++v) {
        const auto vm = l.vm_name(v);
        const auto fault = j.event_at("fault", "storage all fail");
        const auto after = j.writing_again("storage all fail", vm);
        if (!fault || !back) break;
        if (!j.stopped("storage all fail", vm)) continue;  // it was not running
        if (after)
            out << "  " << vm << " paused on the I/O error and wrote again "
                << secs(*fault + *after - *back) << " after the storage returned.\n";
        else
            out << "  " << vm << " paused on the I/O error and did not write again.\n";
    }
    const auto violations = timeline["violations"].size();
    out << "  " << violations << (violations == 1 ? " moment" : " moments")
        << " with two writers of one VM's disk.\n";
}

}  // namespace

Result<> run_demo(const std::filesystem::path& root, std::ostream& out) {
    out << "Bringing up three hosts, each with corosync, libvirtd, vigild in cluster mode\n"
        << "and one guest that writes to shared storage...\n"
        << std::flush;
    auto lab = Lab::up(root, 3, 3, Tools::from_build(), std::cerr);
    if (!lab) return std::unexpected(lab.error());
    const auto& l = lab->layout();
    const auto timeline_path = l.run_dir() / "demo-timeline.json";
    const auto svg_path = l.run_dir() / "demo-timeline.svg";
    std::ostringstream quiet;
    Play play(*lab, quiet);
    out << "Waiting for every vigild to see the others and pet its watchdog...\n" << std::flush;
    if (auto r = play.settled(90); !r) return r;

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
        ::_exit(0);
    }
    pause_s(3);
    auto step = [&](const char* story, const Result<>& r) {
        out << story << "\n" << std::flush;
        if (!r) out << "  (could not: " << r.error().what << ")\n";
    };
    step(
        "1. h1 loses power. Its peers wait out the fence delay, knowing h1's watchdog\n"
        "   would have reset it by then, and restart its guest.",
        power_off(*lab, 1));
    pause_s(kWatchdogTimeoutS + 5 + 4);
    step("2. Someone pulls h2's cluster cable; its storage and VM links still work.",
         cut(*lab, 2, {Net::kCluster}));
    pause_s(kFenceDelayMs / 1000.0 + 3);
    step("   The cable goes back in.", heal(*lab));
    pause_s(5);
    if (lab->tools().faultfs) {
        step(
            "3. The storage array goes away for every host: every guest pauses on its\n"
            "   I/O error, nobody is fenced, nothing moves (there is nowhere to go).",
            storage(*lab, 0, StorageMode::kFail));
        pause_s(8);
        step("   It comes back: vigild resumes every guest it paused.",
             storage(*lab, 0, StorageMode::kOk));
        pause_s(12);
    } else {
        out << "3. (storage faults need vigil-faultfs, which is not built)\n";
    }

    ::kill(checker, SIGTERM);
    int status = 0;
    ::waitpid(checker, &status, 0);
    auto text = read_file(timeline_path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !text) return fail("the checker failed");
    const auto timeline = json::parse(*text, nullptr, false);
    if (!timeline.is_object()) return fail("the checker's timeline is not JSON");
    tell_outcome(timeline, l, out);
    std::vector<std::string> hosts, vms;
    for (int h = 1; h <= l.hosts(); ++h) hosts.push_back(l.host_name(h));
    for (int v = 1; v <= l.vms(); ++v) vms.push_back(l.vm_name(v));
    if (auto w = write_file(svg_path, timeline_svg(timeline, hosts, vms,
                                                   "vigil-lab demo: power loss, a pulled cable, "
                                                   "the array away and back"));
        !w)
        return w;

    const std::string lab_cmd = "vigil-lab --root " + root.string();
    const std::string ctl = lab->tools().vigilctl ? lab->tools().vigilctl->string() : "vigilctl";
    out << "\nThe timeline: " << timeline_path.string() << "\n"
        << "As a picture:  " << svg_path.string() << "\n"
        << "\nThe lab is still up. Look around:\n"
        << "  " << lab_cmd << " status\n"
        << "  " << lab_cmd << " exec h2 " << ctl << " status\n"
        << "  " << lab_cmd << " exec h2 " << ctl << " explain vm1\n"
        << "  " << lab_cmd << " power-on h1\n"
        << "and take it down with\n"
        << "  " << lab_cmd << " down\n";
    if (!timeline["violations"].empty()) return fail("the checker found two writers of one disk");
    return {};
}

}  // namespace vigil::lab
