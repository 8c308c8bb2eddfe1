#include "tests/lab/matrix.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <sstream>
#include <thread>

#include "tests/lab/checker.h"
#include "tests/lab/nemesis.h"

namespace vigil::lab {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string seconds_text(double s) {
    std::ostringstream out;
    out.precision(1);
    out << std::fixed << s << " s";
    return out.str();
}

// vigild on host `h` runs in cluster mode, quorate, petting its watchdog, and
// sees `alive` other hosts alive; the reason it is not, otherwise.
std::optional<std::string> unsettled(const Lab& lab, int h, int alive) {
    if (!lab.tools().vigilctl) return "vigilctl is not built";
    auto out = lab.exec(h, {lab.tools().vigilctl->string(), "status", "--json"});
    if (!out) return "vigilctl status: " + out.error().what;
    auto s = json::parse(*out, nullptr, false);
    if (!s.is_object() || !s.contains("cluster")) return "vigild is not in cluster mode";
    const auto& c = s["cluster"];
    if (!c["host"].value("quorate", false)) return "not quorate";
    if (!c["heartbeat"].value("pet", false)) return "not petting its watchdog";
    int seen = 0;
    for (const auto& p : c["peers"])
        if (p.value("class", "") == "alive") ++seen;
    if (seen != alive)
        return std::to_string(seen) + " peers alive, " + std::to_string(alive) + " expected";
    return std::nullopt;
}

bool starts_with(const json& text, std::string_view prefix) {
    return text.is_string() && text.get<std::string>().starts_with(prefix);
}

// SPEC F4: "VMs running elsewhere within ~10 s" of the cut, at the default
// timings.
constexpr double kF4BoundS = 10;
// F7 with the VM network split too is F4 seen differently: a cut drops the
// carrier, which vigild calls down after network.down_hold_ms (1 s, its
// default); a split switch leaves the carrier up, and the link is called
// idle only network.idle_after_ms (5 s) after the last packet, which came up
// to one period of the lab's traffic (300 ms, host_init.cpp) before the
// split. The same budget, that much later.
constexpr double kF7VmBoundS = kF4BoundS + (5000 - 1000 + 300) / 1000.0;

// The rows. Each schedule starts 3 s into the checker's run, on a lab whose
// vigilds have settled; times in the judges are from the checker's timeline.
// Guest vmN's home is hN (layout.h spreads VMs over hosts in order).
std::vector<Row> make_rows() {
    const double watchdog_s = kWatchdogTimeoutS;
    const double fence_delay_s = kFenceDelayMs / 1000.0;
    std::vector<Row> rows;

    rows.push_back(Row{
        .id = "F1",
        .title = "power loss",
        .promise = "h1's VM writes again on a survivor within watchdog timeout + 5 s; after "
                   "power-on h1 rejoins and no write of its old instance lands",
        .observe_s = 5,
        .schedule = [](Play& p) -> Result<> {
            if (auto r = p.step("h1 loses power", power_off(p.lab(), 1)); !r) return r;
            p.pause(15);
            std::ostringstream boot;
            if (auto r = p.step("h1 is powered on", power_on(p.lab(), 1, boot)); !r) return r;
            return p.settled(60);
        },
        .judge =
            [watchdog_s](Judge& j) {
                j.no_violations();
                j.writes_again_within("power-off h1", "vm1", watchdog_s + 5);
                const auto w = j.writers("vm1");
                j.expect(w.size() == 2 && std::count(w.begin(), w.end(), "h1") == 1,
                         "vm1 has two instances, the new one on a survivor");
                for (auto vm : {"vm2", "vm3"}) {
                    j.never_stopped("power-off h1", vm);
                    j.expect(j.writers(vm).size() == 1, std::string(vm) + " was never restarted");
                }
                j.no_resets();
                // Rejoined, h1 does not start its old instance again.
                const auto vm1_on_h1 = j.domstate_after("h1", "vm1");
                j.expect(vm1_on_h1.starts_with("shut off"),
                         "vm1 on h1 after power-on is '" + vm1_on_h1 + "', not shut off");
            },
    });

    rows.push_back(Row{
        .id = "F2",
        .title = "host hangs",
        .promise = "h1's watchdog resets it (once) before its VM writes again on a survivor, "
                   "within watchdog timeout + 5 s of the hang; after power-on h1 rejoins and no "
                   "write of its old instance lands",
        .observe_s = 5,
        .schedule = [](Play& p) -> Result<> {
            if (auto r = p.step("h1 hangs", hang(p.lab(), 1)); !r) return r;
            // Its watchdog (5 s) and the survivors' fence delay (7 s) with
            // room for the start, as in F1.
            p.pause(15);
            std::ostringstream boot;
            if (auto r = p.step("h1 is powered on", power_on(p.lab(), 1, boot)); !r) return r;
            return p.settled(60);
        },
        .judge =
            [watchdog_s](Judge& j) {
                j.no_violations();
                j.writes_again_within("hang h1", "vm1", watchdog_s + 5);
                j.expect(j.wrote_elsewhere("vm1", "h1"), "vm1's new instance runs on a survivor");
                // The last pet came before the hang: the watchdog expires
                // within its timeout of it; one second for the checker's look.
                j.reset_once_before("h1", "hang h1", "vm1", watchdog_s + 1);
                j.never_stopped("hang h1", "vm2");
                j.never_stopped("hang h1", "vm3");
                j.no_resets();
            },
    });

    rows.push_back(Row{
        .id = "F3",
        .title = "cluster cable cut",
        .promise = "no restart, no reset, the guests never stop writing, h1 rejoins after heal",
        .observe_s = 5,
        .schedule = [fence_delay_s](Play& p) -> Result<> {
            if (auto r = p.step("h1's cluster cable is pulled", cut(p.lab(), 1, {Net::kCluster}));
                !r)
                return r;
            // Long past the fence delay: a wrong decision would have been made.
            p.pause(fence_delay_s + 5);
            if (auto r = p.step("the cable goes back in", heal(p.lab())); !r) return r;
            return p.settled(30);
        },
        .judge =
            [](Judge& j) {
                j.no_violations();
                for (auto vm : {"vm1", "vm2", "vm3"}) {
                    j.never_stopped("cut h1", vm);
                    j.expect(j.writers(vm).size() == 1, std::string(vm) + " was never restarted");
                }
                j.no_resets();
            },
    });

    rows.push_back(Row{
        .id = "F4",
        .title = "cluster and VM cables cut, storage intact",
        .promise = "h1 stops its VM and says released in its slot; the VM writes again on a "
                   "survivor within 10 s of the cut, without a reset; h1 rejoins after heal",
        .observe_s = 5,
        .schedule = [fence_delay_s](Play& p) -> Result<> {
            if (auto r = p.step("h1's cluster and VM cables are pulled",
                                cut(p.lab(), 1, {Net::kCluster, Net::kVm}));
                !r)
                return r;
            p.pause(fence_delay_s + 5);
            if (auto r = p.step("the cables go back in", heal(p.lab())); !r) return r;
            return p.settled(60);
        },
        .judge =
            [](Judge& j) {
                j.no_violations();
                j.restarted_within("cut h1", "vm1", kF4BoundS);
                j.expect(j.wrote_elsewhere("vm1", "h1"), "vm1's new instance runs on a survivor");
                j.expect(!j.decisions("released").empty(), "no vigild logged h1's VMs released");
                j.never_stopped("cut h1", "vm2");
                j.never_stopped("cut h1", "vm3");
                j.no_resets();
                j.expect(j.watchdog_resets("h1").empty(), "h1 was reset by its watchdog");
            },
    });

    rows.push_back(Row{
        .id = "F4-all",
        .title = "every cable cut, storage included",
        .promise = "h1 cannot say released: its watchdog resets it (once) and the survivors "
                   "wait out the fence delay as in F1, its VM writing again within watchdog "
                   "timeout + 5 s of the cut; after heal and power-on h1 rejoins",
        .observe_s = 5,
        .schedule = [](Play& p) -> Result<> {
            if (auto r = p.step("every cable of h1 is pulled",
                                cut(p.lab(), 1, {Net::kCluster, Net::kVm, Net::kStorage}));
                !r)
                return r;
            p.pause(15);
            if (auto r = p.step("the cables go back in", heal(p.lab())); !r) return r;
            std::ostringstream boot;
            if (auto r = p.step("h1 is powered on", power_on(p.lab(), 1, boot)); !r) return r;
            return p.settled(60);
        },
        .judge =
            [watchdog_s, fence_delay_s](Judge& j) {
                j.no_violations();
                j.writes_again_within("cut h1", "vm1", watchdog_s + 5);
                j.expect(j.wrote_elsewhere("vm1", "h1"), "vm1's new instance runs on a survivor");
                // h1's last proof of life (a slot write, its message back
                // through the cluster) is at the cut at the latest; it may pet
                // for the proof window after it, and the watchdog fires its
                // timeout after the last pet: the fence delay in all, plus
                // the checker's look.
                j.reset_once_before("h1", "cut h1", "vm1", fence_delay_s + 1);
                j.never_stopped("cut h1", "vm2");
                j.never_stopped("cut h1", "vm3");
                j.no_resets();
            },
    });

    rows.push_back(Row{
        .id = "F7",
        .title = "cluster network splits 2+1",
        .promise = "h3, the minority, loses quorum but keeps its storage and VM networks: as "
                   "F3, no restart, no reset, no guest stops writing; h3 rejoins after heal",
        .observe_s = 5,
        .schedule = [fence_delay_s](Play& p) -> Result<> {
            if (auto r = p.step("the cluster network splits h1,h2/h3",
                                partition(p.lab(), {{1, 2}, {3}}, {Net::kCluster}));
                !r)
                return r;
            p.pause(fence_delay_s + 5);
            if (auto r = p.step("the switch is mended", heal(p.lab())); !r) return r;
            return p.settled(30);
        },
        .judge =
            [](Judge& j) {
                j.no_violations();
                for (auto vm : {"vm1", "vm2", "vm3"}) {
                    j.never_stopped("partition", vm);
                    j.expect(j.writers(vm).size() == 1, std::string(vm) + " was never restarted");
                }
                j.no_resets();
                j.expect(j.watchdog_resets("h3").empty(), "h3 was reset by its watchdog");
            },
    });

    rows.push_back(Row{
        .id = "F7-vm",
        .title = "cluster and VM networks split 2+1",
        .promise = "h3, the minority, loses quorum and its VM network serves nobody: as F4, it "
                   "stops its VM and says released, the VM writes again on the majority within "
                   "the F4 bound with idle detection for a carrier drop, without a reset; "
                   "nothing runs twice; h3 rejoins after heal",
        .observe_s = 5,
        .schedule = [fence_delay_s](Play& p) -> Result<> {
            if (auto r = p.step("the cluster and VM networks split h1,h2/h3",
                                partition(p.lab(), {{1, 2}, {3}}, {Net::kCluster, Net::kVm}));
                !r)
                return r;
            p.pause(fence_delay_s + 8);
            if (auto r = p.step("the switch is mended", heal(p.lab())); !r) return r;
            return p.settled(60);
        },
        .judge =
            [](Judge& j) {
                j.no_violations();
                j.restarted_within("partition", "vm3", kF7VmBoundS);
                j.expect(j.wrote_elsewhere("vm3", "h3"), "vm3's new instance runs on the majority");
                j.expect(!j.decisions("released").empty(), "no vigild logged h3's VMs released");
                j.never_stopped("partition", "vm1");
                j.never_stopped("partition", "vm2");
                j.no_resets();
                j.expect(j.watchdog_resets("h3").empty(), "h3 was reset by its watchdog");
            },
    });

    rows.push_back(Row{
        .id = "F8",
        .title = "vigild killed",
        .promise = "vigild is restarted before the watchdog fires: no reset, VMs untouched",
        .observe_s = 3,
        .schedule = [watchdog_s](Play& p) -> Result<> {
            if (auto r = p.step("vigild on h1 is killed", kill_daemon(p.lab(), 1)); !r) return r;
            // Past the watchdog timeout: a vigild not restarted in time is reset.
            p.pause(watchdog_s + 3);
            return p.settled(30);
        },
        .judge =
            [](Judge& j) {
                j.no_violations();
                for (auto vm : {"vm1", "vm2", "vm3"}) {
                    j.never_stopped("kill-daemon h1", vm);
                    j.expect(j.writers(vm).size() == 1, std::string(vm) + " was never restarted");
                }
                j.no_resets();
            },
    });
    return rows;
}

}  // namespace

