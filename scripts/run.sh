#!/usr/bin/env bash
# The README's first command: set up, build, then `vigil-lab demo`: a lab of
# three hosts on this machine (network, mount and PID namespaces; real
# corosync, libvirtd, virtlockd and qemu guests; vigild in cluster mode on
# each with an emulated watchdog), a short story of faults (a power loss, a
# pulled cable, the storage array going away and coming back), the timeline
# the checker measured and a picture of it. The lab stays up to look around;
# its root is /var/lib/vigil-lab-demo (`vigil-lab --root ... down` removes it).
# `scripts/standalone.sh` runs vigild on this host alone instead.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIL_BUILD_DIR:-$top/build}
[ "$(id -u)" -eq 0 ] || { echo "run.sh: run as root (the lab makes namespaces, vigild loads BPF programs)" >&2; exit 1; }
bash "$top/scripts/build.sh"
exec "$build/tests/lab/vigil-lab" demo
