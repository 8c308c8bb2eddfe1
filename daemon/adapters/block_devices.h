// Names of block devices as the kernel numbers them ("loop3" for 7:3).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace vigil::adapters {

class BlockDeviceNames {
  public:
    // The kernel's name for major:minor, or "MAJ:MIN" when sysfs has none.
    [[nodiscard]] std::string name(std::uint32_t major, std::uint32_t minor);

  private:
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::string> cache_;
};

}  // namespace vigil::adapters
