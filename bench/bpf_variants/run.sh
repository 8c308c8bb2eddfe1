#!/bin/bash
# What each design of the block hot-path programs costs per I/O: builds vigil's
# bpf/block.bpf.c and the variants here, attaches each in turn while fio reads
# a tmpfs-backed loop device, and prints the kernel's run-time statistics
# (ns per call, ns per I/O). Root; about 10 s per variant and round.
#   bench/bpf_variants/run.sh [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rounds=${1:-3}
work=$(mktemp -d /tmp/vigil-bpf-variants-$$-XXXXXX)
disk=/dev/shm/vigil-bpf-variants-$$.img
loop=""
holder=""
cleanup() {
  if [ -n "$holder" ]; then kill "$holder" 2>/dev/null || true; wait "$holder" 2>/dev/null || true; fi
  if [ -n "$loop" ]; then losetup -d "$loop" || true; fi
  rm -f "$disk"
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

variants=(block empty percpu_histogram inflight_hash percpu_counters)
for v in "${variants[@]}"; do
  src="$here/$v.bpf.c"
  [ "$v" = block ] && src="$repo/bpf/block.bpf.c"
  clang -O2 -g -target bpf -I"$repo/bpf/include" -I"$repo/bpf" -c "$src" -o "$work/$v.o"
done
gcc -O2 -o "$work/loader" "$here/loader.c" -lbpf

dd if=/dev/urandom of="$disk" bs=1M count=256 status=none
loop=$(losetup -f --show "$disk")

for round in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    coproc HOLD { exec "$work/loader" "$work/$v.o"; }
    holder=$HOLD_PID
    read -r _ <&"${HOLD[0]}"
    ios=$(fio --name=variant --filename="$loop" --rw=randread --bs=4k --direct=1 \
            --ioengine=io_uring --iodepth=32 --time_based=1 --runtime=3 \
            --randrepeat=0 --norandommap=1 --output-format=json 2>/dev/null |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["read"]["total_ios"])')
    total=0
    calls=""
    for info in /proc/"$holder"/fdinfo/*; do
      fd=${info##*/}
      [ "$(readlink /proc/"$holder"/fd/"$fd")" = "anon_inode:bpf-prog" ] || continue
      id=$(awk '/^prog_id:/{print $2}' "$info")
      ns=$(awk '/^run_time_ns:/{print $2}' "$info")
      cnt=$(awk '/^run_cnt:/{print $2}' "$info")
      name=$(bpftool prog show id "$id" | awk 'NR==1{print $4}')
      total=$((total + ns))
      if [ "$cnt" -gt 0 ]; then calls="$calls $name=$((ns / cnt))ns"; fi
    done
    printf 'round %d %-18s %6d ns/IO  %9d I/Os %s\n' "$round" "$v" $((total / ios)) "$ios" "$calls"
    exec {HOLD[1]}>&-
    wait "$holder" || true
    holder=""
  done
done
