// Engine paths the main engine suite does not reach: value and signature
// formatting, linker redefinition, hostile host-call ranges, forged function
// references, re-entrant calls from a host function, wide host signatures, a
// host function that breaks its own signature, and modules from elsewhere.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::engine {
namespace {

class EngineCoverage : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> engine = Engine::interpreter();
  std::unique_ptr<Store> store = engine->new_store();
  Linker linker;

  std::shared_ptr<Instance> instantiate(std::string_view wat, const InstanceOptions& o = {}) {
    auto module = engine->load_wat(wat, "test.wat");
    EXPECT_TRUE(module.has_value()) << module.error().to_string();
    if (!module) return nullptr;
    auto instance = store->instantiate(**module, linker, o);
    EXPECT_TRUE(instance.has_value()) << instance.error().to_string();
    return instance ? *instance : nullptr;
  }
};

TEST(ValueFormat, EveryTypePrintsItsValue) {
  EXPECT_EQ(Value::i32(-5).to_string(), "i32:-5");
  EXPECT_EQ(Value::i64(1LL << 40).to_string(), "i64:1099511627776");
  EXPECT_EQ(Value::f32(1.5f).to_string(), "f32:1.5");
  EXPECT_FLOAT_EQ(Value::f32(1.5f).as_f32(), 1.5f);
  EXPECT_EQ(Value::f64(2.25).to_string(), "f64:2.25");
  V128 v;
  for (size_t i = 0; i < v.bytes.size(); ++i) v.bytes[i] = static_cast<uint8_t>(i * 17);
  EXPECT_EQ(Value::v128(v).to_string(), "v128:00112233445566778899aabbccddeeff");
  EXPECT_EQ(Value::funcref(RefValue{}).to_string(), "funcref:null");
  EXPECT_EQ(Value::externref(RefValue{false, 7}).to_string(), "externref:7");
  EXPECT_EQ(Value::zero(ValType::ExternRef).to_string(), "externref:null");
}

TEST(ValueFormat, SignaturesNameEveryType) {
  FuncSig sig{{ValType::I32, ValType::I64, ValType::F32, ValType::F64, ValType::V128},
              {ValType::FuncRef, ValType::ExternRef}};
  EXPECT_EQ(sig.to_string(), "(i32, i64, f32, f64, v128) -> (funcref, externref)");
  EXPECT_EQ(FuncSig{}.to_string(), "() -> ()");
}

TEST_F(EngineCoverage, ImportsAndExportsReportTheirKinds) {
  auto module = engine->load_wat(R"((module
    (import "env" "table" (table 1 funcref))
    (import "env" "g" (global i32))
    (import "env" "mem" (memory 1))
    (import "env" "f" (func (param i32) (result i64)))
    (global (export "out_g") i32 (i32.const 3))
    (export "out_t" (table 0))
    (export "out_m" (memory 0))))",
                                 "kinds.wat");
  ASSERT_TRUE(module.has_value()) << module.error().to_string();
  EXPECT_EQ((*module)->name(), "kinds.wat");
  std::vector<std::string> kinds;
  for (const auto& i : (*module)->imports()) kinds.push_back(extern_kind_name(i.kind));
  for (const auto& e : (*module)->exports()) kinds.push_back(extern_kind_name(e.kind));
  EXPECT_EQ(kinds, (std::vector<std::string>{"table", "global", "memory", "func", "global", "table",
                                             "memory"}));
  EXPECT_EQ((*module)->imports()[3].sig.to_string(), "(i32) -> (i64)");
  std::vector<std::string> types;
  for (const auto& i : (*module)->imports()) types.push_back(i.to_string());
  for (const auto& e : (*module)->exports()) types.push_back(e.to_string());
  EXPECT_EQ(types, (std::vector<std::string>{"funcref 1..", "i32", "1.. pages", "(i32) -> (i64)",
                                             "i32", "funcref 1..", "1.. pages"}));
  // Nothing provides them: the first missing import is named.
  auto instance = store->instantiate(**module, linker);
  ASSERT_FALSE(instance.has_value());
  EXPECT_EQ(instance.error().code, ErrorCode::UnknownImport);
  EXPECT_NE(instance.error().message.find("'env'.'table' (table)"), std::string::npos)
      << instance.error().message;
}

