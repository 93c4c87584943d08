// Real components exchanging real messages: on the thread-pool scheduler, and
// where a test needs neither real threads nor real time on the deterministic
// scheduler (MessagingOnOneThread), driven slice by slice on a virtual clock.
// Every behaviour is observed through what the components print and what the
// audit log records.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "../support/component_runtime.hpp"
#include "component_test_support.hpp"

#include <fmt/format.h>

namespace airssys::wasm::component {
namespace {

using namespace std::chrono_literals;
using testing::component;
using testing::Transcript;
using security::Permission;

struct Grants {
  std::vector<std::string> send = {};
  std::vector<std::string> receive = {};
  std::vector<std::string> publish = {};
  std::vector<std::string> subscribe = {};
};

// The thread-pool scheduler: real threads, real time. MessagingOnOneThread
// below runs what needs neither on the deterministic scheduler.
class MessagingTest : public ::testing::Test {
 protected:
  virtual test::Scheduling scheduling() const { return test::Scheduling::ThreadPool; }
  // What the fixture's system is started with; a test may change it before
  // start_system().
  virtual ComponentRuntimeOptions system_options() {
    ComponentRuntimeOptions options;
    options.engine = engine;
    options.audit = audit.get();
    options.supervisor.backoff.kind = actor::BackoffKind::Immediate;
    return options;
  }

  void SetUp() override {
    engine = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
    module = engine->load_file(component("scripted.wasm")).value();
    audit = transcript.audit_log();
    harness = std::make_unique<test::ComponentRuntimeHarness>(scheduling());
    scheduler = &harness->scheduler();
    system = &harness->start_system(system_options());
  }

  void TearDown() override {
    harness->stop();
    audit->flush();
  }

  // Until the line `line` is printed: on the deterministic scheduler by
  // running the actors until it is.
  [[nodiscard]] bool wait_line(const std::string& line) {
    if (!harness->deterministic()) return transcript.wait_line(line);
    return harness->run_until([&] { return transcript.count(line) > 0; });
  }
  [[nodiscard]] bool wait_prefix(const std::string& prefix, size_t n = 1) {
    if (!harness->deterministic()) return transcript.wait_count(prefix, n);
    return harness->run_until([&] { return transcript.count_prefix(prefix) >= n; });
  }

  std::shared_ptr<const security::WasmSecurityContext> context(const std::string& name,
                                                               const Grants& grants,
                                                               security::QuotaLimits quotas = {}) {
    security::PatternLists lists;
    lists[static_cast<size_t>(Permission::MsgSend)] = grants.send;
    lists[static_cast<size_t>(Permission::MsgReceive)] = grants.receive;
    // Every component here takes its commands from the host.
    lists[static_cast<size_t>(Permission::MsgReceive)].push_back("host");
    lists[static_cast<size_t>(Permission::MsgPublish)] = grants.publish;
    lists[static_cast<size_t>(Permission::MsgSubscribe)] = grants.subscribe;
    return security::WasmSecurityContext::create(name, security::CapabilitySet::build(lists).value(),
                                                 security::TrustLevel::Trusted, quotas)
        .value();
  }

  ComponentSpec spec(const std::string& name, const Grants& grants,
                     security::QuotaLimits quotas = {}) {
    ComponentSpec s;
    s.name = name;
    s.module = module;
    s.security = context(name, grants, quotas);
    s.config_json = "{\"role\":\"" + name + "\"}";
    s.slice = 10'000;
    s.stdout_sink = [this, name](std::span<const uint8_t> b) { transcript.add(name, b); };
    s.stderr_sink = s.stdout_sink;
    return s;
  }

  void start(ComponentSpec s) {
    std::string name = s.name;
    ASSERT_TRUE(system->start(std::move(s)).has_value());
    ASSERT_TRUE(wait_prefix(name + " init ")) << transcript.dump();
  }

  void command(const std::string& target, const std::string& text) {
    std::vector<uint8_t> bytes(text.begin(), text.end());
    ASSERT_TRUE(system->send_from_host(target, std::move(bytes)).has_value());
  }

  std::optional<security::AuditRecord> audit_record(const std::string& component,
                                                    const std::string& permission,
                                                    security::AuditResult result) {
    audit->flush();
    for (const auto& r : transcript.records()) {
      if (r.component == component && r.permission == permission && r.result == result) return r;
    }
    return std::nullopt;
  }

