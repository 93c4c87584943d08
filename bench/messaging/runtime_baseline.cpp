// Baseline: the actor runtime alone, two actor::Behavior exchanging the same
// messages on a thread-pool scheduler, no WebAssembly; and a fan-out from one
// behavior to kFanOutSubscribers, each message an envelope with its topic to
// every subscriber, as a component's publish sends them.
#include "airssys/wasm/actor/behavior.hpp"
#include "airssys/wasm/actor/scheduler.hpp"

#include "messaging/common.hpp"

namespace airssys::wasm::component::messaging_bench {
namespace {

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
        uint8_t bytes[5] = {BENCH_MSG_ACK};
        std::memcpy(bytes + 1, &probe.index, 4);
        ack.payload = actor::Payload(std::span<const uint8_t>(bytes));
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
    auto bytes = encode_probe({index, shared_.wanted, 0});
    const uint64_t sent_at = now_ns();
    std::memcpy(bytes.data() + 9, &sent_at, 8);
    envelope.payload = bytes;
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

class RuntimeSubscriber final : public actor::Behavior {
 public:
  RuntimeSubscriber(FanOutShared& shared, size_t index) : shared_(shared), index_(index) {}

  Result<actor::StepResult> step(actor::ActorContext& ctx) override {
    auto message = ctx.receive();
    if (!message || !message->topic) return actor::StepResult::Idle;
    if (!message->payload.empty() && message->payload[0] == BENCH_MSG_LAST) {
      shared_.last_arrived(index_);
    } else {
      ++shared_.slots[index_].count;
    }
    return actor::StepResult::Idle;
  }

 private:
  FanOutShared& shared_;
  const size_t index_;
};

class RuntimePublisher final : public actor::Behavior {
 public:
  RuntimePublisher(FanOutShared& shared, std::vector<actor::Address> subscribers)
      : shared_(shared), subscribers_(std::move(subscribers)) {}

  Result<actor::StepResult> step(actor::ActorContext& ctx) override {
    if (left_ > 0) return publish(ctx);
    auto message = ctx.receive();
    if (!message || message->payload.empty() || message->payload[0] != BENCH_CMD_FAN_OUT) {
      return actor::StepResult::Idle;
    }
    left_ = decode_u32(message->payload);
    reached_ = 0;
    shared_.started = now_ns();
    return publish(ctx);
  }

 private:
  // The next kFanOutChunk publishes; yields between chunks. A subscriber whose
  // mailbox is full does not get the message, as with a component's publish.
  Result<actor::StepResult> publish(actor::ActorContext& ctx) {
    for (uint32_t i = 0; i < kFanOutChunk && left_ > 0; ++i, --left_) {
      const uint8_t byte = left_ == 1 ? uint8_t{BENCH_MSG_LAST} : uint8_t{BENCH_MSG_FILL};
      for (const auto& subscriber : subscribers_) {
        actor::Envelope envelope;
        envelope.target = subscriber;
        envelope.topic = std::string(BENCH_TOPIC);
        envelope.payload = {byte};
        auto sent = ctx.send(std::move(envelope));
        if (sent) {
          ++reached_;
        } else if (sent.error().code != ErrorCode::MailboxFull) {
          return std::unexpected(sent.error());
        }
      }
    }
    if (left_ > 0) return actor::StepResult::Yield;
    shared_.sent = now_ns();
    shared_.reached = reached_;
    shared_.published.notify();
    return actor::StepResult::Idle;
  }

  FanOutShared& shared_;
  const std::vector<actor::Address> subscribers_;
  uint32_t left_ = 0;
  uint64_t reached_ = 0;
};

class RuntimeFanOut final : public FanOut {
 public:
  static Expected<std::unique_ptr<FanOut>> start() {
    std::unique_ptr<RuntimeFanOut> group(new RuntimeFanOut());
    std::vector<actor::Address> subscribers;
    for (uint32_t i = 0; i < kFanOutSubscribers; ++i) {
      auto subscriber =
          group->scheduler_.spawn(std::make_unique<RuntimeSubscriber>(group->shared_, i),
                                  {.name = fmt::format("subscriber-{:03}", i),
                                   .mailbox_capacity = kFanOutMailbox});
      if (!subscriber) return std::unexpected(subscriber.error().to_string());
      subscribers.push_back(*subscriber);
    }
    auto publisher = group->scheduler_.spawn(
        std::make_unique<RuntimePublisher>(group->shared_, std::move(subscribers)),
        {.name = BENCH_PINGER});
    if (!publisher) return std::unexpected(publisher.error().to_string());
    group->publisher_ = *publisher;
    return group;
  }

  ~RuntimeFanOut() override { scheduler_.shutdown(); }

  Expected<FanOutResult> fan_out(uint32_t count) override {
    shared_.arm();
    actor::Envelope envelope;
    envelope.target = publisher_;
    envelope.payload = encode_command(BENCH_CMD_FAN_OUT, count);
    if (auto sent = scheduler_.send(std::move(envelope)); !sent) {
      return std::unexpected(sent.error().to_string());
    }
    return shared_.result(count);
  }

 private:
  RuntimeFanOut() : scheduler_(actor::ThreadPoolOptions{kWorkers}) {}

  FanOutShared shared_;  // outlives the scheduler's actors
  actor::ThreadPoolScheduler scheduler_;
  actor::Address publisher_;
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

}  // namespace

Expected<std::unique_ptr<Pair>> start_runtime_pair(bool timer) {
  return RuntimePair::start(timer);
}

Expected<std::unique_ptr<FanOut>> start_runtime_fan_out() {
  return RuntimeFanOut::start();
}

std::unique_ptr<Spawner> make_runtime_spawner() {
  return std::make_unique<RuntimeSpawner>();
}

}  // namespace airssys::wasm::component::messaging_bench
