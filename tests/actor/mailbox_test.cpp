#include "airssys/wasm/actor/mailbox.hpp"

#include <gtest/gtest.h>

#include "actor_test_support.hpp"

namespace airssys::wasm::actor {
namespace {

using testing::text;
using testing::to;

TEST(Mailbox, PopsInPushOrder) {
  Mailbox mailbox(8);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(mailbox.push(to(Address::named("a"), std::to_string(i))));
  EXPECT_EQ(mailbox.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(text(mailbox.pop()->payload), std::to_string(i));
  EXPECT_FALSE(mailbox.pop());
  EXPECT_TRUE(mailbox.empty());
}

TEST(Mailbox, FullMailboxRefusesAndLeavesTheEnvelopeWithTheSender) {
  Mailbox mailbox(2);
  ASSERT_TRUE(mailbox.push(to(Address::named("a"), "1")));
  ASSERT_TRUE(mailbox.push(to(Address::named("a"), "2")));
  Envelope third = to(Address::named("a"), "3");
  auto refused = mailbox.push(std::move(third));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::MailboxFull);
  EXPECT_EQ(refused.error().category(), ErrorCategory::Quota);
  EXPECT_EQ(text(third.payload), "3");  // NOLINT(bugprone-use-after-move): kept on failure
  EXPECT_EQ(mailbox.size(), 2u);

  ASSERT_TRUE(mailbox.pop());
  EXPECT_TRUE(mailbox.push(std::move(third)));
  EXPECT_EQ(mailbox.size(), 2u);
}

TEST(Mailbox, ClosedMailboxRefusesButKeepsWhatIsQueued) {
  Mailbox mailbox(4);
  ASSERT_TRUE(mailbox.push(to(Address::named("a"), "1")));
  ASSERT_TRUE(mailbox.push(to(Address::named("a"), "2")));
  mailbox.close();
  EXPECT_TRUE(mailbox.closed());
  auto refused = mailbox.push(to(Address::named("a"), "3"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::ActorStopped);
  EXPECT_EQ(text(mailbox.pop()->payload), "1");
  auto rest = mailbox.drain();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(text(rest[0].payload), "2");
  EXPECT_TRUE(mailbox.empty());
}

// The storage grows by segments while the head is inside one, fills up to
// exactly its capacity (not a multiple of the segment), empties to its spare
// segment and grows again; order holds throughout.
TEST(Mailbox, OrderHoldsWhileTheStorageWrapsGrowsAndShrinks) {
  static_assert(100 % Mailbox::kSegmentSlots != 0);
  constexpr int kCapacity = 100;  // not a power of two: the last growth is capped
  Mailbox mailbox(kCapacity);
  int pushed = 0;
  int popped = 0;
  auto push = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(mailbox.push(to(Address::named("a"), std::to_string(pushed++))));
    }
  };
  auto pop = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto e = mailbox.pop();
      ASSERT_TRUE(e);
      EXPECT_EQ(text(e->payload), std::to_string(popped++));
    }
  };
  for (int round = 0; round < 3; ++round) {
    push(5);
    pop(3);
    push(20);  // grows with the head in the middle of a segment
    pop(10);
    push(kCapacity - static_cast<int>(mailbox.size()));
    EXPECT_EQ(mailbox.size(), static_cast<size_t>(kCapacity));
    auto refused = mailbox.push(to(Address::named("a"), "over"));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::MailboxFull);
    pop(kCapacity / 2);
    push(7);
    pop(static_cast<int>(mailbox.size()));
    EXPECT_TRUE(mailbox.empty());
    EXPECT_FALSE(mailbox.pop());
  }
  push(12);
  pop(2);
  auto rest = mailbox.drain();
  ASSERT_EQ(rest.size(), 10u);
  for (const auto& e : rest) EXPECT_EQ(text(e.payload), std::to_string(popped++));
  EXPECT_TRUE(mailbox.empty());
  push(1);
  pop(1);
}

}  // namespace
}  // namespace airssys::wasm::actor
