// adapters::read_corosync_facts() and `vigild --check-config` against a real
// corosync: one corosync per test in a network namespace of its own (its
// IPC sockets are per namespace), with a known token, consensus, crypto
// setting and nodelist. Only the first node's address is this host's; the
// others are never reached, which corosync tolerates (they are simply not
// members). Needs root; a few seconds per test.
#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/tools/fixtures/fixtures.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;

struct Node {
    unsigned nodeid;
    std::string name;  // empty: the node has no name: line
    std::string address;
};

struct CorosyncSetup {
    int token_ms = 500;
    std::optional<int> consensus_ms;  // nullopt: corosync's default, 1.2 times the token
    bool crypto = false;
    std::vector<Node> nodes = {{1, "h1", "127.0.0.1"}};
};

class CorosyncTest : public RootTest {
  protected:
    void SetUp() override {
        RootTest::SetUp();
        auto dir = TempDir::make("corosync");
        ASSERT_TRUE(dir) << dir.error();
        dir_.emplace(std::move(*dir));
        auto ns = NetNs::make("vgcs");
        ASSERT_TRUE(ns) << ns.error();
        ns_.emplace(std::move(*ns));
    }
    void TearDown() override {
        // corosync first, then the namespace (which kills whatever is left).
        if (corosync_) {
            corosync_->terminate();
            corosync_.reset();
        }
        ns_.reset();
        dir_.reset();
    }

    void start_corosync(const CorosyncSetup& s) {
        const auto state = dir_->path() / "state";
        std::filesystem::create_directories(state);
        std::string conf = "totem {\n  version: 2\n  cluster_name: " + ns_->name() +
                           "\n  transport: knet\n  token: " + std::to_string(s.token_ms) + "\n";
        if (s.consensus_ms) conf += "  consensus: " + std::to_string(*s.consensus_ms) + "\n";
        if (s.crypto) {
            const auto key = dir_->path() / "authkey";
            std::ofstream out(key, std::ios::binary);
            std::random_device random;
            for (int i = 0; i < 256; ++i) out.put(static_cast<char>(random() & 0xff));
            out.close();
            std::filesystem::permissions(key, std::filesystem::perms::owner_read);
            conf +=
                "  crypto_cipher: aes256\n  crypto_hash: sha256\n  keyfile: " + key.string() + "\n";
        } else {
            conf += "  crypto_cipher: none\n  crypto_hash: none\n";
        }
        conf += "}\nnodelist {\n";
        for (const auto& n : s.nodes) {
            conf += "  node {\n    nodeid: " + std::to_string(n.nodeid) + "\n";
            if (!n.name.empty()) conf += "    name: " + n.name + "\n";
            conf += "    ring0_addr: " + n.address + "\n  }\n";
        }
        conf += "}\nquorum {\n  provider: corosync_votequorum\n}\nsystem {\n  state_dir: " +
                state.string() +
                "\n}\nlogging {\n  to_stderr: yes\n  to_logfile: no\n  to_syslog: no\n}\n";
        const auto conf_path = dir_->path() / "corosync.conf";
        std::ofstream(conf_path) << conf;
        auto p = ns_->spawn({"corosync", "-f", "-c", conf_path.string()},
                            SpawnOptions{.stderr_path = dir_->path() / "corosync.log"});
        ASSERT_TRUE(p) << p.error();
        corosync_.emplace(std::move(*p));
        // Ready when cmap answers: corosync opens its IPC once it has read
        // its configuration and formed its (one-node) membership.
        RunResult last;
        const bool ready = wait_until(
            [&] {
                last = ns_->run({corosync_probe()}, 5s);
                return last.ok() || !corosync_->running();
            },
            30s, 100ms);
        ASSERT_TRUE(ready && last.ok()) << last.describe() << "\ncorosync:\n" << corosync_log();
    }

    static const char* corosync_probe() { return VIGIL_COROSYNC_FACTS_PROBE; }
    std::string corosync_log() const {
        std::ifstream in(dir_->path() / "corosync.log");
        return {std::istreambuf_iterator<char>(in), {}};
    }
    RunResult facts() { return ns_->run({corosync_probe()}, 5s); }

