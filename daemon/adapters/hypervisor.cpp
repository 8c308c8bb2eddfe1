#include "daemon/adapters/hypervisor.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <variant>

#include "fence/vm_stop.h"

namespace vigil::adapters {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Strings libvirt hands over in events are bounded before they travel on.
constexpr std::size_t kMaxEventString = 512;

std::string bounded(const char* s) {
    if (!s) return {};
    std::string out(s, ::strnlen(s, kMaxEventString));
    return out;
}

void silent(void*, virErrorPtr) {}

std::string last_libvirt_error() {
    const char* text = virGetLastErrorMessage();
    return text ? text : "unknown libvirt error";
}

struct DomainRef {
    virDomainPtr ptr = nullptr;
    DomainRef() = default;
    explicit DomainRef(virDomainPtr p) : ptr(p) {}
    DomainRef(DomainRef&& o) noexcept : ptr(std::exchange(o.ptr, nullptr)) {}
    DomainRef(const DomainRef&) = delete;
    DomainRef& operator=(const DomainRef&) = delete;
    DomainRef& operator=(DomainRef&&) = delete;
    ~DomainRef() {
        if (ptr) virDomainFree(ptr);
    }
};

// libvirt allows one event implementation per process, registered before
// the first connection that wants events. Its thread lives as long as the
// process, as in virsh: it only ever sleeps in poll().
std::expected<void, Error> ensure_event_thread() {
    static std::once_flag once;
    static std::optional<Error> failure;
    std::call_once(once, [] {
        // Errors are returned to callers; libvirt's default prints them too.
        virSetErrorFunc(nullptr, silent);
        if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0) {
            failure = Error{"libvirt event loop: " + last_libvirt_error()};
            return;
        }
        std::thread([] {
            for (;;) {
                if (virEventRunDefaultImpl() < 0) std::this_thread::sleep_for(100ms);
            }
        }).detach();
    });
    if (failure) return std::unexpected(*failure);
    return {};
}

struct Lifecycle {
    std::string vm;
    int event = 0;
    int detail = 0;
    std::uint64_t seq = 0;
};
struct Changed {  // metadata or definition changed: describe again
    std::string vm;
};
struct Described {
    std::string vm;
    std::expected<DomainDescription, Error> desc;
    std::optional<core::VmState> state;
    std::uint64_t seen_seq = 0;
};
struct Gone {
    std::string vm;
    std::uint64_t seen_seq = 0;
};
struct Listed {
    std::vector<Described> domains;
    std::uint64_t seen_seq = 0;
};
struct Connection {
    bool up = false;
    std::string why;
};
using Message = std::variant<Lifecycle, Changed, Described, Gone, Listed, IoErrorEvent,
                             ActionResult, Connection>;

struct ListJob {};
struct DescribeJob {
    std::string vm;
};
struct ActionJob {
    ActionId id = 0;
    VmAction action = VmAction::kStart;
    std::string vm;
    std::string dest_uri;  // kMigrate
};
struct ReconnectJob {};
using Job = std::variant<ListJob, DescribeJob, ActionJob, ReconnectJob>;

}  // namespace

struct LibvirtHypervisor::Shared {
    HypervisorConfig config;
    int efd = -1;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Message> inbox;  // to the loop
    std::deque<Job> jobs;       // to the worker
    struct Pending {
        VmAction action;
        std::string vm;
        Clock::time_point started;
        Clock::time_point deadline;
    };
    std::map<ActionId, Pending> pending;
    bool quit = false;
    std::atomic<std::uint64_t> event_seq{0};
    int timer = -1;

    // Worker-thread only.
    virConnectPtr conn = nullptr;
    std::vector<int> callbacks;
    void* close_ref = nullptr;  // the close callback's reference to this (hold())
    bool announced_down = false;

    ~Shared() {
        if (efd >= 0) ::close(efd);
    }

    void post(Message m) {
        {
            std::lock_guard lock(mu);
            inbox.push_back(std::move(m));
        }
        const std::uint64_t one = 1;
        (void)!::write(efd, &one, sizeof(one));
    }

