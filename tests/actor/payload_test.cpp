#include "airssys/wasm/actor/payload.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "actor_test_support.hpp"
#include "airssys/wasm/actor/scheduler.hpp"

namespace airssys::wasm::actor {
namespace {

using testing::bytes;
using testing::text;

std::vector<uint8_t> pattern(size_t size) {
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(i * 7 + 3);
  return out;
}

TEST(Payload, ASmallPayloadIsHeldInlineAndEachCopyIsItsOwn) {
  Payload small(bytes("hello"));
  Payload copy = small;
  EXPECT_EQ(text(copy), "hello");
  EXPECT_EQ(small.share_count(), 0u);
  EXPECT_FALSE(copy.shares_with(small));
  EXPECT_NE(copy.data(), small.data());
  EXPECT_EQ(copy, small);
  Payload full(pattern(Payload::kInlineBytes));  // the largest inline one
  EXPECT_EQ(full.share_count(), 0u);
  EXPECT_EQ(full.to_vector(), pattern(Payload::kInlineBytes));
}

TEST(Payload, ALargePayloadIsBuiltOnceAndSharedByItsCopies) {
  const auto expected = pattern(Payload::kInlineBytes + 1000);
  Payload once(expected);
  EXPECT_EQ(once.share_count(), 1u);
  {
    std::vector<Payload> copies(100, once);
    EXPECT_EQ(once.share_count(), 101u);
    for (const auto& copy : copies) {
      EXPECT_TRUE(copy.shares_with(once));
      EXPECT_EQ(copy.data(), once.data());
      EXPECT_EQ(copy.to_vector(), expected);
    }
  }
  EXPECT_EQ(once.share_count(), 1u);
}

TEST(Payload, AssigningANewValueLeavesTheOtherCopiesTheOldOne) {
  const auto old_bytes = pattern(300);
  Payload first(old_bytes);
  Payload second = first;
  second.assign(old_bytes.begin(), old_bytes.begin() + 3);  // now inline
  EXPECT_EQ(second.size(), 3u);
  EXPECT_EQ(first.to_vector(), old_bytes);
  EXPECT_EQ(first.share_count(), 1u);
  second = Payload(bytes(std::string(200, 'z')));
  EXPECT_EQ(text(second), std::string(200, 'z'));
  EXPECT_EQ(first.to_vector(), old_bytes);
  EXPECT_FALSE(second.shares_with(first));
}

TEST(Payload, AMovedFromPayloadIsEmptyAndTheBytesMoveWithoutACopy) {
  Payload large(pattern(500));
  const uint8_t* where = large.data();
  Payload moved = std::move(large);
  EXPECT_EQ(moved.data(), where);
  EXPECT_EQ(moved.share_count(), 1u);
  EXPECT_TRUE(large.empty());  // NOLINT(bugprone-use-after-move): documented state
  Payload small(bytes("abc"));
  Payload small_moved = std::move(small);
  EXPECT_EQ(text(small_moved), "abc");
  EXPECT_TRUE(small.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(Payload, EqualityComparesTheBytes) {
  EXPECT_EQ(Payload(pattern(100)), Payload(pattern(100)));
  EXPECT_NE(Payload(pattern(100)), Payload(pattern(101)));
  EXPECT_EQ(Payload(), Payload(std::vector<uint8_t>{}));
  EXPECT_NE(Payload(bytes("a")), Payload(bytes("b")));
}

TEST(Payload, CopiesReleasedOnManyThreadsFreeTheBufferOnce) {
  const auto expected = pattern(4096);
  Payload once(expected);
  constexpr int kThreads = 4;
  constexpr int kCopies = 2000;
  std::vector<std::vector<Payload>> per_thread(kThreads);
  for (auto& copies : per_thread) copies.assign(kCopies, once);
  EXPECT_EQ(once.share_count(), size_t{1 + kThreads * kCopies});
  std::vector<std::thread> threads;
  std::vector<int> intact(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (auto& copy : per_thread[t]) {
        if (copy.to_vector() == expected) ++intact[t];
        Payload gone = std::move(copy);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(intact[t], kCopies);
  EXPECT_EQ(once.share_count(), 1u);
  EXPECT_EQ(once.to_vector(), expected);
}

// A publish's shape: one payload, many envelopes. Every accepted envelope
// arrives with the same bytes; a refused one (full mailbox, unknown target)
// is still held by the caller with its bytes and affects no other.
TEST(Payload, OnePayloadSentToManyActorsArrivesIntactAtEach) {
  DeterministicScheduler scheduler;
  const auto expected = pattern(1000);
  const Payload shared(expected);
  constexpr int kActors = 5;
  auto received = std::make_shared<std::vector<std::vector<Payload>>>(kActors);
  for (int i = 0; i < kActors; ++i) {
    SpawnOptions options{.name = "s" + std::to_string(i)};
    options.mailbox_capacity = i == 2 ? 1 : 8;
    auto spawned = scheduler.spawn(
        make_handler_behavior([received, i](ActorContext&, Envelope&& e) -> Result<StepResult> {
          (*received)[static_cast<size_t>(i)].push_back(std::move(e.payload));
          return StepResult::Idle;
        }),
        std::move(options));
    ASSERT_TRUE(spawned);
  }
  scheduler.run();
  ASSERT_TRUE(scheduler.send(testing::to(Address::named("s2"), "filler")));  // s2 is full
  std::vector<Envelope> envelopes(kActors + 1);
  for (int i = 0; i < kActors; ++i) envelopes[i].target = Address::named("s" + std::to_string(i));
  envelopes[kActors].target = Address::named("nobody");
  for (auto& envelope : envelopes) envelope.payload = shared;
  EXPECT_EQ(shared.share_count(), size_t{kActors + 2});
  std::vector<size_t> refused;
  size_t accepted = scheduler.send_all(envelopes, [&](size_t i, const Error&) {
    refused.push_back(i);
    EXPECT_EQ(envelopes[i].payload.to_vector(), expected);  // still held, intact
  });
  EXPECT_EQ(accepted, size_t{kActors - 1});
  EXPECT_EQ(refused, (std::vector<size_t>{2, kActors}));
  envelopes.clear();
  scheduler.run();
  for (int i = 0; i < kActors; ++i) {
    const auto& got = (*received)[static_cast<size_t>(i)];
    if (i == 2) {
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(text(got[0]), "filler");
      continue;
    }
    ASSERT_EQ(got.size(), 1u) << "actor " << i;
    EXPECT_EQ(got[0].to_vector(), expected);
    EXPECT_TRUE(got[0].shares_with(shared));
  }
  // The four delivered copies and the original: nothing leaked, nothing freed early.
  EXPECT_EQ(shared.share_count(), size_t{kActors});
  received->clear();
  EXPECT_EQ(shared.share_count(), 1u);
}

}  // namespace
}  // namespace airssys::wasm::actor
