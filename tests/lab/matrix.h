// The fault matrix (SPEC.md, F1-F10) as the lab plays it: each row is a
// fault schedule done to a lab that is up with vigild in cluster mode, the
// checker sampling throughout, and the row's promise judged from the
// checker's timeline (write stamps, not process lists alone) and the lab's
// state afterwards. One definition serves the lab tests (`vigil-lab row`),
// the failover figures (`vigil-lab bench`) and the demo.
#pragma once

#include <functional>
#include <iosfwd>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/lab/lab.h"

namespace vigil::lab {

// F9: blips shorter than the grace do nothing. A VM uplink that flaps for d
// is down for the core from the down hold after the cut (a flap shorter
// than that is no transition at all) to the up hold after the reconnect:
// d + (up hold - down hold); the isolation response needs the link grace of
// that, with quorum lost. So a flap shorter than link grace - (up hold -
// down hold) - one poll of the link watcher (0.75 s at vigild's defaults)
// does nothing however corosync takes it. The cables are out for 0.4 s,
// which leaves 0.35 s for the nemesis' own `ip` calls and state saves (the
// repair took up to 0.13 s on a loaded machine).
inline constexpr double kF9FlapBoundS =
    (kLinkGraceMs - (kLinkUpHoldMs - kLinkDownHoldMs) - kProbePollMs) / 1000.0;
inline constexpr double kF9FlapS = kF9FlapBoundS - 0.35;
// A storage stall of d would count for the core, were a watcher to call it at
// once, until the recovery hold and a poll after it ends; that must stay
// under the storage grace: d < grace - recovery hold - poll (3.75 s). It is
// also under the stall time minus a poll (4.75 s), so the block watcher never
// calls it stalled at all. 3 s leaves a margin of 0.75 s.
inline constexpr double kF9StallBoundS =
    (kStorageGraceMs - kStorageRecoveryHoldMs - kProbePollMs) / 1000.0;
inline constexpr double kF9StallS = kF9StallBoundS - 0.75;
static_assert(kF9FlapS > 0 && kF9StallS > 0 && kF9StallS * 1000 < kStorageStallMs);

// What one play of a row left: the checker's timeline (checker.h's to_json,
// times in seconds since the checker started), the lab's status afterwards,
// and the figures and broken promises the row's judge found.
struct RowRun {
    std::string row;
    nlohmann::json timeline;
    nlohmann::json lab_after;
    // Named measurements, e.g. "vm1 writing again s" (from the fault), and the
    // bound the row holds each to, where it has one.
    std::map<std::string, double> figures;
    std::map<std::string, double> bounds;
    // Each promise the run did not keep, in words; empty when it kept them all.
    std::vector<std::string> failures;

    [[nodiscard]] bool ok() const { return failures.empty(); }
    [[nodiscard]] nlohmann::json to_json() const;
};

// What a row's schedule can do: the nemesis with its failures kept, pauses,
// and waiting for vigild to settle again.
class Play {
  public:
    Play(Lab& lab, std::ostream& log) : lab_(&lab), log_(&log) {}

    [[nodiscard]] Lab& lab() { return *lab_; }
    [[nodiscard]] int host(std::string_view name) const;
    [[nodiscard]] int vm_on(int host) const;  // the first VM whose home is `host`
    // Runs one step of the schedule, logging `what`; a step that fails ends
    // the play with its error.
    [[nodiscard]] Result<> step(std::string_view what, const Result<>& done);
    void pause(double seconds);
    // Every host that is on has vigild in cluster mode, quorate, petting its
    // watchdog, with every other host that is on alive (vigilctl status).
    [[nodiscard]] Result<> settled(double within_s);
    // Waits for `host` to be reset (its watchdog or its own reboot(2)) and
    // records it in the run's events as "reset hN (how)", kind "lab", at the
    // time it was seen (polled every 200 ms).
    [[nodiscard]] Result<> reset_within(int host, double within_s);
    // A fault that lasts `hold_s`: `fault`, a pause for what is left of
    // `hold_s` once `fault` returned, `repair`. Records its
    // real length, from before the fault to after the repair (so an upper
    // bound: a busy machine that stretched it shows), in the run's events
    // as "blip <what> <seconds>", kind "lab"; Judge::blips() reads them.
    [[nodiscard]] Result<> blip(std::string_view what, const std::function<Result<>()>& fault,
                                const std::function<Result<>()>& repair, double hold_s);