json RowRun::to_json() const {
    return {
        {"row", row},       {"ok", ok()},           {"failures", failures},  {"figures", figures},
        {"bounds", bounds}, {"timeline", timeline}, {"lab_after", lab_after}};
}

int Play::host(std::string_view name) const { return lab_->layout().host_index(name).value_or(0); }

int Play::vm_on(int host) const {
    for (int v = 1; v <= lab_->layout().vms(); ++v)
        if (lab_->layout().vm_home(v) == host) return v;
    return 0;
}

Result<> Play::step(std::string_view what, const Result<>& done) {
    *log_ << "  " << what << (done ? "" : ": could not: " + done.error().what) << "\n"
          << std::flush;
    if (!done) return fail(std::string(what) + ": " + done.error().what);
    return {};
}

void Play::pause(double seconds) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

Result<> Play::settled(double within_s) {
    const double until = now_s() + within_s;
    std::string why;
    for (;;) {
        std::vector<int> on;
        for (int h = 1; h <= lab_->layout().hosts(); ++h)
            if (lab_->host(h).power == Power::kOn) on.push_back(h);
        why.clear();
        for (int h : on) {
            if (auto w = unsettled(*lab_, h, static_cast<int>(on.size()) - 1)) {
                why = lab_->layout().host_name(h) + ": " + *w;
                break;
            }
        }
        if (why.empty()) return {};
        if (now_s() >= until) break;
        pause(0.25);
    }
    return fail("vigild did not settle within " + seconds_text(within_s) + " (" + why + ")");
}

