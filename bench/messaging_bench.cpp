// Messaging benchmarks: two real WebAssembly components with empty handlers
// (bench/components/pinger.c and ponger.c) exchanging messages on a
// ComponentSystem with two worker threads, against baselines measured in the
// same run:
//   runtime  the actor runtime alone: two actor::Behavior, no WebAssembly
//   CAF      two actors of the C++ Actor Framework (libcaf-dev), two workers
//   plain    two threads passing messages through two mutex+condvar queues
// Measured for each:
//   one-way latency   a probe carries its send time; the receiver's handler
//                     takes the difference; one probe in flight at a time
//   round trip        request until the reply reaches the requester
//   throughput        a flood of 100k one-way messages: first send until the
//                     last message reaches the receiver
//   spawn             start until ready (components: state Ready after
//                     _initialize and airssys_init; actors: the first step or
//                     initialisation ran; plain: a std::thread started)
// and, for components, the pieces of a spawn (linker, instantiation, the init
// calls).
//
// One benchmark iteration is a batch (1000 probes or requests, one flood, one
// spawn) and its reported time the batch's total; the counters give the
// batch's median and p99 per message, or its rate. main() then prints a
// summary: medians and 99th percentiles over every sample of the run, ratios
// against the baselines, and the targets of issue 4.

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <caf/all.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <expected>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench_support.hpp"
#include "airssys/wasm/actor/behavior.hpp"
#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/system.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "airssys/wasm/security/capability.hpp"
#include "airssys/wasm/security/context.hpp"
#include "bench_protocol.h"

namespace airssys::wasm::component {
namespace {

using namespace std::chrono_literals;

constexpr size_t kWorkers = 2;
constexpr uint32_t kLatencyBatch = 1000;  // probes or requests per iteration
constexpr uint32_t kWarmupBatch = 200;    // run once per benchmark run, untimed
static_assert(kLatencyBatch <= BENCH_MAX_SAMPLES && kWarmupBatch <= BENCH_MAX_SAMPLES);
constexpr uint32_t kFloodMessages = 100'000;
constexpr uint32_t kFloodChunk = 1000;     // messages an actor sends per step
constexpr size_t kFloodMailbox = 131'072;  // holds a whole flood: no back-pressure
constexpr int kLatencyIterations = 4;
constexpr int kFloodIterations = 2;
constexpr int kSpawnIterations = 50;
constexpr int kSpawnPieceIterations = 200;
constexpr int kDeliverIterations = 2000;
constexpr auto kResultTimeout = 60s;
constexpr auto kRequestTimeout = 30s;  // what a component's request with timeout 0 arms

template <class T>
using Expected = std::expected<T, std::string>;
using Samples = std::vector<uint64_t>;  // ns

uint64_t now_ns() {
  // CLOCK_MONOTONIC, the clock the components read through WASI.
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// ---- What is measured, pooled over the whole run ---------------------------

// WasmBuffer: the same components built with the SDK inbox
// (AIRSSYS_DEFINE_INBOX): a message that fits costs one guest call.
enum class Impl : uint8_t { Wasm, WasmBuffer, Runtime, RuntimeTimer, Caf, Plain };
enum class Metric : uint8_t {
  OneWay,
  RoundTrip,
  Flood,
  Spawn,
  SpawnLinker,
  SpawnInstantiate,
  SpawnInitCalls,
  DeliverAlloc,
  DeliverHandle,
  DeliverDealloc,
};

struct FloodResult {
  double seconds = 0;         // first send until the last message arrived
  double sender_seconds = 0;  // first send until the last send returned
  uint64_t retries = 0;       // sends refused as full and retried
};

struct Pooled {
  std::vector<double> values;        // ns per sample; for floods, messages per second per flood
  std::vector<double> sender_rates;  // floods only: messages per second the sender sent
  uint64_t retries = 0;
  uint64_t fuel = 0;  // guest calls only: the fuel one call is charged
  std::optional<std::string> error;
};

std::map<std::pair<Metric, Impl>, Pooled> g_pooled;

// ---- Waiting for a result from another thread ------------------------------

// Counts notifications; wait(n) returns once n have arrived and consumes them.
class Signal {
 public:
  void notify() {
    {
      std::lock_guard lock(mutex_);
      ++count_;
    }
    cv_.notify_all();
  }
  [[nodiscard]] bool wait(uint32_t n = 1) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, kResultTimeout, [&] { return count_ >= n; })) return false;
    count_ -= n;
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  uint32_t count_ = 0;
};

// What the baseline actors write for the host thread; a Signal notification
// publishes it.
struct Shared {
  Samples samples = Samples(BENCH_MAX_SAMPLES);
  uint32_t wanted = 0;   // probes or requests of the current command
  uint32_t replied = 0;  // replies so far (the pinger's)
  uint64_t asked_at = 0;
  uint64_t flood_started = 0;
  uint64_t flood_sent = 0;
  uint64_t flood_end = 0;
  uint64_t flood_retries = 0;
  Signal done;

