#include "daemon/adapters/heartbeat.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace vigil::adapters {
namespace {

// Rereads of an area in which a block failed its checksum; see do_read.
constexpr int kTornRereads = 2;

bool has_corrupt(const AreaView& view) {
    return std::ranges::any_of(
        view.refused, [](const RefusedSlot& r) { return r.kind == core::Refusal::kCorrupt; });
}

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<std::byte, FreeDeleter>;

AlignedBuffer aligned_buffer(std::size_t size) {
    const std::size_t rounded = (size + kSlotBlockBytes - 1) / kSlotBlockBytes * kSlotBlockBytes;
    return AlignedBuffer(static_cast<std::byte*>(std::aligned_alloc(kSlotBlockBytes, rounded)));
}

class PosixAreaFile final : public AreaFile {
  public:
    PosixAreaFile(std::filesystem::path path, int fd, int flags)
        : path_(std::move(path)), fd_(fd), flags_(flags) {}
    ~PosixAreaFile() override { ::close(fd_); }
    PosixAreaFile(const PosixAreaFile&) = delete;
    PosixAreaFile& operator=(const PosixAreaFile&) = delete;

    std::expected<void, Error> write(std::uint64_t offset,
                                     std::span<const std::byte> block) override {
        auto buf = aligned_buffer(block.size());
        if (!buf) return std::unexpected(Error{"out of memory for a heartbeat block"});
        std::memcpy(buf.get(), block.data(), block.size());
        std::size_t done = 0;
        while (done < block.size()) {
            const ssize_t n = ::pwrite(fd_, buf.get() + done, block.size() - done,
                                       static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EINVAL && direct_io() && done == 0) {
                // Some file systems accept O_DIRECT at open and refuse it at
                // the first I/O.
                if (auto fell = drop_direct(); !fell) return std::unexpected(fell.error());
                continue;
            }
            if (n < 0) return std::unexpected(error("write", offset, errno));
            done += static_cast<std::size_t>(n);
        }
        return {};
    }

    std::expected<std::size_t, Error> read(std::uint64_t offset,
                                           std::span<std::byte> into) override {
        auto buf = aligned_buffer(into.size());
        if (!buf) return std::unexpected(Error{"out of memory for the heartbeat area"});
        std::size_t done = 0;
        if (!direct_io()) {
            (void)::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(into.size()),
                                  POSIX_FADV_DONTNEED);
        }
        while (done < into.size()) {
            const ssize_t n = ::pread(fd_, buf.get() + done, into.size() - done,
                                      static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EINVAL && direct_io() && done == 0) {
                if (auto fell = drop_direct(); !fell) return std::unexpected(fell.error());
                (void)::posix_fadvise(fd_, static_cast<off_t>(offset),
                                      static_cast<off_t>(into.size()), POSIX_FADV_DONTNEED);
                continue;
            }
            if (n < 0) return std::unexpected(error("read", offset, errno));
            if (n == 0) break;
            done += static_cast<std::size_t>(n);
        }
        std::memcpy(into.data(), buf.get(), done);
        return done;
    }

    bool direct_io() const override { return (flags_ & O_DIRECT) != 0; }

  private:
    Error error(const char* what, std::uint64_t offset, int err) const {
        return Error::from_errno(std::string(what) + " heartbeat area " + path_.string() +
                                     " at offset " + std::to_string(offset),
                                 err);
    }

    std::expected<void, Error> drop_direct() {
        const int flags = flags_ & ~O_DIRECT;
        const int fd = ::open(path_.c_str(), flags);
        if (fd < 0) return std::unexpected(error("reopen without O_DIRECT", 0, errno));
        ::close(fd_);
        fd_ = fd;
        flags_ = flags;
        return {};
    }

    std::filesystem::path path_;
    int fd_;
    int flags_;
};

core::Duration since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<core::Duration>(std::chrono::steady_clock::now() - start);
}

}  // namespace

