// CoreMark, the EEMBC benchmark (not written here), on native C, V8, the
// native tier and the interpreter, in one run.
//
// The build compiles CoreMark's unmodified sources (the folder named by the
// CMake cache variable AIRSSYS_COREMARK_DIR, never copied into the project)
// twice with the posix port: natively with gcc -O2, and to wasm32-wasi with
// clang -O2. Every run gets the performance run's seeds and the same iteration
// count on its command line (CoreMark's SEED_ARG method), so the four sides do
// the same work:
//   native C      the gcc build, a child process; CPU = user + system of it
//   V8            node's WASI running the .wasm (bench/coremark_v8.cjs), a
//                 child process; CPU = node's own CPU time around _start,
//                 V8's optimizing compiler threads included
//   native tier   the .wasm loaded by the native engine, run in this process
//                 with the WASI preview 1 host functions `airssys-wasm run`
//                 links (host::add_wasi); CPU = this process's time around the
//                 call of _start
//   interpreter   the same, on the interpreter, with fewer iterations (it is
//                 some hundred times slower); its time is per iteration
// Each output is checked: CoreMark compares its list, matrix and state CRCs
// with the known values of the 2K performance run and prints an ERROR line
// when one differs; here the seed CRC must name that run, no such line may
// appear, the iteration count must be the one asked for, and the final CRC
// must equal the gcc build's for the same count. The runs are shorter than
// CoreMark's 10 s reporting rule (it says so in its output and counts it as
// an error): these are comparisons between the four sides, not CoreMark
// scores.
//
// Before anything else: the cold compile of CoreMark on the native tier (a
// fresh cache directory; wall time, the CPU time of this process and of the
// compilers it waited for, and the peak resident set of the largest of them) and the load from that cache afterwards (a new
// engine each time, the median of 5).
//
// Without the CoreMark sources the driver says the rows are skipped and why,
// and writes no rows.
//
// Usage: bench_coremark [--reps N] [--iterations N] [--interp-iterations N]

#include <stdlib.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "airssys/wasm/security/capability.hpp"
#include "airssys/wasm/security/context.hpp"
#include "support/child.hpp"
#include "support/report.hpp"

namespace airssys::wasm::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr double kTargetNativeVsC = 1.2;    // native tier / gcc -O2, at most
constexpr double kTargetCompileWallS = 4.0;  // cold compile, wall, 2 cores

struct Options {
  int reps = 3;
  int iterations = AIRSSYS_COREMARK_ITERATIONS;
  int interp_iterations = AIRSSYS_COREMARK_INTERP_ITERATIONS;
};

// What CoreMark printed, checked.
struct Checked {
  std::string crcfinal;  // "0x382f"
  std::string problem;   // empty when the output is sound
};

std::string field(std::string_view out, std::string_view label) {
  const auto at = out.find(label);
  if (at == std::string_view::npos) return {};
  auto value = out.substr(at + label.size());
  value = value.substr(0, value.find('\n'));
  while (!value.empty() && (value.front() == ' ' || value.front() == ':')) value.remove_prefix(1);
  return std::string(value);
}

Checked check_output(std::string_view out, int iterations) {
  Checked c;
  c.crcfinal = field(out, "[0]crcfinal");
  if (out.find("2K performance run parameters for coremark.") == std::string_view::npos) {
    c.problem = "not the 2K performance run (seed CRC " + field(out, "seedcrc") + ")";
  } else if (const auto wrong = out.find("- should be"); wrong != std::string_view::npos) {
    // "[0]ERROR! list crc 0x1234 - should be 0xe714"
    const auto begin = out.rfind('\n', wrong);
    const auto line = out.substr(begin == std::string_view::npos ? 0 : begin + 1);
    c.problem = "CoreMark reports a wrong CRC: " + std::string(line.substr(0, line.find('\n')));
  } else if (field(out, "Iterations       ") != std::to_string(iterations)) {
    c.problem = fmt::format("{} iterations where {} were asked for",
                            field(out, "Iterations       "), iterations);
  } else if (c.crcfinal.empty()) {
    c.problem = "no final CRC in the output";
  }
  return c;
}

