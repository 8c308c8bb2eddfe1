// `vigil-lab demo`: a short story for a newcomer. A host loses power, a cable
// is pulled, the storage array goes away and comes back; the checker's
// timeline tells what the VMs and vigild did.
#pragma once

#include <filesystem>
#include <iosfwd>

#include "tests/lab/sys.h"

namespace vigil::lab {

[[nodiscard]] Result<> run_demo(const std::filesystem::path& root, std::ostream& out);

}  // namespace vigil::lab