  private:
    Lab* lab_;
    std::ostream* log_;
};

// The row's judge reads the run through these.
class Judge {
  public:
    explicit Judge(RowRun& run) : run_(&run) {}

    void expect(bool ok, const std::string& failure);
    void figure(const std::string& name, double value, std::optional<double> bound = {});
    // Checker time (s) of the first fault whose text starts with `fault`.
    [[nodiscard]] std::optional<double> fault_at(std::string_view fault) const;
    // Checker time (s) of the first event of `kind` whose text starts with `text`.
    [[nodiscard]] std::optional<double> event_at(std::string_view kind,
                                                 std::string_view text) const;
    // How long after the fault (its text's start) `vm` wrote again; empty when
    // the fault did not stop it or it never wrote again (see stopped()).
    [[nodiscard]] std::optional<double> writing_again(std::string_view fault,
                                                      std::string_view vm) const;
    // How long after the fault a new instance of `vm` first wrote, from the
    // checker's "new instance" event: a restart however long after the fault
    // the old instance stopped (a host that stops its VMs on purpose does so
    // seconds after the fault, beyond the checker's reach for a writing gap).
    [[nodiscard]] std::optional<double> new_instance_writing(std::string_view fault,
                                                             std::string_view vm) const;
    // Whether the fault stopped `vm` writing at all (the checker's recovery).
    [[nodiscard]] bool stopped(std::string_view fault, std::string_view vm) const;
    // The hosts `vm`'s instances wrote from, in the order they took over.
    [[nodiscard]] std::vector<std::string> writers(std::string_view vm) const;
    // Some instance of `vm` wrote on a host other than `from`.
    [[nodiscard]] bool wrote_elsewhere(std::string_view vm, std::string_view from) const;
    // Hosts that were reset (watchdog or reboot(2)) and not powered on since:
    // host -> how, from the lab's status.
    [[nodiscard]] std::map<std::string, std::string> resets() const;
    // What libvirt on `host` says of `vm` after the run ("shut off (destroyed)"),
    // "" when the host is down or does not know it.
    [[nodiscard]] std::string domstate_after(std::string_view host, std::string_view vm) const;
    // Each vigild decision line in the timeline that contains `text`.
    [[nodiscard]] std::vector<std::string> decisions(std::string_view text) const;
    // Checker time (s) of the first event of `kind` at or after `after_s`
    // whose text starts with `text`.
    [[nodiscard]] std::optional<double> first_event_after(std::string_view kind,
                                                          std::string_view text,
                                                          double after_s) const;
    // Checker time (s) of the first vigild line that contains `text`.
    [[nodiscard]] std::optional<double> decision_at(std::string_view text) const;
    // The hosts a live migration moved `vm`'s instance to, in order, from
    // the checker's "moved" events (its stamps naming another host).
    [[nodiscard]] std::vector<std::string> moves(std::string_view vm) const;
    // Each time `vm` stopped writing after `after_s` (checker time): from
    // the checker's "not writing" event to its next "writing" one (or the
    // end), plus the writing window the checker waits before it says so.
    [[nodiscard]] std::vector<double> pauses(std::string_view vm, double after_s) const;
    // Checker times (s) at which `host`'s emulated watchdog expired and reset
    // it, seen in its log within a sample of the reset; these stay in the
    // timeline after a power-on, where resets() no longer shows them.
    [[nodiscard]] std::vector<double> watchdog_resets(std::string_view host) const;
    // The real lengths (s) of the blips Play::blip() recorded as `what`.
    [[nodiscard]] std::vector<double> blips(std::string_view what) const;

