// Runs scenario folders: drives every host's core in simulated time, checks safety
// after every step, evaluates checks.txt and diffs the decision log against
// expected.log. Re-recording needs --record (or VIGIL_SIM_RECORD=1).

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/sim/world.h"

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

void print_diff(const std::vector<std::string>& want, const std::vector<std::string>& got) {
    std::size_t first = 0;
    while (first < want.size() && first < got.size() && want[first] == got[first]) ++first;
    std::cout << "  first difference at line " << first + 1 << " (expected " << want.size()
              << " lines, got " << got.size() << ")\n";
    for (std::size_t i = first; i < first + 12; ++i) {
        if (i < want.size()) std::cout << "  - " << want[i] << "\n";
        if (i < got.size()) std::cout << "  + " << got[i] << "\n";
    }
}

}  // namespace

int main(int argc, char** argv) {
    bool record = false;
    if (const char* env = std::getenv("VIGIL_SIM_RECORD");
        env != nullptr && std::string(env) == "1")
        record = true;
    std::vector<std::filesystem::path> dirs;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--record")
            record = true;
        else
            dirs.emplace_back(a);
    }
    if (dirs.empty()) {
        std::cerr << "usage: vigil_sim [--record] SCENARIO_DIR...\n";
        return 2;
    }
    int failed = 0;
    for (const auto& dir : dirs) {
        auto scenario = vigil::sim::load_scenario(dir);
        if (!scenario) {
            std::cout << "FAIL " << dir.string() << ": " << scenario.error() << "\n";
            ++failed;
            continue;
        }
        const std::string name = scenario->name;
        const auto checks = scenario->checks.size();
        vigil::sim::World world(std::move(*scenario));
        const auto r = world.run();
        std::string log;
        for (const auto& l : r.log) log += vigil::sim::format_line(l) + "\n";
        bool ok = true;
        for (const auto& v : r.violations) {
            std::cout << "  safety: " << v << "\n";
            ok = false;
        }
        for (const auto& c : r.check_failures) {
            std::cout << "  check: " << c << "\n";
            ok = false;
        }
        const auto expected_path = dir / "expected.log";
        if (record) {
            std::ofstream(expected_path) << log;
            std::cout << "  recorded " << expected_path.string() << "\n";
        } else if (!std::filesystem::exists(expected_path)) {
            std::cout << "  expected.log missing: record it with --record and review it\n";
            ok = false;
        } else {
            std::ifstream in(expected_path);
            std::stringstream want;
            want << in.rdbuf();
            if (want.str() != log) {
                std::cout << "  decision log differs from expected.log\n";
                print_diff(lines_of(want.str()), lines_of(log));
                ok = false;
            }
        }
        std::cout << (ok ? "ok   " : "FAIL ") << name << ": " << r.steps << " steps, "
                  << r.violations.size() << " safety violations, "
                  << checks - r.check_failures.size() << "/" << checks << " checks\n";
        if (!ok) ++failed;
    }
    return failed == 0 ? 0 : 1;
}