std::vector<std::string> coremark_args(int iterations) {
  return {"0x0", "0x0", "0x66", std::to_string(iterations)};
}

// One timed run: CPU and wall time of the compute, and what it printed.
struct Run {
  double cpu_ns = 0;
  double wall_ns = 0;
  std::string out;
};

std::expected<Run, std::string> run_native_c(int iterations) {
  std::vector<std::string> argv{AIRSSYS_COREMARK_NATIVE};
  for (auto& a : coremark_args(iterations)) argv.push_back(std::move(a));
  auto outcome = run_child(argv, 600s);
  if (!outcome) return std::unexpected(outcome.error());
  if (auto why = child_failure(*outcome); !why.empty()) return std::unexpected(why);
  return Run{outcome->cpu_ns, outcome->wall_ns, std::move(outcome->out)};
}

struct V8Run {
  Run run;
  double compile_ns = 0;
};

std::expected<V8Run, std::string> run_v8(int iterations) {
  if (::access(AIRSSYS_NODE, X_OK) != 0) {
    return std::unexpected(fmt::format("{} is not there (node is not installed)", AIRSSYS_NODE));
  }
  auto outcome = run_child({AIRSSYS_NODE, AIRSSYS_COREMARK_V8_SCRIPT, AIRSSYS_COREMARK_WASM,
                            std::to_string(iterations)},
                           600s);
  if (!outcome) return std::unexpected(outcome.error());
  if (auto why = child_failure(*outcome); !why.empty()) return std::unexpected(why);
  // The measurement: {"cpu_ns":...,"wall_ns":...,"compile_ns":...,"exit":0} on stderr.
  const auto at = outcome->err.rfind("{\"cpu_ns\":");
  if (at == std::string::npos) return std::unexpected("no measurement from node: " + outcome->err);
  auto number = [&](std::string_view key) {
    const auto k = outcome->err.find(fmt::format("\"{}\":", key), at);
    return k == std::string::npos ? -1.0
                                  : std::strtod(outcome->err.c_str() + k + key.size() + 3, nullptr);
  };
  if (number("exit") != 0) return std::unexpected(fmt::format("exit code {}", number("exit")));
  return V8Run{{number("cpu_ns"), number("wall_ns"), std::move(outcome->out)}, number("compile_ns")};
}

// The engine side: the module run as `airssys-wasm run` runs a core WASI
// command, its output kept.
class EngineRunner {
 public:
  static std::expected<EngineRunner, std::string> make(std::shared_ptr<engine::Engine> engine,
                                                       std::shared_ptr<const engine::Module> module) {
    auto context = security::WasmSecurityContext::create(
        "coremark", security::CapabilitySet{}, security::TrustLevel::Trusted);
    if (!context) return std::unexpected(context.error().to_string());
    EngineRunner r;
    r.engine_ = std::move(engine);
    r.module_ = std::move(module);
    r.security_ = std::move(*context);
    host::add_wasi(r.linker_);
    return r;
  }

  std::expected<Run, std::string> run(int iterations) {
    std::string out;
    host::WasiOptions wasi;
    wasi.args.push_back("coremark.wasm");
    for (auto& a : coremark_args(iterations)) wasi.args.push_back(std::move(a));
    wasi.stdout_sink = [&out](std::span<const uint8_t> bytes) { out.append(bytes.begin(), bytes.end()); };
    wasi.stderr_sink = wasi.stdout_sink;
    host::SecurityBinding binding;
    binding.context = security_;
    host::ComponentContext context(std::move(wasi), std::move(binding));
    engine::InstanceOptions options;
    options.user_data = &context;
    auto store = engine_->new_store();
    auto instance = store->instantiate(*module_, linker_, options);
    if (!instance) return std::unexpected(instance.error().to_string());
    const double cpu0 = self_cpu_ns();
    const auto t0 = Clock::now();
    auto result = (*instance)->call("_start", {}, engine::CallOptions{});
    const auto t1 = Clock::now();
    const double cpu1 = self_cpu_ns();
    if (!result && !(result.error().code == ErrorCode::ProcExit && result.error().exit_status == 0)) {
      return std::unexpected(result.error().to_string());
    }
    return Run{cpu1 - cpu0, std::chrono::duration<double, std::nano>(t1 - t0).count(),
               std::move(out)};
  }

