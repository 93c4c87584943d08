// The benchmarks of bench_messaging and their registration, in the order they
// run: one-way latency, round trip, flood, fan-out and spawn on every
// implementation, then the pieces of a component's spawn and delivery.

#include "messaging/common.hpp"

namespace airssys::wasm::component::messaging_bench {
namespace {

Expected<std::unique_ptr<Pair>> make_pair(Impl impl) {
  switch (impl) {
    case Impl::Wasm:
      return start_wasm_pair(false);
    case Impl::WasmBuffer:
      return start_wasm_pair(true);
    case Impl::Runtime:
      return start_runtime_pair(false);
    case Impl::RuntimeTimer:
      return start_runtime_pair(true);
    case Impl::Caf:
      return start_caf_pair();
    case Impl::CafDirect:
      break;
    case Impl::Plain:
      return start_plain_pair();
  }
  return std::unexpected("unknown implementation");
}

Expected<std::unique_ptr<FanOut>> make_fan_out(Impl impl) {
  switch (impl) {
    case Impl::Wasm:
      return start_wasm_fan_out(false);
    case Impl::WasmBuffer:
      return start_wasm_fan_out(true);
    case Impl::Runtime:
      return start_runtime_fan_out();
    case Impl::Caf:
      return start_caf_fan_out(false);
    case Impl::CafDirect:
      return start_caf_fan_out(true);
    case Impl::RuntimeTimer:
    case Impl::Plain:
      break;
  }
  return std::unexpected("no fan-out on this implementation");
}

std::unique_ptr<Spawner> make_spawner(Impl impl) {
  switch (impl) {
    case Impl::Wasm:
    case Impl::WasmBuffer:
      return make_wasm_spawner();
    case Impl::Runtime:
    case Impl::RuntimeTimer:
      return make_runtime_spawner();
    case Impl::Caf:
      return make_caf_spawner();
    case Impl::CafDirect:
      break;
    case Impl::Plain:
      return make_plain_spawner();
  }
  return nullptr;
}


using LatencyFn = Expected<Samples> (Pair::*)(uint32_t);

void BM_Latency(benchmark::State& state, Metric metric, Impl impl, LatencyFn fn) {
  auto pair = make_pair(impl);
  if (!pair) return fail(state, metric, impl, pair.error());
  if (auto warm = ((**pair).*fn)(kWarmupBatch); !warm) {
    return fail(state, metric, impl, warm.error());
  }
  std::vector<double> values;
  for (auto _ : state) {
    auto samples = ((**pair).*fn)(kLatencyBatch);
    if (!samples) return fail(state, metric, impl, samples.error());
    double total = 0;
    for (uint64_t ns : *samples) {
      values.push_back(static_cast<double>(ns));
      total += static_cast<double>(ns);
    }
    state.SetIterationTime(total * 1e-9);
  }
  pool(state, metric, impl, values);
}

void BM_OneWay(benchmark::State& state, Impl impl) {
  BM_Latency(state, Metric::OneWay, impl, &Pair::one_way);
}

void BM_RoundTrip(benchmark::State& state, Impl impl) {
  BM_Latency(state, Metric::RoundTrip, impl, &Pair::round_trip);
}

void BM_Flood(benchmark::State& state, Impl impl) {
  auto pair = make_pair(impl);
  if (!pair) return fail(state, Metric::Flood, impl, pair.error());
  if (auto warm = (*pair)->flood(kFloodMessages / 10); !warm) {
    return fail(state, Metric::Flood, impl, warm.error());
  }
  auto& pooled = g_pooled[{Metric::Flood, impl}];
  double rates = 0;
  for (auto _ : state) {
    auto result = (*pair)->flood(kFloodMessages);
    if (!result) return fail(state, Metric::Flood, impl, result.error());
    const double rate = kFloodMessages / result->seconds;
    pooled.values.push_back(rate);
    pooled.sender_rates.push_back(kFloodMessages / result->sender_seconds);
    pooled.retries += result->retries;
    rates += rate;
    state.SetIterationTime(result->seconds);
  }
  state.counters["msgs_per_s"] = rates / static_cast<double>(state.iterations());
}

// One iteration: one fan-out of kFanOutMessages publishes to
// kFanOutSubscribers; its sample the time per delivered message.
void BM_FanOut(benchmark::State& state, Impl impl) {
  auto group = make_fan_out(impl);
  if (!group) return fail(state, Metric::FanOut, impl, group.error());
  if (auto warm = (*group)->fan_out(kFanOutMessages / 10); !warm) {
    return fail(state, Metric::FanOut, impl, warm.error());
  }
  std::vector<double> per_delivery;
  auto& pooled = g_pooled[{Metric::FanOut, impl}];
  for (auto _ : state) {
    auto result = (*group)->fan_out(kFanOutMessages);
    if (!result) return fail(state, Metric::FanOut, impl, result.error());
    per_delivery.push_back(result->seconds * 1e9 / static_cast<double>(result->delivered));
    pooled.publish_ns.push_back(result->sender_seconds * 1e9 / kFanOutMessages);
    state.SetIterationTime(result->seconds);
  }
  pooled.values.insert(pooled.values.end(), per_delivery.begin(), per_delivery.end());
  const double mid = bench::percentile(per_delivery, 50);
  state.counters["ns_per_delivery"] = mid;
  state.counters["us_per_publish"] = mid * kFanOutSubscribers / 1e3;
}

void BM_Spawn(benchmark::State& state, Impl impl) {
  auto spawner = make_spawner(impl);
  std::vector<double> values;
  for (auto _ : state) {
    auto ns = spawner->spawn_one();
    if (!ns) return fail(state, Metric::Spawn, impl, ns.error());
    values.push_back(static_cast<double>(*ns));
    state.SetIterationTime(static_cast<double>(*ns) * 1e-9);
  }
  pool(state, Metric::Spawn, impl, values);
}

#define AIRSSYS_LATENCY_BENCH(fn, name, impl) \
  BENCHMARK_CAPTURE(fn, name, impl)           \
      ->UseManualTime()                       \
      ->Iterations(kLatencyIterations)        \
      ->Unit(benchmark::kMillisecond)

AIRSSYS_LATENCY_BENCH(BM_OneWay, wasm, Impl::Wasm);
AIRSSYS_LATENCY_BENCH(BM_OneWay, wasm_buffer, Impl::WasmBuffer);
AIRSSYS_LATENCY_BENCH(BM_OneWay, runtime, Impl::Runtime);
AIRSSYS_LATENCY_BENCH(BM_OneWay, caf, Impl::Caf);
AIRSSYS_LATENCY_BENCH(BM_OneWay, plain, Impl::Plain);
AIRSSYS_LATENCY_BENCH(BM_RoundTrip, wasm, Impl::Wasm);
AIRSSYS_LATENCY_BENCH(BM_RoundTrip, wasm_buffer, Impl::WasmBuffer);
AIRSSYS_LATENCY_BENCH(BM_RoundTrip, runtime, Impl::Runtime);
AIRSSYS_LATENCY_BENCH(BM_RoundTrip, runtime_timer, Impl::RuntimeTimer);
AIRSSYS_LATENCY_BENCH(BM_RoundTrip, caf, Impl::Caf);
AIRSSYS_LATENCY_BENCH(BM_RoundTrip, plain, Impl::Plain);

#define AIRSSYS_FLOOD_BENCH(name, impl)   \
  BENCHMARK_CAPTURE(BM_Flood, name, impl) \
      ->UseManualTime()                   \
      ->Iterations(kFloodIterations)      \
      ->Unit(benchmark::kMillisecond)

AIRSSYS_FLOOD_BENCH(wasm, Impl::Wasm);
AIRSSYS_FLOOD_BENCH(wasm_buffer, Impl::WasmBuffer);
AIRSSYS_FLOOD_BENCH(runtime, Impl::Runtime);
AIRSSYS_FLOOD_BENCH(caf, Impl::Caf);
AIRSSYS_FLOOD_BENCH(plain, Impl::Plain);

#define AIRSSYS_FAN_OUT_BENCH(name, impl)   \
  BENCHMARK_CAPTURE(BM_FanOut, name, impl) \
      ->UseManualTime()                     \
      ->Iterations(kFanOutIterations)       \
      ->Unit(benchmark::kMillisecond)

AIRSSYS_FAN_OUT_BENCH(wasm, Impl::Wasm);
AIRSSYS_FAN_OUT_BENCH(wasm_buffer, Impl::WasmBuffer);
AIRSSYS_FAN_OUT_BENCH(runtime, Impl::Runtime);
AIRSSYS_FAN_OUT_BENCH(caf, Impl::Caf);
AIRSSYS_FAN_OUT_BENCH(caf_direct, Impl::CafDirect);

#define AIRSSYS_SPAWN_BENCH(name, impl)   \
  BENCHMARK_CAPTURE(BM_Spawn, name, impl) \
      ->UseManualTime()                   \
      ->Iterations(kSpawnIterations)      \
      ->Unit(benchmark::kMicrosecond)

AIRSSYS_SPAWN_BENCH(wasm, Impl::Wasm);
AIRSSYS_SPAWN_BENCH(runtime, Impl::Runtime);
AIRSSYS_SPAWN_BENCH(caf, Impl::Caf);
AIRSSYS_SPAWN_BENCH(plain, Impl::Plain);

BENCHMARK(BM_SpawnLinker)
    ->UseManualTime()
    ->Iterations(kSpawnPieceIterations)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SpawnInstantiate)
    ->UseManualTime()
    ->Iterations(kSpawnPieceIterations)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SpawnInitCalls)
    ->UseManualTime()
    ->Iterations(kSpawnPieceIterations)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DeliverCalls, sdk_allocator, Impl::Wasm)
    ->UseManualTime()
    ->Iterations(kDeliverIterations)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DeliverCalls, receive_buffer, Impl::WasmBuffer)
    ->UseManualTime()
    ->Iterations(kDeliverIterations)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace airssys::wasm::component::messaging_bench
