// Moving a running instance's state to a fresh instance of the same module,
// on the same tier and across tiers (the tier-up of the component layer):
// memory and mutable globals carry over, the start function does not run
// again, and what the state cannot carry is refused with a typed error.
#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "tiers.hpp"

namespace airssys::wasm::engine {
namespace {

// A counter in a mutable global, a running sum in memory, memory that grows
// on request, a start function that reports to the host, and an immutable
// global and a table that instantiation rebuilds.
constexpr std::string_view kCounter = R"((module
  (import "host" "started" (func $started))
  (memory (export "memory") 1 8)
  (global $count (mut i32) (i32.const 0))
  (global $total (mut i64) (i64.const 0))
  (global $scale (mut f64) (f64.const 1.5))
  (global $base i32 (i32.const 100))
  (table 2 funcref)
  (elem (i32.const 0) $one $two)
  (type $t (func (result i32)))
  (func $one (result i32) i32.const 1)
  (func $two (result i32) i32.const 2)
  (func $start call $started
    global.get $count i32.const 10 i32.add global.set $count)
  (start $start)
  (func (export "bump") (param $by i32) (result i32)
    global.get $count local.get $by i32.add global.set $count
    global.get $total local.get $by i64.extend_i32_u i64.add global.set $total
    global.get $scale f64.const 2 f64.mul global.set $scale
    ;; memory[64] += by
    i32.const 64 i32.const 64 i32.load local.get $by i32.add i32.store
    global.get $count)
  (func (export "count") (result i32) global.get $count)
  (func (export "total") (result i64) global.get $total)
  (func (export "scale") (result f64) global.get $scale)
  (func (export "stored") (result i32) i32.const 64 i32.load)
  (func (export "base") (result i32) global.get $base)
  (func (export "pick") (param i32) (result i32) local.get 0 call_indirect (type $t))
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "last") (result i32)
    memory.size i32.const 65536 i32.mul i32.const 4 i32.sub i32.load)
  (func (export "mark") (param i32)
    memory.size i32.const 65536 i32.mul i32.const 4 i32.sub local.get 0 i32.store)
  (func (export "spin") (loop br 0))))";

struct Started {
  int count = 0;
};

Linker counter_linker(Started& started) {
  Linker linker;
  linker.define(HostFunction{"host", "started", FuncSig{},
                             [&started](HostCall&, std::span<const Value>,
                                        std::span<Value>) -> Result<void> {
                               ++started.count;
                               return {};
                             }});
  return linker;
}

int32_t i32_of(Instance& instance, std::string_view name, std::vector<Value> args = {}) {
  auto r = instance.call(name, args);
  EXPECT_TRUE(r.has_value()) << name << ": " << (r ? "" : r.error().to_string());
  return r && !r->empty() ? (*r)[0].as_i32() : -1;
}

using TierPair = std::pair<Tier, Tier>;

class StateTransferTest : public ::testing::TestWithParam<TierPair> {};

TEST_P(StateTransferTest, MemoryAndGlobalsCarryOverAndStartDoesNotRunAgain) {
  auto [from_tier, to_tier] = GetParam();
  auto from_engine = testing::make_engine(from_tier);
  auto to_engine = testing::make_engine(to_tier);
  ASSERT_TRUE(from_engine && to_engine);
  auto from_module = from_engine->load_wat(kCounter, "counter.wat");
  auto to_module = to_engine->load_wat(kCounter, "counter.wat");
  ASSERT_TRUE(from_module.has_value()) << from_module.error().to_string();
  ASSERT_TRUE(to_module.has_value()) << to_module.error().to_string();
  ASSERT_TRUE((*from_module)->state_transferable());

  Started started;
  Linker linker = counter_linker(started);
  auto from_store = from_engine->new_store();
  auto first = from_store->instantiate(**from_module, linker).value();
  EXPECT_EQ(started.count, 1);
  EXPECT_EQ(i32_of(*first, "bump", {Value::i32(5)}), 15);
  EXPECT_EQ(i32_of(*first, "bump", {Value::i32(7)}), 22);
  EXPECT_EQ(i32_of(*first, "grow", {Value::i32(2)}), 1);  // 1 -> 3 pages
  first->call("mark", std::vector{Value::i32(0x5eed)}).value();

  auto saved = first->save_state();
  ASSERT_TRUE(saved.has_value()) << saved.error().to_string();
  EXPECT_EQ(saved->memory.size(), 3 * kWasmPageSize);
  EXPECT_EQ(saved->globals.size(), 3u);  // count, total, scale; not the immutable base

  auto to_store = to_engine->new_store();
  InstanceOptions options;
  options.restore = &*saved;
  bool grow_reported = false;
  options.on_memory_grow = [&](const MemoryGrowEvent&) { grow_reported = true; };
  auto second = to_store->instantiate(**to_module, linker, options);
  ASSERT_TRUE(second.has_value()) << second.error().to_string();
  auto& next = **second;
  EXPECT_EQ(started.count, 1) << "the start function ran again";
  EXPECT_FALSE(grow_reported) << "restoring the memory's size is not a guest's growth";
  EXPECT_EQ(next.memory_bytes(), 3 * kWasmPageSize);
  EXPECT_EQ(i32_of(next, "count"), 22);
  EXPECT_EQ(next.call("total", {}).value()[0].as_i64(), 12);
  EXPECT_EQ(next.call("scale", {}).value()[0].as_f64(), 6.0);
  EXPECT_EQ(i32_of(next, "stored"), 12);
  EXPECT_EQ(i32_of(next, "last"), 0x5eed);
  EXPECT_EQ(i32_of(next, "base"), 100);
  EXPECT_EQ(i32_of(next, "pick", {Value::i32(1)}), 2);  // the table was rebuilt
  // And it goes on from there; the old instance is untouched.
  EXPECT_EQ(i32_of(next, "bump", {Value::i32(1)}), 23);
  EXPECT_EQ(i32_of(*first, "count"), 22);
  // The memory's own maximum (8 pages) still holds after the move.
  EXPECT_EQ(i32_of(next, "grow", {Value::i32(5)}), 3);
  EXPECT_EQ(i32_of(next, "grow", {Value::i32(1)}), -1);
}

