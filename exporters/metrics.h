// vigil's Prometheus metrics. The only place that includes prometheus-cpp.
// Served over HTTP on a configured address (127.0.0.1:9774 by default).
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "daemon/ports/error.h"

namespace prometheus {
class Collectable;
class Counter;
class Exposer;
class Gauge;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace vigil::exporters {

struct MetricsOptions {
    bool serve = true;  // false: keep the registry, open no port
    std::string host = "127.0.0.1";
    std::uint16_t port = 9774;
    std::string version;
};

class Metrics {
public:
    [[nodiscard]] static std::expected<std::unique_ptr<Metrics>, Error> make(
        const MetricsOptions& options);
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    void set_probe_up(const std::string& probe, bool up);
    // The kernel keeps absolute error counts; this advances the counter to `total`.
    void set_block_io_errors(const std::string& device, const std::string& op,
                             const std::string& error, std::uint64_t total);
    void set_sunrpc_major_timeouts(std::uint64_t total);
    // Input from outside (control socket, config reloads, ...) that was refused.
    void count_bad_input(const std::string& source);

    // The exposition text, as served on /metrics.
    [[nodiscard]] std::string render() const;

private:
    Metrics() = default;
    std::shared_ptr<prometheus::Registry> registry_;
    std::shared_ptr<prometheus::Collectable> collectable_;
    std::unique_ptr<prometheus::Exposer> exposer_;
    prometheus::Family<prometheus::Gauge>* probe_up_ = nullptr;
    prometheus::Family<prometheus::Counter>* block_io_errors_ = nullptr;
    prometheus::Family<prometheus::Counter>* bad_input_ = nullptr;
    prometheus::Counter* sunrpc_major_timeouts_ = nullptr;
    std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> block_seen_;
    std::uint64_t sunrpc_seen_ = 0;
};

}  // namespace vigil::exporters
