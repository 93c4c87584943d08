// Engine benchmarks: instantiation, empty calls through the synchronous and the
// suspendable path, host-call round trips, the interpreter against the same C
// code compiled natively, and the cost of fuel slices and fiber switches.
//
// main() runs the benchmarks (the usual --benchmark_* flags apply) and then
// prints a summary: the median CPU time of every benchmark and its ratio to a
// baseline measured in the same run. With --benchmark_repetitions=N the
// medians are over N repetitions; scripts/bench.sh runs it that way.

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "support/report.hpp"

// tests/components/compute.c, compiled natively into this binary.
extern "C" int32_t fib(int32_t n);

namespace airssys::wasm::engine {
namespace {

// Instantiation benchmark: a memory with data, a global and a few functions.
constexpr std::string_view kSmallWat = R"((module
  (memory (export "memory") 1)
  (global $calls (export "calls") (mut i32) (i32.const 0))
  (data (i32.const 16) "airssys-wasm bench")
  (func $count (result i32)
    global.get $calls i32.const 1 i32.add global.set $calls global.get $calls)
  (func (export "noop"))
  (func (export "bump") (result i32) call $count)
  (func (export "load") (param i32) (result i32) local.get 0 i32.load))
)";

// The same counting loop three times: the increment inline, as a call to a
// wasm function, and as a call to the host function bench.inc.
constexpr std::string_view kLoopsWat = R"((module
  (import "bench" "inc" (func $host_inc (param i32) (result i32)))
  (func $wasm_inc (param i32) (result i32) local.get 0 i32.const 1 i32.add)
  (func (export "loop_inline") (param $n i32) (result i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc))
  (func (export "loop_wasm") (param $n i32) (result i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (call $wasm_inc (local.get $acc)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc))
  (func (export "loop_host") (param $n i32) (result i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (call $host_inc (local.get $acc)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc))
)
)";

constexpr int32_t kLoopCalls = 1000;  // calls per loop_* export call
constexpr int32_t kFibNative = 30;
constexpr int32_t kFibMetered = 25;
// A reused store keeps every instance it ever made until the store goes away,
// so the reused-store benchmarks replace it (untimed) after this many.
constexpr int64_t kInstancesPerReusedStore = 256;

struct Fixtures {
  std::unique_ptr<Engine> engine;
  std::shared_ptr<const Module> small;
  std::shared_ptr<const Module> loops;
  std::shared_ptr<const Module> compute;
  Linker no_imports;
  Linker host;
  uint64_t fib_metered_fuel = 0;  // fuel of one fib(kFibMetered) call
};

std::optional<Fixtures> g_fixtures;  // loaded by main() before any benchmark runs

Fixtures& fx() {
  return *g_fixtures;
}

Result<Fixtures> load_fixtures() {
  Fixtures f;
  f.engine = Engine::interpreter();
  auto small = f.engine->load_wat(kSmallWat, "small.wat");
  if (!small) return std::unexpected(small.error());
  f.small = *small;
  auto loops = f.engine->load_wat(kLoopsWat, "loops.wat");
  if (!loops) return std::unexpected(loops.error());
  f.loops = *loops;
  auto compute = f.engine->load_file(AIRSSYS_BENCH_COMPUTE_WASM);
  if (!compute) return std::unexpected(compute.error());
  f.compute = *compute;

  f.host.define(HostFunction{
      "bench", "inc", FuncSig{{ValType::I32}, {ValType::I32}},
      [](HostCall&, std::span<const Value> args, std::span<Value> results) -> Result<void> {
        results[0] = Value::i32(args[0].as_i32() + 1);
        return {};
      }});

  auto store = f.engine->new_store();
  auto instance = store->instantiate(*f.compute, f.no_imports);
  if (!instance) return std::unexpected(instance.error());
  const uint64_t before = (*instance)->fuel_used();
  auto results = (*instance)->call("fib", std::vector{Value::i32(kFibMetered)});
  if (!results) return std::unexpected(results.error());
  f.fib_metered_fuel = (*instance)->fuel_used() - before;
  return f;
}

void skip(benchmark::State& state, const Error& error) {
  state.SkipWithError(error.to_string().c_str());
}

// An instance in a store of its own (the instance keeps the store alive).
std::shared_ptr<Instance> instantiate(benchmark::State& state, const Module& module,
                                      const Linker& linker) {
  auto store = fx().engine->new_store();
  auto instance = store->instantiate(module, linker);
  if (!instance) {
    skip(state, instance.error());
    return nullptr;
  }
  return *instance;
}

using ModuleField = std::shared_ptr<const Module> Fixtures::*;

