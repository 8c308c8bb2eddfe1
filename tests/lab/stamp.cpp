#include "tests/lab/stamp.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

namespace vigil::lab {
namespace {

uint64_t le64(const char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

// Every stamp in sectors 1..64 of a disk's head, with its slot.
std::vector<std::pair<size_t, Stamp>> stamp_slots(std::string_view head) {
    std::vector<std::pair<size_t, Stamp>> slots;
    for (size_t slot = 1; slot <= kStampSlots; ++slot) {
        const size_t off = slot * kSectorSize;
        if (off + 56 > head.size()) break;
        const char* p = head.data() + off;
        if (std::string_view(p, kStampMagic.size()) != kStampMagic) continue;
        Stamp s;
        s.instance = le64(p + 8);
        s.seq = le64(p + 16);
        std::string_view host(p + 24, 32);
        s.host = std::string(host.substr(0, host.find('\0')));
        slots.emplace_back(slot, std::move(s));
    }
    return slots;
}

}  // namespace

std::vector<Stamp> parse_stamps(std::string_view head) {
    std::map<uint64_t, Stamp> newest;
    for (auto& [slot, s] : stamp_slots(head)) {
        auto& best = newest[s.instance];
        if (s.seq >= best.seq) best = std::move(s);
    }
    std::vector<Stamp> out;
    out.reserve(newest.size());
    for (auto& [_, s] : newest) out.push_back(std::move(s));
    return out;
}

std::vector<LostWrite> find_lost_writes(std::string_view head) {
    auto slots = stamp_slots(head);
    std::map<uint64_t, uint64_t> newest;
    for (const auto& [slot, s] : slots) {
        auto& n = newest[s.instance];
        n = std::max(n, s.seq);
    }
    std::vector<LostWrite> out;
    for (auto& [slot, s] : slots) {
        const uint64_t n = newest[s.instance];
        const bool misplaced = s.seq % kStampSlots + 1 != slot;
        if (misplaced || n - s.seq >= kStampSlots) out.push_back({slot, std::move(s), n});
    }
    return out;
}

Result<std::string> read_stamp_head(const std::filesystem::path& image) {
    int fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("cannot open " + image.string() + ": " + std::strerror(errno));
    std::string head((kStampSlots + 1) * kSectorSize, '\0');
    ssize_t n = ::pread(fd, head.data(), head.size(), 0);
    ::close(fd);
    if (n < 0) return fail("cannot read " + image.string() + ": " + std::strerror(errno));
    head.resize(static_cast<size_t>(n));
    return head;
}

Result<std::vector<Stamp>> read_stamps(const std::filesystem::path& image) {
    auto head = read_stamp_head(image);
    if (!head) return std::unexpected(head.error());
    return parse_stamps(*head);
}

Result<> write_guest_disk(const std::filesystem::path& image, const std::filesystem::path& guest,
                          size_t size) {
    auto boot = read_file(guest);
    if (!boot) return std::unexpected(boot.error());
    if (boot->size() != kSectorSize) return fail(guest.string() + " is not a 512-byte boot sector");
    std::string disk(size, '\0');
    std::copy(boot->begin(), boot->end(), disk.begin());
    return write_file(image, disk);
}

}  // namespace vigil::lab
