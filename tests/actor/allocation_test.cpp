// What a delivered message costs the heap: nothing in the steady state for a
// small payload, and one buffer for a publish's payload however many actors
// it reaches. Counted by replacing the global operator new of this test
// binary (its own executable for that reason).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "../support/allocation_counter.hpp"
#include "airssys/wasm/actor/behavior.hpp"
#include "airssys/wasm/actor/payload.hpp"
#include "airssys/wasm/actor/scheduler.hpp"

namespace airssys::wasm::actor {
namespace {

using test::allocations_of;

std::string fmt_name(size_t i) {
  return "s" + std::to_string(i);  // short enough to need no allocation
}

// Counts what it receives and keeps the last payload.
struct Sink {
  size_t received = 0;
  Payload last;
};

std::unique_ptr<Behavior> sink(std::shared_ptr<Sink> into) {
  return make_handler_behavior([into](ActorContext&, Envelope&& e) -> Result<StepResult> {
    ++into->received;
    into->last = std::move(e.payload);
    return StepResult::Idle;
  });
}

Envelope small_message(const Address& target, uint32_t n) {
  std::array<uint8_t, 16> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(n + i);
  Envelope envelope;
  envelope.target = target;
  envelope.payload = Payload(std::span<const uint8_t>(bytes));
  return envelope;
}

TEST(DeliveryAllocations, ASmallMessageCostsNoAllocationInTheSteadyState) {
  DeterministicScheduler scheduler;
  auto into = std::make_shared<Sink>();
  auto address = scheduler.spawn(sink(into), SpawnOptions{.name = "sink"});
  ASSERT_TRUE(address);
  const Address by_name = Address::named("sink");
  // Warm up: the mailbox's first segment, the run queue's ring.
  for (uint32_t i = 0; i < 100; ++i) ASSERT_TRUE(scheduler.send(small_message(by_name, i)));
  scheduler.run();
  constexpr uint32_t kMessages = 1000;
  size_t allocated = allocations_of([&] {
    for (uint32_t i = 0; i < kMessages; ++i) {
      // One at a time, and in bursts of 20 (past a segment).
      if (!scheduler.send(small_message(by_name, i))) return;
      if (i % 20 == 19) scheduler.run();
    }
    scheduler.run();
  });
  EXPECT_EQ(allocated, 0u);
  EXPECT_EQ(into->received, 100u + kMessages);
  EXPECT_EQ(into->last[0], static_cast<uint8_t>(kMessages - 1));
}

TEST(DeliveryAllocations, APayloadSentToManyActorsIsAllocatedOnce) {
  DeterministicScheduler scheduler;
  constexpr size_t kActors = 50;
  std::vector<std::shared_ptr<Sink>> sinks;
  std::vector<Envelope> envelopes(kActors);
  for (size_t i = 0; i < kActors; ++i) {
    sinks.push_back(std::make_shared<Sink>());
    auto address = scheduler.spawn(sink(sinks.back()), SpawnOptions{.name = fmt_name(i)});
    ASSERT_TRUE(address);
  }
  std::vector<uint8_t> bytes(1000);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
  auto publish = [&] {
    const Payload once(bytes);
    for (size_t i = 0; i < kActors; ++i) {
      envelopes[i].target = Address::named(fmt_name(i));
      envelopes[i].payload = once;
    }
    return scheduler.send_all(envelopes, {});
  };
  ASSERT_EQ(publish(), kActors);  // warm up: every mailbox's first segment
  scheduler.run();
  size_t reached = 0;
  size_t allocated = allocations_of([&] {
    reached = publish();
    scheduler.run();
  });
  EXPECT_EQ(reached, kActors);
  EXPECT_EQ(allocated, 1u);  // the payload's one buffer
  for (const auto& s : sinks) {
    EXPECT_EQ(s->received, 2u);
    EXPECT_EQ(s->last.to_vector(), bytes);
    EXPECT_TRUE(s->last.shares_with(sinks.front()->last));
  }
}

}  // namespace
}  // namespace airssys::wasm::actor