std::expected<std::unique_ptr<AreaFile>, Error> open_area_file(const std::filesystem::path& path,
                                                               bool writable) {
    const int base = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_DSYNC;
    int flags = base | O_DIRECT;
    int fd = ::open(path.c_str(), flags);
    if (fd < 0 && errno == EINVAL) {
        flags = base;
        fd = ::open(path.c_str(), flags);
    }
    if (fd < 0 && errno == ENOENT) {
        return std::unexpected(Error{"heartbeat area " + path.string() +
                                     " does not exist; create it with format_heartbeat_area()"});
    }
    if (fd < 0)
        return std::unexpected(Error::from_errno("open heartbeat area " + path.string(), errno));
    return std::make_unique<PosixAreaFile>(path, fd, flags);
}

struct StorageHeartbeat::Lane {
    struct Job {
        std::string block;  // writes: the padded status block
        core::TimePoint at;
        std::uint64_t sequence = 0;  // writes: the status's sequence
    };
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::optional<core::TimePoint> busy_since;
    std::optional<Job> next;
    std::thread thread;

    std::optional<core::TimePoint> pending_since() {
        std::lock_guard lock(mu);
        if (busy_since) return busy_since;
        if (next) return next->at;
        return std::nullopt;
    }

    Submitted submit(Job job) {
        std::lock_guard lock(mu);
        const bool in_flight = busy_since.has_value();
        next = std::move(job);
        cv.notify_one();
        return in_flight ? Submitted::kWaiting : Submitted::kStarted;
    }

    // Stops the thread: joins it when idle, else leaves it to finish its I/O.
    void finish() {
        bool idle = false;
        {
            std::lock_guard lock(mu);
            stop = true;
            idle = !busy_since.has_value();
            cv.notify_one();
        }
        if (!thread.joinable()) return;
        if (idle) {
            thread.join();
        } else {
            thread.detach();
        }
    }
};

struct StorageHeartbeat::Shared {
    HeartbeatConfig config;
    AreaOpener opener;
    int event_fd = -1;
    std::mutex results_mu;
    std::vector<HeartbeatResult> results;
    std::atomic<int> direct{0};
    Lane write_lane;
    Lane read_lane;

    ~Shared() {
        if (event_fd >= 0) ::close(event_fd);
    }

    void post(HeartbeatResult result) {
        {
            std::lock_guard lock(results_mu);
            results.push_back(std::move(result));
        }
        const std::uint64_t one = 1;
        (void)!::write(event_fd, &one, sizeof one);
    }

    std::expected<void, Error> ensure_open(std::unique_ptr<AreaFile>& file, bool writable) {
        if (file) return {};
        auto opened = opener(writable);
        if (!opened) return std::unexpected(opened.error());
        file = std::move(*opened);
        direct.store(file->direct_io() ? 1 : 0);
        return {};
    }

    SlotWriteResult do_write(std::unique_ptr<AreaFile>& file, const std::string& block,
                             std::uint64_t sequence) {
        const auto start = std::chrono::steady_clock::now();
        SlotWriteResult r;
        r.evidence.sequence = sequence;
        auto done = ensure_open(file, true);
        if (done) {
            done = file->write(status_offset(config.own_slot),
                               std::as_bytes(std::span(block.data(), block.size())));
        }
        r.evidence.latency = since(start);
        r.evidence.ok = done.has_value();
        if (!done) {
            r.error = done.error().message;
            file.reset();  // reopen next time: the handle may be stale
        }
        return r;
    }

    SlotReadResult do_read(std::unique_ptr<AreaFile>& file) {
        const auto start = std::chrono::steady_clock::now();
        SlotReadResult r;
        const auto slots = static_cast<std::uint32_t>(config.owners.size());
        std::vector<std::byte> area(area_bytes(slots));
        std::expected<std::size_t, Error> got = 0;
        if (auto opened = ensure_open(file, false); opened) {
            got = file->read(0, area);
        } else {
            got = std::unexpected(opened.error());
        }
        r.latency = since(start);
        if (!got) {
            r.error = got.error().message;
            file.reset();
            return r;
        }
        if (*got < area.size()) {
            r.error = "heartbeat area " + config.area.string() + " is " + std::to_string(*got) +
                      " bytes, " + std::to_string(slots) + " slots need " +
                      std::to_string(area.size()) + "; format it for this many slots";
            return r;
        }
        auto view = parse_area(area, config.owners);
        // A read that overlaps a peer's write of its slot can see half of each:
        // the block fails its checksum though nothing is damaged. Read again
        // (at most twice) before refusing; a damaged block stays damaged.
        for (int again = 0; again < kTornRereads && has_corrupt(view); ++again) {
            got = file->read(0, area);
            if (!got || *got < area.size()) break;
            view = parse_area(area, config.owners);
        }
        r.evidence.ok = true;
        r.evidence.slots = std::move(view.slots);
        r.evidence.unreadable = std::move(view.unreadable);
        r.refused = std::move(view.refused);
        r.last_words = std::move(view.last_words);
        return r;
    }
};

