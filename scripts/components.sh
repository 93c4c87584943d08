#!/usr/bin/env bash
# Makes the component test material (docs/testing.md): the WASI test programs
# wrapped into command components by jco with its preview 1 adapter, and the
# component text of tests/components/cm assembled into binaries, in
# build/<kind>/tests/components. Prints each file with its size and SHA-256.
#
# Usage: scripts/components.sh [--force] [release|debug|asan|tsan|coverage]
#        scripts/components.sh --pin-adapter
#   --force        make every file anew, even when it is up to date
#   --pin-adapter  after a change of jco's version in tools/jco: record the
#                  SHA-256 of the adapter it ships in tools/jco/adapters.sha256
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jco_dir="$root/tools/jco"

force=0
case "${1:-}" in
  --pin-adapter)
    (cd "$jco_dir" && sha256sum node_modules/@bytecodealliance/jco/lib/wasi_snapshot_preview1.command.wasm \
      >adapters.sha256)
    cat "$jco_dir/adapters.sha256"
    exit 0
    ;;
  --force) force=1; shift ;;
esac
kind=${1:-release}

"$root/scripts/setup.sh"
if [[ ! -x "$jco_dir/node_modules/.bin/jco" ]]; then
  echo "components: jco is not installed in tools/jco; see the set-up's message" >&2
  exit 1
fi
# Configure again, so that a build directory made before jco was installed finds it.
if [[ -f "$root/build/$kind/build.ninja" ]]; then
  cmake "$root/build/$kind" >/dev/null
fi
out="$root/build/$kind/tests/components"
if ((force)); then
  rm -f "$out"/*.component.wasm "$out"/cm/*.wasm
fi
"$root/scripts/build.sh" "$kind" test_components_jco
cd "$out"
for f in *.component.wasm cm/*.wasm; do
  printf '%-28s %8d  %s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
done
