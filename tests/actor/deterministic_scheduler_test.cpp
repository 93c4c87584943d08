#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "actor_test_support.hpp"
#include "airssys/wasm/actor/scheduler.hpp"

namespace airssys::wasm::actor {
namespace {

using namespace std::chrono_literals;
using testing::recorder;
using testing::scripted;
using testing::text;
using testing::to;

using Log = std::vector<std::string>;

std::unique_ptr<Behavior> yielder(std::shared_ptr<int> slices, int times = -1) {
  return scripted([slices, times](ActorContext&) -> Result<StepResult> {
    ++*slices;
    if (times >= 0 && *slices >= times) return StepResult::Stop;
    return StepResult::Yield;
  });
}

struct Exits {
  std::vector<std::pair<Address, ExitReason>> seen;
  ExitCallback callback() {
    return [this](const Address& a, const ExitReason& r) { seen.emplace_back(a, r); };
  }
};

class DeterministicSchedulerTest : public ::testing::Test {
 protected:
  DeterministicSchedulerTest() {
    scheduler.set_dead_letter_handler(
        [this](DeadLetter letter) { dead.push_back(std::move(letter)); });
  }

  Address spawn_recorder(std::string name, std::shared_ptr<Log> log, size_t capacity = 1024) {
    auto address = scheduler.spawn(recorder(std::move(log)),
                                   SpawnOptions{std::move(name), capacity, exits.callback()});
    EXPECT_TRUE(address) << address.error().to_string();
    return *address;
  }

  // Declared before the scheduler: its shutdown at destruction still reports here.
  std::vector<DeadLetter> dead;
  Exits exits;
  DeterministicScheduler scheduler;
};

TEST_F(DeterministicSchedulerTest, SpawnReturnsAnAddressAndRegistersItsName) {
  auto log = std::make_shared<Log>();
  Address a = spawn_recorder("a", log);
  EXPECT_NE(a.id, 0u);
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(scheduler.lookup("a"), a);
  EXPECT_TRUE(scheduler.alive(a));
  EXPECT_TRUE(scheduler.alive(Address::named("a")));

  auto anonymous = scheduler.spawn(recorder(log));
  ASSERT_TRUE(anonymous);
  EXPECT_TRUE(anonymous->name.empty());
  EXPECT_NE(anonymous->id, a.id);
  EXPECT_EQ(scheduler.actor_count(), 2u);
  EXPECT_FALSE(scheduler.lookup(""));
}

TEST_F(DeterministicSchedulerTest, SpawnRefusesBadArguments) {
  auto none = scheduler.spawn(nullptr);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::InvalidArgument);
  auto zero = scheduler.spawn(recorder(std::make_shared<Log>()), SpawnOptions{"z", 0, nullptr});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, ErrorCode::InvalidArgument);
}

TEST_F(DeterministicSchedulerTest, NamesAreUniqueAndReleasedWhenTheActorStops) {
  auto log = std::make_shared<Log>();
  Address first = spawn_recorder("a", log);
  auto taken = scheduler.spawn(recorder(log), SpawnOptions{"a", 16, nullptr});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::ActorNameTaken);
  EXPECT_EQ(taken.error().category(), ErrorCategory::Actor);

  ASSERT_TRUE(scheduler.stop(first));
  EXPECT_TRUE(scheduler.lookup("a"));  // stopping takes effect at its next slice
  scheduler.run();
  EXPECT_FALSE(scheduler.lookup("a"));
  EXPECT_FALSE(scheduler.alive(first));
  ASSERT_EQ(exits.seen.size(), 1u);
  EXPECT_EQ(exits.seen[0].second.kind, ExitKind::Stopped);

  Address second = spawn_recorder("a", log);
  EXPECT_NE(second.id, first.id);
  // The old id does not reach the new holder of the name.
  auto stale = scheduler.send(to(first, "x"));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().code, ErrorCode::ActorNotFound);
  EXPECT_TRUE(scheduler.send(to(Address::named("a"), "x")));
}

