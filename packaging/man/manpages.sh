#!/usr/bin/env bash
# Makes vigild(8), vigilctl(8) and vigil.toml(5). The options come from the
# programs' own --help (help2man), the commands from each vigilctl
# subcommand's --help, and every key of vigil.toml(5) from the annotated
# packaging/vigil.toml; the .h2m files add only the prose that --help has no
# room for. SOURCE_DATE_EPOCH, when set, dates the pages (reproducible builds).
# usage: manpages.sh VIGILD VIGILCTL VIGIL_TOML OUTDIR
set -euo pipefail
vigild=$1 vigilctl=$2 toml=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

help2man --no-info --section 8 --include "$here/vigild.h2m" \
  --name "high-availability agent for KVM/libvirt hosts" \
  --output "$tmp/vigild.8" "$vigild"

# One entry per subcommand, from its --help: its summary line and options.
{
  cat "$here/vigilctl.h2m"
  echo "[COMMANDS]"
  "$vigilctl" --help | awk '/^Subcommands:/ {on = 1; next} on && NF {print $1}' |
    while read -r cmd; do
      echo ".TP"
      echo "\\fB$cmd\\fR"
      "$vigilctl" "$cmd" --help | awk '
        NR == 1 { print; next }
        /^Positionals:/ { pos = 1; next }
        /^Options:/ { pos = 0; on = 1; next }
        pos && /^ +[^ -]/ {
          sub(/^ +/, "")
          split($0, parts, /  +/)
          print ".br"
          print "\\fI" parts[1] "\\fR: " parts[2]
          next
        }
        on && /^ +-/ {
          sub(/^ +/, "")
          split($0, parts, /  +/)
          opt = parts[1]; desc = ""
          for (i = 2; i in parts; i++) desc = desc (desc == "" ? "" : " ") parts[i]
          if (opt ~ /^-h,--help/) next
          gsub(/-/, "\\-", opt)
          print ".br"
          print "\\fB" opt "\\fR: " desc
        }'
    done
} >"$tmp/vigilctl.h2m"
help2man --no-info --section 8 --include "$tmp/vigilctl.h2m" \
  --name "query and steer the local vigild" \
  --output "$tmp/vigilctl.8" "$vigilctl"

version=$("$vigild" --version | awk '{print $NF}')
date_fmt=$(date -u ${SOURCE_DATE_EPOCH:+-d "@$SOURCE_DATE_EPOCH"} '+%B %Y')
awk -v version="$version" -v date="$date_fmt" -f "$here/vigil.toml.awk" "$toml" >"$tmp/vigil.toml.5"

mv "$tmp/vigild.8" "$tmp/vigilctl.8" "$tmp/vigil.toml.5" "$out/"