TEST_F(EngineCoverage, ARedefinedHostFunctionReplacesTheFirst) {
  auto constant = [](int32_t v) {
    return HostFunction{"env",
                        "k",
                        {{}, {ValType::I32}},
                        [v](HostCall&, std::span<const Value>, std::span<Value> r) -> Result<void> {
                          r[0] = Value::i32(v);
                          return {};
                        }};
  };
  linker.define(constant(1));
  linker.define(constant(2));
  EXPECT_EQ(linker.functions().size(), 1u);
  auto instance = instantiate(R"((module (import "env" "k" (func $k (result i32)))
    (func (export "run") (result i32) (call $k))))");
  ASSERT_TRUE(instance);
  EXPECT_EQ(instance->call("run", {}).value()[0].as_i32(), 2);
}

TEST_F(EngineCoverage, ARedefinedInstanceReplacesTheFirst) {
  auto a = instantiate(R"((module (func (export "v") (result i32) (i32.const 10))))");
  auto b = instantiate(R"((module (func (export "v") (result i32) (i32.const 20))))");
  ASSERT_TRUE(a && b);
  linker.define_instance("lib", a);
  linker.define_instance("lib", b);
  EXPECT_EQ(linker.find_instance("lib"), b.get());
  auto user = instantiate(R"((module (import "lib" "v" (func $v (result i32)))
    (func (export "run") (result i32) (call $v))))");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->call("run", {}).value()[0].as_i32(), 20);
}

TEST_F(EngineCoverage, LoadFileRefusesADirectoryAndAMissingFile) {
  auto dir = engine->load_file(std::filesystem::temp_directory_path());
  ASSERT_FALSE(dir.has_value());
  EXPECT_EQ(dir.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(dir.error().message.find("is a directory"), std::string::npos);
  auto missing = engine->load_file("/nonexistent/airssys/module.wasm");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::IoError);
  // A file whose bytes are not a module is malformed, not an I/O error.
  auto path = std::filesystem::temp_directory_path() / "airssys-engine-coverage.wasm";
  std::ofstream(path, std::ios::binary) << "not a module";
  auto garbage = engine->load_file(path);
  std::filesystem::remove(path);
  ASSERT_FALSE(garbage.has_value());
  EXPECT_EQ(garbage.error().code, ErrorCode::MalformedModule);
}

// A host function that reads a u32 and a u64 the guest points at, and writes
// their sum back as a u64; its reads and writes are bounds-checked.
TEST_F(EngineCoverage, HostCallReadsAndWritesAreBoundsChecked) {
  uint64_t seen_size = 0;
  linker.define({"env",
                 "sum",
                 {{ValType::I32, ValType::I32}, {}},
                 [&](HostCall& call, std::span<const Value> a, std::span<Value>) -> Result<void> {
                   seen_size = call.memory_size();
                   auto x = call.read_u32(static_cast<uint32_t>(a[0].as_i32()));
                   if (!x) return std::unexpected(x.error());
                   auto y = call.read_u64(static_cast<uint32_t>(a[1].as_i32()));
                   if (!y) return std::unexpected(y.error());
                   return call.write_u64(static_cast<uint32_t>(a[1].as_i32()), *x + *y);
                 }});
  auto instance = instantiate(R"((module (import "env" "sum" (func $sum (param i32 i32)))
    (memory (export "memory") 1)
    (func (export "run") (param i32 i32) (call $sum (local.get 0) (local.get 1)))))");
  ASSERT_TRUE(instance);
  ASSERT_TRUE(instance->write_memory(0, std::vector<uint8_t>{5, 0, 0, 0}).has_value());
  ASSERT_TRUE(instance->write_memory(8, std::vector<uint8_t>{0, 0, 0, 0, 1, 0, 0, 0}).has_value());
  ASSERT_TRUE(instance->call("run", std::vector{Value::i32(0), Value::i32(8)}).has_value());
  EXPECT_EQ(seen_size, kWasmPageSize);
  EXPECT_EQ(instance->read_memory(8, 8).value(), (std::vector<uint8_t>{5, 0, 0, 0, 1, 0, 0, 0}));
  // The u32 straddles the end of memory; then the u64.
  for (auto args : {std::vector{Value::i32(65533), Value::i32(8)},
                    std::vector{Value::i32(0), Value::i32(65530)},
                    std::vector{Value::i32(-1), Value::i32(8)}}) {
    auto r = instance->call("run", args);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::TrapMemoryOutOfBounds) << r.error().to_string();
    EXPECT_FALSE(r.error().backtrace.empty());
  }
  // The embedder's own copies are checked the same way.
  auto past = instance->write_memory(65535, std::vector<uint8_t>{1, 2});
  ASSERT_FALSE(past.has_value());
  EXPECT_EQ(past.error().code, ErrorCode::TrapMemoryOutOfBounds);
  auto far = instance->read_memory(UINT64_MAX, 1);
  ASSERT_FALSE(far.has_value());
  EXPECT_EQ(far.error().code, ErrorCode::TrapMemoryOutOfBounds);
  EXPECT_TRUE(instance->write_memory(65536, {}).has_value());
}

