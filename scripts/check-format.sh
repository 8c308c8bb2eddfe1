#!/usr/bin/env bash
# Fails when a tracked C or C++ file differs from what clang-format makes of
# it (.clang-format at the root; bpf/.clang-format keeps vmlinux.h first).
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r -d '' f; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || { echo "not formatted: $f"; bad=1; }
done < <(git ls-files -z '*.c' '*.cpp' '*.h' ':!:bpf/include/*')
[ "$bad" -eq 0 ] && echo "all C and C++ files formatted"
exit "$bad"
