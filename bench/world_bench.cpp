// Components of the airssys world (wit/host.wit) against core-ABI components,
// in one run: the same ping-pong protocol (bench/components/bench_protocol.h)
// between two components on a ComponentRuntime with two worker threads, for
// each pair:
//   core        pinger.c and ponger.c against the core ABI (airssys.h), the
//               components of bench_messaging
//   core inbox  the same, built with the SDK inbox (one guest call a message)
//   world C     world_pinger.c and world_ponger.c against airssys_world.h
//   world Rust  bench/components/rust/pingpong against the crate sdk/rust
// each on the interpreter and on the native tier, measuring
//   round trip  a request until its reply reaches the requester, one request
//               in flight (the pinger's clock, per request)
//   flood       a flood of one-way messages: the first send until the last
//               message reaches the receiver, as messages per second
// plus, on the interpreter, the round trip of the JavaScript echo
// (examples/js/echo, componentize-js) asked by the core-ABI pinger.
//
// The pairs run side by side, each on its own runtime (the components' names
// are fixed), and the rounds interleave them: round r measures every pair once
// before round r+1, so a change in the machine's load falls on all of them.
// Compiles for the native tier happen before the first round and are cached
// in the build tree (AIRSSYS_WORLD_BENCH_NATIVE_CACHE); they are not timed.
//
// Usage: bench_world [--rounds N] [--flood N] [--tier interp|native] [--pair LABEL]
// (--pair runs the pair of that label alone, e.g. "world C": for a profile
// of one pair.)
// Prints every pair's median and p99 round trip and its median flood rate,
// then the ratios world / core (time per message) against the target 1.3x.

#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <expected>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/security/capability.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/storage/kv.hpp"
#include "bench_protocol.h"
#include "support/report.hpp"

namespace airssys::wasm::component {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

template <class T>
using Expected = std::expected<T, std::string>;

constexpr size_t kWorkers = 2;
constexpr uint32_t kRoundTripBatch = 1000;  // requests per round
constexpr uint32_t kJsBatch = 20;           // the JavaScript echo's requests per round
constexpr uint32_t kWarmupBatch = 200;
constexpr uint32_t kDefaultFlood = 100'000;
constexpr size_t kFloodMailbox = 131'072;  // holds a whole flood: no back-pressure
constexpr int kDefaultRounds = 5;
constexpr auto kResultTimeout = 120s;
constexpr double kTarget = 1.3;  // world / core, time per message
static_assert(kRoundTripBatch <= BENCH_MAX_SAMPLES);

enum class Abi : uint8_t { Core, World };

// The world's error cases, as the world components report them (case + 1).
constexpr std::array<std::string_view, 10> kWorldErrors = {
    "ok", "denied", "quota", "too-large", "not-found", "full", "invalid", "timeout",
    "unavailable", "no-request"};

// ---- The binary records the components write to stdout ---------------------

class Records {
 public:
  enum Source : size_t { kPinger = 0, kPonger = 1 };

  host::OutputSink sink(Source source, Abi abi) {
    return [this, source, abi](std::span<const uint8_t> bytes) { add(source, abi, bytes); };
  }

  // The next record from `source`, which must be of `kind`; an error record
  // from either component fails.
  Expected<std::vector<uint64_t>> take(Source source, uint32_t kind) {
    std::unique_lock lock(mutex_);
    const bool ready = cv_.wait_for(lock, kResultTimeout,
                                    [&] { return !records_[source].empty() || error_; });
    if (error_) return std::unexpected(*error_);
    if (!ready) return std::unexpected("no record in time");
    Record record = std::move(records_[source].front());
    records_[source].pop_front();
    if (record.kind != kind) {
      return std::unexpected(fmt::format("record {} where {} was expected", record.kind, kind));
    }
    return std::move(record.values);
  }

 private:
  struct Record {
    uint32_t kind = 0;
    std::vector<uint64_t> values;
  };

