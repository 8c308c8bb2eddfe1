#include "tests/lab/picture.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>

namespace vigil::lab {
namespace {

using json = nlohmann::json;

std::string escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                // Control characters are not allowed in XML 1.0.
                if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') out += c;
        }
    }
    return out;
}

std::string num(double v) {
    std::ostringstream out;
    out.precision(1);
    out << std::fixed << v;
    return out.str();
}

// "h2+h3(frozen)" -> the first host not frozen ("h2"), else the first.
std::string first_live(std::string_view where) {
    std::string first;
    size_t at = 0;
    while (at <= where.size()) {
        auto end = where.find('+', at);
        if (end == std::string_view::npos) end = where.size();
        std::string part(where.substr(at, end - at));
        const bool frozen = part.ends_with("(frozen)");
        if (frozen) part.resize(part.size() - 8);
        if (first.empty()) first = part;
        if (!frozen) return part;
        at = end + 1;
    }
    return first;
}

// What a decision record (a vigild log line) shows as a mark: its colour and
// short label, or nothing for records that only clutter (alerts, probes).
struct Mark {
    const char* colour;
    std::string label;
};
std::optional<Mark> mark_of(const std::string& line) {
    auto field = [&](std::string_view key) -> std::string {
        const auto at = line.find(" " + std::string(key) + "=");
        if (at == std::string::npos) return "";
        const auto from = at + key.size() + 2;
        return line.substr(from, line.find(' ', from) - from);
    };
    const auto kind = field("KIND");
    if (kind == "start-vm") return Mark{"#1a7f37", "start " + field("VM")};
    if (kind == "stop-vm") return Mark{"#bc4c00", "stop " + field("VM")};
    if (kind == "resume-vm") return Mark{"#0969da", "resume " + field("VM")};
    if (kind == "migrate-vm")
        return Mark{"#8250df", "migrate " + field("VM") + " to " + field("TARGET")};
    if (kind == "self-fence-reboot") return Mark{"#cf222e", "self-fence"};
    if (kind == "pet-stopped") return Mark{"#cf222e", "pets stopped"};
    if (kind == "fence-peer") return Mark{"#cf222e", "fence " + field("PEER")};
    if (kind == "peer-class") {
        const auto cls = line.find("class=dead") != std::string::npos       ? "dead"
                         : line.find("class=isolated") != std::string::npos ? "isolated"
                                                                            : "";
        if (*cls) return Mark{"#57606a", field("PEER") + " " + cls};
    }
    return std::nullopt;
}

}  // namespace

std::vector<Bar> timeline_bars(const json& timeline) {
    std::vector<Bar> bars;
    std::map<std::string, size_t> open;  // vm -> its open bar
    const double end = timeline.value("end", 0.0) - timeline.value("start", 0.0);
    auto close = [&](const std::string& vm, double t) {
        if (auto it = open.find(vm); it != open.end()) {
            bars[it->second].to = t;
            open.erase(it);
        }
    };
    for (const auto& e : timeline.value("events", json::array())) {
        if (e.value("kind", "") != "vm") continue;
        const auto text = e.value("text", "");
        const double t = e.value("t", 0.0);
        const auto colon = text.find(": ");
        if (colon == std::string::npos) continue;
        const auto vm = text.substr(0, colon);
        const auto state = text.substr(colon + 2);
        // "new instance ..." names a writer the next state confirms.
        if (state.starts_with("new instance")) continue;
        std::optional<Bar> next;
        if (auto at = state.find("writing on ");
            at != std::string::npos && !state.starts_with("not")) {
            next = Bar{vm, first_live(state.substr(at + 11)), t, end, true};
        } else if (state.starts_with("not writing, qemu on ")) {
            next = Bar{vm, first_live(state.substr(21)), t, end, false};
        } else if (state != "not running") {
            continue;
        }
        close(vm, t);
        if (next) {
            open[vm] = bars.size();
            bars.push_back(*next);
        }
    }
    return bars;
}

