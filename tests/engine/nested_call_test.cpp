// What a component's adapters need of the engine, on both tiers: imports
// bound export by export to other instances (Linker::define_export), calls
// from a host function into another instance of the store (HostCall::call)
// within the running call's fuel, and an instance's exported memory read and
// written while a call runs (Instance::memory_view).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "tiers.hpp"

namespace airssys::wasm::engine {
namespace {

class NestedCallTest : public ::testing::TestWithParam<Tier> {
 protected:
  std::unique_ptr<Engine> engine = testing::make_engine(GetParam());
  std::unique_ptr<Store> store = engine->new_store();

  std::shared_ptr<const Module> load(std::string_view wat, std::string_view name) {
    auto m = engine->load_wat(wat, name);
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().to_string());
    return m ? *m : nullptr;
  }
  std::shared_ptr<Instance> instantiate(const Module& module, const Linker& linker) {
    auto i = store->instantiate(module, linker);
    EXPECT_TRUE(i.has_value()) << (i ? "" : i.error().to_string());
    return i ? *i : nullptr;
  }
};

// The callee: a memory, a global, a table and functions to call nested.
constexpr std::string_view kCallee = R"((module
  (memory (export "mem") 1)
  (global (export "base") i32 (i32.const 100))
  (table (export "tab") 2 funcref)
  (func (export "double") (param i32) (result i32) local.get 0 i32.const 2 i32.mul)
  (func (export "boom") (param i32) (result i32) unreachable)
  (func (export "spin") (loop br 0))
  (func (export "grow") (result i32) i32.const 1 memory.grow)
  (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store))
)";

// The caller imports the callee's exports under names of its own, one by one.
constexpr std::string_view kCaller = R"((module
  (import "adapter" "memory" (memory 1))
  (import "adapter" "offset" (global i32))
  (import "adapter" "table" (table 1 funcref))
  (import "adapter" "double" (func $double (param i32) (result i32)))
  (import "host" "nested" (func $nested (param i32) (result i32)))
  (func (export "write") (param i32)
    global.get 0 local.get 0 i32.store)
  (func (export "twice") (param i32) (result i32) local.get 0 call $double)
  (func (export "via_host") (param i32) (result i32) local.get 0 call $nested))
)";

// A host function that calls `target.export` nested, with its arguments.
struct NestedTarget {
  std::shared_ptr<Instance> instance;
  ExportHandle handle;
};

HostFunction nested_function(std::shared_ptr<NestedTarget> target) {
  HostFunction f;
  f.module = "host";
  f.name = "nested";
  f.sig = FuncSig{{ValType::I32}, {ValType::I32}};
  f.fn = [target](HostCall& call, std::span<const Value> args,
                  std::span<Value> results) -> Result<void> {
    auto r = call.call(*target->instance, target->handle, args);
    if (!r) return std::unexpected(std::move(r).error());
    results[0] = (*r)[0];
    return {};
  };
  return f;
}

Linker caller_linker(const std::shared_ptr<Instance>& callee,
                     const std::shared_ptr<NestedTarget>& target) {
  Linker linker;
  linker.define_export("adapter", "memory", callee, "mem");
  linker.define_export("adapter", "offset", callee, "base");
  linker.define_export("adapter", "table", callee, "tab");
  linker.define_export("adapter", "double", callee, "double");
  linker.define(nested_function(target));
  return linker;
}

TEST_P(NestedCallTest, ImportsBoundExportByExportReachTheOtherInstance) {
  auto callee_module = load(kCallee, "callee");
  auto caller_module = load(kCaller, "caller");
  ASSERT_TRUE(callee_module && caller_module);
  auto callee = instantiate(*callee_module, Linker{});
  ASSERT_TRUE(callee);
  auto target = std::make_shared<NestedTarget>(NestedTarget{callee, *callee->resolve("double")});
  auto caller = instantiate(*caller_module, caller_linker(callee, target));
  ASSERT_TRUE(caller);

  // The caller's memory is the callee's, at the callee's global's offset.
  ASSERT_TRUE(caller->call("write", std::vector{Value::i32(0x5eed)}).has_value());
  auto bytes = callee->read_memory(100, 4);
  ASSERT_TRUE(bytes.has_value());
  uint32_t stored = 0;
  std::memcpy(&stored, bytes->data(), 4);
  EXPECT_EQ(stored, 0x5eedu);
  auto twice = caller->call("twice", std::vector{Value::i32(21)});
  ASSERT_TRUE(twice.has_value()) << twice.error().to_string();
  EXPECT_EQ((*twice)[0].as_i32(), 42);
}

