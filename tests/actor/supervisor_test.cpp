#include "airssys/wasm/actor/supervisor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "actor_test_support.hpp"
#include "airssys/wasm/actor/scheduler.hpp"

namespace airssys::wasm::actor {
namespace {

using namespace std::chrono_literals;
using testing::text;
using testing::to;

constexpr Backoff kImmediate{BackoffKind::Immediate, {}, 1.0, {}};

class SupervisorTest : public ::testing::Test {
 protected:
  SupervisorTest() {
    scheduler.set_dead_letter_handler(
        [this](DeadLetter letter) { dead.push_back(std::move(letter)); });
  }

  // "fail" fails the child, "stop" ends it normally, anything else is recorded.
  std::unique_ptr<Behavior> worker(const std::string& name) {
    return make_handler_behavior([this, name](ActorContext&, Envelope&& e) -> Result<StepResult> {
      std::string body = text(e.payload);
      if (body == "fail") return make_error(ErrorCode::TrapUnreachable, name + " trapped");
      if (body == "stop") return StepResult::Stop;
      received[name].push_back(body);
      return StepResult::Idle;
    });
  }

  ChildSpec child(const std::string& name, RestartPolicy policy = RestartPolicy::Permanent) {
    ChildSpec spec;
    spec.name = name;
    spec.policy = policy;
    spec.factory = [this, name]() -> Result<std::unique_ptr<Behavior>> {
      ++builds[name];
      return worker(name);
    };
    return spec;
  }

  SupervisorOptions options(RestartStrategy strategy, Backoff backoff = kImmediate) {
    SupervisorOptions o;
    o.name = "root";
    o.strategy = strategy;
    o.backoff = backoff;
    o.on_event = [this](const SupervisorEvent& e) { events.push_back(e); };
    return o;
  }

  std::unique_ptr<Supervisor> start(SupervisorOptions o, std::vector<ChildSpec> children) {
    auto supervisor = Supervisor::start(scheduler, std::move(o), std::move(children));
    EXPECT_TRUE(supervisor) << supervisor.error().to_string();
    scheduler.run();
    return supervisor ? std::move(*supervisor) : nullptr;
  }

  void tell(const std::string& name, const std::string& body) {
    auto sent = scheduler.send(to(Address::named(name), body));
    ASSERT_TRUE(sent) << sent.error().to_string();
    scheduler.run();
  }

  std::vector<std::string> children_with(SupervisorEventKind kind) const {
    std::vector<std::string> out;
    for (const auto& e : events)
      if (e.kind == kind) out.push_back(e.child);
    return out;
  }

  std::vector<SupervisorEventKind> kinds() const {
    std::vector<SupervisorEventKind> out;
    for (const auto& e : events) out.push_back(e.kind);
    return out;
  }

  const SupervisorEvent* last(SupervisorEventKind kind) const {
    for (auto it = events.rbegin(); it != events.rend(); ++it)
      if (it->kind == kind) return &*it;
    return nullptr;
  }