  Expected<Samples> samples_of(uint32_t count, const char* what) {
    if (!done.wait()) return std::unexpected(fmt::format("{}: no result in time", what));
    return Samples(samples.begin(), samples.begin() + count);
  }
  Expected<FloodResult> flood_result() {
    // Two notifications: the sender finished sending, the receiver got the last.
    if (!done.wait(2)) return std::unexpected("flood: no result in time");
    return FloodResult{static_cast<double>(flood_end - flood_started) * 1e-9,
                       static_cast<double>(flood_sent - flood_started) * 1e-9, flood_retries};
  }
};

struct Probe {
  uint32_t index = 0;
  uint32_t count = 0;
  uint64_t sent_at = 0;
};

std::vector<uint8_t> encode_probe(const Probe& probe) {
  std::vector<uint8_t> bytes(BENCH_PROBE_SIZE);
  bytes[0] = BENCH_MSG_PROBE;
  std::memcpy(bytes.data() + 1, &probe.index, 4);
  std::memcpy(bytes.data() + 5, &probe.count, 4);
  std::memcpy(bytes.data() + 9, &probe.sent_at, 8);
  return bytes;
}

Probe decode_probe(std::span<const uint8_t> bytes) {
  Probe probe;
  std::memcpy(&probe.index, bytes.data() + 1, 4);
  std::memcpy(&probe.count, bytes.data() + 5, 4);
  std::memcpy(&probe.sent_at, bytes.data() + 9, 8);
  return probe;
}

// A command for a pinger: the command byte, then the count (bench_protocol.h).
std::vector<uint8_t> encode_command(uint8_t command, uint32_t count) {
  std::vector<uint8_t> bytes(5);
  bytes[0] = command;
  std::memcpy(bytes.data() + 1, &count, 4);
  return bytes;
}

uint32_t decode_u32(std::span<const uint8_t> bytes) {
  uint32_t value = 0;
  if (bytes.size() >= 5) std::memcpy(&value, bytes.data() + 1, 4);
  return value;
}

// Two parties that exchange probes, requests and floods.
class Pair {
 public:
  virtual ~Pair() = default;
  [[nodiscard]] virtual Expected<Samples> one_way(uint32_t count) = 0;
  [[nodiscard]] virtual Expected<Samples> round_trip(uint32_t count) = 0;
  [[nodiscard]] virtual Expected<FloodResult> flood(uint32_t count) = 0;
};

// Starts one party until it is ready, then stops it again (untimed).
class Spawner {
 public:
  virtual ~Spawner() = default;
  // ns from the start call until the party is ready.
  [[nodiscard]] virtual Expected<uint64_t> spawn_one() = 0;
};

void spin_until(const std::atomic<bool>& flag) {
  while (!flag.load(std::memory_order_acquire)) std::this_thread::yield();
}

// ---- Components ------------------------------------------------------------

struct WasmFixtures {
  std::shared_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> pinger;
  std::shared_ptr<const engine::Module> ponger;
  std::shared_ptr<const engine::Module> pinger_buffer;  // built with BENCH_RECEIVE_BUFFER
  std::shared_ptr<const engine::Module> ponger_buffer;
};

std::optional<WasmFixtures> g_wasm;  // loaded by main() before any benchmark runs

// --engine=native runs the components on the native tier (compiled into a
// private cache under the temporary directory, removed at exit).
bool g_native = false;
std::filesystem::path g_native_cache;

Expected<WasmFixtures> load_wasm() {
  WasmFixtures f;
  if (g_native) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "airssys-bench-messaging-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) return std::unexpected("cannot create a cache directory");
    g_native_cache = pattern;
    engine::NativeOptions options;
    options.cache_dir = g_native_cache / "native";
    auto native = engine::Engine::native(options);
    if (!native) return std::unexpected(native.error().to_string());
    f.engine = std::shared_ptr<engine::Engine>(std::move(*native));
  } else {
    f.engine = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
  }
  const std::filesystem::path dir = AIRSSYS_BENCH_COMPONENTS_DIR;
  for (auto [field, file] : {std::pair{&WasmFixtures::pinger, "pinger.wasm"},
                             {&WasmFixtures::ponger, "ponger.wasm"},
                             {&WasmFixtures::pinger_buffer, "pinger_buffer.wasm"},
                             {&WasmFixtures::ponger_buffer, "ponger_buffer.wasm"}}) {
    auto module = f.engine->load_file(dir / file);
    if (!module) return std::unexpected(module.error().to_string());
    f.*field = *module;
  }
  return f;
}

Expected<ComponentSpec> component_spec(const std::string& name,
                                       std::shared_ptr<const engine::Module> module,
                                       const std::vector<std::string>& peers) {
  security::PatternLists lists;
  lists[static_cast<size_t>(security::Permission::MsgSend)] = peers;
  lists[static_cast<size_t>(security::Permission::MsgReceive)] = peers;
  auto capabilities = security::CapabilitySet::build(lists);
  if (!capabilities) return std::unexpected(capabilities.error().to_string());
  security::QuotaLimits quotas;
  quotas.messages_per_second = 1'000'000'000'000;  // the rate limit is not measured here
  auto context = security::WasmSecurityContext::create(name, std::move(*capabilities),
                                                       security::TrustLevel::Trusted, quotas);
  if (!context) return std::unexpected(context.error().to_string());
  ComponentSpec spec;
  spec.name = name;
  spec.module = std::move(module);
  spec.security = *context;
  return spec;
}

std::string describe(const ComponentSystem& system, const std::string& name) {
  auto status = system.status(name);
  if (!status) return fmt::format("'{}' is unknown", name);
  return fmt::format("'{}' is {}{}", name, component_state_name(status->state),
                     status->last_error ? ": " + status->last_error->to_string() : "");
}

// Waits, spinning, until the component is Ready (or Failed).
Expected<void> wait_ready(const ComponentSystem& system, const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + kResultTimeout;
  while (true) {
    auto status = system.status(name);
    if (status && status->state == ComponentState::Ready) return {};
    if (!status || status->state == ComponentState::Failed ||
        std::chrono::steady_clock::now() > deadline) {
      return std::unexpected("not ready: " + describe(system, name));
    }
    std::this_thread::yield();
  }
}

// The binary records the two components write to stdout (bench_protocol.h).
class Records {
 public:
  enum Source : size_t { kPinger = 0, kPonger = 1 };

  host::OutputSink sink(Source source) {
    return [this, source](std::span<const uint8_t> bytes) { add(source, bytes); };
  }

  // The next record from `source`, which must be of `kind`; an error record
  // from either component fails.
  Expected<std::vector<uint64_t>> take(Source source, uint32_t kind) {
    std::unique_lock lock(mutex_);
    bool ready = cv_.wait_for(lock, kResultTimeout,
                              [&] { return !records_[source].empty() || failed_locked(); });
    for (auto& records : records_) {
      for (const auto& r : records) {
        if (r.kind == BENCH_REC_ERROR) {
          auto code = static_cast<int32_t>(r.values.empty() ? 0 : r.values[0]);
          return std::unexpected(
              fmt::format("a component's ABI call failed with {} ({})", code,
                          host::abi_error_name(static_cast<host::AbiError>(code))));
        }
      }
    }
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

  void add(Source source, std::span<const uint8_t> bytes) {
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
        records_[source].push_back(std::move(record));
      }
    }
    cv_.notify_all();
  }

  bool failed_locked() const {
    for (const auto& records : records_) {
      for (const auto& r : records) {
        if (r.kind == BENCH_REC_ERROR) return true;
      }
    }
    return false;
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::array<std::vector<uint8_t>, 2> pending_;
  std::array<std::deque<Record>, 2> records_;
};

