#include "report.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace airssys::wasm::bench {

double ns_per(benchmark::TimeUnit unit) {
  switch (unit) {
    case benchmark::kNanosecond:
      return 1;
    case benchmark::kMicrosecond:
      return 1e3;
    case benchmark::kMillisecond:
      return 1e6;
    case benchmark::kSecond:
      return 1e9;
  }
  return 1;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

std::string format_ns(double ns, int ns_decimals) {
  if (ns >= 1e9) return fmt::format("{:.2f} s", ns / 1e9);
  if (ns >= 1e6) return fmt::format("{:.2f} ms", ns / 1e6);
  if (ns >= 1e3) return fmt::format("{:.2f} us", ns / 1e3);
  return fmt::format("{:.{}f} ns", ns, ns_decimals);
}

std::string format_rate(double per_second) {
  if (per_second >= 1e6) return fmt::format("{:.2f} M/s", per_second / 1e6);
  if (per_second >= 1e3) return fmt::format("{:.1f} k/s", per_second / 1e3);
  return fmt::format("{:.0f} /s", per_second);
}

SummaryReporter::SummaryReporter()
    : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_ColorTabular : OO_Tabular) {}

std::string SummaryReporter::name_of(const Run& run) {
  std::string name = run.run_name.function_name;
  if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
  if (!run.run_name.threads.empty()) name += "/" + run.run_name.threads;
  return name;
}

void SummaryReporter::ReportRuns(const std::vector<Run>& runs) {
  ConsoleReporter::ReportRuns(runs);
  for (const auto& run : runs) {
    if (run.error_occurred) continue;
    if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "stddev") {
      measured_[name_of(run)].cpu_stddev_ns = run.GetAdjustedCPUTime() * ns_per(run.time_unit);
      continue;
    }
    const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
    const bool only = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
    if (!median && !only) continue;
    Measured& m = measured_[name_of(run)];
    m.cpu_ns = run.GetAdjustedCPUTime() * ns_per(run.time_unit);
    m.repetitions = run.repetitions;
    for (const auto& [name, value] : run.counters) m.counters[name] = value.value;
  }
}

const Measured* SummaryReporter::find(std::string_view name) const {
  auto it = measured_.find(name);
  return it == measured_.end() ? nullptr : &it->second;
}

const double* SummaryReporter::counter(std::string_view name, std::string_view counter) const {
  const Measured* m = find(name);
  if (!m) return nullptr;
  auto it = m->counters.find(std::string(counter));
  return it == m->counters.end() ? nullptr : &it->second;
}

const double* SummaryReporter::time(std::string_view name) const {
  const Measured* m = find(name);
  return m ? &m->cpu_ns : nullptr;
}

int64_t SummaryReporter::repetitions() const {
  return measured_.empty() ? 0 : measured_.begin()->second.repetitions;
}

void headline(std::string_view area, std::string_view metric, double value, std::string_view unit,
              std::string_view baseline, double baseline_value) {
  const char* file = std::getenv("AIRSSYS_BENCH_HEADLINES");
  if (!file || !*file || value <= 0) return;
  std::FILE* out = std::fopen(file, "a");
  if (!out) return;
  std::string line = fmt::format("{}\t{}\t{:.6g}\t{}\t{}\t{:.6g}\n", area, metric, value, unit,
                                 baseline, baseline.empty() ? 0.0 : baseline_value);
  std::fwrite(line.data(), 1, line.size(), out);
  std::fclose(out);
}

}  // namespace airssys::wasm::bench