// Reports the minor page faults per iteration as the counter "faults": fresh
// linear memories and fiber stacks, and heap the allocator gave back to the
// kernel and takes again.
class FaultCounter {
 public:
  FaultCounter() : start_(minor_faults()) {}

  void report(benchmark::State& state) const {
    state.counters["faults"] = benchmark::Counter(static_cast<double>(minor_faults() - start_),
                                                  benchmark::Counter::kAvgIterations);
  }

 private:
  static int64_t minor_faults() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
  }

  int64_t start_;
};

// ---- 1. Instantiation ------------------------------------------------------

void BM_NewStore(benchmark::State& state) {
  const FaultCounter faults;
  for (auto _ : state) {
    auto store = fx().engine->new_store();
    benchmark::DoNotOptimize(store.get());
  }
  faults.report(state);
}

// A fresh store per instance: store creation, instantiation, and the
// destruction of both.
void BM_InstantiateFreshStore(benchmark::State& state, ModuleField field) {
  const Module& module = *(fx().*field);
  const FaultCounter faults;
  for (auto _ : state) {
    auto store = fx().engine->new_store();
    auto instance = store->instantiate(module, fx().no_imports);
    if (!instance) {
      skip(state, instance.error());
      break;
    }
    benchmark::DoNotOptimize(instance->get());
  }
  faults.report(state);
}

void BM_InstantiateReusedStore(benchmark::State& state, ModuleField field) {
  const Module& module = *(fx().*field);
  auto store = fx().engine->new_store();
  int64_t in_store = 0;
  const FaultCounter faults;
  for (auto _ : state) {
    if (in_store == kInstancesPerReusedStore) {
      state.PauseTiming();
      store = fx().engine->new_store();
      in_store = 0;
      state.ResumeTiming();
    }
    auto instance = store->instantiate(module, fx().no_imports);
    ++in_store;
    if (!instance) {
      skip(state, instance.error());
      break;
    }
    benchmark::DoNotOptimize(instance->get());
  }
  faults.report(state);
}

BENCHMARK(BM_NewStore);
BENCHMARK_CAPTURE(BM_InstantiateFreshStore, small, &Fixtures::small)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_InstantiateReusedStore, small, &Fixtures::small)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_InstantiateFreshStore, compute, &Fixtures::compute)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_InstantiateReusedStore, compute, &Fixtures::compute)
    ->Unit(benchmark::kMicrosecond);

// ---- 2. Calling an empty export --------------------------------------------

void BM_CallNoop(benchmark::State& state) {
  auto instance = instantiate(state, *fx().small, fx().no_imports);
  if (!instance) return;
  const FaultCounter faults;
  for (auto _ : state) {
    auto results = instance->call("noop", {});
    if (!results) {
      skip(state, results.error());
      break;
    }
    benchmark::DoNotOptimize(results->data());
  }
  faults.report(state);
}

// Prepares the suspendable call and drops it unstarted: no fiber is made.
void BM_StartCallNoop(benchmark::State& state) {
  auto instance = instantiate(state, *fx().small, fx().no_imports);
  if (!instance) return;
  const FaultCounter faults;
  for (auto _ : state) {
    auto call = instance->start_call("noop", {});
    if (!call) {
      skip(state, call.error());
      break;
    }
    benchmark::DoNotOptimize(call->get());
  }
  faults.report(state);
}

// The suspendable path end to end: start_call, one resume() on a new fiber.
void BM_StartCallResumeNoop(benchmark::State& state) {
  auto instance = instantiate(state, *fx().small, fx().no_imports);
  if (!instance) return;
  const FaultCounter faults;
  for (auto _ : state) {
    auto call = instance->start_call("noop", {});
    if (!call) {
      skip(state, call.error());
      break;
    }
    auto done = (*call)->resume();
    if (!done || *done != Call::State::Finished) {
      if (done) {
        state.SkipWithError("noop did not finish in one slice");
      } else {
        skip(state, done.error());
      }
      break;
    }
  }
  faults.report(state);
}

BENCHMARK(BM_CallNoop);
BENCHMARK(BM_StartCallNoop);
BENCHMARK(BM_StartCallResumeNoop);

// ---- 3. Host-call round trip -----------------------------------------------

// One iteration is one call of the export, which runs kLoopCalls rounds.
void BM_Loop(benchmark::State& state, const char* export_name) {
  auto instance = instantiate(state, *fx().loops, fx().host);
  if (!instance) return;
  const std::vector args{Value::i32(kLoopCalls)};
  for (auto _ : state) {
    auto results = instance->call(export_name, args);
    if (!results) {
      skip(state, results.error());
      break;
    }
    if ((*results)[0].as_i32() != kLoopCalls) {
      state.SkipWithError("the loop returned a wrong count");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kLoopCalls);
}

BENCHMARK_CAPTURE(BM_Loop, inline_add, "loop_inline")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Loop, wasm_call, "loop_wasm")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Loop, host_call, "loop_host")->Unit(benchmark::kMicrosecond);

