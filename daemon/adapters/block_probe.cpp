#include "daemon/adapters/block_probe.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

namespace vigil::adapters {
namespace {

// A logical block of every device we meet, and aligned for O_DIRECT on all.
constexpr std::size_t kProbeBytes = 4096;

std::string read_first_block(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) return "open " + path.string() + ": " + std::strerror(errno);
    void* buf = std::aligned_alloc(kProbeBytes, kProbeBytes);
    std::string error;
    if (buf == nullptr) {
        error = "out of memory for a probe of " + path.string();
    } else {
        ssize_t n = -1;
        do {
            n = ::pread(fd, buf, kProbeBytes, 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0) error = "read " + path.string() + ": " + std::strerror(errno);
        if (n == 0) error = "read " + path.string() + ": empty device";
    }
    std::free(buf);
    ::close(fd);
    return error;
}

}  // namespace

struct BlockProber::Shared {
    std::mutex mu;
    std::set<std::string> in_flight;
    std::vector<BlockProbeResult> done;
    int event_fd = -1;
    ~Shared() {
        if (event_fd >= 0) ::close(event_fd);
    }
};

std::expected<std::unique_ptr<BlockProber>, Error> BlockProber::make(
    std::filesystem::path dev_dir) {
    std::unique_ptr<BlockProber> self(new BlockProber());
    self->shared_ = std::make_shared<Shared>();
    self->shared_->event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->shared_->event_fd < 0)
        return std::unexpected(Error::from_errno("eventfd for block probes", errno));
    self->dev_dir_ = std::move(dev_dir);
    return self;
}

BlockProber::~BlockProber() = default;

int BlockProber::fd() const { return shared_->event_fd; }

bool BlockProber::submit(const std::string& device, std::chrono::nanoseconds issued) {
    {
        std::lock_guard lock(shared_->mu);
        if (!shared_->in_flight.insert(device).second) return false;
    }
    try {
        start(device, issued);
    } catch (const std::system_error&) {
        // No thread to be had now: the next poll tries again.
        std::lock_guard lock(shared_->mu);
        shared_->in_flight.erase(device);
        return false;
    }
    return true;
}

void BlockProber::start(const std::string& device, std::chrono::nanoseconds issued) {
    std::thread([shared = shared_, path = dev_dir_ / device, device, issued] {
        std::string error = read_first_block(path);
        std::lock_guard lock(shared->mu);
        shared->in_flight.erase(device);
        const bool ok = error.empty();
        shared->done.push_back(
            {.device = device, .issued = issued, .ok = ok, .error = std::move(error)});
        const std::uint64_t one = 1;
        (void)!::write(shared->event_fd, &one, sizeof one);
    }).detach();
}

std::vector<BlockProbeResult> BlockProber::dispatch() {
    std::uint64_t count = 0;
    (void)!::read(shared_->event_fd, &count, sizeof count);
    std::lock_guard lock(shared_->mu);
    return std::exchange(shared_->done, {});
}

}  // namespace vigil::adapters
