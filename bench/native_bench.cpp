// The native tier against native C, V8 and the interpreter, in one run.
//
// Three kernels from bench/components/kernels.c: fib(30) (calls), a merge sort
// of 1 Mi integers (memory) and 1 M calls of a host function (host calls).
// Each runs as native C compiled into this binary (the baseline), in V8
// through node (bench/v8_kernels.cjs), on the interpreter tier and on the
// native tier (guard-page memories, the default, and explicit bounds checks,
// measured alternately in the same run); plus the native tier's instantiation
// time and the time to load a module from a sound cache entry. Every figure is the median of --reps
// runs (the interpreter's kernels: of 3, they take seconds).
//
// Usage: bench_native [--reps N] [--bounds]. The native cache is a fresh
// temporary directory, so the first load below is a real compilation.
// --bounds: only the native tier's guard pages against its explicit checks.

#include <fmt/format.h>

#include "support/report.hpp"
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"

extern "C" {
int32_t k_fib(int32_t n);
uint32_t k_sort(int32_t n);
int32_t k_calls(int32_t n);
__attribute__((noinline)) int32_t bench_inc(int32_t v) { return v + 1; }
}

namespace airssys::wasm::engine {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Kernel {
  const char* name;
  const char* export_name;
  int32_t arg;
};
constexpr Kernel kKernels[] = {
    {"fib", "k_fib", 30}, {"sort", "k_sort", 1 << 20}, {"calls", "k_calls", 1'000'000}};


// Median wall time of `reps` runs of fn, in nanoseconds.
double time_ns(int reps, const std::function<void()>& fn) {
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    fn();
    times.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
  }
  return bench::percentile(std::move(times), 50);
}

using bench::format_ns;

