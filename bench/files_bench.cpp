// File read throughput: a component (bench/components/reader.c, plain libc
// read(2) in 64 KiB chunks) reading a 16 MiB file through WASI inside its
// filesystem.read grant, against a native read(2) of the same file in 64 KiB
// chunks, in the same run.
//
// The file is written once at start in a fresh temporary directory and read
// once before anything is measured, so both sides read from the page cache.
// Each read is timed on its own: natively open, read to the end, close; for
// the component its _start (wasi-libc's start-up with the preopens, open,
// the reads, close, the printed count), with the context, the store and the
// instantiation made before the clock starts. Each benchmark reports the
// median read as MiB/s and as time.
//
// main() runs the benchmarks (the usual --benchmark_* flags apply) and then
// prints a summary with the ratio against the native read. With
// --benchmark_repetitions=N the figures are medians over N repetitions.
// AIRSSYS_BENCH_DIR chooses where the file goes (default: the temporary
// directory).

#include <benchmark/benchmark.h>

#include "support/report.hpp"
#include <fcntl.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "airssys/wasm/security/capability.hpp"
#include "airssys/wasm/security/context.hpp"

namespace airssys::wasm::host {
namespace {

constexpr size_t kFileBytes = 16 * 1024 * 1024;
constexpr size_t kChunkBytes = 64 * 1024;
constexpr double kMiB = 1024.0 * 1024.0;

struct Fixtures {
  std::filesystem::path root;
  std::filesystem::path file;
  std::unique_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> reader;
  std::shared_ptr<const security::WasmSecurityContext> security;
  engine::Linker linker;

  ~Fixtures() {
    std::error_code ec;
    if (!root.empty()) std::filesystem::remove_all(root, ec);
  }
};

std::optional<Fixtures> g_fixtures;

Fixtures& fx() {
  return *g_fixtures;
}

// Reads `path` to its end in kChunkBytes chunks; the bytes read, or -1.
int64_t native_read(const std::filesystem::path& path, std::vector<uint8_t>& buffer) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int64_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), kChunkBytes);
    if (n < 0) {
      total = -1;
      break;
    }
    if (n == 0) break;
    total += n;
  }
  ::close(fd);
  return total;
}

bool load_fixtures(std::string& error) {
  auto& f = g_fixtures.emplace();
  const char* base = std::getenv("AIRSSYS_BENCH_DIR");
  std::string pattern =
      ((base ? std::filesystem::path(base) : std::filesystem::temp_directory_path()) /
       "airssys-files-bench-XXXXXX")
          .string();
  if (!::mkdtemp(pattern.data())) {
    error = fmt::format("cannot create a directory like {}", pattern);
    return false;
  }
  // Canonical: a grant beneath a symlinked directory preopens nothing.
  std::error_code ec;
  f.root = std::filesystem::canonical(pattern, ec);
  if (ec) {
    f.root = pattern;
    error = fmt::format("cannot resolve {}: {}", pattern, ec.message());
    return false;
  }
  f.file = f.root / "data.bin";

  std::vector<uint8_t> content(kFileBytes);
  std::mt19937_64 random(42);
  for (size_t i = 0; i < content.size(); i += 8) {
    const uint64_t word = random();
    std::copy_n(reinterpret_cast<const uint8_t*>(&word), 8, content.begin() + i);
  }
  std::FILE* out = std::fopen(f.file.c_str(), "wb");
  if (!out) {
    error = fmt::format("cannot create {}", f.file.string());
    return false;
  }
  const size_t written = std::fwrite(content.data(), 1, content.size(), out);
  if (std::fclose(out) != 0 || written != content.size()) {
    error = fmt::format("cannot write {}", f.file.string());
    return false;
  }
  // Into the page cache before anything is measured.
  std::vector<uint8_t> buffer(kChunkBytes);
  if (native_read(f.file, buffer) != static_cast<int64_t>(kFileBytes)) {
    error = fmt::format("cannot read {} back", f.file.string());
    return false;
  }

  f.engine = engine::Engine::interpreter();
  auto module = f.engine->load_file(AIRSSYS_BENCH_READER_WASM);
  if (!module) {
    error = module.error().to_string();
    return false;
  }
  f.reader = std::move(*module);

  security::PatternLists lists;
  lists[static_cast<size_t>(security::Permission::FsRead)] = {(f.root / "**").string()};
  auto capabilities = security::CapabilitySet::build(lists);
  if (!capabilities) {
    error = capabilities.error().to_string();
    return false;
  }
  auto context = security::WasmSecurityContext::create("files-bench", std::move(*capabilities),
                                                       security::TrustLevel::Trusted);
  if (!context) {
    error = context.error().to_string();
    return false;
  }
  f.security = std::move(*context);
  add_wasi(f.linker);
  return true;
}

