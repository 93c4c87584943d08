// Exports resolved once (Instance::resolve) and called by handle, on both
// tiers; a handle that is not the instance's own, or names no function
// export, is refused with InvalidHandle before anything runs.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "tiers.hpp"

namespace airssys::wasm::engine {
namespace {

class ExportHandleTest : public ::testing::TestWithParam<Tier> {
 protected:
  std::unique_ptr<Engine> engine = testing::make_engine(GetParam());
  std::unique_ptr<Store> store = engine->new_store();
  Linker linker;

  std::shared_ptr<const Module> load(std::string_view wat) {
    auto m = engine->load_wat(wat, "handles.wat");
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().to_string());
    return m ? *m : nullptr;
  }
  std::shared_ptr<Instance> instantiate(const Module& module) {
    auto i = store->instantiate(module, linker);
    EXPECT_TRUE(i.has_value()) << (i ? "" : i.error().to_string());
    return i ? *i : nullptr;
  }
};

// Exports: mem_first (0, a memory), add (1), g (2, a global), count (3). The
// native tier adds the start function and the mutable global as exports of
// its own after the guest's; a handle must never reach them.
constexpr std::string_view kModule = R"((module
  (global $g (mut i32) (i32.const 7))
  (memory (export "mem_first") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (export "g" (global $g))
  (func (export "count") (param i32) (result i32) (local i32)
    (block (loop
      local.get 1 local.get 0 i32.ge_u br_if 1
      local.get 1 i32.const 1 i32.add local.set 1
      br 0))
    local.get 1)
  (func $start global.get $g i32.const 1 i32.add global.set $g)
  (start $start))
)";

uint32_t index_of(const Module& module, std::string_view name) {
  const auto& exports = module.exports();
  for (uint32_t i = 0; i < exports.size(); ++i) {
    if (exports[i].name == name) return i;
  }
  ADD_FAILURE() << "no export " << name;
  return 0;
}

TEST_P(ExportHandleTest, AResolvedHandleCallsTheExportAgainAndAgain) {
  auto module = load(kModule);
  ASSERT_TRUE(module);
  auto inst = instantiate(*module);
  ASSERT_TRUE(inst);
  auto add = inst->resolve("add");
  ASSERT_TRUE(add.has_value()) << add.error().to_string();
  EXPECT_EQ(add->instance, inst->id());
  EXPECT_EQ(add->index, index_of(*module, "add"));
  for (int32_t i = 0; i < 3; ++i) {
    auto r = inst->call(*add, std::vector{Value::i32(40), Value::i32(i)});
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ((*r)[0].as_i32(), 40 + i);
  }
  // A suspendable call by handle runs in slices as one by name does.
  auto count = inst->resolve("count");
  ASSERT_TRUE(count.has_value());
  CallOptions options;
  options.slice = 1000;
  auto call = inst->start_call(*count, std::vector{Value::i32(50'000)}, options);
  ASSERT_TRUE(call.has_value()) << call.error().to_string();
  int slices = 0;
  for (;;) {
    auto state = (*call)->resume();
    ASSERT_TRUE(state.has_value()) << state.error().to_string();
    ++slices;
    if (*state == Call::State::Finished) break;
  }
  EXPECT_GT(slices, 1);
  EXPECT_EQ((*call)->results()[0].as_i32(), 50'000);
}

TEST_P(ExportHandleTest, OnlyFunctionExportsResolve) {
  auto module = load(kModule);
  ASSERT_TRUE(module);
  auto inst = instantiate(*module);
  ASSERT_TRUE(inst);
  auto missing = inst->resolve("nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::MissingExport);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
  for (std::string_view name : {"g", "mem_first"}) {
    auto other = inst->resolve(name);
    ASSERT_FALSE(other.has_value()) << name;
    EXPECT_EQ(other.error().code, ErrorCode::MissingExport) << name;
  }
}

TEST_P(ExportHandleTest, AHandleOfAnotherInstanceIsRefused) {
  auto module = load(kModule);
  ASSERT_TRUE(module);
  auto first = instantiate(*module);
  auto second = instantiate(*module);
  ASSERT_TRUE(first && second);
  EXPECT_NE(first->id(), second->id());
  auto add = first->resolve("add");
  ASSERT_TRUE(add.has_value());
  const auto args = std::vector{Value::i32(1), Value::i32(2)};
  auto r = second->call(*add, args);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidHandle);
  auto c = second->start_call(*add, args);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, ErrorCode::InvalidHandle);
  // The instance that takes the place of a dropped one refuses its handles
  // too: ids are never reused.
  first.reset();
  auto third = instantiate(*module);
  ASSERT_TRUE(third);
  auto stale = third->call(*add, args);
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().code, ErrorCode::InvalidHandle);
  EXPECT_TRUE(third->call(third->resolve("add").value(), args).has_value());
}

TEST_P(ExportHandleTest, IndicesPastTheExportsOrOfOtherKindsAreRefused) {
  auto module = load(kModule);
  ASSERT_TRUE(module);
  auto inst = instantiate(*module);
  ASSERT_TRUE(inst);
  const uint32_t past = static_cast<uint32_t>(module->exports().size());
  // `past` is where the native tier keeps the start function and the
  // mutable global: the guest's export list ends before them.
  for (uint32_t index : {past, past + 1, past + 2, 1000u, UINT32_MAX,
                         index_of(*module, "g"), index_of(*module, "mem_first")}) {
    ExportHandle forged{inst->id(), index};
    auto r = inst->call(forged, {});
    ASSERT_FALSE(r.has_value()) << index;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidHandle) << index << ": " << r.error().to_string();
    auto c = inst->start_call(forged, {});
    ASSERT_FALSE(c.has_value()) << index;
    EXPECT_EQ(c.error().code, ErrorCode::InvalidHandle) << index;
  }
  // A handle never resolved names no instance.
  auto none = inst->call(ExportHandle{}, {});
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, ErrorCode::InvalidHandle);
  // Nothing ran: the start function raised g from 7 to 8 once, at
  // instantiation, and no refused handle ran it again.
  EXPECT_EQ(inst->global("g").value().as_i32(), 8);
}

TEST_P(ExportHandleTest, ArgumentsAreCheckedAgainstTheExportsSignature) {
  auto module = load(kModule);
  ASSERT_TRUE(module);
  auto inst = instantiate(*module);
  ASSERT_TRUE(inst);
  auto add = inst->resolve("add").value();
  auto r = inst->call(add, std::vector{Value::i64(1), Value::i32(2)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::SignatureMismatch);
  EXPECT_NE(r.error().message.find("'add'"), std::string::npos) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(Tiers, ExportHandleTest, ::testing::Values(Tier::Interp, Tier::Native),
                         testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::engine