  std::shared_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> module;
  std::unique_ptr<security::AuditLog> audit;
  Transcript transcript;
  std::unique_ptr<test::ComponentRuntimeHarness> harness;
  actor::Scheduler* scheduler = nullptr;
  ComponentRuntime* system = nullptr;
};

// The same components on the deterministic scheduler: one thread, a virtual
// clock, every slice run by the test.
class MessagingOnOneThread : public MessagingTest {
 protected:
  test::Scheduling scheduling() const override { return test::Scheduling::Deterministic; }
};

TEST_F(MessagingOnOneThread, InitReceivesItsConfiguration) {
  start(spec("alpha", {}));
  EXPECT_TRUE(wait_line("alpha init {\"role\":\"alpha\"}")) << transcript.dump();
  EXPECT_TRUE(harness->run_until(
      [&] { return system->status("alpha")->state == ComponentState::Ready; }));
  EXPECT_EQ(system->status("alpha")->state, ComponentState::Ready);
}

TEST_F(MessagingTest, PingPongBetweenTwoComponents) {
  start(spec("alpha", {.send = {"beta"}, .receive = {"beta"}}));
  start(spec("beta", {.send = {"alpha"}, .receive = {"alpha"}}));
  command("alpha", "send beta ping");
  ASSERT_TRUE(transcript.wait_line("beta got send from alpha: ping")) << transcript.dump();
  EXPECT_TRUE(transcript.wait_line("alpha send beta = 0"));
  command("beta", "send alpha pong");
  ASSERT_TRUE(transcript.wait_line("alpha got send from beta: pong")) << transcript.dump();
  auto granted = audit_record("alpha", "messaging.send", security::AuditResult::Granted);
  ASSERT_TRUE(granted.has_value());
  EXPECT_EQ(granted->resource, "beta");
}

TEST_F(MessagingTest, RequestAndReplyArriveAtTheCallback) {
  start(spec("alpha", {.send = {"beta"}}));
  start(spec("beta", {.receive = {"alpha"}}));
  command("alpha", "request beta 5000 hello");
  ASSERT_TRUE(transcript.wait_line("beta got request from alpha: hello")) << transcript.dump();
  EXPECT_TRUE(transcript.wait_line("beta reply = 0"));
  EXPECT_TRUE(transcript.wait_line("alpha reply status=0: echo:hello")) << transcript.dump();
}

TEST_F(MessagingTest, ARequestThatIsNeverAnsweredTimesOutAtTheCallback) {
  start(spec("alpha", {.send = {"beta"}}));
  start(spec("beta", {.receive = {"alpha"}}));
  command("beta", "spin");  // beta is busy for good: the request waits in its mailbox
  ASSERT_TRUE(transcript.wait_line("beta spinning"));
  command("alpha", "request beta 200 anyone");
  ASSERT_TRUE(transcript.wait_line("alpha reply status=-7: ")) << transcript.dump();
}

TEST_F(MessagingTest, PublishReachesEverySubscriberWhoseFilterMatches) {
  start(spec("alpha", {.publish = {"orders.*"}}));
  start(spec("beta", {.subscribe = {"orders.*"}}));
  start(spec("gamma", {.subscribe = {"orders.#"}}));
  start(spec("delta", {.subscribe = {"inventory.#"}}));
  command("beta", "subscribe orders.*");
  command("gamma", "subscribe orders.#");
  command("delta", "subscribe inventory.#");
  ASSERT_TRUE(transcript.wait_line("beta subscribe orders.* = 0"));
  ASSERT_TRUE(transcript.wait_line("gamma subscribe orders.# = 0"));
  ASSERT_TRUE(transcript.wait_line("delta subscribe inventory.# = 0"));
  command("alpha", "publish orders.created order-1");
  ASSERT_TRUE(transcript.wait_line("alpha publish orders.created = 2")) << transcript.dump();
  EXPECT_TRUE(transcript.wait_line("beta got publish orders.created from alpha: order-1"))
      << transcript.dump();
  EXPECT_TRUE(transcript.wait_line("gamma got publish orders.created from alpha: order-1"));
  EXPECT_EQ(transcript.count_prefix("delta got"), 0u);
}

// A publish builds its payload once and every subscriber's envelope shares
// it: each subscriber still gets the whole text, and a subscriber whose
// mailbox is full is refused on record without taking it from the others.
TEST_F(MessagingTest, APublishedPayloadReachesEverySubscriberIntactPastAFullOne) {
  start(spec("alpha", {.publish = {"orders.*"}}));
  for (const char* name : {"beta", "gamma", "delta"}) {
    auto s = spec(name, {.receive = {"alpha"}, .subscribe = {"orders.*"}});
    if (std::string_view(name) == "gamma") s.mailbox_capacity = 1;
    start(std::move(s));
    command(name, std::string("subscribe orders.*"));
    ASSERT_TRUE(transcript.wait_line(std::string(name) + " subscribe orders.* = 0"));
  }
  command("gamma", "spin");  // gamma is busy for good and its one slot is taken
  ASSERT_TRUE(transcript.wait_line("gamma spinning"));
  command("gamma", "whoami");
  std::string text = "order-";
  for (int i = 0; text.size() < 300; ++i) text += fmt::format("{:04}-", i);
  command("alpha", "publish orders.created " + text);
  ASSERT_TRUE(transcript.wait_line("alpha publish orders.created = 2")) << transcript.dump();
  EXPECT_TRUE(transcript.wait_line("beta got publish orders.created from alpha: " + text))
      << transcript.dump();
  EXPECT_TRUE(transcript.wait_line("delta got publish orders.created from alpha: " + text))
      << transcript.dump();
  auto refused = audit_record("alpha", "messaging.publish", security::AuditResult::Denied);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->resource, "gamma");
  EXPECT_EQ(transcript.count_prefix("gamma got"), 0u);
}

TEST_F(MessagingTest, PublishAndSubscribeNeedTheirGrants) {
  start(spec("alpha", {.publish = {"orders.created"}}));
  start(spec("beta", {.subscribe = {"orders.created"}}));
  command("beta", "subscribe orders.#");  // wider than granted
  ASSERT_TRUE(transcript.wait_line("beta subscribe orders.# = -1")) << transcript.dump();
  command("alpha", "publish payments.done x");
  ASSERT_TRUE(transcript.wait_line("alpha publish payments.done = -1")) << transcript.dump();
  EXPECT_TRUE(audit_record("beta", "messaging.subscribe", security::AuditResult::Denied));
  EXPECT_TRUE(audit_record("alpha", "messaging.publish", security::AuditResult::Denied));
}

TEST_F(MessagingTest, ASendWithoutTheGrantIsRefusedAndAudited) {
  start(spec("alpha", {.send = {"beta"}}));
  start(spec("gamma", {.receive = {"*"}}));
  command("alpha", "send gamma secret");
  ASSERT_TRUE(transcript.wait_line("alpha send gamma = -1")) << transcript.dump();
  auto denied = audit_record("alpha", "messaging.send", security::AuditResult::Denied);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->resource, "gamma");
  EXPECT_EQ(denied->layer, security::DecisionLayer::Component);
  EXPECT_EQ(transcript.count_prefix("gamma got"), 0u);
}

