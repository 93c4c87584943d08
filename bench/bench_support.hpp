#pragma once
// What the benchmark drivers share: a console reporter that also keeps the
// user counters of each benchmark's median run (or of its only run), for the
// summary table a driver prints after the run.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace airssys::wasm::bench {

class CounterReporter final : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      if (run.error_occurred) continue;
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      const bool only = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
      if (!median && !only) continue;
      std::string name = run.run_name.function_name;
      if (!run.run_name.args.empty()) name += "/" + run.run_name.args;
      if (!run.run_name.threads.empty()) name += "/" + run.run_name.threads;
      counters_[name] = run.counters;
      cpu_ns_[name] = run.GetAdjustedCPUTime() * (run.time_unit == benchmark::kNanosecond    ? 1
                                                  : run.time_unit == benchmark::kMicrosecond ? 1e3
                                                  : run.time_unit == benchmark::kMillisecond ? 1e6
                                                                                             : 1e9);
      repetitions_ = run.repetitions;
    }
  }

  // The counter `counter` of benchmark `name` ("BM_X" or "BM_X/args"), or null.
  [[nodiscard]] const double* find(const std::string& name, const std::string& counter) const {
    auto run = counters_.find(name);
    if (run == counters_.end()) return nullptr;
    auto c = run->second.find(counter);
    return c == run->second.end() ? nullptr : &c->second.value;
  }
  [[nodiscard]] int64_t repetitions() const { return counters_.empty() ? 0 : repetitions_; }
  // The CPU time per iteration, in ns, of benchmark `name`, or null.
  [[nodiscard]] const double* time(const std::string& name) const {
    auto it = cpu_ns_.find(name);
    return it == cpu_ns_.end() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, benchmark::UserCounters> counters_;
  std::map<std::string, double> cpu_ns_;
  int64_t repetitions_ = 0;
};

// One line of the benchmark report that scripts/bench-report.sh assembles
// from every driver: appended to the file named by AIRSSYS_BENCH_HEADLINES
// when it is set. `value` and `baseline_value` share `unit`; a baseline is
// measured in the same run. Fields are tab-separated:
//   area, metric, value, unit, baseline, baseline value.
inline void headline(std::string_view area, std::string_view metric, double value,
                     std::string_view unit, std::string_view baseline = {},
                     double baseline_value = 0) {
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
