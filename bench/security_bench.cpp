// Capability check benchmarks: one check against a set of 1, 10 and 100
// patterns of each kind, granted (by the last pattern, so every pattern before
// it is tried) and denied (every pattern tried). The baseline is the simplest
// possible grant list: exact string comparison against as many strings of the
// same length.
//
// main() runs the benchmarks (the usual --benchmark_* flags apply) and then
// prints a summary: the median CPU time of every benchmark and its ratio to
// the baseline of the same size, measured in the same run.

#include <benchmark/benchmark.h>

#include "support/report.hpp"
#include <toml++/toml.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/security/capability.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/security/manifest.hpp"
#include "airssys/wasm/security/policy.hpp"

#include <atomic>
#include <chrono>
#include <thread>

namespace airssys::wasm::security {
namespace {

constexpr int64_t kSizes[] = {1, 10, 100};
constexpr double kTargetNs = 100;  // median for a set of 10 patterns

// What one benchmark checks: n patterns of one kind, and one resource that the
// last pattern grants and one that no pattern grants.
struct Workload {
  Permission permission;
  std::vector<std::string> patterns;
  std::string granted;
  std::string denied;
};

// Patterns of three shapes per kind, in rotation; the last pattern (index
// n - 1, shape 0 for n = 1, 10 and 100) is the one the granted resource matches.
Workload path_workload(int64_t n) {
  Workload w{Permission::FsRead, {}, {}, {}};
  for (int64_t i = 0; i < n; ++i) {
    switch (i % 3) {
      case 0:
        w.patterns.push_back(fmt::format("/srv/app{}/data/**/*.json", i));
        break;
      case 1:
        w.patterns.push_back(fmt::format("/srv/app{}/config/*.toml", i));
        break;
      default:
        w.patterns.push_back(fmt::format("/var/lib/app{}/{{cache,tmp}}/**", i));
        break;
    }
  }
  w.granted = fmt::format("/srv/app{}/data/2024/05/orders.json", n - 1);
  w.denied = fmt::format("/srv/app{}/data/2024/05/orders.yaml", n - 1);
  return w;
}

Workload network_workload(int64_t n) {
  Workload w{Permission::NetConnect, {}, {}, {}};
  for (int64_t i = 0; i < n; ++i) {
    switch (i % 3) {
      case 0:
        w.patterns.push_back(fmt::format("api{}.example.com:443", i));
        break;
      case 1:
        w.patterns.push_back(fmt::format("*.cdn{}.example.com:80", i));
        break;
      default:
        w.patterns.push_back(fmt::format("10.0.{}.{}:8080", i / 256, i % 256));
        break;
    }
  }
  w.granted = fmt::format("api{}.example.com:443", n - 1);
  w.denied = fmt::format("api{}.example.org:443", n - 1);
  return w;
}

Workload storage_workload(int64_t n) {
  Workload w{Permission::StorageRead, {}, {}, {}};
  for (int64_t i = 0; i < n; ++i) {
    switch (i % 3) {
      case 0:
        w.patterns.push_back(fmt::format("orders{}:*", i));
        break;
      case 1:
        w.patterns.push_back(fmt::format("cache{}:session:*", i));
        break;
      default:
        w.patterns.push_back(fmt::format("config{}:main", i));
        break;
    }
  }
  w.granted = fmt::format("orders{}:pending:42", n - 1);
  w.denied = fmt::format("invoices{}:pending:42", n - 1);
  return w;
}

Workload name_workload(int64_t n) {
  Workload w{Permission::MsgSend, {}, {}, {}};
  for (int64_t i = 0; i < n; ++i) {
    switch (i % 3) {
      case 0:
        w.patterns.push_back(fmt::format("svc-{}-*", i));
        break;
      case 1:
        w.patterns.push_back(fmt::format("billing-{}", i));
        break;
      default:
        w.patterns.push_back(fmt::format("audit-{}", i));
        break;
    }
  }
  w.granted = fmt::format("svc-{}-worker", n - 1);
  w.denied = fmt::format("svc-x{}-worker", n - 1);
  return w;
}

Workload topic_workload(int64_t n) {
  Workload w{Permission::MsgSubscribe, {}, {}, {}};
  for (int64_t i = 0; i < n; ++i) {
    switch (i % 3) {
      case 0:
        w.patterns.push_back(fmt::format("orders{}.*.created", i));
        break;
      case 1:
        w.patterns.push_back(fmt::format("alerts{}.#", i));
        break;
      default:
        w.patterns.push_back(fmt::format("inventory{}.stock.changed", i));
        break;
    }
  }
  w.granted = fmt::format("orders{}.eu.created", n - 1);
  w.denied = fmt::format("orders{}.eu.deleted", n - 1);
  return w;
}

using WorkloadMaker = Workload (*)(int64_t);

void BM_Check(benchmark::State& state, WorkloadMaker make, bool granted) {
  const Workload w = make(state.range(0));
  PatternLists lists;
  lists[static_cast<size_t>(w.permission)] = w.patterns;
  auto set = CapabilitySet::build(lists);
  if (!set) {
    state.SkipWithError(set.error().message.c_str());
    return;
  }
  const std::string& resource = granted ? w.granted : w.denied;
  const Decision expected = set->check(w.permission, resource);
  if (expected.granted != granted ||
      (granted && expected.pattern_index != static_cast<uint32_t>(w.patterns.size() - 1))) {
    state.SkipWithError("the workload does not decide as intended");
    return;
  }
  std::string_view view = resource;
  for (auto _ : state) {
    benchmark::DoNotOptimize(view);
    Decision d = set->check(w.permission, view);
    benchmark::DoNotOptimize(d);
  }
}

// The baseline: a linear scan of n exact grants with string equality, each of
// the resource's length and different only in its last bytes (the worst case
// for an exact comparison).
void BM_BaselineExactCompare(benchmark::State& state) {
  const std::string resource = path_workload(state.range(0)).denied;
  std::vector<std::string> grants;
  for (int64_t i = 0; i < state.range(0); ++i) {
    grants.push_back(resource.substr(0, resource.size() - 3) + fmt::format("{:03}", i));
  }
  std::string_view view = resource;
  for (auto _ : state) {
    benchmark::DoNotOptimize(view);
    bool found = false;
    for (const auto& grant : grants) {
      if (grant == view) {
        found = true;
        break;
      }
    }
    benchmark::DoNotOptimize(found);
  }
}

#define AIRSSYS_BENCH_CHECK(name, maker)                                              \
  BENCHMARK_CAPTURE(BM_Check##name, granted, maker, true)->Arg(1)->Arg(10)->Arg(100); \
  BENCHMARK_CAPTURE(BM_Check##name, denied, maker, false)->Arg(1)->Arg(10)->Arg(100)

void BM_CheckPath(benchmark::State& s, WorkloadMaker m, bool g) {
  BM_Check(s, m, g);
}
void BM_CheckNetwork(benchmark::State& s, WorkloadMaker m, bool g) {
  BM_Check(s, m, g);
}
void BM_CheckStorage(benchmark::State& s, WorkloadMaker m, bool g) {
  BM_Check(s, m, g);
}
void BM_CheckComponentName(benchmark::State& s, WorkloadMaker m, bool g) {
  BM_Check(s, m, g);
}
void BM_CheckTopic(benchmark::State& s, WorkloadMaker m, bool g) {
  BM_Check(s, m, g);
}

BENCHMARK(BM_BaselineExactCompare)->Arg(1)->Arg(10)->Arg(100);
AIRSSYS_BENCH_CHECK(Path, path_workload);
AIRSSYS_BENCH_CHECK(Network, network_workload);
AIRSSYS_BENCH_CHECK(Storage, storage_workload);
AIRSSYS_BENCH_CHECK(ComponentName, name_workload);
AIRSSYS_BENCH_CHECK(Topic, topic_workload);

// ---- Manifest parsing ------------------------------------------------------

// The manifest of the specification, part 2.
constexpr std::string_view kSpecManifest = R"([component]
name = "order-validator"
version = "1.2.0"
description = "Validates orders"
author = "Team Orders"
license = "Apache-2.0"

[capabilities]
filesystem.read    = ["/srv/app/config/*", "/srv/app/data/**/*.json"]
filesystem.write   = ["/srv/app/data/out/**"]
network.connect    = ["api.example.com:443", "*.cdn.example.com:80"]
storage.read       = ["orders:*"]
storage.write      = ["orders:pending:*"]
storage.delete     = ["orders:pending:*"]
messaging.send     = ["billing", "audit-*"]
messaging.receive  = ["gateway"]
messaging.publish  = ["orders.created"]
messaging.subscribe = ["inventory.*", "alerts.#"]

[quota]
storage = "50MB"
message_rate = 500
network_bandwidth = "5MB/s"
cpu_time = "500ms/s"
memory = "128MB"

[config]
threshold = 10
)";

// Baseline: toml++ parsing the same text, no validation.
void BM_ParseTomlOnly(benchmark::State& state) {
  for (auto _ : state) {
    auto table = toml::parse(kSpecManifest, std::string_view("Component.toml"));
    benchmark::DoNotOptimize(table);
  }
}
BENCHMARK(BM_ParseTomlOnly);

// Parsing and every validation rule.
void BM_ParseManifest(benchmark::State& state) {
  for (auto _ : state) {
    auto manifest = parse_manifest(kSpecManifest, "Component.toml");
    if (!manifest) state.SkipWithError("the specification's manifest failed to parse");
    benchmark::DoNotOptimize(manifest);
  }
}
BENCHMARK(BM_ParseManifest);

// Parsing, validation, and compiling the capability set and security context.
void BM_ParseManifestAndBuildContext(benchmark::State& state) {
  for (auto _ : state) {
    auto manifest = parse_manifest(kSpecManifest, "Component.toml");
    auto set = CapabilitySet::build(manifest->capabilities);
    auto context = WasmSecurityContext::create(manifest->component.name, std::move(*set),
                                               TrustLevel::Trusted);
    benchmark::DoNotOptimize(context);
  }
}
BENCHMARK(BM_ParseManifestAndBuildContext);

// ---- Host policy: direct, and through the slot that reload swaps -----------

// Ten deny rules on filesystem.write, one resource pattern each; the request
// is allowed, so every rule is tried.
HostPolicy ten_rule_policy(int generation) {
  std::string text;
  for (int i = 0; i < 10; ++i) {
    text += fmt::format(
        "[[rule]]\nname = \"r{0}\"\neffect = \"deny\"\npermissions = [\"filesystem.write\"]\n"
        "resources = [\"/srv/locked{0}-{1}/**\"]\n\n",
        i, generation);
  }
  auto policy = HostPolicy::parse(text, "policy.toml");
  if (!policy) std::abort();
  return std::move(*policy);
}

constexpr std::string_view kPolicyResource = "/srv/app/data/out/report.json";
const PolicySubject kPolicySubject{"order-validator", std::nullopt};

void BM_PolicyCheckDirect(benchmark::State& state) {
  const HostPolicy policy = ten_rule_policy(0);
  std::string_view view = kPolicyResource;
  for (auto _ : state) {
    benchmark::DoNotOptimize(view);
    auto d = policy.check(kPolicySubject, Permission::FsWrite, view);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_PolicyCheckDirect);

void BM_PolicyCheckSlot(benchmark::State& state) {
  PolicySlot slot(ten_rule_policy(0));
  std::string_view view = kPolicyResource;
  for (auto _ : state) {
    benchmark::DoNotOptimize(view);
    auto d = slot.current().check(kPolicySubject, Permission::FsWrite, view);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_PolicyCheckSlot);

// The same while another thread replaces the policy every millisecond.
void BM_PolicyCheckSlotDuringReloads(benchmark::State& state) {
  PolicySlot slot(ten_rule_policy(0));
  std::atomic<bool> stop{false};
  std::thread reloader([&] {
    for (int g = 1; !stop.load(); ++g) {
      slot.replace(ten_rule_policy(g));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::string_view view = kPolicyResource;
  for (auto _ : state) {
    benchmark::DoNotOptimize(view);
    auto d = slot.current().check(kPolicySubject, Permission::FsWrite, view);
    benchmark::DoNotOptimize(d);
  }
  stop = true;
  reloader.join();
}
BENCHMARK(BM_PolicyCheckSlotDuringReloads);

// ---- Summary ---------------------------------------------------------------

using bench::SummaryReporter;

void print_summary(const SummaryReporter& reporter) {
  fmt::print(
      "\nSummary: {} CPU time per check{}; ratio against exact string comparison "
      "over as many strings, same run\n",
      reporter.repetitions() > 1 ? "median" : "single-run",
      reporter.repetitions() > 1 ? fmt::format(" over {} repetitions", reporter.repetitions())
                                 : "");
  fmt::print("\n  {:<28}", "");
  for (int64_t n : kSizes) fmt::print(" {:>22}", fmt::format("{} pattern{}", n, n > 1 ? "s" : ""));
  fmt::print("\n");
  auto row = [&](const std::string& label, const std::string& bench) {
    fmt::print("  {:<28}", label);
    for (int64_t n : kSizes) {
      const double* ns = reporter.time(fmt::format("{}/{}", bench, n));
      const double* base = reporter.time(fmt::format("BM_BaselineExactCompare/{}", n));
      if (!ns) {
        fmt::print(" {:>22}", "not run");
      } else if (base && *base > 0 && bench != "BM_BaselineExactCompare") {
        fmt::print(" {:>22}", fmt::format("{:.1f} ns {:>6.1f}x", *ns, *ns / *base));
      } else {
        fmt::print(" {:>22}", fmt::format("{:.1f} ns", *ns));
      }
    }
    fmt::print("\n");
  };
  row("baseline: exact compare", "BM_BaselineExactCompare");
  int over = 0;
  int measured = 0;
  for (const char* kind : {"Path", "Network", "Storage", "ComponentName", "Topic"}) {
    for (const char* outcome : {"granted", "denied"}) {
      const std::string bench = fmt::format("BM_Check{}/{}", kind, outcome);
      row(fmt::format("{} {}", kind, outcome), bench);
      if (const double* ns = reporter.time(bench + "/10")) {
        ++measured;
        if (*ns > kTargetNs) ++over;
        if (const double* base = reporter.time("BM_BaselineExactCompare/10")) {
          airssys::wasm::bench::headline(
              "security", fmt::format("capability check, {} {}, 10 patterns", kind, outcome),
              *ns, "ns", "exact string compare", *base);
        }
      }
    }
  }
  if (measured > 0) {
    fmt::print("\nTarget: at most {:.0f} ns with 10 patterns: {} of {} over\n", kTargetNs, over,
               measured);
  }
  const double* direct = reporter.time("BM_PolicyCheckDirect");
  const double* slot = reporter.time("BM_PolicyCheckSlot");
  const double* reloading = reporter.time("BM_PolicyCheckSlotDuringReloads");
  if (direct && slot && reloading) {
    fmt::print("\nHost policy, 10 rules, allowed (every rule tried)\n");
    fmt::print("  {:<40} {:>10.1f} ns\n", "the policy itself (baseline)", *direct);
    fmt::print("  {:<40} {:>10.1f} ns {:>6.2f}x\n", "through the reloadable slot", *slot,
               *slot / *direct);
    fmt::print("  {:<40} {:>10.1f} ns {:>6.2f}x\n", "  while reloaded every ms", *reloading,
               *reloading / *direct);
    airssys::wasm::bench::headline("security", "host policy check through the reloadable slot",
                                   *slot, "ns", "the same policy checked directly", *direct);
  }
  const double* toml_only = reporter.time("BM_ParseTomlOnly");
  const double* manifest = reporter.time("BM_ParseManifest");
  const double* context = reporter.time("BM_ParseManifestAndBuildContext");
  if (toml_only && manifest && context) {
    fmt::print("\nManifest (the specification's example)\n");
    fmt::print("  {:<40} {:>10.1f} us\n", "toml++ parse only (baseline)", *toml_only / 1e3);
    fmt::print("  {:<40} {:>10.1f} us {:>6.2f}x\n", "parse + validate", *manifest / 1e3,
               *manifest / *toml_only);
    fmt::print("  {:<40} {:>10.1f} us {:>6.2f}x\n", "parse + validate + security context",
               *context / 1e3, *context / *toml_only);
    airssys::wasm::bench::headline("security", "Component.toml parse + validate + context",
                                   *context / 1e3, "us", "toml++ parse only", *toml_only / 1e3);
  }
}

}  // namespace
}  // namespace airssys::wasm::security

int main(int argc, char** argv) {
  namespace security = airssys::wasm::security;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  airssys::wasm::bench::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  security::print_summary(reporter);
  benchmark::Shutdown();
  return 0;
}
