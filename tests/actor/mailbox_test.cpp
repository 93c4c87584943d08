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

}  // namespace
}  // namespace airssys::wasm::actor
