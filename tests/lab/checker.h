// The checker: samples about every 100 ms which qemu runs which VM on which
// host, who holds each disk lease and the write stamps on the shared disks;
// flags any VM that runs twice or whose superseded instance writes again
// (a live migration's source and target qemu, for as long as it lasts, are
// one run: the stamps show the instance moving and never writing from the
// host it left);
// measures how long each fault kept each VM from writing. The analysis
// (Analyzer) is pure and fed samples, so it is unit-tested with made-up ones.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "tests/lab/lab.h"
#include "tests/lab/stamp.h"

namespace vigil::lab {

inline constexpr double kSampleInterval = 0.1;
// A VM counts as writing while its newest stamp is younger than this; the
// guest writes about every 110 ms.
inline constexpr double kWritingWindow = 0.6;

// How long after a fault a VM's writes may stop and still count as its doing.
inline constexpr double kFaultReach = 2.0;

struct QemuProcess {
    std::string vm;
    std::string host;
    pid_t pid = 0;
    bool frozen = false;  // SIGSTOPped: cannot write until continued
    // Started by libvirt to receive a live migration (`-incoming`; its
    // command line keeps saying so after the migration is done).
    bool incoming = false;
};

struct Sample {
    double t = 0;
    std::vector<QemuProcess> qemus;
    std::map<std::string, std::string> leases;           // vm -> host whose virtlockd holds it
    std::map<std::string, std::vector<Stamp>> stamps;    // vm -> newest stamp per instance
    std::map<std::string, std::vector<LostWrite>> lost;  // vm -> slots that lost a write
};

// kLostWrite: a slot of the disk kept an older write of an instance that
// has written a full round of slots since (stamp.h, find_lost_writes).
enum class ViolationKind : std::uint8_t { kDoubleRun, kDoubleWriter, kStaleWrite, kLostWrite };
[[nodiscard]] std::string_view violation_name(ViolationKind kind);

struct Violation {
    double t = 0;
    std::string vm;
    ViolationKind kind = ViolationKind::kDoubleRun;
    std::string detail;
};

struct TimelineEvent {
    double t = 0;
    std::string kind;  // fault, repair, lab, vm, lease, violation, vigild, watchdog
    std::string text;
};

// For one fault and one VM: how long after the fault the VM wrote again.
struct Recovery {
    double fault_t = 0;
    std::string fault;
    std::string vm;
    std::optional<double> after_s;  // empty: not writing again by the end
};

struct Timeline {
    double start = 0;
    double end = 0;
    int samples = 0;
    std::vector<TimelineEvent> events;
    std::vector<Violation> violations;
    std::vector<Recovery> recoveries;
    // vm -> instance -> (host, writes seen)
    std::map<std::string, std::map<uint64_t, std::pair<std::string, uint64_t>>> writers;
};

class Analyzer {
  public:
    explicit Analyzer(std::vector<std::string> vms) : vms_(std::move(vms)) {}

    // External events (faults, repairs, vigild decisions) in time order.
    void note(double t, const std::string& kind, const std::string& text);
    void add(const Sample& sample);
    [[nodiscard]] Timeline finish(double end);

  private:
    struct VmTrack {
        std::map<uint64_t, uint64_t> seq;  // instance -> newest seq seen
        std::set<uint64_t> superseded;     // instances a newer one has written after
        std::optional<uint64_t> current;   // the instance that wrote last
        // Where each instance wrote last, and the hosts a live migration
        // moved it from: it never writes there again.
        std::map<uint64_t, std::string> host;
        std::map<uint64_t, std::set<std::string>> left;
        double last_write = -1;
        std::string state;
        std::string lease;
        bool double_run = false;
        std::vector<std::pair<double, double>> gaps;  // [last write, next write)
        std::optional<double> gap_open;
        // Lost writes seen in the previous sample, and those reported: one
        // counts once it is seen in two samples in a row (a read of the
        // slots racing two writes of the guest looks like one for a sample).
        std::set<std::tuple<size_t, uint64_t, uint64_t>> lost_seen;
        std::set<std::tuple<size_t, uint64_t, uint64_t>> lost_reported;
    };

    void violate(double t, const std::string& vm, ViolationKind kind, const std::string& detail);

    std::vector<std::string> vms_;
    std::map<std::string, VmTrack> track_;
    std::vector<std::pair<double, std::string>> faults_;
    Timeline timeline_;
    bool started_ = false;
};

// One sample of the real lab.
class Sampler {
  public:
    [[nodiscard]] static Result<Sampler> make(const Lab& lab);
    [[nodiscard]] Sample take() const;

  private:
    explicit Sampler(const Lab& lab) : lab_(&lab) {}
    const Lab* lab_;
    std::map<std::string, std::string> lease_files_;  // lockspace file name -> vm
};

// Samples until `seconds` pass (0: until SIGINT or SIGTERM), then writes the
// timeline as JSON to `out` and returns it.
[[nodiscard]] Result<Timeline> run_checker(const Lab& lab, double seconds,
                                           const std::filesystem::path& out);
[[nodiscard]] std::string to_json(const Timeline& timeline);
// The timeline as text a newcomer can read.
[[nodiscard]] std::string describe(const Timeline& timeline);

}  // namespace vigil::lab
