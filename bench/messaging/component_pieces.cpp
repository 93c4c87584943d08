// The pieces of a component's spawn and of one delivery, each measured on its
// own, as ComponentActor does them: the linker, instantiation, the init calls,
// and the three guest calls that receive one message.

#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "messaging/common.hpp"

namespace airssys::wasm::component::messaging_bench {

engine::Linker component_linker() {
  engine::Linker linker;
  host::add_wasi(linker);
  host::add_messaging(linker);
  return linker;
}

void BM_SpawnLinker(benchmark::State& state) {
  std::vector<double> values;
  for (auto _ : state) {
    const uint64_t start = now_ns();
    engine::Linker linker = component_linker();
    benchmark::DoNotOptimize(&linker);
    const uint64_t ns = now_ns() - start;
    values.push_back(static_cast<double>(ns));
    state.SetIterationTime(static_cast<double>(ns) * 1e-9);
  }
  pool(state, Metric::SpawnLinker, Impl::Wasm, values);
}

struct Instantiated {
  std::unique_ptr<host::ComponentContext> context;
  std::shared_ptr<engine::Instance> instance;
};

Result<Instantiated> instantiate_ponger(const engine::Linker& linker,
                                        const engine::Module& module) {
  Instantiated out;
  host::WasiOptions wasi;
  wasi.args = {"spawned"};
  out.context = std::make_unique<host::ComponentContext>(std::move(wasi));
  engine::InstanceOptions options;
  options.user_data = out.context.get();
  auto store = g_wasm->engine->new_store();
  auto instance = store->instantiate(module, linker, options);
  if (!instance) return std::unexpected(instance.error());
  out.instance = std::move(*instance);
  return out;
}

void BM_SpawnInstantiate(benchmark::State& state) {
  const engine::Linker linker = component_linker();
  std::vector<double> values;
  for (auto _ : state) {
    const uint64_t start = now_ns();
    auto instance = instantiate_ponger(linker, *g_wasm->ponger);
    const uint64_t ns = now_ns() - start;
    if (!instance) {
      return fail(state, Metric::SpawnInstantiate, Impl::Wasm, instance.error().to_string());
    }
    values.push_back(static_cast<double>(ns));
    state.SetIterationTime(static_cast<double>(ns) * 1e-9);
  }
  pool(state, Metric::SpawnInstantiate, Impl::Wasm, values);
}

// One suspendable call run to its end, as the actor runs it (fresh fiber).
Result<std::vector<engine::Value>> run_call(engine::Instance& instance, std::string_view name,
                                            std::vector<engine::Value> args) {
  ComponentSpec defaults;
  auto call =
      instance.start_call(name, args, {.fuel = defaults.fuel_per_message, .slice = defaults.slice});
  if (!call) return std::unexpected(call.error());
  Result<engine::Call::State> state;
  do {
    state = (*call)->resume();
  } while (state && *state == engine::Call::State::Suspended);
  if (!state) return std::unexpected(state.error());
  auto results = (*call)->results();
  return std::vector<engine::Value>(results.begin(), results.end());
}

// _initialize, then airssys_alloc, writing "{}", airssys_init and airssys_dealloc.
Result<void> init_calls(engine::Instance& instance) {
  AIRSSYS_TRY(run_call(instance, kExportInitialize, {}));
  const std::string config = "{}";
  auto ptr = run_call(instance, kExportAlloc, {engine::Value::i32(2)});
  if (!ptr) return std::unexpected(ptr.error());
  const int32_t at = (*ptr)[0].as_i32();
  AIRSSYS_TRY(instance.write_memory(
      static_cast<uint64_t>(at),
      std::span(reinterpret_cast<const uint8_t*>(config.data()), config.size())));
  AIRSSYS_TRY(run_call(instance, kExportInit, {engine::Value::i32(at), engine::Value::i32(2)}));
  AIRSSYS_TRY(run_call(instance, kExportDealloc, {engine::Value::i32(at), engine::Value::i32(2)}));
  return {};
}

void BM_SpawnInitCalls(benchmark::State& state) {
  const engine::Linker linker = component_linker();
  std::vector<double> values;
  for (auto _ : state) {
    // Untimed: a fresh instance each time.
    auto instance = instantiate_ponger(linker, *g_wasm->ponger);
    if (!instance) {
      return fail(state, Metric::SpawnInitCalls, Impl::Wasm, instance.error().to_string());
    }
    const uint64_t start = now_ns();
    auto ok = init_calls(*instance->instance);
    const uint64_t ns = now_ns() - start;
    if (!ok) return fail(state, Metric::SpawnInitCalls, Impl::Wasm, ok.error().to_string());
    values.push_back(static_cast<double>(ns));
    state.SetIterationTime(static_cast<double>(ns) * 1e-9);
  }
  pool(state, Metric::SpawnInitCalls, Impl::Wasm, values);
}

// What receiving one fill message costs the ponger without the scheduler: the
// three guest calls ComponentActor makes (airssys_alloc for sender and
// payload, airssys_handle_message, airssys_dealloc) and the memory write.
void BM_DeliverCalls(benchmark::State& state, Impl impl) {
  const engine::Linker linker = component_linker();
  auto instance = instantiate_ponger(
      linker, impl == Impl::WasmBuffer ? *g_wasm->ponger_buffer : *g_wasm->ponger);
  if (!instance) return fail(state, Metric::DeliverHandle, impl, instance.error().to_string());
  if (auto ok = init_calls(*instance->instance); !ok) {
    return fail(state, Metric::DeliverHandle, impl, ok.error().to_string());
  }
  engine::Instance& ponger = *instance->instance;
  const std::string buffer = std::string(BENCH_PINGER) + static_cast<char>(BENCH_MSG_FILL);
  const auto size = static_cast<int32_t>(buffer.size());
  const auto sender_len = static_cast<int32_t>(std::string_view(BENCH_PINGER).size());
  std::array<std::vector<double>, 3> values;
  std::array<uint64_t, 3> fuel{};
  auto timed = [&](size_t piece, auto&& body) -> Result<void> {
    const uint64_t fuel_before = ponger.fuel_used();
    const uint64_t start = now_ns();
    auto ok = body();
    values[piece].push_back(static_cast<double>(now_ns() - start));
    fuel[piece] = ponger.fuel_used() - fuel_before;
    return ok;
  };
  for (auto _ : state) {
    int32_t at = 0;
    auto ok = timed(0, [&]() -> Result<void> {
      auto ptr = run_call(ponger, kExportAlloc, {engine::Value::i32(size)});
      if (!ptr) return std::unexpected(ptr.error());
      at = (*ptr)[0].as_i32();
      return ponger.write_memory(
          static_cast<uint64_t>(at),
          std::span(reinterpret_cast<const uint8_t*>(buffer.data()), buffer.size()));
    });
    if (ok) {
      ok = timed(1, [&]() -> Result<void> {
        using V = engine::Value;
        std::vector<V> args = {V::i32(static_cast<int32_t>(GuestMessageKind::Send)),
                               V::i64(0),
                               V::i32(at),
                               V::i32(sender_len),
                               V::i32(at + sender_len),
                               V::i32(0),
                               V::i32(at + sender_len),
                               V::i32(size - sender_len)};
        AIRSSYS_TRY(run_call(ponger, kExportHandleMessage, std::move(args)));
        return {};
      });
    }
    if (ok) {
      ok = timed(2, [&]() -> Result<void> {
        AIRSSYS_TRY(
            run_call(ponger, kExportDealloc, {engine::Value::i32(at), engine::Value::i32(size)}));
        return {};
      });
    }
    if (!ok) return fail(state, Metric::DeliverHandle, impl, ok.error().to_string());
    state.SetIterationTime((values[0].back() + values[1].back() + values[2].back()) * 1e-9);
  }
  const Metric metrics[] = {Metric::DeliverAlloc, Metric::DeliverHandle, Metric::DeliverDealloc};
  for (size_t i = 0; i < 3; ++i) {
    auto& pooled = g_pooled[{metrics[i], impl}];
    pooled.values.insert(pooled.values.end(), values[i].begin(), values[i].end());
    pooled.fuel = fuel[i];
  }
}

}  // namespace airssys::wasm::component::messaging_bench
