#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs the order pipeline
# (orders -> validator by request/reply, -> ledger by publish/subscribe)
# beside a hostile component that attacks everything it can reach. After a
# few seconds everything stops by itself and the audit log's refusals are
# summarised. State, approvals and the audit log go to a fresh temporary
# data directory (kept: its path is printed at the end).
# Usage: scripts/demo.sh [SECONDS]   (default 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-3}
"$root/scripts/setup.sh"
"$root/scripts/build.sh" release airssys-wasm examples >/dev/null
cli="$root/build/release/src/cli/airssys-wasm"
data=$(mktemp -d /tmp/airssys-demo-XXXXXX)
chmod 700 "$data"

echo "== the pipeline and a hostile component, for ${seconds} s (data: $data)"
"$cli" up "$root/build/release/examples/demo" --data-dir "$data" --approve \
  --send "orders=order 1 widget 3" \
  --send "orders=order 2 gadget 500" \
  --send "orders=order 3 sprocket 1" \
  --send "orders=order 4 gizmo 7" \
  --send "orders=order 5 widget 2" \
  --send "hostile=attack" \
  --duration "$((seconds * 1000))"

echo
echo "== refusals in the audit log ($data/audit.log), by component and permission"
"$cli" audit --data-dir "$data" --result denied --summary
echo
echo "== quota warnings and critical levels reached"
"$cli" audit --data-dir "$data" --permission quota. --summary