TEST_P(NestedCallTest, AnAliasToAMissingExportIsAnUnknownImport) {
  auto callee_module = load(kCallee, "callee");
  auto caller_module = load(kCaller, "caller");
  ASSERT_TRUE(callee_module && caller_module);
  auto callee = instantiate(*callee_module, Linker{});
  ASSERT_TRUE(callee);
  auto target = std::make_shared<NestedTarget>(NestedTarget{callee, *callee->resolve("double")});
  Linker linker = caller_linker(callee, target);
  linker.define_export("adapter", "double", callee, "triple");
  auto caller = store->instantiate(*caller_module, linker);
  ASSERT_FALSE(caller.has_value());
  EXPECT_EQ(caller.error().code, ErrorCode::UnknownImport);
  EXPECT_NE(caller.error().message.find("'triple'"), std::string::npos) << caller.error().message;
  // An alias of the wrong kind is an incompatible import.
  linker.define_export("adapter", "double", callee, "mem");
  caller = store->instantiate(*caller_module, linker);
  ASSERT_FALSE(caller.has_value());
  EXPECT_EQ(caller.error().code, ErrorCode::IncompatibleImport);
}

class NestedFixture : public NestedCallTest {
 protected:
  void SetUp() override {
    auto callee_module = load(kCallee, "callee");
    auto caller_module = load(kCaller, "caller");
    ASSERT_TRUE(callee_module && caller_module);
    callee = instantiate(*callee_module, Linker{});
    ASSERT_TRUE(callee);
    target = std::make_shared<NestedTarget>(NestedTarget{callee, *callee->resolve("double")});
    caller = instantiate(*caller_module, caller_linker(callee, target));
    ASSERT_TRUE(caller);
  }
  void aim(std::string_view name) {
    auto h = callee->resolve(name);
    ASSERT_TRUE(h.has_value()) << h.error().to_string();
    target->handle = *h;
  }
  std::shared_ptr<Instance> callee;
  std::shared_ptr<Instance> caller;
  std::shared_ptr<NestedTarget> target;
};

TEST_P(NestedFixture, AHostFunctionCallsIntoAnotherInstanceAndGetsItsResults) {
  for (int32_t i = 0; i < 3; ++i) {
    auto r = caller->call("via_host", std::vector{Value::i32(i + 5)});
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ((*r)[0].as_i32(), 2 * (i + 5));
  }
}