void Judge::figure(const std::string& name, double value, std::optional<double> bound) {
    run_->figures[name] = value;
    if (bound) run_->bounds[name] = *bound;
}

void Judge::expect(bool ok, const std::string& failure) {
    if (!ok) run_->failures.push_back(failure);
}

std::optional<double> Judge::fault_at(std::string_view fault) const {
    for (const auto& e : run_->timeline["events"])
        if (e["kind"] == "fault" && starts_with(e["text"], fault)) return e["t"].get<double>();
    return std::nullopt;
}

bool Judge::stopped(std::string_view fault, std::string_view vm) const {
    for (const auto& r : run_->timeline["recoveries"])
        if (r["vm"] == vm && starts_with(r["fault"], fault)) return true;
    return false;
}

std::optional<double> Judge::writing_again(std::string_view fault, std::string_view vm) const {
    for (const auto& r : run_->timeline["recoveries"])
        if (r["vm"] == vm && starts_with(r["fault"], fault) &&
            r["writing_again_after_s"].is_number())
            return r["writing_again_after_s"].get<double>();
    return std::nullopt;
}

std::optional<double> Judge::new_instance_writing(std::string_view fault,
                                                  std::string_view vm) const {
    const auto at = fault_at(fault);
    if (!at) return std::nullopt;
    const auto prefix = std::string(vm) + ": new instance ";
    for (const auto& e : run_->timeline["events"])
        if (e["kind"] == "vm" && starts_with(e["text"], prefix) && e["t"].get<double>() >= *at)
            return e["t"].get<double>() - *at;
    return std::nullopt;
}