TEST_F(MessagingTest, AReceiverThatDoesNotAdmitTheSenderRefusesIt) {
  start(spec("alpha", {.send = {"beta"}}));
  start(spec("beta", {.receive = {"gateway"}}));
  command("alpha", "send beta hello");
  ASSERT_TRUE(transcript.wait_line("alpha send beta = -1")) << transcript.dump();
  auto denied = audit_record("alpha", "messaging.send", security::AuditResult::Denied);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->layer, security::DecisionLayer::Messaging);
  EXPECT_NE(denied->reason.find("does not admit"), std::string::npos) << denied->reason;
  EXPECT_EQ(transcript.count_prefix("beta got"), 0u);
}

TEST_F(MessagingTest, UnknownTargetsAreNotFound) {
  start(spec("alpha", {.send = {"*"}}));
  command("alpha", "send nobody hello");
  ASSERT_TRUE(transcript.wait_line("alpha send nobody = -4")) << transcript.dump();
}

TEST_F(MessagingTest, AnOversizedPayloadIsRefused) {
  auto s = spec("alpha", {.send = {"beta"}});
  s.max_payload = 1024;
  start(std::move(s));
  start(spec("beta", {.receive = {"alpha"}}));
  command("alpha", "big beta 1024");
  ASSERT_TRUE(transcript.wait_line("alpha big beta 1024 = 0")) << transcript.dump();
  ASSERT_TRUE(transcript.wait_line("beta got 1024 bytes from alpha"));
  command("alpha", "big beta 1025");
  ASSERT_TRUE(transcript.wait_line("alpha big beta 1025 = -3")) << transcript.dump();
  auto denied = audit_record("alpha", "messaging.payload", security::AuditResult::Denied);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(transcript.count_prefix("beta got 1025"), 0u);
}