TEST_F(DeterministicSchedulerTest, SendToAnUnknownActorFails) {
  auto result = scheduler.send(to(Address::named("nobody"), "x"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::ActorNotFound);
  EXPECT_FALSE(scheduler.send(to(Address{}, "x")));
}

TEST_F(DeterministicSchedulerTest, FirstSliceRunsWithoutAMessageThenOnlyWhenOneArrives) {
  auto slices = std::make_shared<int>(0);
  auto address = scheduler.spawn(scripted([slices](ActorContext& ctx) -> Result<StepResult> {
    ++*slices;
    (void)ctx.receive();
    return StepResult::Idle;
  }));
  ASSERT_TRUE(address);
  EXPECT_EQ(scheduler.ready_count(), 1u);
  EXPECT_EQ(scheduler.run(), 1u);
  EXPECT_EQ(*slices, 1);
  EXPECT_EQ(scheduler.ready_count(), 0u);
  EXPECT_FALSE(scheduler.step());

  ASSERT_TRUE(scheduler.send(to(*address, "wake")));
  EXPECT_EQ(scheduler.ready_count(), 1u);
  EXPECT_EQ(scheduler.step(), *address);
  EXPECT_EQ(*slices, 2);
  EXPECT_EQ(scheduler.run(), 0u);
}

// A sleeping actor is not run again before its delay passes, whatever
// arrives meanwhile; then it runs and finds the queued messages. A stop
// request wakes it at once.
TEST_F(DeterministicSchedulerTest, ASleepingActorRunsAgainOnlyAfterItsDelay) {
  auto slices = std::make_shared<int>(0);
  auto received = std::make_shared<int>(0);
  auto address = scheduler.spawn(
      scripted([slices, received](ActorContext& ctx) -> Result<StepResult> {
        ++*slices;
        while (ctx.receive()) ++*received;
        ctx.sleep_for(100ms);
        return StepResult::Sleep;
      }),
      SpawnOptions{"sleeper", 16, exits.callback()});
  ASSERT_TRUE(address);
  EXPECT_EQ(scheduler.run(), 1u);
  EXPECT_EQ(scheduler.ready_count(), 0u);
  ASSERT_TRUE(scheduler.send(to(*address, "one")));
  ASSERT_TRUE(scheduler.send(to(*address, "two")));
  EXPECT_EQ(scheduler.ready_count(), 0u);  // messages do not wake a sleeper
  scheduler.advance(99ms);
  EXPECT_EQ(scheduler.run(), 0u);
  scheduler.advance(1ms);
  EXPECT_EQ(scheduler.run(), 1u);
  EXPECT_EQ(*slices, 2);
  EXPECT_EQ(*received, 2);
  // Asleep again: a stop request ends it without waiting for the timer.
  ASSERT_TRUE(scheduler.stop(*address));
  scheduler.run();
  EXPECT_FALSE(scheduler.alive(*address));
  ASSERT_EQ(exits.seen.size(), 1u);
  EXPECT_EQ(exits.seen[0].second.kind, ExitKind::Stopped);
}

// Sleep without a delay is a Yield.
TEST_F(DeterministicSchedulerTest, SleepWithoutADelayYields) {
  auto slices = std::make_shared<int>(0);
  auto address = scheduler.spawn(scripted([slices](ActorContext&) -> Result<StepResult> {
    return ++*slices < 3 ? StepResult::Sleep : StepResult::Stop;
  }));
  ASSERT_TRUE(address);
  EXPECT_EQ(scheduler.run(), 3u);
}

TEST_F(DeterministicSchedulerTest, DeliversOneMessagePerSliceInSendOrder) {
  auto log = std::make_shared<Log>();
  Address a = spawn_recorder("a", log);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(scheduler.send(to(a, std::to_string(i))));
  EXPECT_EQ(scheduler.run(), 10u);
  EXPECT_EQ(*log, (Log{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
}

TEST_F(DeterministicSchedulerTest, ReadyActorsTakeTurnsRoundRobin) {
  std::vector<Address> addresses;
  for (const char* name : {"a", "b", "c"}) {
    auto address = scheduler.spawn(yielder(std::make_shared<int>(0), 3), SpawnOptions{name});
    ASSERT_TRUE(address);
    addresses.push_back(*address);
  }
  std::vector<std::string> trace;
  while (auto stepped = scheduler.step()) trace.push_back(stepped->name);
  EXPECT_EQ(trace, (std::vector<std::string>{"a", "b", "c", "a", "b", "c", "a", "b", "c"}));
  EXPECT_EQ(scheduler.actor_count(), 0u);
}

TEST_F(DeterministicSchedulerTest, AnActorThatAlwaysYieldsNeverStarvesOthers) {
  auto spins = std::make_shared<int>(0);
  ASSERT_TRUE(scheduler.spawn(yielder(spins), SpawnOptions{"spinner"}));

  constexpr int kRounds = 200;
  auto pongs = std::make_shared<int>(0);
  auto pong = make_handler_behavior([](ActorContext& ctx, Envelope&& e) -> Result<StepResult> {
    AIRSSYS_TRY(ctx.send(to(e.sender, "pong")));
    return StepResult::Idle;
  });
  auto ping = make_handler_behavior([pongs](ActorContext& ctx, Envelope&&) -> Result<StepResult> {
    if (++*pongs == kRounds) return StepResult::Stop;
    AIRSSYS_TRY(ctx.send(to(Address::named("pong"), "ping")));
    return StepResult::Idle;
  });
  ASSERT_TRUE(scheduler.spawn(std::move(pong), SpawnOptions{"pong"}));
  ASSERT_TRUE(scheduler.spawn(std::move(ping), SpawnOptions{"ping"}));
  auto first = to(Address::named("pong"), "ping");
  first.sender = *scheduler.lookup("ping");
  ASSERT_TRUE(scheduler.send(std::move(first)));

  // Every time a message waits, the spinner gets at most one slice before it
  // is handled: the spinner never runs twice in a row while others are ready.
  std::string previous;
  int steps = 0;
  while (*pongs < kRounds) {
    auto stepped = scheduler.step();
    ASSERT_TRUE(stepped);
    ASSERT_LT(++steps, 10 * kRounds);
    if (stepped->name == "spinner") {
      EXPECT_NE(previous, "spinner") << "at step " << steps;
    }
    previous = stepped->name;
  }
  EXPECT_LE(steps, 4 * kRounds + 4);
  EXPECT_GE(*spins, kRounds);
  EXPECT_TRUE(scheduler.lookup("spinner"));
}

TEST_F(DeterministicSchedulerTest, FullMailboxPushesBackOnTheSender) {
  auto log = std::make_shared<Log>();
  Address a = spawn_recorder("a", log, 4);
  ASSERT_TRUE(scheduler.step());  // first slice: nothing queued yet
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(scheduler.send(to(a, std::to_string(i))));
  Envelope fifth = to(a, "4");
  auto refused = scheduler.send(std::move(fifth));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::MailboxFull);
  EXPECT_EQ(text(fifth.payload), "4");  // the sender keeps it and decides

  ASSERT_TRUE(scheduler.step());  // consumes one: room for one more
  ASSERT_TRUE(scheduler.send(std::move(fifth)));
  EXPECT_FALSE(scheduler.send(to(a, "5")));
  scheduler.run();
  EXPECT_EQ(*log, (Log{"0", "1", "2", "3", "4"}));
  EXPECT_TRUE(dead.empty());
}

TEST_F(DeterministicSchedulerTest, SenderRetriesAfterBackPressureAndLosesNothing) {
  auto log = std::make_shared<Log>();
  spawn_recorder("consumer", log, 2);
  constexpr int kMessages = 50;
  auto next = std::make_shared<int>(0);
  auto held = std::make_shared<std::optional<Envelope>>();
  auto refusals = std::make_shared<int>(0);
  // Sends bursts of up to 3 per slice into a mailbox of 2.
  auto producer = scripted([=](ActorContext& ctx) -> Result<StepResult> {
    for (int burst = 0; burst < 3; ++burst) {
      if (!*held) {
        if (*next == kMessages) return StepResult::Stop;
        *held = to(Address::named("consumer"), std::to_string((*next)++));
      }
      auto sent = ctx.send(std::move(**held));
      if (!sent) {
        if (sent.error().code != ErrorCode::MailboxFull) return std::unexpected(sent.error());
        ++*refusals;  // keep it and retry on the next slice
        break;
      }
      held->reset();
    }
    return StepResult::Yield;
  });
  ASSERT_TRUE(scheduler.spawn(std::move(producer), SpawnOptions{"producer"}));
  scheduler.run();
  ASSERT_EQ(log->size(), static_cast<size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ((*log)[i], std::to_string(i));
  EXPECT_GT(*refusals, 0);
}

TEST_F(DeterministicSchedulerTest, ContextSendStampsTheRealSender) {
  auto seen = std::make_shared<Address>();
  ASSERT_TRUE(scheduler.spawn(
      make_handler_behavior([seen](ActorContext&, Envelope&& e) -> Result<StepResult> {
        *seen = e.sender;
        return StepResult::Idle;
      }),
      SpawnOptions{"b"}));
  auto a = scheduler.spawn(scripted([](ActorContext& ctx) -> Result<StepResult> {
                             Envelope forged = to(Address::named("b"), "hi");
                             forged.sender = Address::named("someone-else");
                             AIRSSYS_TRY(ctx.send(std::move(forged)));
                             return StepResult::Stop;
                           }),
                           SpawnOptions{"a"});
  ASSERT_TRUE(a);
  scheduler.run();
  EXPECT_EQ(*seen, *a);
}

TEST_F(DeterministicSchedulerTest, EnvelopeFieldsArriveUnchanged) {
  auto seen = std::make_shared<std::optional<Envelope>>();
  auto b = scheduler.spawn(
      make_handler_behavior([seen](ActorContext&, Envelope&& e) -> Result<StepResult> {
        *seen = std::move(e);
        return StepResult::Idle;
      }),
      SpawnOptions{"b"});
  ASSERT_TRUE(b);
  Envelope e = to(Address::named("b"), "body");
  e.sender = Address::named("outside");
  e.kind = MessageKind::Request;
  e.correlation_id = 42;
  e.topic = "orders.created";
  ASSERT_TRUE(scheduler.send(std::move(e)));
  scheduler.run();
  ASSERT_TRUE(*seen);
  EXPECT_EQ((*seen)->sender, Address::named("outside"));
  EXPECT_EQ((*seen)->target, Address::named("b"));
  EXPECT_EQ((*seen)->kind, MessageKind::Request);
  EXPECT_EQ((*seen)->correlation_id, 42u);
  EXPECT_EQ((*seen)->topic, "orders.created");
  EXPECT_EQ(text((*seen)->payload), "body");
}

TEST_F(DeterministicSchedulerTest, ExitReasonsFollowTheStepResult) {
  auto stop = scheduler.spawn(
      scripted([](ActorContext&) -> Result<StepResult> { return StepResult::Stop; }),
      SpawnOptions{"stop", 8, exits.callback()});
  auto fail = scheduler.spawn(scripted([](ActorContext&) -> Result<StepResult> {
                                return make_error(ErrorCode::TrapUnreachable, "boom");
                              }),
                              SpawnOptions{"fail", 8, exits.callback()});
  auto thrower = scheduler.spawn(
      scripted([](ActorContext&) -> Result<StepResult> { throw std::runtime_error("bad"); }),
      SpawnOptions{"throw", 8, exits.callback()});
  ASSERT_TRUE(stop && fail && thrower);
  scheduler.run();
  ASSERT_EQ(exits.seen.size(), 3u);
  EXPECT_EQ(exits.seen[0].first, *stop);
  EXPECT_EQ(exits.seen[0].second.kind, ExitKind::Normal);
  EXPECT_EQ(exits.seen[1].first, *fail);
  EXPECT_EQ(exits.seen[1].second.kind, ExitKind::Failed);
  EXPECT_EQ(exits.seen[1].second.error->code, ErrorCode::TrapUnreachable);
  EXPECT_EQ(exits.seen[2].second.kind, ExitKind::Failed);
  EXPECT_EQ(exits.seen[2].second.error->code, ErrorCode::InternalError);
  EXPECT_NE(exits.seen[2].second.error->message.find("bad"), std::string::npos);
  EXPECT_EQ(scheduler.actor_count(), 0u);
}

TEST_F(DeterministicSchedulerTest, StopLetsTheSliceFinishAndReportsQueuedMessages) {
  auto log = std::make_shared<Log>();
  auto stop_reason = std::make_shared<std::optional<ExitReason>>();
  auto behavior = scripted(
      [log](ActorContext& ctx) -> Result<StepResult> {
        auto message = ctx.receive();
        if (!message) return StepResult::Idle;
        if (text(message->payload) == "stop-me") {
          EXPECT_TRUE(ctx.scheduler().stop(ctx.self()));
          log->push_back("slice went on after stop");
        }
        log->push_back(text(message->payload));
        return StepResult::Idle;
      },
      [stop_reason](ActorContext&, const ExitReason& reason) { *stop_reason = reason; });
  auto a = scheduler.spawn(std::move(behavior), SpawnOptions{"a", 16, exits.callback()});
  ASSERT_TRUE(a);
  for (const char* m : {"one", "stop-me", "two", "three"}) ASSERT_TRUE(scheduler.send(to(*a, m)));

  scheduler.run();
  EXPECT_EQ(*log, (Log{"one", "slice went on after stop", "stop-me"}));
  ASSERT_TRUE(*stop_reason);
  EXPECT_EQ((*stop_reason)->kind, ExitKind::Stopped);
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_EQ(text(dead[0].envelope.payload), "two");
  EXPECT_EQ(text(dead[1].envelope.payload), "three");
  EXPECT_EQ(dead[0].reason.code, ErrorCode::ActorStopped);
  EXPECT_EQ(scheduler.dead_letter_count(), 2u);
  ASSERT_EQ(exits.seen.size(), 1u);
  EXPECT_FALSE(scheduler.lookup("a"));
}

TEST_F(DeterministicSchedulerTest, StoppingActorRefusesNewMessagesAndNeverRunsAgain) {
  auto log = std::make_shared<Log>();
  Address a = spawn_recorder("a", log);
  scheduler.run();
  ASSERT_TRUE(scheduler.send(to(a, "queued")));
  ASSERT_TRUE(scheduler.stop(a));
  auto refused = scheduler.send(to(a, "late"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::ActorStopped);
  scheduler.run();
  EXPECT_TRUE(log->empty());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(text(dead[0].envelope.payload), "queued");
  auto gone = scheduler.stop(a);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::ActorNotFound);
}

TEST_F(DeterministicSchedulerTest, DrainStopDeliversWhatIsQueuedFirst) {
  auto log = std::make_shared<Log>();
  Address a = spawn_recorder("a", log);
  scheduler.run();
  for (const char* m : {"1", "2", "3"}) ASSERT_TRUE(scheduler.send(to(a, m)));
  ASSERT_TRUE(scheduler.stop(a, StopMode::Drain));
  EXPECT_EQ(scheduler.send(to(a, "late")).error().code, ErrorCode::ActorStopped);
  scheduler.run();
  EXPECT_EQ(*log, (Log{"1", "2", "3"}));
  EXPECT_TRUE(dead.empty());
  ASSERT_EQ(exits.seen.size(), 1u);
  EXPECT_EQ(exits.seen[0].second.kind, ExitKind::Stopped);
}

TEST_F(DeterministicSchedulerTest, ImmediateStopOverridesDrain) {
  auto log = std::make_shared<Log>();
  Address a = spawn_recorder("a", log);
  scheduler.run();
  for (const char* m : {"1", "2", "3"}) ASSERT_TRUE(scheduler.send(to(a, m)));
  ASSERT_TRUE(scheduler.stop(a, StopMode::Drain));
  ASSERT_TRUE(scheduler.step());
  ASSERT_TRUE(scheduler.stop(a, StopMode::Immediate));
  scheduler.run();
  EXPECT_EQ(*log, (Log{"1"}));
  EXPECT_EQ(dead.size(), 2u);
}

TEST_F(DeterministicSchedulerTest, OnStopMayReceiveWhatIsStillQueued) {
  auto log = std::make_shared<Log>();
  auto a =
      scheduler.spawn(scripted([](ActorContext&) -> Result<StepResult> { return StepResult::Idle; },
                               [log](ActorContext& ctx, const ExitReason&) {
                                 if (auto m = ctx.receive()) log->push_back(text(m->payload));
                               }),
                      SpawnOptions{"a"});
  ASSERT_TRUE(a);
  scheduler.run();
  ASSERT_TRUE(scheduler.send(to(*a, "first")));
  ASSERT_TRUE(scheduler.send(to(*a, "second")));
  ASSERT_TRUE(scheduler.stop(*a));
  scheduler.run();
  EXPECT_EQ(*log, (Log{"first"}));
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(text(dead[0].envelope.payload), "second");
}

TEST_F(DeterministicSchedulerTest, TimersFireInDeadlineOrderOnTheVirtualClock) {
  std::vector<std::pair<std::string, Duration>> fired;
  const TimePoint start = scheduler.now();
  auto record = [&](std::string name) {
    return [&fired, &start, this, name] { fired.emplace_back(name, scheduler.now() - start); };
  };
  EXPECT_NE(scheduler.schedule(30ms, record("30")), 0u);
  scheduler.schedule(10ms, record("10a"));
  scheduler.schedule(20ms, record("20"));
  scheduler.schedule(10ms, record("10b"));
  EXPECT_EQ(scheduler.next_timer(), start + 10ms);

  scheduler.advance(9ms);
  EXPECT_TRUE(fired.empty());
  scheduler.advance(1ms);
  ASSERT_EQ(fired.size(), 2u);
  scheduler.advance(100ms);
  ASSERT_EQ(fired.size(), 4u);
  EXPECT_EQ(fired[0], (std::pair<std::string, Duration>("10a", 10ms)));
  EXPECT_EQ(fired[1], (std::pair<std::string, Duration>("10b", 10ms)));
  EXPECT_EQ(fired[2], (std::pair<std::string, Duration>("20", 20ms)));
  EXPECT_EQ(fired[3], (std::pair<std::string, Duration>("30", 30ms)));
  EXPECT_EQ(scheduler.now() - start, 110ms);
  EXPECT_FALSE(scheduler.next_timer());
}

TEST_F(DeterministicSchedulerTest, TimerSetByATimerFiresWithinTheSameAdvance) {
  std::vector<Duration> fired;
  scheduler.schedule(10ms, [&] {
    fired.push_back(scheduler.now().time_since_epoch());
    scheduler.schedule(5ms, [&] { fired.push_back(scheduler.now().time_since_epoch()); });
  });
  scheduler.advance(20ms);
  EXPECT_EQ(fired, (std::vector<Duration>{10ms, 15ms}));
}

TEST_F(DeterministicSchedulerTest, CancelledTimerNeverFires) {
  int fired = 0;
  TimerId timer = scheduler.schedule(10ms, [&] { ++fired; });
  EXPECT_TRUE(scheduler.cancel(timer));
  EXPECT_FALSE(scheduler.cancel(timer));
  EXPECT_FALSE(scheduler.advance_to_next_timer());
  scheduler.advance(1s);
  EXPECT_EQ(fired, 0);
}

TEST_F(DeterministicSchedulerTest, SendAfterDeliversWhenTheClockGetsThere) {
  auto log = std::make_shared<Log>();
  Address a = spawn_recorder("a", log);
  scheduler.run();
  scheduler.send_after(50ms, to(a, "late"));
  scheduler.advance(49ms);
  scheduler.run();
  EXPECT_TRUE(log->empty());
  EXPECT_TRUE(scheduler.advance_to_next_timer());
  EXPECT_EQ(scheduler.now().time_since_epoch(), 50ms);
  scheduler.run();
  EXPECT_EQ(*log, (Log{"late"}));
}

TEST_F(DeterministicSchedulerTest, DelayedMessageToAGoneActorIsADeadLetter) {
  auto log = std::make_shared<Log>();
  Address a = spawn_recorder("a", log);
  scheduler.send_after(10ms, to(a, "too late"));
  ASSERT_TRUE(scheduler.stop(a));
  scheduler.run();
  scheduler.advance(10ms);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(text(dead[0].envelope.payload), "too late");
  EXPECT_EQ(dead[0].reason.code, ErrorCode::ActorNotFound);
}

TEST_F(DeterministicSchedulerTest, ShutdownStopsEveryActorAndReportsEverythingUndelivered) {
  auto log = std::make_shared<Log>();
  Address a = spawn_recorder("a", log);
  Address b = spawn_recorder("b", log);
  auto spins = std::make_shared<int>(0);
  ASSERT_TRUE(scheduler.spawn(yielder(spins), SpawnOptions{"spinner", 8, exits.callback()}));
  scheduler.run(3);
  for (const char* m : {"1", "2"}) {
    ASSERT_TRUE(scheduler.send(to(a, m)));
    ASSERT_TRUE(scheduler.send(to(b, m)));
  }
  scheduler.send_after(1s, to(a, "delayed"));
  int callbacks = 0;
  scheduler.schedule(1s, [&] { ++callbacks; });

  scheduler.shutdown();
  EXPECT_EQ(scheduler.actor_count(), 0u);
  EXPECT_EQ(exits.seen.size(), 3u);
  for (const auto& [address, reason] : exits.seen) EXPECT_EQ(reason.kind, ExitKind::Stopped);
  EXPECT_EQ(dead.size(), 5u);
  EXPECT_EQ(scheduler.dead_letter_count(), 5u);
  EXPECT_TRUE(log->empty());

  auto refused = scheduler.spawn(recorder(log));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::SchedulerStopped);
  EXPECT_EQ(scheduler.schedule(1ms, [&] { ++callbacks; }), 0u);
  EXPECT_EQ(scheduler.send_after(1ms, to(a, "after")), 0u);
  EXPECT_EQ(dead.size(), 6u);
  scheduler.advance(1h);
  EXPECT_EQ(callbacks, 0);
  scheduler.shutdown();  // idempotent
}

TEST_F(DeterministicSchedulerTest, WithoutAHandlerDeadLettersAreStillCounted) {
  DeterministicScheduler quiet;
  auto a = quiet.spawn(recorder(std::make_shared<Log>()), SpawnOptions{"a"});
  ASSERT_TRUE(a);
  ASSERT_TRUE(quiet.send(to(*a, "x")));
  quiet.shutdown();
  EXPECT_EQ(quiet.dead_letter_count(), 1u);
}

}  // namespace
}  // namespace airssys::wasm::actor

namespace airssys::wasm::actor {
namespace {

// A publish's many sends at once: every envelope whose target takes it is
// queued in order, each refusal (unknown target, full mailbox) is reported by
// its index with the envelope still held, and the accepted count is returned.
TEST_F(DeterministicSchedulerTest, SendAllQueuesEachAndReportsEachRefusalByIndex) {
  auto a = std::make_shared<Log>();
  auto b = std::make_shared<Log>();
  spawn_recorder("a", a);
  spawn_recorder("b", b, 1);
  std::vector<Envelope> envelopes;
  envelopes.push_back(to(Address::named("a"), "a1"));
  envelopes.push_back(to(Address::named("nobody"), "lost"));
  envelopes.push_back(to(Address::named("b"), "b1"));
  envelopes.push_back(to(Address::named("b"), "b2"));  // b holds one
  envelopes.push_back(to(Address::named("a"), "a2"));
  std::vector<std::pair<size_t, ErrorCode>> refused;
  size_t accepted = scheduler.send_all(envelopes, [&](size_t i, const Error& e) {
    refused.emplace_back(i, e.code);
    EXPECT_EQ(text(envelopes[i].payload), i == 1 ? "lost" : "b2");  // still held
  });
  EXPECT_EQ(accepted, 3u);
  ASSERT_EQ(refused.size(), 2u);
  EXPECT_EQ(refused[0], std::make_pair(size_t{1}, ErrorCode::ActorNotFound));
  EXPECT_EQ(refused[1], std::make_pair(size_t{3}, ErrorCode::MailboxFull));
  scheduler.run();
  EXPECT_EQ(*a, (Log{"a1", "a2"}));
  EXPECT_EQ(*b, (Log{"b1"}));
}

}  // namespace
}  // namespace airssys::wasm::actor