  // Declared before the scheduler: its shutdown at destruction still reports here.
  std::vector<SupervisorEvent> events;
  std::map<std::string, int> builds;
  std::map<std::string, std::vector<std::string>> received;
  std::vector<DeadLetter> dead;
  DeterministicScheduler scheduler;
};

TEST(Backoff, DelaysFollowTheKindAndStopAtTheCap) {
  Backoff exponential;  // the defaults: 100 ms x 1.5, capped at 30 s
  EXPECT_EQ(exponential.delay(1), 100ms);
  EXPECT_EQ(exponential.delay(2), 150ms);
  EXPECT_EQ(exponential.delay(3), 225ms);
  EXPECT_EQ(exponential.delay(4), 337500us);
  EXPECT_EQ(exponential.delay(60), 30s);
  EXPECT_EQ(exponential.delay(100000), 30s);

  Backoff linear{BackoffKind::Linear, 100ms, 1.5, 250ms};
  EXPECT_EQ(linear.delay(1), 100ms);
  EXPECT_EQ(linear.delay(2), 200ms);
  EXPECT_EQ(linear.delay(3), 250ms);

  EXPECT_EQ(kImmediate.delay(1), Duration::zero());
  EXPECT_EQ(kImmediate.delay(50), Duration::zero());
}

using MatrixCase = std::tuple<RestartStrategy, RestartPolicy, bool>;

class SupervisorMatrixTest : public SupervisorTest,
                             public ::testing::WithParamInterface<MatrixCase> {};

// Children a, b, c (a and c permanent); b has the policy under test and either
// fails or ends normally.
TEST_P(SupervisorMatrixTest, RestartsExactlyWhatPolicyAndStrategySay) {
  const auto [strategy, policy, failure] = GetParam();
  auto supervisor = start(options(strategy), {child("a"), child("b", policy), child("c")});
  ASSERT_TRUE(supervisor);
  const std::map<std::string, Address> before{
      {"a", *scheduler.lookup("a")}, {"b", *scheduler.lookup("b")}, {"c", *scheduler.lookup("c")}};
  events.clear();

  tell("b", failure ? "fail" : "stop");

  const bool restart =
      policy == RestartPolicy::Permanent || (policy == RestartPolicy::Transient && failure);
  std::vector<std::string> expected;
  if (restart) {
    switch (strategy) {
      case RestartStrategy::OneForOne:
        expected = {"b"};
        break;
      case RestartStrategy::OneForAll:
        expected = {"a", "b", "c"};
        break;
      case RestartStrategy::RestForOne:
        expected = {"b", "c"};
        break;
    }
  }
  EXPECT_EQ(children_with(SupervisorEventKind::ChildRestarted), expected);

  ASSERT_FALSE(events.empty());
  const SupervisorEvent* exit = &events.front();
  EXPECT_EQ(exit->kind,
            failure ? SupervisorEventKind::ChildFailed : SupervisorEventKind::ChildStopped);
  EXPECT_EQ(exit->child, "b");
  EXPECT_EQ(exit->address, before.at("b"));
  if (failure) {
    EXPECT_EQ(exit->error->code, ErrorCode::TrapUnreachable);
  }

  for (const char* name : {"a", "b", "c"}) {
    const bool restarted = std::count(expected.begin(), expected.end(), name) == 1;
    auto now = scheduler.lookup(name);
    EXPECT_EQ(builds[name], restarted ? 2 : 1) << name;
    if (std::string(name) == "b" && !restart) {
      EXPECT_FALSE(now);
      continue;
    }
    ASSERT_TRUE(now) << name;
    EXPECT_EQ(now->id != before.at(name).id, restarted) << name;
    EXPECT_EQ(supervisor->child_address(name), now);
    tell(name, "hello");  // by name: reaches whichever instance holds it
    EXPECT_EQ(received[name], std::vector<std::string>{"hello"}) << name;
  }
  auto names = supervisor->child_names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "b"),
            policy == RestartPolicy::Temporary ? 0 : 1);
  EXPECT_EQ(supervisor->state(), SupervisorState::Running);
}

