#!/usr/bin/env bash
# vigild on this one host, standalone: set up, build, and start it with no
# config file (it watches the local kernel and serves metrics on
# 127.0.0.1:9774; it arms nothing and joins no cluster). vigild keeps running
# in the background after this script ends; its log is build/vigild.log.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIL_BUILD_DIR:-$top/build}
[ "$(id -u)" -eq 0 ] || { echo "standalone.sh: run as root (vigild loads BPF programs)" >&2; exit 1; }
bash "$top/scripts/build.sh"

pidfile=$build/vigild.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
   grep -q vigild "/proc/$(cat "$pidfile")/cmdline" 2>/dev/null; then
  echo "standalone.sh: stopping the vigild this script started earlier (pid $(cat "$pidfile"))"
  kill "$(cat "$pidfile")"
  for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
fi

config_args=()
[ -n "${VIGIL_CONFIG:-}" ] && config_args=(--config "$VIGIL_CONFIG")
setsid "$build/daemon/vigild" "${config_args[@]}" >"$build/vigild.log" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 100); do
  if curl -fs http://127.0.0.1:9774/metrics >/dev/null 2>&1; then break; fi
  kill -0 "$(cat "$pidfile")" 2>/dev/null || { cat "$build/vigild.log" >&2; echo "standalone.sh: vigild exited" >&2; exit 1; }
  sleep 0.1
done
"$build/daemon/vigilctl" status
cat <<TXT

vigild is running (pid $(cat "$pidfile"), log: $build/vigild.log).
  metrics:  curl -s 127.0.0.1:9774/metrics
  status:   $build/daemon/vigilctl status
  stop:     kill \$(cat $pidfile)
TXT