    // vigild --check-config on a cluster-mode file of three hosts (nodeids
    // 1, 2, 3) plus `extra` keys of [cluster] and `tail` sections.
    RunResult check_config(const std::string& extra, const std::string& tail = "") {
        const auto path = dir_->path() / "vigil.toml";
        std::string text = "[cluster]\nenabled = true\n" + extra;
        for (unsigned id = 1; id <= 3; ++id) {
            text += "[[cluster.hosts]]\nname = \"h" + std::to_string(id) +
                    "\"\nnodeid = " + std::to_string(id) + "\nslot = " + std::to_string(id - 1) +
                    "\nmemory_mib = 4096\n";
        }
        text += "[heartbeat]\narea = \"" + (dir_->path() / "heartbeat").string() + "\"\n" + tail;
        std::ofstream(path) << text;
        return ns_->run({VIGILD_BINARY, "--check-config", "--config", path.string()}, 10s);
    }

    std::optional<TempDir> dir_;
    std::optional<NetNs> ns_;
    std::optional<Subprocess> corosync_;
};

const std::vector<Node> kThree = {
    {1, "h1", "127.0.0.1"}, {2, "h2", "192.0.2.2"}, {3, "", "192.0.2.3"}};

// Crypto on, three nodes listed: the runtime token is corosync's own
// (token + 650 per node beyond two), not the configured one; a node without
// a name is known by its address.
TEST_F(CorosyncTest, FactsWithCryptoAndThreeNodes) {
    ASSERT_NO_FATAL_FAILURE(
        start_corosync({.token_ms = 700, .consensus_ms = 2000, .crypto = true, .nodes = kThree}));
    const auto r = facts();
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.out,
              "token 1350\nconsensus 2000\ncipher aes256\nhash sha256\nauthenticated 1\n"
              "node 1 h1\nnode 2 h2\nnode 3 192.0.2.3\n");
}

// Crypto off, one node, consensus left to corosync (1.2 times the token).
TEST_F(CorosyncTest, FactsWithoutCrypto) {
    ASSERT_NO_FATAL_FAILURE(start_corosync({.token_ms = 500,
                                            .consensus_ms = std::nullopt,
                                            .crypto = false,
                                            .nodes = {{5, "solo", "127.0.0.1"}}}));
    const auto r = facts();
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.out,
              "token 500\nconsensus 600\ncipher none\nhash none\nauthenticated 0\nnode 5 solo\n");
}

TEST_F(CorosyncTest, NoCorosyncIsAClearError) {
    const auto r = facts();
    EXPECT_EQ(r.status.code, 1) << r.describe();
    EXPECT_NE(r.err.find("cannot connect to corosync's cmap (is corosync running?)"),
              std::string::npos)
        << r.describe();
}

// A safe chain against this corosync (token 1350, consensus 2000: membership
// timeout 3350 ms) passes and says what it checked.
TEST_F(CorosyncTest, CheckConfigAcceptsASafeChainAndPrintsIt) {
    ASSERT_NO_FATAL_FAILURE(
        start_corosync({.token_ms = 700, .consensus_ms = 2000, .crypto = true, .nodes = kThree}));
    const auto r = check_config("fence_delay_ms = 9350\n", "[watchdog]\ntimeout_s = 6\n");
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_NE(r.out.find(": OK (cluster mode, 3 hosts, watchdog.timeout_s = 6)\n"),
              std::string::npos)
        << r.out;
    for (const char* line :
         {"  ok: corosync: token 1350 ms, consensus 2000 ms, crypto aes256/sha256\n",
          "  ok: membership timeout 3350 ms = corosync's token 1350 ms + consensus 2000 ms "
          "(cluster.membership_timeout_ms = 0)\n",
          "  ok: watchdog timeout 6000 ms >= membership timeout 3350 ms + 2 heartbeats 2000 ms = "
          "5350 ms\n",
          "  ok: fence delay 9350 ms >= watchdog timeout 6000 ms + proof window 3350 ms (max of 2 "
          "heartbeats = 2000 ms and corosync's token 1350 ms + consensus 2000 ms) = 9350 ms\n",
          "  ok: corosync's nodelist = cluster.hosts (nodeids 1, 2, 3)\n"}) {
        EXPECT_NE(r.out.find(line), std::string::npos) << line << "\nin:\n" << r.out;
    }
}