class WasmPair final : public Pair {
 public:
  static Expected<std::unique_ptr<Pair>> start(bool receive_buffer) {
    std::unique_ptr<WasmPair> pair(new WasmPair());
    ComponentSystemOptions options;
    options.engine = g_wasm->engine;
    pair->system_ = std::make_unique<ComponentSystem>(pair->scheduler_, options);
    auto ponger = component_spec(
        BENCH_PONGER, receive_buffer ? g_wasm->ponger_buffer : g_wasm->ponger, {BENCH_PINGER});
    auto pinger = component_spec(
        BENCH_PINGER, receive_buffer ? g_wasm->pinger_buffer : g_wasm->pinger, {BENCH_PONGER});
    if (!ponger) return std::unexpected(ponger.error());
    if (!pinger) return std::unexpected(pinger.error());
    ponger->mailbox_capacity = kFloodMailbox;
    ponger->stdout_sink = pair->records_.sink(Records::kPonger);
    pinger->stdout_sink = pair->records_.sink(Records::kPinger);
    for (auto* spec : {&*ponger, &*pinger}) {
      std::string name = spec->name;
      if (auto ok = pair->system_->start(std::move(*spec)); !ok) {
        return std::unexpected(ok.error().to_string());
      }
      if (auto ok = wait_ready(*pair->system_, name); !ok) return std::unexpected(ok.error());
    }
    return pair;
  }

  ~WasmPair() override {
    system_->stop();
    scheduler_.shutdown();  // before the system goes: its actors refer to it
  }

  Expected<Samples> one_way(uint32_t count) override {
    if (auto ok = command(BENCH_CMD_ONE_WAY, count); !ok) return std::unexpected(ok.error());
    return with_status(records_.take(Records::kPonger, BENCH_REC_ONE_WAY));
  }

  Expected<Samples> round_trip(uint32_t count) override {
    if (auto ok = command(BENCH_CMD_REQUEST, count); !ok) return std::unexpected(ok.error());
    return with_status(records_.take(Records::kPinger, BENCH_REC_ROUND_TRIP));
  }

  Expected<FloodResult> flood(uint32_t count) override {
    if (auto ok = command(BENCH_CMD_FLOOD, count); !ok) return std::unexpected(ok.error());
    auto sent = with_status(records_.take(Records::kPinger, BENCH_REC_FLOOD_SENT));
    if (!sent) return std::unexpected(sent.error());
    auto end = with_status(records_.take(Records::kPonger, BENCH_REC_FLOOD_END));
    if (!end) return std::unexpected(end.error());
    if (sent->size() != 3 || end->size() != 1) return std::unexpected("malformed flood records");
    const auto& s = *sent;
    return FloodResult{static_cast<double>((*end)[0] - s[0]) * 1e-9,
                       static_cast<double>(s[1] - s[0]) * 1e-9, s[2]};
  }

 private:
  WasmPair() : scheduler_(actor::ThreadPoolOptions{kWorkers}) {}

  Expected<void> command(uint8_t command, uint32_t count) {
    auto sent = system_->send_from_host(BENCH_PINGER, encode_command(command, count));
    if (!sent) return std::unexpected(sent.error().to_string());
    return {};
  }

  // A failure says what state the two components are in.
  Expected<std::vector<uint64_t>> with_status(Expected<std::vector<uint64_t>> result) {
    if (result) return result;
    return std::unexpected(fmt::format("{}; {}, {}", result.error(),
                                       describe(*system_, BENCH_PINGER),
                                       describe(*system_, BENCH_PONGER)));
  }

  Records records_;  // outlives the system whose components write to it
  actor::ThreadPoolScheduler scheduler_;
  std::unique_ptr<ComponentSystem> system_;
};

class WasmSpawner final : public Spawner {
 public:
  WasmSpawner() : scheduler_(actor::ThreadPoolOptions{kWorkers}) {
    ComponentSystemOptions options;
    options.engine = g_wasm->engine;
    system_ = std::make_unique<ComponentSystem>(scheduler_, options);
  }
  ~WasmSpawner() override {
    system_->stop();
    scheduler_.shutdown();
  }

  Expected<uint64_t> spawn_one() override {
    // A system remembers every name it ran, so every spawn takes a new one.
    const std::string name = fmt::format("spawned-{}", ++spawned_);
    auto spec = component_spec(name, g_wasm->ponger, {});
    if (!spec) return std::unexpected(spec.error());
    const uint64_t start = now_ns();
    if (auto ok = system_->start(std::move(*spec)); !ok) {
      return std::unexpected(ok.error().to_string());
    }
    if (auto ok = wait_ready(*system_, name); !ok) return std::unexpected(ok.error());
    const uint64_t ready = now_ns();
    if (auto ok = system_->supervisor()->remove_child(name); !ok) {
      return std::unexpected(ok.error().to_string());
    }
    const auto deadline = std::chrono::steady_clock::now() + kResultTimeout;
    while (system_->status(name)->state != ComponentState::Terminated) {
      if (std::chrono::steady_clock::now() > deadline) {
        return std::unexpected("not stopped: " + describe(*system_, name));
      }
      std::this_thread::sleep_for(20us);
    }
    return ready - start;
  }

 private:
  actor::ThreadPoolScheduler scheduler_;
  std::unique_ptr<ComponentSystem> system_;
  uint64_t spawned_ = 0;
};

// ---- The actor runtime alone -----------------------------------------------

class RuntimePonger final : public actor::Behavior {
 public:
  explicit RuntimePonger(Shared& shared) : shared_(shared) {}