// ---- 4. fib: the interpreter against native code ---------------------------

void BM_FibNative(benchmark::State& state) {
  for (auto _ : state) {
    auto n = static_cast<int32_t>(state.range(0));
    benchmark::DoNotOptimize(n);
    int32_t result = fib(n);
    benchmark::DoNotOptimize(result);
  }
}

// A plain Instance::call with the default options: unlimited fuel, metered in
// slices of 100'000.
void BM_FibEngine(benchmark::State& state) {
  auto instance = instantiate(state, *fx().compute, fx().no_imports);
  if (!instance) return;
  const auto n = static_cast<int32_t>(state.range(0));
  const int32_t expected = fib(n);
  const std::vector args{Value::i32(n)};
  for (auto _ : state) {
    auto results = instance->call("fib", args);
    if (!results) {
      skip(state, results.error());
      break;
    }
    if ((*results)[0].as_i32() != expected) {
      state.SkipWithError("fib returned a wrong value");
      break;
    }
  }
}

BENCHMARK(BM_FibNative)->Arg(kFibNative)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FibEngine)->Arg(kFibNative)->Unit(benchmark::kMillisecond);

// ---- 5. Metering: slices and fiber switches --------------------------------

struct MeteringCase {
  bool resumable;      // start_call + resume() on a fiber, else Instance::call
  bool finite_budget;  // a budget of twice the call's fuel, else kUnlimitedFuel
  uint64_t slice;
};

void BM_FibMetered(benchmark::State& state, MeteringCase c) {
  auto instance = instantiate(state, *fx().compute, fx().no_imports);
  if (!instance) return;
  const int32_t expected = fib(kFibMetered);
  const std::vector args{Value::i32(kFibMetered)};
  const CallOptions options{c.finite_budget ? 2 * fx().fib_metered_fuel : kUnlimitedFuel, c.slice};
  int64_t slices = 0;
  const FaultCounter faults;
  for (auto _ : state) {
    int32_t result = 0;
    if (c.resumable) {
      auto call = instance->start_call("fib", args, options);
      if (!call) {
        skip(state, call.error());
        break;
      }
      Result<Call::State> step;
      do {
        step = (*call)->resume();
        ++slices;
      } while (step && *step == Call::State::Suspended);
      if (!step) {
        skip(state, step.error());
        break;
      }
      result = (*call)->results()[0].as_i32();
    } else {
      auto results = instance->call("fib", args, options);
      if (!results) {
        skip(state, results.error());
        break;
      }
      result = (*results)[0].as_i32();
    }
    if (result != expected) {
      state.SkipWithError("fib returned a wrong value");
      break;
    }
  }
  faults.report(state);
  const uint64_t fuel = fx().fib_metered_fuel;
  state.counters["fuel"] = static_cast<double>(fuel);
  // Slices per call: counted for the fiber, derived from the fuel otherwise.
  const auto calls =
      static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
  state.counters["slices"] =
      c.resumable ? static_cast<double>(slices) / calls : static_cast<double>(fuel / c.slice + 1);
}

