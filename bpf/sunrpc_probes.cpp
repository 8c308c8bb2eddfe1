#include "bpf/sunrpc_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <array>
#include <cerrno>
#include <cstdint>

#include "bpf/probe_table.h"
#include "bpf/sunrpc.skel.h"
#include "bpf/vigil_events.h"

namespace vigil::bpf {

using detail::Hook;

namespace {

enum class Phase : std::uint8_t { kWaiting, kLoaded, kFailed };

struct Probe {
    const char* name;  // stable: the metrics label
    const char* event;
};

// One probe per tracepoint, each optional on its own: these tracepoints came
// in different kernel releases, and a missing one must not cost the others.
constexpr std::array<Probe, 4> kProbes = {{
    {"sunrpc_timeouts", "rpc_timeout_status"},
    {"sunrpc_minor_timeouts", "xprt_timer"},
    {"sunrpc_retransmits", "xprt_retransmit"},
    {"sunrpc_call_errors", "rpc_call_rpcerror"},
}};

}  // namespace

struct SunrpcProbes::Impl {
    vigil_sunrpc* skel = nullptr;
    std::expected<std::string, Error> tracefs = std::string();
    std::array<Hook, kProbes.size()> hooks{};
    std::array<bpf_link*, kProbes.size()> links{};
    Phase phase = Phase::kWaiting;

    ~Impl() {
        for (bpf_link* link : links) {
            if (link != nullptr) bpf_link__destroy(link);
        }
        if (skel != nullptr) vigil_sunrpc__destroy(skel);
    }
};

std::expected<std::unique_ptr<SunrpcProbes>, Error> SunrpcProbes::make(
    const SunrpcOptions& options) {
    detail::init_libbpf();
    std::unique_ptr<SunrpcProbes> self(new SunrpcProbes());
    self->impl_ = std::make_unique<Impl>();
    Impl& impl = *self->impl_;
    impl.skel = vigil_sunrpc__open();
    if (impl.skel == nullptr)
        return std::unexpected(Error::from_errno("opening sunrpc BPF object", errno));
    if (impl.skel->rodata->vigil_abi_version != VIGIL_BPF_ABI_VERSION) {
        return std::unexpected(Error{"sunrpc BPF object has ABI version " +
                                     std::to_string(impl.skel->rodata->vigil_abi_version) +
                                     ", this vigild expects " +
                                     std::to_string(VIGIL_BPF_ABI_VERSION)});
    }
    auto& progs = impl.skel->progs;
    for (bpf_program* twin : {progs.twin_rpc_timeout_status, progs.twin_xprt_timer,
                              progs.twin_xprt_retransmit, progs.twin_rpc_call_rpcerror}) {
        bpf_program__set_autoload(twin, false);
    }
    bpf_program* programs[] = {progs.rpc_timeout_status, progs.xprt_timer, progs.xprt_retransmit,
                               progs.rpc_call_rpcerror};
    for (std::size_t i = 0; i < kProbes.size(); ++i)
        impl.hooks[i] = Hook{programs[i], "sunrpc", kProbes[i].event};
    impl.tracefs = options.tracefs.empty() ? ensure_tracefs()
                                           : std::expected<std::string, Error>(options.tracefs);
    self->try_attach();
    return self;
}

SunrpcProbes::~SunrpcProbes() = default;

void SunrpcProbes::try_attach() {
    Impl& impl = *impl_;
    std::vector<ProbeStatus> probes;
    std::array<const Hook*, kProbes.size()> chosen{};
    bool any = false;
    for (std::size_t i = 0; i < kProbes.size(); ++i) {
        probes.push_back(detail::choose(kProbes[i].name, std::span(&impl.hooks[i], 1), impl.tracefs,
                                        &chosen[i]));
        any = any || chosen[i] != nullptr;
    }
    probes_ = std::move(probes);
    if (!any) return;
    // A BPF object loads once: from here on the set of probes is final.
    if (int err = vigil_sunrpc__load(impl.skel); err != 0) {
        impl.phase = Phase::kFailed;
        detail::mark_failed(probes_, Error::from_errno("loading sunrpc BPF programs", err).message);
        return;
    }
    impl.phase = Phase::kLoaded;
    for (std::size_t i = 0; i < kProbes.size(); ++i)
        detail::attach(probes_[i], chosen[i], &impl.links[i]);
}

bool SunrpcProbes::waiting() const { return impl_->phase == Phase::kWaiting; }

bool SunrpcProbes::retry() {
    if (!waiting()) return false;
    const std::vector<ProbeStatus> before = probes_;
    try_attach();
    for (std::size_t i = 0; i < probes_.size(); ++i) {
        if (probes_[i].state != before[i].state || probes_[i].reason != before[i].reason ||
            probes_[i].hook != before[i].hook) {
            return true;
        }
    }
    return false;
}

SunrpcCounts SunrpcProbes::counts() const {
    if (impl_->phase != Phase::kLoaded) return {};
    return detail::read_sunrpc_counts(bpf_map__fd(impl_->skel->maps.sunrpc_counts));
}

namespace detail {

SunrpcCounts read_sunrpc_counts(int map_fd) {
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return {};
    std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(cpus));
    auto total = [&](std::uint32_t slot) {
        std::uint64_t sum = 0;
        if (bpf_map_lookup_elem(map_fd, &slot, per_cpu.data()) != 0) return sum;
        for (std::uint64_t v : per_cpu) sum += v;
        return sum;
    };
    return SunrpcCounts{.major_timeouts = total(VIGIL_SUNRPC_MAJOR_TIMEOUT),
                        .minor_timeouts = total(VIGIL_SUNRPC_MINOR_TIMEOUT),
                        .retransmits = total(VIGIL_SUNRPC_RETRANSMIT),
                        .call_errors = total(VIGIL_SUNRPC_CALL_ERROR)};
}

}  // namespace detail

}  // namespace vigil::bpf