TEST_F(MessagingTest, AMessageFloodHitsTheRateLimit) {
  security::QuotaLimits quotas;
  quotas.messages_per_second = 50;
  start(spec("alpha", {.send = {"beta"}}, quotas));
  start(spec("beta", {.receive = {"alpha"}}));
  command("alpha", "flood beta 400");
  ASSERT_TRUE(transcript.wait_prefix("alpha flood ")) << transcript.dump();
  auto line = *transcript.find_prefix("alpha flood ");
  int ok = 0, quota = 0, full = 0, other = 0;
  ASSERT_EQ(std::sscanf(line.c_str(), "alpha flood ok=%d quota=%d full=%d other=%d", &ok, &quota,
                        &full, &other),
            4)
      << line;
  // One window, or at most two if the flood crossed a second boundary.
  EXPECT_GE(ok, 50);
  EXPECT_LE(ok, 100);
  EXPECT_EQ(ok + quota + full, 400);
  EXPECT_EQ(other, 0);
  auto denied = audit_record("alpha", "messaging.send", security::AuditResult::Denied);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->layer, security::DecisionLayer::Quota);
}

TEST_F(MessagingTest, AFullMailboxPushesBackOnTheSender) {
  start(spec("alpha", {.send = {"beta"}}));
  auto s = spec("beta", {.receive = {"alpha"}});
  s.mailbox_capacity = 8;
  start(std::move(s));
  command("beta", "spin");
  ASSERT_TRUE(transcript.wait_line("beta spinning"));
  command("alpha", "flood beta 100");
  ASSERT_TRUE(transcript.wait_prefix("alpha flood ")) << transcript.dump();
  auto line = *transcript.find_prefix("alpha flood ");
  EXPECT_NE(line.find("ok=8 "), std::string::npos) << line;
  EXPECT_NE(line.find("full=92 "), std::string::npos) << line;
}

TEST_F(MessagingOnOneThread, ACrashedComponentRestartsWithTheSameSecurityContext) {
  start(spec("alpha", {.send = {"beta"}}));
  start(spec("beta", {.receive = {"alpha"}}));
  auto before = system->status("alpha");
  command("alpha", "trap");
  ASSERT_TRUE(wait_line("alpha trapping"));
  // Restarted: init runs a second time.
  EXPECT_TRUE(harness->run_until([&] { return system->status("alpha")->restarts > 0; }));
  EXPECT_EQ(system->status("alpha")->restarts, 1u);
  ASSERT_TRUE(wait_prefix("alpha init ", 2)) << transcript.dump();
  EXPECT_EQ(transcript.count_prefix("alpha init "), 2u) << transcript.dump();
  // Exactly the same permissions: beta still allowed, gamma still refused.
  start(spec("gamma", {.receive = {"*"}}));
  command("alpha", "send beta after-restart");
  ASSERT_TRUE(wait_line("beta got send from alpha: after-restart")) << transcript.dump();
  command("alpha", "send gamma sneaky");
  ASSERT_TRUE(wait_line("alpha send gamma = -1")) << transcript.dump();
  ASSERT_TRUE(system->status("alpha")->last_error.has_value());
  EXPECT_EQ(system->status("alpha")->last_error->code, ErrorCode::TrapUnreachable);
}

TEST_F(MessagingTest, AnEndlessLoopDoesNotStopOthersFromExchangingMessages) {
  start(spec("alpha", {.send = {"beta"}}));
  start(spec("beta", {.receive = {"alpha"}}));
  start(spec("spinner", {}));
  command("spinner", "spin");
  ASSERT_TRUE(transcript.wait_line("spinner spinning"));
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) command("alpha", "send beta m" + std::to_string(i));
  ASSERT_TRUE(transcript.wait_line("beta got send from alpha: m49", 20s)) << transcript.dump();
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_LT(elapsed, 5s);
  EXPECT_EQ(transcript.count_prefix("beta got send from alpha: m"), 50u);
  EXPECT_EQ(system->status("spinner")->state, ComponentState::Ready);
}

