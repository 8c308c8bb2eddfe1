#!/usr/bin/env bash
# The README's second command: set up, build, and run every test (labels
# unit, sim, bpf, vm, lab). The root-only labels need root, as in CI.
# Pass ctest arguments to narrow it down, e.g. scripts/test.sh -L unit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIL_BUILD_DIR:-$top/build}
[ "$(id -u)" -eq 0 ] || { echo "test.sh: run as root (the bpf, vm and lab tests need it)" >&2; exit 1; }
bash "$top/scripts/build.sh"
cd "$build"
ctest --output-on-failure --timeout 900 "$@"
