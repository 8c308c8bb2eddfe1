#include "daemon/watch/block_watcher.h"

#include <cstring>
#include <set>

#include "daemon/adapters/block_stats.h"
#include "daemon/core/decision.h"

namespace vigil::watch {

using adapters::Priority;
namespace mid = adapters::message_id;

std::string errno_name(int error) {
    const char* name = strerrorname_np(error);
    return name != nullptr ? name : "E" + std::to_string(error);
}

std::unique_ptr<BlockWatcher> BlockWatcher::make(adapters::EventLoop& loop, Outputs outputs,
                                                 const BlockWatcherOptions& options,
                                                 std::function<void()> after_events) {
    std::unique_ptr<BlockWatcher> self(new BlockWatcher(loop, std::move(outputs), options));
    self->after_events_ = std::move(after_events);
    auto block = bpf::BlockProbes::make({.events_per_second = options.events_per_second});
    if (!block) {
        self->out_.probe({"block_io_errors", "tracepoint/block/block_rq_error",
                          bpf::ProbeState::kFailed, block.error().message});
        return self;
    }
    self->probes_ = std::move(*block);
    for (const auto& p : self->probes_->probes()) self->out_.probe(p);
    if (self->probes_->event_fd() >= 0) {
        BlockWatcher* raw = self.get();
        auto watched = loop.watch_fd(self->probes_->event_fd(), [raw] { raw->on_errors(); });
        if (!watched) {
            self->out_.journal.log(Priority::kError, mid::kProbe, watched.error().message);
        }
    }
    if (!self->options_.probe_devices.empty()) {
        auto prober = adapters::BlockProber::make();
        BlockWatcher* raw = self.get();
        if (prober) {
            auto watched = loop.watch_fd((*prober)->fd(), [raw] { raw->on_probes(); });
            if (watched) {
                self->prober_ = std::move(*prober);
            } else {
                self->out_.journal.log(Priority::kError, mid::kProbe,
                                       "block device probes off: " + watched.error().message);
            }
        } else {
            self->out_.journal.log(Priority::kError, mid::kProbe,
                                   "block device probes off: " + prober.error().message);
        }
    }
    return self;
}

void BlockWatcher::on_probes() {
    for (const auto& r : prober_->dispatch()) {
        auto it = devices_.find(r.device);
        if (!r.ok || it == devices_.end()) continue;
        auto& issued = it->second.probe_ok_issued;
        if (!issued || r.issued > *issued) issued = r.issued;
    }
    poll();
}

// Once per poll interval at most: a failed probe ends in an error the probes
// report at once, whose poll must not start the next probe.
void BlockWatcher::probe_failed(std::chrono::nanoseconds now) {
    if (!prober_) return;
    for (auto& [name, d] : devices_) {
        if (!d.listed || d.monitor.health() != core::StorageHealth::kFailed ||
            !options_.probe_devices.contains(name))
            continue;
        if (d.probed_at && now - *d.probed_at < options_.poll_interval / 2) continue;
        if (prober_->submit(name, now)) d.probed_at = now;
    }
}

std::expected<void, Error> BlockWatcher::start_rechecks() {
    if (!probes_) return {};
    auto alarm = loop_.add_alarm([this] {
        recheck_at_.reset();
        poll();
    });
    if (!alarm) return std::unexpected(alarm.error());
    recheck_ = *alarm;
    return {};
}

void BlockWatcher::on_errors() {
    const auto now = adapters::monotonic_now();
    probes_->drain([this, now](const bpf::BlockErrorEvent& ev) {
        // From the kernel's tracepoint to this handler, same clock on both sides.
        const auto delivery = std::chrono::duration_cast<std::chrono::microseconds>(
            now > ev.monotonic ? now - ev.monotonic : std::chrono::nanoseconds(0));
        const std::string device = device_names_.name(ev.device.major, ev.device.minor);
        const std::string error = errno_name(ev.error);
        std::string message = "block I/O error on " + device + ": " +
                              std::string(bpf::name(ev.op)) + " of " + std::to_string(ev.sectors) +
                              " sectors at " + std::to_string(ev.sector) + " failed with " + error;
        if (ev.suppressed_before > 0) {
            message += " (" + std::to_string(ev.suppressed_before) + " earlier errors not logged)";
        }
        out_.evidence(Priority::kWarning, mid::kBlockIoError, message,
                      {{"DEVICE", device},
                       {"DEVICE_NUMBER",
                        std::to_string(ev.device.major) + ":" + std::to_string(ev.device.minor)},
                       {"OP", std::string(bpf::name(ev.op))},
                       {"ERROR", error},
                       {"SECTOR", std::to_string(ev.sector)},
                       {"SECTORS", std::to_string(ev.sectors)},
                       {"RWBS", ev.rwbs},
                       {"SUPPRESSED", std::to_string(ev.suppressed_before)},
                       {"DELIVERY_US", std::to_string(delivery.count())}});
    });
    if (after_events_) after_events_();
}

BlockWatcher::Device& BlockWatcher::device(const std::string& name) {
    auto it = devices_.find(name);
    if (it == devices_.end()) it = devices_.emplace(name, Device(options_.thresholds)).first;
    return it->second;
}

void BlockWatcher::poll() {
    if (!probes_) return;
    const auto now = loop_.now();
    std::map<std::string, core::StorageSample> samples;
    for (auto& [name, d] : devices_) {
        samples[name] = core::StorageSample{.gone_errors = d.last.gone_errors,
                                            .no_space_errors = d.last.no_space_errors,
                                            .transient_errors = d.last.transient_errors};
    }

    std::map<std::string, std::array<std::uint64_t, 3>> by_class;  // gone, no space, transient
    for (const auto& c : probes_->error_counts()) {
        const std::string name = device_names_.name(c.device.major, c.device.minor);
        ErrorKey key{name, bpf::name(c.op), errno_name(c.error)};
        auto& seen = errors_[key];
        if (c.count != seen) {
            seen = c.count;
            out_.metrics.set_block_io_errors(name, std::get<1>(key), std::get<2>(key), c.count);
        }
        auto& classes = by_class[name];
        switch (core::classify_block_error(c.error)) {
            case core::BlockErrorClass::kGone:
                classes[0] += c.count;
                break;
            case core::BlockErrorClass::kNoSpace:
                classes[1] += c.count;
                break;
            case core::BlockErrorClass::kTransient:
                classes[2] += c.count;
                break;
            case core::BlockErrorClass::kOther:
                break;
        }
    }
    for (const auto& [name, classes] : by_class) {
        auto& sample = samples[name];
        sample.gone_errors = classes[0];
        sample.no_space_errors = classes[1];
        sample.transient_errors = classes[2];
    }
    std::set<std::string> listed;
    for (const auto& st : adapters::read_block_stats()) {
        listed.insert(st.name);
        // Devices that never saw I/O are not worth a line of status.
        if (st.completed == 0 && st.in_flight == 0 && !devices_.contains(st.name)) continue;
        auto& sample = samples[st.name];
        sample.in_flight = st.in_flight;
        sample.oldest_in_flight = device(st.name).progress.observe(
            core::TimePoint(now), st.in_flight, st.completed, st.busy);
    }
    for (const auto& h : probes_->latency()) {
        out_.metrics.set_block_latency(device_names_.name(h.device.major, h.device.minor), h.slots,
                                       h.sum_us);
    }
    for (const auto& wb : probes_->writeback_errors()) {
        const std::string name = device_names_.name(wb.device.major, wb.device.minor);
        const std::string error = errno_name(wb.error);
        auto& seen = device(name).writeback_errors[error];
        if (wb.count > seen) {
            // Counted in the kernel, summarised here once per interval.
            std::string message = std::to_string(wb.count - seen);
            message += " writeback errors (";
            message += error;
            message += ") on ";
            message += name;
            message += " since the last poll";
            out_.evidence(Priority::kWarning, mid::kWritebackErrors, message,
                          {{"DEVICE", name},
                           {"ERROR", error},
                           {"NEW", std::to_string(wb.count - seen)},
                           {"TOTAL", std::to_string(wb.count)}});
            seen = wb.count;
            out_.metrics.set_writeback_errors(name, error, wb.count);
        }
    }

    static const std::vector<std::string> kStates = {"ok", "degraded", "no-space", "stalled",
                                                     "failed"};
    for (auto& [name, sample] : samples) {
        sample.now = core::TimePoint(now);
        Device& d = device(name);
        if (d.probe_ok_issued) sample.probe_ok_issued = core::TimePoint(*d.probe_ok_issued);
        d.last = sample;
        if (auto tr = d.monitor.observe(sample)) {
            const bool worse = tr->to != core::StorageHealth::kOk;
            out_.evidence(worse ? Priority::kWarning : Priority::kNotice, mid::kStorageState,
                          "storage device " + name + " is " + std::string(core::name(tr->to)) +
                              " (was " + std::string(core::name(tr->from)) + "): " + tr->evidence,
                          {{"DEVICE", name},
                           {"STATE", std::string(core::name(tr->to))},
                           {"PREVIOUS", std::string(core::name(tr->from))},
                           {"EVIDENCE", tr->evidence}});
        }
        if (const bool answering = d.monitor.answering(); answering != d.answering) {
            d.answering = answering;
            if (answering) {
                out_.evidence(Priority::kNotice, mid::kStorageState,
                              "storage device " + name +
                                  " answers again: a read issued after its last error "
                                  "completed; failed until the error window and hold run out",
                              {{"DEVICE", name}, {"STATE", "failed"}, {"ANSWERING", "yes"}});
            }
        }
        out_.metrics.set_block_inflight(
            name, sample.in_flight, std::chrono::duration<double>(sample.oldest_in_flight).count());
        out_.metrics.set_storage_state(name, std::string(core::name(d.monitor.health())), kStates);
    }
    for (auto& [name, d] : devices_) {
        const bool now_listed = listed.contains(name);
        if (d.listed && !now_listed) {
            if (on_gone_) on_gone_(name);
        } else if (now_listed && on_device_) {
            on_device_(name, d.monitor.health(), d.last.in_flight > 0, d.answering);
        }
        d.listed = now_listed;
    }
    probe_failed(now);
    schedule_recheck(now);
}

void BlockWatcher::schedule_recheck(std::chrono::nanoseconds now) {
    if (!recheck_) return;
    if (recheck_at_ && *recheck_at_ <= now) recheck_at_.reset();
    std::optional<core::Duration> soonest;
    for (const auto& [name, d] : devices_) {
        const auto left = core::until_next_threshold(d.monitor.thresholds(), d.last);
        if (left && (!soonest || *left < *soonest)) soonest = left;
    }
    if (!soonest || *soonest >= options_.poll_interval) return;
    // A millisecond late, so the busy time (jiffies) has certainly passed it.
    const auto at = now + *soonest + std::chrono::milliseconds(1);
    if (recheck_at_ && *recheck_at_ <= at) return;
    recheck_at_ = at;
    loop_.set_alarm(*recheck_, at);
}

BlockSnapshot BlockWatcher::snapshot() const {
    std::map<std::string, std::vector<BlockIoErrors>> errors_by_device;
    for (const auto& [key, count] : errors_) {
        const auto& [name, op, error] = key;
        errors_by_device[name].push_back({.op = op, .error = error, .count = count});
    }
    BlockSnapshot s;
    for (const auto& [name, d] : devices_) {
        s.devices.push_back(BlockDeviceSnapshot{.device = name,
                                                .health = d.monitor.health(),
                                                .in_flight = d.last.in_flight,
                                                .oldest_in_flight = d.last.oldest_in_flight,
                                                .io_errors = errors_by_device[name],
                                                .writeback_errors = d.writeback_errors});
    }
    return s;
}

}  // namespace vigil::watch