    // The one result of an action: from the worker, or from the deadline
    // timer if the worker is still inside libvirt.
    void finish(ActionId id, ActionOutcome outcome, std::string detail) {
        ActionResult r;
        {
            std::lock_guard lock(mu);
            auto it = pending.find(id);
            if (it == pending.end()) return;  // already reported as timed out
            r = ActionResult{id,
                             it->second.action,
                             it->second.vm,
                             outcome,
                             std::move(detail),
                             std::chrono::duration_cast<std::chrono::milliseconds>(
                                 Clock::now() - it->second.started)};
            pending.erase(it);
        }
        post(std::move(r));
    }

    void expire(Clock::time_point now) {
        std::vector<ActionId> late;
        {
            std::lock_guard lock(mu);
            for (const auto& [id, p] : pending) {
                if (now >= p.deadline) late.push_back(id);
            }
        }
        for (auto id : late) finish(id, ActionOutcome::kTimedOut, "no answer from libvirt in time");
    }

    bool wait_quit(std::chrono::milliseconds d) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, d, [&] { return quit; });
    }

    void run_worker();
    bool connect();
    void disconnect();
    std::optional<Described> describe(virDomainPtr dom, std::uint64_t seen);
    void do_list();
    void do_describe(const std::string& vm);
    void do_action(const ActionJob& job);
    std::pair<ActionOutcome, std::string> start(const std::string& vm);
    std::pair<ActionOutcome, std::string> resume(const std::string& vm);
    std::pair<ActionOutcome, std::string> stop(const std::string& vm);
};

static_assert(kMigrateFlags == (VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER |
                                VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_ABORT_ON_ERROR));

ActionOutcome migration_outcome(bool call_ok, bool aborted, int active_here) {
    if (call_ok) return ActionOutcome::kDone;
    if (active_here == 1) return aborted ? ActionOutcome::kTimedOut : ActionOutcome::kFailed;
    return ActionOutcome::kDone;
}

namespace {

using Shared = LibvirtHypervisor::Shared;

// libvirt's callbacks get a heap-held reference to Shared, dropped by the
// free callback libvirt calls once it is done with it.
void* hold(const std::shared_ptr<Shared>& s) { return new std::shared_ptr<Shared>(s); }
void release(void* opaque) { delete static_cast<std::shared_ptr<Shared>*>(opaque); }
Shared& of(void* opaque) { return **static_cast<std::shared_ptr<Shared>*>(opaque); }

int on_lifecycle(virConnectPtr, virDomainPtr dom, int event, int detail, void* opaque) {
    auto& s = of(opaque);
    s.post(Lifecycle{bounded(virDomainGetName(dom)), event, detail, ++s.event_seq});
    return 0;
}

void on_io_error_reason(virConnectPtr, virDomainPtr dom, const char* src_path,
                        const char* dev_alias, int, const char* reason, void* opaque) {
    of(opaque).post(IoErrorEvent{bounded(virDomainGetName(dom)), bounded(dev_alias),
                                 bounded(src_path), bounded(reason)});
}

void on_metadata_change(virConnectPtr, virDomainPtr dom, int, const char*, void* opaque) {
    of(opaque).post(Changed{bounded(virDomainGetName(dom))});
}

void on_close(virConnectPtr, int reason, void* opaque) {
    const char* why = reason == VIR_CONNECT_CLOSE_REASON_ERROR       ? "connection error"
                      : reason == VIR_CONNECT_CLOSE_REASON_EOF       ? "libvirtd closed it"
                      : reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "keepalive timed out"
                                                                     : "closed";
    of(opaque).post(Connection{false, std::string("libvirt connection lost: ") + why});
}

void on_timer(int, void* opaque) { of(opaque).expire(Clock::now()); }

}  // namespace

bool Shared::connect() {
    if (conn && virConnectIsAlive(conn) == 1) return true;
    disconnect();
    conn = virConnectOpen(config.uri.c_str());
    if (!conn) {
        if (!announced_down) {
            post(Connection{false,
                            "connect to libvirt at " + config.uri + ": " + last_libvirt_error()});
            announced_down = true;
        }
        return false;
    }
    virConnSetErrorFunc(conn, nullptr, silent);
    // Keepalive bounds every call: a silent libvirtd closes the connection
    // and the waiting call returns an error.
    // Local drivers (test:///) have no keepalive and need none: their calls
    // do not cross a socket.
    (void)virConnectSetKeepAlive(conn, config.keepalive_interval_s, config.keepalive_count);
    return true;
}