// Single-read times of one benchmark run: each iteration's time is the read
// alone (manual time), and the median read is reported as counters.
class ReadTimes {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ReadTimes(benchmark::State& state) : state_(state) {
    seconds_.reserve(
        static_cast<size_t>(std::max<benchmark::IterationCount>(state.max_iterations, 1)));
  }
  void add(Clock::time_point start, Clock::time_point end) {
    const double s = std::chrono::duration<double>(end - start).count();
    state_.SetIterationTime(s);
    seconds_.push_back(s);
  }
  ~ReadTimes() {
    if (seconds_.empty()) return;
    const double median = bench::percentile(seconds_, 50);
    state_.counters["p50_ms"] = median * 1e3;
    state_.counters["MiB_per_s"] = kFileBytes / kMiB / median;
    state_.SetBytesProcessed(static_cast<int64_t>(seconds_.size() * kFileBytes));
  }

 private:
  benchmark::State& state_;
  std::vector<double> seconds_;
};

void BM_Read_native(benchmark::State& state) {
  std::vector<uint8_t> buffer(kChunkBytes);
  ReadTimes times(state);
  for (auto _ : state) {
    const auto start = ReadTimes::Clock::now();
    const int64_t n = native_read(fx().file, buffer);
    times.add(start, ReadTimes::Clock::now());
    benchmark::DoNotOptimize(buffer.data());
    if (n != static_cast<int64_t>(kFileBytes)) {
      state.SkipWithError("the native read came short");
      break;
    }
  }
}

void BM_Read_wasi(benchmark::State& state) {
  const std::string expected = fmt::format("{}\n", kFileBytes);
  ReadTimes times(state);
  for (auto _ : state) {
    WasiOptions wasi;
    wasi.args = {"reader", fx().file.string(), std::to_string(kChunkBytes)};
    std::string output;
    wasi.stdout_sink = [&](std::span<const uint8_t> b) { output.append(b.begin(), b.end()); };
    ComponentContext context(std::move(wasi), SecurityBinding{fx().security, nullptr, nullptr, {}, nullptr});
    engine::InstanceOptions options;
    options.user_data = &context;
    auto store = fx().engine->new_store();
    auto instance = store->instantiate(*fx().reader, fx().linker, options);
    if (!instance) {
      state.SkipWithError(("instantiate: " + instance.error().to_string()).c_str());
      break;
    }
    const auto start = ReadTimes::Clock::now();
    auto r = (*instance)->call("_start", {});
    times.add(start, ReadTimes::Clock::now());
    if (!r) {
      state.SkipWithError(("_start: " + r.error().to_string()).c_str());
      break;
    }
    if (output != expected) {
      state.SkipWithError(("the component printed " + output).c_str());
      break;
    }
  }
}

BENCHMARK(BM_Read_native)->Unit(benchmark::kMillisecond)->UseManualTime();
BENCHMARK(BM_Read_wasi)->Unit(benchmark::kMillisecond)->UseManualTime();

// ---- Summary ---------------------------------------------------------------

struct Measured {
  double mib_per_s = 0;
  double p50_ms = 0;
};

std::optional<Measured> measured(const bench::SummaryReporter& reporter, const std::string& name) {
  const double* rate = reporter.counter(name, "MiB_per_s");
  const double* p50 = reporter.counter(name, "p50_ms");
  if (!rate || !p50) return std::nullopt;
  return Measured{*rate, *p50};
}

void print_summary(const bench::SummaryReporter& reporter) {
  const int64_t reps = reporter.repetitions();
  fmt::print(
      "\nSummary: reads of a {} MiB file in {} KiB chunks (page cache), median read, {}; "
      "ratios against the native read in this run\n",
      kFileBytes / (1024 * 1024), kChunkBytes / 1024,
      reps > 1 ? fmt::format("medians of {} repetitions", reps) : "one run");
  const auto base = measured(reporter, "BM_Read_native");
  const auto wasi = measured(reporter, "BM_Read_wasi");
  if (!base && !wasi) return;
  fmt::print("  {:<26} {:>12} {:>12}   {:>16}\n", "", "MiB/s", "time", "throughput ratio");
  if (base) {
    fmt::print("  {:<26} {:>12.0f} {:>9.2f} ms\n", "native read(2)", base->mib_per_s, base->p50_ms);
  }
  if (wasi) {
    std::string line = fmt::format("  {:<26} {:>12.0f} {:>9.2f} ms", "component through WASI",
                                   wasi->mib_per_s, wasi->p50_ms);
    if (base && base->mib_per_s > 0) {
      line += fmt::format("   {:>15.2f}x", wasi->mib_per_s / base->mib_per_s);
    }
    fmt::print("{}\n", line);
    if (base) {
      bench::headline("files", fmt::format("WASI file read, {} KiB chunks, time", kChunkBytes / 1024),
                      wasi->p50_ms, "ms", "native read(2)", base->p50_ms);
    }
  }
}

}  // namespace
}  // namespace airssys::wasm::host

int main(int argc, char** argv) {
  namespace host = airssys::wasm::host;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::string error;
  if (!host::load_fixtures(error)) {
    std::fprintf(stderr, "bench_files: %s\n", error.c_str());
    host::g_fixtures.reset();
    return 1;
  }
  airssys::wasm::bench::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  host::print_summary(reporter);
  host::g_fixtures.reset();
  benchmark::Shutdown();
  return 0;
}
