#!/usr/bin/env bash
# The Debian package, end to end (ctest label `package`, root): build the
# .deb (scripts/package.sh), lint it (no errors, no overrides), make a
# throw-away Debian 12 root from the distribution archive (mmdebstrap
# --mode=unshare) with only vigil's dependencies, and in private namespaces
# (mount, network, PID: a killed run leaves no mount and no process behind)
# install it, check its files, its config and its unit, run the installed
# vigild the way the unit does (its capability set, no-new-privs, read-only
# root), then remove and purge it and check that nothing of it is left.
# Everything lives in one directory of its own under the build tree, removed
# at the end with rm --one-file-system.
# Environment: VIGIL_BUILD_DIR (default build/), VIGIL_PACKAGE_DEB (test this
# .deb instead of building one), VIGIL_DEBIAN_MIRROR.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/package
build=${VIGIL_BUILD_DIR:-$top/build}
[ "$(id -u)" -eq 0 ] || { echo "package test: needs root (mmdebstrap, namespaces, BPF)" >&2; exit 1; }

# Directories of runs that were killed (their owner is gone): only a
# directory, never a mount, since every mount lived in a namespace of its own.
for stale in "$build"/package-test.*; do
  [ -f "$stale/owner" ] || continue
  kill -0 "$(cat "$stale/owner")" 2>/dev/null || rm -rf --one-file-system "$stale"
done
mkdir -p "$build"
work=$(mktemp -d "$build/package-test.XXXXXX")
echo $$ >"$work/owner"
trap 'rm -rf --one-file-system "$work"' EXIT
trap 'exit 130' INT TERM HUP

step_start=$SECONDS
step() {
  echo "package test: $1 ($((SECONDS - step_start)) s since the last step)"
  step_start=$SECONDS
}

# 1. The package.
if [ -n "${VIGIL_PACKAGE_DEB:-}" ]; then
  deb=$VIGIL_PACKAGE_DEB
else
  bash "$top/scripts/package.sh" "$work/debs" >/dev/null
  deb=$(ls "$work"/debs/vigil_*.deb)
fi
step "built $(basename "$deb")"

# 2. lintian: no errors, and nothing overridden.
if ls "$top"/packaging/debian/*lintian-overrides* >/dev/null 2>&1; then
  echo "package test: packaging/debian has lintian overrides; fix the package instead" >&2
  exit 1
fi
lint=0
lintian --fail-on error --info "$deb" >"$work/lintian.raw" 2>&1 || lint=$?
grep -v '^running with root privileges' "$work/lintian.raw" >"$work/lintian.txt" || true
cat "$work/lintian.txt"
if [ "$lint" -ne 0 ]; then
  echo "package test: lintian reports errors (exit $lint)" >&2
  exit 1
fi
echo "lintian: $(grep -c '^[EWI]: ' "$work/lintian.txt" || true) tags (errors fail the test)"
step "lintian"

# 3. A stock Debian 12 root with systemd, man-db and vigil's dependencies:
# the archive must have every one of them.
mirror=${VIGIL_DEBIAN_MIRROR:-$(grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
  awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)}
mirror=${mirror:-http://deb.debian.org/debian}
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/ //g' | grep -v '^$' | paste -sd,)
root=$work/root
mkdir -p "$work/tmp"
TMPDIR=$work/tmp mmdebstrap --quiet --mode=unshare --variant=minbase \
  --include="systemd,man-db,$deps" bookworm "$root" "$mirror" >"$work/mmdebstrap.log" 2>&1 || {
  tail -n 30 "$work/mmdebstrap.log" >&2
  echo "package test: mmdebstrap failed" >&2
  exit 1
}
cp "$deb" "$root/tmp/vigil.deb"
step "made a Debian 12 root ($deps)"

# 4. Install, check, run, remove, purge: inside a mount, network and PID
# namespace of its own, so nothing is mounted in the machine's namespace and
# no process outlives the test.
unshare --mount --net --pid --fork --kill-child --propagation private \
  bash "$here/in_root.sh" "$root" "$top"
step "installed, checked, ran, removed and purged"
