#include "daemon/adapters/block_devices.h"

#include <fstream>

namespace vigil::adapters {

std::string BlockDeviceNames::name(std::uint32_t major, std::uint32_t minor) {
    const auto key = std::make_pair(major, minor);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    std::string number = std::to_string(major) + ":" + std::to_string(minor);
    std::ifstream uevent("/sys/dev/block/" + number + "/uevent");
    std::string line;
    while (std::getline(uevent, line)) {
        if (line.rfind("DEVNAME=", 0) == 0) {
            // Only names that were found are cached: a device that appears
            // later is looked up again.
            return cache_[key] = line.substr(8);
        }
    }
    return number;
}

}  // namespace vigil::adapters
