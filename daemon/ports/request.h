#pragma once

#include <cstdint>

namespace vigil::ports {

// What an asynchronous port call returns at once: its result arrives later, on the
// loop, carrying the same id. Ids are unique per port instance and never 0.
using RequestId = std::uint64_t;

}  // namespace vigil::ports
