#!/usr/bin/env bash
# Builds the release benchmarks and runs them: 5 repetitions of every benchmark,
# interleaved in random order, then a summary table of medians and of ratios
# against baselines measured in the same run. Extra arguments go to bench_engine
# (e.g. --benchmark_filter=Fib). Takes about a minute on two cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/build/release"
"$root/scripts/setup.sh"
if [[ -f "$dir/CMakeCache.txt" ]] && grep -q '^AIRSSYS_BUILD_BENCH:BOOL=OFF' "$dir/CMakeCache.txt"; then
  cmake "$dir" -DAIRSSYS_BUILD_BENCH=ON >/dev/null
fi
"$root/scripts/build.sh" release bench_engine
exec "$dir/bench/bench_engine" \
  --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true \
  --benchmark_enable_random_interleaving=true \
  --benchmark_min_time=0.2 \
  --benchmark_min_warmup_time=0.05 \
  "$@"
