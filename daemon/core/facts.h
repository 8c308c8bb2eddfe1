#pragma once

// The evidence the core's parts attach to their decisions: key=value facts, ages in
// seconds.

#include <string>
#include <utility>

#include "daemon/core/decision.h"
#include "daemon/core/types.h"

namespace vigil::core {

[[nodiscard]] inline Fact fact(std::string key, std::string value) {
    return Fact{std::move(key), std::move(value)};
}

[[nodiscard]] inline Fact age(std::string key, TimePoint now, TimePoint then) {
    return fact(std::move(key), format_seconds(now - then));
}

}  // namespace vigil::core
