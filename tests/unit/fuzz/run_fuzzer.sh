#!/usr/bin/env bash
# One deterministic libFuzzer run, as the test fuzz.NAME runs it:
#   run_fuzzer.sh FUZZER WORKDIR RUNS SEED... (files or folders)
# WORKDIR (in the build tree) is made anew: corpus/ gets a copy of every seed
# and the new inputs the run finds, artifacts/ any crashing input. The
# checked-in corpus is only read. The seed of libFuzzer's generator is fixed,
# so a run repeats exactly; a crash fails the run and names its input.
set -euo pipefail
fuzzer=$1 work=$2 runs=$3
shift 3
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
for seed in "$@"; do
  if [ -d "$seed" ]; then
    find "$seed" -maxdepth 1 -type f -exec cp -t "$work/corpus" {} +
  else
    cp -t "$work/corpus" "$seed"
  fi
done
n=$(find "$work/corpus" -type f | wc -l)
[ "$n" -gt 0 ] || { echo "run_fuzzer: no seeds in $*" >&2; exit 1; }
echo "run_fuzzer: $(basename "$fuzzer"): $n seeds, -seed=1 -runs=$runs, in $work"
# What makes a run repeat: the fixed -seed, -reload=0 (no rereading of the
# corpus folder on a timer), and no address randomization (setarch -R): the
# comparisons libFuzzer learns from include pointers, and with them new
# addresses would steer the mutations elsewhere in every run.
# -timeout: one input taking 10 s is a hang, not slowness (the parsers take
# microseconds). -rss_limit_mb: libFuzzer's default, stated.
exec setarch "$(uname -m)" --addr-no-randomize "$fuzzer" -seed=1 -runs="$runs" -reload=0 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus"
