// Density: N = 100, 1,000 and 10,000 idle components on one host, on the
// interpreter and on the native tier, against V8 instances of the same
// module, in one run.
//
// The component is bench/components/idle.wat: one page (64 KiB) of linear
// memory, a message handler that does nothing, and an airssys_init that
// writes to every 4 KiB of that page, so the page is resident everywhere.
// Each (tier, N) is measured in a process of its own (this driver, run again
// with --child), which starts the components the way `up` does once they are
// admitted: for each one its module is loaded with component::load_tiered
// from the bytes (the native engine finds the module in its cache: the driver
// compiled it into a fresh cache directory before), a security context of its
// own, a log sink, and ComponentRuntime::start on a ThreadPoolScheduler with
// one worker per core, an audit log in a file. One component is started and
// Ready before anything is measured (first-use costs of the process). Then:
//   host memory per component  (VmRSS after all N are Ready - VmRSS before) / N
//                              - 64 KiB, the page every component wrote to;
//                              the page tables the N components added (VmPTE)
//                              are shown beside it and not counted
//   CPU per start              the process's CPU time (every thread) from the
//                              first start until all N are Ready, / N; the N
//                              starts go in 10 batches, each waited for until
//                              Ready, and the first and the last batch's CPU
//                              per start show how the cost moves with the
//                              number already running
//   start all, stop all        wall time from the first start until all N are
//                              Ready, and of ComponentRuntime::stop() (every
//                              component stopped, every actor gone)
// The baseline, in the same run: node (bench/density_v8.cjs) instantiating N
// instances of the same module and calling airssys_init on each; its resident
// set delta / N - 64 KiB, and its CPU per instance.
//
// A (tier, N) that would not fit (its projected memory is past half of what
// the machine has available, or its projected start and stop past
// --max-seconds, from the smaller N before it) is left out and said so.
//
// Usage: bench_density [--n 100,1000,10000] [--tiers interp,native] [--max-seconds S]

#include <stdlib.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/component/tier.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/capability.hpp"
#include "airssys/wasm/security/context.hpp"
#include "support/child.hpp"
#include "support/report.hpp"

namespace airssys::wasm::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr double kPageKib = 64;  // the linear memory every component has written to
constexpr int kBatches = 10;
// Targets (issue "Native speed and density").
constexpr double kTargetNativeKib = 16;
constexpr double kTargetInterpKib = 64;
constexpr double kTargetStartUs = 150;  // CPU per start at N = 10,000
constexpr double kTargetAllS = 5;       // 10,000 started, and stopped

double ns_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

// A field of /proc/self/status in KiB ("VmRSS", "VmPTE").
double status_kib(std::string_view key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ':') {
      return std::strtod(line.c_str() + key.size() + 1, nullptr);
    }
  }
  return 0;
}

// The lines of /proc/self/maps: the process's memory mappings.
double mapping_count() {
  std::ifstream in("/proc/self/maps");
  std::string line;
  double count = 0;
  while (std::getline(in, line)) ++count;
  return count;
}

// ---- The child: one tier, N components ------------------------------------

struct ChildResult {
  std::map<std::string, double> values;
  std::string error;
};

// "key=value key=value ..." on one line: what the child prints last.
std::string encode(const std::map<std::string, double>& values) {
  std::string line = "density-result";
  for (const auto& [k, v] : values) line += fmt::format(" {}={:.0f}", k, v);
  return line;
}

std::optional<std::map<std::string, double>> decode(std::string_view out) {
  const auto at = out.rfind("density-result");
  if (at == std::string_view::npos) return std::nullopt;
  std::string line(out.substr(at, out.find('\n', at) - at));
  std::istringstream words(line);
  std::string word;
  std::map<std::string, double> values;
  words >> word;
  while (words >> word) {
    const auto eq = word.find('=');
    if (eq == std::string::npos) return std::nullopt;
    values[word.substr(0, eq)] = std::strtod(word.c_str() + eq + 1, nullptr);
  }
  return values;
}

int fail(std::string_view what) {
  std::fprintf(stderr, "bench_density: %.*s\n", static_cast<int>(what.size()), what.data());
  return 1;
}