TEST_P(StateTransferTest, ASavedMemoryOverTheNewLimitIsRefused) {
  auto [from_tier, to_tier] = GetParam();
  auto from_engine = testing::make_engine(from_tier);
  auto to_engine = testing::make_engine(to_tier);
  ASSERT_TRUE(from_engine && to_engine);
  Started started;
  Linker linker = counter_linker(started);
  auto from_store = from_engine->new_store();
  auto first =
      from_store->instantiate(*from_engine->load_wat(kCounter, "c.wat").value(), linker).value();
  ASSERT_EQ(i32_of(*first, "grow", {Value::i32(3)}), 1);  // 4 pages
  auto saved = first->save_state().value();

  auto to_store = to_engine->new_store();
  InstanceOptions options;
  options.restore = &saved;
  options.limits.max_memory_bytes = 2 * kWasmPageSize;
  auto refused = to_store->instantiate(*to_engine->load_wat(kCounter, "c.wat").value(), linker,
                                       options);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::LimitExceeded) << refused.error().to_string();
}

INSTANTIATE_TEST_SUITE_P(Tiers, StateTransferTest,
                         ::testing::Values(TierPair{Tier::Interp, Tier::Interp},
                                           TierPair{Tier::Interp, Tier::Native},
                                           TierPair{Tier::Native, Tier::Interp},
                                           TierPair{Tier::Native, Tier::Native}),
                         [](const ::testing::TestParamInfo<TierPair>& info) {
                           auto name = [](Tier t) {
                             return t == Tier::Native ? "Native" : "Interp";
                           };
                           return std::string(name(info.param.first)) + "To" +
                                  name(info.param.second);
                         });

class StateRefusalTest : public ::testing::TestWithParam<Tier> {};

TEST_P(StateRefusalTest, ModulesThatChangeTablesOrSegmentsAreNotTransferable) {
  auto engine = testing::make_engine(GetParam());
  ASSERT_TRUE(engine);
  struct Case {
    std::string_view wat;
    std::string_view why;
  };
  const Case cases[] = {
      {R"((module (table 1 funcref) (func $f) (elem declare func $f)
            (func (export "set") (table.set 0 (i32.const 0) (ref.func $f)))))",
       "tables"},
      {R"((module (table 1 funcref)
            (func (export "grow") (result i32) (table.grow 0 (ref.null func) (i32.const 1)))))",
       "tables"},
      {R"((module (memory 1) (data $d "abc")
            (func (export "init") (memory.init $d (i32.const 0) (i32.const 0) (i32.const 3)))))",
       "passive data"},
      {R"((module (memory 1) (data $d "abc") (func (export "drop") (data.drop $d))))",
       "passive data"},
      {R"((module (global (mut funcref) (ref.null func))))", "reference"},
      {R"((module (import "m" "mem" (memory 1))))", "imports a memory"},
  };
  Started started;
  Linker linker = counter_linker(started);
  for (const auto& c : cases) {
    auto module = engine->load_wat(c.wat, "case.wat");
    ASSERT_TRUE(module.has_value()) << module.error().to_string();
    auto ok = (*module)->state_transferable();
    ASSERT_FALSE(ok.has_value()) << c.wat;
    EXPECT_EQ(ok.error().code, ErrorCode::StateNotTransferable);
    EXPECT_NE(ok.error().message.find(c.why), std::string::npos) << ok.error().message;
    if (c.why == "imports a memory") continue;  // cannot be instantiated here
    auto store = engine->new_store();
    auto instance = store->instantiate(**module, linker).value();
    auto saved = instance->save_state();
    ASSERT_FALSE(saved.has_value());
    EXPECT_EQ(saved.error().code, ErrorCode::StateNotTransferable);
  }
}

