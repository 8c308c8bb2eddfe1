#!/usr/bin/env bash
# Every MESSAGE_ID vigild writes (daemon/adapters/journal.h) has exactly one
# entry in the journal catalog, and the catalog names no other.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ids=$(grep -oE '"[0-9a-f]{32}"' "$top/daemon/adapters/journal.h" | tr -d '"' | sort)
entries=$(sed -n 's/^-- \([0-9a-f]\{32\}\)$/\1/p' "$top/packaging/vigil.catalog" | sort)
if [ "$ids" != "$entries" ]; then
  echo "journal.h and vigil.catalog differ (< journal.h, > catalog):"
  diff <(echo "$ids") <(echo "$entries") || true
  exit 1
fi
dups=$(echo "$entries" | uniq -d)
[ -z "$dups" ] || { echo "catalog entries given twice: $dups"; exit 1; }
echo "$(echo "$ids" | wc -l) message ids, one catalog entry each"
