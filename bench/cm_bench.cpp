// The Component Model's costs, each against a baseline measured in the same
// run: a call through the canonical ABI (a 1 KiB string lowered, a list of
// 1000 records lowered, a string lowered and lifted back, a resource made
// and consumed) against the very core function of the same component
// called directly with its memory written by the host; a component's
// instantiation against its core module's alone. The components are the
// ones jco assembles for the tests (tests/components/cm); without them the
// driver says so and exits.
//
//   bench_cm [--tier interp|native] [Google Benchmark flags]

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/cm/instance.hpp"
#include "support/report.hpp"

namespace airssys::wasm::cm {
namespace {

using engine::Value;

struct Fixture {
  std::unique_ptr<engine::Engine> engine;
  std::shared_ptr<const Component> strings, records, resource;
};
Fixture* g = nullptr;

Result<std::shared_ptr<const Component>> load_component(const std::string& name) {
  auto bytes = engine::read_module_file(std::string(AIRSSYS_BENCH_CM_DIR) + "/" + name + ".wasm");
  if (!bytes) return std::unexpected(bytes.error());
  return decode_component(*bytes, name, *g->engine);
}

// The component's (only) core module, instantiated alone.
std::shared_ptr<engine::Instance> core_of(const Component& c, engine::Store& store) {
  auto inst = store.instantiate(*c.modules.at(0).module, engine::Linker{});
  if (!inst) throw std::runtime_error(inst.error().to_string());
  return *inst;
}

std::unique_ptr<ComponentInstance> instance_of(const std::shared_ptr<const Component>& c) {
  auto inst = ComponentInstance::instantiate(c, *g->engine, HostInstance{});
  if (!inst) throw std::runtime_error(inst.error().to_string());
  return std::move(*inst);
}

void check(benchmark::State& state, const Result<std::vector<Value>>& r) {
  if (!r) state.SkipWithError(r.error().to_string().c_str());
}

// --- a 1 KiB string lowered --------------------------------------------------

void BM_CoreCountBytes(benchmark::State& state) {
  auto store = g->engine->new_store();
  auto core = core_of(*g->strings, *store);
  auto fn = core->resolve("count-bytes");
  std::vector<uint8_t> text(1024, 'a');
  for (auto _ : state) {
    (void)core->write_memory(4096, text);
    auto r = core->call(*fn, std::vector{Value::i32(4096), Value::i32(1024)});
    check(state, r);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_CoreCountBytes);

void BM_ComponentCountBytes(benchmark::State& state) {
  auto inst = instance_of(g->strings);
  std::vector<Val> args{Val::string(std::string(1024, 'a'))};
  for (auto _ : state) {
    auto r = inst->call("count-bytes", args);
    if (!r) state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ComponentCountBytes);

// --- a 1 KiB string lowered and lifted back ----------------------------------

void BM_CoreUpper(benchmark::State& state) {
  auto store = g->engine->new_store();
  auto core = core_of(*g->strings, *store);
  auto fn = core->resolve("upper");
  std::vector<uint8_t> text(1024, 'a');
  for (auto _ : state) {
    (void)core->write_memory(4096, text);
    auto r = core->call(*fn, std::vector{Value::i32(4096), Value::i32(1024)});
    check(state, r);
    // The result area: (pointer, length).
    auto area = core->read_memory(static_cast<uint32_t>((*r)[0].as_i32()), 8);
    uint32_t ptr = 0, len = 0;
    std::memcpy(&ptr, area->data(), 4);
    std::memcpy(&len, area->data() + 4, 4);
    auto bytes = core->read_memory(ptr, len);
    benchmark::DoNotOptimize(bytes);
  }
}
BENCHMARK(BM_CoreUpper);

void BM_ComponentUpper(benchmark::State& state) {
  auto inst = instance_of(g->strings);
  std::vector<Val> args{Val::string(std::string(1024, 'a'))};
  for (auto _ : state) {
    auto r = inst->call("upper", args);
    if (!r) state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ComponentUpper);

// --- a list of 1000 records lowered ------------------------------------------

void BM_CoreSum1000(benchmark::State& state) {
  auto store = g->engine->new_store();
  auto core = core_of(*g->records, *store);
  auto fn = core->resolve("sum");
  std::vector<uint8_t> points(8000);
  for (int32_t i = 0; i < 1000; ++i) {
    int32_t xy[2] = {i, -i};
    std::memcpy(points.data() + 8 * i, xy, 8);
  }
  for (auto _ : state) {
    (void)core->write_memory(4096, points);
    auto r = core->call(*fn, std::vector{Value::i32(4096), Value::i32(1000)});
    check(state, r);
    auto out = core->read_memory(static_cast<uint32_t>((*r)[0].as_i32()), 8);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_CoreSum1000);

void BM_ComponentSum1000(benchmark::State& state) {
  auto inst = instance_of(g->records);
  Val list{Kind::List, 0, {}, {}};
  for (int32_t i = 0; i < 1000; ++i) {
    list.items.push_back(Val{Kind::Record, 0, {}, {Val::s(Kind::S32, i), Val::s(Kind::S32, -i)}});
  }
  std::vector<Val> args{list};
  for (auto _ : state) {
    auto r = inst->call("airssys:test/records#sum", args);
    if (!r) state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ComponentSum1000);

// --- a resource made and consumed --------------------------------------------

void BM_ComponentEmptyCall(benchmark::State& state) {
  auto inst = instance_of(g->resource);
  for (auto _ : state) {
    auto r = inst->call("airssys:test/counters#dropped", {});
    if (!r) state.SkipWithError(r.error().to_string().c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ComponentEmptyCall);

void BM_ComponentResourceRoundTrip(benchmark::State& state) {
  auto inst = instance_of(g->resource);
  std::vector<Val> start{Val::u(Kind::U32, 5)};
  // The component's constructor takes 4 bytes of its one page for every
  // resource and never gives them back: a fresh instance, untimed, before
  // that page is full.
  uint64_t made_here = 0;
  for (auto _ : state) {
    if (++made_here == 10000) {
      state.PauseTiming();
      inst = instance_of(g->resource);
      made_here = 0;
      state.ResumeTiming();
    }
    auto made = inst->call("airssys:test/counters#[constructor]counter", start);
    if (!made) {
      state.SkipWithError(made.error().to_string().c_str());
      break;
    }
    auto value = inst->call("airssys:test/counters#[static]counter.consume", *made);
    if (!value) state.SkipWithError(value.error().to_string().c_str());
    benchmark::DoNotOptimize(value);
  }
}
BENCHMARK(BM_ComponentResourceRoundTrip);

// --- instantiation -----------------------------------------------------------

void BM_CoreInstantiate(benchmark::State& state) {
  for (auto _ : state) {
    auto store = g->engine->new_store();
    auto core = core_of(*g->strings, *store);
    benchmark::DoNotOptimize(core);
  }
}
BENCHMARK(BM_CoreInstantiate);

void BM_ComponentInstantiate(benchmark::State& state) {
  for (auto _ : state) {
    auto inst = instance_of(g->strings);
    benchmark::DoNotOptimize(inst);
  }
}
BENCHMARK(BM_ComponentInstantiate);

struct Row {
  const char* label;
  const char* bench;
  const char* baseline;
  const char* baseline_label;
};

void print_summary(const bench::SummaryReporter& reporter, const char* tier) {
  static const Row rows[] = {
      {"1 KiB string lowered", "BM_ComponentCountBytes", "BM_CoreCountBytes", "core call"},
      {"1 KiB string there and back", "BM_ComponentUpper", "BM_CoreUpper", "core call"},
      {"list of 1000 records lowered", "BM_ComponentSum1000", "BM_CoreSum1000", "core call"},
      {"resource made and consumed", "BM_ComponentResourceRoundTrip", "BM_ComponentEmptyCall",
       "empty call"},
      {"instantiation", "BM_ComponentInstantiate", "BM_CoreInstantiate", "core module"},
  };
  fmt::print("\nSummary ({} tier): CPU time, each ratio against a baseline from this run\n", tier);
  for (const auto& row : rows) {
    const double* ns = reporter.time(row.bench);
    const double* base = reporter.time(row.baseline);
    if (!ns) continue;
    std::string line = fmt::format("  {:<30} {:>10}", row.label, bench::format_ns(*ns, 1));
    if (base && *base > 0) {
      line += fmt::format("  {:>6.2f}x {}", *ns / *base, row.baseline_label);
      bench::headline("cm", fmt::format("{} ({})", row.label, tier), *ns, "ns", row.baseline_label,
                      *base);
    }
    fmt::print("{}\n", line);
  }
}

}  // namespace
}  // namespace airssys::wasm::cm

int main(int argc, char** argv) {
  namespace cm = airssys::wasm::cm;
  namespace engine = airssys::wasm::engine;
  std::string tier = "interp";
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::string(argv[i]) == "--tier" && i + 1 < argc) {
      tier = argv[++i];
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  cm::Fixture fixture;
  if (tier == "native") {
    auto native = engine::Engine::native();
    if (!native) {
      std::fprintf(stderr, "bench_cm: %s\n", native.error().to_string().c_str());
      return 1;
    }
    fixture.engine = std::move(*native);
  } else {
    fixture.engine = engine::Engine::interpreter();
  }
  cm::g = &fixture;
  auto strings = cm::load_component("strings");
  auto records = cm::load_component("records");
  auto resource = cm::load_component("resource");
  if (!strings || !records || !resource) {
    std::fprintf(stderr,
                 "bench_cm: the components of tests/components/cm are missing or invalid (jco "
                 "assembles them; scripts/setup.sh installs it)\n");
    return 1;
  }
  fixture.strings = *strings;
  fixture.records = *records;
  fixture.resource = *resource;
  airssys::wasm::bench::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  cm::print_summary(reporter, tier.c_str());
  benchmark::Shutdown();
  return 0;
}
