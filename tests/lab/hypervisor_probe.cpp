// Drives daemon/adapters/hypervisor inside a lab host (vigil-lab exec h1 --
// vigil-hypervisor-probe ...) and prints what it reports, one JSON object a
// line, each stamped with CLOCK_MONOTONIC (shared by every namespace, so the
// test can time it against its own clock).
//   watch SECONDS                 every snapshot, state change, I/O error
//   act start|resume|stop VM      one action and its result; exit 0 if it ran
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/adapters/event_loop.h"
#include "daemon/adapters/hypervisor.h"
#include "daemon/core/decision.h"

namespace {

using json = nlohmann::json;
namespace va = vigil::adapters;

void print(json j) {
    j["at_ns"] = va::monotonic_now().count();
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
}

int usage() {
    std::fprintf(stderr,
                 "usage: vigil-hypervisor-probe watch SECONDS | act start|resume|stop VM\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) return usage();
    const std::string mode = argv[1];
    if (mode != "watch" && !(mode == "act" && argc == 4)) return usage();

    auto loop = va::EventLoop::make();
    if (!loop) {
        std::fprintf(stderr, "%s\n", loop.error().message.c_str());
        return 1;
    }
    va::LibvirtHypervisor* hv_ptr = nullptr;
    int exit_code = 0;
    std::optional<va::ActionId> action;

    va::HypervisorSink sink;
    sink.on_vm = [](const vigil::core::VmEvidence& e) {
        print({{"kind", "vm"}, {"vm", e.vm}, {"state", std::string(vigil::core::name(e.state))}});
    };
    sink.on_io_error = [](const va::IoErrorEvent& e) {
        print({{"kind", "io_error"},
               {"vm", e.vm},
               {"device", e.device},
               {"path", e.path},
               {"reason", e.reason}});
    };
    sink.on_listed = [&] {
        json vms = json::array();
        for (const auto& [name, vm] : hv_ptr->vms()) {
            vms.push_back(
                {{"vm", name},
                 {"priority", vm.ha.priority},
                 {"memory_mib", vm.ha.memory_mib},
                 {"state", vm.state ? std::string(vigil::core::name(*vm.state)) : "unknown"}});
        }
        print({{"kind", "listed"}, {"vms", vms}, {"bad_input", hv_ptr->bad_input()}});
    };
    sink.on_connection = [](bool up, const std::string& why) {
        print({{"kind", "connection"}, {"up", up}, {"why", why}});
    };
    sink.on_bad_input = [](const std::string& vm, const vigil::Error& e) {
        print({{"kind", "bad_input"}, {"vm", vm}, {"why", e.message}});
    };
    sink.on_action = [&](const va::ActionResult& r) {
        print({{"kind", "action"},
               {"action", std::string(va::name(r.action))},
               {"vm", r.vm},
               {"outcome", std::string(va::name(r.outcome))},
               {"detail", r.detail},
               {"took_ms", r.took.count()}});
        if (action && r.id == *action) {
            exit_code = r.outcome == va::ActionOutcome::kDone ||
                                r.outcome == va::ActionOutcome::kAlreadyDone
                            ? 0
                            : 3;
            (*loop)->exit(exit_code);
        }
    };

    auto hv = va::LibvirtHypervisor::make({}, std::move(sink));
    if (!hv) {
        std::fprintf(stderr, "%s\n", hv.error().message.c_str());
        return 1;
    }
    hv_ptr = hv->get();
    if (auto w = (*loop)->watch_fd((*hv)->fd(), [&] { (*hv)->dispatch(); }); !w) {
        std::fprintf(stderr, "%s\n", w.error().message.c_str());
        return 1;
    }
    if (auto s = (*loop)->stop_on_signals(); !s) return 1;

    std::chrono::seconds run_for{60};
    if (mode == "watch") {
        run_for = std::chrono::seconds(std::atoi(argv[2]));
    } else {
        const std::string what = argv[2];
        const std::string vm = argv[3];
        if (what == "start") {
            action = (*hv)->start(vm);
        } else if (what == "resume") {
            action = (*hv)->resume(vm);
        } else if (what == "stop") {
            action = (*hv)->stop(vm);
        } else {
            return usage();
        }
    }
    auto alarm = (*loop)->add_alarm([&] { (*loop)->exit(mode == "watch" ? 0 : 4); });
    if (!alarm) return 1;
    (*loop)->set_alarm(*alarm, va::monotonic_now() + run_for);
    return (*loop)->run();
}
