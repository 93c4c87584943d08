#!/usr/bin/env bash
# Builds the release benchmarks and runs them: 5 repetitions of every benchmark,
# interleaved in random order, then for each benchmark binary a summary table of
# medians and of ratios against baselines measured in the same run.
#
# Usage: scripts/bench.sh [NAME...] [--benchmark_* flags...]
# NAME is a benchmark binary without its prefix: bench/NAME_bench.cpp builds
# bench_NAME (engine, security, messaging, ...). Without a name every one runs,
# one after the other (a few minutes on two cores); the flags go to each of them
# (e.g. --benchmark_filter=Fib).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/build/release"

known=()
for source in "$root"/bench/*_bench.cpp; do
  known+=("$(basename "$source" _bench.cpp)")
done
names=()
flags=()
for arg in "$@"; do
  if [[ " ${known[*]} " == *" $arg "* ]]; then
    names+=("$arg")
  else
    flags+=("$arg")
  fi
done
((${#names[@]})) || names=("${known[@]}")

"$root/scripts/setup.sh"
if [[ -f "$dir/CMakeCache.txt" ]] && grep -q '^AIRSSYS_BUILD_BENCH:BOOL=OFF' "$dir/CMakeCache.txt"; then
  cmake "$dir" -DAIRSSYS_BUILD_BENCH=ON >/dev/null
fi
"$root/scripts/build.sh" release "${names[@]/#/bench_}"

for name in "${names[@]}"; do
  if [[ $name == native ]]; then
    # Not a Google Benchmark driver: medians of its own repetitions.
    echo "=== bench_$name"
    "$dir/bench/bench_$name" --reps 11
    continue
  fi
  if [[ $name == world || $name == component_run || $name == coremark || $name == density ]]; then
    # Not a Google Benchmark driver: its own interleaved rounds, both tiers.
    echo "=== bench_$name"
    "$dir/bench/bench_$name"
    continue
  fi
  # bench_messaging fixes its iteration counts and warms up on its own.
  timing=(--benchmark_min_time=0.2 --benchmark_min_warmup_time=0.05)
  [[ $name == messaging ]] && timing=()
  echo "=== bench_$name"
  "$dir/bench/bench_$name" \
    --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true \
    --benchmark_enable_random_interleaving=true \
    "${timing[@]}" \
    "${flags[@]}"
  if [[ $name == messaging ]]; then
    # The same components again, compiled to native code.
    echo "=== bench_$name --engine=native"
    "$dir/bench/bench_$name" --engine=native "${flags[@]}"
  fi
done
