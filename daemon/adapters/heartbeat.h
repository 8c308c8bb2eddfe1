// The storage heartbeat: this host writes its status into its own slot of the
// shared heartbeat area (heartbeat_area.h) and reads every slot to learn its
// peers' states.
//
// I/O to shared storage can hang forever (a stalled NFS server or SAN path),
// so none of it runs on the event loop: writes and reads each have a thread
// of their own, and their results come back through fd(), which the loop
// watches and answers with dispatch(). Each lane has at most one operation in
// flight and at most one waiting: a newer request replaces the waiting one
// (latest status wins), so nothing queues without bound behind a stuck
// operation, and writes to the slot stay in order (a newer status never races
// an older one still on its way). What is in flight shows in
// write_pending_since() / read_pending_since().
//
// Durability: the area is opened O_DIRECT|O_DSYNC, so a write result of ok
// means the block reached the storage (block device: written with FUA or a
// flush; NFS: a stable write; FUSE with direct_io: the server's write returned,
// and it writes durably if its own source honours O_DSYNC). A file system that
// refuses O_DIRECT (EINVAL) is used with O_DSYNC alone; reads then drop the
// cached pages first (POSIX_FADV_DONTNEED) so they reach the storage, which
// holds for local and block-backed file systems but leaves NFS to its own
// attribute-cache rules. direct_io() tells which one applies.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "daemon/adapters/heartbeat_area.h"
#include "daemon/core/evidence.h"
#include "daemon/core/types.h"
#include "daemon/ports/error.h"

namespace vigil::adapters {

// One open handle on the area, used by one lane thread only. The real one is
// a file or block device (open_area_file); tests script their own.
class AreaFile {
  public:
    virtual ~AreaFile() = default;
    virtual std::expected<void, Error> write(std::uint64_t offset,
                                             std::span<const std::byte> block) = 0;
    // Reads up to into.size() bytes; fewer only at the end of the area.
    virtual std::expected<std::size_t, Error> read(std::uint64_t offset,
                                                   std::span<std::byte> into) = 0;
    [[nodiscard]] virtual bool direct_io() const = 0;
};

// Called on the lane's thread, so an open that hangs blocks only that lane.
using AreaOpener = std::function<std::expected<std::unique_ptr<AreaFile>, Error>(bool writable)>;

// O_DIRECT|O_DSYNC, falling back to O_DSYNC alone when O_DIRECT is refused.
// Never creates the area: a missing one is an error naming
// format_heartbeat_area().
[[nodiscard]] std::expected<std::unique_ptr<AreaFile>, Error> open_area_file(
    const std::filesystem::path& path, bool writable);

struct HeartbeatConfig {
    std::filesystem::path area;
    std::vector<core::HostId> owners;  // owners[i] owns slot i; the area has owners.size() slots
    std::uint32_t own_slot = 0;        // owners[own_slot] is this host
};

struct SlotWriteResult {
    core::SlotWriteEvidence evidence;
    std::string error;  // empty when ok
};

struct SlotReadResult {
    core::SlotReadEvidence evidence;  // ok when the area was read; slots as parsed
    std::vector<RefusedSlot> refused;
    std::vector<SlotLastWords> last_words;
    core::Duration latency{};
    std::string error;  // empty when ok
};

using HeartbeatResult = std::variant<SlotWriteResult, SlotReadResult>;

class StorageHeartbeat {
  public:
    [[nodiscard]] static std::expected<std::unique_ptr<StorageHeartbeat>, Error> make(
        HeartbeatConfig config);
    [[nodiscard]] static std::expected<std::unique_ptr<StorageHeartbeat>, Error> make(
        HeartbeatConfig config, AreaOpener opener);
    // Never waits for a stuck operation: a lane still in I/O is left to finish
    // on its own (a thread in uninterruptible I/O cannot be cancelled); it
    // frees what it holds when the I/O returns.
    ~StorageHeartbeat();
    StorageHeartbeat(const StorageHeartbeat&) = delete;
    StorageHeartbeat& operator=(const StorageHeartbeat&) = delete;

    // Readable (eventfd) when results wait for dispatch().
    [[nodiscard]] int fd() const;
    // The results that arrived, oldest first; never blocks.
    [[nodiscard]] std::vector<HeartbeatResult> dispatch();

    enum class Submitted : std::uint8_t { kStarted, kWaiting };
    // Writes `status` into this host's slot. kWaiting: a write is still in
    // flight; this one replaced any that waited behind it. An error (status
    // too large for a slot) means nothing was submitted.
    [[nodiscard]] std::expected<Submitted, Error> write(const core::HostStatus& status,
                                                        core::TimePoint now);
    // Reads every slot.
    Submitted read(core::TimePoint now);

    // When the operation now in flight was handed to its lane (the `now` of
    // its request); nullopt when the lane is idle.
    [[nodiscard]] std::optional<core::TimePoint> write_pending_since() const;
    [[nodiscard]] std::optional<core::TimePoint> read_pending_since() const;

    // Whether the last open got O_DIRECT (false until the first open).
    [[nodiscard]] bool direct_io() const;
    // Blocks refused so far: vigil_bad_input_total{source="heartbeat_slot"}.
    [[nodiscard]] std::uint64_t bad_input() const { return bad_input_; }

    struct Shared;
    struct Lane;

  private:
    StorageHeartbeat() = default;
    std::shared_ptr<Shared> shared_;
    std::uint64_t bad_input_ = 0;
};

// Creates (a regular file) or checks (a block device) an area of `slots`
// slots and fills it with zeros, synchronously: a setup step, run once before
// any vigild uses the area, never from the loop. Refuses an area that holds
// anything but zeros unless `force`, so it cannot wipe a live cluster's
// heartbeats by mistake.
[[nodiscard]] std::expected<void, Error> format_heartbeat_area(const std::filesystem::path& path,
                                                               std::uint32_t slots, bool force);

// Writes `words` into slot `slot`'s last-words block, synchronously
// (O_DIRECT|O_DSYNC), for the self-fence path. It may block as long as the
// storage does: call it only after petting has stopped, so the watchdog
// takes the host even if the storage hangs.
[[nodiscard]] std::expected<void, Error> write_last_words(const std::filesystem::path& area,
                                                          std::uint32_t slot,
                                                          const LastWords& words);

}  // namespace vigil::adapters
