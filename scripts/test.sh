#!/usr/bin/env bash
# The README's second command: set up, build, and run every test (labels
# unit, sim, bpf, vm, lab, package), one label after another, with
# clang-tidy (scripts/tidy.sh) beside them at the lowest CPU priority, then
# the ASan+UBSan build with its unit and sim tests and the fixed-seed fuzzers
# (scripts/sanitize.sh), printing each phase's time. The root-only labels
# need root, as in CI. Pass ctest arguments to run those instead (no
# sanitizer build then), e.g. scripts/test.sh -L unit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIL_BUILD_DIR:-$top/build}
[ "$(id -u)" -eq 0 ] || { echo "test.sh: run as root (the bpf, vm and lab tests need it)" >&2; exit 1; }

phase() {
  local name=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  echo "test: $name: $((SECONDS - start)) s$( ((rc)) && echo " (failed, exit $rc)")"
  return "$rc"
}

phase setup bash "$top/scripts/setup.sh"
phase build bash "$top/scripts/build.sh"
cd "$build"
if (($#)); then
  exec ctest --output-on-failure --timeout 900 "$@"
fi
# clang-tidy needs the build's compilation database and generated headers. It
# runs beside the labels at nice 19: they wait on guests, networks and timers
# more than they compute, and their timing comes first.
tidy_start=$SECONDS
nice -n 19 bash "$top/scripts/tidy.sh" >"$build/tidy.out" 2>&1 &
tidy_pid=$!
labels=(unit sim bpf vm lab package)
rc=0
for label in "${labels[@]}"; do
  phase "label $label" ctest --output-on-failure --timeout 900 -L "^$label\$" || rc=1
done
# Anything without one of those labels (none today; a program that failed to
# build shows up here as NAME_NOT_BUILT).
all=$(IFS='|'; echo "${labels[*]}")
phase "tests without a label" ctest --output-on-failure --timeout 900 -LE "^($all)\$" || rc=1
wait_tidy() {
  local rc=0
  wait "$tidy_pid" || rc=$?
  cat "$build/tidy.out"
  echo "test: clang-tidy ran $((SECONDS - tidy_start)) s in all"
  return "$rc"
}
phase "clang-tidy (the wait for it after the labels)" wait_tidy || rc=1
phase "sanitizer build, its tests and the fuzzers" bash "$top/scripts/sanitize.sh" || rc=1
exit "$rc"