int child(const std::string& tier_name, int n, const fs::path& cache_dir, const fs::path& work) {
  const bool native_tier = tier_name == "native";
  const auto tier = native_tier ? component::TierChoice::Native : component::TierChoice::Interp;
  std::shared_ptr<engine::Engine> interp = engine::Engine::interpreter();
  std::shared_ptr<engine::Engine> native;
  if (native_tier) {
    engine::NativeOptions options;
    options.cache_dir = cache_dir;
    auto made = engine::Engine::native(options);
    if (!made) return fail(made.error().to_string());
    native = std::move(*made);
  }
  auto bytes = engine::read_module_file(AIRSSYS_IDLE_WASM);
  if (!bytes) return fail(bytes.error().to_string());
  auto audit = security::AuditLog::open(work / fmt::format("audit-{}-{}.log", tier_name, n));
  if (!audit) return fail(audit.error().to_string());

  actor::ThreadPoolScheduler scheduler(actor::ThreadPoolOptions{0});
  component::ComponentRuntimeOptions system_options;
  system_options.engine = interp;
  system_options.audit = audit->get();
  auto system = std::make_unique<component::ComponentRuntime>(scheduler, system_options);
  struct Shutdown {
    std::unique_ptr<component::ComponentRuntime>* system;
    actor::Scheduler* scheduler;
    ~Shutdown() {
      (*system)->stop();
      scheduler->shutdown();  // before the system goes: its actors refer to it
      system->reset();
    }
  } shutdown{&system, &scheduler};

  auto start_one = [&](const std::string& name) -> Result<void> {
    AIRSSYS_TRY_ASSIGN(auto loaded, component::load_tiered(tier, *bytes, "idle.wasm", interp, native));
    if (loaded.native_refused) return std::unexpected(*loaded.native_refused);
    AIRSSYS_TRY_ASSIGN(auto context, security::WasmSecurityContext::create(
                                         name, security::CapabilitySet{},
                                         security::TrustLevel::Trusted));
    component::ComponentSpec spec;
    spec.name = name;
    spec.module = std::move(loaded.module);
    spec.engine = std::move(loaded.engine);
    spec.tier_up = std::move(loaded.tier_up);
    spec.security = std::move(context);
    spec.log_sink = [](const host::LogLine&) {};
    return system->start(std::move(spec));
  };
  const auto deadline = Clock::now() + 30min;
  auto await_ready = [&](const std::string& name) -> std::string {
    auto status = system->await_settled(name, deadline);
    if (!status) return name + " is unknown";
    if (status->state != component::ComponentState::Ready) {
      return fmt::format("{} is {}{}", name, component::component_state_name(status->state),
                         status->last_error ? ": " + status->last_error->to_string() : "");
    }
    if (native_tier != (status->tier == engine::Tier::Native)) {
      return fmt::format("{} runs on the wrong tier", name);
    }
    return {};
  };

  // First-use costs, before anything is measured.
  if (auto ok = start_one("warm-up"); !ok) return fail(ok.error().to_string());
  if (auto why = await_ready("warm-up"); !why.empty()) return fail(why);
  audit->get()->flush();

  std::map<std::string, double> r;
  r["rss_before_kib"] = status_kib("VmRSS");
  r["pte_before_kib"] = status_kib("VmPTE");
  r["maps_before"] = mapping_count();
  const double cpu0 = self_cpu_ns();
  const auto t0 = Clock::now();
  int started = 0;
  std::string error;  // why a start failed; the components before it are measured
  for (int batch = 0; batch < kBatches && error.empty(); ++batch) {
    const int end = static_cast<int>(static_cast<int64_t>(n) * (batch + 1) / kBatches);
    const double batch_cpu0 = self_cpu_ns();
    const int first = started;
    for (; started < end; ++started) {
      if (auto ok = start_one(fmt::format("idle-{}", started)); !ok) {
        error = fmt::format("component {} of {} did not start: {}", started + 1, n,
                            ok.error().to_string());
        break;
      }
    }
    for (int i = first; i < started; ++i) {
      if (auto why = await_ready(fmt::format("idle-{}", i)); !why.empty()) {
        if (error.empty()) error = fmt::format("component {} of {}: {}", i + 1, n, why);
        started = i;  // the ones before it are Ready
        break;
      }
    }
    const double per_start = (self_cpu_ns() - batch_cpu0) / std::max(1, started - first);
    if (batch == 0) r["first_batch_cpu_ns"] = per_start;
    if (error.empty() || !r.contains("last_batch_cpu_ns")) r["last_batch_cpu_ns"] = per_start;
  }
  r["start_wall_ns"] = ns_since(t0);
  r["start_cpu_ns"] = self_cpu_ns() - cpu0;
  audit->get()->flush();  // the start's audit records are written, not queued
  r["rss_after_kib"] = status_kib("VmRSS");
  r["pte_after_kib"] = status_kib("VmPTE");
  r["maps_after"] = mapping_count();

  const double stop_cpu0 = self_cpu_ns();
  const auto t1 = Clock::now();
  system->stop();
  r["stop_wall_ns"] = ns_since(t1);
  r["stop_cpu_ns"] = self_cpu_ns() - stop_cpu0;
  r["n"] = started;
  r["asked"] = n;
  for (const auto& name : system->names()) {
    auto status = system->status(name);
    if (!status || status->state != component::ComponentState::Terminated) {
      if (error.empty()) error = fmt::format("{} is not Terminated after stop()", name);
    }
  }
  if (!error.empty()) std::printf("density-error %s\n", error.c_str());
  if (started == 0) return fail(error);
  std::printf("%s\n", encode(r).c_str());
  return 0;
}

