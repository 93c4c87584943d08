#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the example component.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" release
exec "$root/build/release/src/cli/airssys-wasm" run "$root/build/release/examples/hello" -- "$@"
