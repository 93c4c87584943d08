#pragma once
// What every benchmark driver in bench/ reports through: a console reporter
// that keeps the median run of each benchmark (or its only run), the
// percentiles and number formats of the summaries the drivers print after a
// run, and the headline lines scripts/bench-report.sh assembles.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace airssys::wasm::bench {

// Nanoseconds in one `unit`.
[[nodiscard]] double ns_per(benchmark::TimeUnit unit);

// The nearest-rank percentile `p` (0 to 100) of `values`; 0 when empty.
[[nodiscard]] double percentile(std::vector<double> values, double p);

// "12 ns" (with `ns_decimals` digits), "3.40 us", "1.25 ms", "2.00 s".
[[nodiscard]] std::string format_ns(double ns, int ns_decimals = 0);
// "1.25 M/s", "830.0 k/s", "12 /s".
[[nodiscard]] std::string format_rate(double per_second);

// A benchmark's median run (or its only run).
struct Measured {
  double cpu_ns = 0;         // CPU time per iteration
  double cpu_stddev_ns = 0;  // across the repetitions; 0 for a single run
  int64_t repetitions = 1;
  std::map<std::string, double> counters;  // the user counters
};

// The console output as usual; keeps the median (or the only) run of each
// benchmark under its name: "BM_X", "BM_X/args", "BM_X/args/threads:N".
class SummaryReporter final : public benchmark::ConsoleReporter {
 public:
  // Colours when stdout is a terminal.
  SummaryReporter();

  void ReportRuns(const std::vector<Run>& runs) override;

  [[nodiscard]] const Measured* find(std::string_view name) const;
  // The counter `counter` of benchmark `name`, or null.
  [[nodiscard]] const double* counter(std::string_view name, std::string_view counter) const;
  // The CPU time per iteration, in ns, of benchmark `name`, or null.
  [[nodiscard]] const double* time(std::string_view name) const;
  // The repetitions of the run; 0 before any benchmark reported.
  [[nodiscard]] int64_t repetitions() const;

  static std::string name_of(const Run& run);

 private:
  std::map<std::string, Measured, std::less<>> measured_;
};

// One line of the benchmark report that scripts/bench-report.sh assembles
// from every driver: appended to the file named by AIRSSYS_BENCH_HEADLINES
// when it is set. `value` and `baseline_value` share `unit`; a baseline is
// measured in the same run. Fields are tab-separated:
//   area, metric, value, unit, baseline, baseline value.
void headline(std::string_view area, std::string_view metric, double value,
              std::string_view unit, std::string_view baseline = {}, double baseline_value = 0);

}  // namespace airssys::wasm::bench
