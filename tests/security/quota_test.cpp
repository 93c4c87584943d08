// The quota tracker: limits, windows, releases, monitoring crossings, and
// concurrent callers that must never push a usage past its limit.

#include "airssys/wasm/security/quota.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <thread>
#include <vector>

namespace airssys::wasm::security {
namespace {

// A clock the test moves by hand.
std::atomic<int64_t> g_now{5'000'000'000};
int64_t test_clock() noexcept { return g_now.load(); }

class QuotaTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override { g_now = 5'000'000'000; }
  static void advance_ms(int64_t ms) { g_now += ms * 1'000'000; }
};

ResourceQuota small_limits() {
  ResourceQuota q;
  q.storage_bytes = 100;
  q.messages_per_second = 10;
  q.network_bytes_per_second = 1000;
  q.cpu_ms_per_second = 5;
  q.memory_bytes = 64 * KiB;
  return q;
}

TEST_F(QuotaTrackerTest, DefaultsAreTheSpecifiedOnes) {
  ResourceQuota q;
  EXPECT_EQ(q.storage_bytes, 100 * MiB);
  EXPECT_EQ(q.messages_per_second, 1000u);
  EXPECT_EQ(q.network_bytes_per_second, 10 * MiB);
  EXPECT_EQ(q.cpu_ms_per_second, 1000u);
  EXPECT_EQ(q.memory_bytes, 256 * MiB);
  EXPECT_EQ(q.limit(QuotaKind::CpuTime), 1'000'000u);  // microseconds per second
}

TEST_F(QuotaTrackerTest, LevelQuotaRefusesPastTheLimitWithTheNumbers) {
  QuotaTracker t(small_limits(), &test_clock);
  ASSERT_TRUE(t.try_consume(QuotaKind::Storage, 60));
  ASSERT_TRUE(t.try_consume(QuotaKind::Storage, 40));
  auto refused = t.try_consume(QuotaKind::Storage, 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().quota, QuotaKind::Storage);
  EXPECT_EQ(refused.error().current, 100u);
  EXPECT_EQ(refused.error().requested, 1u);
  EXPECT_EQ(refused.error().limit, 100u);
  EXPECT_EQ(refused.error().to_error().code, ErrorCode::QuotaExceeded);
  EXPECT_NE(refused.error().to_string().find("storage quota exceeded: 100 bytes used, 1 requested, limit 100"),
            std::string::npos)
      << refused.error().to_string();
  EXPECT_EQ(t.used(QuotaKind::Storage), 100u);  // a refusal changes nothing
  t.release(QuotaKind::Storage, 30);             // deleted
  EXPECT_EQ(t.used(QuotaKind::Storage), 70u);
  EXPECT_TRUE(t.try_consume(QuotaKind::Storage, 30));
  t.release(QuotaKind::Storage, 1000);  // never below zero
  EXPECT_EQ(t.used(QuotaKind::Storage), 0u);
  // Time does not reset a level.
  ASSERT_TRUE(t.try_consume(QuotaKind::Storage, 100));
  advance_ms(5000);
  EXPECT_EQ(t.used(QuotaKind::Storage), 100u);
}

TEST_F(QuotaTrackerTest, HugeRequestsDoNotWrapAround) {
  QuotaTracker t(small_limits(), &test_clock);
  ASSERT_TRUE(t.try_consume(QuotaKind::Storage, 1));
  EXPECT_FALSE(t.try_consume(QuotaKind::Storage, UINT64_MAX));
  EXPECT_FALSE(t.try_consume(QuotaKind::Network, UINT64_MAX));
  EXPECT_FALSE(t.try_consume(QuotaKind::MessageRate, UINT64_MAX - 5));
  EXPECT_EQ(t.used(QuotaKind::Storage), 1u);
  t.record(QuotaKind::Storage, UINT64_MAX);  // saturates
  EXPECT_EQ(t.used(QuotaKind::Storage), UINT64_MAX);
}

TEST_F(QuotaTrackerTest, RateQuotaResetsAtEachWindow) {
  QuotaTracker t(small_limits(), &test_clock);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(t.try_consume(QuotaKind::MessageRate, 1)) << i;
  auto refused = t.try_consume(QuotaKind::MessageRate, 1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().current, 10u);
  EXPECT_EQ(refused.error().limit, 10u);
  advance_ms(999);  // still the same window (the clock started on a boundary)
  EXPECT_FALSE(t.try_consume(QuotaKind::MessageRate, 1));
  advance_ms(1);
  EXPECT_EQ(t.used(QuotaKind::MessageRate), 0u);
  EXPECT_TRUE(t.try_consume(QuotaKind::MessageRate, 10));
  EXPECT_FALSE(t.try_consume(QuotaKind::MessageRate, 1));
  // A release only counts within its own window.
  t.release(QuotaKind::MessageRate, 4);
  EXPECT_EQ(t.used(QuotaKind::MessageRate), 6u);
  advance_ms(1000);
  t.release(QuotaKind::MessageRate, 4);
  EXPECT_EQ(t.used(QuotaKind::MessageRate), 0u);
  EXPECT_TRUE(t.try_consume(QuotaKind::MessageRate, 10));
}

TEST_F(QuotaTrackerTest, RecordedCpuTimeMayPassTheLimitAndThrottlesUntilTheNextWindow) {
  QuotaTracker t(small_limits(), &test_clock);  // 5 ms per second
  advance_ms(250);
  t.record(QuotaKind::CpuTime, 4000);
  EXPECT_FALSE(t.exhausted(QuotaKind::CpuTime));
  t.record(QuotaKind::CpuTime, 2000);
  EXPECT_TRUE(t.exhausted(QuotaKind::CpuTime));
  EXPECT_EQ(t.used(QuotaKind::CpuTime), 6000u);
  EXPECT_EQ(t.until_next_window(), std::chrono::milliseconds(750));
  auto usage = t.usage(QuotaKind::CpuTime);
  EXPECT_EQ(usage.available, 0u);
  EXPECT_DOUBLE_EQ(usage.percent, 120.0);
  EXPECT_EQ(usage.level, QuotaLevel::Critical);
  advance_ms(750);
  EXPECT_FALSE(t.exhausted(QuotaKind::CpuTime));
}

TEST_F(QuotaTrackerTest, MemoryIsTheMeasuredSize) {
  QuotaTracker t(small_limits(), &test_clock);
  t.set_used(QuotaKind::Memory, 64 * KiB);
  EXPECT_TRUE(t.exhausted(QuotaKind::Memory));
  auto refused = t.check(QuotaKind::Memory, 64 * KiB);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().current, 64 * KiB);
  EXPECT_EQ(refused.error().requested, 64 * KiB);
  t.set_used(QuotaKind::Memory, 0);
  EXPECT_TRUE(t.check(QuotaKind::Memory, 64 * KiB));
  EXPECT_EQ(t.used(QuotaKind::Memory), 0u);  // check() consumes nothing
}

TEST_F(QuotaTrackerTest, SnapshotReportsUsedLimitAvailablePercent) {
  QuotaTracker t(small_limits(), &test_clock);
  ASSERT_TRUE(t.try_consume(QuotaKind::Storage, 81));
  ASSERT_TRUE(t.try_consume(QuotaKind::Network, 960));
  auto snap = t.snapshot();
  const auto& storage = snap[static_cast<size_t>(QuotaKind::Storage)];
  EXPECT_EQ(storage.used, 81u);
  EXPECT_EQ(storage.limit, 100u);
  EXPECT_EQ(storage.available, 19u);
  EXPECT_DOUBLE_EQ(storage.percent, 81.0);
  EXPECT_EQ(storage.level, QuotaLevel::Warning);
  EXPECT_EQ(snap[static_cast<size_t>(QuotaKind::Network)].level, QuotaLevel::Critical);
  EXPECT_EQ(snap[static_cast<size_t>(QuotaKind::Memory)].level, QuotaLevel::Normal);
}

TEST_F(QuotaTrackerTest, EachCrossingIsReportedOnce) {
  QuotaTracker t(small_limits(), &test_clock);
  ASSERT_TRUE(t.try_consume(QuotaKind::Storage, 79));
  EXPECT_FALSE(t.observe(QuotaKind::Storage));
  ASSERT_TRUE(t.try_consume(QuotaKind::Storage, 1));  // 80 %: warning
  auto warning = t.observe(QuotaKind::Storage);
  ASSERT_TRUE(warning);
  EXPECT_EQ(warning->from, QuotaLevel::Normal);
  EXPECT_EQ(warning->to, QuotaLevel::Warning);
  EXPECT_TRUE(warning->rising());
  EXPECT_EQ(warning->to_string(), "storage quota at 80% (80 of 100 bytes): warning");
  EXPECT_FALSE(t.observe(QuotaKind::Storage));  // once
  ASSERT_TRUE(t.try_consume(QuotaKind::Storage, 10));
  EXPECT_FALSE(t.observe(QuotaKind::Storage));  // still warning
  ASSERT_TRUE(t.try_consume(QuotaKind::Storage, 5));  // 95 %: critical
  auto critical = t.observe(QuotaKind::Storage);
  ASSERT_TRUE(critical);
  EXPECT_EQ(critical->to, QuotaLevel::Critical);
  t.release(QuotaKind::Storage, 95);
  auto back = t.observe(QuotaKind::Storage);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->rising());
  EXPECT_EQ(back->to, QuotaLevel::Normal);
  ASSERT_TRUE(t.try_consume(QuotaKind::Storage, 96));  // a second crossing is reported again
  auto again = t.observe(QuotaKind::Storage);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->from, QuotaLevel::Normal);
  EXPECT_EQ(again->to, QuotaLevel::Critical);
}

