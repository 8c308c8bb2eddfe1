#include "daemon/adapters/corosync_cmap.h"

#include <corosync/cmap.h>
#include <corosync/corotypes.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace vigil::adapters {
namespace {

Error cs_error(const std::string& what, cs_error_t err) {
    return Error{what + ": " + cs_strerror(err) + " (" + std::to_string(static_cast<int>(err)) +
                 ")"};
}

class CmapConnection {
  public:
    static std::expected<CmapConnection, Error> open() {
        cmap_handle_t handle = 0;
        if (const cs_error_t err = cmap_initialize(&handle); err != CS_OK) {
            return std::unexpected(
                cs_error("cannot connect to corosync's cmap (is corosync running?)", err));
        }
        return CmapConnection(handle);
    }
    CmapConnection(CmapConnection&& other) noexcept : handle_(std::exchange(other.handle_, 0)) {}
    CmapConnection& operator=(CmapConnection&&) = delete;
    CmapConnection(const CmapConnection&) = delete;
    CmapConnection& operator=(const CmapConnection&) = delete;
    ~CmapConnection() {
        if (handle_ != 0) cmap_finalize(handle_);
    }

    [[nodiscard]] std::expected<std::uint32_t, Error> u32(const std::string& key) const {
        std::uint32_t value = 0;
        if (const cs_error_t err = cmap_get_uint32(handle_, key.c_str(), &value); err != CS_OK) {
            return std::unexpected(cs_error("corosync's cmap has no " + key, err));
        }
        return value;
    }
    // nullopt when the key does not exist.
    [[nodiscard]] std::expected<std::optional<std::string>, Error> string(
        const std::string& key) const {
        char* value = nullptr;
        const cs_error_t err = cmap_get_string(handle_, key.c_str(), &value);
        if (err == CS_ERR_NOT_EXIST) return std::nullopt;
        if (err != CS_OK)
            return std::unexpected(cs_error("cannot read " + key + " from cmap", err));
        std::string out(value);
        std::free(value);  // cmap_get_string allocates with malloc
        return out;
    }
    // The node indexes N of every nodelist.node.N.* key.
    [[nodiscard]] std::expected<std::set<unsigned>, Error> node_indexes() const {
        static constexpr char kPrefixText[] = "nodelist.node.";
        constexpr std::string_view kPrefix = kPrefixText;
        cmap_iter_handle_t iter = 0;
        if (const cs_error_t err = cmap_iter_init(handle_, kPrefixText, &iter); err != CS_OK) {
            return std::unexpected(cs_error("cannot list the nodelist in cmap", err));
        }
        std::set<unsigned> indexes;
        char key[CMAP_KEYNAME_MAXLEN + 1] = {};
        size_t len = 0;
        cmap_value_types_t type{};
        cs_error_t err = CS_OK;
        while ((err = cmap_iter_next(handle_, iter, key, &len, &type)) == CS_OK) {
            const std::string_view name(key);
            if (!name.starts_with(kPrefix)) continue;
            const std::string_view rest = name.substr(kPrefix.size());
            unsigned index = 0;
            const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), index);
            if (ec == std::errc() && end != rest.data() && *end == '.') indexes.insert(index);
        }
        cmap_iter_finalize(handle_, iter);
        if (err != CS_ERR_NO_SECTIONS) {
            return std::unexpected(cs_error("cannot list the nodelist in cmap", err));
        }
        return indexes;
    }

  private:
    explicit CmapConnection(cmap_handle_t handle) : handle_(handle) {}
    cmap_handle_t handle_ = 0;
};

bool crypto_on(const std::string& value) { return !value.empty() && value != "none"; }

}  // namespace

std::expected<config::CorosyncFacts, Error> read_corosync_facts() {
    auto cmap = CmapConnection::open();
    if (!cmap) return std::unexpected(cmap.error());
    config::CorosyncFacts facts;

    auto token = cmap->u32("runtime.config.totem.token");
    if (!token) return std::unexpected(token.error());
    auto consensus = cmap->u32("runtime.config.totem.consensus");
    if (!consensus) return std::unexpected(consensus.error());
    facts.token = std::chrono::milliseconds(*token);
    facts.consensus = std::chrono::milliseconds(*consensus);

    auto cipher = cmap->string("totem.crypto_cipher");
    if (!cipher) return std::unexpected(cipher.error());
    auto hash = cmap->string("totem.crypto_hash");
    if (!hash) return std::unexpected(hash.error());
    facts.crypto_cipher = cipher->value_or("");
    facts.crypto_hash = hash->value_or("");
    facts.authenticated = crypto_on(facts.crypto_cipher) && crypto_on(facts.crypto_hash);

    auto indexes = cmap->node_indexes();
    if (!indexes) return std::unexpected(indexes.error());
    for (const unsigned index : *indexes) {
        const std::string prefix = "nodelist.node." + std::to_string(index) + ".";
        auto nodeid = cmap->u32(prefix + "nodeid");
        if (!nodeid) return std::unexpected(nodeid.error());
        auto name = cmap->string(prefix + "name");
        if (!name) return std::unexpected(name.error());
        if (!name->has_value()) {
            name = cmap->string(prefix + "ring0_addr");
            if (!name) return std::unexpected(name.error());
        }
        facts.nodes.emplace_back(*nodeid, name->value_or(""));
    }
    return facts;
}

}  // namespace vigil::adapters
