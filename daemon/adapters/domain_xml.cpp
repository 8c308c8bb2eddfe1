#include "daemon/adapters/domain_xml.h"

#include <libvirt/libvirt.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <charconv>
#include <memory>

namespace vigil::adapters {
namespace {

// VM names travel in heartbeat slots and cluster messages (space-separated
// text), so an HA VM's name must be a single printable word.
constexpr std::size_t kMaxHaNameBytes = 200;

std::unexpected<Error> fail(std::string what) {
    return std::unexpected(Error{"domain XML: " + std::move(what)});
}

struct DocFree {
    void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
struct CtxtFree {
    void operator()(xmlParserCtxt* ctxt) const { xmlFreeParserCtxt(ctxt); }
};
struct XmlCharFree {
    void operator()(xmlChar* s) const { xmlFree(s); }
};
using XmlString = std::unique_ptr<xmlChar, XmlCharFree>;

std::string_view text(const xmlChar* s) {
    return s ? std::string_view(reinterpret_cast<const char*>(s)) : std::string_view();
}

bool named(const xmlNode* node, std::string_view local) {
    return node->type == XML_ELEMENT_NODE && text(node->name) == local;
}

bool in_our_namespace(const xmlNode* node) {
    return node->ns != nullptr && text(node->ns->href) == kHaNamespace;
}

std::optional<std::string> attribute(const xmlNode* node, const char* name) {
    // Namespace-less attributes only: priority="10", not vigil:priority="10".
    XmlString value(xmlGetNoNsProp(node, reinterpret_cast<const xmlChar*>(name)));
    if (!value) return std::nullopt;
    return std::string(text(value.get()));
}

std::string content(const xmlNode* node) {
    XmlString value(xmlNodeGetContent(node));
    return std::string(text(value.get()));
}

std::string_view trim(std::string_view s) {
    while (!s.empty() &&
           (s.front() == ' ' || s.front() == '\n' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\n' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

template <typename T>
std::optional<T> whole_number(std::string_view s) {
    s = trim(s);
    T value{};
    const auto* end = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc() || ptr != end) return std::nullopt;
    return value;
}

// libvirt's scaled integers (<memory unit='KiB'>): the unit names its docs list.
std::optional<std::uint64_t> unit_bytes(std::string_view unit) {
    struct Unit {
        std::string_view name;
        std::uint64_t bytes;
    };
    constexpr std::uint64_t kKibi = 1024, kKilo = 1000;
    static constexpr Unit kUnits[] = {
        {"b", 1},
        {"bytes", 1},
        {"KB", kKilo},
        {"k", kKibi},
        {"K", kKibi},
        {"KiB", kKibi},
        {"MB", kKilo * kKilo},
        {"M", kKibi * kKibi},
        {"MiB", kKibi * kKibi},
        {"GB", kKilo * kKilo * kKilo},
        {"G", kKibi * kKibi * kKibi},
        {"GiB", kKibi * kKibi * kKibi},
        {"TB", kKilo * kKilo * kKilo * kKilo},
        {"T", kKibi * kKibi * kKibi * kKibi},
        {"TiB", kKibi * kKibi * kKibi * kKibi},
    };
    if (unit.empty()) return kKibi;  // libvirt's default for <memory>
    for (const auto& u : kUnits) {
        if (u.name == unit) return u.bytes;
    }
    return std::nullopt;
}

std::expected<std::uint64_t, Error> memory_mib(const xmlNode* node) {
    const auto value = whole_number<std::uint64_t>(content(node));
    if (!value) return fail("<memory> is not a whole number");
    const auto unit = unit_bytes(attribute(node, "unit").value_or(""));
    if (!unit) return fail("<memory> has an unknown unit");
    constexpr std::uint64_t kMib = std::uint64_t{1024} * 1024;
    if (*value > (kMaxMemoryMib * kMib) / *unit) return fail("<memory> is too large");
    const std::uint64_t bytes = *value * *unit;
    return (bytes + kMib - 1) / kMib;
}

bool printable_word(std::string_view name, std::size_t max_bytes) {
    if (name.empty() || name.size() > max_bytes) return false;
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return false;
    }
    return true;
}

bool valid_ha_name(std::string_view name) { return printable_word(name, kMaxHaNameBytes); }

std::expected<HaMetadata, Error> parse_ha(const xmlNode* node, std::uint64_t domain_mib) {
    HaMetadata ha;
    if (auto p = attribute(node, "priority")) {
        const auto v = whole_number<int>(*p);
        if (!v || *v < 0 || *v > kMaxHaPriority) {
            return fail("vigil:ha priority must be a whole number from 0 to " +
                        std::to_string(kMaxHaPriority));
        }
        ha.priority = *v;
    }
    ha.memory_mib = domain_mib;
    if (auto m = attribute(node, "memory_mib")) {
        const auto v = whole_number<std::uint64_t>(*m);
        if (!v || *v == 0 || *v > kMaxMemoryMib) {
            return fail("vigil:ha memory_mib must be a whole number from 1 to " +
                        std::to_string(kMaxMemoryMib));
        }
        ha.memory_mib = *v;
    }
    if (auto p = attribute(node, "io_error")) {
        const auto v = parse_io_error_policy(trim(*p));
        if (!v) {
            return fail("vigil:ha io_error must be auto-resume, leave-paused or recover-elsewhere");
        }
        ha.io_error = *v;
    }
    if (auto d = attribute(node, "storage_domain")) {
        const auto name = trim(*d);
        if (!printable_word(name, kMaxStorageDomainBytes)) {
            return fail("vigil:ha storage_domain must be 1 to " +
                        std::to_string(kMaxStorageDomainBytes) +
                        " printable ASCII characters without blanks");
        }
        ha.storage_domain = std::string(name);
    }
    for (const xmlNode* child = node->children; child; child = child->next) {
        if (child->type == XML_ELEMENT_NODE) return fail("vigil:ha takes no child elements");
    }
    return ha;
}

}  // namespace

std::expected<DomainDescription, Error> parse_domain_xml(std::string_view xml) {
    if (xml.size() > kMaxDomainXmlBytes) {
        return fail(std::to_string(xml.size()) + " bytes, more than the " +
                    std::to_string(kMaxDomainXmlBytes) + " accepted");
    }
    // libvirt never writes a DTD; refusing one before libxml2 sees it keeps
    // entity expansion (billion laughs, external entities) out of reach.
    if (xml.find("<!DOCTYPE") != std::string_view::npos ||
        xml.find("<!ENTITY") != std::string_view::npos) {
        return fail("DTDs and entity declarations are not accepted");
    }
    xmlInitParser();
    std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
    if (!ctxt) return fail("out of memory");
    // No NOENT (entities stay unexpanded), no DTDLOAD/DTDATTR/XINCLUDE, no
    // HUGE (libxml2's depth and length limits stay on), no network. The
    // encoding is forced so that a UTF-16 document cannot hide a DTD.
    const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
    std::unique_ptr<xmlDoc, DocFree> doc(xmlCtxtReadMemory(
        ctxt.get(), xml.data(), static_cast<int>(xml.size()), "domain.xml", "UTF-8", options));
    if (!doc) {
        const xmlError* err = xmlCtxtGetLastError(ctxt.get());
        if (!err || !err->message) return fail("not well-formed");
        return fail("line " + std::to_string(err->line) + ": " + std::string(trim(err->message)));
    }
    if (doc->intSubset || doc->extSubset) return fail("DTDs are not accepted");
    const xmlNode* root = xmlDocGetRootElement(doc.get());
    if (!root || !named(root, "domain") || root->ns)
        return fail("the root element is not <domain>");

    DomainDescription out;
    const xmlNode* ha_node = nullptr;
    bool have_name = false;
    for (const xmlNode* node = root->children; node; node = node->next) {
        if (named(node, "name") && !node->ns) {
            if (have_name) return fail("more than one <name>");
            out.name = std::string(trim(content(node)));
            have_name = true;
        } else if (named(node, "memory") && !node->ns) {
            auto mib = memory_mib(node);
            if (!mib) return std::unexpected(mib.error());
            out.memory_mib = *mib;
        } else if (named(node, "metadata") && !node->ns) {
            for (const xmlNode* m = node->children; m; m = m->next) {
                if (m->type != XML_ELEMENT_NODE || !in_our_namespace(m)) continue;
                if (text(m->name) != kHaElement) {
                    return fail("unknown element " + std::string(text(m->name)) + " in " +
                                std::string(kHaNamespace));
                }
                if (ha_node) return fail("more than one vigil:ha element");
                ha_node = m;
            }
        }
    }
    if (out.name.empty()) return fail("no <name>");
    if (ha_node) {
        if (!valid_ha_name(out.name)) {
            return fail("HA VM names must be 1 to " + std::to_string(kMaxHaNameBytes) +
                        " printable ASCII characters without blanks");
        }
        auto ha = parse_ha(ha_node, out.memory_mib);
        if (!ha) return std::unexpected(ha.error());
        out.ha = *ha;
    }
    return out;
}

std::optional<core::IoErrorPolicy> parse_io_error_policy(std::string_view text) {
    // The spelling of core::name(IoErrorPolicy), kept here so the parser
    // links alone (the fuzz target).
    if (text == "auto-resume") return core::IoErrorPolicy::kAutoResume;
    if (text == "leave-paused") return core::IoErrorPolicy::kLeavePaused;
    if (text == "recover-elsewhere") return core::IoErrorPolicy::kRecoverElsewhere;
    return std::nullopt;
}

std::optional<core::VmState> map_domain_state(int state, int reason) {
    switch (state) {
        case VIR_DOMAIN_RUNNING:
        case VIR_DOMAIN_BLOCKED:
        // Shutting down: qemu still runs and holds the disks.
        case VIR_DOMAIN_SHUTDOWN:
            return core::VmState::kRunning;
        case VIR_DOMAIN_PAUSED:
            return reason == VIR_DOMAIN_PAUSED_IOERROR ? core::VmState::kPausedIoError
                                                       : core::VmState::kPaused;
        case VIR_DOMAIN_PMSUSPENDED:
            return core::VmState::kPaused;
        case VIR_DOMAIN_SHUTOFF:
        case VIR_DOMAIN_CRASHED:
            return core::VmState::kShutOff;
        default:
            return std::nullopt;
    }
}

std::optional<core::VmState> map_lifecycle_event(int event, int detail) {
    switch (event) {
        case VIR_DOMAIN_EVENT_STARTED:
        case VIR_DOMAIN_EVENT_RESUMED:
            return core::VmState::kRunning;
        case VIR_DOMAIN_EVENT_SUSPENDED:
            return detail == VIR_DOMAIN_EVENT_SUSPENDED_IOERROR ? core::VmState::kPausedIoError
                                                                : core::VmState::kPaused;
        case VIR_DOMAIN_EVENT_PMSUSPENDED:
            return core::VmState::kPaused;
        case VIR_DOMAIN_EVENT_STOPPED:
        case VIR_DOMAIN_EVENT_CRASHED:
            return core::VmState::kShutOff;
        default:
            return std::nullopt;
    }
}

}  // namespace vigil::adapters
