#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang 16 (Debian 12: clang-16 and
# libclang-rt-16-dev, installed here when missing; ASan + UBSan) and runs each for
# a given time. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Corpora live in build/fuzz/corpus/<target>, findings in build/fuzz/findings/<target>.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
"$root/scripts/setup.sh"
if ! command -v clang++-16 >/dev/null; then
  apt-get install -y -qq --no-install-recommends clang-16 libclang-rt-16-dev
fi
dir="$root/build/fuzz"
if [[ ! -f "$dir/build.ninja" ]]; then
  CC=clang-16 CXX=clang++-16 cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DAIRSSYS_FUZZ=ON -DAIRSSYS_BUILD_TESTS=OFF -DAIRSSYS_BUILD_BENCH=OFF >/dev/null
fi
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^airssys_add_fuzzer(\([a-z_]*\) .*/\1/p' "$root/fuzz/CMakeLists.txt")
fi
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"

# Seeds: the components the test build makes, and the WAT sources.
seed_dir="$dir/seeds"
mkdir -p "$seed_dir/wasm" "$seed_dir/wat"
while read -r f; do cp "$f" "$seed_dir/wasm/"; done < <(
  find "$root/build" -path "$root/build/fuzz" -prune -o -name '*.wasm' -print 2>/dev/null)
find "$root/tests" "$root/examples" -name '*.wat' -exec cp {} "$seed_dir/wat/" \;

printf '%-24s %12s %10s %8s\n' target executions seconds findings
for t in "${targets[@]}"; do
  corpus="$dir/corpus/$t"
  findings="$dir/findings/$t"
  mkdir -p "$corpus" "$findings"
  seeds=()
  case "$t" in
    fuzz_module_loader) seeds=("$seed_dir/wasm") ;;
    fuzz_wat_loader) seeds=("$seed_dir/wat") ;;
    fuzz_component_decoder)
      # The converted Component Model test suite beside the checkout, when there.
      suite="$root/../shared/component-model-testsuite"
      if [[ -d "$suite" ]]; then
        mkdir -p "$seed_dir/components"
        find "$suite" -name '*.wasm' -exec cp {} "$seed_dir/components/" \;
        seeds=("$seed_dir/components")
      fi
      ;;
  esac
  if [[ -d "$root/fuzz/seeds/$t" ]]; then seeds+=("$root/fuzz/seeds/$t"); fi
  log="$dir/$t.log"
  set +e
  "$dir/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$findings/" -print_final_stats=1 "$corpus" "${seeds[@]}" >"$log" 2>&1
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  count=$(find "$findings" -type f | wc -l)
  printf '%-24s %12s %10s %8s\n' "$t" "${execs:-?}" "$seconds" "$count"
done