// The shipped timings against this corosync: unsafe, refused with the numbers.
TEST_F(CorosyncTest, CheckConfigRefusesAnUnsafeChainWithTheNumbers) {
    ASSERT_NO_FATAL_FAILURE(
        start_corosync({.token_ms = 700, .consensus_ms = 2000, .crypto = true, .nodes = kThree}));
    const auto r = check_config("");
    EXPECT_EQ(r.status.code, 1) << r.describe();
    EXPECT_NE(r.err.find(": unsafe (cluster mode, 3 hosts, watchdog.timeout_s = 5):\n"),
              std::string::npos)
        << r.err;
    for (const char* line :
         {"  unsafe: cluster.fence_delay_ms = 7000 is shorter than watchdog timeout 5000 ms + "
          "proof window 3350 ms (max of 2 heartbeats = 2000 ms and corosync's token 1350 ms + "
          "consensus 2000 ms): a silent peer's watchdog may not have fired yet; raise it to at "
          "least 8350\n",
          "  unsafe: watchdog.timeout_s = 5 is shorter than membership timeout 3350 ms "
          "(corosync's token 1350 ms + consensus 2000 ms) + 2 heartbeats = 2000 ms "
          "(cluster.heartbeat_interval_ms = 1000), 5350 ms"}) {
        EXPECT_NE(r.err.find(line), std::string::npos) << line << "\nin:\n" << r.err;
    }
}

// corosync without crypto is refused unless cluster.allow_unauthenticated.
TEST_F(CorosyncTest, CheckConfigRefusesAnUnauthenticatedCorosyncUnlessAccepted) {
    ASSERT_NO_FATAL_FAILURE(start_corosync(
        {.token_ms = 500, .consensus_ms = std::nullopt, .crypto = false, .nodes = kThree}));
    // Three nodes: runtime token 1150, consensus 1380 (membership 2530 ms).
    const std::string safe = "fence_delay_ms = 8530\n";
    const std::string watchdog = "[watchdog]\ntimeout_s = 5\n";
    const auto refused = check_config(safe, watchdog);
    EXPECT_EQ(refused.status.code, 1) << refused.describe();
    EXPECT_NE(refused.err.find("  unsafe: corosync runs without authentication "
                               "(totem.crypto_cipher = none, totem.crypto_hash = none)"),
              std::string::npos)
        << refused.err;
    EXPECT_EQ(refused.err.find("unsafe: cluster.fence_delay_ms"), std::string::npos) << refused.err;

    const auto accepted = check_config(safe + "allow_unauthenticated = true\n", watchdog);
    ASSERT_TRUE(accepted.ok()) << accepted.describe();
    EXPECT_NE(accepted.out.find("  ok: corosync runs without authentication (totem.crypto_cipher "
                                "= none, totem.crypto_hash = none), accepted by "
                                "cluster.allow_unauthenticated = true\n"),
              std::string::npos)
        << accepted.out;
}

// A host being set up, corosync not yet running: what needs corosync is
// "not checked", the rest is checked, and the answer is OK.
TEST_F(CorosyncTest, CheckConfigWithoutCorosyncSaysWhatItCouldNotCheck) {
    const auto r = check_config("");
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_NE(r.out.find("  corosync: cannot connect to corosync's cmap (is corosync running?)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("  not checked: corosync not running: the membership timeout "
                         "(cluster.membership_timeout_ms = 0"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("  ok: fence delay 7000 ms >= watchdog timeout 5000 ms"),
              std::string::npos)
        << r.out;
}

}  // namespace
}  // namespace vigil::testing
