// Quota tracking: the check and the update of one quota, alone and with two
// threads on the same tracker, against a bare atomic counter and a
// mutex-guarded counter measured in the same run; the memory one component's
// security context and tracker take; and the calibration of fuel into CPU
// time (how much fuel the interpreter burns per millisecond).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <new>

#include <time.h>
#include <unistd.h>

#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/security/quota.hpp"
#include "support/report.hpp"

namespace {

using namespace airssys::wasm;
using security::QuotaKind;

// Bytes allocated on the heap while counting is on (for the memory figure).
std::atomic<bool> g_counting{false};
std::atomic<uint64_t> g_allocated{0};

}  // namespace

// g++ sees free() inside the replaced operator delete and pairs it with
// operator new; both operators below use the malloc family, so they match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocated += size;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

security::ResourceQuota roomy() {
  security::ResourceQuota q;
  q.messages_per_second = 1'000'000;  // never the limit within a benchmark window
  q.storage_bytes = UINT64_MAX / 2;
  return q;
}

security::QuotaTracker& shared_tracker() {
  static security::QuotaTracker tracker(roomy());
  return tracker;
}

// The check alone (nothing consumed), as every host call's first step.
void BM_QuotaCheck(benchmark::State& state) {
  auto& t = shared_tracker();
  for (auto _ : state) benchmark::DoNotOptimize(t.check(QuotaKind::Storage, 64));
}

// Check and consume in one step, a level quota (storage bytes).
void BM_QuotaConsumeLevel(benchmark::State& state) {
  auto& t = shared_tracker();
  for (auto _ : state) {
    benchmark::DoNotOptimize(t.try_consume(QuotaKind::Storage, 1));
  }
  t.release(QuotaKind::Storage, UINT64_MAX);
}

// Check and consume in one step, a rate quota (message per 1 s window);
// the windows turn during the run, as they do in service.
void BM_QuotaConsumeRate(benchmark::State& state) {
  static security::QuotaTracker tracker([] {
    security::ResourceQuota q;
    q.messages_per_second = 1'000'000'000;
    return q;
  }());
  for (auto _ : state) {
    benchmark::DoNotOptimize(tracker.try_consume(QuotaKind::MessageRate, 1));
  }
}

// The update after the fact (CPU time after a slice).
void BM_QuotaRecord(benchmark::State& state) {
  auto& t = shared_tracker();
  for (auto _ : state) t.record(QuotaKind::CpuTime, 7);
}

// Monitoring after an update: has the level changed since the last report?
void BM_QuotaObserve(benchmark::State& state) {
  auto& t = shared_tracker();
  for (auto _ : state) benchmark::DoNotOptimize(t.observe(QuotaKind::Network));
}

// Baselines measured in the same run: the cheapest possible shared counter,
// and the obvious locked one.
std::atomic<uint64_t> g_counter{0};
void BM_BaselineAtomicAdd(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(g_counter.fetch_add(1, std::memory_order_acq_rel));
}

std::mutex g_mutex;
uint64_t g_locked = 0;
void BM_BaselineMutexCounter(benchmark::State& state) {
  for (auto _ : state) {
    std::lock_guard lock(g_mutex);
    benchmark::DoNotOptimize(++g_locked);
  }
}

// The memory of one component's quota bookkeeping: its security context and
// its tracker, heap included; without capabilities (what every component
// pays), and with a typical set of four grants.
void BM_ContextAndTrackerBytes(benchmark::State& state, bool with_grants) {
  security::PatternLists lists;
  if (with_grants) {
    lists[static_cast<size_t>(security::Permission::StorageRead)] = {"orders:*"};
    lists[static_cast<size_t>(security::Permission::StorageWrite)] = {"orders:*"};
    lists[static_cast<size_t>(security::Permission::MsgSend)] = {"billing"};
    lists[static_cast<size_t>(security::Permission::MsgReceive)] = {"frontend"};
  }
  uint64_t bytes = 0;
  for (auto _ : state) {
    g_allocated = 0;
    g_counting = true;
    auto caps = security::CapabilitySet::build(lists).value();
    auto context = security::WasmSecurityContext::create("order-validator", std::move(caps),
                                                          security::TrustLevel::Trusted)
                       .value();
    auto tracker = std::make_shared<security::QuotaTracker>(context->quotas());
    g_counting = false;
    bytes = g_allocated.load();
    benchmark::DoNotOptimize(tracker);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["tracker_sizeof"] = sizeof(security::QuotaTracker);
  state.counters["context_sizeof"] = sizeof(security::WasmSecurityContext);
}

// The native tier's engine, its cache in a private temporary directory.
std::unique_ptr<engine::Engine> native_engine() {
  static const std::filesystem::path dir = [] {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "airssys-bench-quota-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) std::abort();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    return std::filesystem::path(pattern);
  }();
  engine::NativeOptions options;
  options.cache_dir = dir / "native";
  auto made = engine::Engine::native(options);
  if (!made) return nullptr;
  return std::move(*made);
}

// Fuel per millisecond of thread CPU time on compute.wasm (fib: calls,
// branches and arithmetic), per tier: how much guest work one slice of fuel
// is (the CPU-time quota itself charges the thread's CPU clock, not fuel).
void BM_FuelCalibration(benchmark::State& state, const char* kernel, int64_t arg,
                        engine::Tier tier) {
  auto engine = tier == engine::Tier::Native ? native_engine() : engine::Engine::interpreter();
  if (!engine) {
    state.SkipWithError("the native tier is not available");
    return;
  }
  auto module = engine->load_file(AIRSSYS_BENCH_COMPUTE_WASM).value();
  auto store = engine->new_store();
  engine::Linker linker;
  auto instance = store->instantiate(*module, linker).value();
  const bool is_i64 = std::string_view(kernel) == "sum_to";
  uint64_t fuel = 0;
  std::chrono::nanoseconds spent{0};
  // CPU time of this thread, so that other load on the machine does not
  // count as the guest's.
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::nanoseconds(int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec);
  };
  for (auto _ : state) {
    const uint64_t before = instance->fuel_used();
    const auto start = cpu_now();
    engine::Value value =
        is_i64 ? engine::Value::i64(arg) : engine::Value::i32(static_cast<int32_t>(arg));
    auto r = instance->call(kernel, std::span(&value, 1), {});
    spent += cpu_now() - start;
    if (!r) state.SkipWithError(r.error().to_string().c_str());
    fuel += instance->fuel_used() - before;
  }
  const double per_ms = static_cast<double>(fuel) /
                        (static_cast<double>(spent.count()) / 1e6);
  state.counters["fuel_per_ms"] = per_ms;
}

}  // namespace