TEST_F(EngineCoverage, AModuleWithoutMemoryHasNoBytesToReadOrWrite) {
  uint64_t seen_size = 1;
  linker.define({"env",
                 "peek",
                 {{}, {ValType::I32}},
                 [&](HostCall& call, std::span<const Value>, std::span<Value> r) -> Result<void> {
                   seen_size = call.memory_size();
                   auto v = call.read_u32(0);
                   if (!v) return std::unexpected(v.error());
                   r[0] = Value::i32(static_cast<int32_t>(*v));
                   return {};
                 }});
  auto instance = instantiate(R"((module (import "env" "peek" (func $peek (result i32)))
    (func (export "run") (result i32) (call $peek))))");
  ASSERT_TRUE(instance);
  EXPECT_EQ(instance->memory_bytes(), 0u);
  auto r = instance->call("run", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapMemoryOutOfBounds);
  EXPECT_EQ(seen_size, 0u);
  EXPECT_EQ(instance->read_memory(0, 1).error().code, ErrorCode::TrapMemoryOutOfBounds);
}

// A function reference leaves the instance and comes back as the same function;
// a handle the store never issued comes in as null (regression: wabt's
// Store::Is reads its object list without a bounds check, and the engine
// read past it).
TEST_F(EngineCoverage, AFunctionReferenceRoundTripsThroughTheEmbedder) {
  auto instance = instantiate(R"((module
    (func $f (result i32) (i32.const 42))
    (elem declare func $f)
    (table 1 funcref)
    (func (export "get") (result funcref) (ref.func $f))
    (func (export "is_null") (param funcref) (result i32) (ref.is_null (local.get 0)))
    (func (export "call") (param funcref) (result i32)
      (table.set 0 (i32.const 0) (local.get 0))
      (call_indirect (result i32) (i32.const 0)))))");
  ASSERT_TRUE(instance);
  auto ref = instance->call("get", {}).value();
  ASSERT_EQ(ref.size(), 1u);
  ASSERT_EQ(ref[0].type(), ValType::FuncRef);
  EXPECT_FALSE(ref[0].as_ref().is_null);
  EXPECT_EQ(instance->call("is_null", ref).value()[0].as_i32(), 0);
  EXPECT_EQ(instance->call("call", ref).value()[0].as_i32(), 42);
  std::vector<Value> null{Value::funcref(RefValue{})};
  EXPECT_EQ(instance->call("is_null", null).value()[0].as_i32(), 1);
  auto r = instance->call("call", null);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapUninitializedElement) << r.error().to_string();
  for (uint64_t forged : {uint64_t{999999}, uint64_t{1} << 40, ~uint64_t{0} >> 1}) {
    std::vector<Value> bad{Value::funcref(RefValue{false, forged})};
    EXPECT_EQ(instance->call("is_null", bad).value()[0].as_i32(), 1) << forged;
  }
}

TEST_F(EngineCoverage, ExportsOfTheWrongKindAreMissingExports) {
  auto instance = instantiate(R"((module (memory (export "memory") 1)
    (global (export "g") i64 (i64.const -9))
    (func (export "f"))))");
  ASSERT_TRUE(instance);
  EXPECT_EQ(instance->module().name(), "test.wat");
  EXPECT_EQ(instance->global("g").value().as_i64(), -9);
  for (auto name : {"memory", "g"}) {
    auto r = instance->call(name, {});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::MissingExport);
    EXPECT_NE(r.error().message.find("is not a function"), std::string::npos);
  }
  for (auto name : {"memory", "f", "nothing"}) {
    auto g = instance->global(name);
    ASSERT_FALSE(g.has_value());
    EXPECT_EQ(g.error().code, ErrorCode::MissingExport) << name;
  }
}

