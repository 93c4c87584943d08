#pragma once
// What the benchmark drivers share: a console reporter that also keeps the
// user counters of each benchmark's median run (or of its only run), for the
// summary table a driver prints after the run.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <string>
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
      counters_[name] = run.counters;
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

 private:
  std::map<std::string, benchmark::UserCounters> counters_;
  int64_t repetitions_ = 0;
};

}  // namespace airssys::wasm::bench