 private:
  std::shared_ptr<engine::Engine> engine_;
  std::shared_ptr<const engine::Module> module_;
  std::shared_ptr<const security::WasmSecurityContext> security_;
  engine::Linker linker_;
};

std::string format_time(double ns) {
  if (ns >= 1e9) return fmt::format("{:.2f} s", ns / 1e9);
  if (ns >= 1e6) return fmt::format("{:.1f} ms", ns / 1e6);
  return fmt::format("{:.2f} us", ns / 1e3);
}

double median(std::vector<double> v) { return percentile(std::move(v), 50); }

int run(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() { return i + 1 < argc ? std::max(1, std::atoi(argv[++i])) : 0; };
    if (arg == "--reps") {
      options.reps = value();
    } else if (arg == "--iterations") {
      options.iterations = value();
    } else if (arg == "--interp-iterations") {
      options.interp_iterations = value();
    } else {
      std::fprintf(stderr,
                   "usage: bench_coremark [--reps N] [--iterations N] [--interp-iterations N]\n");
      return 2;
    }
    if (options.reps <= 0 || options.iterations <= 0 || options.interp_iterations <= 0) {
      std::fprintf(stderr, "bench_coremark: %s needs a positive number\n", argv[i - 1]);
      return 2;
    }
  }
  if (std::string_view(AIRSSYS_COREMARK_MISSING).size() > 0) {
    std::printf("bench_coremark: the CoreMark rows are skipped: %s\n", AIRSSYS_COREMARK_MISSING);
    return 0;
  }

  // ---- Cold compile on the native tier, then loads from its cache --------
  std::string pattern = (fs::temp_directory_path() / "airssys-bench-coremark-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) {
    std::fprintf(stderr, "bench_coremark: cannot create %s\n", pattern.c_str());
    return 1;
  }
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } cleanup{pattern};
  engine::NativeOptions native_options;
  native_options.cache_dir = fs::path(pattern) / "native";
  std::printf("bench_coremark: %s (%d iterations; interpreter %d), %d repetitions\n",
              AIRSSYS_COREMARK_WASM, options.iterations, options.interp_iterations, options.reps);
  std::fflush(stdout);

  std::shared_ptr<engine::Engine> native;
  std::shared_ptr<const engine::Module> native_module;
  double compile_wall_ns = 0, compile_cpu_ns = 0;
  long compile_rss_kib = 0;  // the largest compiler process; no other child has run yet
  {
    auto made = engine::Engine::native(native_options);
    if (!made) {
      std::fprintf(stderr, "bench_coremark: %s\n", made.error().to_string().c_str());
      return 1;
    }
    native = std::move(*made);
    const double cpu0 = self_cpu_ns() + children_cpu_ns();
    const auto t0 = Clock::now();
    auto loaded = native->load_file(AIRSSYS_COREMARK_WASM);
    compile_wall_ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    compile_cpu_ns = self_cpu_ns() + children_cpu_ns() - cpu0;
    compile_rss_kib = children_max_rss_kib();
    if (!loaded) {
      std::fprintf(stderr, "bench_coremark: native tier: %s\n", loaded.error().to_string().c_str());
      return 1;
    }
    native_module = std::move(*loaded);
  }
  std::vector<double> cached_loads;
  for (int i = 0; i < 5; ++i) {
    auto fresh = engine::Engine::native(native_options);
    if (!fresh) return 1;
    const auto t0 = Clock::now();
    auto loaded = (*fresh)->load_file(AIRSSYS_COREMARK_WASM);
    cached_loads.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    if (!loaded) {
      std::fprintf(stderr, "bench_coremark: load from the cache: %s\n",
                   loaded.error().to_string().c_str());
      return 1;
    }
  }
  const double cached_load_ns = median(cached_loads);

  std::shared_ptr<engine::Engine> interp = engine::Engine::interpreter();
  auto interp_module = interp->load_file(AIRSSYS_COREMARK_WASM);
  if (!interp_module) {
    std::fprintf(stderr, "bench_coremark: interpreter: %s\n",
                 interp_module.error().to_string().c_str());
    return 1;
  }
  auto native_runner = EngineRunner::make(native, native_module);
  auto interp_runner = EngineRunner::make(interp, *interp_module);
  if (!native_runner || !interp_runner) {
    std::fprintf(stderr, "bench_coremark: %s\n",
                 (!native_runner ? native_runner.error() : interp_runner.error()).c_str());
    return 1;
  }

  // ---- The reference CRCs: gcc's build at both iteration counts ----------
  std::string reference_crc, interp_reference_crc;
  for (auto [iterations, crc] : {std::pair{options.iterations, &reference_crc},
                                 std::pair{options.interp_iterations, &interp_reference_crc}}) {
    auto r = run_native_c(iterations);
    if (!r) {
      std::fprintf(stderr, "bench_coremark: native C: %s\n", r.error().c_str());
      return 1;
    }
    auto checked = check_output(r->out, iterations);
    if (!checked.problem.empty()) {
      std::fprintf(stderr, "bench_coremark: native C: %s\n", checked.problem.c_str());
      return 1;
    }
    *crc = checked.crcfinal;
  }

  // ---- The four sides, interleaved -----------------------------------------
  struct Side {
    std::string name;
    int iterations;
    std::vector<double> cpu_ns, wall_ns;  // per iteration
    std::optional<std::string> failure;
  };
  std::vector<Side> sides{{"native C (gcc -O2)", options.iterations, {}, {}, {}},
                          {"V8 (node)", options.iterations, {}, {}, {}},
                          {"native tier", options.iterations, {}, {}, {}},
                          {"interpreter", options.interp_iterations, {}, {}, {}}};
  std::vector<double> v8_compile_ns;
  for (int rep = 0; rep < options.reps; ++rep) {
    for (size_t k = 0; k < sides.size(); ++k) {
      Side& side = sides[(k + static_cast<size_t>(rep)) % sides.size()];
      if (side.failure) continue;
      std::expected<Run, std::string> r = std::unexpected("");
      if (side.name.starts_with("native C")) {
        r = run_native_c(side.iterations);
      } else if (side.name.starts_with("V8")) {
        auto v8 = run_v8(side.iterations);
        if (v8) {
          v8_compile_ns.push_back(v8->compile_ns);
          r = std::move(v8->run);
        } else {
          r = std::unexpected(v8.error());
        }
      } else if (side.name == "native tier") {
        r = native_runner->run(side.iterations);
      } else {
        r = interp_runner->run(side.iterations);
      }
      if (!r) {
        side.failure = r.error();
        std::fprintf(stderr, "bench_coremark: %s: %s\n", side.name.c_str(), r.error().c_str());
        continue;
      }
      auto checked = check_output(r->out, side.iterations);
      const std::string& want =
          side.iterations == options.iterations ? reference_crc : interp_reference_crc;
      if (checked.problem.empty() && checked.crcfinal != want) {
        checked.problem = fmt::format("final CRC {} where gcc's build gives {}", checked.crcfinal, want);
      }
      if (!checked.problem.empty()) {
        side.failure = checked.problem;
        std::fprintf(stderr, "bench_coremark: %s: %s\n", side.name.c_str(), checked.problem.c_str());
        continue;
      }
      side.cpu_ns.push_back(r->cpu_ns / side.iterations);
      side.wall_ns.push_back(r->wall_ns / side.iterations);
    }
    std::fprintf(stderr, "repetition %d of %d done\n", rep + 1, options.reps);
  }

  // ---- Report ------------------------------------------------------------------
  std::printf("\nCoreMark per iteration, medians of %d interleaved runs (CPU time; the "
              "interpreter ran %d iterations, the others %d); every output checked: "
              "CoreMark's own CRCs of the 2K performance run, final CRC = gcc's\n\n",
              options.reps, options.interp_iterations, options.iterations);
  std::printf("%-20s %12s %12s %10s %10s\n", "side", "CPU/iter", "wall/iter", "x gcc", "x V8");
  const Side& c = sides[0];
  const Side& v8 = sides[1];
  auto ok = [](const Side& s) { return !s.failure && !s.cpu_ns.empty(); };
  for (const auto& side : sides) {
    if (!ok(side)) {
      std::printf("%-20s FAILED: %s\n", side.name.c_str(), side.failure.value_or("no run").c_str());
      continue;
    }
    const double cpu = median(side.cpu_ns);
    std::printf("%-20s %12s %12s %10s %10s\n", side.name.c_str(), format_time(cpu).c_str(),
                format_time(median(side.wall_ns)).c_str(),
                ok(c) ? fmt::format("{:.2f}x", cpu / median(c.cpu_ns)).c_str() : "-",
                ok(v8) && &side != &v8 && &side != &c
                    ? fmt::format("{:.2f}x", cpu / median(v8.cpu_ns)).c_str()
                    : "-");
  }
  std::printf("\ncold compile on the native tier (fresh cache): %s wall, %s CPU (this process "
              "and the compilers it waited for); the largest compiler process peaked at %.0f MiB\n",
              format_time(compile_wall_ns).c_str(), format_time(compile_cpu_ns).c_str(),
              static_cast<double>(compile_rss_kib) / 1024);
  std::printf("load from the cache (a new engine each time, median of 5): %s\n",
              format_time(cached_load_ns).c_str());
  if (!v8_compile_ns.empty()) {
    std::printf("V8 compiling the same module (new WebAssembly.Module, median): %s wall\n",
                format_time(median(v8_compile_ns)).c_str());
  }
  std::printf("\n");
  const Side& nt = sides[2];
  if (ok(nt) && ok(c)) {
    const double r = median(nt.cpu_ns) / median(c.cpu_ns);
    std::printf("target native tier <= %.1fx gcc -O2: %.2fx: %s\n", kTargetNativeVsC, r,
                r <= kTargetNativeVsC ? "met" : "not met");
  }
  if (ok(nt) && ok(v8)) {
    const double r = median(nt.cpu_ns) / median(v8.cpu_ns);
    std::printf("target native tier faster than V8: %.2fx V8: %s\n", r, r < 1.0 ? "met" : "not met");
  }
  std::printf("target cold compile <= %.0f s wall on 2 cores: %.2f s (%ld cores here): %s\n",
              kTargetCompileWallS, compile_wall_ns / 1e9, ::sysconf(_SC_NPROCESSORS_ONLN),
              compile_wall_ns <= kTargetCompileWallS * 1e9 ? "met" : "not met");

  if (ok(c)) {
    const double base = median(c.cpu_ns);
    for (size_t i = 1; i < sides.size(); ++i) {
      if (!ok(sides[i])) continue;
      headline("coremark", fmt::format("per iteration: {}", sides[i].name), median(sides[i].cpu_ns),
               "ns", "gcc -O2", base);
    }
  }
  if (ok(nt) && ok(v8)) {
    headline("coremark", "per iteration: native tier", median(nt.cpu_ns), "ns", "V8",
             median(v8.cpu_ns));
  }
  if (!v8_compile_ns.empty()) {
    headline("coremark", "cold compile, native tier (wall)", compile_wall_ns, "ns",
             "V8 module compile", median(v8_compile_ns));
  } else {
    headline("coremark", "cold compile, native tier (wall)", compile_wall_ns, "ns");
  }
  headline("coremark", "cold compile, native tier (CPU)", compile_cpu_ns, "ns");
  headline("coremark", "cold compile, native tier: largest compiler process",
           static_cast<double>(compile_rss_kib) / 1024, "MiB");
  headline("coremark", "native tier: load from the cache", cached_load_ns, "ns");
  const bool failed = std::any_of(sides.begin(), sides.end(), [](const Side& s) { return s.failure.has_value(); });
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace airssys::wasm::bench

int main(int argc, char** argv) { return airssys::wasm::bench::run(argc, argv); }