std::string matrix_case_name(const ::testing::TestParamInfo<MatrixCase>& info) {
  const auto [strategy, policy, failure] = info.param;
  std::string name = std::string(restart_strategy_name(strategy)) + "_" +
                     restart_policy_name(policy) + (failure ? "_failure" : "_normal");
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(
    EveryPolicyAndStrategy, SupervisorMatrixTest,
    ::testing::Combine(::testing::Values(RestartStrategy::OneForOne, RestartStrategy::OneForAll,
                                         RestartStrategy::RestForOne),
                       ::testing::Values(RestartPolicy::Permanent, RestartPolicy::Transient,
                                         RestartPolicy::Temporary),
                       ::testing::Bool()),
    matrix_case_name);

TEST_F(SupervisorTest, StartReportsEachChildInOrder) {
  auto supervisor = start(options(RestartStrategy::OneForOne), {child("a"), child("b")});
  ASSERT_TRUE(supervisor);
  EXPECT_EQ(children_with(SupervisorEventKind::ChildStarted), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(events[0].supervisor, "root");
  EXPECT_EQ(events[0].address, *scheduler.lookup("a"));
}

TEST_F(SupervisorTest, AStopFromOutsideRestartsAPermanentChildButNotATransientOne) {
  auto supervisor = start(options(RestartStrategy::OneForOne),
                          {child("p"), child("t", RestartPolicy::Transient)});
  ASSERT_TRUE(supervisor);
  ASSERT_TRUE(scheduler.stop(Address::named("p")));
  ASSERT_TRUE(scheduler.stop(Address::named("t")));
  scheduler.run();
  EXPECT_EQ(children_with(SupervisorEventKind::ChildRestarted), std::vector<std::string>{"p"});
  EXPECT_TRUE(scheduler.lookup("p"));
  EXPECT_FALSE(scheduler.lookup("t"));
}

TEST_F(SupervisorTest, OneForAllStopsATemporarySiblingAndNeverRestartsIt) {
  auto supervisor = start(options(RestartStrategy::OneForAll),
                          {child("a"), child("tmp", RestartPolicy::Temporary), child("c")});
  ASSERT_TRUE(supervisor);
  tell("a", "fail");
  EXPECT_EQ(children_with(SupervisorEventKind::ChildRestarted),
            (std::vector<std::string>{"a", "c"}));
  EXPECT_FALSE(scheduler.lookup("tmp"));
  EXPECT_EQ(supervisor->child_names(), (std::vector<std::string>{"a", "c"}));
}

TEST_F(SupervisorTest, QueuedMessagesOfAFailedChildAreReported) {
  auto supervisor = start(options(RestartStrategy::OneForOne), {child("a")});
  ASSERT_TRUE(supervisor);
  for (const char* m : {"fail", "x", "y"}) ASSERT_TRUE(scheduler.send(to(Address::named("a"), m)));
  scheduler.run();
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_EQ(text(dead[0].envelope.payload), "x");
  EXPECT_EQ(text(dead[1].envelope.payload), "y");
  EXPECT_EQ(dead[0].reason.code, ErrorCode::ActorStopped);
  EXPECT_TRUE(scheduler.lookup("a"));
}

// A child with a kept mailbox fails with messages queued behind the failing
// one, and more arrive while it waits out its back-off: the next instance
// receives every one, in order, and nothing is reported undelivered.
TEST_F(SupervisorTest, AKeptMailboxCarriesItsQueueOverARestart) {
  auto spec = child("a");
  spec.keep_mailbox = true;
  auto supervisor = start(options(RestartStrategy::OneForOne, Backoff{BackoffKind::Linear, 100ms,
                                                                      1.0, 1s}),
                          {std::move(spec)});
  ASSERT_TRUE(supervisor);
  for (const char* m : {"x", "fail", "y", "z"}) {
    ASSERT_TRUE(scheduler.send(to(Address::named("a"), m)));
  }
  scheduler.run();
  EXPECT_EQ(received["a"], (std::vector<std::string>{"x"}));
  ASSERT_FALSE(supervisor->child_address("a"));  // waiting for its restart
  EXPECT_FALSE(scheduler.lookup("a"));
  auto during = scheduler.send(to(Address::named("a"), "w"));
  ASSERT_TRUE(during) << during.error().to_string();
  scheduler.advance(100ms);
  scheduler.run();
  ASSERT_TRUE(supervisor->child_address("a"));
  EXPECT_EQ(builds["a"], 2);
  EXPECT_EQ(received["a"], (std::vector<std::string>{"x", "y", "z", "w"}));
  EXPECT_TRUE(dead.empty());
  EXPECT_EQ(scheduler.dead_letter_count(), 0u);
}

// While the child waits for its restart, its full mailbox pushes back
// (MailboxFull) rather than saying it does not exist.
TEST_F(SupervisorTest, AFullKeptMailboxPushesBackDuringTheRestart) {
  auto spec = child("a");
  spec.keep_mailbox = true;
  spec.mailbox_capacity = 2;
  auto supervisor = start(options(RestartStrategy::OneForOne, Backoff{BackoffKind::Linear, 100ms,
                                                                      1.0, 1s}),
                          {std::move(spec)});
  ASSERT_TRUE(supervisor);
  tell("a", "fail");
  ASSERT_TRUE(scheduler.send(to(Address::named("a"), "x")));
  ASSERT_TRUE(scheduler.send(to(Address::named("a"), "y")));
  auto full = scheduler.send(to(Address::named("a"), "z"));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ErrorCode::MailboxFull);
  scheduler.advance(100ms);
  scheduler.run();
  EXPECT_EQ(received["a"], (std::vector<std::string>{"x", "y"}));
}

// A child that is not started again gives up what its kept mailbox holds:
// every message is reported undelivered, to the child's own handler first,
// and later messages are refused.
TEST_F(SupervisorTest, AKeptMailboxNotRestartedReportsWhatItHolds) {
  std::vector<std::string> undelivered;
  auto make = [&](const std::string& name, RestartPolicy policy) {
    auto spec = child(name, policy);
    spec.keep_mailbox = true;
    spec.on_undelivered = [&undelivered](const std::vector<DeadLetter>& letters) {
      for (const auto& l : letters) undelivered.push_back(text(l.envelope.payload));
    };
    return spec;
  };
  auto o = options(RestartStrategy::OneForOne);
  o.intensity.max_restarts = 1;
  o.intensity.scope = IntensityScope::Child;
  auto supervisor = start(std::move(o), {make("t", RestartPolicy::Transient),
                                         make("g", RestartPolicy::Permanent)});
  ASSERT_TRUE(supervisor);
  // Transient and ending normally: not restarted.
  for (const char* m : {"stop", "t1", "t2"}) ASSERT_TRUE(scheduler.send(to(Address::named("t"), m)));
  scheduler.run();
  // Over its own intensity at the second failure: given up.
  for (const char* m : {"fail", "fail", "g1"}) ASSERT_TRUE(scheduler.send(to(Address::named("g"), m)));
  scheduler.run();
  EXPECT_EQ(undelivered, (std::vector<std::string>{"t1", "t2", "g1"}));
  ASSERT_EQ(dead.size(), 3u);
  EXPECT_EQ(dead[0].reason.code, ErrorCode::ActorStopped);
  EXPECT_EQ(scheduler.send(to(Address::named("t"), "late")).error().code,
            ErrorCode::ActorNotFound);
  EXPECT_EQ(scheduler.send(to(Address::named("g"), "late")).error().code,
            ErrorCode::ActorNotFound);
  EXPECT_EQ(builds["g"], 2);
}

// Only the kept mailbox that holds a name may take it back.
TEST(KeptMailbox, AReservedNameIsRefusedToAnotherMailboxAndReleasedAtShutdown) {
  DeterministicScheduler scheduler;
  size_t dead = 0;
  scheduler.set_dead_letter_handler([&](DeadLetter) { ++dead; });
  auto kept = std::make_shared<Mailbox>(4);
  auto failing = [] {
    return make_handler_behavior([](ActorContext&, Envelope&&) -> Result<StepResult> {
      return make_error(ErrorCode::TrapUnreachable, "trapped");
    });
  };
  ASSERT_TRUE(scheduler.spawn(failing(), {.name = "k", .mailbox = kept}));
  ASSERT_TRUE(scheduler.send(to(Address::named("k"), "boom")));
  scheduler.run();
  ASSERT_TRUE(scheduler.send(to(Address::named("k"), "kept")));
  auto other = scheduler.spawn(failing(), {.name = "k"});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::ActorNameTaken);
  EXPECT_EQ(kept->size(), 1u);
  scheduler.shutdown();
  EXPECT_EQ(dead, 1u);
  EXPECT_TRUE(kept->closed());
  EXPECT_FALSE(scheduler.release("k"));
}