TEST_F(QuotaTrackerTest, LevelBoundariesAreExact) {
  EXPECT_EQ(quota_level(79, 100), QuotaLevel::Normal);
  EXPECT_EQ(quota_level(80, 100), QuotaLevel::Warning);
  EXPECT_EQ(quota_level(94, 100), QuotaLevel::Warning);
  EXPECT_EQ(quota_level(95, 100), QuotaLevel::Critical);
  EXPECT_EQ(quota_level(UINT64_MAX, UINT64_MAX), QuotaLevel::Critical);
  EXPECT_EQ(quota_level(0, 0), QuotaLevel::Normal);
  EXPECT_EQ(quota_level(1, 0), QuotaLevel::Critical);
}

// Many threads race for a level quota: the usage ends exactly at the limit,
// never above, and every unit is accounted to exactly one caller.
TEST(QuotaTrackerConcurrency, LevelNeverEndsAboveTheLimit) {
  ResourceQuota limits;
  limits.storage_bytes = 100'000;
  QuotaTracker t(limits);
  constexpr int kThreads = 8;
  std::atomic<uint64_t> granted{0};
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      uint64_t mine = 0;
      for (int n = 0; n < 50'000; ++n) {
        uint64_t amount = 1 + static_cast<uint64_t>((n + i) % 7);
        if (t.try_consume(QuotaKind::Storage, amount)) mine += amount;
        if (n % 5 == 0 && mine >= 3) {  // some callers delete again
          t.release(QuotaKind::Storage, 3);
          mine -= 3;
        }
        ASSERT_LE(t.used(QuotaKind::Storage), limits.storage_bytes);
      }
      granted += mine;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(t.used(QuotaKind::Storage), limits.storage_bytes);
  EXPECT_EQ(t.used(QuotaKind::Storage), granted.load());
}

