// The measured side: pinger.wasm and ponger.wasm (bench/components) on a
// ComponentRuntime with two worker threads, and pinger.wasm publishing to
// kFanOutSubscribers instances of subscriber.wasm; they report through binary
// records on stdout (bench_protocol.h).
#include <stdlib.h>

#include <deque>
#include <vector>

#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/security/capability.hpp"
#include "airssys/wasm/security/context.hpp"

#include "messaging/common.hpp"

namespace airssys::wasm::component::messaging_bench {
namespace {

std::vector<std::string>& grant(security::PatternLists& lists, security::Permission permission) {
  return lists[static_cast<size_t>(permission)];
}

Expected<ComponentSpec> granted_spec(const std::string& name,
                                     std::shared_ptr<const engine::Module> module,
                                     const security::PatternLists& lists) {
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

// A party of a pair: sends to and receives from its peers.
Expected<ComponentSpec> component_spec(const std::string& name,
                                       std::shared_ptr<const engine::Module> module,
                                       const std::vector<std::string>& peers) {
  security::PatternLists lists;
  grant(lists, security::Permission::MsgSend) = peers;
  grant(lists, security::Permission::MsgReceive) = peers;
  // The benchmark's commands come from the host, which a receiver must admit.
  grant(lists, security::Permission::MsgReceive).push_back(std::string(security::kHostSenderName));
  return granted_spec(name, std::move(module), lists);
}

std::string describe(const ComponentRuntime& system, const std::string& name) {
  auto status = system.status(name);
  if (!status) return fmt::format("'{}' is unknown", name);
  return fmt::format("'{}' is {}{}", name, component_state_name(status->state),
                     status->last_error ? ": " + status->last_error->to_string() : "");
}

// Waits, spinning, until the component is Ready (or Failed).
Expected<void> wait_ready(const ComponentRuntime& system, const std::string& name) {
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

// The binary records the components write to stdout (bench_protocol.h), by
// source: one per component.
class Records {
 public:
  // A pair's two sources; in a fan-out, the subscribers' follow the pinger's.
  enum Source : size_t { kPinger = 0, kPonger = 1 };

  explicit Records(size_t sources = 2) : pending_(sources), records_(sources) {}

  host::OutputSink sink(size_t source) {
    return [this, source](std::span<const uint8_t> bytes) { add(source, bytes); };
  }

  // The next record from `source`, which must be of `kind`; an error record
  // from any component fails.
  Expected<std::vector<uint64_t>> take(size_t source, uint32_t kind) {
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

  void add(size_t source, std::span<const uint8_t> bytes) {
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
  std::vector<std::vector<uint8_t>> pending_;
  std::vector<std::deque<Record>> records_;
};

class WasmPair final : public Pair {
 public:
  static Expected<std::unique_ptr<Pair>> start(bool receive_buffer) {
    std::unique_ptr<WasmPair> pair(new WasmPair());
    ComponentRuntimeOptions options;
    options.engine = g_wasm->engine;
    pair->system_ = std::make_unique<ComponentRuntime>(pair->scheduler_, options);
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
  std::unique_ptr<ComponentRuntime> system_;
};

// pinger.wasm publishes, kFanOutSubscribers instances of subscriber.wasm
// (subscribed in their airssys_init) receive.
class WasmFanOut final : public FanOut {
 public:
  static Expected<std::unique_ptr<FanOut>> start(bool receive_buffer) {
    std::unique_ptr<WasmFanOut> group(new WasmFanOut());
    ComponentRuntimeOptions options;
    options.engine = g_wasm->engine;
    group->system_ = std::make_unique<ComponentRuntime>(group->scheduler_, options);
    std::vector<ComponentSpec> specs;
    for (uint32_t i = 0; i < kFanOutSubscribers; ++i) {
      security::PatternLists lists;
      grant(lists, security::Permission::MsgSubscribe) = {BENCH_TOPIC};
      grant(lists, security::Permission::MsgReceive) = {BENCH_PINGER};
      auto spec = granted_spec(
          subscriber_name(i), receive_buffer ? g_wasm->subscriber_buffer : g_wasm->subscriber,
          lists);
      if (!spec) return std::unexpected(spec.error());
      spec->mailbox_capacity = kFanOutMailbox;
      spec->stdout_sink = group->records_.sink(kFirstSubscriber + i);
      specs.push_back(std::move(*spec));
    }
    security::PatternLists lists;
    grant(lists, security::Permission::MsgPublish) = {BENCH_TOPIC};
    grant(lists, security::Permission::MsgReceive) = {std::string(security::kHostSenderName)};
    auto pinger = granted_spec(
        BENCH_PINGER, receive_buffer ? g_wasm->pinger_buffer : g_wasm->pinger, lists);
    if (!pinger) return std::unexpected(pinger.error());
    pinger->stdout_sink = group->records_.sink(Records::kPinger);
    specs.push_back(std::move(*pinger));
    // Every subscriber is ready, and so subscribed, before the pinger publishes.
    for (auto& spec : specs) {
      std::string name = spec.name;
      if (auto ok = group->system_->start(std::move(spec)); !ok) {
        return std::unexpected(ok.error().to_string());
      }
      if (auto ok = wait_ready(*group->system_, name); !ok) return std::unexpected(ok.error());
    }
    return group;
  }

  ~WasmFanOut() override {
    system_->stop();
    scheduler_.shutdown();  // before the system goes: its actors refer to it
  }

  Expected<FanOutResult> fan_out(uint32_t count) override {
    auto sent = system_->send_from_host(BENCH_PINGER,
                                        encode_command(BENCH_CMD_FAN_OUT, count));
    if (!sent) return std::unexpected(sent.error().to_string());
    auto publisher = records_.take(Records::kPinger, BENCH_REC_FAN_OUT_SENT);
    if (!publisher) return std::unexpected(with_status(publisher.error(), BENCH_PINGER));
    if (publisher->size() != 3) return std::unexpected("malformed fan-out record");
    const auto& p = *publisher;
    if (auto ok = check_reached(count, p[2]); !ok) return std::unexpected(ok.error());
    std::vector<uint64_t> arrived(kFanOutSubscribers), received(kFanOutSubscribers);
    for (uint32_t i = 0; i < kFanOutSubscribers; ++i) {
      auto end = records_.take(kFirstSubscriber + i, BENCH_REC_FAN_OUT_END);
      if (!end) return std::unexpected(with_status(end.error(), subscriber_name(i)));
      if (end->size() != 2) return std::unexpected("malformed fan-out record");
      arrived[i] = (*end)[0];
      received[i] = (*end)[1];
    }
    return fan_out_result(count, p[0], p[1], arrived, received);
  }

 private:
  static constexpr size_t kFirstSubscriber = Records::kPinger + 1;

  WasmFanOut() : records_(kFirstSubscriber + kFanOutSubscribers),
                 scheduler_(actor::ThreadPoolOptions{kWorkers}) {}

  static std::string subscriber_name(uint32_t i) { return fmt::format("subscriber-{:03}", i); }

  // A failure says what state the publisher and the component concerned are in.
  std::string with_status(const std::string& error, const std::string& name) const {
    if (name == BENCH_PINGER) return fmt::format("{}; {}", error, describe(*system_, name));
    return fmt::format("{}; {}, {}", error, describe(*system_, BENCH_PINGER),
                       describe(*system_, name));
  }

  Records records_;  // outlives the system whose components write to it
  actor::ThreadPoolScheduler scheduler_;
  std::unique_ptr<ComponentRuntime> system_;
};

class WasmSpawner final : public Spawner {
 public:
  WasmSpawner() : scheduler_(actor::ThreadPoolOptions{kWorkers}) {
    ComponentRuntimeOptions options;
    options.engine = g_wasm->engine;
    system_ = std::make_unique<ComponentRuntime>(scheduler_, options);
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
  std::unique_ptr<ComponentRuntime> system_;
  uint64_t spawned_ = 0;
};

}  // namespace

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
                             {&WasmFixtures::ponger_buffer, "ponger_buffer.wasm"},
                             {&WasmFixtures::subscriber, "subscriber.wasm"},
                             {&WasmFixtures::subscriber_buffer, "subscriber_buffer.wasm"}}) {
    auto module = f.engine->load_file(dir / file);
    if (!module) return std::unexpected(module.error().to_string());
    f.*field = *module;
  }
  return f;
}


Expected<std::unique_ptr<Pair>> start_wasm_pair(bool inbox) {
  return WasmPair::start(inbox);
}

Expected<std::unique_ptr<FanOut>> start_wasm_fan_out(bool inbox) {
  return WasmFanOut::start(inbox);
}

std::unique_ptr<Spawner> make_wasm_spawner() {
  return std::make_unique<WasmSpawner>();
}

}  // namespace airssys::wasm::component::messaging_bench