bool Judge::wrote_elsewhere(std::string_view vm, std::string_view from) const {
    const auto w = writers(vm);
    return std::any_of(w.begin(), w.end(), [&](const std::string& h) { return h != from; });
}

std::vector<std::string> Judge::writers(std::string_view vm) const {
    std::vector<std::string> hosts;
    const auto& w = run_->timeline["writers"];
    if (w.contains(vm))
        for (const auto& i : w[std::string(vm)]) hosts.push_back(i["host"]);
    return hosts;
}

std::map<std::string, std::string> Judge::resets() const {
    std::map<std::string, std::string> out;
    for (const auto& h : run_->lab_after.value("host_status", json::array()))
        if (h.value("power", "") == "reset") out[h["name"]] = h.value("reset", "reset");
    return out;
}

std::string Judge::domstate_after(std::string_view host, std::string_view vm) const {
    for (const auto& h : run_->lab_after.value("host_status", json::array()))
        if (h.value("name", "") == host && h.contains("vms") && h["vms"].contains(vm))
            return h["vms"][std::string(vm)].get<std::string>();
    return "";
}

std::vector<std::string> Judge::decisions(std::string_view text) const {
    std::vector<std::string> out;
    for (const auto& e : run_->timeline["events"])
        if (e["kind"] == "vigild" && e["text"].get<std::string>().find(text) != std::string::npos)
            out.push_back(e["text"]);
    return out;
}