TEST_F(EngineCoverage, AFinishedCallKeepsItsResultAndATrappedOneItsError) {
  auto instance = instantiate(R"((module
    (func (export "one") (result i32) (i32.const 1))
    (func (export "bad") (result i32) (unreachable))))");
  ASSERT_TRUE(instance);
  auto call = instance->start_call("one", {}).value();
  EXPECT_EQ(call->resume().value(), Call::State::Finished);
  EXPECT_EQ(call->resume().value(), Call::State::Finished);
  EXPECT_EQ(call->results()[0].as_i32(), 1);
  auto bad = instance->start_call("bad", {}).value();
  for (int i = 0; i < 2; ++i) {
    auto r = bad->resume();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::TrapUnreachable);
  }
}

// A host function may not resume another call of its store, nor instantiate
// in it, while the guest that called it is running.
TEST_F(EngineCoverage, AHostFunctionCannotReenterItsStore) {
  std::unique_ptr<Call> other;
  std::shared_ptr<const Module> module_to_instantiate;
  Result<Call::State> resumed = Call::State::Finished;
  Result<std::shared_ptr<Instance>> nested = std::shared_ptr<Instance>();
  linker.define({"env",
                 "reenter",
                 {{}, {}},
                 [&](HostCall&, std::span<const Value>, std::span<Value>) -> Result<void> {
                   resumed = other->resume();
                   nested = store->instantiate(*module_to_instantiate, linker);
                   return {};
                 }});
  auto instance = instantiate(R"((module (import "env" "reenter" (func $r))
    (func (export "run") (call $r))
    (func (export "other") (result i32) (i32.const 5))))");
  ASSERT_TRUE(instance);
  module_to_instantiate = engine->load_wat("(module)", "empty.wat").value();
  other = instance->start_call("other", {}).value();
  ASSERT_TRUE(instance->call("run", {}).has_value());
  ASSERT_FALSE(resumed.has_value());
  EXPECT_EQ(resumed.error().code, ErrorCode::CallInProgress);
  ASSERT_FALSE(nested.has_value());
  EXPECT_EQ(nested.error().code, ErrorCode::CallInProgress);
  // Outside, both work.
  EXPECT_EQ(other->resume().value(), Call::State::Finished);
  EXPECT_EQ(other->results()[0].as_i32(), 5);
  EXPECT_TRUE(store->instantiate(*module_to_instantiate, linker).has_value());
}

// Seventeen parameters and nine results: more than the host-call buffers hold
// inline, so the values travel through the heap path.
TEST_F(EngineCoverage, WideHostSignaturesPassEveryValue) {
  FuncSig sig;
  sig.params.assign(17, ValType::I64);
  sig.results.assign(9, ValType::I32);
  linker.define({"env", "wide", sig,
                 [](HostCall&, std::span<const Value> a, std::span<Value> r) -> Result<void> {
                   int64_t sum = 0;
                   for (const auto& v : a) sum += v.as_i64();
                   for (size_t i = 0; i < r.size(); ++i) {
                     r[i] = Value::i32(static_cast<int32_t>(sum * static_cast<int64_t>(i + 1)));
                   }
                   return {};
                 }});
  std::string params, args, results, mix;
  for (int i = 1; i <= 17; ++i) {
    params += " i64";
    args += " (i64.const " + std::to_string(i) + ")";
  }
  for (int i = 0; i < 9; ++i) results += " i32";
  // The nine results folded: r1 - r2 + r3 - ... + r9 taken from the stack.
  auto instance = instantiate("(module (import \"env\" \"wide\" (func $w (param" + params +
                              ") (result" + results + ")))\n (func (export \"run\") (result" +
                              results + ") (call $w" + args + ")))");
  ASSERT_TRUE(instance);
  auto r = instance->call("run", {});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  ASSERT_EQ(r->size(), 9u);
  for (int i = 0; i < 9; ++i) EXPECT_EQ((*r)[i].as_i32(), 153 * (i + 1));
}

