// Where the lab finds the programs other parts of vigil build. Each is
// optional: the lab runs without it and says what is missing.
#pragma once

#include <filesystem>
#include <optional>

namespace vigil::lab {

struct Tools {
    std::filesystem::path guest_image;              // the boot-sector guest
    std::optional<std::filesystem::path> faultfs;   // vigil-faultfs: fault-injecting view
    std::optional<std::filesystem::path> vigild;    // the daemon under test
    std::optional<std::filesystem::path> watchdog;  // fence/'s emulated watchdog
    std::optional<std::filesystem::path> vigilctl;  // formats the heartbeat area

    // Build-time paths, each overridable by an environment variable
    // (VIGIL_LAB_GUEST, VIGIL_LAB_FAULTFS, VIGIL_LAB_VIGILD, VIGIL_LAB_WATCHDOG,
    // VIGIL_LAB_VIGILCTL).
    [[nodiscard]] static Tools from_build();
};

}  // namespace vigil::lab