void Shared::disconnect() {
    if (!conn) return;
    for (int id : callbacks) virConnectDomainEventDeregisterAny(conn, id);
    callbacks.clear();
    virConnectUnregisterCloseCallback(conn, on_close);
    virConnectClose(conn);
    conn = nullptr;
    // The worker that calls this holds its own reference: never the last one.
    if (close_ref) release(std::exchange(close_ref, nullptr));
}

std::optional<Described> Shared::describe(virDomainPtr dom, std::uint64_t seen) {
    Described d{bounded(virDomainGetName(dom)), std::unexpected(Error{}), std::nullopt, seen};
    int state = 0;
    int reason = 0;
    if (virDomainGetState(dom, &state, &reason, 0) < 0) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return std::nullopt;
    } else {
        d.state = map_domain_state(state, reason);
    }
    char* xml = virDomainGetXMLDesc(dom, 0);
    if (!xml) {
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return std::nullopt;
        d.desc = std::unexpected(Error{"domain XML of " + d.vm + ": " + last_libvirt_error()});
        return d;
    }
    d.desc = parse_domain_xml(xml);
    ::free(xml);
    return d;
}

void Shared::do_list() {
    const std::uint64_t seen = event_seq.load();
    virDomainPtr* doms = nullptr;
    const int n = virConnectListAllDomains(conn, &doms, 0);
    if (n < 0) {
        post(Connection{false, "list domains: " + last_libvirt_error()});
        return;
    }
    Listed listed;
    listed.seen_seq = seen;
    for (int i = 0; i < n; ++i) {
        DomainRef dom(doms[i]);
        if (auto d = describe(dom.ptr, seen)) listed.domains.push_back(std::move(*d));
    }
    ::free(static_cast<void*>(doms));
    post(std::move(listed));
}

void Shared::do_describe(const std::string& vm) {
    const std::uint64_t seen = event_seq.load();
    DomainRef dom(virDomainLookupByName(conn, vm.c_str()));
    std::optional<Described> d;
    if (dom.ptr) d = describe(dom.ptr, seen);
    if (d) {
        post(std::move(*d));
    } else if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
        post(Gone{vm, seen});
    }
}

std::pair<ActionOutcome, std::string> Shared::start(const std::string& vm) {
    DomainRef dom(virDomainLookupByName(conn, vm.c_str()));
    if (!dom.ptr) {
        return {virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ? ActionOutcome::kNotFound
                                                           : ActionOutcome::kFailed,
                last_libvirt_error()};
    }
    if (virDomainIsActive(dom.ptr) == 1) return {ActionOutcome::kAlreadyDone, "already running"};
    if (virDomainCreate(dom.ptr) == 0) return {ActionOutcome::kDone, {}};
    const int code = virGetLastErrorCode();
    std::string why = last_libvirt_error();
    // Two locks guard a disk that another host runs: qemu's own image lock
    // (taken first, when it opens the disk) and virtlockd's lease ("resource
    // busy"). Either means the VM runs elsewhere, which the core must know
    // apart from a broken start.
    if (code == VIR_ERR_RESOURCE_BUSY ||
        why.find("Failed to get \"write\" lock") != std::string::npos ||
        why.find("Failed to get shared \"write\" lock") != std::string::npos)
        return {ActionOutcome::kLockedElsewhere, why};
    if (code == VIR_ERR_OPERATION_INVALID && virDomainIsActive(dom.ptr) == 1)
        return {ActionOutcome::kAlreadyDone, why};
    return {ActionOutcome::kFailed, why};
}

std::pair<ActionOutcome, std::string> Shared::resume(const std::string& vm) {
    DomainRef dom(virDomainLookupByName(conn, vm.c_str()));
    if (!dom.ptr) {
        return {virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ? ActionOutcome::kNotFound
                                                           : ActionOutcome::kFailed,
                last_libvirt_error()};
    }
    int state = 0;
    int reason = 0;
    if (virDomainGetState(dom.ptr, &state, &reason, 0) < 0)
        return {ActionOutcome::kFailed, last_libvirt_error()};
    if (state == VIR_DOMAIN_RUNNING) return {ActionOutcome::kAlreadyDone, "already running"};
    if (state != VIR_DOMAIN_PAUSED) return {ActionOutcome::kFailed, "not paused"};
    if (virDomainResume(dom.ptr) < 0) return {ActionOutcome::kFailed, last_libvirt_error()};
    return {ActionOutcome::kDone, {}};
}