std::vector<double> Judge::watchdog_resets(std::string_view host) const {
    std::vector<double> out;
    const auto prefix = std::string(host) + ": ";
    for (const auto& e : run_->timeline["events"])
        if (e["kind"] == "watchdog" && starts_with(e["text"], prefix) &&
            e["text"].get<std::string>().find("expired: reset the host") != std::string::npos)
            out.push_back(e["t"].get<double>());
    return out;
}

void Judge::no_violations() {
    for (const auto& v : run_->timeline["violations"])
        run_->failures.push_back("violation at " + seconds_text(v["t"].get<double>()) + ": " +
                                 v["vm"].get<std::string>() + " " + v["kind"].get<std::string>() +
                                 " (" + v["detail"].get<std::string>() + ")");
}

void Judge::no_resets() {
    for (const auto& [host, how] : resets()) run_->failures.push_back(host + " was reset: " + how);
}

void Judge::writes_again_within(std::string_view fault, std::string_view vm, double bound_s) {
    const auto after = writing_again(fault, vm);
    if (!after) {
        run_->failures.push_back(std::string(vm) + " did not write again after '" +
                                 std::string(fault) + "'" +
                                 (stopped(fault, vm) ? "" : " (the fault did not stop it)"));
        return;
    }
    figure(std::string(vm) + " writing again s", *after, bound_s);
    expect(*after <= bound_s, std::string(vm) + " wrote again " + seconds_text(*after) +
                                  " after '" + std::string(fault) + "', bound " +
                                  seconds_text(bound_s));
}

void Judge::restarted_within(std::string_view fault, std::string_view vm, double bound_s) {
    const auto after = new_instance_writing(fault, vm);
    if (!after) {
        run_->failures.push_back("no new instance of " + std::string(vm) + " wrote after '" +
                                 std::string(fault) + "'");
        return;
    }
    figure(std::string(vm) + " writing again s", *after, bound_s);
    expect(*after <= bound_s, std::string(vm) + " wrote again " + seconds_text(*after) +
                                  " after '" + std::string(fault) + "', bound " +
                                  seconds_text(bound_s));
}

void Judge::never_stopped(std::string_view fault, std::string_view vm) {
    expect(!stopped(fault, vm),
           std::string(vm) + " stopped writing after '" + std::string(fault) + "'");
}

void Judge::reset_once_before(std::string_view host, std::string_view fault, std::string_view vm,
                              double bound_s) {
    const auto resets = watchdog_resets(host);
    const auto h = std::string(host);
    expect(resets.size() == 1, h + " was reset by its watchdog " + std::to_string(resets.size()) +
                                   " times, once expected");
    const auto at = fault_at(fault);
    if (resets.empty() || !at) return;
    const double after = resets.front() - *at;
    figure(h + " reset s", after, bound_s);
    expect(after <= bound_s, h + " was reset " + seconds_text(after) + " after '" +
                                 std::string(fault) + "', bound " + seconds_text(bound_s));
    if (const auto again = writing_again(fault, vm))
        expect(after < *again, h + " was reset " + seconds_text(after) + " after '" +
                                   std::string(fault) + "', after " + std::string(vm) +
                                   " wrote again elsewhere (" + seconds_text(*again) + ")");
}

const std::vector<Row>& matrix_rows() {
    static const std::vector<Row> rows = make_rows();
    return rows;
}

const Row* find_row(std::string_view id) {
    for (const auto& r : matrix_rows())
        if (r.id == id) return &r;
    return nullptr;
}

