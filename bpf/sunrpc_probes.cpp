#include "bpf/sunrpc_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>

#include "bpf/probe_table.h"
#include "bpf/sunrpc.skel.h"

namespace vigil::bpf {

using detail::Hook;

struct SunrpcProbes::Impl {
    vigil_sunrpc* skel = nullptr;
    bpf_link* link = nullptr;
    bool loaded = false;

    ~Impl() {
        if (link != nullptr) bpf_link__destroy(link);
        if (skel != nullptr) vigil_sunrpc__destroy(skel);
    }
};

std::expected<std::unique_ptr<SunrpcProbes>, Error> SunrpcProbes::make() {
    detail::init_libbpf();
    std::unique_ptr<SunrpcProbes> self(new SunrpcProbes());
    self->impl_ = std::make_unique<Impl>();
    Impl& impl = *self->impl_;
    impl.skel = vigil_sunrpc__open();
    if (impl.skel == nullptr)
        return std::unexpected(Error::from_errno("opening sunrpc BPF object", errno));
    const auto tracefs = ensure_tracefs();
    const Hook hooks[] = {{impl.skel->progs.rpc_timeout_status, "sunrpc", "rpc_timeout_status"}};
    const Hook* chosen = nullptr;
    self->probes_.push_back(detail::choose("sunrpc_timeouts", hooks, tracefs, &chosen));
    if (chosen == nullptr) return self;
    if (int err = vigil_sunrpc__load(impl.skel); err != 0) {
        detail::mark_failed(self->probes_,
                            Error::from_errno("loading sunrpc BPF programs", err).message);
        return self;
    }
    impl.loaded = true;
    detail::attach(self->probes_.back(), chosen, &impl.link);
    return self;
}

SunrpcProbes::~SunrpcProbes() = default;

std::uint64_t SunrpcProbes::major_timeouts() const {
    if (!impl_->loaded) return 0;
    std::uint32_t zero = 0;
    std::uint64_t count = 0;
    bpf_map_lookup_elem(bpf_map__fd(impl_->skel->maps.rpc_timeouts), &zero, &count);
    return count;
}

}  // namespace vigil::bpf
