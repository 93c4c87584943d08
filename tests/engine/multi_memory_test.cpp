// Modules with several linear memories (multi-memory), on both tiers: loads,
// stores, data segments, size, grow, fill and copy on each memory; bounds
// checked per memory; the instance's memory limit counting all its memories
// together, at instantiation and at every grow; host functions seeing the
// caller's memory 0.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "tiers.hpp"

namespace airssys::wasm::engine {
namespace {

// Memory 0 starts at 2 pages, memory 1 ($b) at 1; "b" holds "hi" at 16.
constexpr std::string_view kTwoMemories = R"((module
  (import "env" "read0" (func $host (result i32)))
  (memory $a 2)
  (memory $b 1)
  (data (memory $b) (i32.const 16) "hi")
  (func (export "store_a") (param i32 i32) (i32.store $a (local.get 0) (local.get 1)))
  (func (export "store_b") (param i32 i32) (i32.store $b (local.get 0) (local.get 1)))
  (func (export "load_a") (param i32) (result i32) (i32.load $a (local.get 0)))
  (func (export "load_b") (param i32) (result i32) (i32.load $b (local.get 0)))
  (func (export "load8_b") (param i32) (result i32) (i32.load8_u $b (local.get 0)))
  (func (export "size_a") (result i32) (memory.size $a))
  (func (export "size_b") (result i32) (memory.size $b))
  (func (export "grow_a") (param i32) (result i32) (memory.grow $a (local.get 0)))
  (func (export "grow_b") (param i32) (result i32) (memory.grow $b (local.get 0)))
  ;; copies `n` bytes from memory 1 at `src` to memory 0 at `dst`
  (func (export "copy_b_to_a") (param $dst i32) (param $src i32) (param $n i32)
    (memory.copy $a $b (local.get $dst) (local.get $src) (local.get $n)))
  (func (export "fill_b") (param i32 i32 i32)
    (memory.fill $b (local.get 0) (local.get 1) (local.get 2)))
  ;; stores into memory 0, then the host reads its caller's memory at 0
  (func (export "poke_a") (param i32)
    (i32.store $a (i32.const 0) (local.get 0))
    (drop (call $host)))
  (export "memory" (memory $a))
  (export "memory_b" (memory $b))))";

class MultiMemoryTest : public ::testing::TestWithParam<Tier> {
 protected:
  std::unique_ptr<Engine> engine = testing::make_engine(GetParam());
  std::unique_ptr<Store> store = engine->new_store();
  Linker linker;
  int32_t host_saw = 0;

  void SetUp() override {
    HostFunction read0;
    read0.module = "env";
    read0.name = "read0";
    read0.sig = FuncSig{{}, {ValType::I32}};
    read0.fn = [this](HostCall& call, std::span<const Value>, std::span<Value> out) -> Result<void> {
      AIRSSYS_TRY_ASSIGN(auto value, call.read_u32(0));
      host_saw = static_cast<int32_t>(value);
      out[0] = Value::i32(host_saw);
      return {};
    };
    linker.define(std::move(read0));
  }

  Result<std::shared_ptr<Instance>> instantiate(InstanceOptions options = {}) {
    auto m = engine->load_wat(kTwoMemories, "two-memories.wat");
    if (!m) return std::unexpected(m.error());
    return store->instantiate(**m, linker, options);
  }

  static int32_t i32_of(const Result<std::vector<Value>>& r) {
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
    return r && !r->empty() ? (*r)[0].as_i32() : INT32_MIN;
  }
  static std::vector<Value> args(std::initializer_list<int32_t> values) {
    std::vector<Value> out;
    for (int32_t v : values) out.push_back(Value::i32(v));
    return out;
  }
};

