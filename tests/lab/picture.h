// The checker's timeline as a picture: an SVG with one lane per host, each
// VM's writing periods as bars in the lane of the host it wrote from (a
// paler bar while its qemu runs there without writing: paused or frozen),
// faults and repairs as lines across every lane, vigild's decisions as
// marks in the lane of the host that made them (hover for the record).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vigil::lab {

// One bar: `vm` on `host` from `from` to `to` (seconds since the checker
// started), writing or only running.
struct Bar {
    std::string vm;
    std::string host;
    double from = 0;
    double to = 0;
    bool writing = false;
};

// The bars the timeline's "vm" events describe ("vm1: writing on h2",
// "vm1: not writing, qemu on h1", "vm1: not running"), each closed by the
// VM's next state or the end of the timeline.
[[nodiscard]] std::vector<Bar> timeline_bars(const nlohmann::json& timeline);

// The whole picture: `hosts` and `vms` name the lanes and rows, in order.
[[nodiscard]] std::string timeline_svg(const nlohmann::json& timeline,
                                       const std::vector<std::string>& hosts,
                                       const std::vector<std::string>& vms,
                                       const std::string& title);

}  // namespace vigil::lab