  void add(Source source, Abi abi, std::span<const uint8_t> bytes) {
    {
      std::lock_guard lock(mutex_);
      auto& pending = pending_[source];
      pending.insert(pending.end(), bytes.begin(), bytes.end());
      while (pending.size() >= sizeof(bench_record_header)) {
        bench_record_header header{};
        std::memcpy(&header, pending.data(), sizeof header);
        const size_t size = sizeof header + size_t{header.count} * sizeof(uint64_t);
        if (pending.size() < size) break;
        Record record{header.kind, std::vector<uint64_t>(header.count)};
        std::memcpy(record.values.data(), pending.data() + sizeof header,
                    header.count * sizeof(uint64_t));
        pending.erase(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(size));
        if (record.kind == BENCH_REC_ERROR) {
          const auto code = static_cast<int64_t>(record.values.empty() ? 0 : record.values[0]);
          const std::string name =
              abi == Abi::Core
                  ? std::string(host::abi_error_name(static_cast<host::AbiError>(code)))
                  : std::string(code >= 0 && code < static_cast<int64_t>(kWorldErrors.size())
                                    ? kWorldErrors[static_cast<size_t>(code)]
                                    : "?");
          error_ = fmt::format("the {}'s host call failed with {} ({})",
                               source == kPinger ? "pinger" : "ponger", code, name);
        } else {
          records_[source].push_back(std::move(record));
        }
      }
    }
    cv_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::array<std::vector<uint8_t>, 2> pending_;
  std::array<std::deque<Record>, 2> records_;
  std::optional<std::string> error_;
};

// ---- One side of a pair: a core module or a component of the world ---------

struct Party {
  Abi abi = Abi::Core;
  std::shared_ptr<const engine::Module> module;  // Abi::Core
  std::shared_ptr<const cm::Component> world;    // Abi::World
  std::string config = "{}";
  // Its log lines are dropped (the JavaScript echo logs every message). A
  // component with a log sink writes stdout to its log: the bench's own
  // components report on stdout and have none.
  bool drop_log = false;
};

struct PairSpec {
  std::string label;
  Party pinger;
  Party ponger;
  uint32_t batch = kRoundTripBatch;
  bool flood = true;
  bool is_baseline = false;  // the core pair the ratios divide by
};

Expected<std::shared_ptr<const security::WasmSecurityContext>> security_for(
    const std::string& name, const std::string& peer) {
  security::PatternLists lists;
  lists[static_cast<size_t>(security::Permission::MsgSend)] = {peer};
  lists[static_cast<size_t>(security::Permission::MsgReceive)] = {
      peer, std::string(security::kHostSenderName)};
  // The JavaScript echo counts its messages in its key-value state.
  lists[static_cast<size_t>(security::Permission::StorageRead)] = {"*"};
  lists[static_cast<size_t>(security::Permission::StorageWrite)] = {"*"};
  auto capabilities = security::CapabilitySet::build(lists);
  if (!capabilities) return std::unexpected(capabilities.error().to_string());
  security::QuotaLimits quotas;
  quotas.messages_per_second = 1'000'000'000'000;  // the rate limit is not measured here
  auto context = security::WasmSecurityContext::create(name, std::move(*capabilities),
                                                       security::TrustLevel::Trusted, quotas);
  if (!context) return std::unexpected(context.error().to_string());
  return *context;
}

std::string describe(const ComponentRuntime& system, const std::string& name) {
  auto status = system.status(name);
  if (!status) return fmt::format("'{}' is unknown", name);
  return fmt::format("'{}' is {} ({} messages handled){}", name,
                     component_state_name(status->state), status->messages_handled,
                     status->last_error ? ": " + status->last_error->to_string() : "");
}

Expected<void> wait_ready(const ComponentRuntime& system, const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + kResultTimeout;
  while (true) {
    auto status = system.status(name);
    if (status && status->state == ComponentState::Ready) return {};
    if (!status || status->state == ComponentState::Failed ||
        std::chrono::steady_clock::now() > deadline) {
      return std::unexpected("not ready: " + describe(system, name));
    }
    std::this_thread::sleep_for(1ms);
  }
}

std::vector<uint8_t> command(uint8_t what, uint32_t count) {
  std::vector<uint8_t> bytes(5);
  bytes[0] = what;
  std::memcpy(bytes.data() + 1, &count, 4);
  return bytes;
}

// Two components on a ComponentRuntime of their own with two workers.
class Pair {
 public:
  static Expected<std::unique_ptr<Pair>> start(const PairSpec& spec,
                                               std::shared_ptr<engine::Engine> engine,
                                               storage::KeyValueStore* kv) {
    std::unique_ptr<Pair> pair(new Pair(spec));
    ComponentRuntimeOptions options;
    options.engine = engine;
    options.kv = kv;
    pair->system_ = std::make_unique<ComponentRuntime>(pair->scheduler_, options);
    for (auto [name, party, source] :
         {std::tuple{BENCH_PONGER, &spec.ponger, Records::kPonger},
          std::tuple{BENCH_PINGER, &spec.pinger, Records::kPinger}}) {
      auto security = security_for(name, source == Records::kPinger ? BENCH_PONGER : BENCH_PINGER);
      if (!security) return std::unexpected(security.error());
      ComponentSpec s;
      s.name = name;
      s.security = *security;
      s.config_json = party->config;
      if (party->abi == Abi::Core) {
        s.module = party->module;
      } else {
        s.world = party->world;
        s.engine = engine;
      }
      if (source == Records::kPonger) s.mailbox_capacity = kFloodMailbox;
      s.stdout_sink = pair->records_.sink(source, party->abi);
      if (party->drop_log) {
        s.log_sink = [](const host::LogLine&) {};
        s.log_limits.lines_per_second = 1'000'000;  // every line is written, then dropped
        s.log_limits.bytes_per_second = 1ull << 30;
      }
      if (auto ok = pair->system_->start(std::move(s)); !ok) {
        return std::unexpected(fmt::format("{}: {}", name, ok.error().to_string()));
      }
      if (auto ok = wait_ready(*pair->system_, name); !ok) return std::unexpected(ok.error());
    }
    return pair;
  }