BENCHMARK(BM_QuotaCheck);
BENCHMARK(BM_QuotaConsumeLevel);
BENCHMARK(BM_QuotaConsumeRate);
BENCHMARK(BM_QuotaRecord);
BENCHMARK(BM_QuotaObserve);
BENCHMARK(BM_BaselineAtomicAdd);
BENCHMARK(BM_BaselineMutexCounter);
BENCHMARK(BM_QuotaCheck)->Threads(2);
BENCHMARK(BM_QuotaConsumeLevel)->Threads(2);
BENCHMARK(BM_QuotaConsumeRate)->Threads(2);
BENCHMARK(BM_QuotaRecord)->Threads(2);
BENCHMARK(BM_BaselineAtomicAdd)->Threads(2);
BENCHMARK(BM_BaselineMutexCounter)->Threads(2);
BENCHMARK_CAPTURE(BM_ContextAndTrackerBytes, no_grants, false)->Iterations(1);
BENCHMARK_CAPTURE(BM_ContextAndTrackerBytes, four_grants, true)->Iterations(1);
BENCHMARK_CAPTURE(BM_FuelCalibration, fib, "fib", 25, engine::Tier::Interp)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FuelCalibration, fib_native, "fib", 32, engine::Tier::Native)
    ->Unit(benchmark::kMillisecond);

// A summary of the medians, with the ratios against the baselines of this run.
int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  airssys::wasm::bench::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  using airssys::wasm::bench::headline;
  const double* base = reporter.time("BM_BaselineAtomicAdd");
  const double* base2 = reporter.time("BM_BaselineAtomicAdd/threads:2");
  fmt::print("\nSummary: CPU time per operation; ratios against a bare atomic add in this run\n");
  for (const char* name : {"BM_QuotaCheck", "BM_QuotaConsumeLevel", "BM_QuotaConsumeRate",
                           "BM_QuotaRecord", "BM_QuotaObserve", "BM_BaselineMutexCounter"}) {
    for (bool contended : {false, true}) {
      const std::string key = contended ? std::string(name) + "/threads:2" : name;
      const double* ns = reporter.time(key);
      const double* b = contended ? base2 : base;
      if (!ns) continue;
      fmt::print("  {:<44} {:>8.1f} ns {:>7.2f}x\n", key, *ns, b && *b > 0 ? *ns / *b : 0.0);
      if (b && std::string_view(name) != "BM_BaselineMutexCounter" &&
          std::string_view(name) != "BM_QuotaObserve") {
        headline("quota", fmt::format("{}{}", name + 3, contended ? ", 2 threads" : ""), *ns, "ns",
                 "atomic add", *b);
      }
    }
  }
  if (const double* bytes = reporter.counter("BM_ContextAndTrackerBytes/no_grants", "bytes")) {
    fmt::print("  {:<44} {:>8.0f} bytes\n", "context + tracker, no grants", *bytes);
    headline("quota", "security context + quota tracker", *bytes, "bytes");
  }
  if (const double* fuel = reporter.counter("BM_FuelCalibration/fib", "fuel_per_ms")) {
    fmt::print("  {:<44} {:>8.0f} fuel/ms\n", "interpreter fuel per ms of CPU", *fuel);
  }
  if (const double* fuel = reporter.counter("BM_FuelCalibration/fib_native", "fuel_per_ms")) {
    fmt::print("  {:<44} {:>8.0f} fuel/ms\n", "native tier fuel per ms of CPU", *fuel);
  }
  benchmark::Shutdown();
  return 0;
}