TEST_P(MultiMemoryTest, EachMemoryHoldsItsOwnBytes) {
  auto inst = instantiate();
  ASSERT_TRUE(inst.has_value()) << inst.error().to_string();
  auto& i = **inst;
  EXPECT_EQ(i32_of(i.call("load8_b", args({16}))), 'h');
  EXPECT_EQ(i32_of(i.call("load8_b", args({17}))), 'i');
  ASSERT_TRUE(i.call("store_a", args({100, 11})).has_value());
  ASSERT_TRUE(i.call("store_b", args({100, 22})).has_value());
  EXPECT_EQ(i32_of(i.call("load_a", args({100}))), 11);
  EXPECT_EQ(i32_of(i.call("load_b", args({100}))), 22);
  EXPECT_EQ(i32_of(i.call("size_a", {})), 2);
  EXPECT_EQ(i32_of(i.call("size_b", {})), 1);

  // Copy across memories, fill one: the other is untouched.
  ASSERT_TRUE(i.call("copy_b_to_a", args({200, 16, 2})).has_value());
  EXPECT_EQ(i32_of(i.call("load_a", args({200}))) & 0xFFFF, 'h' | ('i' << 8));
  ASSERT_TRUE(i.call("fill_b", args({100, 0x7F, 4})).has_value());
  EXPECT_EQ(i32_of(i.call("load_b", args({100}))), 0x7F7F7F7F);
  EXPECT_EQ(i32_of(i.call("load_a", args({100}))), 11);

  // The embedder's view: memory 0 by default, each by its export name.
  EXPECT_EQ(i.memory_bytes(), 2 * kWasmPageSize);
  EXPECT_EQ(i.defined_memory_bytes(), 3 * kWasmPageSize);
  auto b = i.memory_view("memory_b");
  ASSERT_TRUE(b.has_value()) << b.error().to_string();
  EXPECT_EQ((*b)->bytes().size(), kWasmPageSize);
  EXPECT_EQ((*b)->bytes()[16], 'h');
}

TEST_P(MultiMemoryTest, GrowOfEitherMemoryGrowsThatOne) {
  std::vector<MemoryGrowEvent> events;
  InstanceOptions options;
  options.on_memory_grow = [&](const MemoryGrowEvent& e) { events.push_back(e); };
  auto inst = instantiate(options);
  ASSERT_TRUE(inst.has_value()) << inst.error().to_string();
  auto& i = **inst;
  EXPECT_EQ(i32_of(i.call("grow_b", args({3}))), 1);
  EXPECT_EQ(i32_of(i.call("size_b", {})), 4);
  EXPECT_EQ(i32_of(i.call("size_a", {})), 2);
  EXPECT_EQ(i32_of(i.call("grow_a", args({1}))), 2);
  EXPECT_EQ(i32_of(i.call("size_a", {})), 3);
  // The new pages of memory 1 are usable, and past them still traps.
  ASSERT_TRUE(i.call("store_b", args({4 * 65536 - 4, 5})).has_value());
  EXPECT_EQ(i32_of(i.call("load_b", args({4 * 65536 - 4}))), 5);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].old_bytes, 1 * kWasmPageSize);
  EXPECT_EQ(events[0].requested_bytes, 4 * kWasmPageSize);
  EXPECT_TRUE(events[0].granted);
  EXPECT_EQ(events[1].old_bytes, 2 * kWasmPageSize);
  EXPECT_TRUE(events[1].granted);
  EXPECT_EQ(i.defined_memory_bytes(), 7 * kWasmPageSize);
}

TEST_P(MultiMemoryTest, AccessPastTheSecondMemoryTrapsWhileTheFirstIsLarger) {
  auto inst = instantiate();
  ASSERT_TRUE(inst.has_value()) << inst.error().to_string();
  auto& i = **inst;
  // Offset 70000 lies inside memory 0 (2 pages) but outside memory 1 (1 page).
  ASSERT_TRUE(i.call("store_a", args({70000, 1})).has_value());
  auto load = i.call("load_b", args({70000}));
  ASSERT_FALSE(load.has_value());
  EXPECT_EQ(load.error().code, ErrorCode::TrapMemoryOutOfBounds) << load.error().to_string();
  auto store_b = i.call("store_b", args({65534, 1}));
  ASSERT_FALSE(store_b.has_value());
  EXPECT_EQ(store_b.error().code, ErrorCode::TrapMemoryOutOfBounds);
  auto copy = i.call("copy_b_to_a", args({0, 65000, 1000}));
  ASSERT_FALSE(copy.has_value());
  EXPECT_EQ(copy.error().code, ErrorCode::TrapMemoryOutOfBounds);
  auto fill = i.call("fill_b", args({65000, 0, 1000}));
  ASSERT_FALSE(fill.has_value());
  EXPECT_EQ(fill.error().code, ErrorCode::TrapMemoryOutOfBounds);
  EXPECT_EQ(i32_of(i.call("load_a", args({70000}))), 1);
}

