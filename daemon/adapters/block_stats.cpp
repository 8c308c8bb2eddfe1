#include "daemon/adapters/block_stats.h"

#include <fstream>
#include <sstream>

namespace vigil::adapters {

bool parse_block_stat(const std::string& text, BlockDeviceStats& out) {
    // Fields: 1 read ios, 5 write ios, 9 in flight, 10 io_ticks (ms),
    // 12 discard ios (4.18+), 16 flush ios (5.5+).
    std::istringstream in(text);
    std::vector<std::uint64_t> fields;
    std::uint64_t v = 0;
    while (in >> v) fields.push_back(v);
    if (!in.eof() || fields.size() < 11) return false;
    out.in_flight = static_cast<std::uint32_t>(fields[8]);
    out.busy = std::chrono::milliseconds(fields[9]);
    out.completed = fields[0] + fields[4];
    if (fields.size() >= 15) out.completed += fields[11];
    if (fields.size() >= 17) out.completed += fields[15];
    return true;
}

std::vector<BlockDeviceStats> read_block_stats(const std::filesystem::path& sys_block) {
    std::vector<BlockDeviceStats> out;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(sys_block, ec)) {
        BlockDeviceStats s;
        s.name = entry.path().filename().string();
        std::ifstream dev(entry.path() / "dev");
        char colon = 0;
        if (!(dev >> s.major >> colon >> s.minor) || colon != ':') continue;
        std::ifstream stat(entry.path() / "stat");
        std::stringstream text;
        text << stat.rdbuf();
        if (parse_block_stat(text.str(), s)) out.push_back(std::move(s));
    }
    return out;
}

}  // namespace vigil::adapters