TEST_F(SupervisorTest, GivesUpAfterTooManyRestartsAndStopsEveryChild) {
  auto supervisor = start(options(RestartStrategy::OneForOne), {child("a"), child("b")});
  ASSERT_TRUE(supervisor);
  for (int i = 0; i < 3; ++i) {
    tell("a", "fail");
    ASSERT_TRUE(scheduler.lookup("a")) << "restart " << i + 1;
    EXPECT_EQ(supervisor->state(), SupervisorState::Running);
  }
  events.clear();
  tell("a", "fail");

  EXPECT_EQ(kinds(), (std::vector<SupervisorEventKind>{SupervisorEventKind::ChildFailed,
                                                       SupervisorEventKind::ChildStopped,
                                                       SupervisorEventKind::GaveUp}));
  EXPECT_EQ(events[1].child, "b");
  ASSERT_TRUE(events[2].error);
  EXPECT_EQ(events[2].error->code, ErrorCode::SupervisorGaveUp);
  EXPECT_NE(events[2].error->message.find("'a'"), std::string::npos);
  EXPECT_NE(events[2].error->message.find("a trapped"), std::string::npos);
  EXPECT_EQ(supervisor->state(), SupervisorState::GaveUp);
  ASSERT_TRUE(supervisor->failure());
  EXPECT_EQ(supervisor->failure()->code, ErrorCode::SupervisorGaveUp);
  EXPECT_FALSE(scheduler.lookup("a"));
  EXPECT_FALSE(scheduler.lookup("b"));
  EXPECT_EQ(scheduler.actor_count(), 0u);
  EXPECT_EQ(builds["a"], 4);
}