BENCHMARK_CAPTURE(BM_FibMetered, sync_unlimited, MeteringCase{false, false, kUnlimitedFuel})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FibMetered, sync_budget_slice10k, MeteringCase{false, true, 10'000})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FibMetered, sync_budget_slice1k, MeteringCase{false, true, 1'000})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FibMetered, sync_budget_slice100, MeteringCase{false, true, 100})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FibMetered, resume_slice100k, MeteringCase{true, false, 100'000})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FibMetered, resume_slice10k, MeteringCase{true, false, 10'000})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FibMetered, resume_slice1k, MeteringCase{true, false, 1'000})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FibMetered, resume_slice100, MeteringCase{true, false, 100})
    ->Unit(benchmark::kMillisecond);

// ---- Summary ---------------------------------------------------------------

using bench::format_ns;
using bench::Measured;
using bench::SummaryReporter;

// What a row adds after its ratio.
enum class Note {
  None,
  Faults,         // page faults per iteration
  DeltaPerCall,   // (time - baseline) per call
  DeltaPerSlice,  // slices per call, and (time - baseline) per slice
};

struct Row {
  const char* label;
  const char* bench;
  const char* baseline = nullptr;  // bench name; the ratio is bench / baseline
  const char* baseline_label = nullptr;
  double per = 1;  // calls per iteration: the time is divided by it
  Note note = Note::None;
};

struct Section {
  const char* title;
  std::vector<Row> rows;
};

std::vector<Section> summary_sections() {
  constexpr double kLoop = kLoopCalls;
  return {
      {"Instantiation, per instance",
       {{.label = "new store (create + destroy)", .bench = "BM_NewStore", .note = Note::Faults},
        {.label = "small WAT, fresh store",
         .bench = "BM_InstantiateFreshStore/small",
         .note = Note::Faults},
        {.label = "small WAT, reused store",
         .bench = "BM_InstantiateReusedStore/small",
         .baseline = "BM_InstantiateFreshStore/small",
         .baseline_label = "fresh store",
         .note = Note::Faults},
        {.label = "compute.wasm, fresh store",
         .bench = "BM_InstantiateFreshStore/compute",
         .note = Note::Faults},
        {.label = "compute.wasm, reused store",
         .bench = "BM_InstantiateReusedStore/compute",
         .baseline = "BM_InstantiateFreshStore/compute",
         .baseline_label = "fresh store",
         .note = Note::Faults}}},
      {"Empty export (noop), per call",
       {{.label = "Instance::call", .bench = "BM_CallNoop", .note = Note::Faults},
        {.label = "start_call only (no resume)",
         .bench = "BM_StartCallNoop",
         .baseline = "BM_CallNoop",
         .baseline_label = "call",
         .note = Note::Faults},
        {.label = "start_call + resume (fiber)",
         .bench = "BM_StartCallResumeNoop",
         .baseline = "BM_CallNoop",
         .baseline_label = "call",
         .note = Note::Faults}}},
      {"Calls from a loop of 1000 in one export call, per call",
       {{.label = "loop, increment inline", .bench = "BM_Loop/inline_add", .per = kLoop},
        {.label = "loop, call to a wasm function",
         .bench = "BM_Loop/wasm_call",
         .baseline = "BM_Loop/inline_add",
         .baseline_label = "inline",
         .per = kLoop,
         .note = Note::DeltaPerCall},
        {.label = "loop, call to a host function",
         .bench = "BM_Loop/host_call",
         .baseline = "BM_Loop/wasm_call",
         .baseline_label = "wasm call",
         .per = kLoop,
         .note = Note::DeltaPerCall},
        {.label = "  host call against inline",
         .bench = "BM_Loop/host_call",
         .baseline = "BM_Loop/inline_add",
         .baseline_label = "inline",
         .per = kLoop,
         .note = Note::DeltaPerCall}}},
      {"fib(30): compute.c in the engine and natively (gcc -O2)",
       {{.label = "native", .bench = "BM_FibNative/30"},
        {.label = "engine (Instance::call, defaults)",
         .bench = "BM_FibEngine/30",
         .baseline = "BM_FibNative/30",
         .baseline_label = "native"}}},
      {"Metering: fib(25), per call",
       {{.label = "sync, unlimited fuel, one slice", .bench = "BM_FibMetered/sync_unlimited"},
        {.label = "sync, finite budget, slice 10k",
         .bench = "BM_FibMetered/sync_budget_slice10k",
         .baseline = "BM_FibMetered/sync_unlimited",
         .baseline_label = "unlimited",
         .note = Note::DeltaPerSlice},
        {.label = "sync, finite budget, slice 1k",
         .bench = "BM_FibMetered/sync_budget_slice1k",
         .baseline = "BM_FibMetered/sync_unlimited",
         .baseline_label = "unlimited",
         .note = Note::DeltaPerSlice},
        {.label = "sync, finite budget, slice 100",
         .bench = "BM_FibMetered/sync_budget_slice100",
         .baseline = "BM_FibMetered/sync_unlimited",
         .baseline_label = "unlimited",
         .note = Note::DeltaPerSlice},
        {.label = "start_call/resume, slice 100k",
         .bench = "BM_FibMetered/resume_slice100k",
         .baseline = "BM_FibMetered/sync_unlimited",
         .baseline_label = "unlimited",
         .note = Note::DeltaPerSlice},
        {.label = "start_call/resume, slice 10k",
         .bench = "BM_FibMetered/resume_slice10k",
         .baseline = "BM_FibMetered/sync_unlimited",
         .baseline_label = "unlimited",
         .note = Note::DeltaPerSlice},
        {.label = "start_call/resume, slice 1k",
         .bench = "BM_FibMetered/resume_slice1k",
         .baseline = "BM_FibMetered/sync_unlimited",
         .baseline_label = "unlimited",
         .note = Note::DeltaPerSlice},
        {.label = "start_call/resume, slice 100",
         .bench = "BM_FibMetered/resume_slice100",
         .baseline = "BM_FibMetered/sync_unlimited",
         .baseline_label = "unlimited",
         .note = Note::DeltaPerSlice}}},
  };
}

// The time `m` adds over `base`, per call or per slice; when the difference is
// within the two spreads (one standard deviation each), only that bound.
std::string delta(const Measured& m, const Measured& base, double per, double units,
                  const char* unit) {
  const double diff = (m.cpu_ns - base.cpu_ns) / per / units;
  const double noise = (m.cpu_stddev_ns + base.cpu_stddev_ns) / per / units;
  if (std::abs(diff) <= noise) {
    return fmt::format("within noise: |d| < {:.1f} ns per {}", noise, unit);
  }
  return fmt::format("{:+.1f} ns per {}", diff, unit);
}

std::optional<double> counter(const Measured& m, const char* name) {
  auto it = m.counters.find(name);
  if (it == m.counters.end()) return std::nullopt;
  return it->second;
}

void print_summary(const SummaryReporter& reporter) {
  const int64_t reps = reporter.repetitions();
  fmt::print("\nSummary: {} CPU time{}; every ratio is against a baseline from this run\n",
             reps > 1 ? "median" : "single-run",
             reps > 1 ? fmt::format(" of {} repetitions", reps) : "");
  for (const auto& section : summary_sections()) {
    const bool ran = std::any_of(section.rows.begin(), section.rows.end(),
                                 [&](const Row& row) { return reporter.find(row.bench); });
    if (!ran) continue;
    fmt::print("\n{}\n", section.title);
    for (const auto& row : section.rows) {
      const Measured* m = reporter.find(row.bench);
      if (!m) {
        fmt::print("  {:<36} {:>10}\n", row.label, "not run");
        continue;
      }
      const double ns = m->cpu_ns / row.per;
      std::string line = fmt::format("  {:<36} {:>10}", row.label, format_ns(ns, 1));
      const Measured* base = row.baseline ? reporter.find(row.baseline) : nullptr;
      std::optional<double> base_ns;
      if (base && base->cpu_ns > 0) base_ns = base->cpu_ns / row.per;
      if (base_ns) {
        line += fmt::format("  {:>8.2f}x {:<11}", ns / *base_ns, row.baseline_label);
        bench::headline("engine", row.label, ns, "ns", row.baseline_label, *base_ns);
      } else if (row.note != Note::None) {
        line += fmt::format("  {:>8} {:<11}", "", "");
      }
      auto faults = counter(*m, "faults");
      auto slices = counter(*m, "slices");
      if (row.note == Note::Faults && faults) {
        line += fmt::format("  {:.1f} page faults", *faults);
      } else if (row.note == Note::DeltaPerCall && base_ns) {
        line += "  " + delta(*m, *base, row.per, 1, "call");
      } else if (row.note == Note::DeltaPerSlice && base_ns && slices && *slices > 0) {
        line += fmt::format("  {:.0f} slices, {}", *slices,
                            delta(*m, *base, row.per, *slices, "slice"));
      }
      fmt::print("{}\n", line);
    }
  }
  if (const Measured* m = reporter.find("BM_FibMetered/sync_unlimited")) {
    if (auto fuel = counter(*m, "fuel"); fuel && *fuel > 0) {
      fmt::print("\nfib(25) burns {:.0f} fuel per call: {:.1f} ns per unit of fuel\n", *fuel,
                 m->cpu_ns / *fuel);
    }
  }
}

}  // namespace
}  // namespace airssys::wasm::engine

int main(int argc, char** argv) {
  namespace engine = airssys::wasm::engine;
  // With glibc's default, adaptive thresholds, whether a freed linear memory
  // goes back to the kernel (and page-faults in again on the next
  // instantiation) depends on what ran before; fixed thresholds keep freed
  // heap in the process, so every benchmark sees the same warm allocator.
  // AIRSSYS_BENCH_MALLOC_DEFAULTS=1 keeps glibc's defaults.
  if (std::getenv("AIRSSYS_BENCH_MALLOC_DEFAULTS") == nullptr) {
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  auto fixtures = engine::load_fixtures();
  if (!fixtures) {
    std::fprintf(stderr, "bench_engine: %s\n", fixtures.error().to_string().c_str());
    return 1;
  }
  engine::g_fixtures = std::move(*fixtures);

  airssys::wasm::bench::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  engine::print_summary(reporter);
  engine::g_fixtures.reset();
  benchmark::Shutdown();
  return 0;
}