std::pair<ActionOutcome, std::string> Shared::stop(const std::string& vm) {
    auto control = fence::LibvirtDomainControl::share(conn);
    auto job = fence::VmStopJob::start(control, {vm}, config.stop_grace, Clock::now());
    while (!job.step(Clock::now())) {
        if (wait_quit(200ms)) return {ActionOutcome::kFailed, "shutting down"};
    }
    const auto& r = job.results().front();
    switch (r.outcome) {
        case fence::VmStopOutcome::kAlreadyStopped:
            return {ActionOutcome::kAlreadyDone, "not running"};
        case fence::VmStopOutcome::kShutDown:
        case fence::VmStopOutcome::kDestroyed:
            return {ActionOutcome::kDone, std::string(fence::name(r.outcome))};
        case fence::VmStopOutcome::kPending:
        case fence::VmStopOutcome::kFailed:
            break;
    }
    return {ActionOutcome::kFailed, r.detail};
}

void Shared::do_action(const ActionJob& job) {
    {
        // Reported as timed out while it waited (behind a slow call, or for
        // libvirtd to come back): the caller has been told it may still
        // finish, and a fresh listing settles it. Beginning it now would act
        // on a decision the core has already moved past.
        std::lock_guard lock(mu);
        if (!pending.contains(job.id)) return;
    }
    std::pair<ActionOutcome, std::string> r;
    switch (job.action) {
        case VmAction::kStart:
            r = start(job.vm);
            break;
        case VmAction::kResume:
            r = resume(job.vm);
            break;
        case VmAction::kStop:
            r = stop(job.vm);
            break;
        case VmAction::kMigrate:
            return;  // run_migration(), on its own thread
    }
    finish(job.id, r.first, std::move(r.second));
}