TEST_P(NestedFixture, ATrapInTheNestedCallReachesTheCallerWithTheCalleesFrames) {
  aim("boom");
  auto r = caller->call("via_host", std::vector{Value::i32(1)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapUnreachable) << r.error().to_string();
  ASSERT_FALSE(r.error().backtrace.empty());
  EXPECT_NE(r.error().backtrace.front().find("callee!"), std::string::npos)
      << r.error().to_string();
  // The store is usable afterwards.
  aim("double");
  auto again = caller->call("via_host", std::vector{Value::i32(4)});
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  EXPECT_EQ((*again)[0].as_i32(), 8);
}

TEST_P(NestedFixture, TheNestedCallSpendsTheCallersFuel) {
  // spin takes no argument and returns nothing: call it through a host
  // function of its own shape.
  auto caller_module = load(R"((module
    (import "host" "spin" (func $spin))
    (func (export "run") call $spin)))",
                            "spinner");
  ASSERT_TRUE(caller_module);
  HostFunction spin;
  spin.module = "host";
  spin.name = "spin";
  auto spin_handle = callee->resolve("spin");
  ASSERT_TRUE(spin_handle.has_value());
  spin.fn = [this, h = *spin_handle](HostCall& call, std::span<const Value>,
                                     std::span<Value>) -> Result<void> {
    auto r = call.call(*callee, h, {});
    if (!r) return std::unexpected(std::move(r).error());
    return {};
  };
  Linker linker;
  linker.define(spin);
  auto spinner = instantiate(*caller_module, linker);
  ASSERT_TRUE(spinner);
  CallOptions options;
  options.fuel = 200'000;
  options.slice = 10'000;
  auto r = spinner->call("run", {}, options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapOutOfFuel) << r.error().to_string();
  EXPECT_GE(spinner->fuel_used(), 200'000u);

  // A suspendable call slices around the nested call: the nested part runs
  // through (no suspension inside it) and its fuel still counts.
  auto call = spinner->start_call("run", {}, options);
  ASSERT_TRUE(call.has_value());
  Result<Call::State> state = Call::State::Suspended;
  int resumes = 0;
  while (state && *state == Call::State::Suspended && resumes < 1000) {
    state = (*call)->resume();
    ++resumes;
  }
  ASSERT_FALSE(state.has_value());
  EXPECT_EQ(state.error().code, ErrorCode::TrapOutOfFuel);
  EXPECT_GE((*call)->fuel_used(), 200'000u);
}

TEST_P(NestedFixture, NestedCallsThatRecurseWithoutEndStopAtTheDepthBound) {
  // via_host calls the host function, which calls via_host again.
  target->instance = caller;
  target->handle = *caller->resolve("via_host");
  auto r = caller->call("via_host", std::vector{Value::i32(1)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapCallStackExhausted) << r.error().to_string();
  EXPECT_NE(r.error().message.find("nested calls"), std::string::npos) << r.error().message;
}

TEST_P(NestedFixture, AnInstanceOfAnotherStoreIsRefused) {
  auto other_store = engine->new_store();
  auto module = load(kCallee, "elsewhere");
  ASSERT_TRUE(module);
  auto elsewhere = other_store->instantiate(*module, Linker{});
  ASSERT_TRUE(elsewhere.has_value());
  target->instance = *elsewhere;
  target->handle = *(*elsewhere)->resolve("double");
  auto r = caller->call("via_host", std::vector{Value::i32(1)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument) << r.error().to_string();
}

TEST_P(NestedFixture, AMemoryViewSeesTheMemoryAsItIsDuringTheCall) {
  auto view = callee->memory_view("mem");
  ASSERT_TRUE(view.has_value()) << view.error().to_string();
  EXPECT_EQ((*view)->bytes().size(), kWasmPageSize);
  EXPECT_EQ(callee->memory_view("double").error().code, ErrorCode::MissingExport);
  EXPECT_EQ(callee->memory_view("nothing").error().code, ErrorCode::MissingExport);

  // A host function reads what the guest stored a moment ago, and sees the
  // memory grow after a nested call grew it.
  auto module = load(R"((module
    (import "adapter" "memory" (memory 1))
    (import "host" "check" (func $check (result i32)))
    (func (export "run") (result i32)
      i32.const 8 i32.const 0xabcdef i32.store
      call $check)))",
                     "viewer");
  ASSERT_TRUE(module);
  auto grow = callee->resolve("grow");
  ASSERT_TRUE(grow.has_value());
  HostFunction check;
  check.module = "host";
  check.name = "check";
  check.sig = FuncSig{{}, {ValType::I32}};
  std::shared_ptr<const MemoryView> mem = *view;
  check.fn = [this, mem, h = *grow](HostCall& call, std::span<const Value>,
                                   std::span<Value> results) -> Result<void> {
    uint32_t seen = 0;
    std::memcpy(&seen, mem->bytes().data() + 8, 4);
    if (seen != 0xabcdef) return make_error(ErrorCode::InternalError, "the view missed a store");
    auto r = call.call(*callee, h, {});
    if (!r) return std::unexpected(std::move(r).error());
    results[0] = Value::i32(static_cast<int32_t>(mem->bytes().size() / kWasmPageSize));
    return {};
  };
  Linker linker;
  linker.define_export("adapter", "memory", callee, "mem");
  linker.define(check);
  auto viewer = instantiate(*module, linker);
  ASSERT_TRUE(viewer);
  auto r = viewer->call("run", {});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ((*r)[0].as_i32(), 2);
}

INSTANTIATE_TEST_SUITE_P(Tiers, NestedCallTest, ::testing::Values(Tier::Interp, Tier::Native),
                         testing::tier_test_name);
INSTANTIATE_TEST_SUITE_P(Tiers, NestedFixture, ::testing::Values(Tier::Interp, Tier::Native),
                         testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::engine
