#include "airssys/wasm/core/handle_table.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace airssys::wasm {
namespace {

TEST(HandleTableTest, HandlesStartAtFirstAndNameTheirEntries) {
  HandleTable<std::string> table(3, 8);
  auto a = table.insert("a");
  auto b = table.insert("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, 3u);
  EXPECT_EQ(*b, 4u);
  EXPECT_EQ(**table.get(3), "a");
  EXPECT_EQ(**table.get(4), "b");
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.first(), 3u);
}

TEST(HandleTableTest, AHandleNeverIssuedIsUnknown) {
  HandleTable<int> table(3, 8);
  ASSERT_TRUE(table.insert(1));
  for (uint32_t handle : {0u, 2u, 4u, 1000u, UINT32_MAX}) {
    auto got = table.get(handle);
    ASSERT_FALSE(got) << handle;
    EXPECT_EQ(got.error(), HandleError::Unknown) << handle;
    EXPECT_EQ(table.find(handle), nullptr);
    auto removed = table.remove(handle);
    ASSERT_FALSE(removed);
    EXPECT_EQ(removed.error(), HandleError::Unknown);
  }
  EXPECT_EQ(table.size(), 1u);
}

TEST(HandleTableTest, ARemovedHandleIsRefusedUntilItsSlotIsTakenAgain) {
  HandleTable<std::string> table(0, 8);
  auto a = table.insert("a");
  ASSERT_TRUE(table.insert("b"));
  auto value = table.remove(*a);
  ASSERT_TRUE(value);
  EXPECT_EQ(*value, "a");
  auto got = table.get(*a);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error(), HandleError::Removed);
  auto again = table.remove(*a);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), HandleError::Removed);
  // The next insert takes the freed slot: the stale handle names the new entry.
  auto c = table.insert("c");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, *a);
  EXPECT_EQ(**table.get(*a), "c");
}

TEST(HandleTableTest, TheLowestFreeSlotIsReusedFirst) {
  HandleTable<int> table(3, 16);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(table.insert(i));
  // Free 7, 4 and 5, in that order: the next inserts get 4, 5, 7, then 9.
  ASSERT_TRUE(table.remove(7));
  ASSERT_TRUE(table.remove(4));
  ASSERT_TRUE(table.remove(5));
  std::vector<uint32_t> handles;
  for (int i = 0; i < 4; ++i) handles.push_back(*table.insert(100 + i));
  EXPECT_EQ(handles, (std::vector<uint32_t>{4, 5, 7, 9}));
}

TEST(HandleTableTest, AtMostCapacityEntriesAreLiveAtOnce) {
  HandleTable<std::unique_ptr<int>> table(3, 4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(table.insert(std::make_unique<int>(i)));
  auto full = table.insert(std::make_unique<int>(9));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error(), HandleError::Full);
  EXPECT_EQ(table.size(), 4u);
  // A removal makes room for exactly one more, in the slot it freed.
  ASSERT_TRUE(table.remove(5));
  auto next = table.insert(std::make_unique<int>(7));
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, 5u);
  EXPECT_EQ(**table.get(5).value(), 7);
  EXPECT_FALSE(table.insert(std::make_unique<int>(8)));
}

TEST(HandleTableTest, CapacityIsCutToTheHandlesLeftInThirtyTwoBits) {
  HandleTable<int> table(UINT32_MAX - 1, 10);
  EXPECT_EQ(table.capacity(), 2u);
  EXPECT_EQ(*table.insert(1), UINT32_MAX - 1);
  EXPECT_EQ(*table.insert(2), UINT32_MAX);
  auto full = table.insert(3);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error(), HandleError::Full);
}

TEST(HandleTableTest, ForEachVisitsTheLiveEntriesInHandleOrder) {
  HandleTable<int> table(10, 8);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(table.insert(i));
  ASSERT_TRUE(table.remove(11));
  std::vector<std::pair<uint32_t, int>> seen;
  table.for_each([&](uint32_t handle, int& value) { seen.emplace_back(handle, value); });
  EXPECT_EQ(seen, (std::vector<std::pair<uint32_t, int>>{{10, 0}, {12, 2}, {13, 3}}));
}

TEST(HandleTableTest, ErrorsHaveNames) {
  EXPECT_STREQ(handle_error_name(HandleError::Unknown), "unknown handle");
  EXPECT_STREQ(handle_error_name(HandleError::Removed), "handle already removed");
  EXPECT_STREQ(handle_error_name(HandleError::Full), "handle table full");
}

}  // namespace
}  // namespace airssys::wasm
