// The write stamps the boot-sector guest (guest/stamp.asm) leaves on its
// disk: sectors 1..64, round robin, each naming the instance that wrote it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tests/lab/sys.h"

namespace vigil::lab {

inline constexpr size_t kSectorSize = 512;
inline constexpr size_t kStampSlots = 64;
inline constexpr std::string_view kStampMagic = "VIGLSTMP";

struct Stamp {
    uint64_t instance = 0;  // the guest's TSC at boot: one value per started qemu
    uint64_t seq = 0;       // counts this instance's writes from 1
    std::string host;       // the host the instance ran on when it wrote
};

// The newest stamp of every instance found in the first sectors of a disk,
// ordered by instance.
[[nodiscard]] std::vector<Stamp> parse_stamps(std::string_view head);
[[nodiscard]] Result<std::vector<Stamp>> read_stamps(const std::filesystem::path& image);

// Bytes of a fresh disk: the guest in sector 0, zeros after.
[[nodiscard]] Result<> write_guest_disk(const std::filesystem::path& image,
                                        const std::filesystem::path& guest, size_t size);

}  // namespace vigil::lab
