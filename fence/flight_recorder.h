// The flight recorder: before a deliberate self-fence, the decision and the
// last N evidence records go to a persistent local file, written to a temporary
// name, fsync'd and renamed over the old record (then the directory fsync'd), so
// the reason survives the reset and a torn write never replaces a good record.
// vigild reads the previous record back at start and `vigilctl explain` shows
// it. The caller stops petting first: if the disk hangs, the watchdog still
// takes the host.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "daemon/ports/error.h"

namespace vigil::fence {

struct FlightRecord {
    std::string boot_id;  // the kernel's boot id when it was written
    std::chrono::system_clock::time_point written_at;
    std::string decision;
    std::vector<std::string> evidence;  // oldest first
};

class FlightRecorder {
  public:
    [[nodiscard]] static std::expected<FlightRecorder, Error> make(std::filesystem::path path,
                                                                   std::size_t max_evidence);
    // Keeps the last max_evidence records in memory; cheap, no I/O.
    void note(std::string evidence);
    // Writes the decision with the noted evidence, durably.
    [[nodiscard]] std::expected<void, Error> commit(const std::string& decision,
                                                    std::chrono::system_clock::time_point now);
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

    // The last committed record; nullopt when there is none. A damaged file is
    // an error (kBadOutput), never a crash.
    [[nodiscard]] static std::expected<std::optional<FlightRecord>, Error> read(
        const std::filesystem::path& path);

  private:
    FlightRecorder(std::filesystem::path path, std::size_t max_evidence)
        : path_(std::move(path)), max_evidence_(max_evidence) {}

    std::filesystem::path path_;
    std::size_t max_evidence_;
    std::deque<std::string> evidence_;
};

// /proc/sys/kernel/random/boot_id, to tell a previous boot's record from this one's.
[[nodiscard]] std::string current_boot_id();

}  // namespace vigil::fence