std::string timeline_svg(const json& timeline, const std::vector<std::string>& hosts,
                         const std::vector<std::string>& vms, const std::string& title) {
    const double span = std::max(1.0, timeline.value("end", 0.0) - timeline.value("start", 0.0));
    const double left = 70, right = 20, top = 70, row_h = 14, lane_gap = 12;
    const double width = 1100, plot_w = width - left - right;
    const double lane_h = row_h * static_cast<double>(std::max<size_t>(vms.size(), 1)) + 8;
    const double lanes_h = (lane_h + lane_gap) * static_cast<double>(hosts.size());
    const double height = top + lanes_h + 60;
    auto x = [&](double t) { return left + plot_w * std::clamp(t, 0.0, span) / span; };
    std::map<std::string, size_t> lane, row;
    for (size_t i = 0; i < hosts.size(); ++i) lane[hosts[i]] = i;
    for (size_t i = 0; i < vms.size(); ++i) row[vms[i]] = i;
    auto lane_top = [&](size_t i) { return top + static_cast<double>(i) * (lane_h + lane_gap); };
    static constexpr const char* kVmColours[] = {"#2da44e", "#8250df", "#bf8700", "#1f6feb",
                                                 "#d1242f", "#1b7c83", "#9a6700", "#6e7781"};

    std::ostringstream s;
    s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
      << "' font-family='sans-serif' font-size='11'>\n"
      << "<rect width='100%' height='100%' fill='white'/>\n"
      << "<text x='" << left << "' y='18' font-size='14' font-weight='bold'>" << escape(title)
      << "</text>\n";
    // Lanes, with a time axis under them.
    for (size_t i = 0; i < hosts.size(); ++i) {
        s << "<rect x='" << left << "' y='" << num(lane_top(i)) << "' width='" << plot_w
          << "' height='" << num(lane_h) << "' fill='#f6f8fa' stroke='#d0d7de'/>\n"
          << "<text x='8' y='" << num(lane_top(i) + lane_h / 2 + 4) << "' font-weight='bold'>"
          << escape(hosts[i]) << "</text>\n";
    }
    const double axis_y = top + lanes_h;
    const double step = span > 120 ? 20 : span > 40 ? 10 : 5;
    for (double t = 0; t <= span; t += step)
        s << "<line x1='" << num(x(t)) << "' y1='" << num(axis_y - lane_gap) << "' x2='"
          << num(x(t)) << "' y2='" << num(axis_y - lane_gap + 4) << "' stroke='#57606a'/>"
          << "<text x='" << num(x(t)) << "' y='" << num(axis_y + 4)
          << "' text-anchor='middle' fill='#57606a'>" << num(t).substr(0, num(t).size() - 2)
          << " s</text>\n";
    // The VMs' bars.
    for (const auto& b : timeline_bars(timeline)) {
        if (!lane.contains(b.host) || !row.contains(b.vm)) continue;
        const auto r = row[b.vm];
        const double y = lane_top(lane[b.host]) + 4 + row_h * static_cast<double>(r);
        s << "<rect x='" << num(x(b.from)) << "' y='" << num(y) << "' width='"
          << num(std::max(1.0, x(b.to) - x(b.from))) << "' height='" << row_h - 3 << "' fill='"
          << kVmColours[r % 8] << "' fill-opacity='" << (b.writing ? "0.9" : "0.25") << "'><title>"
          << escape(b.vm) << (b.writing ? " writing" : " running, not writing") << " on "
          << escape(b.host) << ", " << num(b.from) << "-" << num(b.to) << " s</title></rect>\n";
    }
    // Faults and repairs across every lane, labelled above them in two rows
    // so that neighbours do not overlap.
    int nth = 0;
    for (const auto& e : timeline.value("events", json::array())) {
        const auto kind = e.value("kind", "");
        if (kind != "fault" && kind != "repair") continue;
        const double t = e.value("t", 0.0);
        const char* colour = kind == "fault" ? "#cf222e" : "#0969da";
        s << "<line x1='" << num(x(t)) << "' y1='" << num(top - 6) << "' x2='" << num(x(t))
          << "' y2='" << num(axis_y - lane_gap) << "' stroke='" << colour
          << "' stroke-dasharray='4 3'/>\n"
          << "<text x='" << num(x(t) + 2) << "' y='" << num(top - 10 - 14 * (nth++ % 2))
          << "' fill='" << colour << "'>" << escape(e.value("text", "")) << "</text>\n";
    }
    // vigild's decisions, in the lane of the host that made them.
    for (const auto& e : timeline.value("events", json::array())) {
        if (e.value("kind", "") != "vigild") continue;
        const auto text = e.value("text", "");
        const auto colon = text.find(": ");
        if (colon == std::string::npos || !lane.contains(text.substr(0, colon))) continue;
        const auto m = mark_of(text);
        if (!m) continue;
        const double cx = x(e.value("t", 0.0));
        const double y = lane_top(lane[text.substr(0, colon)]);
        s << "<path d='M" << num(cx - 4) << " " << num(y - 1) << " L" << num(cx + 4) << " "
          << num(y - 1) << " L" << num(cx) << " " << num(y + 6) << " Z' fill='" << m->colour
          << "'><title>" << num(e.value("t", 0.0)) << " s " << escape(text) << "</title></path>\n";
    }
    // The legend.
    double lx = left;
    const double ly = height - 18;
    for (size_t i = 0; i < vms.size(); ++i) {
        s << "<rect x='" << num(lx) << "' y='" << num(ly - 9) << "' width='14' height='10' fill='"
          << kVmColours[i % 8] << "'/><text x='" << num(lx + 18) << "' y='" << num(ly) << "'>"
          << escape(vms[i]) << "</text>\n";
        lx += 60;
    }
    s << "<text x='" << num(lx) << "' y='" << num(ly)
      << "'>solid: writing; pale: running, not writing; dashed red: fault, blue: repair; "
         "triangles: vigild's decisions (hover)</text>\n"
      << "</svg>\n";
    return s.str();
}

}  // namespace vigil::lab
