// Prints what adapters::read_corosync_facts() reads from the local corosync,
// one fact a line, for corosync_test (run inside its network namespace,
// where that corosync's IPC sockets are). Exit 1 with the error on stderr.
#include <cstdio>

#include "daemon/adapters/corosync_cmap.h"

int main() {
    auto facts = vigil::adapters::read_corosync_facts();
    if (!facts) {
        std::fprintf(stderr, "%s\n", facts.error().message.c_str());
        return 1;
    }
    std::printf("token %lld\n", static_cast<long long>(facts->token.count()));
    std::printf("consensus %lld\n", static_cast<long long>(facts->consensus.count()));
    std::printf("cipher %s\n", facts->crypto_cipher.c_str());
    std::printf("hash %s\n", facts->crypto_hash.c_str());
    std::printf("authenticated %d\n", facts->authenticated ? 1 : 0);
    for (const auto& [id, name] : facts->nodes) std::printf("node %u %s\n", id, name.c_str());
    return 0;
}