namespace {

void run_lane(const std::shared_ptr<StorageHeartbeat::Shared>& shared, bool writes) {
    auto& lane = writes ? shared->write_lane : shared->read_lane;
    std::unique_ptr<AreaFile> file;
    for (;;) {
        std::string block;
        std::uint64_t sequence = 0;
        {
            std::unique_lock lock(lane.mu);
            lane.cv.wait(lock, [&] { return lane.stop || lane.next.has_value(); });
            if (lane.stop || !lane.next) return;  // (the wait ends with one or the other)
            block = std::move(lane.next->block);
            sequence = lane.next->sequence;
            lane.busy_since = lane.next->at;
            lane.next.reset();
        }
        HeartbeatResult result;
        if (writes) {
            result = shared->do_write(file, block, sequence);
        } else {
            result = shared->do_read(file);
        }
        {
            std::lock_guard lock(lane.mu);
            lane.busy_since.reset();
        }
        shared->post(std::move(result));
    }
}

}  // namespace

std::expected<std::unique_ptr<StorageHeartbeat>, Error> StorageHeartbeat::make(
    HeartbeatConfig config) {
    auto path = config.area;
    return make(std::move(config),
                [path](bool writable) { return open_area_file(path, writable); });
}

std::expected<std::unique_ptr<StorageHeartbeat>, Error> StorageHeartbeat::make(
    HeartbeatConfig config, AreaOpener opener) {
    const auto slots = config.owners.size();
    if (slots == 0 || slots > kMaxHeartbeatSlots) {
        return std::unexpected(Error{"heartbeat area needs 1 to " +
                                     std::to_string(kMaxHeartbeatSlots) + " slots, got " +
                                     std::to_string(slots)});
    }
    if (config.own_slot >= slots) {
        return std::unexpected(Error{"heartbeat slot " + std::to_string(config.own_slot) +
                                     " is beyond the area's " + std::to_string(slots) + " slots"});
    }
    if (config.owners[config.own_slot].value == 0) {
        return std::unexpected(
            Error{"heartbeat slot " + std::to_string(config.own_slot) + " has no owner"});
    }
    auto shared = std::make_shared<Shared>();
    shared->config = std::move(config);
    shared->opener = std::move(opener);
    shared->event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (shared->event_fd < 0) return std::unexpected(Error::from_errno("eventfd", errno));
    std::unique_ptr<StorageHeartbeat> self(new StorageHeartbeat());
    self->shared_ = shared;
    shared->write_lane.thread = std::thread(run_lane, shared, true);
    shared->read_lane.thread = std::thread(run_lane, shared, false);
    return self;
}

StorageHeartbeat::~StorageHeartbeat() {
    if (!shared_) return;
    shared_->write_lane.finish();
    shared_->read_lane.finish();
}

int StorageHeartbeat::fd() const { return shared_->event_fd; }

std::vector<HeartbeatResult> StorageHeartbeat::dispatch() {
    std::uint64_t count = 0;
    (void)!::read(shared_->event_fd, &count, sizeof count);
    std::vector<HeartbeatResult> out;
    {
        std::lock_guard lock(shared_->results_mu);
        out.swap(shared_->results);
    }
    for (const auto& r : out) {
        if (const auto* read = std::get_if<SlotReadResult>(&r)) bad_input_ += read->refused.size();
    }
    return out;
}

