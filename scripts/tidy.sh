#!/usr/bin/env bash
# clang-tidy-19 with the checked-in .clang-tidy over the project's own C++
# sources (every translation unit of the compilation database under bpf/,
# daemon/, exporters/, fence/, tests/ and bench/; their headers through
# HeaderFilterRegex). Any finding fails. Needs a configured build
# (build/compile_commands.json, or $VIGIL_BUILD_DIR) whose generated
# headers exist: run it after scripts/build.sh.
#   scripts/tidy.sh                 every file
#   scripts/tidy.sh FILE...         only these (paths as in the database)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIL_BUILD_DIR:-$top/build}
jobs=${VIGIL_TIDY_JOBS:-$(nproc)}
command -v run-clang-tidy-19 >/dev/null || { echo "tidy: no run-clang-tidy-19: run scripts/setup.sh first" >&2; exit 1; }
[ -f "$build/compile_commands.json" ] || { echo "tidy: no $build/compile_commands.json: build first" >&2; exit 1; }
if (($#)); then
  files=("$@")
else
  files=("^$top/(bpf|daemon|exporters|fence|tests|bench)/")
fi
log=$build/tidy.log
rc=0
run-clang-tidy-19 -clang-tidy-binary clang-tidy-19 -p "$build" -j "$jobs" -quiet \
  -warnings-as-errors='*' "${files[@]}" >"$log" 2>&1 || rc=$?
findings=$(grep -c ': \(warning\|error\): ' "$log" || true)
if ((rc != 0 || findings != 0)); then
  grep -A3 ': \(warning\|error\): ' "$log" | head -200
  echo "tidy: $findings findings (exit $rc); the whole output is in $log"
  exit 1
fi
echo "tidy: $(grep -c '^\[' "$log") files, no finding"
