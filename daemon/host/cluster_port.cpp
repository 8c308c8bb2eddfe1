#include "daemon/host/cluster_port.h"

namespace vigil::host {

void ClusterPort::broadcast(const core::HostStatus& status) {
    // While corosync is away there is nobody to tell; the reconnect brings a
    // new membership and the next heartbeat a new status.
    if (!cluster_.connected()) return;
    auto sent = cluster_.send(status);
    if (!sent) {
        ++failed_;
        if (sent.error().message != last_error_) {
            last_error_ = sent.error().message;
            journal_.log(adapters::Priority::kError, adapters::message_id::kCluster,
                         "status not sent to the cluster: " + last_error_,
                         {{"REASON", last_error_}});
        }
        return;
    }
    last_error_.clear();
    if (*sent == adapters::SendResult::kBusy) ++busy_;
}

}  // namespace vigil::host
