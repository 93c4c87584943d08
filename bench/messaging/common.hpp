#pragma once
// What the messaging benchmark's files share (bench/messaging_bench.cpp has
// the overview): the batch sizes and timeouts, what is measured and pooled
// over the run, the Pair, FanOut and Spawner the implementations provide, the
// probe and command encodings of bench_protocol.h, and the factories of the
// four implementations.

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <expected>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "bench_protocol.h"
#include "support/report.hpp"

namespace airssys::wasm::component::messaging_bench {

using namespace std::chrono_literals;

constexpr size_t kWorkers = 2;
constexpr uint32_t kLatencyBatch = 1000;  // probes or requests per iteration
constexpr uint32_t kWarmupBatch = 200;    // run once per benchmark run, untimed
static_assert(kLatencyBatch <= BENCH_MAX_SAMPLES && kWarmupBatch <= BENCH_MAX_SAMPLES);
constexpr uint32_t kFloodMessages = 100'000;
constexpr uint32_t kFloodChunk = 1000;     // messages an actor sends per step
constexpr size_t kFloodMailbox = 131'072;  // holds a whole flood: no back-pressure
constexpr uint32_t kFanOutSubscribers = 100;
constexpr uint32_t kFanOutMessages = 1000;  // publishes per fan-out
constexpr uint32_t kFanOutChunk = 10;       // publishes an actor makes per step
constexpr size_t kFanOutMailbox = 4096;     // holds a whole fan-out: nothing refused as full
static_assert(kFanOutMailbox >= kFanOutMessages);
constexpr int kLatencyIterations = 4;
constexpr int kFloodIterations = 2;
constexpr int kFanOutIterations = 2;
constexpr int kSpawnIterations = 50;
constexpr int kSpawnPieceIterations = 200;
constexpr int kDeliverIterations = 2000;
constexpr auto kResultTimeout = 60s;
constexpr auto kRequestTimeout = 30s;  // what a component's request with timeout 0 arms

template <class T>
using Expected = std::expected<T, std::string>;
using Samples = std::vector<uint64_t>;  // ns

inline uint64_t now_ns() {
  // CLOCK_MONOTONIC, the clock the components read through WASI.
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// ---- What is measured, pooled over the whole run ---------------------------

// WasmBuffer: the same components built with the SDK inbox
// (AIRSSYS_DEFINE_INBOX): a message that fits costs one guest call.
// CafDirect: fan-out only, CAF's publisher sending to each subscriber itself
// (Caf: through a local group).
enum class Impl : uint8_t { Wasm, WasmBuffer, Runtime, RuntimeTimer, Caf, CafDirect, Plain };
enum class Metric : uint8_t {
  OneWay,
  RoundTrip,
  Flood,
  FanOut,
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

// A fan-out: one publisher, kFanOutSubscribers subscribers, every message to
// every subscriber.
struct FanOutResult {
  double seconds = 0;         // first publish until the last subscriber got LAST
  double sender_seconds = 0;  // first publish until the last publish returned
  uint64_t delivered = 0;     // messages the subscribers received, all of them
};

struct Pooled {
  std::vector<double> values;        // ns per sample; for floods, messages per second per flood;
                                     // for fan-outs, ns per delivered message per fan-out
  std::vector<double> sender_rates;  // floods only: messages per second the sender sent
  std::vector<double> publish_ns;    // fan-outs only: the publisher's own time per publish
  uint64_t retries = 0;
  uint64_t fuel = 0;  // guest calls only: the fuel one call is charged
  std::optional<std::string> error;
};

// Every sample of the run, by what was measured and on which implementation.
inline std::map<std::pair<Metric, Impl>, Pooled> g_pooled;


inline void fail(benchmark::State& state, Metric metric, Impl impl, const std::string& error) {
  g_pooled[{metric, impl}].error = error;
  state.SkipWithError(error.c_str());
}

// Adds this run's samples to the pool and reports their median and p99.
inline void pool(benchmark::State& state, Metric metric, Impl impl, const std::vector<double>& values) {
  auto& pooled = g_pooled[{metric, impl}].values;
  pooled.insert(pooled.end(), values.begin(), values.end());
  state.counters["p50_us"] = bench::percentile(values, 50) / 1e3;
  state.counters["p99_us"] = bench::percentile(values, 99) / 1e3;
}

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

// A message lost is a failure, not a number: what the publisher reports as
// reached (the sum over its publishes of the subscribers each reached) must be
// every publish to every subscriber. Checked as soon as the publisher is done,
// since a subscriber that lost LAST never reports.
inline Expected<void> check_reached(uint32_t count, uint64_t reached) {
  const uint64_t expected = uint64_t{count} * kFanOutSubscribers;
  if (reached == expected) return {};
  return std::unexpected(fmt::format(
      "fan-out: the publishes reached {} subscribers in all, not {}: {} messages lost", reached,
      expected, expected - reached));
}

// What a fan-out's subscribers report: when LAST arrived, and how many
// messages each received since the previous LAST (LAST included). Checks that
// every subscriber received every message.
inline Expected<FanOutResult> fan_out_result(uint32_t count, uint64_t started, uint64_t sent,
                                             std::span<const uint64_t> arrived,
                                             std::span<const uint64_t> received) {
  const uint64_t expected = uint64_t{count} * received.size();
  uint64_t last = started;
  for (size_t i = 0; i < received.size(); ++i) {
    if (received[i] != count) {
      return std::unexpected(fmt::format("fan-out: subscriber {} received {} messages, not {}", i,
                                         received[i], count));
    }
    last = std::max(last, arrived[i]);
  }
  return FanOutResult{static_cast<double>(last - started) * 1e-9,
                      static_cast<double>(sent - started) * 1e-9, expected};
}

// What the baseline subscribers and publisher of a fan-out write for the host
// thread: each subscriber its own slot (a cache line of its own), the
// publisher the times. A fan-out ends when the publisher is done (`published`)
// and the last subscriber got LAST (`done`).
struct FanOutShared {
  struct alignas(64) Slot {
    uint64_t count = 0;     // the subscriber's own count since the previous LAST
    uint64_t arrived = 0;   // when LAST arrived
    uint64_t received = 0;  // the count at LAST, LAST included
  };
  std::vector<Slot> slots = std::vector<Slot>(kFanOutSubscribers);
  std::atomic<uint32_t> pending{0};  // subscribers still waiting for LAST
  uint64_t started = 0;
  uint64_t sent = 0;
  std::optional<uint64_t> reached;  // when the publisher can count it
  Signal published;
  Signal done;
  Signal ready;  // one notification per subscriber once it subscribed

  // A subscriber's LAST.
  void last_arrived(size_t index) {
    auto& slot = slots[index];
    slot.arrived = now_ns();
    slot.received = ++slot.count;
    slot.count = 0;
    if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) done.notify();
  }

  // Called before the command that starts a fan-out.
  void arm() { pending.store(kFanOutSubscribers, std::memory_order_release); }

  Expected<FanOutResult> result(uint32_t count) {
    if (!published.wait()) return std::unexpected("fan-out: the publisher did not finish in time");
    if (reached) {
      if (auto ok = check_reached(count, *reached); !ok) return std::unexpected(ok.error());
    }
    if (!done.wait()) return std::unexpected("fan-out: not every subscriber got LAST in time");
    std::vector<uint64_t> arrived, received;
    for (const auto& slot : slots) {
      arrived.push_back(slot.arrived);
      received.push_back(slot.received);
    }
    return fan_out_result(count, started, sent, arrived, received);
  }
};

struct Probe {
  uint32_t index = 0;
  uint32_t count = 0;
  uint64_t sent_at = 0;
};

inline std::vector<uint8_t> encode_probe(const Probe& probe) {
  std::vector<uint8_t> bytes(BENCH_PROBE_SIZE);
  bytes[0] = BENCH_MSG_PROBE;
  std::memcpy(bytes.data() + 1, &probe.index, 4);
  std::memcpy(bytes.data() + 5, &probe.count, 4);
  std::memcpy(bytes.data() + 9, &probe.sent_at, 8);
  return bytes;
}

inline Probe decode_probe(std::span<const uint8_t> bytes) {
  Probe probe;
  std::memcpy(&probe.index, bytes.data() + 1, 4);
  std::memcpy(&probe.count, bytes.data() + 5, 4);
  std::memcpy(&probe.sent_at, bytes.data() + 9, 8);
  return probe;
}

// A command for a pinger: the command byte, then the count (bench_protocol.h).
inline std::vector<uint8_t> encode_command(uint8_t command, uint32_t count) {
  std::vector<uint8_t> bytes(5);
  bytes[0] = command;
  std::memcpy(bytes.data() + 1, &count, 4);
  return bytes;
}

inline uint32_t decode_u32(std::span<const uint8_t> bytes) {
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

// A publisher and kFanOutSubscribers subscribers of one topic.
class FanOut {
 public:
  virtual ~FanOut() = default;
  // `count` messages published, the last one LAST.
  [[nodiscard]] virtual Expected<FanOutResult> fan_out(uint32_t count) = 0;
};

// Starts one party until it is ready, then stops it again (untimed).
class Spawner {
 public:
  virtual ~Spawner() = default;
  // ns from the start call until the party is ready.
  [[nodiscard]] virtual Expected<uint64_t> spawn_one() = 0;
};

inline void spin_until(const std::atomic<bool>& flag) {
  while (!flag.load(std::memory_order_acquire)) std::this_thread::yield();
}

// ---- The parties, one file each ----------------------------------------------

// The components (messaging/components.cpp): pinger.wasm and ponger.wasm, or
// with `inbox` their builds with the SDK inbox, on a ComponentRuntime.
Expected<std::unique_ptr<Pair>> start_wasm_pair(bool inbox);
// pinger.wasm publishing to subscriber.wasm (or their builds with the SDK inbox).
Expected<std::unique_ptr<FanOut>> start_wasm_fan_out(bool inbox);
std::unique_ptr<Spawner> make_wasm_spawner();
// The actor runtime alone (messaging/runtime_baseline.cpp); with `timer`,
// every request arms a 30 s timer as a component's request does.
Expected<std::unique_ptr<Pair>> start_runtime_pair(bool timer);
Expected<std::unique_ptr<FanOut>> start_runtime_fan_out();
std::unique_ptr<Spawner> make_runtime_spawner();
// The C++ Actor Framework (messaging/caf_baseline.cpp).
Expected<std::unique_ptr<Pair>> start_caf_pair();
// Through a local group, or (`direct`) one send to each subscriber.
Expected<std::unique_ptr<FanOut>> start_caf_fan_out(bool direct);
std::unique_ptr<Spawner> make_caf_spawner();
// Plain C++ threads and queues (messaging/plain_baseline.cpp).
Expected<std::unique_ptr<Pair>> start_plain_pair();
std::unique_ptr<Spawner> make_plain_spawner();

// ---- The components' modules, loaded by main() before any benchmark runs ------

struct WasmFixtures {
  std::shared_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> pinger;
  std::shared_ptr<const engine::Module> ponger;
  std::shared_ptr<const engine::Module> pinger_buffer;  // built with BENCH_RECEIVE_BUFFER
  std::shared_ptr<const engine::Module> ponger_buffer;
  std::shared_ptr<const engine::Module> subscriber;
  std::shared_ptr<const engine::Module> subscriber_buffer;
};

inline std::optional<WasmFixtures> g_wasm;  // loaded by main() before any benchmark runs

// --engine=native runs the components on the native tier (compiled into a
// private cache under the temporary directory, removed at exit).
inline bool g_native = false;
inline std::filesystem::path g_native_cache;
Expected<WasmFixtures> load_wasm();

// ---- The pieces of a component's spawn and delivery (messaging/component_pieces.cpp)

void BM_SpawnLinker(benchmark::State& state);
void BM_SpawnInstantiate(benchmark::State& state);
void BM_SpawnInitCalls(benchmark::State& state);
void BM_DeliverCalls(benchmark::State& state, Impl impl);

// The summary main() prints after the run (messaging/summary.cpp).
void print_summary();

}  // namespace airssys::wasm::component::messaging_bench
