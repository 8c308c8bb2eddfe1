// The fast block device the benchmarks drive, and how they drive it: a loop
// device over a file on tmpfs (memory speed, so what vigil's programs cost per
// request is not hidden behind a slow disk), and fio.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "tests/tools/fixtures/fixtures.h"

namespace vigil::bench {

class TmpfsDisk {
  public:
    // A file of `mib` MiB of non-zero data on /dev/shm, attached to a loop
    // device. The file is removed and the device detached on destruction (the
    // device also detaches by itself if this process dies).
    [[nodiscard]] static std::expected<TmpfsDisk, std::string> make(std::uint64_t mib,
                                                                    bool direct_io);
    TmpfsDisk(TmpfsDisk&& other) noexcept;
    TmpfsDisk& operator=(TmpfsDisk&&) = delete;
    TmpfsDisk(const TmpfsDisk&) = delete;
    TmpfsDisk& operator=(const TmpfsDisk&) = delete;
    ~TmpfsDisk();

    // make() returns a disk only once its loop device is attached.
    // NOLINTNEXTLINE(bugprone-unchecked-optional-access): see above
    [[nodiscard]] const testing::LoopDevice& loop() const { return *loop_; }

  private:
    TmpfsDisk() = default;
    std::filesystem::path file_;
    std::optional<testing::LoopDevice> loop_;
};

struct FioJob {
    std::filesystem::path device;
    std::string rw = "randread";
    int seconds = 4;
    int iodepth = 32;
    std::string ioengine = "io_uring";
    int rate_iops = 0;  // 0: as fast as it goes
};

[[nodiscard]] std::vector<std::string> fio_argv(const FioJob& job);

// Runs fio to the end and parses its report.
[[nodiscard]] std::expected<FioResult, std::string> run_fio(const FioJob& job);

}  // namespace vigil::bench