namespace {

// libvirt takes every domain event callback as the generic type and calls it
// back with the signature of its event id (what VIR_DOMAIN_EVENT_CALLBACK
// casts). The cast goes through void (*)(), the type compilers take for "any
// function", so that clang's -Wcast-function-type-mismatch sees it is meant.
template <typename F>
virConnectDomainEventGenericCallback event_callback(F* callback) {
    return reinterpret_cast<virConnectDomainEventGenericCallback>(
        reinterpret_cast<void (*)()>(callback));
}

void register_callbacks(const std::shared_ptr<Shared>& s) {
    // A registration that fails never calls its free callback: the reference
    // is dropped here, or Shared (and its connection) would never be freed.
    auto add = [&](int id, virConnectDomainEventGenericCallback cb) {
        void* ref = hold(s);
        const int handle = virConnectDomainEventRegisterAny(s->conn, nullptr, id, cb, ref, release);
        if (handle >= 0) {
            s->callbacks.push_back(handle);
        } else {
            release(ref);
        }
        return handle >= 0;
    };
    bool ok = add(VIR_DOMAIN_EVENT_ID_LIFECYCLE, event_callback(on_lifecycle));
    ok = add(VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON, event_callback(on_io_error_reason)) && ok;
    // Metadata events are newer (libvirt 3.0); without them a changed vigil
    // element is seen at the next DEFINED event or refresh.
    (void)add(VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, event_callback(on_metadata_change));
    if (!ok) s->post(Connection{false, "libvirt domain events: " + last_libvirt_error()});
    // The close callback's reference is ours to drop (disconnect()): a driver
    // without close callbacks (the test driver) accepts the registration and
    // never calls a free callback.
    s->close_ref = hold(s);
    if (virConnectRegisterCloseCallback(s->conn, on_close, s->close_ref, nullptr) < 0) {
        release(std::exchange(s->close_ref, nullptr));
    }
}

// One migration, on a thread of its own with a connection of its own: it may
// take minutes, and the worker's other actions (a stop on storage loss) must
// not wait behind it. The time limit is kept here, not by the deadline timer:
// a migration reported timed out must have been aborted first (the port's
// promise that it did not move), so its one result comes after the call.
void run_migration(const std::shared_ptr<Shared>& s, const ActionJob& job) {
    const auto started = Clock::now();
    virConnectPtr conn = virConnectOpen(s->config.uri.c_str());
    if (!conn) {
        s->finish(job.id, ActionOutcome::kFailed, "connect to libvirt: " + last_libvirt_error());
        return;
    }
    virConnSetErrorFunc(conn, nullptr, silent);
    (void)virConnectSetKeepAlive(conn, s->config.keepalive_interval_s, s->config.keepalive_count);
    std::pair<ActionOutcome, std::string> r;
    {
        DomainRef dom(virDomainLookupByName(conn, job.vm.c_str()));
        if (!dom.ptr) {
            r = {virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ? ActionOutcome::kNotFound
                                                            : ActionOutcome::kFailed,
                 last_libvirt_error()};
        } else if (virDomainIsActive(dom.ptr) != 1) {
            r = {ActionOutcome::kFailed, "not running here"};
        } else {
            std::mutex mu;
            std::condition_variable cv;
            bool finished = false;
            bool aborted = false;
            std::string abort_refused;  // why libvirt refused the abort, if it did
            std::thread limit([&] {
                std::unique_lock lock(mu);
                const auto deadline = started + s->config.migrate_timeout;
                if (cv.wait_until(lock, deadline, [&] { return finished; })) return;
                aborted = true;
                lock.unlock();
                // Refused while libvirt itself connects to the target's
                // migration port (a nested job holds the domain): the call
                // then returns when that connect does, at the kernel's TCP
                // connect timeout for a target that drops the connection.
                if (virDomainAbortJob(dom.ptr) < 0) {
                    const std::string why = last_libvirt_error();
                    lock.lock();
                    abort_refused = why;
                }
            });
            const int rc =
                virDomainMigrateToURI3(dom.ptr, job.dest_uri.c_str(), nullptr, 0, kMigrateFlags);
            std::string why = rc < 0 ? last_libvirt_error() : std::string{};
            {
                std::lock_guard lock(mu);
                finished = true;
            }
            cv.notify_all();
            limit.join();
            const int active = rc < 0 ? virDomainIsActive(dom.ptr) : 0;
            const auto outcome = migration_outcome(rc == 0, aborted, active);
            if (outcome == ActionOutcome::kDone && rc < 0) {
                why = "not running here after the migration reported: " + why;
            } else if (outcome == ActionOutcome::kTimedOut) {
                const auto took =
                    std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
                why = abort_refused.empty()
                          ? "aborted after " + std::to_string(s->config.migrate_timeout.count()) +
                                " ms: " + why
                          : "not done after " + std::to_string(s->config.migrate_timeout.count()) +
                                " ms, abort refused (" + abort_refused + "), ended after " +
                                std::to_string(took.count()) + " ms: " + why;
            }
            r = {outcome, std::move(why)};
        }
    }
    virConnectClose(conn);
    s->finish(job.id, r.first, std::move(r.second));
}

void worker(std::shared_ptr<Shared> s) {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(s->mu);
            s->cv.wait(lock, [&] { return s->quit || !s->jobs.empty(); });
            if (s->quit) break;
            job = std::move(s->jobs.front());
            s->jobs.pop_front();
        }
        if (!s->conn || virConnectIsAlive(s->conn) != 1) {
            // Jobs wait here while libvirtd is away; their deadlines still
            // run out on the event thread.
            while (!s->connect()) {
                if (s->wait_quit(1000ms)) break;
            }
            if (!s->conn) break;
            register_callbacks(s);
            s->announced_down = false;
            s->post(Connection{true, "connected to " + s->config.uri});
            // Events may have been missed while away: take a fresh snapshot.
            if (std::holds_alternative<ActionJob>(job) || std::holds_alternative<DescribeJob>(job))
                s->do_list();
        }
        std::visit(
            [&](auto& j) {
                using T = std::decay_t<decltype(j)>;
                if constexpr (std::is_same_v<T, DescribeJob>) {
                    s->do_describe(j.vm);
                } else if constexpr (std::is_same_v<T, ActionJob>) {
                    if (j.action == VmAction::kMigrate) {
                        bool waiting = false;
                        {
                            std::lock_guard lock(s->mu);
                            waiting = s->pending.contains(j.id);
                        }
                        if (waiting) std::thread(run_migration, s, std::move(j)).detach();
                    } else {
                        s->do_action(j);
                    }
                } else {
                    // ListJob, and ReconnectJob (connected again: list what is here).
                    static_assert(std::is_same_v<T, ListJob> || std::is_same_v<T, ReconnectJob>);
                    s->do_list();
                }
            },
            job);
    }
    s->disconnect();
}

}  // namespace