// One actor step runs queued messages back to back, but never more than 32
// of them and never more than one slice of fuel in all. Driven slice by slice
// on the deterministic scheduler; the status shows the fuel each step burned.
TEST_F(MessagingOnOneThread, QueuedMessagesShareAStepOfAtMostOneSliceInOrder) {
  auto run_case = [&](uint64_t slice, const std::string& name) {
    test::ComponentRuntimeHarness local_harness(test::Scheduling::Deterministic);
    ComponentRuntimeOptions options;
    options.engine = engine;
    ComponentRuntime* local = &local_harness.start_system(options);
    actor::DeterministicScheduler& sched = local_harness.stepper();
    security::QuotaLimits quotas;
    quotas.cpu_ms_per_second = 1'000'000'000;  // the throttle is not what is tested here
    auto s = spec(name, {}, quotas);
    s.slice = slice;
    ASSERT_TRUE(local->start(std::move(s)).has_value());
    // Initialization, with nothing queued.
    for (int i = 0; i < 1000 && local->status(name)->state != ComponentState::Ready; ++i) {
      sched.step();
    }
    ASSERT_EQ(local->status(name)->state, ComponentState::Ready) << transcript.dump();
    constexpr int kMessages = 40;
    for (int i = 0; i < kMessages; ++i) {
      std::string text = "noop" + std::to_string(i);
      ASSERT_TRUE(local->send_from_host(name, {text.begin(), text.end()}).has_value());
    }
    std::vector<uint64_t> handled_per_step;
    uint64_t handled = 0;
    uint64_t max_burned = 0;
    for (int steps = 0; handled < kMessages && steps < 10'000; ++steps) {
      const auto before = *local->status(name);
      ASSERT_TRUE(sched.step().has_value()) << "throttled " << before.throttled;
      const auto after = *local->status(name);
      handled_per_step.push_back(after.messages_handled - before.messages_handled);
      handled = after.messages_handled;
      max_burned = std::max(max_burned, after.fuel_used - before.fuel_used);
    }
    ASSERT_EQ(handled, uint64_t{kMessages}) << transcript.dump();
    // Metering charges a region (a function's straight-line code, nested
    // blocks included) in full on entry, so a slice may end up to one region
    // late, as a single call's slice always could; printf's largest is about
    // 2000. A step never gets a second slice.
    EXPECT_LE(max_burned, slice + 2'500) << name;
    EXPECT_LE(*std::max_element(handled_per_step.begin(), handled_per_step.end()), 32u);
    auto lines = transcript.with_prefix(name + " unknown command noop");
    ASSERT_EQ(lines.size(), size_t{kMessages});
    for (int i = 0; i < kMessages; ++i) {
      EXPECT_EQ(lines[i], fmt::format("{} unknown command noop{}", name, i));
    }
    if (slice >= 100'000'000) {
      // Plenty of fuel: the 32-message bound ends the first step.
      EXPECT_EQ(handled_per_step.front(), 32u);
    } else {
      // A small slice: more steps than messages would need with a large one.
      EXPECT_GT(handled_per_step.size(), 2u);
    }
    local_harness.stop();
  };
  run_case(100'000'000, "batched");
  run_case(5'000, "sliced");
}

// The mailbox belongs to the component, not to the instance that traps:
// messages queued behind the trapping one and messages sent while the
// component waits out its restart back-off are all delivered, in order, by
// the next instance; none is refused as sent to a missing component.
// A restart back-off of 300 ms, on the virtual clock.
class MessagingWithBackoff : public MessagingOnOneThread {
 protected:
  ComponentRuntimeOptions system_options() override {
    auto options = MessagingOnOneThread::system_options();
    options.supervisor.backoff = {actor::BackoffKind::Linear, 300ms, 1.0, 300ms};
    return options;
  }
};

TEST_F(MessagingWithBackoff, MessagesQueuedBehindATrapAreDeliveredAfterTheRestart) {
  start(spec("beta", {}));
  command("beta", "burn 1");  // busy, so that what follows queues behind the trap
  command("beta", "trap");
  for (int i = 0; i < 5; ++i) command("beta", fmt::format("q{}", i));
  ASSERT_TRUE(wait_line("beta trapping")) << transcript.dump();
  ASSERT_TRUE(harness->run_until([&] {
    auto st = system->status("beta");
    return st->state == ComponentState::Failed || st->restarts > 0;
  }));
  command("beta", "late");  // while it fails or waits for its restart
  ASSERT_TRUE(wait_line("beta unknown command late")) << transcript.dump();
  EXPECT_EQ(transcript.with_prefix("beta unknown command"),
            (std::vector<std::string>{"beta unknown command q0", "beta unknown command q1",
                                      "beta unknown command q2", "beta unknown command q3",
                                      "beta unknown command q4", "beta unknown command late"}));
  EXPECT_EQ(transcript.count_prefix("beta init "), 2u);
  // The supervisor counts the restart once the new instance is up, which may
  // be after it has already handled messages: wait for the count.
  EXPECT_TRUE(harness->run_until([&] { return system->status("beta")->restarts > 0; }));
  auto st = system->status("beta");
  EXPECT_EQ(st->restarts, 1u);
  EXPECT_EQ(st->undelivered, 0u);
  auto failed = audit_record("beta", "lifecycle.failed", security::AuditResult::Denied);
  ASSERT_TRUE(failed);
  EXPECT_NE(failed->reason.find("the message from 'host' it was handling is dropped"),
            std::string::npos)
      << failed->reason;
  EXPECT_FALSE(audit_record("beta", "messaging.deliver", security::AuditResult::Denied));
}

// Messages that are dropped all the same (the component is stopped with
// them queued) are counted in its status and on record.
TEST_F(MessagingTest, MessagesDroppedAtAStopAreCountedAndAudited) {
  start(spec("beta", {}));
  command("beta", "spin");
  ASSERT_TRUE(transcript.wait_line("beta spinning", 60s)) << transcript.dump();
  for (int i = 0; i < 3; ++i) command("beta", fmt::format("q{}", i));
  auto final = system->stop_component("beta", 100ms);
  ASSERT_TRUE(final) << final.error().to_string();
  EXPECT_EQ(final->undelivered, 3u);
  auto dropped = audit_record("beta", "messaging.deliver", security::AuditResult::Denied);
  ASSERT_TRUE(dropped);
  EXPECT_NE(dropped->reason.find("3 queued messages to 'beta' dropped undelivered"),
            std::string::npos)
      << dropped->reason;
}

TEST_F(MessagingTest, ShutdownReportsEveryQueuedMessage) {
  std::atomic<int> undelivered{0};
  scheduler->set_dead_letter_handler([&](actor::DeadLetter letter) {
    if (letter.envelope.target.name == "beta") ++undelivered;
  });
  start(spec("alpha", {.send = {"beta"}}));
  start(spec("beta", {.receive = {"alpha"}}));
  command("beta", "spin");  // busy: nothing alpha sends can be handled
  ASSERT_TRUE(transcript.wait_line("beta spinning"));
  command("alpha", "flood beta 20");
  ASSERT_TRUE(transcript.wait_line("alpha flood ok=20 quota=0 full=0 other=0")) << transcript.dump();
  system->stop();
  EXPECT_TRUE(harness->run_until([&] { return undelivered.load() >= 20; }));
  EXPECT_EQ(undelivered.load(), 20);
  EXPECT_EQ(transcript.count_prefix("beta got"), 0u);
}

TEST_F(MessagingTest, LogsAreTaggedAndRateLimited) {
  // Shared with the sink, which the system may still call while it stops.
  auto log = std::make_shared<test::LineLog>();
  auto s = spec("alpha", {});
  s.log_limits.lines_per_second = 20;
  s.log_sink = [log](const host::LogLine& line) {
    log->add_line(fmt::format("{} {} {} {}", line.component, host::log_level_name(line.level),
                              line.source, line.text));
  };
  ASSERT_TRUE(system->start(std::move(s)).has_value());
  ASSERT_TRUE(log->wait_prefix("alpha info stdout alpha init")) << log->dump();
  ASSERT_EQ(log->count_prefix("alpha info stdout alpha init"), 1u);
  std::this_thread::sleep_for(1100ms);  // a fresh one-second window: the span measured
  command("alpha", "logs 200");
  ASSERT_TRUE(harness->run_until(
      [&] { return audit_record("alpha", "log.write", security::AuditResult::Denied).has_value(); }));
  auto denied = audit_record("alpha", "log.write", security::AuditResult::Denied);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->layer, security::DecisionLayer::Quota);
  std::this_thread::sleep_for(1100ms);  // the next window: the span measured
  command("alpha", "logsummary");
  ASSERT_TRUE(log->wait_prefix("alpha info stdout alpha logs ok=")) << log->dump();
  // Counted once the component has long finished logging. The 200 lines
  // take one window, or a few on a loaded machine; each window lets at most
  // 20 through, and the first line admitted after drops (a log line of a
  // later window, or the summary line) comes after one notice ("N log lines
  // dropped by the rate limit"): at least one notice, at most one window of
  // lines more than notices, and the notices report every line refused.
  const auto logged = static_cast<int>(log->count_prefix("alpha info log log line "));
  int notices = 0;
  int noticed = 0;
  for (const auto& l : log->with_prefix("alpha warn host ")) {
    int n = 0;
    if (std::sscanf(l.c_str(), "alpha warn host %d log lines dropped by the rate limit", &n) == 1) {
      ++notices;
      noticed += n;
    }
  }
  EXPECT_GE(notices, 1);
  EXPECT_GE(logged, 19);
  EXPECT_LE(logged, 20 * (notices + 1));
  const std::string summary = *log->find_prefix("alpha info stdout alpha logs ok=");
  int ok = 0, dropped = 0;
  ASSERT_EQ(std::sscanf(summary.c_str(), "alpha info stdout alpha logs ok=%d dropped=%d", &ok,
                        &dropped),
            2);
  EXPECT_EQ(ok, logged);
  EXPECT_EQ(ok + dropped, 200);
  EXPECT_GE(noticed, dropped);  // every refused line is reported
}

TEST_F(MessagingTest, SelfIdNamesTheComponent) {
  start(spec("alpha", {}));
  command("alpha", "whoami");
  EXPECT_TRUE(transcript.wait_line("alpha whoami alpha small=-8")) << transcript.dump();
}

// Upgrade: the new instance answers to the same name, for senders and for
// the guest itself; requests and replies cross the switch by name.
TEST_F(MessagingTest, AnUpgradedComponentKeepsItsNameAndItsPeers) {
  start(spec("alpha", {.send = {"beta"}, .receive = {"beta"}}));
  start(spec("beta", {.send = {"alpha"}, .receive = {"alpha"}}));
  auto next = spec("alpha", {.send = {"beta"}, .receive = {"beta"}});
  next.config_json = "{\"role\":\"alpha-2\"}";
  auto old = system->upgrade(std::move(next));
  ASSERT_TRUE(old) << old.error().to_string();
  EXPECT_EQ(old->state, ComponentState::Terminated);
  ASSERT_TRUE(transcript.wait_line("alpha init {\"role\":\"alpha-2\"}")) << transcript.dump();
  command("alpha", "whoami");
  EXPECT_TRUE(transcript.wait_prefix("alpha whoami alpha ")) << transcript.dump();
  command("alpha", "send beta hi");
  EXPECT_TRUE(transcript.wait_line("beta got send from alpha: hi")) << transcript.dump();
  command("beta", "request alpha 2000 ping");
  EXPECT_TRUE(transcript.wait_line("alpha got request from beta: ping")) << transcript.dump();
  EXPECT_TRUE(transcript.wait_line("beta reply status=0: echo:ping")) << transcript.dump();
  auto status = system->status("alpha");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, ComponentState::Ready);
  EXPECT_EQ(status->restarts, 0u);
  auto names = system->names();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "beta"}));

  auto missing = system->upgrade(spec("gamma", {}));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::ActorNotFound);
}

// stop_component: the mailbox is delivered first, then the name is free.
TEST_F(MessagingTest, StoppingOneComponentDeliversItsQueueAndFreesItsName) {
  start(spec("beta", {}));
  for (int i = 0; i < 30; ++i) command("beta", "whoami");
  auto final_status = system->stop_component("beta");
  ASSERT_TRUE(final_status) << final_status.error().to_string();
  EXPECT_EQ(final_status->messages_handled, 30u);
  EXPECT_EQ(final_status->state, ComponentState::Terminated);
  EXPECT_EQ(transcript.count_prefix("beta whoami beta "), 30u);
  EXPECT_FALSE(system->status("beta"));
  auto refused = system->send_from_host("beta", {'x'});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::ActorNotFound);
  EXPECT_EQ(system->stop_component("beta").error().code, ErrorCode::ActorNotFound);
  auto again = spec("beta", {});
  again.config_json = "{\"role\":\"again\"}";
  ASSERT_TRUE(system->start(std::move(again)));
  EXPECT_TRUE(transcript.wait_line("beta init {\"role\":\"again\"}")) << transcript.dump();
}

}  // namespace
}  // namespace airssys::wasm::component