Result<RowRun> play_row(const fs::path& root, const Row& row, std::ostream& log) {
    auto lab = Lab::load(root);
    if (!lab) return std::unexpected(lab.error());
    const auto& l = lab->layout();
    if (l.hosts() < row.hosts || l.vms() < row.vms)
        return fail(row.id + " needs " + std::to_string(row.hosts) + " hosts and " +
                    std::to_string(row.vms) + " guests; this lab has " + std::to_string(l.hosts()) +
                    " and " + std::to_string(l.vms()));
    if (!lab->vigild_config()) return fail(row.id + " needs vigild in cluster mode");
    Play play(*lab, log);
    log << row.id << " (" << row.title << "): waiting for vigild to settle\n" << std::flush;
    if (auto r = play.settled(60); !r) return std::unexpected(r.error());

    const auto timeline_path = l.run_dir() / (row.id + "-timeline.json");
    std::cout.flush();
    std::cerr.flush();
    pid_t checker = ::fork();
    if (checker < 0) return fail("cannot fork the checker");
    if (checker == 0) {
        auto t = run_checker(*lab, 0, timeline_path);
        ::_exit(t ? 0 : 1);
    }
    play.pause(3);
    auto played = row.schedule(play);
    play.pause(row.observe_s);
    ::kill(checker, SIGTERM);
    int status = 0;
    ::waitpid(checker, &status, 0);

    RowRun run;
    run.row = row.id;
    auto text = read_file(timeline_path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !text)
        return fail("the checker failed" + (text ? "" : ": " + text.error().what));
    run.timeline = json::parse(*text, nullptr, false);
    if (!run.timeline.is_object()) return fail("the checker's timeline is not JSON");
    run.lab_after = json::parse(lab->status_json(), nullptr, false);
    if (!played) run.failures.push_back("the schedule did not run: " + played.error().what);
    Judge judge(run);
    row.judge(judge);
    return run;
}

json BenchReport::to_json() const {
    json fig = json::array();
    for (const auto& f : figures) {
        json e{{"row", f.row}, {"figure", f.name}, {"values", f.values}};
        if (f.bound) e["bound"] = *f.bound;
        fig.push_back(e);
    }
    return {{"runs", runs}, {"figures", fig}, {"passed", passed}, {"failed", failed}};
}

std::string BenchReport::table() const {
    std::ostringstream out;
    out.precision(1);
    out << std::fixed;
    out << "| row | figure | runs | median | worst | bound | promise kept |\n"
        << "|---|---|---|---|---|---|---|\n";
    for (const auto& f : figures) {
        auto v = f.values;
        std::sort(v.begin(), v.end());
        const auto kept = passed.contains(f.row) ? passed.at(f.row) : 0;
        out << "| " << f.row << " | " << f.name << " | " << v.size() << " | ";
        if (v.empty()) {
            out << "- | - | ";
        } else {
            const double median =
                v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
            out << median << " s | " << v.back() << " s | ";
        }
        if (f.bound)
            out << *f.bound << " s";
        else
            out << "-";
        out << " | " << kept << " of " << runs << " |\n";
    }
    return out.str();
}

Result<BenchReport> run_bench(const fs::path& root, const std::vector<const Row*>& rows, int runs,
                              std::ostream& log) {
    if (runs < 1) return fail("runs must be at least 1");
    BenchReport report;
    report.runs = runs;
    for (const Row* row : rows) {
        report.passed[row->id] = 0;
        std::map<std::string, size_t> index;  // figure name -> report.figures
        for (int i = 1; i <= runs; ++i) {
            log << "bench: " << row->id << " run " << i << " of " << runs << "\n" << std::flush;
            std::ostringstream quiet;  // bring-up and take-down progress
            auto lab = Lab::up(root, row->hosts, row->vms, Tools::from_build(), quiet);
            Result<RowRun> run = lab ? play_row(root, *row, log) : std::unexpected(lab.error());
            (void)Lab::down(root, quiet);
            if (!run) {
                report.failed[row->id].push_back("run " + std::to_string(i) +
                                                 " not played: " + run.error().what);
                continue;
            }
            if (run->ok()) ++report.passed[row->id];
            for (const auto& why : run->failures)
                report.failed[row->id].push_back("run " + std::to_string(i) + ": " + why);
            for (const auto& [name, value] : run->figures) {
                auto [it, fresh] = index.try_emplace(name, report.figures.size());
                if (fresh) {
                    std::optional<double> bound;
                    if (run->bounds.contains(name)) bound = run->bounds.at(name);
                    report.figures.push_back({row->id, name, {}, bound});
                }
                report.figures[it->second].values.push_back(value);
            }
        }
    }
    return report;
}

}  // namespace vigil::lab