std::expected<std::unique_ptr<LibvirtHypervisor>, Error> LibvirtHypervisor::make(
    HypervisorConfig config, HypervisorSink sink) {
    if (auto ok = ensure_event_thread(); !ok) return std::unexpected(ok.error());
    auto shared = std::make_shared<Shared>();
    shared->config = config;
    shared->efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (shared->efd < 0) return std::unexpected(Error::from_errno("eventfd", errno));
    shared->timer = virEventAddTimeout(250, on_timer, hold(shared), release);
    if (shared->timer < 0) return std::unexpected(Error{"libvirt timer: " + last_libvirt_error()});
    std::unique_ptr<LibvirtHypervisor> hv(
        new LibvirtHypervisor(std::move(config), std::move(sink), shared));
    std::thread(worker, shared).detach();
    hv->refresh();
    return hv;
}

LibvirtHypervisor::LibvirtHypervisor(HypervisorConfig config, HypervisorSink sink,
                                     std::shared_ptr<Shared> shared)
    : config_(std::move(config)), sink_(std::move(sink)), shared_(std::move(shared)) {}

LibvirtHypervisor::~LibvirtHypervisor() {
    {
        std::lock_guard lock(shared_->mu);
        shared_->quit = true;
        shared_->jobs.clear();
        shared_->pending.clear();
    }
    shared_->cv.notify_all();
    virEventRemoveTimeout(shared_->timer);
}

int LibvirtHypervisor::fd() const { return shared_->efd; }

void LibvirtHypervisor::refresh() {
    {
        std::lock_guard lock(shared_->mu);
        shared_->jobs.emplace_back(ListJob{});
    }
    shared_->cv.notify_one();
}

namespace {
std::atomic<ActionId> next_action_id{1};
}  // namespace

ActionId LibvirtHypervisor::submit(VmAction action, const std::string& vm, std::string dest_uri) {
    const ActionId id = next_action_id++;
    const auto now = Clock::now();
    // A migration keeps its own time limit (run_migration): the deadline timer
    // must not report it timed out before it was aborted.
    const auto deadline = action == VmAction::kStart    ? now + config_.start_timeout
                          : action == VmAction::kResume ? now + config_.resume_timeout
                          : action == VmAction::kStop   ? now + config_.stop_timeout
                                                        : Clock::time_point::max();
    {
        std::lock_guard lock(shared_->mu);
        shared_->pending[id] = Shared::Pending{action, vm, now, deadline};
        shared_->jobs.emplace_back(ActionJob{id, action, vm, std::move(dest_uri)});
    }
    shared_->cv.notify_one();
    return id;
}

ActionId LibvirtHypervisor::start(const std::string& vm) { return submit(VmAction::kStart, vm); }
ActionId LibvirtHypervisor::resume(const std::string& vm) { return submit(VmAction::kResume, vm); }
ActionId LibvirtHypervisor::stop(const std::string& vm) { return submit(VmAction::kStop, vm); }
ActionId LibvirtHypervisor::migrate(const std::string& vm, const std::string& dest_uri) {
    return submit(VmAction::kMigrate, vm, dest_uri);
}

ActionId LibvirtHypervisor::refuse(VmAction action, const std::string& vm, std::string why) {
    const ActionId id = next_action_id++;
    shared_->post(ActionResult{.id = id,
                               .action = action,
                               .vm = vm,
                               .outcome = ActionOutcome::kFailed,
                               .detail = std::move(why),
                               .took = {}});
    return id;
}

void LibvirtHypervisor::apply(const DomainDescription& desc, std::optional<core::VmState> state) {
    if (!desc.ha) {
        vms_.erase(desc.name);
        return;
    }
    auto& vm = vms_[desc.name];
    vm.name = desc.name;
    vm.ha = *desc.ha;
    if (state && state != vm.state) {
        vm.state = state;
        if (sink_.on_vm) sink_.on_vm(core::VmEvidence{vm.name, *state});
    }
}

