#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs the order pipeline
# (orders -> validator by request/reply, -> ledger by publish/subscribe)
# beside a hostile component that attacks everything it can reach. The
# pipeline is the polyglot one (build/release/examples/polyglot): orders in
# Rust, validator in JavaScript, ledger in C, all three components of the
# airssys world (wit/host.wit), the hostile one on the core ABI. With --core
# it is the C pipeline on the core ABI (build/release/examples/demo), which is
# also what runs when Rust or jco is missing. Once every component has
# started, the host sends the same five orders and the attack; after SECONDS
# everything stops by itself and the audit log's refusals are summarised.
# State, approvals and the audit log go to a fresh temporary data directory
# (kept: its path is printed at the end).
# Usage: scripts/demo.sh [--core] [SECONDS]   (default 5, with --core 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
core=0
if [[ ${1:-} == --core ]]; then
  core=1
  shift
fi
"$root/scripts/setup.sh"
"$root/scripts/build.sh" release airssys-wasm examples >/dev/null
examples="$root/build/release/examples"
if ((!core)) && [[ ! -d $examples/polyglot ]]; then
  # A build directory configured before Rust or jco was installed finds them
  # when CMake runs again.
  cmake "$root/build/release" >/dev/null
  "$root/scripts/build.sh" release airssys-wasm examples >/dev/null
  if [[ ! -d $examples/polyglot ]]; then
    echo "demo: the polyglot pipeline was not built (Rust or jco is missing, see" \
      "'cmake build/release'): running the core-ABI pipeline" >&2
    core=1
  fi
fi
if ((core)); then
  folder="$examples/demo"
  seconds=${1:-3}
  what="the pipeline in C (core ABI) and a hostile component"
else
  folder="$examples/polyglot"
  seconds=${1:-5}
  what="the pipeline in Rust, JavaScript and C (airssys world) and a hostile component"
fi
cli="$root/build/release/src/cli/airssys-wasm"
data=$(mktemp -d /tmp/airssys-demo-XXXXXX)
chmod 700 "$data"

echo "== $what, for ${seconds} s once started (data: $data)"
if ((!core)); then
  echo "   (the JavaScript validator, 12 MB with its engine, takes some seconds to load)"
fi
"$cli" up "$folder" --data-dir "$data" --approve \
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
