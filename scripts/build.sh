#!/usr/bin/env bash
# Configures and builds the project.
# Usage: scripts/build.sh [release|debug|asan|tsan|coverage] [ninja targets...]
# The build directory is build/<kind>; ccache and ninja are used when present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-release}
shift || true
case "$kind" in
  release) type=Release; extra=() ;;
  debug) type=Debug; extra=() ;;
  asan) type=Debug; extra=(-DAIRSSYS_SANITIZE=address -DAIRSSYS_BUILD_BENCH=OFF) ;;
  tsan) type=RelWithDebInfo; extra=(-DAIRSSYS_SANITIZE=thread -DAIRSSYS_BUILD_BENCH=OFF) ;;
  coverage) type=Debug; extra=(-DAIRSSYS_COVERAGE=ON -DAIRSSYS_BUILD_BENCH=OFF) ;;
  *) echo "build: unknown build kind '$kind' (release, debug, asan, tsan, coverage)" >&2; exit 2 ;;
esac
dir="$root/build/$kind"
if [[ ! -f "$dir/build.ninja" ]]; then
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "${extra[@]}" >/dev/null
fi
jobs=${AIRSSYS_JOBS:-$(nproc)}
cmake --build "$dir" -j "$jobs" ${1:+--target "$@"}