TEST_P(StateRefusalTest, AStateOfAnotherModuleIsRefused) {
  auto engine = testing::make_engine(GetParam());
  ASSERT_TRUE(engine);
  Started started;
  Linker linker = counter_linker(started);
  auto module = engine->load_wat(kCounter, "counter.wat").value();
  auto store = engine->new_store();

  InstanceState too_few;
  too_few.memory.resize(kWasmPageSize);
  too_few.globals = {Value::i32(1)};
  InstanceOptions options;
  options.restore = &too_few;
  auto refused = store->instantiate(*module, linker, options);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::StateNotTransferable);

  InstanceState wrong_type = too_few;
  wrong_type.globals = {Value::i64(1), Value::i64(2), Value::f64(3)};
  options.restore = &wrong_type;
  refused = store->instantiate(*module, linker, options);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::StateNotTransferable);

  InstanceState ragged = too_few;
  ragged.globals = {Value::i32(1), Value::i64(2), Value::f64(3)};
  ragged.memory.resize(kWasmPageSize + 10);
  options.restore = &ragged;
  refused = store->instantiate(*module, linker, options);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::StateNotTransferable);
  EXPECT_EQ(started.count, 0);
}

TEST_P(StateRefusalTest, NoSaveWhileACallIsSuspended) {
  auto engine = testing::make_engine(GetParam());
  ASSERT_TRUE(engine);
  Started started;
  Linker linker = counter_linker(started);
  auto store = engine->new_store();
  auto instance =
      store->instantiate(*engine->load_wat(kCounter, "counter.wat").value(), linker).value();
  CallOptions options;
  options.fuel = 1'000'000;
  options.slice = 1000;
  auto call = instance->start_call("spin", {}, options).value();
  ASSERT_EQ(call->resume().value(), Call::State::Suspended);
  // Between slices nothing runs, but the call's frames live in the instance.
  auto saved = instance->save_state();
  ASSERT_FALSE(saved.has_value());
  EXPECT_EQ(saved.error().code, ErrorCode::CallInProgress);
  call.reset();
  auto after = instance->save_state();
  ASSERT_TRUE(after.has_value()) << after.error().to_string();
  EXPECT_EQ(after->globals[0].as_i32(), 10);
}

// A module loaded from the native cache knows what a compiled one knows: its
// start function, its mutable globals and whether its state can move.
TEST(NativeStateCache, ACacheHitKeepsTheStartFunctionGlobalsAndTransferability) {
  const airssys::wasm::test::TempDir cache("native");
  NativeOptions options;
  options.cache_dir = cache.path() / "native";
  auto first = Engine::native(options).value();
  auto second = Engine::native(options).value();
  Started started;
  Linker linker = counter_linker(started);
  auto compiled = first->load_wat(kCounter, "counter.wat").value();
  auto cached = second->load_wat(kCounter, "counter.wat").value();
  EXPECT_EQ(second->stats().cache_hits, 1u);
  EXPECT_EQ(second->stats().native_compiles, 0u);
  auto store = second->new_store();
  auto a = store->instantiate(*compiled, linker).value();
  auto b = store->instantiate(*cached, linker).value();
  EXPECT_EQ(started.count, 2) << "the cached module's start function did not run";
  EXPECT_EQ(i32_of(*b, "count"), 10);
  EXPECT_EQ(i32_of(*b, "bump", {Value::i32(1)}), 11);
  auto saved = b->save_state().value();
  EXPECT_EQ(saved.globals.size(), 3u);

  constexpr std::string_view kGrower = R"((module (table 1 funcref)
    (func (export "grow") (result i32) (table.grow 0 (ref.null func) (i32.const 1)))))";
  ASSERT_TRUE(first->load_wat(kGrower, "grower.wat"));
  auto grower = second->load_wat(kGrower, "grower.wat").value();
  EXPECT_EQ(second->stats().cache_hits, 2u);
  ASSERT_FALSE(grower->state_transferable());
  EXPECT_EQ(grower->state_transferable().error().code, ErrorCode::StateNotTransferable);
}

INSTANTIATE_TEST_SUITE_P(Tiers, StateRefusalTest,
                         ::testing::Values(Tier::Interp, Tier::Native), testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::engine
