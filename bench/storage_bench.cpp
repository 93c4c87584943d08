// Key-value benchmarks: get and set through storage::KeyValueStore against a
// direct SQLite baseline, plain prepared statements on a database of the same
// schema and settings (WAL, same synchronous mode), in the same run.
//
// Every operation is timed on its own, so each benchmark reports the median
// (p50) and the 99th percentile (p99) of single operations. Keys are drawn
// at random from 10 000 keys with 100-byte values; a set replaces a value.
// The store's extra work per set is its transaction (BEGIN IMMEDIATE, the
// old size and the namespace's usage read, the usage written, COMMIT); per
// get, a pooled connection.
//
// main() runs the benchmarks (the usual --benchmark_* flags apply) and then
// prints a summary with the ratios against the baseline. With
// --benchmark_repetitions=N the figures are medians over N repetitions.
// AIRSSYS_BENCH_DIR chooses where the databases go (default: the temporary
// directory); set durability is the file system's fsync.

#include <benchmark/benchmark.h>

#include "support/report.hpp"
#include <fmt/format.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "airssys/wasm/storage/kv.hpp"

namespace airssys::wasm::storage {
namespace {

constexpr int kKeys = 10'000;
constexpr size_t kValueBytes = 100;
constexpr std::string_view kNamespace = "bench";

std::string key_of(int i) {
  return fmt::format("bench:key:{:05}", i);
}

// The baseline: one connection, prepared statements, autocommit.
class DirectSqlite {
 public:
  static std::unique_ptr<DirectSqlite> open(const std::filesystem::path& file,
                                            Durability durability) {
    auto d = std::unique_ptr<DirectSqlite>(new DirectSqlite);
    if (sqlite3_open_v2(file.c_str(), &d->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        nullptr) != SQLITE_OK) {
      return nullptr;
    }
    const std::string setup = fmt::format(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={};"
        "CREATE TABLE IF NOT EXISTS kv (component TEXT NOT NULL, key BLOB NOT NULL, "
        "value BLOB NOT NULL, PRIMARY KEY (component, key)) WITHOUT ROWID;",
        durability == Durability::Full ? "FULL" : "NORMAL");
    if (sqlite3_exec(d->db_, setup.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) return nullptr;
    if (sqlite3_prepare_v2(d->db_, "SELECT value FROM kv WHERE component = ?1 AND key = ?2", -1,
                           &d->get_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(d->db_,
                           "INSERT INTO kv (component, key, value) VALUES (?1, ?2, ?3) "
                           "ON CONFLICT (component, key) DO UPDATE SET value = excluded.value",
                           -1, &d->set_, nullptr) != SQLITE_OK) {
      return nullptr;
    }
    return d;
  }
  ~DirectSqlite() {
    sqlite3_finalize(get_);
    sqlite3_finalize(set_);
    sqlite3_close_v2(db_);
  }

  // The value's size, copied into `out` when it fits; -1 when absent or on failure.
  int64_t get(std::string_view key, std::span<uint8_t> out) {
    sqlite3_bind_text(get_, 1, kNamespace.data(), static_cast<int>(kNamespace.size()),
                      SQLITE_STATIC);
    sqlite3_bind_blob(get_, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    int64_t size = -1;
    if (sqlite3_step(get_) == SQLITE_ROW) {
      const void* data = sqlite3_column_blob(get_, 0);
      size = sqlite3_column_bytes(get_, 0);
      if (static_cast<size_t>(size) <= out.size()) std::memcpy(out.data(), data, size);
    }
    sqlite3_reset(get_);
    return size;
  }

  bool set(std::string_view key, std::string_view value) {
    sqlite3_bind_text(set_, 1, kNamespace.data(), static_cast<int>(kNamespace.size()),
                      SQLITE_STATIC);
    sqlite3_bind_blob(set_, 2, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    sqlite3_bind_blob(set_, 3, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    const bool ok = sqlite3_step(set_) == SQLITE_DONE;
    sqlite3_reset(set_);
    return ok;
  }

  bool exec(const char* sql) {
    return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  }

 private:
  DirectSqlite() = default;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* set_ = nullptr;
};

struct Fixtures {
  std::filesystem::path root;
  std::map<Durability, std::unique_ptr<KeyValueStore>> stores;
  std::map<Durability, std::unique_ptr<DirectSqlite>> direct;
  std::vector<std::string> keys;

  ~Fixtures() {
    stores.clear();
    direct.clear();
    std::error_code ec;
    if (!root.empty()) std::filesystem::remove_all(root, ec);
  }
};

std::optional<Fixtures> g_fixtures;

Fixtures& fx() {
  return *g_fixtures;
}

const char* durability_name(Durability d) {
  return d == Durability::Full ? "FULL" : "NORMAL";
}

bool load_fixtures(std::string& error) {
  auto& f = g_fixtures.emplace();
  const char* base = std::getenv("AIRSSYS_BENCH_DIR");
  std::string pattern =
      ((base ? std::filesystem::path(base) : std::filesystem::temp_directory_path()) /
       "airssys-kv-bench-XXXXXX")
          .string();
  if (!::mkdtemp(pattern.data())) {
    error = fmt::format("cannot create a directory like {}", pattern);
    return false;
  }
  f.root = pattern;
  for (int i = 0; i < kKeys; ++i) f.keys.push_back(key_of(i));
  const std::string value(kValueBytes, 'v');
  // Both sides are loaded with one transaction per key, without an fsync,
  // so each WAL file has grown to its checkpoint size and wrapped before
  // anything is measured: no measured commit extends a file.
  for (Durability d : {Durability::Full, Durability::Normal}) {
    const std::string name = durability_name(d);
    const auto dir = f.root / ("store-" + name);
    auto loader = KeyValueStore::open({.data_dir = dir, .durability = Durability::Normal});
    if (!loader) {
      error = loader.error().to_string();
      return false;
    }
    for (const auto& k : f.keys) {
      if (auto r = (*loader)->set(kNamespace, k, value); !r) {
        error = r.error().to_string();
        return false;
      }
    }
    // Opened before the loader closes, so that closing it keeps the WAL file.
    auto store = KeyValueStore::open({.data_dir = dir, .durability = d});
    if (!store) {
      error = store.error().to_string();
      return false;
    }
    loader->reset();

    auto direct = DirectSqlite::open(f.root / ("direct-" + name + ".db"), Durability::Normal);
    if (!direct) {
      error = "cannot open the direct SQLite baseline";
      return false;
    }
    for (const auto& k : f.keys) {
      if (!direct->set(k, value)) {
        error = "cannot load the direct SQLite baseline";
        return false;
      }
    }
    if (d == Durability::Full && !direct->exec("PRAGMA synchronous=FULL")) {
      error = "cannot set synchronous=FULL on the direct SQLite baseline";
      return false;
    }
    f.stores[d] = std::move(*store);
    f.direct[d] = std::move(direct);
  }
  return true;
}

// Single-operation latencies of one benchmark run, reported as counters.
class Latencies {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Latencies(benchmark::State& state) : state_(state) {
    ns_.reserve(static_cast<size_t>(std::max<benchmark::IterationCount>(state.max_iterations, 1)));
  }
  void add(Clock::time_point start) {
    ns_.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count());
  }
  ~Latencies() {
    if (ns_.empty()) return;
    state_.counters["p50_ns"] = bench::percentile(ns_, 50);
    state_.counters["p99_ns"] = bench::percentile(ns_, 99);
  }

 private:
  benchmark::State& state_;
  std::vector<double> ns_;
};

enum class Target { Store, Direct };

void BM_Get(benchmark::State& state, Target target, Durability durability) {
  std::mt19937 random(42);
  std::uniform_int_distribution<int> pick(0, kKeys - 1);
  std::vector<uint8_t> out(256);
  KeyValueStore& store = *fx().stores[durability];
  DirectSqlite& direct = *fx().direct[durability];
  Latencies latencies(state);
  for (auto _ : state) {
    const std::string& key = fx().keys[static_cast<size_t>(pick(random))];
    const auto start = Latencies::Clock::now();
    int64_t size;
    if (target == Target::Store) {
      auto r = store.read(kNamespace, key, out);
      size = r && *r ? static_cast<int64_t>(**r) : -1;
    } else {
      size = direct.get(key, out);
    }
    latencies.add(start);
    if (size != static_cast<int64_t>(kValueBytes)) {
      state.SkipWithError("a preloaded key is missing");
      break;
    }
  }
}

// Every value ever written is new: SQLite skips rewriting a row with the
// same bytes, and such a commit writes and syncs nothing.
uint64_t g_writes = 0;

void BM_Set(benchmark::State& state, Target target, Durability durability) {
  std::mt19937 random(static_cast<unsigned>(g_writes));
  std::uniform_int_distribution<int> pick(0, kKeys - 1);
  std::string value(kValueBytes, 'w');
  KeyValueStore& store = *fx().stores[durability];
  DirectSqlite& direct = *fx().direct[durability];
  Latencies latencies(state);
  for (auto _ : state) {
    const std::string& key = fx().keys[static_cast<size_t>(pick(random))];
    const uint64_t n = ++g_writes;
    std::memcpy(value.data(), &n, sizeof n);
    const auto start = Latencies::Clock::now();
    const bool ok = target == Target::Store ? store.set(kNamespace, key, value).has_value()
                                            : direct.set(key, value);
    latencies.add(start);
    if (!ok) {
      state.SkipWithError("a set failed");
      break;
    }
  }
}

BENCHMARK_CAPTURE(BM_Get, direct, Target::Direct, Durability::Full)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Get, store, Target::Store, Durability::Full)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Set, direct_full, Target::Direct, Durability::Full)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Set, store_full, Target::Store, Durability::Full)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Set, direct_normal, Target::Direct, Durability::Normal)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Set, store_normal, Target::Store, Durability::Normal)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// ---- Summary ---------------------------------------------------------------

struct Measured {
  double p50 = 0;
  double p99 = 0;
};

std::optional<Measured> measured(const bench::SummaryReporter& reporter, const std::string& name) {
  const double* p50 = reporter.counter(name, "p50_ns");
  const double* p99 = reporter.counter(name, "p99_ns");
  if (!p50 || !p99) return std::nullopt;
  return Measured{*p50, *p99};
}

using bench::format_ns;

void print_summary(const bench::SummaryReporter& reporter) {
  const int64_t reps = reporter.repetitions();
  fmt::print("\nSummary: single operations, {}; ratios against direct SQLite in this run\n",
             reps > 1 ? fmt::format("medians of {} repetitions", reps) : "one run");
  struct Pair {
    const char* title;
    const char* baseline;
    const char* store;
  };
  const Pair pairs[] = {
      {"get, 100-byte value (WAL)", "BM_Get/direct", "BM_Get/store"},
      {"set, 100-byte value (WAL, synchronous=FULL: fsync per commit)", "BM_Set/direct_full",
       "BM_Set/store_full"},
      {"set, 100-byte value (WAL, synchronous=NORMAL)", "BM_Set/direct_normal",
       "BM_Set/store_normal"},
  };
  for (const auto& p : pairs) {
    const auto base = measured(reporter, p.baseline);
    const auto m = measured(reporter, p.store);
    if (!base && !m) continue;
    fmt::print("\n{}\n  {:<16} {:>10} {:>10}   {:>12} {:>12}\n", p.title, "", "median", "p99",
               "median ratio", "p99 ratio");
    if (base) {
      fmt::print("  {:<16} {:>10} {:>10}\n", "direct SQLite", format_ns(base->p50),
                 format_ns(base->p99));
    }
    if (m) {
      std::string line = fmt::format("  {:<16} {:>10} {:>10}", "KeyValueStore", format_ns(m->p50),
                                     format_ns(m->p99));
      if (base && base->p50 > 0 && base->p99 > 0) {
        line += fmt::format("   {:>11.2f}x {:>11.2f}x", m->p50 / base->p50, m->p99 / base->p99);
      }
      fmt::print("{}\n", line);
    }
    if (m && base) {
      bench::headline("state", std::string(p.title) + ", median", m->p50, "ns", "direct SQLite",
                      base->p50);
    }
  }
}

}  // namespace
}  // namespace airssys::wasm::storage

int main(int argc, char** argv) {
  namespace storage = airssys::wasm::storage;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::string error;
  if (!storage::load_fixtures(error)) {
    std::fprintf(stderr, "bench_storage: %s\n", error.c_str());
    storage::g_fixtures.reset();
    return 1;
  }
  airssys::wasm::bench::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  storage::print_summary(reporter);
  storage::g_fixtures.reset();
  benchmark::Shutdown();
  return 0;
}