  Result<actor::StepResult> step(actor::ActorContext& ctx) override {
    auto message = ctx.receive();
    if (!message) return actor::StepResult::Idle;
    if (message->kind == actor::MessageKind::Request) {
      actor::Envelope reply;
      reply.kind = actor::MessageKind::Reply;
      reply.correlation_id = message->correlation_id;
      reply.target = message->sender;
      AIRSSYS_TRY(ctx.send(std::move(reply)));
      return actor::StepResult::Idle;
    }
    const auto& payload = message->payload;
    if (payload.empty() || payload[0] == BENCH_MSG_FILL) return actor::StepResult::Idle;
    const uint64_t arrived = now_ns();
    if (payload[0] == BENCH_MSG_LAST) {
      shared_.flood_end = arrived;
      shared_.done.notify();
    } else if (payload[0] == BENCH_MSG_PROBE && payload.size() >= BENCH_PROBE_SIZE) {
      Probe probe = decode_probe(payload);
      shared_.samples[probe.index] = arrived - probe.sent_at;
      if (probe.index + 1 >= probe.count) {
        shared_.done.notify();
      } else {
        actor::Envelope ack;
        ack.target = message->sender;
        ack.payload.resize(5);
        ack.payload[0] = BENCH_MSG_ACK;
        std::memcpy(ack.payload.data() + 1, &probe.index, 4);
        AIRSSYS_TRY(ctx.send(std::move(ack)));
      }
    }
    return actor::StepResult::Idle;
  }

 private:
  Shared& shared_;
};

class RuntimePinger final : public actor::Behavior {
 public:
  // With `timers`, every request arms a timeout and its reply cancels it, as a
  // component's request does.
  RuntimePinger(Shared& shared, actor::Address ponger, bool timers)
      : shared_(shared), ponger_(std::move(ponger)), timers_(timers) {}

  Result<actor::StepResult> step(actor::ActorContext& ctx) override {
    if (flood_left_ > 0) return flood(ctx);
    auto message = ctx.receive();
    if (!message) return actor::StepResult::Idle;
    if (message->kind == actor::MessageKind::Reply) {
      const uint64_t arrived = now_ns();
      if (timers_) ctx.scheduler().cancel(timer_);
      shared_.samples[shared_.replied++] = arrived - shared_.asked_at;
      if (shared_.replied == shared_.wanted) {
        shared_.done.notify();
      } else {
        AIRSSYS_TRY(ask(ctx));
      }
      return actor::StepResult::Idle;
    }
    const auto& payload = message->payload;
    if (payload.empty()) return actor::StepResult::Idle;
    const uint32_t count = decode_u32(payload);
    switch (payload[0]) {
      case BENCH_MSG_ACK:
        AIRSSYS_TRY(send_probe(ctx, count + 1));
        break;
      case BENCH_CMD_ONE_WAY:
        shared_.wanted = count;
        AIRSSYS_TRY(send_probe(ctx, 0));
        break;
      case BENCH_CMD_REQUEST:
        shared_.wanted = count;
        shared_.replied = 0;
        AIRSSYS_TRY(ask(ctx));
        break;
      case BENCH_CMD_FLOOD:
        flood_left_ = count;
        shared_.flood_retries = 0;
        shared_.flood_started = now_ns();
        return flood(ctx);
      default:
        break;
    }
    return actor::StepResult::Idle;
  }

 private:
  Result<void> send_probe(actor::ActorContext& ctx, uint32_t index) {
    actor::Envelope envelope;
    envelope.target = ponger_;
    envelope.payload = encode_probe({index, shared_.wanted, 0});
    const uint64_t sent_at = now_ns();
    std::memcpy(envelope.payload.data() + 9, &sent_at, 8);
    return ctx.send(std::move(envelope));
  }

  Result<void> ask(actor::ActorContext& ctx) {
    actor::Envelope envelope;
    envelope.kind = actor::MessageKind::Request;
    envelope.correlation_id = ++correlation_;
    envelope.target = ponger_;
    envelope.payload = {BENCH_MSG_ASK};
    shared_.asked_at = now_ns();
    AIRSSYS_TRY(ctx.send(std::move(envelope)));
    if (timers_) {
      actor::Envelope timeout;
      timeout.kind = actor::MessageKind::Timeout;
      timeout.correlation_id = correlation_;
      timeout.target = ctx.self();
      timeout.sender = ctx.self();
      timer_ = ctx.scheduler().send_after(kRequestTimeout, std::move(timeout));
    }
    return {};
  }

  // Sends the next chunk of the flood; yields between chunks and when the
  // receiver's mailbox is full.
  Result<actor::StepResult> flood(actor::ActorContext& ctx) {
    for (uint32_t i = 0; i < kFloodChunk && flood_left_ > 0; ++i) {
      actor::Envelope envelope;
      envelope.target = ponger_;
      envelope.payload = {flood_left_ == 1 ? uint8_t{BENCH_MSG_LAST} : uint8_t{BENCH_MSG_FILL}};
      auto sent = ctx.send(std::move(envelope));
      if (!sent) {
        if (sent.error().code != ErrorCode::MailboxFull) return std::unexpected(sent.error());
        ++shared_.flood_retries;
        return actor::StepResult::Yield;
      }
      --flood_left_;
    }
    if (flood_left_ > 0) return actor::StepResult::Yield;
    shared_.flood_sent = now_ns();
    shared_.done.notify();
    return actor::StepResult::Idle;
  }

  Shared& shared_;
  const actor::Address ponger_;
  const bool timers_;
  uint64_t correlation_ = 0;
  actor::TimerId timer_ = 0;
  uint32_t flood_left_ = 0;
};

class RuntimePair final : public Pair {
 public:
  static Expected<std::unique_ptr<Pair>> start(bool timers) {
    std::unique_ptr<RuntimePair> pair(new RuntimePair());
    actor::SpawnOptions ponger_options{.name = BENCH_PONGER, .mailbox_capacity = kFloodMailbox};
    auto ponger = pair->scheduler_.spawn(std::make_unique<RuntimePonger>(pair->shared_),
                                         std::move(ponger_options));
    if (!ponger) return std::unexpected(ponger.error().to_string());
    auto pinger = pair->scheduler_.spawn(
        std::make_unique<RuntimePinger>(pair->shared_, *ponger, timers), {.name = BENCH_PINGER});
    if (!pinger) return std::unexpected(pinger.error().to_string());
    pair->pinger_ = *pinger;
    return pair;
  }

  ~RuntimePair() override { scheduler_.shutdown(); }