  ~Pair() {
    system_->stop();
    scheduler_.shutdown();  // before the system goes: its actors refer to it
  }

  // ns per request, `count` requests one after the other.
  Expected<std::vector<double>> round_trip(uint32_t count) {
    if (auto ok = send(command(BENCH_CMD_REQUEST, count)); !ok) return std::unexpected(ok.error());
    auto samples = with_status(records_.take(Records::kPinger, BENCH_REC_ROUND_TRIP));
    if (!samples) return std::unexpected(samples.error());
    return std::vector<double>(samples->begin(), samples->end());
  }

  // Messages per second, first send until the last message arrived.
  Expected<double> flood(uint32_t count) {
    if (auto ok = send(command(BENCH_CMD_FLOOD, count)); !ok) return std::unexpected(ok.error());
    auto sent = with_status(records_.take(Records::kPinger, BENCH_REC_FLOOD_SENT));
    if (!sent) return std::unexpected(sent.error());
    auto end = with_status(records_.take(Records::kPonger, BENCH_REC_FLOOD_END));
    if (!end) return std::unexpected(end.error());
    if (sent->size() != 3 || end->size() != 1) return std::unexpected("malformed flood records");
    const double seconds = static_cast<double>((*end)[0] - (*sent)[0]) * 1e-9;
    return seconds > 0 ? count / seconds : 0;
  }

 private:
  explicit Pair(const PairSpec&) : scheduler_(actor::ThreadPoolOptions{kWorkers}) {}

  Expected<void> send(std::vector<uint8_t> bytes) {
    auto sent = system_->send_from_host(BENCH_PINGER, std::move(bytes));
    if (!sent) return std::unexpected(sent.error().to_string());
    return {};
  }

  template <class T>
  Expected<T> with_status(Expected<T> result) {
    if (result) return result;
    return std::unexpected(fmt::format("{}; {}, {}", result.error(),
                                       describe(*system_, BENCH_PINGER),
                                       describe(*system_, BENCH_PONGER)));
  }

