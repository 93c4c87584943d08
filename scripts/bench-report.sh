#!/usr/bin/env bash
# Runs every benchmark of bench/ in Release (scripts/bench.sh) and prints one
# table of headline numbers, each beside a baseline measured in the same run
# and the ratio between them; also written to build/release/bench-report.md.
# Usage: scripts/bench-report.sh [NAME...]   (default: every benchmark driver)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out_dir="$root/build/release"
mkdir -p "$out_dir"
headlines="$out_dir/bench-headlines.tsv"
report="$out_dir/bench-report.md"
: >"$headlines"
AIRSSYS_BENCH_HEADLINES="$headlines" "$root/scripts/bench.sh" "$@" >"$out_dir/bench-output.txt" 2>&1 || {
  tail -30 "$out_dir/bench-output.txt" >&2
  echo "bench-report: a benchmark failed; its full output is in $out_dir/bench-output.txt" >&2
  exit 1
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
  echo "Machine: $(nproc) cores, ${cpu:-unknown CPU}, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), $(uname -r)"
  echo "Run: $(date -u +%Y-%m-%dT%H:%MZ), Release build, medians; ratio = value / baseline (same run)"
  echo
  echo "| area | metric | value | baseline | baseline value | ratio |"
  echo "|---|---|---:|---|---:|---:|"
  awk -F'\t' '
    function show(v, unit) {
      if (unit == "ns" && v >= 1e6) return sprintf("%.2f ms", v / 1e6)
      if (unit == "ns" && v >= 1e3) return sprintf("%.2f us", v / 1e3)
      if (unit == "ns") return sprintf("%.1f ns", v)
      return sprintf("%.4g %s", v, unit)
    }
    NF >= 4 {
      r = ($6 > 0) ? $3 / $6 : 0
      ratio = ($5 != "" && $6 > 0) ? sprintf(r < 0.1 ? "%.4fx" : "%.2fx", r) : "-"
      base = ($5 != "" && $6 > 0) ? show($6, $4) : "-"
      printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, show($3, $4), ($5 == "" ? "-" : $5), base, ratio
    }' "$headlines"
} | tee "$report"
echo
echo "bench-report: full output in $out_dir/bench-output.txt; table in $report"
