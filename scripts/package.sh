#!/usr/bin/env bash
# Builds the Debian package: exports the tracked source (git archive; with
# uncommitted changes to tracked files copied over it, so a working tree is
# packaged as it is) into a directory of its own under the build tree, puts
# packaging/debian at its top and runs dpkg-buildpackage -b without the
# tests (nocheck: CI ran them already). Nothing is written outside the
# repository and the build tree. The .deb files land in OUTDIR (default
# build/package).
# usage: package.sh [OUTDIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIL_BUILD_DIR:-$top/build}
out=${1:-$build/package}
mkdir -p "$build" "$out"
out=$(cd "$out" && pwd)

version=$(sed -n '1s/^vigil (\([^)]*\)).*/\1/p' "$top/packaging/debian/changelog")
project=$(sed -n 's/^project(vigil VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
if [ "$version" != "$project" ]; then
  echo "package: packaging/debian/changelog says $version, CMakeLists.txt $project" >&2
  exit 1
fi

# Each run builds in a directory of its own; one left by a run that was
# killed (its owner is gone) is removed here.
for stale in "$build"/deb-build.*; do
  [ -f "$stale/owner" ] || continue
  kill -0 "$(cat "$stale/owner")" 2>/dev/null || rm -rf --one-file-system "$stale"
done
work=$(mktemp -d "$build/deb-build.XXXXXX")
echo $$ >"$work/owner"
trap 'rm -rf --one-file-system "$work"' EXIT
trap 'exit 130' INT TERM HUP
src=$work/vigil-$version
mkdir -p "$src"
git -C "$top" archive --format=tar HEAD | tar -x -C "$src"
while IFS= read -r -d '' f; do
  if [ -e "$top/$f" ]; then
    mkdir -p "$src/$(dirname "$f")"
    cp -p "$top/$f" "$src/$f"
  else
    rm -f "$src/$f"
  fi
done < <(git -C "$top" diff --name-only -z HEAD)
cp -a "$src/packaging/debian" "$src/debian"

# prometheus-cpp from the distribution (Debian 12 and later have it) is an
# ordinary dependency. Only a build that had to use the private prefix of
# scripts/setup.sh carries that copy in the package (packaging/README.md).
profiles=${VIGIL_PACKAGE_PROFILES-}
if [ -z "${VIGIL_PACKAGE_PROFILES+set}" ] && [ -f "$build/deps/prometheus-cpp/.complete" ]; then
  profiles=pkg.vigil.private-prometheus
fi
export DEB_BUILD_OPTIONS="nocheck parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}"
[ -d "$build/deps" ] && export VIGIL_DEPS_DIR=$build/deps
(cd "$src" && dpkg-buildpackage -b -us -uc ${profiles:+-P"$profiles"}) >"$work/build.log" 2>&1 || {
  cp "$work/build.log" "$out/build.log"
  grep -E -B2 -A8 'CMake Error|error:' "$work/build.log" | head -n 60 >&2
  echo "package: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
}
for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.changes "$work"/*.buildinfo; do
  [ -e "$f" ] && mv "$f" "$out/"
done
cp "$work/build.log" "$out/build.log"
ls "$out"/*.deb