  Records records_;  // outlives the system whose components write to it
  actor::ThreadPoolScheduler scheduler_;
  std::unique_ptr<ComponentRuntime> system_;
};

// ---- The material of one tier ----------------------------------------------

struct Tier {
  std::string name;
  std::shared_ptr<engine::Engine> engine;
  std::vector<PairSpec> pairs;
};

Expected<std::shared_ptr<const engine::Module>> core_module(engine::Engine& engine,
                                                            const std::string& file) {
  auto module = engine.load_file(fs::path(AIRSSYS_BENCH_COMPONENTS_DIR) / file);
  if (!module) return std::unexpected(fmt::format("{}: {}", file, module.error().to_string()));
  return *module;
}

Expected<std::shared_ptr<const cm::Component>> world_component(engine::Engine& engine,
                                                               const fs::path& path) {
  auto bytes = engine::read_module_file(path);
  if (!bytes) return std::unexpected(fmt::format("{}: {}", path.string(), bytes.error().to_string()));
  auto decoded = cm::decode_component(*bytes, path.filename().string(), engine);
  if (!decoded) {
    return std::unexpected(fmt::format("{}: {}", path.string(), decoded.error().to_string()));
  }
  return *decoded;
}

// What one tier runs; a pair whose component was not built (no Rust, no jco)
// is left out with a line saying so.
Expected<Tier> load_tier(bool native) {
  Tier tier;
  tier.name = native ? "native" : "interp";
  if (native) {
    engine::NativeOptions options;
    options.cache_dir = AIRSSYS_WORLD_BENCH_NATIVE_CACHE;
    auto engine = engine::Engine::native(options);
    if (!engine) return std::unexpected(engine.error().to_string());
    tier.engine = std::shared_ptr<engine::Engine>(std::move(*engine));
  } else {
    tier.engine = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
  }
  auto& e = *tier.engine;
  auto core = [&](const std::string& file) -> Expected<Party> {
    auto m = core_module(e, file);
    if (!m) return std::unexpected(m.error());
    return Party{Abi::Core, *m, nullptr, "{}"};
  };
  auto world = [&](const fs::path& path, std::string config = "{}") -> Expected<Party> {
    auto c = world_component(e, path);
    if (!c) return std::unexpected(c.error());
    return Party{Abi::World, nullptr, *c, std::move(config)};
  };
  const fs::path dir = AIRSSYS_BENCH_COMPONENTS_DIR;
  {
    auto pinger = core("pinger.wasm");
    auto ponger = core("ponger.wasm");
    if (!pinger || !ponger) return std::unexpected(!pinger ? pinger.error() : ponger.error());
    tier.pairs.push_back({"core C", *pinger, *ponger, kRoundTripBatch, true, true});
    auto pinger_b = core("pinger_buffer.wasm");
    auto ponger_b = core("ponger_buffer.wasm");
    if (!pinger_b || !ponger_b) {
      return std::unexpected(!pinger_b ? pinger_b.error() : ponger_b.error());
    }
    tier.pairs.push_back({"core C, inbox", *pinger_b, *ponger_b});
  }
  if (fs::exists(dir / "world_pinger.wasm")) {
    auto pinger = world(dir / "world_pinger.wasm");
    auto ponger = world(dir / "world_ponger.wasm");
    if (!pinger || !ponger) return std::unexpected(!pinger ? pinger.error() : ponger.error());
    tier.pairs.push_back({"world C", *pinger, *ponger});
  } else {
    std::printf("world C: not built (jco is not installed)\n");
  }
  if (fs::exists(dir / "world_pingpong.rust.wasm")) {
    auto pinger = world(dir / "world_pingpong.rust.wasm", R"({"role":"pinger"})");
    auto ponger = world(dir / "world_pingpong.rust.wasm", R"({"role":"ponger"})");
    if (!pinger || !ponger) return std::unexpected(!pinger ? pinger.error() : ponger.error());
    tier.pairs.push_back({"world Rust", *pinger, *ponger});
  } else {
    std::printf("world Rust: not built (%s)\n", AIRSSYS_RUST_MISSING);
  }
  if (!native) {
    const fs::path echo = AIRSSYS_JS_ECHO_WASM;
    if (fs::exists(echo)) {
      auto pinger = core("pinger.wasm");
      auto ponger = world(echo);
      if (!pinger || !ponger) return std::unexpected(!pinger ? pinger.error() : ponger.error());
      ponger->drop_log = true;
      tier.pairs.push_back({"JavaScript echo", *pinger, *ponger, kJsBatch, false});
    } else {
      std::printf("JavaScript echo: not built (jco is not installed)\n");
    }
  }
  return tier;
}

// ---- The run and the summary ----------------------------------------------

struct Measured {
  std::vector<double> round_trip_ns;  // every request of every round
  std::vector<double> flood_rates;    // one per round, messages per second
};

double median(std::vector<double> v) { return bench::percentile(std::move(v), 50); }

void print_tier(const Tier& tier, const std::vector<Measured>& measured, uint32_t flood) {
  std::printf("\n%s tier: round trip (one request in flight) and flood (%u one-way messages)\n",
              tier.name.c_str(), flood);
  std::printf("%-18s %10s %10s %8s %12s %10s %8s\n", "pair", "rt p50", "rt p99", "rt x",
              "flood", "per msg", "flood x");
  const Measured* base = nullptr;
  for (size_t i = 0; i < tier.pairs.size(); ++i) {
    if (tier.pairs[i].is_baseline) base = &measured[i];
  }
  const double base_rt = base ? median(base->round_trip_ns) : 0;
  const double base_rate = base ? median(base->flood_rates) : 0;
  for (size_t i = 0; i < tier.pairs.size(); ++i) {
    const auto& m = measured[i];
    const double rt = median(m.round_trip_ns);
    const double p99 = bench::percentile(m.round_trip_ns, 99);
    std::string flood_rate = "-", per_message = "-", flood_ratio = "-";
    if (!m.flood_rates.empty()) {
      const double rate = median(m.flood_rates);
      flood_rate = bench::format_rate(rate);
      per_message = bench::format_ns(1e9 / rate);
      if (base_rate > 0) flood_ratio = fmt::format("{:.2f}", base_rate / rate);
    }
    std::printf("%-18s %10s %10s %8s %12s %10s %8s\n", tier.pairs[i].label.c_str(),
                bench::format_ns(rt).c_str(), bench::format_ns(p99).c_str(),
                base_rt > 0 ? fmt::format("{:.2f}", rt / base_rt).c_str() : "-",
                flood_rate.c_str(), per_message.c_str(), flood_ratio.c_str());
  }
  for (size_t i = 0; i < tier.pairs.size(); ++i) {
    const auto& pair = tier.pairs[i];
    if (pair.label.rfind("world", 0) != 0 || !base) continue;
    const double rt_ratio = median(measured[i].round_trip_ns) / base_rt;
    const double flood_ratio = base_rate / median(measured[i].flood_rates);
    std::printf("  %s / core C on %s: round trip %.2fx, flood %.2fx per message (target <= %.1fx): "
                "%s\n",
                pair.label.c_str(), tier.name.c_str(), rt_ratio, flood_ratio, kTarget,
                rt_ratio <= kTarget && flood_ratio <= kTarget ? "met" : "missed");
    bench::headline("world", fmt::format("{} round trip ({})", pair.label, tier.name),
                    median(measured[i].round_trip_ns) / 1e3, "us", "core C",
                    base_rt / 1e3);
    bench::headline("world", fmt::format("{} flood ({})", pair.label, tier.name),
                    median(measured[i].flood_rates), "msg/s", "core C", base_rate);
  }
}

int run(int argc, char** argv) {
  int rounds = kDefaultRounds;
  uint32_t flood = kDefaultFlood;
  std::vector<bool> tiers = {false, true};
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--flood" && i + 1 < argc) {
      flood = static_cast<uint32_t>(std::max(2, std::atoi(argv[++i])));
    } else if (arg == "--tier" && i + 1 < argc) {
      const std::string_view t = argv[++i];
      tiers = {t == "native"};
    } else if (arg == "--pair" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: bench_world [--rounds N] [--flood N] [--tier interp|native] "
                   "[--pair LABEL]\n");
      return 2;
    }
  }
  if (flood > kFloodMailbox) flood = static_cast<uint32_t>(kFloodMailbox);

  // The JavaScript echo's key-value state: a fresh store, removed at exit.
  std::string pattern = (fs::temp_directory_path() / "airssys-bench-world-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) {
    std::fprintf(stderr, "bench_world: cannot create a temporary directory\n");
    return 1;
  }
  const fs::path scratch = pattern;
  auto store = storage::KeyValueStore::open({.data_dir = scratch / "data"});
  if (!store) {
    std::fprintf(stderr, "bench_world: %s\n", store.error().to_string().c_str());
    return 1;
  }

  int status = 0;
  for (bool native : tiers) {
    auto tier = load_tier(native);
    if (!tier) {
      std::fprintf(stderr, "bench_world: %s\n", tier.error().c_str());
      status = 1;
      continue;
    }
    if (!only.empty()) {
      std::erase_if(tier->pairs,
                    [&](const PairSpec& p) { return p.label != only; });
    }
    std::vector<std::unique_ptr<Pair>> pairs;
    for (const auto& spec : tier->pairs) {
      auto pair = Pair::start(spec, tier->engine, store->get());
      if (!pair) {
        std::fprintf(stderr, "bench_world: %s on %s: %s\n", spec.label.c_str(),
                     tier->name.c_str(), pair.error().c_str());
        return 1;
      }
      // Warm-up, untimed: the first messages fill the caches and the pools.
      auto warm = (*pair)->round_trip(std::min(kWarmupBatch, spec.batch / 4));
      if (warm && spec.flood) {
        auto f = (*pair)->flood(std::min<uint32_t>(flood, 10'000));
        if (!f) warm = std::unexpected(f.error());
      }
      if (!warm) {
        std::fprintf(stderr, "bench_world: %s on %s: %s\n", spec.label.c_str(),
                     tier->name.c_str(), warm.error().c_str());
        return 1;
      }
      pairs.push_back(std::move(*pair));
    }
    std::vector<Measured> measured(pairs.size());
    for (int r = 0; r < rounds; ++r) {
      for (size_t k = 0; k < pairs.size(); ++k) {
        // Each round starts with another pair.
        const size_t i = (k + static_cast<size_t>(r)) % pairs.size();
        const auto& spec = tier->pairs[i];
        auto rt = pairs[i]->round_trip(spec.batch);
        if (!rt) {
          std::fprintf(stderr, "bench_world: %s on %s: %s\n", spec.label.c_str(),
                       tier->name.c_str(), rt.error().c_str());
          return 1;
        }
        measured[i].round_trip_ns.insert(measured[i].round_trip_ns.end(), rt->begin(), rt->end());
        if (!spec.flood) continue;
        auto rate = pairs[i]->flood(flood);
        if (!rate) {
          std::fprintf(stderr, "bench_world: %s on %s: %s\n", spec.label.c_str(),
                       tier->name.c_str(), rate.error().c_str());
          return 1;
        }
        measured[i].flood_rates.push_back(*rate);
      }
      std::fprintf(stderr, "%s: round %d of %d done\n", tier->name.c_str(), r + 1, rounds);
    }
    pairs.clear();
    print_tier(*tier, measured, flood);
  }
  std::printf("\nrt x, flood x: time per message against core C on the same tier; "
              "%d rounds, %u requests per pair and round (the JavaScript echo: %u)\n",
              rounds, kRoundTripBatch, kJsBatch);
  store->reset();  // the store closes before its directory goes
  std::error_code ec;
  fs::remove_all(scratch, ec);
  return status;
}

}  // namespace
}  // namespace airssys::wasm::component

int main(int argc, char** argv) { return airssys::wasm::component::run(argc, argv); }
