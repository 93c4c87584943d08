#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "actor_test_support.hpp"
#include "airssys/wasm/actor/mailbox.hpp"
#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/actor/supervisor.hpp"

namespace airssys::wasm::actor {
namespace {

using namespace std::chrono_literals;
using testing::scripted;
using testing::text;
using testing::to;

// Generous: the ThreadSanitizer build runs these too.
constexpr auto kPatience = 120s;

std::vector<uint8_t> encode(uint32_t value) {
  std::vector<uint8_t> out(sizeof value);
  std::memcpy(out.data(), &value, sizeof value);
  return out;
}

uint32_t decode(std::span<const uint8_t> payload) {
  uint32_t value = 0;
  if (payload.size() == sizeof value) std::memcpy(&value, payload.data(), sizeof value);
  return value;
}

Envelope numbered(Address target, uint32_t value) {
  Envelope e;
  e.target = std::move(target);
  e.payload = encode(value);
  return e;
}

TEST(ThreadPoolScheduler, DefaultsToOneWorkerPerCore) {
  ThreadPoolScheduler scheduler;
  EXPECT_EQ(scheduler.worker_count(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST(ThreadPoolScheduler, PingPongOverAHundredThousandMessagesLosesNone) {
  constexpr uint32_t kMessages = 100'000;
  constexpr uint32_t kWindow = 64;
  ThreadPoolScheduler scheduler(ThreadPoolOptions{2});

  // Each counter is touched only by its own actor's slices.
  auto pong_expected = std::make_shared<uint32_t>(0);
  auto pong_in_order = std::make_shared<bool>(true);
  auto pong = make_handler_behavior(
      [pong_expected, pong_in_order](ActorContext& ctx, Envelope&& e) -> Result<StepResult> {
        if (decode(e.payload) != (*pong_expected)++) *pong_in_order = false;
        AIRSSYS_TRY(ctx.send(numbered(e.sender, decode(e.payload))));
        return StepResult::Idle;
      });
  ASSERT_TRUE(scheduler.spawn(std::move(pong), SpawnOptions{"pong"}));

  auto sent = std::make_shared<uint32_t>(0);
  auto received = std::make_shared<uint32_t>(0);
  auto ping_in_order = std::make_shared<bool>(true);
  std::promise<void> done;
  auto ping = scripted([&, sent, received, ping_in_order](ActorContext& ctx) -> Result<StepResult> {
    if (*sent == 0) {
      for (; *sent < kWindow; ++*sent)
        AIRSSYS_TRY(ctx.send(numbered(Address::named("pong"), *sent)));
      return StepResult::Idle;
    }
    auto reply = ctx.receive();
    if (!reply) return StepResult::Idle;
    if (decode(reply->payload) != (*received)++) *ping_in_order = false;
    if (*sent < kMessages) AIRSSYS_TRY(ctx.send(numbered(Address::named("pong"), (*sent)++)));
    if (*received == kMessages) {
      done.set_value();
      return StepResult::Stop;
    }
    return StepResult::Idle;
  });
  std::promise<ExitReason> ping_exit;
  ASSERT_TRUE(scheduler.spawn(
      std::move(ping),
      SpawnOptions{"ping", kDefaultMailboxCapacity, [&](const Address&, const ExitReason& reason) {
                     ping_exit.set_value(reason);
                   }}));
  auto finished = done.get_future();
  ASSERT_EQ(finished.wait_for(kPatience), std::future_status::ready);
  auto exit = ping_exit.get_future();
  ASSERT_EQ(exit.wait_for(kPatience), std::future_status::ready);
  EXPECT_EQ(exit.get().kind, ExitKind::Normal);
  scheduler.shutdown();

  EXPECT_EQ(*sent, kMessages);
  EXPECT_EQ(*received, kMessages);
  EXPECT_EQ(*pong_expected, kMessages);
  EXPECT_TRUE(*ping_in_order);
  EXPECT_TRUE(*pong_in_order);
  EXPECT_EQ(scheduler.dead_letter_count(), 0u);
}

// An actor that never stops yielding delays the others by at most one of its
// slices: the exchange finishes, and the spinner got about one slice per
// message handled, not more.
void busy_actor_does_not_block_an_exchange(size_t workers) {
  constexpr int kRounds = 2'000;
  ThreadPoolScheduler scheduler(ThreadPoolOptions{workers});
  std::atomic<int64_t> spins{0};
  std::atomic<bool> exchanging{false};  // from the first message to the last
  std::atomic<int64_t> spins_during{0};
  ASSERT_TRUE(scheduler.spawn(scripted([&](ActorContext&) -> Result<StepResult> {
                                volatile uint64_t sink = 0;
                                for (int i = 0; i < 2'000; ++i) sink = sink + i;
                                ++spins;
                                if (exchanging.load()) ++spins_during;
                                return StepResult::Yield;
                              }),
                              SpawnOptions{"spinner"}));

  std::atomic<int> handled{0};
  std::promise<void> done;
  ASSERT_TRUE(scheduler.spawn(
      make_handler_behavior([&](ActorContext& ctx, Envelope&& e) -> Result<StepResult> {
        if (++handled == 1) exchanging = true;
        AIRSSYS_TRY(ctx.send(to(e.sender, "pong")));
        return StepResult::Idle;
      }),
      SpawnOptions{"pong"}));
  auto rounds = std::make_shared<int>(0);
  ASSERT_TRUE(scheduler.spawn(
      make_handler_behavior([&, rounds](ActorContext& ctx, Envelope&&) -> Result<StepResult> {
        ++handled;
        if (++*rounds == kRounds) {
          exchanging = false;
          done.set_value();
          return StepResult::Stop;
        }
        AIRSSYS_TRY(ctx.send(to(Address::named("pong"), "ping")));
        return StepResult::Idle;
      }),
      SpawnOptions{"ping"}));
  Envelope first = to(Address::named("pong"), "ping");
  first.sender = *scheduler.lookup("ping");
  ASSERT_TRUE(scheduler.send(std::move(first)));

  auto finished = done.get_future();
  ASSERT_EQ(finished.wait_for(kPatience), std::future_status::ready);
  EXPECT_EQ(handled.load(), 2 * kRounds);
  if (workers == 1) {
    // One worker alternates strictly: spinner, pong, spinner, ping, ...
    EXPECT_LE(spins_during.load(), handled.load() + 4);
  }
  EXPECT_GT(spins.load(), 0);
  EXPECT_TRUE(scheduler.lookup("spinner"));
  scheduler.shutdown();
  EXPECT_EQ(scheduler.actor_count(), 0u);
}

TEST(ThreadPoolScheduler, BusyActorYieldsWhileTwoOthersExchangeOnOneWorker) {
  busy_actor_does_not_block_an_exchange(1);
}

TEST(ThreadPoolScheduler, BusyActorYieldsWhileTwoOthersExchangeOnTwoWorkers) {
  busy_actor_does_not_block_an_exchange(2);
}

TEST(ThreadPoolScheduler, ShutdownUnderLoadDeliversOrReportsEveryMessage) {
  constexpr int kRing = 6;
  constexpr int kSeeds = 50;
  std::atomic<int64_t> sent{0};
  std::atomic<int64_t> handled{0};
  std::atomic<int64_t> dead{0};
  std::atomic<int> exits{0};
  auto scheduler = std::make_unique<ThreadPoolScheduler>(ThreadPoolOptions{2});
  scheduler->set_dead_letter_handler([&](DeadLetter) { ++dead; });
  ExitCallback on_exit = [&](const Address&, const ExitReason& reason) {
    EXPECT_EQ(reason.kind, ExitKind::Stopped);
    ++exits;
  };

  auto name = [](int i) { return "relay-" + std::to_string(i % kRing); };
  for (int i = 0; i < kRing; ++i) {
    auto held = std::make_shared<std::optional<Envelope>>();
    auto seeded = std::make_shared<bool>(false);
    Address next = Address::named(name(i + 1));
    auto relay = scripted([&, held, seeded, next](ActorContext& ctx) -> Result<StepResult> {
      if (!*seeded) {
        *seeded = true;
        for (int s = 0; s < kSeeds; ++s) {
          if (ctx.send(to(next, "seed"))) ++sent;
        }
      }
      if (!*held) {
        auto message = ctx.receive();
        if (!message) return StepResult::Idle;
        ++handled;
        message->target = next;
        *held = std::move(*message);
      }
      auto forwarded = ctx.send(std::move(**held));
      if (forwarded) {
        ++sent;
        held->reset();
      } else if (forwarded.error().code != ErrorCode::MailboxFull) {
        held->reset();  // the target is stopping: the sender decides to drop
      }
      return held->has_value() ? StepResult::Yield : StepResult::Idle;
    });
    ASSERT_TRUE(scheduler->spawn(std::move(relay), SpawnOptions{name(i), 64, on_exit}));
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(scheduler->spawn(
        scripted([](ActorContext&) -> Result<StepResult> { return StepResult::Yield; }),
        SpawnOptions{"spinner-" + std::to_string(i), 8, on_exit}));
  }
  std::atomic<bool> flooding{true};
  std::thread flood([&] {
    for (int i = 0; flooding.load(); ++i) {
      if (scheduler->send(to(Address::named(name(i)), "flood"))) {
        ++sent;
      } else {
        std::this_thread::yield();
      }
    }
  });

  std::this_thread::sleep_for(200ms);
  scheduler->shutdown();
  flooding = false;
  flood.join();

  EXPECT_EQ(exits.load(), kRing + 2);
  EXPECT_EQ(scheduler->actor_count(), 0u);
  EXPECT_GT(handled.load(), 0);
  EXPECT_EQ(sent.load(), handled.load() + dead.load());
  EXPECT_EQ(static_cast<int64_t>(scheduler->dead_letter_count()), dead.load());
  auto refused = scheduler->spawn(
      scripted([](ActorContext&) -> Result<StepResult> { return StepResult::Stop; }));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::SchedulerStopped);
  scheduler.reset();
}

TEST(ThreadPoolScheduler, DestroyingTheSchedulerStopsItsActors) {
  std::atomic<int> exits{0};
  {
    ThreadPoolScheduler scheduler(ThreadPoolOptions{2});
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(scheduler.spawn(
          testing::recorder(std::make_shared<std::vector<std::string>>()),
          SpawnOptions{"", 8, [&](const Address&, const ExitReason&) { ++exits; }}));
    }
  }
  EXPECT_EQ(exits.load(), 10);
}

TEST(ThreadPoolScheduler, TimersFireOnTheSteadyClock) {
  ThreadPoolScheduler scheduler(ThreadPoolOptions{2});
  std::promise<TimePoint> arrived;
  auto recorder = make_handler_behavior([&](ActorContext& ctx, Envelope&&) -> Result<StepResult> {
    arrived.set_value(ctx.now());
    return StepResult::Idle;
  });
  auto a = scheduler.spawn(std::move(recorder), SpawnOptions{"a"});
  ASSERT_TRUE(a);
  std::atomic<int> cancelled_fired{0};
  TimerId cancelled = scheduler.schedule(10ms, [&] { ++cancelled_fired; });
  const TimePoint start = scheduler.now();
  EXPECT_NE(scheduler.send_after(30ms, to(*a, "late")), 0u);
  EXPECT_TRUE(scheduler.cancel(cancelled));
  auto when = arrived.get_future();
  ASSERT_EQ(when.wait_for(kPatience), std::future_status::ready);
  EXPECT_GE(when.get() - start, 30ms);
  EXPECT_EQ(cancelled_fired.load(), 0);
}

TEST(ThreadPoolScheduler, SupervisorRestartsAFailedChild) {
  ThreadPoolScheduler scheduler(ThreadPoolOptions{2});
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<SupervisorEvent> events;
  std::vector<std::string> received;

  ChildSpec spec;
  spec.name = "worker";
  spec.factory = [&]() -> Result<std::unique_ptr<Behavior>> {
    return make_handler_behavior([&](ActorContext&, Envelope&& e) -> Result<StepResult> {
      if (text(e.payload) == "fail") return make_error(ErrorCode::TrapUnreachable, "trap");
      std::lock_guard lock(mutex);
      received.push_back(text(e.payload));
      changed.notify_all();
      return StepResult::Idle;
    });
  };
  SupervisorOptions options;
  options.backoff = Backoff{BackoffKind::Exponential, 5ms, 1.5, 1s};
  options.on_event = [&](const SupervisorEvent& e) {
    std::lock_guard lock(mutex);
    events.push_back(e);
    changed.notify_all();
  };
  auto supervisor = Supervisor::start(scheduler, options, {spec});
  ASSERT_TRUE(supervisor);

  ASSERT_TRUE(scheduler.send(to(Address::named("worker"), "fail")));
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, kPatience, [&] {
      return std::any_of(events.begin(), events.end(), [](const SupervisorEvent& e) {
        return e.kind == SupervisorEventKind::ChildRestarted;
      });
    }));
  }
  ASSERT_TRUE(scheduler.send(to(Address::named("worker"), "hello")));
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, kPatience, [&] { return !received.empty(); }));
    EXPECT_EQ(received, std::vector<std::string>{"hello"});
  }
  (*supervisor)->stop();
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, kPatience, [&] {
      return !events.empty() && events.back().kind == SupervisorEventKind::Stopped;
    }));
  }
  EXPECT_TRUE(scheduler.wait_for_all_stopped(kPatience));
  supervisor->reset();
}

TEST(Mailbox, ManyProducersOneConsumerKeepEachProducersOrder) {
  constexpr int kProducers = 4;
  constexpr uint32_t kEach = 20'000;
  Mailbox mailbox(64);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&mailbox, p] {
      for (uint32_t i = 0; i < kEach; ++i) {
        Envelope e = numbered(Address{static_cast<ActorId>(p + 1), ""}, i);
        while (!mailbox.push(std::move(e))) std::this_thread::yield();
      }
    });
  }
  std::vector<uint32_t> next(kProducers, 0);
  bool in_order = true;
  for (uint32_t total = 0; total < kProducers * kEach;) {
    auto e = mailbox.pop();
    if (!e) {
      EXPECT_LE(mailbox.size(), mailbox.capacity());
      std::this_thread::yield();
      continue;
    }
    auto& expected = next[e->target.id - 1];
    if (decode(e->payload) != expected) in_order = false;
    ++expected;
    ++total;
  }
  for (auto& t : producers) t.join();
  EXPECT_TRUE(in_order);
  for (uint32_t n : next) EXPECT_EQ(n, kEach);
  EXPECT_TRUE(mailbox.empty());
}

}  // namespace
}  // namespace airssys::wasm::actor
