#!/usr/bin/env bash
# The part of the package test that runs inside its own mount, network and
# PID namespace (package_test.sh starts it with unshare): every mount made
# here, and every process started, ends with it.
# usage: in_root.sh ROOT SOURCE_TOP
set -euo pipefail
root=$1 top=$2
inroot() { chroot "$root" "$@"; }
fail() { echo "package test: $*" >&2; exit 1; }
# grep -q in a pipeline may end before the writer, which then dies of
# SIGPIPE and, under pipefail, fails the pipeline: read everything.
has() { grep "$@" >/dev/null; }

mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
ip link set lo up

# Paths that belong to nobody in particular: package databases, logs,
# caches, and the API file systems.
snapshot() {
  (cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run \
    -o -path ./tmp -o -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache \) -prune \
    -o -print | sort)
}
snapshot >"$root/tmp/before.txt"

# ---- install -----------------------------------------------------------------
inroot dpkg -i /tmp/vigil.deb >/dev/null
version=$(inroot dpkg-query -W -f='${Version}' vigil)
for f in /usr/sbin/vigild /usr/sbin/vigilctl /lib/systemd/system/vigild.service \
  /etc/vigil/vigil.toml /usr/lib/systemd/catalog/vigil.catalog \
  /usr/share/doc/vigil/README.md /usr/share/doc/vigil/README.packaging.md \
  /usr/share/doc/vigil/copyright /usr/share/vigil/vigil-alerts.yml \
  /usr/share/vigil/vigil-dashboard.json; do
  [ -f "$root$f" ] || fail "$f is missing"
done
[ -d "$root/etc/vigil/hooks.d" ] || fail "/etc/vigil/hooks.d is missing"
inroot dpkg-query -W -f='${Conffiles}\n' vigil | has '^ /etc/vigil/vigil.toml ' ||
  fail "/etc/vigil/vigil.toml is not a conffile"
cmp -s "$root/etc/vigil/vigil.toml" "$top/packaging/vigil.toml" ||
  fail "/etc/vigil/vigil.toml is not packaging/vigil.toml"
for page in vigild.8 vigilctl.8 vigil.toml.5; do
  inroot man -w "${page%.*}" 2>/dev/null | has "/${page}.gz$" || fail "no man page $page"
done
if inroot ldd /usr/sbin/vigild | has 'not found'; then
  inroot ldd /usr/sbin/vigild >&2
  fail "vigild misses a library on Debian 12"
fi
[ "$(inroot vigild --version)" = "vigild $version" ] || fail "vigild --version: $(inroot vigild --version)"
[ "$(inroot vigilctl --version)" = "vigilctl $version" ] || fail "vigilctl --version"
[ -L "$root/etc/systemd/system/multi-user.target.wants/vigild.service" ] ||
  fail "vigild.service is not enabled"
echo "installed vigil $version: files, conffile, man pages, libraries, enabled unit"

out=$(inroot vigild --check-config --config /etc/vigil/vigil.toml)
[ "$out" = "/etc/vigil/vigil.toml: OK (standalone mode)" ] || fail "check-config: $out"
echo "vigild --check-config: $out"
verify=$(inroot systemd-analyze verify /lib/systemd/system/vigild.service 2>&1) ||
  fail "systemd-analyze verify: $verify"
if grep -q vigild <<<"$verify"; then fail "systemd-analyze verify: $verify"; fi
echo "systemd-analyze verify vigild.service: ok"
inroot journalctl --update-catalog
ids=$(grep -c '^-- [0-9a-f]\{32\}$' "$root/usr/lib/systemd/catalog/vigil.catalog")
inroot journalctl --list-catalog | has '^6c1c2d0f4d0b4f6f9a0f5d3b8f2f7a01 vigil: vigild started$' ||
  fail "journalctl does not list vigil's catalog"
echo "journal catalog: $ids entries, listed by journalctl --list-catalog"

# ---- run it as the unit does --------------------------------------------------
# ProtectSystem=strict: everything read-only but the API file systems,
# RuntimeDirectory (/run/vigil) and StateDirectory (/var/lib/vigil);
# CapabilityBoundingSet from the unit, NoNewPrivileges=yes, nothing ambient.
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$root/lib/systemd/system/vigild.service")
setpriv_caps=$(tr 'A-Z' 'a-z' <<<"$unit_caps" | sed 's/cap_/+/g; s/ \+/,/g')
mkdir -p -m 0700 "$root/var/lib/vigil"
unshare --mount --propagation private bash -euo pipefail -c '
  root=$1 caps=$2
  mount --bind "$root" "$root"
  mount -o remount,bind,ro "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount --rbind /sys "$root/sys"
  mount -t tmpfs -o mode=0755 tmpfs "$root/run"
  mkdir -m 0700 "$root/run/vigil"
  mount -t tmpfs tmpfs "$root/tmp"
  mount --bind "$root/var/lib/vigil" "$root/var/lib/vigil"
  mount -o remount,bind,rw "$root/var/lib/vigil"
  if touch "$root/etc/vigil/x" 2>/dev/null; then echo "root is writable" >&2; exit 1; fi
  log=$(mktemp)
  chroot "$root" setpriv --no-new-privs --inh-caps=-all --ambient-caps=-all \
    --bounding-set=-all,$caps /usr/sbin/vigild --config /etc/vigil/vigil.toml 2>"$log" &
  pid=$!
  up=""
  for _ in $(seq 100); do
    up=$(curl -fs http://127.0.0.1:9774/metrics | grep "^vigil_probe_up{probe=\"block_io_errors\"}" || true)
    [ -n "$up" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  [ "$up" = "vigil_probe_up{probe=\"block_io_errors\"} 1" ] ||
    { cat "$log" >&2; echo "no metrics with block_io_errors attached: $up" >&2; exit 1; }
  grep -q "^NoNewPrivs:	1$" "$root"/proc/$pid/status || { echo "no-new-privs is not set" >&2; exit 1; }
  echo "vigild under the unit sandbox: $(grep ^CapEff "$root"/proc/$pid/status), no-new-privs, read-only root: $up"
  chroot "$root" vigilctl status | grep "standalone mode" >/dev/null || { echo "vigilctl status failed" >&2; exit 1; }
  kill -HUP $pid
  for _ in $(seq 50); do grep -q "configuration reloaded" "$log" && break; sleep 0.1; done
  grep -q "configuration reloaded from /etc/vigil/vigil.toml: nothing applied" "$log" ||
    { cat "$log" >&2; echo "SIGHUP did not reload" >&2; exit 1; }
  kill -TERM $pid
  wait $pid || { cat "$log" >&2; echo "vigild did not stop cleanly" >&2; exit 1; }
  echo "vigilctl status, SIGHUP reload and a clean SIGTERM stop: ok"
' _ "$root" "$setpriv_caps"
# What a self-fence would leave for the next start; purge must remove it.
echo "flight record" >"$root/var/lib/vigil/flight-record"

# ---- remove, purge --------------------------------------------------------------
inroot dpkg -r vigil >/dev/null
[ ! -e "$root/usr/sbin/vigild" ] || fail "vigild left after remove"
[ -f "$root/etc/vigil/vigil.toml" ] || fail "remove took the conffile (only purge may)"
inroot dpkg -P vigil >/dev/null
snapshot >"$root/tmp/after.txt"
if ! diff -u "$root/tmp/before.txt" "$root/tmp/after.txt" >"$root/tmp/left.txt"; then
  cat "$root/tmp/left.txt" >&2
  fail "purge left files behind (+) or took others (-)"
fi
echo "remove kept the conffile; purge left nothing behind"
