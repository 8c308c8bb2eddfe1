// The kernel's own per-device counters (/sys/block/*/stat): requests in
// flight and completed, kept by the block layer at no extra cost per I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace vigil::adapters {

struct BlockDeviceStats {
    std::string name;  // "loop3"
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
    std::uint32_t in_flight = 0;  // requests issued and not completed
    std::uint64_t completed = 0;  // read, write, discard and flush requests completed
    // Time the device has had requests in flight (io_ticks, jiffy resolution).
    // The kernel brings it up to date when the stat file is read while requests
    // wait, so it also measures a request that never completes.
    std::chrono::milliseconds busy{};
};

// Every whole block device under `sys_block` (normally /sys/block); devices
// that vanish while being read are skipped.
[[nodiscard]] std::vector<BlockDeviceStats> read_block_stats(
    const std::filesystem::path& sys_block = "/sys/block");

// Parses one stat file (Documentation/block/stat.rst); false when malformed.
[[nodiscard]] bool parse_block_stat(const std::string& text, BlockDeviceStats& out);

}  // namespace vigil::adapters