  Expected<Samples> one_way(uint32_t count) override {
    if (auto ok = command(BENCH_CMD_ONE_WAY, count); !ok) return std::unexpected(ok.error());
    return shared_.samples_of(count, "one-way");
  }
  Expected<Samples> round_trip(uint32_t count) override {
    if (auto ok = command(BENCH_CMD_REQUEST, count); !ok) return std::unexpected(ok.error());
    return shared_.samples_of(count, "round trip");
  }
  Expected<FloodResult> flood(uint32_t count) override {
    if (auto ok = command(BENCH_CMD_FLOOD, count); !ok) return std::unexpected(ok.error());
    return shared_.flood_result();
  }

 private:
  RuntimePair() : scheduler_(actor::ThreadPoolOptions{kWorkers}) {}

  Expected<void> command(uint8_t command, uint32_t count) {
    actor::Envelope envelope;
    envelope.target = pinger_;
    envelope.payload = encode_command(command, count);
    if (auto sent = scheduler_.send(std::move(envelope)); !sent) {
      return std::unexpected(sent.error().to_string());
    }
    return {};
  }

  Shared shared_;  // outlives the scheduler's actors
  actor::ThreadPoolScheduler scheduler_;
  actor::Address pinger_;
};

// An actor that is ready once its first step has run.
class ReadyFlag final : public actor::Behavior {
 public:
  explicit ReadyFlag(std::atomic<bool>& ready) : ready_(ready) {}
  Result<actor::StepResult> step(actor::ActorContext& ctx) override {
    ready_.store(true, std::memory_order_release);
    while (ctx.receive()) {
    }
    return actor::StepResult::Idle;
  }

 private:
  std::atomic<bool>& ready_;
};

class RuntimeSpawner final : public Spawner {
 public:
  RuntimeSpawner() : scheduler_(actor::ThreadPoolOptions{kWorkers}) {}
  ~RuntimeSpawner() override { scheduler_.shutdown(); }

  Expected<uint64_t> spawn_one() override {
    std::atomic<bool> ready{false};
    const uint64_t start = now_ns();
    auto address = scheduler_.spawn(std::make_unique<ReadyFlag>(ready));
    if (!address) return std::unexpected(address.error().to_string());
    spin_until(ready);
    const uint64_t elapsed = now_ns() - start;
    (void)scheduler_.stop(*address);
    while (scheduler_.alive(*address)) std::this_thread::sleep_for(20us);
    return elapsed;
  }

 private:
  actor::ThreadPoolScheduler scheduler_;
};

// ---- The C++ Actor Framework -----------------------------------------------

using probe_atom = caf::atom_constant<caf::atom("probe")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using ask_atom = caf::atom_constant<caf::atom("ask")>;
using answer_atom = caf::atom_constant<caf::atom("answer")>;
using fill_atom = caf::atom_constant<caf::atom("fill")>;
using last_atom = caf::atom_constant<caf::atom("last")>;
using one_way_atom = caf::atom_constant<caf::atom("oneway")>;
using request_atom = caf::atom_constant<caf::atom("request")>;
using flood_atom = caf::atom_constant<caf::atom("flood")>;

caf::behavior caf_ponger(caf::event_based_actor* self, Shared* shared) {
  return {
      [=](probe_atom, uint32_t index, uint32_t count, uint64_t sent_at) {
        shared->samples[index] = now_ns() - sent_at;
        if (index + 1 >= count) {
          shared->done.notify();
        } else {
          self->send(caf::actor_cast<caf::actor>(self->current_sender()), ack_atom::value, index);
        }
      },
      [](ask_atom) { return answer_atom::value; },
      [](fill_atom) {},
      [=](last_atom) {
        shared->flood_end = now_ns();
        shared->done.notify();
      },
  };
}

void caf_probe(caf::event_based_actor* self, const caf::actor& ponger, Shared* shared,
               uint32_t index) {
  self->send(ponger, probe_atom::value, index, shared->wanted, now_ns());
}

// A request with a timeout, as a component's request has.
void caf_ask(caf::event_based_actor* self, const caf::actor& ponger, Shared* shared) {
  shared->asked_at = now_ns();
  self->request(ponger, kRequestTimeout, ask_atom::value).then([=](answer_atom) {
    shared->samples[shared->replied++] = now_ns() - shared->asked_at;
    if (shared->replied == shared->wanted) {
      shared->done.notify();
    } else {
      caf_ask(self, ponger, shared);
    }
  });
}

caf::behavior caf_pinger(caf::event_based_actor* self, caf::actor ponger, Shared* shared) {
  return {
      [=](one_way_atom, uint32_t count) {
        shared->wanted = count;
        caf_probe(self, ponger, shared, 0);
      },
      [=](ack_atom, uint32_t index) { caf_probe(self, ponger, shared, index + 1); },
      [=](request_atom, uint32_t count) {
        shared->wanted = count;
        shared->replied = 0;
        caf_ask(self, ponger, shared);
      },
      [=](flood_atom, uint32_t count) {
        shared->flood_retries = 0;
        shared->flood_started = now_ns();
        for (uint32_t i = 1; i < count; ++i) self->send(ponger, fill_atom::value);
        self->send(ponger, last_atom::value);
        shared->flood_sent = now_ns();
        shared->done.notify();
      },
  };
}

caf::actor_system_config& caf_config(caf::actor_system_config& config) {
  config.set("scheduler.max-threads", kWorkers);
  return config;
}

class CafPair final : public Pair {
 public:
  static Expected<std::unique_ptr<Pair>> start() {
    std::unique_ptr<CafPair> pair(new CafPair());
    if (pair->system_.scheduler().num_workers() != kWorkers) {
      return std::unexpected(fmt::format("CAF runs {} workers, not {}",
                                         pair->system_.scheduler().num_workers(), kWorkers));
    }
    pair->ponger_ = pair->system_.spawn(caf_ponger, &pair->shared_);
    pair->pinger_ = pair->system_.spawn(caf_pinger, pair->ponger_, &pair->shared_);
    return pair;
  }

  ~CafPair() override {
    caf::anon_send_exit(pinger_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ponger_, caf::exit_reason::user_shutdown);
    pinger_ = nullptr;
    ponger_ = nullptr;
    system_.await_all_actors_done();
  }