TEST_F(SupervisorTest, IntensityCountsRestartsOfAllChildren) {
  auto supervisor = start(options(RestartStrategy::OneForOne), {child("a"), child("b")});
  ASSERT_TRUE(supervisor);
  tell("a", "fail");
  tell("b", "fail");
  tell("a", "fail");
  EXPECT_EQ(supervisor->state(), SupervisorState::Running);
  tell("b", "fail");
  EXPECT_EQ(supervisor->state(), SupervisorState::GaveUp);
}

// IntensityScope::Child: a child over its own intensity is given up alone;
// its sibling's restarts are counted separately and it keeps running.
TEST_F(SupervisorTest, WithChildScopeOnlyTheChildInARestartLoopIsGivenUp) {
  auto opts = options(RestartStrategy::OneForOne);
  opts.intensity.scope = IntensityScope::Child;
  auto supervisor = start(opts, {child("a"), child("b")});
  ASSERT_TRUE(supervisor);
  tell("b", "fail");
  tell("b", "fail");
  for (int i = 0; i < 3; ++i) {
    tell("a", "fail");
    ASSERT_TRUE(scheduler.lookup("a")) << "restart " << i + 1;
  }
  events.clear();
  tell("a", "fail");
  EXPECT_EQ(kinds(), (std::vector<SupervisorEventKind>{SupervisorEventKind::ChildFailed,
                                                       SupervisorEventKind::ChildGaveUp}));
  ASSERT_TRUE(events[1].error);
  EXPECT_EQ(events[1].child, "a");
  EXPECT_EQ(events[1].error->code, ErrorCode::SupervisorGaveUp);
  EXPECT_NE(events[1].error->message.find("gave up on child 'a'"), std::string::npos)
      << events[1].error->message;
  EXPECT_EQ(supervisor->state(), SupervisorState::Running);
  EXPECT_FALSE(supervisor->failure());
  EXPECT_FALSE(scheduler.lookup("a"));
  EXPECT_TRUE(scheduler.lookup("b"));
  EXPECT_EQ(supervisor->child_names(), (std::vector<std::string>{"b"}));
  // b's own budget is intact: one more restart is fine.
  tell("b", "fail");
  EXPECT_TRUE(scheduler.lookup("b"));
  EXPECT_EQ(supervisor->state(), SupervisorState::Running);
}

TEST_F(SupervisorTest, RestartsSpreadBeyondThePeriodNeverGiveUp) {
  auto supervisor = start(options(RestartStrategy::OneForOne), {child("a")});
  ASSERT_TRUE(supervisor);
  for (int i = 0; i < 10; ++i) {
    tell("a", "fail");
    scheduler.advance(61s);
  }
  EXPECT_EQ(supervisor->state(), SupervisorState::Running);
  EXPECT_EQ(children_with(SupervisorEventKind::ChildRestarted).size(), 10u);
  EXPECT_EQ(last(SupervisorEventKind::ChildRestarted)->restarts, 1u);
}

TEST_F(SupervisorTest, ZeroRestartsAllowedGivesUpAtTheFirstFailure) {
  auto o = options(RestartStrategy::OneForOne);
  o.intensity.max_restarts = 0;
  auto supervisor = start(std::move(o), {child("a")});
  ASSERT_TRUE(supervisor);
  tell("a", "fail");
  EXPECT_EQ(supervisor->state(), SupervisorState::GaveUp);
  EXPECT_EQ(builds["a"], 1);
}