void LibvirtHypervisor::dispatch() {
    std::uint64_t count = 0;
    (void)!::read(shared_->efd, &count, sizeof(count));
    std::deque<Message> inbox;
    {
        std::lock_guard lock(shared_->mu);
        inbox.swap(shared_->inbox);
    }
    auto describe_again = [&](const std::string& vm) {
        {
            std::lock_guard lock(shared_->mu);
            shared_->jobs.emplace_back(DescribeJob{vm});
        }
        shared_->cv.notify_one();
    };
    auto bad = [&](const std::string& vm, const Error& why) {
        ++bad_input_;
        if (sink_.on_bad_input) sink_.on_bad_input(vm, why);
    };
    // A snapshot taken before the last event of a VM must not undo it.
    auto fresh = [&](const std::string& vm, std::uint64_t seen) {
        auto it = last_event_.find(vm);
        return it == last_event_.end() || it->second <= seen;
    };
    for (auto& m : inbox) {
        std::visit(
            [&](auto& msg) {
                using T = std::decay_t<decltype(msg)>;
                if constexpr (std::is_same_v<T, Lifecycle>) {
                    last_event_[msg.vm] = msg.seq;
                    auto it = vms_.find(msg.vm);
                    if (it == vms_.end() || msg.event == VIR_DOMAIN_EVENT_DEFINED ||
                        msg.event == VIR_DOMAIN_EVENT_UNDEFINED) {
                        describe_again(msg.vm);
                    }
                    if (it == vms_.end()) return;
                    auto state = map_lifecycle_event(msg.event, msg.detail);
                    if (state && state != it->second.state) {
                        it->second.state = state;
                        if (sink_.on_vm) sink_.on_vm(core::VmEvidence{msg.vm, *state});
                    }
                } else if constexpr (std::is_same_v<T, Changed>) {
                    describe_again(msg.vm);
                } else if constexpr (std::is_same_v<T, Described>) {
                    if (!msg.desc) {
                        bad(msg.vm, msg.desc.error());
                        return;
                    }
                    apply(*msg.desc, fresh(msg.vm, msg.seen_seq) ? msg.state : std::nullopt);
                } else if constexpr (std::is_same_v<T, Gone>) {
                    if (!fresh(msg.vm, msg.seen_seq)) return;
                    auto it = vms_.find(msg.vm);
                    if (it == vms_.end()) return;
                    // Undefined: no qemu of it can be left.
                    if (it->second.state != core::VmState::kShutOff && sink_.on_vm)
                        sink_.on_vm(core::VmEvidence{msg.vm, core::VmState::kShutOff});
                    vms_.erase(it);
                } else if constexpr (std::is_same_v<T, Listed>) {
                    std::map<std::string, HaVm> before;
                    before.swap(vms_);
                    std::set<std::string> listed;
                    for (const auto& d : msg.domains) listed.insert(d.vm);
                    for (const auto& [name, vm] : before) {
                        // Undefined while we were not looking: no qemu of it is left.
                        if (listed.contains(name) || !fresh(name, msg.seen_seq)) continue;
                        if (vm.state != core::VmState::kShutOff && sink_.on_vm)
                            sink_.on_vm(core::VmEvidence{name, core::VmState::kShutOff});
                    }
                    for (auto& d : msg.domains) {
                        if (!d.desc) {
                            bad(d.vm, d.desc.error());
                            // Keep what was known rather than drop an HA VM.
                            if (auto it = before.find(d.vm); it != before.end()) vms_.insert(*it);
                            continue;
                        }
                        if (auto it = before.find(d.vm); it != before.end()) vms_.insert(*it);
                        apply(*d.desc, fresh(d.vm, msg.seen_seq) ? d.state : std::nullopt);
                    }
                    if (sink_.on_listed) sink_.on_listed();
                } else if constexpr (std::is_same_v<T, IoErrorEvent>) {
                    if (vms_.contains(msg.vm) && sink_.on_io_error) sink_.on_io_error(msg);
                } else if constexpr (std::is_same_v<T, ActionResult>) {
                    if (sink_.on_action) sink_.on_action(msg);
                } else {
                    connected_ = msg.up;
                    if (sink_.on_connection) sink_.on_connection(msg.up, msg.why);
                    if (!msg.up) {
                        std::lock_guard lock(shared_->mu);
                        shared_->jobs.emplace_back(ReconnectJob{});
                        shared_->cv.notify_one();
                    }
                }
            },
            m);
    }
}

}  // namespace vigil::adapters
