#!/usr/bin/env bash
# Puts a Debian kernel and its i6300esb watchdog modules into DEST without
# installing anything: the package is fetched with `apt-get download` and only
# the two files the guest needs are extracted. Cached: a second run is a no-op.
# Usage: fetch_kernel.sh DEST
set -euo pipefail

dest=$1
if [ -f "$dest/.complete" ]; then
  exit 0
fi
mkdir -p "$dest"
work=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

# linux-image-amd64 is a meta package; the image is the package it depends on.
resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
download() { (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$1"); }
image=$(resolve)
if [ -z "$image" ] || ! download "$image"; then
  # Stale or missing package lists: refresh once and retry.
  apt-get update -qq
  image=$(resolve)
  if [ -z "$image" ]; then
    echo "fetch_kernel: cannot resolve linux-image-amd64 from the package archive" >&2
    exit 1
  fi
  download "$image"
fi
deb=$(ls "$work"/*.deb)
dpkg-deb --fsys-tarfile "$deb" |
  tar -x -C "$work" --wildcards './boot/vmlinuz-*' \
    './lib/modules/*/kernel/drivers/watchdog/i6300esb.ko' './lib/modules/*/kernel/drivers/watchdog/watchdog.ko'
cp "$work"/boot/vmlinuz-* "$dest/vmlinuz"
# The watchdog core first: i6300esb needs its symbols.
for module in watchdog i6300esb; do
  cp "$(find "$work/lib/modules" -name "$module.ko" | head -n1)" "$dest/$module.ko"
done
echo "$image" >"$dest/version"
touch "$dest/.complete"