std::expected<StorageHeartbeat::Submitted, Error> StorageHeartbeat::write(
    const core::HostStatus& status, core::TimePoint now) {
    const auto& owner = shared_->config.owners[shared_->config.own_slot];
    if (status.host != owner) {
        return std::unexpected(Error{"status of host " + std::to_string(status.host.value) +
                                     " does not belong in slot " +
                                     std::to_string(shared_->config.own_slot)});
    }
    auto block = encode_status_block(status);
    if (!block) return std::unexpected(Error{block.error()});
    return shared_->write_lane.submit({std::move(*block), now, status.sequence});
}

StorageHeartbeat::Submitted StorageHeartbeat::read(core::TimePoint now) {
    return shared_->read_lane.submit({{}, now});
}

std::optional<core::TimePoint> StorageHeartbeat::write_pending_since() const {
    return shared_->write_lane.pending_since();
}

std::optional<core::TimePoint> StorageHeartbeat::read_pending_since() const {
    return shared_->read_lane.pending_since();
}

bool StorageHeartbeat::direct_io() const { return shared_->direct.load() != 0; }

std::expected<void, Error> format_heartbeat_area(const std::filesystem::path& path,
                                                 std::uint32_t slots, bool force) {
    if (slots == 0 || slots > kMaxHeartbeatSlots) {
        return std::unexpected(
            Error{"heartbeat area needs 1 to " + std::to_string(kMaxHeartbeatSlots) + " slots"});
    }
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return std::unexpected(Error::from_errno("open " + path.string(), errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    const auto fail = [&](const std::string& what) {
        return std::unexpected(Error::from_errno(what + " " + path.string(), errno));
    };
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail("stat");
    const std::uint64_t need = area_bytes(slots);
    std::uint64_t size = 0;
    if (S_ISBLK(st.st_mode)) {
        if (::ioctl(fd, BLKGETSIZE64, &size) != 0) return fail("size of");
        if (size < need) {
            return std::unexpected(Error{path.string() + " is " + std::to_string(size) +
                                         " bytes, " + std::to_string(slots) + " slots need " +
                                         std::to_string(need)});
        }
    } else if (S_ISREG(st.st_mode)) {
        size = static_cast<std::uint64_t>(st.st_size);
        if (size > need && !force) {
            return std::unexpected(Error{
                path.string() + " is larger than an area of " + std::to_string(slots) +
                " slots; not formatting it without force (vigilctl format-heartbeat --force)"});
        }
    } else {
        return std::unexpected(Error{path.string() + " is neither a file nor a block device"});
    }
    std::vector<char> buf(need);
    if (!force) {
        const auto want = static_cast<std::size_t>(std::min(size, need));
        std::size_t done = 0;
        while (done < want) {
            const ssize_t n = ::pread(fd, buf.data() + done, want - done, static_cast<off_t>(done));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return fail("read");
            if (n == 0) break;
            done += static_cast<std::size_t>(n);
        }
        for (std::size_t i = 0; i < done; ++i) {
            if (buf[i] != 0) {
                return std::unexpected(
                    Error{path.string() + " is not empty (byte " + std::to_string(i) +
                          " is set): it may be a live heartbeat area; "
                          "not formatting it without force (vigilctl format-heartbeat --force)"});
            }
        }
        std::fill(buf.begin(), buf.end(), 0);
    }
    std::size_t done = 0;
    while (done < buf.size()) {
        const ssize_t n =
            ::pwrite(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail("write");
        done += static_cast<std::size_t>(n);
    }
    if (S_ISREG(st.st_mode) && ::ftruncate(fd, static_cast<off_t>(need)) != 0)
        return fail("truncate");
    if (::fsync(fd) != 0) return fail("fsync");
    return {};
}

std::expected<void, Error> write_last_words(const std::filesystem::path& area, std::uint32_t slot,
                                            const LastWords& words) {
    if (slot >= kMaxHeartbeatSlots) {
        return std::unexpected(Error{"heartbeat slot " + std::to_string(slot) + " out of range"});
    }
    auto file = open_area_file(area, true);
    if (!file) return std::unexpected(file.error());
    const auto block = encode_last_words_block(words);
    return (*file)->write(last_words_offset(slot),
                          std::as_bytes(std::span(block.data(), block.size())));
}

}  // namespace vigil::adapters
