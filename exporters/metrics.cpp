#include "exporters/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <sstream>

namespace vigil::exporters {
namespace {

constexpr const char* kBlockErrorsHelp =
    "Block I/O requests that completed with an error, by device, operation and errno, "
    "counted in the kernel";
constexpr const char* kBadInputHelp = "Input from outside that vigild refused, by source";

// A counter that mirrors an absolute count kept elsewhere (the kernel).
void advance(prometheus::Counter& counter, std::uint64_t& seen, std::uint64_t total)
{
    if (total > seen) {
        counter.Increment(static_cast<double>(total - seen));
        seen = total;
    }
}

// prometheus-cpp leaves out families that have no series yet. A scraper
// should still see every family vigil offers (with its HELP and TYPE) before
// the first error happens, so the empty ones are added back here.
class AllFamilies : public prometheus::Collectable {
public:
    explicit AllFamilies(std::shared_ptr<prometheus::Registry> registry)
        : registry_(std::move(registry))
    {
    }

    void declare(std::string name, std::string help, prometheus::MetricType type)
    {
        declared_.push_back(prometheus::MetricFamily{std::move(name), std::move(help), type, {}});
    }

    std::vector<prometheus::MetricFamily> Collect() const override
    {
        auto families = registry_->Collect();
        for (const auto& d : declared_) {
            const bool present = std::any_of(families.begin(), families.end(),
                                             [&](const auto& f) { return f.name == d.name; });
            if (!present) families.push_back(d);
        }
        return families;
    }

private:
    std::shared_ptr<prometheus::Registry> registry_;
    std::vector<prometheus::MetricFamily> declared_;
};

}  // namespace

std::expected<std::unique_ptr<Metrics>, Error> Metrics::make(const MetricsOptions& options)
{
    std::unique_ptr<Metrics> self(new Metrics());
    self->registry_ = std::make_shared<prometheus::Registry>();
    auto& reg = *self->registry_;

    self->probe_up_ = &prometheus::BuildGauge()
                           .Name("vigil_probe_up")
                           .Help("1 when the probe's kernel hook is attached, 0 when it is "
                                 "unavailable on this kernel or failed to attach")
                           .Register(reg);
    self->block_io_errors_ = &prometheus::BuildCounter()
                                  .Name("vigil_block_io_errors_total")
                                  .Help(kBlockErrorsHelp)
                                  .Register(reg);
    self->bad_input_ = &prometheus::BuildCounter()
                            .Name("vigil_bad_input_total")
                            .Help(kBadInputHelp)
                            .Register(reg);
    self->sunrpc_major_timeouts_ = &prometheus::BuildCounter()
                                        .Name("vigil_sunrpc_major_timeouts_total")
                                        .Help("RPC tasks that ended in a major timeout")
                                        .Register(reg)
                                        .Add({});
    prometheus::BuildGauge()
        .Name("vigil_build_info")
        .Help("Always 1; the version is a label")
        .Register(reg)
        .Add({{"version", options.version}})
        .Set(1);
    auto all = std::make_shared<AllFamilies>(self->registry_);
    all->declare("vigil_block_io_errors_total", kBlockErrorsHelp, prometheus::MetricType::Counter);
    all->declare("vigil_bad_input_total", kBadInputHelp, prometheus::MetricType::Counter);
    self->collectable_ = all;
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    prometheus::BuildGauge()
        .Name("vigil_start_time_seconds")
        .Help("When vigild started, in seconds since the epoch")
        .Register(reg)
        .Add({})
        .Set(std::chrono::duration<double>(now).count());

    if (options.serve) {
        const std::string bind = (options.host.find(':') != std::string::npos
                                      ? "[" + options.host + "]"
                                      : options.host) +
                                 ":" + std::to_string(options.port);
        try {
            self->exposer_ = std::make_unique<prometheus::Exposer>(bind, 2);
        } catch (const std::exception& e) {
            return std::unexpected(Error{"serving metrics on " + bind + ": " + e.what()});
        }
        self->exposer_->RegisterCollectable(self->collectable_);
    }
    return self;
}

Metrics::~Metrics() = default;

void Metrics::set_probe_up(const std::string& probe, bool up)
{
    probe_up_->Add({{"probe", probe}}).Set(up ? 1 : 0);
}

void Metrics::set_block_io_errors(const std::string& device, const std::string& op,
                                  const std::string& error, std::uint64_t total)
{
    auto& counter = block_io_errors_->Add({{"device", device}, {"op", op}, {"error", error}});
    advance(counter, block_seen_[{device, op, error}], total);
}

void Metrics::set_sunrpc_major_timeouts(std::uint64_t total)
{
    advance(*sunrpc_major_timeouts_, sunrpc_seen_, total);
}

void Metrics::count_bad_input(const std::string& source)
{
    bad_input_->Add({{"source", source}}).Increment();
}

std::string Metrics::render() const
{
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, collectable_->Collect());
    return out.str();
}

}  // namespace vigil::exporters