  Expected<Samples> one_way(uint32_t count) override {
    caf::anon_send(pinger_, one_way_atom::value, count);
    return shared_.samples_of(count, "one-way");
  }
  Expected<Samples> round_trip(uint32_t count) override {
    caf::anon_send(pinger_, request_atom::value, count);
    return shared_.samples_of(count, "round trip");
  }
  Expected<FloodResult> flood(uint32_t count) override {
    caf::anon_send(pinger_, flood_atom::value, count);
    return shared_.flood_result();
  }

 private:
  CafPair() : system_(caf_config(config_)) {}

  Shared shared_;  // outlives the actors
  caf::actor_system_config config_;
  caf::actor_system system_;
  caf::actor ponger_;
  caf::actor pinger_;
};

class CafSpawner final : public Spawner {
 public:
  CafSpawner() : system_(caf_config(config_)) {}
  ~CafSpawner() override { system_.await_all_actors_done(); }

  Expected<uint64_t> spawn_one() override {
    std::atomic<bool> ready{false};
    const uint64_t start = now_ns();
    auto actor = system_.spawn([&ready](caf::event_based_actor*) -> caf::behavior {
      ready.store(true, std::memory_order_release);
      return {[](fill_atom) {}};
    });
    spin_until(ready);
    const uint64_t elapsed = now_ns() - start;
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    return elapsed;
  }

 private:
  caf::actor_system_config config_;
  caf::actor_system system_;
};

// ---- Plain C++: two threads, two mutex+condvar queues ----------------------

constexpr uint8_t kPlainQuit = 0;
constexpr uint8_t kPlainAnswer = 'r';

struct PlainMessage {
  uint8_t tag = kPlainQuit;
  uint32_t index = 0;  // a probe's or an ack's; a command's count
  uint32_t count = 0;
  uint64_t sent_at = 0;
};

class PlainQueue {
 public:
  void push(PlainMessage message) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(message);
    }
    cv_.notify_one();
  }
  PlainMessage pop() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !queue_.empty(); });
    PlainMessage message = queue_.front();
    queue_.pop_front();
    return message;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<PlainMessage> queue_;
};

class PlainPair final : public Pair {
 public:
  static Expected<std::unique_ptr<Pair>> start() { return std::make_unique<PlainPair>(); }

  PlainPair() : pinger_([this] { run_pinger(); }), ponger_([this] { run_ponger(); }) {}
  ~PlainPair() override {
    to_pinger_.push({});
    to_ponger_.push({});
    pinger_.join();
    ponger_.join();
  }

  Expected<Samples> one_way(uint32_t count) override {
    to_pinger_.push({.tag = BENCH_CMD_ONE_WAY, .index = count});
    return shared_.samples_of(count, "one-way");
  }
  Expected<Samples> round_trip(uint32_t count) override {
    to_pinger_.push({.tag = BENCH_CMD_REQUEST, .index = count});
    return shared_.samples_of(count, "round trip");
  }
  Expected<FloodResult> flood(uint32_t count) override {
    to_pinger_.push({.tag = BENCH_CMD_FLOOD, .index = count});
    return shared_.flood_result();
  }

 private:
  void probe(uint32_t index) {
    to_ponger_.push({BENCH_MSG_PROBE, index, shared_.wanted, now_ns()});
  }
  void ask() {
    shared_.asked_at = now_ns();
    to_ponger_.push({.tag = BENCH_MSG_ASK});
  }

  void run_pinger() {
    while (true) {
      PlainMessage m = to_pinger_.pop();
      switch (m.tag) {
        case kPlainQuit:
          return;
        case BENCH_CMD_ONE_WAY:
          shared_.wanted = m.index;
          probe(0);
          break;
        case BENCH_MSG_ACK:
          probe(m.index + 1);
          break;
        case BENCH_CMD_REQUEST:
          shared_.wanted = m.index;
          shared_.replied = 0;
          ask();
          break;
        case kPlainAnswer:
          shared_.samples[shared_.replied++] = now_ns() - shared_.asked_at;
          if (shared_.replied == shared_.wanted) {
            shared_.done.notify();
          } else {
            ask();
          }
          break;
        case BENCH_CMD_FLOOD:
          shared_.flood_retries = 0;
          shared_.flood_started = now_ns();
          for (uint32_t i = 1; i < m.index; ++i) to_ponger_.push({.tag = BENCH_MSG_FILL});
          to_ponger_.push({.tag = BENCH_MSG_LAST});
          shared_.flood_sent = now_ns();
          shared_.done.notify();
          break;
        default:
          break;
      }
    }
  }

  void run_ponger() {
    while (true) {
      PlainMessage m = to_ponger_.pop();
      switch (m.tag) {
        case kPlainQuit:
          return;
        case BENCH_MSG_PROBE:
          shared_.samples[m.index] = now_ns() - m.sent_at;
          if (m.index + 1 >= m.count) {
            shared_.done.notify();
          } else {
            to_pinger_.push({.tag = BENCH_MSG_ACK, .index = m.index});
          }
          break;
        case BENCH_MSG_ASK:
          to_pinger_.push({.tag = kPlainAnswer});
          break;
        case BENCH_MSG_LAST:
          shared_.flood_end = now_ns();
          shared_.done.notify();
          break;
        default:  // BENCH_MSG_FILL
          break;
      }
    }
  }

  Shared shared_;
  PlainQueue to_pinger_;
  PlainQueue to_ponger_;
  std::thread pinger_;
  std::thread ponger_;
};

class PlainSpawner final : public Spawner {
 public:
  Expected<uint64_t> spawn_one() override {
    std::atomic<bool> ready{false};
    const uint64_t start = now_ns();
    std::thread thread([&ready] { ready.store(true, std::memory_order_release); });
    spin_until(ready);
    const uint64_t elapsed = now_ns() - start;
    thread.join();
    return elapsed;
  }
};

// ---- Benchmarks ------------------------------------------------------------

Expected<std::unique_ptr<Pair>> make_pair(Impl impl) {
  switch (impl) {
    case Impl::Wasm:
      return WasmPair::start(false);
    case Impl::WasmBuffer:
      return WasmPair::start(true);
    case Impl::Runtime:
      return RuntimePair::start(false);
    case Impl::RuntimeTimer:
      return RuntimePair::start(true);
    case Impl::Caf:
      return CafPair::start();
    case Impl::Plain:
      return PlainPair::start();
  }
  return std::unexpected("unknown implementation");
}

