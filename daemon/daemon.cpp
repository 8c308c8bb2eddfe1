#include "daemon/daemon.h"

#include <systemd/sd-daemon.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace vigil {
namespace {

using adapters::Priority;
namespace mid = adapters::message_id;

Priority priority_of(config::LogLevel level)
{
    switch (level) {
    case config::LogLevel::debug:
        return Priority::debug;
    case config::LogLevel::info:
        return Priority::info;
    case config::LogLevel::warning:
        return Priority::warning;
    case config::LogLevel::error:
        return Priority::error;
    }
    return Priority::info;
}

std::string errno_name(int error)
{
    const char* name = strerrorname_np(error);
    return name != nullptr ? name : "E" + std::to_string(error);
}

std::string error_reply(const std::string& message)
{
    return nlohmann::json{{"ok", false}, {"error", message}}.dump();
}

}  // namespace

Daemon::Daemon(config::Config config)
    : config_(std::move(config)), journal_(priority_of(config_.log_level))
{
}

Daemon::~Daemon() = default;

std::expected<std::unique_ptr<Daemon>, Error> Daemon::make(config::Config config)
{
    std::unique_ptr<Daemon> self(new Daemon(std::move(config)));
    auto loop = adapters::EventLoop::make();
    if (!loop) return std::unexpected(loop.error());
    self->loop_ = std::move(*loop);
    self->started_ = self->loop_->now();

    auto metrics = exporters::Metrics::make(exporters::MetricsOptions{
        .serve = self->config_.metrics_enabled,
        .host = self->config_.metrics_listen.host,
        .port = self->config_.metrics_listen.port,
        .version = kVersion,
    });
    if (!metrics) return std::unexpected(metrics.error());
    self->metrics_ = std::move(*metrics);

    Daemon* raw = self.get();
    auto control = adapters::ControlServer::make(
        *self->loop_, self->config_.control_socket,
        [raw](const std::string& request) { return raw->handle_request(request); },
        [raw](const std::string& reason) { raw->refuse_input("control", reason); });
    if (!control) return std::unexpected(control.error());
    self->control_ = std::move(*control);

    if (auto ok = self->loop_->stop_on_signals(); !ok) return std::unexpected(ok.error());
    if (auto ok = self->loop_->enable_systemd_watchdog(); !ok) return std::unexpected(ok.error());
    self->start_probes();
    if (auto ok = self->loop_->every(self->config_.probe_poll_interval,
                                     [raw] { raw->refresh_counters(); });
        !ok) {
        return std::unexpected(ok.error());
    }
    return self;
}

void Daemon::refuse_input(const std::string& source, const std::string& reason)
{
    metrics_->count_bad_input(source);
    journal_.log(Priority::warning, mid::kBadInput, source + " input refused: " + reason,
                 {{"SOURCE", source}, {"REASON", reason}});
}

void Daemon::start_probes()
{
    auto block = bpf::BlockProbes::make({.events_per_second = config_.block_error_events_per_second});
    if (block) {
        block_ = std::move(*block);
        probes_.insert(probes_.end(), block_->probes().begin(), block_->probes().end());
        if (block_->event_fd() >= 0) {
            auto watched = loop_->watch_fd(block_->event_fd(), [this] { on_block_errors(); });
            if (!watched) {
                journal_.log(Priority::error, mid::kProbe, watched.error().message);
            }
        }
    } else {
        probes_.push_back(bpf::ProbeStatus{"block_io_errors", "tracepoint/block/block_rq_error",
                                           bpf::ProbeState::failed, block.error().message});
    }
    auto sunrpc = bpf::SunrpcProbes::make();
    if (sunrpc) {
        sunrpc_ = std::move(*sunrpc);
        probes_.insert(probes_.end(), sunrpc_->probes().begin(), sunrpc_->probes().end());
    } else {
        probes_.push_back(bpf::ProbeStatus{"sunrpc_timeouts", "tracepoint/sunrpc/rpc_timeout_status",
                                           bpf::ProbeState::failed, sunrpc.error().message});
    }
    for (const auto& p : probes_) {
        const bool up = p.state == bpf::ProbeState::attached;
        metrics_->set_probe_up(p.name, up);
        journal_.log(up ? Priority::info : Priority::warning, mid::kProbe,
                     up ? "probe " + p.name + " attached to " + p.hook
                        : "probe " + p.name + " " + bpf::to_string(p.state) + ": " + p.reason,
                     {{"PROBE", p.name},
                      {"HOOK", p.hook},
                      {"STATE", bpf::to_string(p.state)},
                      {"REASON", p.reason}});
    }
}

