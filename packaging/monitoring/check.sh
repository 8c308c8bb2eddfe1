#!/usr/bin/env bash
# The example alert rules load (promtool check rules) and fire when their
# tests say (promtool test rules); the dashboard is valid JSON with a query
# in every panel; and every metric the two name is one vigild exports
# (exporters/metrics.cpp), so neither can drift from the daemon.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$here"
promtool check rules vigil-alerts.yml >/dev/null
promtool test rules vigil-alerts.test.yml >/dev/null
jq -e '.panels | length > 0 and all(.targets | length > 0 and all(.expr | length > 0))' \
  vigil-dashboard.json >/dev/null || { echo "vigil-dashboard.json: a panel without a query"; exit 1; }
exported=$(grep -oE '"vigil_[a-z_]+"' "$top/exporters/metrics.cpp" | tr -d '"' | sort -u)
used=$( { grep -v '^ *#' vigil-alerts.yml; jq -r '.. | .expr? // empty' vigil-dashboard.json; } |
  grep -oE 'vigil_[a-z_]+' | sed -E 's/_(bucket|count|sum)$//' | sort -u)
unknown=$(comm -23 <(echo "$used") <(echo "$exported"))
if [ -n "$unknown" ]; then
  echo "metrics vigild does not export: $unknown"
  exit 1
fi
echo "alert rules load and pass their tests; dashboard valid; $(echo "$used" | wc -l) metrics, all exported"