std::unique_ptr<Spawner> make_spawner(Impl impl) {
  switch (impl) {
    case Impl::Wasm:
    case Impl::WasmBuffer:
      return std::make_unique<WasmSpawner>();
    case Impl::Runtime:
    case Impl::RuntimeTimer:
      return std::make_unique<RuntimeSpawner>();
    case Impl::Caf:
      return std::make_unique<CafSpawner>();
    case Impl::Plain:
      return std::make_unique<PlainSpawner>();
  }
  return nullptr;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  // Nearest rank.
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

void fail(benchmark::State& state, Metric metric, Impl impl, const std::string& error) {
  g_pooled[{metric, impl}].error = error;
  state.SkipWithError(error.c_str());
}

// Adds this run's samples to the pool and reports their median and p99.
void pool(benchmark::State& state, Metric metric, Impl impl, const std::vector<double>& values) {
  auto& pooled = g_pooled[{metric, impl}].values;
  pooled.insert(pooled.end(), values.begin(), values.end());
  state.counters["p50_us"] = percentile(values, 50) / 1e3;
  state.counters["p99_us"] = percentile(values, 99) / 1e3;
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

// ---- The pieces of a component's spawn, as ComponentActor does them --------

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

// ---- Summary ---------------------------------------------------------------

std::string format_ns(double ns) {
  if (ns >= 1e6) return fmt::format("{:.2f} ms", ns / 1e6);
  if (ns >= 1e3) return fmt::format("{:.2f} us", ns / 1e3);
  return fmt::format("{:.0f} ns", ns);
}

std::string format_rate(double per_second) {
  if (per_second >= 1e6) return fmt::format("{:.2f} M/s", per_second / 1e6);
  if (per_second >= 1e3) return fmt::format("{:.1f} k/s", per_second / 1e3);
  return fmt::format("{:.0f} /s", per_second);
}

const char* impl_label(Impl impl, Metric metric) {
  switch (impl) {
    case Impl::Wasm:
      return "components (wasm)";
    case Impl::WasmBuffer:
      return "components with the SDK inbox";
    case Impl::Runtime:
      return "actor runtime alone";
    case Impl::RuntimeTimer:
      return "actor runtime, 30 s timer per request";
    case Impl::Caf:
      return metric == Metric::RoundTrip ? "CAF 0.17, request with 30 s timeout" : "CAF 0.17";
    case Impl::Plain:
      return metric == Metric::Spawn ? "plain std::thread" : "plain C++ (mutex+condvar)";
  }
  return "?";
}

const Pooled* pooled(Metric metric, Impl impl) {
  auto it = g_pooled.find({metric, impl});
  if (it == g_pooled.end() || (it->second.values.empty() && !it->second.error)) return nullptr;
  return &it->second;
}

double median(Metric metric, Impl impl) {
  const Pooled* p = pooled(metric, impl);
  return p && !p->values.empty() ? percentile(p->values, 50) : 0;
}

// "time" ratios: how many times longer the row takes than the baseline
// (for a flood, per message: the inverse of the rates).
std::string ratios(Metric metric, Impl impl, double value) {
  std::string out;
  for (Impl base : {Impl::Plain, Impl::Caf, Impl::Runtime}) {
    double b = median(metric, base);
    if (base == impl || b <= 0 || value <= 0) {
      out += fmt::format("  {:>8}", "");
      continue;
    }
    double ratio = metric == Metric::Flood ? b / value : value / b;
    out += fmt::format("  {:>7.2f}x", ratio);
  }
  return out;
}

void print_section(const char* title, Metric metric, std::initializer_list<Impl> impls) {
  const bool flood = metric == Metric::Flood;
  fmt::print("\n{}\n  {:<40} {:>10} {:>10}  {:>8}  {:>8}  {:>8}\n", title, "",
             flood ? "msg/s" : "median", flood ? "per msg" : "p99", "/plain", "/CAF", "/runtime");
  for (Impl impl : impls) {
    const Pooled* p = pooled(metric, impl);
    const char* label = impl_label(impl, metric);
    if (!p) {
      fmt::print("  {:<40} {:>10}\n", label, "not run");
      continue;
    }
    if (p->error) {
      fmt::print("  {:<40} failed: {}\n", label, *p->error);
      continue;
    }
    const double mid = percentile(p->values, 50);
    if (flood) {
      fmt::print("  {:<40} {:>10} {:>10}{}\n", label, format_rate(mid), format_ns(1e9 / mid),
                 ratios(metric, impl, mid));
    } else {
      fmt::print("  {:<40} {:>10} {:>10}{}\n", label, format_ns(mid),
                 format_ns(percentile(p->values, 99)), ratios(metric, impl, mid));
    }
  }
}

void print_flood_notes() {
  for (Impl impl : {Impl::Wasm, Impl::WasmBuffer, Impl::Runtime, Impl::Caf, Impl::Plain}) {
    const Pooled* p = pooled(Metric::Flood, impl);
    if (!p || p->error || p->sender_rates.empty()) continue;
    fmt::print("    {:<38} sender alone {:>10}, {} floods, {} sends retried (mailbox full)\n",
               impl_label(impl, Metric::Flood), format_rate(percentile(p->sender_rates, 50)),
               p->values.size(), p->retries);
  }
}

struct Piece {
  Metric metric;
  const char* label;
};

// Pieces measured on their own, with their median sum and, for guest calls,
// the fuel each is charged (metering charges a straight-line region in full on
// entry, so fuel is an upper bound of the wasm instructions executed).
void print_pieces(const char* title, Impl impl, std::initializer_list<Piece> pieces) {
  bool any = false;
  for (const auto& piece : pieces) any = any || pooled(piece.metric, impl);
  if (!any) return;
  fmt::print("\n{}\n  {:<40} {:>10} {:>10}\n", title, "", "median", "p99");
  double sum = 0;
  for (const auto& piece : pieces) {
    const Pooled* p = pooled(piece.metric, impl);
    if (!p || p->error || p->values.empty()) {
      fmt::print("  {:<40} {}\n", piece.label, p && p->error ? "failed: " + *p->error : "not run");
      continue;
    }
    const double mid = percentile(p->values, 50);
    sum += mid;
    fmt::print("  {:<40} {:>10} {:>10}{}\n", piece.label, format_ns(mid),
               format_ns(percentile(p->values, 99)),
               p->fuel > 0 ? fmt::format("  {:>5} fuel", p->fuel) : "");
  }
  fmt::print("  {:<40} {:>10}\n", "sum of the medians", format_ns(sum));
}

void print_targets() {
  fmt::print("\nTargets (issue 4), components (allocator / SDK inbox):\n");
  auto line = [](const char* what, Impl impl, double value, bool met, const std::string& shown,
                 const std::string& factor) {
    const char* variant = impl == Impl::Wasm ? "allocator" : "inbox";
    if (value <= 0) {
      fmt::print("  {:<36} {:<10} not measured\n", what, variant);
      return;
    }
    fmt::print("  {:<36} {:<10} {:>10}  {}{}\n", what, variant, shown, met ? "met" : "NOT met",
               factor);
  };
  for (Impl impl : {Impl::Wasm, Impl::WasmBuffer}) {
    const double rr = median(Metric::RoundTrip, impl);
    line("request/reply median <= 5 us", impl, rr, rr <= 5e3, format_ns(rr),
         rr > 5e3 ? fmt::format(" ({:.1f}x over)", rr / 5e3) : "");
  }
  for (Impl impl : {Impl::Wasm, Impl::WasmBuffer}) {
    const double rate = median(Metric::Flood, impl);
    line("one-way throughput >= 1M msg/s", impl, rate, rate >= 1e6, format_rate(rate),
         rate > 0 && rate < 1e6 ? fmt::format(" ({:.1f}x short)", 1e6 / rate) : "");
  }
  const double spawn = median(Metric::Spawn, Impl::Wasm);
  line("spawn median <= 100 us", Impl::Wasm, spawn, spawn <= 100e3, format_ns(spawn),
       spawn > 100e3 ? fmt::format(" ({:.1f}x over)", spawn / 100e3) : "");
}

// The report's headline numbers: components with the SDK inbox against CAF,
// on the tier this run used.
void print_headlines() {
  using airssys::wasm::bench::headline;
  const std::string area = g_native ? "messaging (native tier)" : "messaging";
  const double caf_rr = median(Metric::RoundTrip, Impl::Caf);
  headline(area, "one-way latency, median", median(Metric::OneWay, Impl::WasmBuffer), "ns", "CAF",
           median(Metric::OneWay, Impl::Caf));
  headline(area, "request/reply round trip, median", median(Metric::RoundTrip, Impl::WasmBuffer),
           "ns", "CAF", caf_rr);
  const double rate = median(Metric::Flood, Impl::WasmBuffer);
  const double caf_rate = median(Metric::Flood, Impl::Caf);
  // As time per message, so that the ratio reads like the others (x slower).
  headline(area, "one-way throughput, time per message", rate > 0 ? 1e9 / rate : 0, "ns", "CAF",
           caf_rate > 0 ? 1e9 / caf_rate : 0);
  headline(area, "spawn, start until ready, median", median(Metric::Spawn, Impl::Wasm), "ns",
           "CAF", median(Metric::Spawn, Impl::Caf));
}

void print_summary() {
  size_t samples = 0;
  for (const auto& [key, p] : g_pooled) {
    if (key.first == Metric::OneWay) samples += p.values.size();
  }
  fmt::print(
      "\nSummary: medians and 99th percentiles over every sample of the run; ratios are\n"
      "medians against the baselines of this run (how many times longer per message).\n"
      "{} worker threads; {} one-way samples in all; floods of {} messages.\n"
      "Components run on the {} tier.\n",
      kWorkers, samples, kFloodMessages, g_native ? "native" : "interpreter");
  print_section("One-way latency, send until the receiver's handler runs", Metric::OneWay,
                {Impl::Wasm, Impl::WasmBuffer, Impl::Runtime, Impl::Caf, Impl::Plain});
  print_section(
      "Request/reply round trip", Metric::RoundTrip,
      {Impl::Wasm, Impl::WasmBuffer, Impl::Runtime, Impl::RuntimeTimer, Impl::Caf, Impl::Plain});
  print_section("Throughput, one-way flood (median over floods)", Metric::Flood,
                {Impl::Wasm, Impl::WasmBuffer, Impl::Runtime, Impl::Caf, Impl::Plain});
  print_flood_notes();
  print_section("Spawn, start until ready", Metric::Spawn,
                {Impl::Wasm, Impl::Runtime, Impl::Caf, Impl::Plain});
  print_pieces("A component's spawn in pieces, each measured on its own", Impl::Wasm,
               {{Metric::SpawnLinker, "linker: add_wasi + add_messaging"},
                {Metric::SpawnInstantiate, "new store + instantiate ponger.wasm"},
                {Metric::SpawnInitCalls, "_initialize, alloc, init, dealloc calls"}});
  const std::initializer_list<Piece> delivery = {
      {Metric::DeliverAlloc, "airssys_alloc + memory write"},
      {Metric::DeliverHandle, "airssys_handle_message (empty)"},
      {Metric::DeliverDealloc, "airssys_dealloc"}};
  print_pieces("Receiving one fill message: the ponger's three guest calls alone, no scheduler",
               Impl::Wasm, delivery);
  print_targets();
  print_headlines();
}

}  // namespace
}  // namespace airssys::wasm::component

int main(int argc, char** argv) {
  namespace component = airssys::wasm::component;
  // Our own flag, taken out before Google Benchmark sees the arguments.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--engine=native") {
      component::g_native = true;
    } else if (arg == "--engine=interp") {
      component::g_native = false;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  auto wasm = component::load_wasm();
  if (!wasm) {
    std::fprintf(stderr, "bench_messaging: %s\n", wasm.error().c_str());
    return 1;
  }
  component::g_wasm = std::move(*wasm);
  benchmark::RunSpecifiedBenchmarks();
  component::print_summary();
  component::g_wasm.reset();
  if (!component::g_native_cache.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(component::g_native_cache, ec);
  }
  benchmark::Shutdown();
  return 0;
}