// Fails the child `delays.size()` times and checks each back-off on the clock.
void expect_backoff(DeterministicScheduler& scheduler, Supervisor& supervisor,
                    const std::vector<Duration>& delays) {
  for (Duration delay : delays) {
    auto sent = scheduler.send(to(Address::named("a"), "fail"));
    ASSERT_TRUE(sent);
    scheduler.run();
    const TimePoint failed_at = scheduler.now();
    EXPECT_FALSE(supervisor.child_address("a"));
    ASSERT_EQ(scheduler.next_timer(), failed_at + delay);
    scheduler.advance(delay - 1ms);
    scheduler.run();
    EXPECT_FALSE(supervisor.child_address("a"));
    scheduler.advance(1ms);
    scheduler.run();
    ASSERT_TRUE(supervisor.child_address("a"));
  }
}

class BackoffTest : public SupervisorTest {
 protected:
  // Returns the supervisor, still running, for more checks.
  std::unique_ptr<Supervisor> check(Backoff backoff, uint32_t max_restarts,
                                    const std::vector<Duration>& delays) {
    auto o = options(RestartStrategy::OneForOne, backoff);
    o.intensity.max_restarts = max_restarts;
    auto supervisor = start(std::move(o), {child("a")});
    if (!supervisor) return nullptr;
    expect_backoff(scheduler, *supervisor, delays);
    std::vector<Duration> waited;
    for (const auto& e : events) {
      if (e.kind != SupervisorEventKind::ChildRestarted) continue;
      waited.push_back(e.delay);
    }
    EXPECT_EQ(waited, delays);
    // Each restart event is stamped at failure time + its delay on the virtual clock.
    std::optional<TimePoint> failed_at;
    for (const auto& e : events) {
      if (e.kind == SupervisorEventKind::ChildFailed) failed_at = e.time;
      if (e.kind == SupervisorEventKind::ChildRestarted) {
        EXPECT_TRUE(failed_at);
        if (failed_at) {
          EXPECT_EQ(e.time - *failed_at, e.delay);
        }
      }
    }
    return supervisor;
  }
};

TEST_F(BackoffTest, ExponentialDefaultWaits100Then150Then225Milliseconds) {
  auto supervisor = check(Backoff{}, 3, {100ms, 150ms, 225ms});
  ASSERT_TRUE(supervisor);
  tell("a", "fail");
  EXPECT_EQ(supervisor->state(), SupervisorState::GaveUp);
  EXPECT_FALSE(scheduler.next_timer());
}

TEST_F(BackoffTest, LinearGrowsByTheInitialDelay) {
  EXPECT_TRUE(
      check(Backoff{BackoffKind::Linear, 100ms, 1.5, 30s}, 5, {100ms, 200ms, 300ms, 400ms, 500ms}));
}

TEST_F(BackoffTest, ExponentialStopsAtTheCap) {
  EXPECT_TRUE(check(Backoff{BackoffKind::Exponential, 100ms, 2.0, 300ms}, 6,
                    {100ms, 200ms, 300ms, 300ms, 300ms}));
}

TEST_F(BackoffTest, ImmediateRestartsWithoutATimer) {
  auto supervisor = start(options(RestartStrategy::OneForOne), {child("a")});
  ASSERT_TRUE(supervisor);
  tell("a", "fail");
  EXPECT_TRUE(supervisor->child_address("a"));
  EXPECT_FALSE(scheduler.next_timer());
  EXPECT_EQ(last(SupervisorEventKind::ChildRestarted)->delay, Duration::zero());
}

TEST_F(BackoffTest, EachChildBacksOffOnItsOwnHistory) {
  auto supervisor = start(options(RestartStrategy::OneForOne, Backoff{}), {child("a"), child("b")});
  ASSERT_TRUE(supervisor);
  tell("a", "fail");
  scheduler.advance(100ms);
  scheduler.run();
  tell("a", "fail");
  EXPECT_EQ(scheduler.next_timer(), scheduler.now() + 150ms);
  tell("b", "fail");
  scheduler.advance(100ms);
  scheduler.run();
  EXPECT_TRUE(supervisor->child_address("b"));
  EXPECT_FALSE(supervisor->child_address("a"));
  scheduler.advance(50ms);
  scheduler.run();
  EXPECT_TRUE(supervisor->child_address("a"));
}