// Many threads race for a rate quota while the window turns under them: in
// no window does the granted total pass the limit, and nothing granted is
// lost by a reset.
std::atomic<int64_t> g_race_now{0};
int64_t race_clock() noexcept { return g_race_now.load(std::memory_order_relaxed); }

TEST(QuotaTrackerConcurrency, RateNeverPassesTheLimitAcrossWindowResets) {
  ResourceQuota limits;
  limits.messages_per_second = 1000;
  QuotaTracker t(limits, &race_clock);
  constexpr int kThreads = 8;
  constexpr int kWindows = 40;
  std::array<std::atomic<uint64_t>, kWindows + 1> per_window{};
  std::atomic<bool> done{false};
  std::barrier start(kThreads + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      while (!done.load()) {
        // Read the window before and after: a grant is attributed only when
        // it surely fell inside one window.
        int64_t before = race_clock() / 1'000'000'000;
        bool ok = t.try_consume(QuotaKind::MessageRate, 1).has_value();
        int64_t after = race_clock() / 1'000'000'000;
        if (ok && before == after && before <= kWindows) per_window[before] += 1;
      }
    });
  }
  start.arrive_and_wait();
  for (int w = 1; w <= kWindows; ++w) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    g_race_now = int64_t{w} * 1'000'000'000;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  done = true;
  for (auto& th : threads) th.join();
  uint64_t windows_filled = 0;
  for (int w = 0; w <= kWindows; ++w) {
    EXPECT_LE(per_window[w].load(), 1000u) << "window " << w;
    if (per_window[w].load() == 1000u) ++windows_filled;
  }
  EXPECT_LE(t.used(QuotaKind::MessageRate), 1000u);
  EXPECT_GT(windows_filled, 0u);  // the race really reached the limit
}

TEST(QuotaTrackerConcurrency, CrossingIsReportedToExactlyOneObserver) {
  ResourceQuota limits;
  limits.storage_bytes = 100;
  for (int round = 0; round < 200; ++round) {
    QuotaTracker t(limits);
    ASSERT_TRUE(t.try_consume(QuotaKind::Storage, 90));
    std::atomic<int> reports{0};
    std::barrier start(4);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        if (t.observe(QuotaKind::Storage)) ++reports;
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(reports.load(), 1) << "round " << round;
  }
}

TEST(QuotaTrackerSize, FitsTheBudget) {
  EXPECT_LE(sizeof(QuotaTracker), 200u);
}

TEST(QuotaNames, EveryKindHasANameAndAUnit) {
  struct Expected {
    QuotaKind kind;
    std::string_view name;
    std::string_view unit;
  };
  const Expected expected[] = {{QuotaKind::Storage, "storage", "bytes"},
                               {QuotaKind::MessageRate, "message_rate", "messages/s"},
                               {QuotaKind::Network, "network", "bytes/s"},
                               {QuotaKind::CpuTime, "cpu_time", "us/s"},
                               {QuotaKind::Memory, "memory", "bytes"}};
  ASSERT_EQ(std::size(expected), kQuotaKinds.size());
  for (const auto& e : expected) {
    EXPECT_EQ(quota_name(e.kind), e.name);
    EXPECT_EQ(quota_unit(e.kind), e.unit);
  }
}

}  // namespace
}  // namespace airssys::wasm::security