TEST_P(MultiMemoryTest, TheMemoryLimitCountsBothMemories) {
  // 4 pages for both: 3 at the start, one more for either, then none.
  InstanceOptions options;
  options.limits.max_memory_bytes = 4 * kWasmPageSize;
  std::vector<std::pair<uint64_t, uint64_t>> asked;
  options.memory_grow_gate = [&](uint64_t old_bytes, uint64_t new_bytes) {
    asked.emplace_back(old_bytes, new_bytes);
    return true;
  };
  auto inst = instantiate(options);
  ASSERT_TRUE(inst.has_value()) << inst.error().to_string();
  auto& i = **inst;
  EXPECT_EQ(i32_of(i.call("grow_b", args({2}))), -1);  // 5 pages together
  EXPECT_EQ(i32_of(i.call("grow_a", args({2}))), -1);
  EXPECT_EQ(i32_of(i.call("grow_b", args({1}))), 1);
  EXPECT_EQ(i32_of(i.call("grow_a", args({1}))), -1);  // memory 0 alone would fit
  EXPECT_EQ(i32_of(i.call("grow_b", args({1}))), -1);
  EXPECT_EQ(i32_of(i.call("size_a", {})), 2);
  EXPECT_EQ(i32_of(i.call("size_b", {})), 2);
  // The gate was asked once, for the grow within the limit, with the total.
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].first, 3 * kWasmPageSize);
  EXPECT_EQ(asked[0].second, 4 * kWasmPageSize);

  // A gate that refuses refuses a grow of memory 1 too.
  options.memory_grow_gate = [](uint64_t, uint64_t) { return false; };
  options.limits.max_memory_bytes = 16 * kWasmPageSize;
  auto gated = instantiate(options);
  ASSERT_TRUE(gated.has_value()) << gated.error().to_string();
  EXPECT_EQ(i32_of((*gated)->call("grow_b", args({1}))), -1);
  EXPECT_EQ(i32_of((*gated)->call("size_b", {})), 1);
}

TEST_P(MultiMemoryTest, MemoriesStartingOverTheLimitTogetherAreRefused) {
  // Each alone fits in 2 pages; the two together (3) do not.
  InstanceOptions options;
  options.limits.max_memory_bytes = 2 * kWasmPageSize;
  auto inst = instantiate(options);
  ASSERT_FALSE(inst.has_value());
  EXPECT_EQ(inst.error().code, ErrorCode::LimitExceeded);
  EXPECT_NE(inst.error().message.find("memories 0 to 1 start at 3 pages"), std::string::npos)
      << inst.error().message;
  options.limits.max_memory_bytes = 3 * kWasmPageSize;
  EXPECT_TRUE(instantiate(options).has_value());
}

TEST_P(MultiMemoryTest, HostFunctionsSeeMemoryZero) {
  auto inst = instantiate();
  ASSERT_TRUE(inst.has_value()) << inst.error().to_string();
  auto& i = **inst;
  ASSERT_TRUE(i.call("store_b", args({0, 99})).has_value());
  ASSERT_TRUE(i.call("poke_a", args({1234})).has_value());
  EXPECT_EQ(host_saw, 1234);
}

INSTANTIATE_TEST_SUITE_P(Tiers, MultiMemoryTest, ::testing::Values(Tier::Interp, Tier::Native),
                         testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::engine