TEST_F(BackoffTest, GroupRestartWaitsForTheSiblingsThenTheDelay) {
  auto supervisor =
      start(options(RestartStrategy::OneForAll, Backoff{}), {child("a"), child("b"), child("c")});
  ASSERT_TRUE(supervisor);
  tell("b", "fail");
  EXPECT_EQ(scheduler.actor_count(), 0u);
  EXPECT_EQ(scheduler.next_timer(), scheduler.now() + 100ms);
  scheduler.advance(100ms);
  scheduler.run();
  EXPECT_EQ(children_with(SupervisorEventKind::ChildRestarted),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(last(SupervisorEventKind::ChildRestarted)->delay, 100ms);
  EXPECT_EQ(scheduler.actor_count(), 3u);
}

TEST_F(BackoffTest, StopCancelsAPendingRestart) {
  auto supervisor = start(options(RestartStrategy::OneForOne, Backoff{}), {child("a"), child("b")});
  ASSERT_TRUE(supervisor);
  tell("a", "fail");
  supervisor->stop();
  scheduler.run();
  EXPECT_EQ(supervisor->state(), SupervisorState::Stopped);
  scheduler.advance(1s);
  scheduler.run();
  EXPECT_FALSE(scheduler.lookup("a"));
  EXPECT_EQ(builds["a"], 1);
  EXPECT_TRUE(children_with(SupervisorEventKind::ChildRestarted).empty());
}

TEST_F(SupervisorTest, RestartsReuseWhatTheFactoryCaptured) {
  // Stands in for an immutable security context shared by pointer.
  auto context = std::make_shared<const std::string>("grants: messaging.send=[b]");
  std::vector<const std::string*> seen;
  ChildSpec spec;
  spec.name = "a";
  spec.factory = [context, &seen]() -> Result<std::unique_ptr<Behavior>> {
    return make_handler_behavior(
        [context, &seen](ActorContext&, Envelope&& e) -> Result<StepResult> {
          seen.push_back(context.get());
          if (text(e.payload) == "fail") return make_error(ErrorCode::TrapUnreachable, "trap");
          return StepResult::Idle;
        });
  };
  auto supervisor = start(options(RestartStrategy::OneForOne), {spec});
  ASSERT_TRUE(supervisor);
  tell("a", "fail");
  tell("a", "fail");
  tell("a", "ok");
  ASSERT_EQ(seen.size(), 3u);
  for (const auto* pointer : seen) EXPECT_EQ(pointer, context.get());
  EXPECT_EQ(*context, "grants: messaging.send=[b]");
}

TEST_F(SupervisorTest, StopStopsChildrenLastStartedFirst) {
  auto supervisor =
      start(options(RestartStrategy::OneForOne), {child("a"), child("b"), child("c")});
  ASSERT_TRUE(supervisor);
  events.clear();
  supervisor->stop();
  EXPECT_EQ(supervisor->state(), SupervisorState::Stopping);
  scheduler.run();
  EXPECT_EQ(children_with(SupervisorEventKind::ChildStopped),
            (std::vector<std::string>{"c", "b", "a"}));
  EXPECT_EQ(events.back().kind, SupervisorEventKind::Stopped);
  EXPECT_EQ(supervisor->state(), SupervisorState::Stopped);
  EXPECT_EQ(scheduler.actor_count(), 0u);
  supervisor->stop();  // idempotent
}

TEST_F(SupervisorTest, AChildThatCannotStartFailsTheStartAndStopsTheOthers) {
  ChildSpec broken;
  broken.name = "broken";
  broken.factory = []() -> Result<std::unique_ptr<Behavior>> {
    return make_error(ErrorCode::InvalidModule, "no such module");
  };
  auto supervisor =
      Supervisor::start(scheduler, options(RestartStrategy::OneForOne), {child("a"), broken});
  ASSERT_FALSE(supervisor);
  EXPECT_EQ(supervisor.error().code, ErrorCode::InvalidModule);
  EXPECT_NE(supervisor.error().message.find("broken"), std::string::npos);
  scheduler.run();
  EXPECT_EQ(scheduler.actor_count(), 0u);
  EXPECT_TRUE(events.empty());
}

TEST_F(SupervisorTest, RefusesBadSpecsAndOptions) {
  ChildSpec unnamed = child("x");
  unnamed.name.clear();
  ChildSpec no_factory = child("y");
  no_factory.factory = nullptr;
  auto o = options(RestartStrategy::OneForOne);
  EXPECT_EQ(Supervisor::start(scheduler, o, {unnamed}).error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(Supervisor::start(scheduler, o, {no_factory}).error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(Supervisor::start(scheduler, o, {child("a"), child("a")}).error().code,
            ErrorCode::InvalidArgument);
  auto shrinking = options(RestartStrategy::OneForOne, Backoff{BackoffKind::Exponential, 1ms, 0.5});
  EXPECT_EQ(Supervisor::start(scheduler, shrinking, {child("a")}).error().code,
            ErrorCode::InvalidArgument);
  EXPECT_EQ(scheduler.actor_count(), 0u);
}

TEST_F(SupervisorTest, AFactoryThatFailsOnRestartCountsAgainstTheIntensity) {
  ChildSpec spec = child("a");
  spec.factory = [this]() -> Result<std::unique_ptr<Behavior>> {
    if (++builds["a"] > 1) return make_error(ErrorCode::InvalidModule, "module vanished");
    return worker("a");
  };
  auto supervisor = start(options(RestartStrategy::OneForOne), {spec});
  ASSERT_TRUE(supervisor);
  events.clear();
  tell("a", "fail");
  EXPECT_EQ(kinds(), (std::vector<SupervisorEventKind>{
                         SupervisorEventKind::ChildFailed, SupervisorEventKind::ChildFailed,
                         SupervisorEventKind::ChildFailed, SupervisorEventKind::ChildFailed,
                         SupervisorEventKind::GaveUp}));
  EXPECT_EQ(events[1].error->code, ErrorCode::InvalidModule);
  EXPECT_EQ(supervisor->state(), SupervisorState::GaveUp);
  EXPECT_EQ(builds["a"], 4);
}

TEST_F(SupervisorTest, RemoveChildStopsItForGood) {
  auto supervisor = start(options(RestartStrategy::OneForAll), {child("a"), child("b")});
  ASSERT_TRUE(supervisor);
  ASSERT_TRUE(supervisor->remove_child("a"));
  scheduler.run();
  EXPECT_FALSE(scheduler.lookup("a"));
  EXPECT_TRUE(scheduler.lookup("b"));
  EXPECT_EQ(supervisor->child_names(), std::vector<std::string>{"b"});
  EXPECT_TRUE(children_with(SupervisorEventKind::ChildRestarted).empty());
  EXPECT_EQ(supervisor->remove_child("a").error().code, ErrorCode::ActorNotFound);
}

TEST_F(SupervisorTest, StartChildAddsASupervisedChild) {
  auto supervisor = start(options(RestartStrategy::OneForOne), {child("a")});
  ASSERT_TRUE(supervisor);
  auto b = supervisor->start_child(child("b"));
  ASSERT_TRUE(b);
  scheduler.run();
  EXPECT_EQ(supervisor->start_child(child("b")).error().code, ErrorCode::ActorNameTaken);
  tell("b", "fail");
  EXPECT_EQ(children_with(SupervisorEventKind::ChildRestarted), std::vector<std::string>{"b"});
  EXPECT_EQ(supervisor->child_names(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(SupervisorTest, DestroyingTheSupervisorStopsItsChildrenQuietly) {
  auto supervisor = start(options(RestartStrategy::OneForOne), {child("a"), child("b")});
  ASSERT_TRUE(supervisor);
  supervisor.reset();
  const size_t seen = events.size();
  scheduler.run();
  EXPECT_EQ(scheduler.actor_count(), 0u);
  EXPECT_EQ(events.size(), seen);
}

TEST_F(SupervisorTest, EventsReadWellInALog) {
  auto supervisor = start(options(RestartStrategy::OneForOne), {child("a")});
  ASSERT_TRUE(supervisor);
  tell("a", "fail");
  const SupervisorEvent* failed = last(SupervisorEventKind::ChildFailed);
  ASSERT_TRUE(failed);
  EXPECT_NE(failed->to_string().find("supervisor 'root': child failed 'a'"), std::string::npos)
      << failed->to_string();
  EXPECT_NE(failed->to_string().find("TrapUnreachable"), std::string::npos);
}

}  // namespace
}  // namespace airssys::wasm::actor
