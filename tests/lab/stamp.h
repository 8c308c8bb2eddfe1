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
    [[nodiscard]] bool operator==(const Stamp&) const = default;
};

// The newest stamp of every instance found in the first sectors of a disk,
// ordered by instance.
[[nodiscard]] std::vector<Stamp> parse_stamps(std::string_view head);
[[nodiscard]] Result<std::vector<Stamp>> read_stamps(const std::filesystem::path& image);
// The first sectors of a disk: the boot sector and the stamp slots.
[[nodiscard]] Result<std::string> read_stamp_head(const std::filesystem::path& image);

// A write that never landed. Write `seq` of an instance goes to slot
// seq % kStampSlots + 1, so once the instance has written kStampSlots more,
// each of its slots holds one of its newest kStampSlots writes. A slot that
// still holds an older one (`seq`, while the instance's newest is `newest`
// >= seq + kStampSlots) lost the write seq + kStampSlots, or an old write
// landed over it. A slot whose stamp is not in its own place is one too.
struct LostWrite {
    size_t slot = 0;
    Stamp stamp;          // what the slot holds
    uint64_t newest = 0;  // the newest seq of that instance on the disk
    [[nodiscard]] bool operator==(const LostWrite&) const = default;
};
[[nodiscard]] std::vector<LostWrite> find_lost_writes(std::string_view head);

// Bytes of a fresh disk: the guest in sector 0, zeros after.
[[nodiscard]] Result<> write_guest_disk(const std::filesystem::path& image,
                                        const std::filesystem::path& guest, size_t size);

}  // namespace vigil::lab