// ---- The parent ---------------------------------------------------------------

struct V8Result {
  int made = 0;
  double rss_kib = 0, cpu_ns = 0, wall_ns = 0;
  std::string error;
};

std::expected<V8Result, std::string> run_v8(int n) {
  if (::access(AIRSSYS_NODE, X_OK) != 0) {
    return std::unexpected(fmt::format("{} is not there (node is not installed)", AIRSSYS_NODE));
  }
  auto outcome = run_child({AIRSSYS_NODE, AIRSSYS_DENSITY_V8_SCRIPT, AIRSSYS_IDLE_WASM,
                            std::to_string(n)},
                           30min);
  if (!outcome) return std::unexpected(outcome.error());
  if (auto why = child_failure(*outcome); !why.empty()) return std::unexpected(why);
  const std::string& out = outcome->out;
  auto number = [&](std::string_view key) {
    const auto k = out.find(fmt::format("\"{}\":", key));
    return k == std::string::npos ? -1.0 : std::strtod(out.c_str() + k + key.size() + 3, nullptr);
  };
  V8Result r;
  r.made = static_cast<int>(number("made"));
  if (r.made < 0) return std::unexpected("no measurement from node: " + out + outcome->err);
  r.rss_kib = (number("rss_after") - number("rss_before")) / 1024;
  r.cpu_ns = number("cpu_ns");
  r.wall_ns = number("wall_ns");
  const auto e = out.find("\"error\":\"");
  if (e != std::string::npos) r.error = out.substr(e + 9, out.find('"', e + 9) - e - 9);
  return r;
}

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const auto comma = text.find(',');
    parts.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return parts;
}

std::string format_time(double ns) {
  if (ns >= 1e9) return fmt::format("{:.2f} s", ns / 1e9);
  if (ns >= 1e6) return fmt::format("{:.1f} ms", ns / 1e6);
  return fmt::format("{:.0f} us", ns / 1e3);
}

std::string max_map_count() {
  std::ifstream in("/proc/sys/vm/max_map_count");
  std::string value;
  return in >> value ? value : "unknown";
}

double available_kib() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("MemAvailable:")) return std::strtod(line.c_str() + 13, nullptr);
  }
  return 0;
}