// Thread CPU time of one run of fn, in nanoseconds (native code runs on a
// fiber of the calling thread).
double cpu_ns(const std::function<void()>& fn) {
  timespec t0{}, t1{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  fn();
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  return static_cast<double>(t1.tv_sec - t0.tv_sec) * 1e9 +
         static_cast<double>(t1.tv_nsec - t0.tv_nsec);
}

struct V8Result {
  std::map<std::string, double> ns;
  std::map<std::string, uint32_t> result;
};

// Runs bench/v8_kernels.cjs in node; nothing when node is not there.
std::optional<V8Result> run_v8(int reps) {
  if (::access(AIRSSYS_NODE, X_OK) != 0) return std::nullopt;
  std::string command = fmt::format("'{}' '{}' '{}' {}", AIRSSYS_NODE, AIRSSYS_V8_SCRIPT,
                                    AIRSSYS_KERNELS_WASM, reps);
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  if (::pclose(pipe) != 0) return std::nullopt;
  // {"fib":{"ns":123,"result":5},...,"instantiate":{"ns":4}}: small enough to
  // pick apart by hand.
  V8Result r;
  for (const char* key : {"fib", "sort", "calls", "instantiate"}) {
    auto at = out.find(fmt::format("\"{}\":{{\"ns\":", key));
    if (at == std::string::npos) return std::nullopt;
    at = out.find(":{\"ns\":", at) + 7;
    r.ns[key] = std::strtod(out.c_str() + at, nullptr);
    auto res = out.find("\"result\":", at);
    auto end = out.find('}', at);
    if (res != std::string::npos && res < end) {
      r.result[key] = static_cast<uint32_t>(std::strtoull(out.c_str() + res + 9, nullptr, 10));
    }
  }
  return r;
}

Result<int32_t> bench_inc_host(HostCall&, int32_t v) { return v + 1; }

// bench.inc as a typed host function (host_function<F>, the fast form), or
// as a HostFn.
Linker bench_linker(bool typed = true) {
  Linker linker;
  if (typed) {
    linker.define(host_function<bench_inc_host>("bench", "inc"));
    return linker;
  }
  linker.define(HostFunction{
      "bench", "inc", FuncSig{{ValType::I32}, {ValType::I32}},
      [](HostCall&, std::span<const Value> args, std::span<Value> results) -> Result<void> {
        results[0] = Value::i32(args[0].as_i32() + 1);
        return {};
      }});
  return linker;
}

int run(int argc, char** argv) {
  int reps = 11;
  bool bounds_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--bounds") {
      bounds_only = true;
    } else {
      fmt::print(stderr, "usage: bench_native [--reps N] [--bounds]\n");
      return 2;
    }
  }
  std::string pattern = (fs::temp_directory_path() / "airssys-bench-native-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) return 1;
  const fs::path cache_root = pattern;
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } cleanup{cache_root};
  NativeOptions native_options;
  native_options.cache_dir = cache_root / "native";

  auto interp = Engine::interpreter();
  auto native = Engine::native(native_options);
  NativeOptions explicit_options = native_options;
  explicit_options.bounds_checks = BoundsChecks::Explicit;
  auto native_explicit = Engine::native(explicit_options);
  if (!native || !native_explicit) {
    fmt::print(stderr, "bench_native: {}\n",
               (!native ? native.error() : native_explicit.error()).to_string());
    return 1;
  }
  const bool guard = native_options.bounds_checks == BoundsChecks::Guard;
  auto t0 = Clock::now();
  auto native_module = (*native)->load_file(AIRSSYS_KERNELS_WASM);
  double compile_ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  auto interp_module = interp->load_file(AIRSSYS_KERNELS_WASM);
  auto explicit_module = (*native_explicit)->load_file(AIRSSYS_KERNELS_WASM);
  if (!explicit_module) {
    fmt::print(stderr, "bench_native: {}\n", explicit_module.error().to_string());
    return 1;
  }
  if (!native_module || !interp_module) {
    fmt::print(stderr, "bench_native: {}\n",
               (!native_module ? native_module.error() : interp_module.error()).to_string());
    return 1;
  }
  Linker linker = bench_linker();

  // Loading from the cache: a sound entry read, checked and loaded.
  double cache_load_ns = time_ns(reps, [&] {
    auto m = (*native)->load_file(AIRSSYS_KERNELS_WASM);
    if (!m) std::abort();
  });
  // Instantiation on the native tier (8 MiB of static arrays: the memory is
  // reserved, not touched) and on the interpreter.
  auto store = (*native)->new_store();
  double native_instantiate_ns = time_ns(reps * 20, [&] {
    auto i = store->instantiate(**native_module, linker);
    if (!i) std::abort();
  });
  auto interp_store = interp->new_store();
  double interp_instantiate_ns = time_ns(reps, [&] {
    auto i = interp_store->instantiate(**interp_module, linker);
    if (!i) std::abort();
  });

  auto explicit_store = (*native_explicit)->new_store();
  double explicit_instantiate_ns = time_ns(reps * 20, [&] {
    auto i = explicit_store->instantiate(**explicit_module, linker);
    if (!i) std::abort();
  });

  auto native_inst = store->instantiate(**native_module, linker).value();
  auto explicit_inst = explicit_store->instantiate(**explicit_module, linker).value();
  auto interp_inst = interp_store->instantiate(**interp_module, linker).value();
  auto v8 = bounds_only ? std::nullopt : run_v8(reps);

  struct Row {
    const char* name;
    double c, v8, interp, native;
    double guard_cpu, explicit_cpu;  // the native tier's two bounds checks, thread CPU time
    bool results_agree;
  };
  std::vector<Row> rows;
  for (const auto& k : kKernels) {
    uint32_t c_result = 0;
    double c_ns = time_ns(bounds_only ? 0 : reps, [&] {
      if (k.name == std::string_view("fib")) c_result = static_cast<uint32_t>(k_fib(k.arg));
      if (k.name == std::string_view("sort")) c_result = k_sort(k.arg);
      if (k.name == std::string_view("calls")) c_result = static_cast<uint32_t>(k_calls(k.arg));
    });
    std::vector<Value> args{Value::i32(k.arg)};
    uint32_t native_result = 0, explicit_result = 0, interp_result = 0;
    double native_ns = time_ns(reps, [&] {
      native_result = static_cast<uint32_t>(native_inst->call(k.export_name, args).value()[0].as_i32());
    });
    // The two native builds alternately, one run each at a time, in thread
    // CPU time, so that what the machine does meanwhile weighs on both alike.
    std::vector<double> guard_cpu, explicit_cpu;
    for (int r = 0; r < reps; ++r) {
      guard_cpu.push_back(cpu_ns([&] {
        native_result =
            static_cast<uint32_t>(native_inst->call(k.export_name, args).value()[0].as_i32());
      }));
      explicit_cpu.push_back(cpu_ns([&] {
        explicit_result =
            static_cast<uint32_t>(explicit_inst->call(k.export_name, args).value()[0].as_i32());
      }));
    }
    const double guard_cpu_ns = bench::percentile(guard_cpu, 50);
    const double explicit_cpu_ns = bench::percentile(explicit_cpu, 50);
    if (bounds_only) {
      bool agree = native_result == explicit_result;
      rows.push_back({k.name, 0, 0, 0, native_ns, guard_cpu_ns, explicit_cpu_ns, agree});
      continue;
    }
    double interp_ns = time_ns(3, [&] {
      interp_result = static_cast<uint32_t>(interp_inst->call(k.export_name, args).value()[0].as_i32());
    });
    bool agree = native_result == c_result && explicit_result == c_result &&
                 interp_result == c_result;
    double v8_ns = 0;
    if (v8) {
      v8_ns = v8->ns[k.name];
      agree = agree && v8->result[k.name] == c_result;
    }
    rows.push_back({k.name, c_ns, v8_ns, interp_ns, native_ns, guard_cpu_ns, explicit_cpu_ns, agree});
  }

  auto print_bounds = [&] {
    fmt::print("\nbounds of linear memory: the native tier with {} against explicit checks\n"
               "(medians of {} runs each, alternating, thread CPU time)\n",
               guard ? "guard pages" : "explicit checks", reps);
    fmt::print("{:<7} {:>12} {:>12} {:>16}  {}\n", "kernel", "guard pages", "explicit",
               "guard/explicit", "results");
    for (const auto& r : rows) {
      fmt::print("{:<7} {:>12} {:>12} {:>15.3f}x  {}\n", r.name, format_ns(r.guard_cpu),
                 format_ns(r.explicit_cpu), r.guard_cpu / r.explicit_cpu,
                 r.results_agree ? "agree" : "DIFFER");
    }
  };
  if (bounds_only) {
    print_bounds();
    return std::all_of(rows.begin(), rows.end(), [](const Row& r) { return r.results_agree; })
               ? 0
               : 1;
  }

  // The host-call kernel once more with bench.inc given only as a HostFn.
  auto plain_inst = store->instantiate(**native_module, bench_linker(false)).value();
  const Kernel& calls = kKernels[2];
  double plain_calls_ns = time_ns(reps, [&] {
    if (plain_inst->call(calls.export_name, std::vector{Value::i32(calls.arg)}).value()[0].as_i32() !=
        calls.arg) {
      std::abort();
    }
  });

  fmt::print("native tier benchmark: medians of {} runs (interpreter kernels: 3)\n\n", reps);
  fmt::print("{:<7} {:>11} {:>11} {:>11} {:>11} {:>10} {:>10} {:>10}  {}\n", "kernel", "native C",
             "V8 (node)", "interp", "native", "native/C", "native/V8", "interp/C", "results");
  for (const auto& r : rows) {
    fmt::print("{:<7} {:>11} {:>11} {:>11} {:>11} {:>9.2f}x {:>10} {:>9.0f}x  {}\n", r.name,
               format_ns(r.c), v8 ? format_ns(r.v8) : "n/a", format_ns(r.interp),
               format_ns(r.native), r.native / r.c,
               v8 ? fmt::format("{:.2f}x", r.native / r.v8) : "n/a", r.interp / r.c,
               r.results_agree ? "agree" : "DIFFER");
  }
  print_bounds();
  fmt::print("calls with bench.inc as a HostFn, not typed: native tier {} ({:.2f}x native C)\n",
             format_ns(plain_calls_ns), plain_calls_ns / rows[2].c);
  fmt::print("\nfirst load (compile: wasm2c + C compiler -O2): {}\n", format_ns(compile_ns));
  fmt::print("load from a sound cache entry:                 {}  (target <= 1 ms)\n",
             format_ns(cache_load_ns));
  fmt::print("instantiate, native tier:                      {}  (target <= 10 us)\n",
             format_ns(native_instantiate_ns));
  fmt::print("instantiate, native tier, explicit checks:     {}\n",
             format_ns(explicit_instantiate_ns));
  fmt::print("instantiate, interpreter:                      {}\n", format_ns(interp_instantiate_ns));
  if (v8) fmt::print("instantiate, V8:                               {}\n", format_ns(v8->ns["instantiate"]));
  fmt::print("targets: native/C <= 1.30x and native/V8 < 1.00x on every kernel\n");
  using bench::headline;
  for (const auto& r : rows) {
    headline("compute", fmt::format("{}: native tier", r.name), r.native, "ns", "native C", r.c);
    if (v8) headline("compute", fmt::format("{}: native tier", r.name), r.native, "ns", "V8", r.v8);
    headline("compute", fmt::format("{}: interpreter", r.name), r.interp, "ns", "native C", r.c);
    headline("compute", fmt::format("{}: native tier, guard pages (CPU)", r.name), r.guard_cpu,
             "ns", "explicit bounds checks", r.explicit_cpu);
  }
  headline("compute", "native tier: instantiate", native_instantiate_ns, "ns", "interpreter",
           interp_instantiate_ns);
  if (v8) {
    headline("compute", "native tier: instantiate", native_instantiate_ns, "ns", "V8",
             v8->ns["instantiate"]);
  }
  headline("compute", "native tier: load from the cache", cache_load_ns, "ns");
  bool all_agree = std::all_of(rows.begin(), rows.end(), [](const Row& r) { return r.results_agree; });
  return all_agree ? 0 : 1;
}

}  // namespace
}  // namespace airssys::wasm::engine

int main(int argc, char** argv) { return airssys::wasm::engine::run(argc, argv); }