void Daemon::on_block_errors()
{
    block_->drain([this](const bpf::BlockErrorEvent& ev) {
        const std::string device = device_names_.name(ev.device.major, ev.device.minor);
        const std::string error = errno_name(ev.error);
        std::string message = "block I/O error on " + device + ": " + bpf::to_string(ev.op) +
                              " of " + std::to_string(ev.sectors) + " sectors at " +
                              std::to_string(ev.sector) + " failed with " + error;
        if (ev.suppressed_before > 0) {
            message += " (" + std::to_string(ev.suppressed_before) + " earlier errors not logged)";
        }
        journal_.log(Priority::warning, mid::kBlockIoError, message,
                     {{"DEVICE", device},
                      {"DEVICE_NUMBER", std::to_string(ev.device.major) + ":" +
                                            std::to_string(ev.device.minor)},
                      {"OP", bpf::to_string(ev.op)},
                      {"ERROR", error},
                      {"SECTOR", std::to_string(ev.sector)},
                      {"SECTORS", std::to_string(ev.sectors)},
                      {"RWBS", ev.rwbs},
                      {"SUPPRESSED", std::to_string(ev.suppressed_before)}});
    });
    refresh_counters();
}

void Daemon::refresh_counters()
{
    if (block_) {
        for (const auto& c : block_->error_counts()) {
            ErrorKey key{device_names_.name(c.device.major, c.device.minor), bpf::to_string(c.op),
                         errno_name(c.error)};
            auto& seen = block_errors_[key];
            if (c.count != seen) {
                seen = c.count;
                metrics_->set_block_io_errors(std::get<0>(key), std::get<1>(key), std::get<2>(key),
                                              c.count);
            }
        }
    }
    if (sunrpc_) metrics_->set_sunrpc_major_timeouts(sunrpc_->major_timeouts());
}

std::string Daemon::status_json() const
{
    nlohmann::json probes = nlohmann::json::array();
    for (const auto& p : probes_) {
        probes.push_back({{"name", p.name},
                          {"hook", p.hook},
                          {"state", bpf::to_string(p.state)},
                          {"reason", p.reason}});
    }
    std::map<std::string, nlohmann::json> by_device;
    for (const auto& [key, count] : block_errors_) {
        const auto& [device, op, error] = key;
        by_device[device].push_back({{"op", op}, {"error", error}, {"count", count}});
    }
    nlohmann::json devices = nlohmann::json::array();
    for (auto& [device, errors] : by_device) {
        devices.push_back({{"device", device}, {"io_errors", errors}});
    }
    const double uptime =
        std::chrono::duration<double>(loop_->now() - started_).count();
    return nlohmann::json{{"ok", true},
                          {"status",
                           {{"version", kVersion},
                            {"mode", config_.standalone ? "standalone" : "cluster"},
                            {"config", config_.source},
                            {"uptime_seconds", uptime},
                            {"probes", probes},
                            {"block_devices", devices}}}}
        .dump();
}

std::string Daemon::handle_request(const std::string& request)
{
    const auto parsed = nlohmann::json::parse(request, nullptr, /*allow_exceptions=*/false);
    auto refuse = [this](const std::string& reason) {
        refuse_input("control", reason);
        return error_reply(reason);
    };
    if (parsed.is_discarded()) return refuse("request is not valid JSON");
    if (!parsed.is_object() || !parsed.contains("command") || !parsed["command"].is_string()) {
        return refuse("request must be a JSON object with a string \"command\"");
    }
    const auto command = parsed["command"].get<std::string>();
    if (command == "status") return status_json();
    return refuse("unknown command \"" + command + "\" (known: status)");
}

int Daemon::run()
{
    refresh_counters();
    journal_.log(Priority::notice, mid::kStarted,
                 std::string("vigild ") + kVersion + " started (" +
                     (config_.standalone ? "standalone" : "cluster") + " mode)",
                 {{"MODE", config_.standalone ? "standalone" : "cluster"},
                  {"CONFIG", config_.source.empty() ? "(defaults)" : config_.source}});
    sd_notify(0, "READY=1\nSTATUS=watching the local kernel");
    const int code = loop_->run();
    sd_notify(0, "STOPPING=1");
    journal_.log(Priority::notice, mid::kStopped, "vigild stopping", {});
    return code;
}

}  // namespace vigil