    // The promises most rows share.
    void no_violations();
    void no_resets();
    // `vm` wrote again within `bound_s` of `fault`, recorded as a figure.
    void writes_again_within(std::string_view fault, std::string_view vm, double bound_s);
    // A new instance of `vm` wrote within `bound_s` of `fault`, recorded as
    // the figure "<vm> writing again s".
    void restarted_within(std::string_view fault, std::string_view vm, double bound_s);
    // `fault` stopped `vm` writing and it wrote again within `bound_s` of the
    // repair event whose text starts with `repair`, recorded as a figure.
    void writes_again_after_repair_within(std::string_view fault, std::string_view repair,
                                          std::string_view vm, double bound_s);
    // `vm` writes within `bound_s` of the repair event whose text starts with
    // `repair` (a figure): from the checker's writing events, whatever fault
    // its gap is laid at (a gap that a loaded machine opened just before the
    // fault is no fault's for the checker, yet must close after the repair).
    void writing_within_of_repair(std::string_view repair, std::string_view vm, double bound_s);
    // `fault` never stopped `vm` writing.
    void never_stopped(std::string_view fault, std::string_view vm);
    // `host`'s watchdog reset it exactly once, within `bound_s` of `fault`
    // (a figure) and before `vm` wrote again elsewhere.
    void reset_once_before(std::string_view host, std::string_view fault, std::string_view vm,
                           double bound_s);

  private:
    RowRun* run_;
};

struct Row {
    std::string id;       // "F1"
    std::string title;    // what is done, in a few words
    std::string promise;  // what must hold (the spec's column), in words
    int hosts = 3;
    int vms = 3;
    // The lab must be up with `--drain-migrate` (Layout::drain_migrate).
    bool drain_migrate = false;
    // How long the checker samples after the schedule has run.
    double observe_s = 15;
    std::function<Result<>(Play&)> schedule;
    std::function<void(Judge&)> judge;
};

// How long a row's promise gives a VM its fault stopped to write again (s):
// from the fault for the rows that restart or move VMs (F1, F2, F4, F4-all,
// F5a, F5b, F7-vm), from the repair for those that resume them (F6, F9,
// F10); 0 for the rows whose guests never stop (F3, F7, F8) and for an id
// that is no row. The judges hold their rows to these; the soak's bound after
// its last heal is the longest of them over the faults it played.
[[nodiscard]] double row_recovery_bound_s(std::string_view id);

// Records that `host` was reset, and how, in the run's event log (the
// checker's timeline) and in `log`: what a row's and the soak's wait for a
// reset both note once it came.
void note_reset(Lab& lab, int host, std::ostream& log);

// Every row, in the spec's order.
[[nodiscard]] const std::vector<Row>& matrix_rows();
[[nodiscard]] const Row* find_row(std::string_view id);

// Plays `row` on the lab that is up under `root` (its shape must fit: at
// least row.hosts hosts and row.vms guests, vigild in cluster mode): waits
// for vigild to settle everywhere, starts the checker, runs the schedule,
// lets the checker run out, judges. An error means the row could not be
// played at all (the lab was not up or never settled); a play whose promise
// was broken is a RowRun with failures.
[[nodiscard]] Result<RowRun> play_row(const std::filesystem::path& root, const Row& row,
                                      std::ostream& log);

// `vigil-lab bench`: each row `runs` times, each run on a lab of its own
// brought up under `root` and taken down after; the figures per row (median
// and worst beside the bound) and every broken promise. Rows that could not
// be played count as failed runs.
struct BenchFigure {
    std::string row;
    std::string name;
    std::vector<double> values;
    std::optional<double> bound;
};
struct BenchReport {
    int runs = 0;
    std::vector<BenchFigure> figures;
    std::map<std::string, int> passed;                       // row -> runs that kept the promise
    std::map<std::string, std::vector<std::string>> failed;  // row -> why, per failed run
    [[nodiscard]] nlohmann::json to_json() const;
    // A Markdown table: row, figure, runs, median, worst, bound.
    [[nodiscard]] std::string table() const;
};
[[nodiscard]] Result<BenchReport> run_bench(const std::filesystem::path& root,
                                            const std::vector<const Row*>& rows, int runs,
                                            std::ostream& log);

}  // namespace vigil::lab
