#!/usr/bin/env bash
# Set-up and build: installs what is missing (scripts/setup.sh), then
# configures and builds everything into build/ (or $VIGIL_BUILD_DIR).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export VIGIL_BUILD_DIR=${VIGIL_BUILD_DIR:-$top/build}
bash "$top/scripts/setup.sh"
cmake -S "$top" -B "$VIGIL_BUILD_DIR" -G Ninja -DVIGIL_WERROR=ON ${VIGIL_CMAKE_ARGS:-} >/dev/null
ninja -C "$VIGIL_BUILD_DIR" -j"$(nproc)"