struct Measured {
  std::string tier;
  int n = 0;  // asked for
  std::map<std::string, double> v;
  std::string skipped;  // or why it was left out / failed
  std::string error;    // why fewer than n started; those that did are measured
  double ready() const { return v.at("n"); }
  bool complete() const { return skipped.empty() && error.empty(); }
  double per_component_kib() const {
    return (v.at("rss_after_kib") - v.at("rss_before_kib")) / ready() - kPageKib;
  }
  double pte_per_component_kib() const {
    return (v.at("pte_after_kib") - v.at("pte_before_kib")) / ready();
  }
  double maps_per_component() const { return (v.at("maps_after") - v.at("maps_before")) / ready(); }
  double cpu_per_start_ns() const { return v.at("start_cpu_ns") / ready(); }
};

int parent(int argc, char** argv) {
  std::vector<int> ns{100, 1000, 10000};
  std::vector<std::string> tiers{"interp", "native"};
  double max_seconds = 900;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--n" && i + 1 < argc) {
      ns.clear();
      for (const auto& p : split(argv[++i])) ns.push_back(std::max(1, std::atoi(p.c_str())));
    } else if (arg == "--tiers" && i + 1 < argc) {
      tiers = split(argv[++i]);
    } else if (arg == "--max-seconds" && i + 1 < argc) {
      max_seconds = std::max(1.0, std::strtod(argv[++i], nullptr));
    } else {
      std::fprintf(stderr, "usage: bench_density [--n 100,1000,10000] [--tiers interp,native] "
                           "[--max-seconds S]\n");
      return 2;
    }
  }
  std::sort(ns.begin(), ns.end());
  for (const auto& t : tiers) {
    if (t != "interp" && t != "native") return fail("a tier is interp or native, not " + t);
  }

  std::string pattern = (fs::temp_directory_path() / "airssys-bench-density-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) return fail("cannot create " + pattern);
  struct Cleanup {
    fs::path path;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } cleanup{pattern};
  const fs::path work = pattern;
  const fs::path cache_dir = work / "native";
  if (std::find(tiers.begin(), tiers.end(), "native") != tiers.end()) {
    engine::NativeOptions options;
    options.cache_dir = cache_dir;
    auto native = engine::Engine::native(options);
    if (!native) return fail(native.error().to_string());
    const auto t0 = Clock::now();
    auto compiled = (*native)->load_file(AIRSSYS_IDLE_WASM);
    if (!compiled) return fail("native compile: " + compiled.error().to_string());
    std::printf("bench_density: idle.wasm compiled into a fresh native cache in %s\n",
                format_time(ns_since(t0)).c_str());
  }
  std::printf("bench_density: %s, load average at the start: ", AIRSSYS_IDLE_WASM);
  double load[3] = {0, 0, 0};
  if (::getloadavg(load, 3) == 3) std::printf("%.2f %.2f %.2f\n", load[0], load[1], load[2]);
  std::fflush(stdout);

  std::vector<Measured> rows;
  std::map<int, std::expected<V8Result, std::string>> v8;
  for (int n : ns) {
    v8.emplace(n, run_v8(n));
    std::fprintf(stderr, "V8, N = %d done\n", n);
    for (const auto& tier : tiers) {
      Measured m{tier, n, {}, {}, {}};
      // The run before (a smaller N) projects this one.
      const Measured* before = nullptr;
      for (const auto& r : rows) {
        if (r.tier == tier && r.complete()) before = &r;
      }
      if (before) {
        const double scale = static_cast<double>(n) / before->n;
        const double need_kib = (before->v.at("rss_after_kib") - before->v.at("rss_before_kib")) * scale;
        const double seconds = (before->v.at("start_wall_ns") + before->v.at("stop_wall_ns")) * scale / 1e9;
        if (need_kib > available_kib() / 2) {
          m.skipped = fmt::format("left out: it would need about {:.1f} GiB, more than half of the "
                                  "{:.1f} GiB available",
                                  need_kib / 1048576, available_kib() / 1048576);
        } else if (seconds > max_seconds) {
          m.skipped = fmt::format("left out: starting and stopping would take about {:.0f} s "
                                  "(more than --max-seconds {:.0f})",
                                  seconds, max_seconds);
        }
      }
      if (m.skipped.empty()) {
        auto outcome = run_child({"/proc/self/exe", "--child", tier, std::to_string(n),
                                  cache_dir.string(), work.string()},
                                 std::chrono::seconds(static_cast<int64_t>(max_seconds * 2 + 300)));
        if (!outcome) {
          m.skipped = "FAILED: " + outcome.error();
        } else if (auto why = child_failure(*outcome); !why.empty()) {
          m.skipped = "FAILED: " + why;
        } else if (auto values = decode(outcome->out)) {
          m.v = std::move(*values);
          if (const auto at = outcome->out.find("density-error "); at != std::string::npos) {
            m.error = outcome->out.substr(at + 14, outcome->out.find('\n', at) - at - 14);
          }
        } else {
          m.skipped = "FAILED: no result line: " + outcome->out.substr(0, 300);
        }
      }
      std::fprintf(stderr, "%s, N = %d: %s\n", tier.c_str(), n,
                   !m.skipped.empty() ? m.skipped.c_str()
                   : !m.error.empty() ? m.error.c_str()
                                      : "done");
      rows.push_back(std::move(m));
    }
  }

  std::printf("\nidle components, one process per row; memory = VmRSS delta / N - 64 KiB (the "
              "page each wrote to); CPU = the process's, every thread, / N\n\n");
  std::printf("%-7s %6s %12s %10s %9s %11s %11s %11s %11s %11s\n", "tier", "N", "memory/comp",
              "PTE/comp", "maps/comp", "CPU/start", "first 10%", "last 10%", "start all",
              "stop all");
  for (int n : ns) {
    for (const auto& m : rows) {
      if (m.n != n) continue;
      if (!m.skipped.empty()) {
        std::printf("%-7s %6d %s\n", m.tier.c_str(), n, m.skipped.c_str());
        continue;
      }
      std::printf("%-7s %6.0f %9.1f KB %7.1f KB %9.1f %11s %11s %11s %11s %11s\n",
                  m.tier.c_str(), m.ready(), m.per_component_kib(), m.pte_per_component_kib(),
                  m.maps_per_component(), format_time(m.cpu_per_start_ns()).c_str(),
                  format_time(m.v.at("first_batch_cpu_ns")).c_str(),
                  format_time(m.v.at("last_batch_cpu_ns")).c_str(),
                  format_time(m.v.at("start_wall_ns")).c_str(),
                  format_time(m.v.at("stop_wall_ns")).c_str());
      if (!m.error.empty()) {
        std::printf("%-7s %6s ^ only %.0f of %d started (%.0f mappings in the process then; "
                    "vm.max_map_count %s): %s\n",
                    "", "", m.ready(), m.n, m.v.at("maps_after"), max_map_count().c_str(),
                    m.error.c_str());
      }
    }
    const auto& b = v8.at(n);
    if (!b) {
      std::printf("%-7s %6d FAILED: %s\n", "V8", n, b.error().c_str());
    } else if (b->made == 0) {
      std::printf("%-7s %6d no instance made: %s\n", "V8", n, b->error.c_str());
    } else {
      std::printf("%-7s %6d %9.1f KB %10s %9s %11s %11s %11s %11s %11s%s\n", "V8", b->made,
                  b->rss_kib / b->made - kPageKib, "-", "-", format_time(b->cpu_ns / b->made).c_str(),
                  "-", "-", format_time(b->wall_ns).c_str(), "-",
                  b->made < n ? fmt::format("  (of {}: {})", n, b->error).c_str() : "");
    }
  }
  std::printf("(KB = 1024 bytes; maps/comp: memory mappings (/proc/self/maps lines) per "
              "component; first/last 10%%: CPU per start of the first and the last tenth of the "
              "N, each waited for until Ready; V8: N instances of the same module, airssys_init "
              "called on each)\n\n");

  auto find = [&](std::string_view tier, int n) -> const Measured* {
    for (const auto& m : rows) {
      if (m.tier == tier && m.n == n && m.skipped.empty()) return &m;
    }
    return nullptr;
  };
  auto largest = [&](std::string_view tier) -> const Measured* {
    const Measured* found = nullptr;
    for (const auto& m : rows) {
      if (m.tier == tier && m.complete()) found = &m;
    }
    return found;
  };
  auto asked = [&](std::string_view tier) {
    return std::find(tiers.begin(), tiers.end(), tier) != tiers.end();
  };
  for (const auto& [tier, limit] : {std::pair{"native", kTargetNativeKib},
                                    std::pair{"interp", kTargetInterpKib}}) {
    if (const Measured* m = largest(tier)) {
      std::printf("target idle %s component <= %.0f KB beyond its linear memory: %.1f KB at N = %d: %s\n",
                  tier, limit, m->per_component_kib(), m->n,
                  m->per_component_kib() <= limit ? "met" : "not met");
    }
  }
  for (const char* tier : {"native", "interp"}) {
    if (!asked(tier)) continue;
    const Measured* m = find(tier, 10000);
    if (m && !m->error.empty()) {
      std::printf("target %s at N = 10000: not met: only %.0f of 10000 started: %s\n", tier,
                  m->ready(), m->error.c_str());
      continue;
    }
    if (!m) {
      std::printf("target %s at N = 10000 (start <= %.0f us CPU, start and stop < %.0f s each): "
                  "not measured%s\n",
                  tier, kTargetStartUs, kTargetAllS,
                  largest(tier) ? fmt::format(" (largest N measured: {})", largest(tier)->n).c_str() : "");
      continue;
    }
    const double us = m->cpu_per_start_ns() / 1e3;
    std::printf("target %s start <= %.0f us CPU at N = 10000: %.0f us: %s\n", tier, kTargetStartUs,
                us, us <= kTargetStartUs ? "met" : "not met");
    const double start_s = m->v.at("start_wall_ns") / 1e9, stop_s = m->v.at("stop_wall_ns") / 1e9;
    std::printf("target %s 10000 started in < %.0f s: %.2f s: %s; stopped in < %.0f s: %.2f s: %s\n",
                tier, kTargetAllS, start_s, start_s < kTargetAllS ? "met" : "not met", kTargetAllS,
                stop_s, stop_s < kTargetAllS ? "met" : "not met");
  }

  for (const auto& m : rows) {
    if (!m.skipped.empty()) continue;
    const auto& b = v8.at(m.n);
    const bool with_v8 = b && b->made > 0;
    const std::string tier = m.tier == "native" ? "native tier" : "interpreter";
    const double mem = m.per_component_kib();
    const double cpu = m.cpu_per_start_ns();
    const int ready = static_cast<int>(m.ready());
    if (with_v8) {
      headline("density", fmt::format("{}: memory per idle component, N = {}", tier, ready), mem, "KiB",
               "V8 instance", b->rss_kib / b->made - kPageKib);
      headline("density", fmt::format("{}: CPU per start, N = {}", tier, ready), cpu, "ns",
               "V8 instantiate", b->cpu_ns / b->made);
    } else {
      headline("density", fmt::format("{}: memory per idle component, N = {}", tier, ready), mem, "KiB");
      headline("density", fmt::format("{}: CPU per start, N = {}", tier, ready), cpu, "ns");
    }
    if (!m.error.empty()) {
      headline("density", fmt::format("{}: components started of N = {} (a start failed)", tier, m.n),
               m.ready(), "components");
      continue;
    }
    headline("density", fmt::format("{}: start all, N = {}", tier, m.n), m.v.at("start_wall_ns"), "ns");
    headline("density", fmt::format("{}: stop all, N = {}", tier, m.n), m.v.at("stop_wall_ns"), "ns");
  }
  const bool failed = std::any_of(rows.begin(), rows.end(), [](const Measured& m) {
    return m.skipped.starts_with("FAILED");
  });
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace airssys::wasm::bench

int main(int argc, char** argv) {
  if (argc == 6 && std::string_view(argv[1]) == "--child") {
    return airssys::wasm::bench::child(argv[2], std::atoi(argv[3]), argv[4], argv[5]);
  }
  return airssys::wasm::bench::parent(argc, argv);
}
