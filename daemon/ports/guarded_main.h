// Every program's main(): runs the program, and turns an exception that
// escaped it into one line on stderr and exit status 70 (EX_SOFTWARE),
// rather than std::terminate's abort.
#pragma once

#include <cstdio>
#include <exception>

namespace vigil {

template <typename Run>
int guarded_main(const char* program, Run&& run) noexcept {
    try {
        return run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", program, e.what());
    } catch (...) {
        std::fprintf(stderr, "%s: an unknown exception\n", program);
    }
    return 70;  // EX_SOFTWARE
}

}  // namespace vigil
