#include "tests/lab/tools.h"

#include <cstdlib>
#include <string>

namespace vigil::lab {
namespace {

std::optional<std::filesystem::path> pick(const char* env, const char* built) {
    if (const char* v = std::getenv(env); v && *v) return std::filesystem::path(v);
    std::string b = built;
    if (b.empty() || !std::filesystem::exists(b)) return std::nullopt;
    return std::filesystem::path(b);
}

}  // namespace

Tools Tools::from_build() {
    Tools t;
    t.guest_image = pick("VIGIL_LAB_GUEST", VIGIL_LAB_GUEST).value_or(VIGIL_LAB_GUEST);
    t.faultfs = pick("VIGIL_LAB_FAULTFS", VIGIL_LAB_FAULTFS);
    t.vigild = pick("VIGIL_LAB_VIGILD", VIGIL_LAB_VIGILD);
    t.watchdog = pick("VIGIL_LAB_WATCHDOG", VIGIL_LAB_WATCHDOG);
    t.vigilctl = pick("VIGIL_LAB_VIGILCTL", VIGIL_LAB_VIGILCTL);
    return t;
}

}  // namespace vigil::lab
