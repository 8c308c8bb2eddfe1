#include "bench/rig.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

namespace vigil::bench {

using namespace std::chrono_literals;

std::expected<TmpfsDisk, std::string> TmpfsDisk::make(std::uint64_t mib, bool direct_io) {
    TmpfsDisk disk;
    disk.file_ = "/dev/shm/" + testing::unique_name("vigil-bench") + ".img";
    {
        std::ofstream out(disk.file_, std::ios::binary);
        // Real pages with data: reading a hole of a tmpfs file costs less than
        // reading memory, which would flatter the device.
        std::string block(1 << 20, '\0');
        for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 131 + 7);
        for (std::uint64_t i = 0; i < mib && out; ++i)
            out.write(block.data(), static_cast<std::streamsize>(block.size()));
        if (!out) return std::unexpected("cannot write " + disk.file_.string());
    }
    auto loop = testing::LoopDevice::make(disk.file_);
    if (!loop) return std::unexpected(loop.error());
    disk.loop_.emplace(std::move(*loop));
    if (direct_io) {
        const int fd = ::open(disk.loop_->path().c_str(), O_RDONLY | O_CLOEXEC);
        const bool ok = fd >= 0 && ::ioctl(fd, LOOP_SET_DIRECT_IO, 1UL) == 0;
        const int err = errno;
        if (fd >= 0) ::close(fd);
        if (!ok) {
            return std::unexpected("LOOP_SET_DIRECT_IO on " + disk.loop_->path().string() + ": " +
                                   std::strerror(err));
        }
    }
    return disk;
}

TmpfsDisk::TmpfsDisk(TmpfsDisk&& other) noexcept
    : file_(std::exchange(other.file_, {})), loop_(std::exchange(other.loop_, std::nullopt)) {}

TmpfsDisk::~TmpfsDisk() {
    loop_.reset();
    if (!file_.empty()) {
        std::error_code ec;
        std::filesystem::remove(file_, ec);
    }
}

std::vector<std::string> fio_argv(const FioJob& job) {
    std::vector<std::string> argv = {
        "fio",
        "--name=vigil-bench",
        "--filename=" + job.device.string(),
        "--rw=" + job.rw,
        "--bs=4k",
        "--direct=1",
        "--ioengine=" + job.ioengine,
        "--iodepth=" + std::to_string(job.iodepth),
        "--time_based=1",
        "--runtime=" + std::to_string(job.seconds),
        // A new random sequence each run, and no map of blocks already read:
        // the map costs fio CPU that has nothing to do with the device.
        "--randrepeat=0",
        "--norandommap=1",
        "--output-format=json",
    };
    if (job.rate_iops > 0) argv.push_back("--rate_iops=" + std::to_string(job.rate_iops));
    return argv;
}

std::expected<FioResult, std::string> run_fio(const FioJob& job) {
    const auto timeout = std::chrono::seconds(job.seconds) + 30s;
    auto r =
        testing::run(fio_argv(job), std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    if (!r.ok()) return std::unexpected("fio failed: " + r.describe());
    return parse_fio_json(r.out);
}

}  // namespace vigil::bench
