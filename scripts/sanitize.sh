#!/usr/bin/env bash
# The ASan+UBSan build with clang-19 (build-asan/, or $VIGIL_ASAN_BUILD_DIR)
# and what runs in it: the unit and sim tests, then each libFuzzer target
# for a fixed seed and run count (label fuzz). Any sanitizer finding ends
# its test with a failure. Prints each phase's time.
#   scripts/sanitize.sh            build, test, fuzz
#   scripts/sanitize.sh build|test|fuzz   one phase
# Needs scripts/setup.sh first (clang-19 and its runtime libraries).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIL_ASAN_BUILD_DIR:-$top/build-asan}
regular=${VIGIL_BUILD_DIR:-$top/build}

# Leaks count as findings; a UBSan report ends the process with its stack
# (the build also has -fno-sanitize-recover=all). No suppressions.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# clang-19's own symbolizer: the default llvm-symbolizer (14) cannot read
# clang-19's debug information, and a report without lines helps nobody.
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/lib/llvm-19/bin/llvm-symbolizer}

phase() {
  local name=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  echo "sanitize: $name: $((SECONDS - start)) s$( ((rc)) && echo " (failed, exit $rc)")"
  return "$rc"
}

# Tests of the unit label that run no compiled code of ours (they check
# files): the regular build runs them.
not_code='^(format|journal_catalog|monitoring_examples)$'

build() {
  command -v clang++-19 >/dev/null || { echo "sanitize: no clang++-19: run scripts/setup.sh first" >&2; return 1; }
  # -O1 with line tables: symbolized reports at half the compile time of -O2 -g.
  # Assertions stay on.
  cmake -S "$top" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 \
    -DVIGIL_SANITIZE=ON -DVIGIL_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    -DVIGIL_DEPS_DIR="$regular/deps" ${VIGIL_ASAN_CMAKE_ARGS:-} >/dev/null
  ninja -C "$build" -j"$(nproc)" vigil_sanitize_tests
}

# The sanitizer tree runs every unit and sim test the regular build has, but
# the lab's own unit test (tests/CMakeLists.txt says why).
same_tests() {
  [ -f "$regular/CTestTestfile.cmake" ] || return 0
  local filter want have
  filter='.tests[] | select(any(.properties[]?; .name == "LABELS" and (.value | index("unit") or index("sim"))))
    | select((.command // [""])[0] | test("/vigil_lab_unit_test$") | not) | .name'
  # A parameterized test's name ends in its parameter's bytes, which differ
  # between builds: compared without them.
  want=$(ctest --test-dir "$regular" --show-only=json-v1 | jq -r "$filter" | sed 's/  # GetParam().*//' | grep -Ev "$not_code" | sort -u)
  have=$(ctest --test-dir "$build" --show-only=json-v1 | jq -r "$filter" | sed 's/  # GetParam().*//' | grep -Ev "$not_code" | sort -u)
  if [ -n "$(comm -23 <(echo "$want") <(echo "$have"))" ]; then
    echo "sanitize: the sanitizer build lacks these unit or sim tests of $regular:" >&2
    comm -23 <(echo "$want") <(echo "$have") >&2
    echo "sanitize: add their programs to vigil_sanitize_tests (tests/CMakeLists.txt)" >&2
    return 1
  fi
}

tests() {
  same_tests || return 1
  ctest --test-dir "$build" -L '^(unit|sim)$' -E "$not_code" --output-on-failure --timeout 900 -j"$(nproc)"
}

fuzz() {
  ctest --test-dir "$build" -L "^fuzz\$" --output-on-failure --no-tests=error -j"$(nproc)"
}

case ${1:-all} in
  build) phase build build ;;
  test) phase "unit and sim tests" tests ;;
  fuzz) phase fuzzing fuzz ;;
  all)
    phase build build
    phase "unit and sim tests" tests
    phase fuzzing fuzz
    ;;
  *) echo "usage: $0 [build|test|fuzz]" >&2; exit 2 ;;
esac