TEST_F(EngineCoverage, AHostFunctionReturningTheWrongTypeTrapsTheGuest) {
  linker.define({"env",
                 "liar",
                 {{}, {ValType::I32}},
                 [](HostCall&, std::span<const Value>, std::span<Value> r) -> Result<void> {
                   r[0] = Value::f64(1.0);
                   return {};
                 }});
  auto instance = instantiate(R"((module (import "env" "liar" (func $l (result i32)))
    (func (export "run") (result i32) (call $l))))");
  ASSERT_TRUE(instance);
  auto r = instance->call("run", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InternalError);
  EXPECT_NE(r.error().message.find("wrong type"), std::string::npos);
  EXPECT_FALSE(r.error().backtrace.empty());
  EXPECT_NE(r.error().backtrace.front().find("test.wat!"), std::string::npos)
      << r.error().backtrace.front();
}

// Six calls suspended at once hold six fiber stacks, more than the store keeps
// for reuse; each ends cleanly (two finish, four are cancelled) and the store
// still runs calls afterwards.
TEST_F(EngineCoverage, ManySuspendedCallsEndCleanly) {
  auto instance = instantiate(R"((module
    (func (export "count") (param $n i32) (result i32) (local $i i32)
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
      (local.get $i))))");
  ASSERT_TRUE(instance);
  CallOptions options;
  options.slice = 1'000;
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < 6; ++i) {
    calls.push_back(
        instance->start_call("count", std::vector{Value::i32(100'000)}, options).value());
    EXPECT_EQ(calls.back()->resume().value(), Call::State::Suspended);
  }
  for (int i = 0; i < 2; ++i) {
    Result<Call::State> state = Call::State::Suspended;
    while (state.has_value() && *state == Call::State::Suspended) state = calls[i]->resume();
    ASSERT_TRUE(state.has_value()) << state.error().to_string();
    EXPECT_EQ(calls[i]->results()[0].as_i32(), 100'000);
  }
  calls.clear();
  EXPECT_EQ(instance->call("count", std::vector{Value::i32(10)}).value()[0].as_i32(), 10);
}

// The start function runs before the instance is complete; a host function
// it calls still sees the instance's memory and user data.
TEST_F(EngineCoverage, AHostFunctionCalledByTheStartFunctionSeesMemory) {
  int marker = 0;
  uint32_t seen = 0;
  void* seen_data = nullptr;
  linker.define({"env",
                 "peek",
                 {{}, {}},
                 [&](HostCall& call, std::span<const Value>, std::span<Value>) -> Result<void> {
                   seen_data = call.user_data();
                   auto v = call.read_u32(16);
                   if (!v) return std::unexpected(v.error());
                   seen = *v;
                   return {};
                 }});
  InstanceOptions o;
  o.user_data = &marker;
  auto instance = instantiate(R"((module (import "env" "peek" (func $peek))
    (memory 1)
    (data (i32.const 16) "\2a\00\00\00")
    (func $init (call $peek))
    (start $init)))",
                              o);
  ASSERT_TRUE(instance);
  EXPECT_EQ(seen, 42u);
  EXPECT_EQ(seen_data, &marker);
}

class ForeignModule final : public Module {
 public:
  std::string_view name() const override { return "foreign"; }
  const std::vector<ImportInfo>& imports() const override { return imports_; }
  const std::vector<ExportInfo>& exports() const override { return exports_; }
  Result<void> state_transferable() const override { return {}; }
  const std::vector<std::string>& warnings() const override { return warnings_; }

 private:
  std::vector<std::string> warnings_;
  std::vector<ImportInfo> imports_;
  std::vector<ExportInfo> exports_;
};

TEST_F(EngineCoverage, AModuleFromAnotherBackendIsRefused) {
  ForeignModule foreign;
  auto r = store->instantiate(foreign, linker);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
}

TEST_F(EngineCoverage, AnInstanceOfAnotherStoreCannotBeLinked) {
  auto other_store = engine->new_store();
  auto module =
      engine->load_wat(R"((module (func (export "v") (result i32) (i32.const 1))))", "lib.wat")
          .value();
  auto foreign = other_store->instantiate(*module, linker).value();
  linker.define_instance("lib", foreign);
  auto user = engine->load_wat(R"((module (import "lib" "v" (func (result i32)))))", "u.wat");
  auto r = store->instantiate(**user, linker);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::UnknownImport);
  EXPECT_NE(r.error().message.find("another store"), std::string::npos);
}

}  // namespace
}  // namespace airssys::wasm::engine
