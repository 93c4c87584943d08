// Longer than 900 lines: the engine interface's behaviour on both tiers,
// one fixture for all of it.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>

#include "../support/backtrace.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "tiers.hpp"

namespace airssys::wasm::engine {
namespace {

// Every test runs on both tiers: the native tier must behave as the interpreter.
class EngineTest : public ::testing::TestWithParam<Tier> {
 protected:
  std::unique_ptr<Engine> engine = testing::make_engine(GetParam());
  bool interp() const { return GetParam() == Tier::Interp; }
  std::unique_ptr<Store> store = engine->new_store();
  Linker linker;

  std::shared_ptr<const Module> load(std::string_view wat) {
    auto m = engine->load_wat(wat, "test.wat");
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().to_string());
    return m ? *m : nullptr;
  }

  std::shared_ptr<Instance> instantiate(std::string_view wat, InstanceOptions options = {}) {
    auto m = load(wat);
    if (!m) return nullptr;
    auto i = store->instantiate(*m, linker, options);
    EXPECT_TRUE(i.has_value()) << (i ? "" : i.error().to_string());
    return i ? *i : nullptr;
  }

  Error call_error(Instance& instance, std::string_view name, std::vector<Value> args = {},
                   CallOptions options = {}) {
    auto r = instance.call(name, args, options);
    EXPECT_FALSE(r.has_value()) << name << " unexpectedly returned";
    return r ? Error{} : r.error();
  }
};

constexpr std::string_view kAdd = R"((module
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "pair") (param i64 f64) (result f64 i64) local.get 1 local.get 0))
)";

TEST_P(EngineTest, CallsAnExportWithTypedArgumentsAndResults) {
  auto inst = instantiate(kAdd);
  ASSERT_TRUE(inst);
  auto r = inst->call("add", std::vector{Value::i32(40), Value::i32(2)});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].type(), ValType::I32);
  EXPECT_EQ((*r)[0].as_i32(), 42);

  auto p = inst->call("pair", std::vector{Value::i64(-7), Value::f64(2.5)});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ((*p)[0].as_f64(), 2.5);
  EXPECT_EQ((*p)[1].as_i64(), -7);
  EXPECT_GT(inst->fuel_used(), 0u);
}

TEST_P(EngineTest, ModuleDescribesItsImportsAndExports) {
  auto m = load(R"((module (import "env" "f" (func (param i32) (result i64)))
                   (memory (export "mem") 1) (func (export "g"))))");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->imports().size(), 1u);  // the engine's own imports stay hidden
  EXPECT_EQ(m->imports()[0].module, "env");
  EXPECT_EQ(m->imports()[0].sig.to_string(), "(i32) -> (i64)");
  ASSERT_EQ(m->exports().size(), 2u);
  EXPECT_EQ(m->exports()[0].kind, ExternKind::Memory);
  EXPECT_EQ(m->exports()[1].name, "g");
}

// One engine holds one module per distinct bytes: a second load of the same
// bytes shares the first's code and description (nothing is decoded,
// validated, metered or read from the native cache again), under its own name,
// while each instance keeps its own memory and globals. Once nothing uses the
// module, a load starts from the bytes again.
TEST_P(EngineTest, LoadsOfTheSameBytesShareOneModuleWhileItIsInUse) {
  constexpr std::string_view kCounter = R"((module
    (memory (export "mem") 1)
    (global $g (mut i32) (i32.const 0))
    (func (export "bump") (result i32)
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 10)))
      (i32.add (global.get $g) (i32.load (i32.const 0))))
    (func (export "trap") unreachable))
  )";
  auto first = engine->load_wat(kCounter, "first.wat");
  ASSERT_TRUE(first.has_value()) << first.error().to_string();
  const EngineStats before = engine->stats();
  auto second = engine->load_wat(kCounter, "second.wat");
  ASSERT_TRUE(second.has_value()) << second.error().to_string();
  const EngineStats after = engine->stats();
  EXPECT_EQ(after.shared_loads, before.shared_loads + 1);
  EXPECT_EQ(after.native_compiles, before.native_compiles);
  EXPECT_EQ(after.cache_hits, before.cache_hits);
  EXPECT_EQ((*second)->name(), "second.wat");
  EXPECT_EQ((*second)->exports().size(), (*first)->exports().size());
  // The same name again: the very same module.
  auto again = engine->load_wat(kCounter, "first.wat");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->get(), first->get());

  auto store_a = engine->new_store();
  auto store_b = engine->new_store();
  auto a = store_a->instantiate(**first, linker, {});
  auto b = store_b->instantiate(**second, linker, {});
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ((*a)->call("bump", {}).value()[0].as_i32(), 11);
  EXPECT_EQ((*a)->call("bump", {}).value()[0].as_i32(), 22);
  EXPECT_EQ((*b)->call("bump", {}).value()[0].as_i32(), 11);  // its own memory and global
  // Traps name the module each was loaded as.
  auto ea = (*a)->call("trap", {});
  auto eb = (*b)->call("trap", {});
  ASSERT_FALSE(ea.has_value());
  ASSERT_FALSE(eb.has_value());
  ASSERT_FALSE(ea.error().backtrace.empty());
  ASSERT_FALSE(eb.error().backtrace.empty());
  EXPECT_EQ(ea.error().backtrace[0], "first.wat!func[1]");
  EXPECT_EQ(eb.error().backtrace[0], "second.wat!func[1]");

  // Different bytes are never shared.
  auto different = engine->load_wat(kAdd, "first.wat");
  ASSERT_TRUE(different.has_value());
  EXPECT_EQ(engine->stats().shared_loads, after.shared_loads + 1);  // only `again`
  EXPECT_NE((*different)->exports().size(), (*first)->exports().size());

  // Released by everything that used it: the next load starts afresh.
  a->reset();
  b->reset();
  store_a.reset();
  store_b.reset();
  first->reset();
  second->reset();
  again->reset();
  const EngineStats released = engine->stats();
  auto fresh = engine->load_wat(kCounter, "first.wat");
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(engine->stats().shared_loads, released.shared_loads);
  if (!interp()) {
    EXPECT_EQ(engine->stats().cache_hits, released.cache_hits + 1);
  }
}

TEST_P(EngineTest, WrongArgumentsAndMissingExportsAreUsageErrors) {
  auto inst = instantiate(kAdd);
  ASSERT_TRUE(inst);
  auto e = call_error(*inst, "add", {Value::i32(1)});
  EXPECT_EQ(e.code, ErrorCode::SignatureMismatch);
  EXPECT_NE(e.message.find("(i32, i32)"), std::string::npos) << e.message;
  e = call_error(*inst, "add", {Value::i64(1), Value::i32(2)});
  EXPECT_EQ(e.code, ErrorCode::SignatureMismatch);
  e = call_error(*inst, "nope");
  EXPECT_EQ(e.code, ErrorCode::MissingExport);
  EXPECT_NE(e.message.find("nope"), std::string::npos);
}

TEST_P(EngineTest, GarbageAndTruncatedBinariesAreMalformed) {
  std::vector<uint8_t> garbage = {'h', 'e', 'l', 'l', 'o', 0, 1, 2};
  auto r = engine->load(garbage, "garbage.wasm");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::MalformedModule);
  EXPECT_NE(r.error().message.find("garbage.wasm"), std::string::npos);

  std::vector<uint8_t> truncated = {0, 'a', 's', 'm', 1, 0, 0, 0, 1, 5, 1, 0x60};
  r = engine->load(truncated, "t.wasm");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::MalformedModule);
  EXPECT_NE(r.error().message.find("0x"), std::string::npos) << r.error().message;

  r = engine->load({}, "empty.wasm");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::MalformedModule);
}

TEST_P(EngineTest, InvalidModulesCarryTheByteOffset) {
  // (func (result i32) i64.const 0): type mismatch at the end of the body.
  std::vector<uint8_t> bytes = {0, 'a', 's', 'm', 1, 0, 0, 0,  1,    5, 1, 0x60, 0, 1,
                                0x7f, 3, 2, 1, 0, 10, 6, 1, 4, 0, 0x42, 0, 0x0b};
  auto r = engine->load(bytes, "bad.wasm");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidModule);
  EXPECT_NE(r.error().message.find("bad.wasm:0x"), std::string::npos) << r.error().message;
}

TEST_P(EngineTest, WatErrorsCarryTheLine) {
  auto r = engine->load_wat("(module\n  (func (export \"f\")\n    i32.add oops))", "x.wat");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::WatSyntax);
  EXPECT_NE(r.error().message.find("x.wat:3:"), std::string::npos) << r.error().message;

  r = engine->load_wat("(module (func (result i32) i64.const 1))", "y.wat");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidModule);
  EXPECT_NE(r.error().message.find("y.wat:1:"), std::string::npos) << r.error().message;
}

TEST_P(EngineTest, ImportsOfTheEngineModuleAreRefused) {
  auto r = engine->load_wat(R"((module (import "airssys:engine" "fuel" (global (mut i64)))))",
                            "sneaky.wat");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::ReservedImport);
}

TEST_P(EngineTest, MissingAndMistypedImportsAreLinkErrorsNamingTheImport) {
  auto m = load(R"((module (import "env" "log" (func (param i32)))))");
  ASSERT_TRUE(m);
  auto r = store->instantiate(*m, linker);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::UnknownImport);
  EXPECT_NE(r.error().message.find("'env'.'log'"), std::string::npos) << r.error().message;

  linker.define({"env", "log", {{ValType::I64}, {}}, [](HostCall&, auto, auto) -> Result<void> {
                   return {};
                 }});
  r = store->instantiate(*m, linker);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::IncompatibleImport);
  EXPECT_NE(r.error().message.find("(i64) -> ()"), std::string::npos) << r.error().message;
}

TEST_P(EngineTest, HostFunctionsReadAndWriteGuestMemoryThroughCheckedSpans) {
  std::string seen;
  int user = 7;
  linker.define({"env", "upper", {{ValType::I32, ValType::I32}, {ValType::I32}},
                 [&](HostCall& call, std::span<const Value> args, std::span<Value> results)
                     -> Result<void> {
                   EXPECT_EQ(call.user_data(), &user);
                   auto bytes = call.memory(static_cast<uint32_t>(args[0].as_i32()),
                                            static_cast<uint32_t>(args[1].as_i32()));
                   if (!bytes) return std::unexpected(bytes.error());
                   seen.assign(bytes->begin(), bytes->end());
                   for (auto& b : *bytes) b = static_cast<uint8_t>(std::toupper(b));
                   results[0] = Value::i32(static_cast<int32_t>(bytes->size()));
                   return {};
                 }});
  InstanceOptions options;
  options.user_data = &user;
  auto inst = instantiate(R"((module
    (import "env" "upper" (func $upper (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "hello")
    (func (export "run") (param i32 i32) (result i32) local.get 0 local.get 1 call $upper)
    (func (export "byte") (param i32) (result i32) local.get 0 i32.load8_u)))",
                          options);
  ASSERT_TRUE(inst);
  auto r = inst->call("run", std::vector{Value::i32(16), Value::i32(5)});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ((*r)[0].as_i32(), 5);
  EXPECT_EQ(seen, "hello");
  EXPECT_EQ(inst->call("byte", std::vector{Value::i32(16)}).value()[0].as_i32(), 'H');

  // Past the end, and a range whose end wraps around 32 and 64 bits.
  for (auto [ptr, len] : {std::pair{65535, 2}, std::pair{-1, 2}, std::pair{16, -1},
                          std::pair{65536, 1}}) {
    auto e = call_error(*inst, "run", {Value::i32(ptr), Value::i32(len)});
    EXPECT_EQ(e.code, ErrorCode::TrapMemoryOutOfBounds) << ptr << "+" << len;
  }
  // The boundary itself is fine: the last byte, and an empty range at the very end.
  EXPECT_TRUE(inst->call("run", std::vector{Value::i32(65536 - 1), Value::i32(1)}).has_value());
  EXPECT_TRUE(inst->call("run", std::vector{Value::i32(65536), Value::i32(0)}).has_value());
}

TEST_P(EngineTest, AHostErrorReachesTheCallerUnchangedWithABacktrace) {
  linker.define({"wasi", "exit", {{ValType::I32}, {}},
                 [](HostCall&, std::span<const Value> args, auto) -> Result<void> {
                   Error e{ErrorCode::ProcExit, "exit", {}, args[0].as_i32()};
                   return std::unexpected(e);
                 }});
  auto inst = instantiate(R"((module
    (import "wasi" "exit" (func $exit (param i32)))
    (func $leave (export "leave") i32.const 3 call $exit unreachable)
    (func (export "outer") call $leave)))");
  ASSERT_TRUE(inst);
  auto e = call_error(*inst, "outer");
  EXPECT_EQ(e.code, ErrorCode::ProcExit);
  EXPECT_EQ(e.exit_status, 3);
  if (interp()) {
    ASSERT_GE(e.backtrace.size(), 2u);
    EXPECT_EQ(e.backtrace[0], "test.wat!leave");
  } else {
    // Native code shows the frames the C compiler kept: a function inlined
    // into its caller is shown as the caller (docs/design.md).
    wasm::testing::expect_frames_within(e, {"test.wat!leave", "test.wat!func[2]"}, "test.wat!func[2]");
  }
  // The instance stays usable after a trap.
  EXPECT_EQ(call_error(*inst, "leave").exit_status, 3);
}

struct TrapCase {
  const char* name;
  ErrorCode code;
};

TEST_P(EngineTest, EveryTrapIsTyped) {
  auto inst = instantiate(R"((module
    (type $v (func))
    (table 2 funcref) (elem (i32.const 0) $unreach)
    (memory 1)
    (func $unreach (export "unreachable") unreachable)
    (func (export "div0") (result i32) i32.const 1 i32.const 0 i32.div_s)
    (func (export "overflow") (result i32) i32.const 0x80000000 i32.const -1 i32.div_s)
    (func (export "conversion") (result i32) f32.const nan i32.trunc_f32_s)
    (func (export "oob") (result i32) i32.const 65536 i32.load)
    (func (export "table_oob") i32.const 5 call_indirect (type $v))
    (func (export "uninit") i32.const 1 call_indirect (type $v))
    (func (export "mismatch") (result i32) i32.const 0 call_indirect (result i32))
    (func $deep (export "deep") call $deep)))");
  ASSERT_TRUE(inst);
  for (auto [name, code] : std::initializer_list<TrapCase>{
           {"unreachable", ErrorCode::TrapUnreachable},
           {"div0", ErrorCode::TrapDivideByZero},
           {"overflow", ErrorCode::TrapIntegerOverflow},
           {"conversion", ErrorCode::TrapInvalidConversion},
           {"oob", ErrorCode::TrapMemoryOutOfBounds},
           {"table_oob", ErrorCode::TrapTableOutOfBounds},
           {"uninit", ErrorCode::TrapUninitializedElement},
           {"mismatch", ErrorCode::TrapIndirectCallMismatch},
           {"deep", ErrorCode::TrapCallStackExhausted},
       }) {
    auto e = call_error(*inst, name);
    EXPECT_EQ(e.code, code) << name << ": " << e.to_string();
    EXPECT_TRUE(e.is_trap()) << name;
  }
  auto e = call_error(*inst, "unreachable");
  ASSERT_FALSE(e.backtrace.empty());
  EXPECT_EQ(e.backtrace[0], "test.wat!unreach");
  // Every frame of a trap in a module named in the backtrace, on both tiers.
  for (const char* name : {"div0", "oob", "table_oob", "mismatch"}) {
    auto trapped = call_error(*inst, name);
    ASSERT_EQ(trapped.backtrace.size(), 1u) << name << ": " << trapped.to_string();
    EXPECT_NE(trapped.backtrace[0].find("test.wat!func["), std::string::npos)
        << name << ": " << trapped.backtrace[0];
  }
}

TEST_P(EngineTest, RecursionThroughCallIndirectStopsAtTheFullStack) {
  auto inst = instantiate(R"((module
    (type $v (func)) (type $r (func (result i32)))
    (table funcref (elem $deep $seven))
    (global $after (export "after") (mut i32) (i32.const 0))
    (func $deep (export "deep")
      i32.const 0 call_indirect (type $v)
      global.get $after i32.const 1 i32.add global.set $after)
    (func $seven (result i32) i32.const 7)
    (func (export "seven") (result i32) i32.const 1 call_indirect (type $r))))");
  ASSERT_TRUE(inst);
  auto e = call_error(*inst, "deep");
  EXPECT_EQ(e.code, ErrorCode::TrapCallStackExhausted) << e.to_string();
  // Nothing after the call that found the stack full ran, in any frame.
  EXPECT_EQ(inst->global("after").value().as_i32(), 0);
  EXPECT_EQ(inst->call("seven", {}).value()[0].as_i32(), 7);
}

TEST_P(EngineTest, PassiveSegmentsNeedNoTableOrMemory) {
  auto inst = instantiate(R"((module (data $d "abc") (elem $e funcref (ref.func $f))
    (func $f (export "f") data.drop $d elem.drop $e)))");
  ASSERT_TRUE(inst);
  EXPECT_TRUE(inst->call("f", {}).has_value());
  EXPECT_EQ(inst->memory_bytes(), 0u);
}

constexpr std::string_view kLoops = R"((module
  (func (export "forever") (loop $l (br $l)))
  (func $rec (export "recurse") (param i32) (result i32)
    local.get 0 i32.eqz if (result i32) i32.const 0
    else local.get 0 i32.const 1 i32.sub call $rec i32.const 1 i32.add end)
  (func (export "count") (param i32) (result i32) (local i32)
    (loop $l
      local.get 1 i32.const 1 i32.add local.set 1
      local.get 1 local.get 0 i32.lt_u br_if $l)
    local.get 1))
)";

TEST_P(EngineTest, AnEndlessLoopStopsWithTheOutOfFuelTrap) {
  auto inst = instantiate(kLoops);
  ASSERT_TRUE(inst);
  CallOptions options;
  options.fuel = 1'000'000;
  options.slice = 10'000;
  auto e = call_error(*inst, "forever", {}, options);
  EXPECT_EQ(e.code, ErrorCode::TrapOutOfFuel) << e.to_string();
  EXPECT_GE(inst->fuel_used(), 1'000'000u);
  EXPECT_LT(inst->fuel_used(), 1'000'100u);
  ASSERT_FALSE(e.backtrace.empty());
  EXPECT_EQ(e.backtrace[0], "test.wat!func[0]");
}

TEST_P(EngineTest, RecursionWithoutLoopsIsMeteredToo) {
  auto inst = instantiate(kLoops);
  ASSERT_TRUE(inst);
  CallOptions options;
  options.fuel = 2'000;
  auto e = call_error(*inst, "recurse", {Value::i32(1000)}, options);
  EXPECT_EQ(e.code, ErrorCode::TrapOutOfFuel) << e.to_string();
  auto ok = inst->call("recurse", std::vector{Value::i32(100)});
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ((*ok)[0].as_i32(), 100);
}

TEST_P(EngineTest, FuelIsCountedPerInstructionAndAcrossSlices) {
  auto inst = instantiate(kLoops);
  ASSERT_TRUE(inst);
  auto before = inst->fuel_used();
  CallOptions options;
  options.slice = 1'000;  // many refills in a synchronous call
  auto r = inst->call("count", std::vector{Value::i32(10'000)}, options);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ((*r)[0].as_i32(), 10'000);
  auto used = inst->fuel_used() - before;
  // 8 instructions per iteration plus the metering check's own count.
  EXPECT_GE(used, 80'000u);
  EXPECT_LE(used, 120'000u);
}

TEST_P(EngineTest, ACallSuspendsAtEverySliceAndResumesToTheEnd) {
  auto inst = instantiate(kLoops);
  ASSERT_TRUE(inst);
  CallOptions options;
  options.slice = 10'000;
  auto call = inst->start_call("count", std::vector{Value::i32(100'000)}, options);
  ASSERT_TRUE(call.has_value()) << call.error().to_string();
  int suspensions = 0;
  for (;;) {
    auto state = (*call)->resume();
    ASSERT_TRUE(state.has_value()) << state.error().to_string();
    if (*state == Call::State::Finished) break;
    ++suspensions;
    ASSERT_LT(suspensions, 1000);
  }
  EXPECT_GE(suspensions, 80);
  EXPECT_LE(suspensions, 120);
  ASSERT_EQ((*call)->results().size(), 1u);
  EXPECT_EQ((*call)->results()[0].as_i32(), 100'000);
  EXPECT_GE((*call)->fuel_used(), 800'000u);
}

TEST_P(EngineTest, SetSliceChangesTheFuelOfTheSlicesThatFollow) {
  auto inst = instantiate(kLoops);
  ASSERT_TRUE(inst);
  CallOptions options;
  options.slice = 50'000;
  auto call = inst->start_call("count", std::vector{Value::i32(100'000)}, options).value();
  // A short first slice, as a scheduler gives a call that starts late in a step.
  call->set_slice(2'000);
  ASSERT_EQ(call->resume().value(), Call::State::Suspended);
  const uint64_t first = call->fuel_used();
  EXPECT_GE(first, 2'000u);
  EXPECT_LT(first, 2'100u);
  // Back to long slices: the next one burns about 50k.
  call->set_slice(50'000);
  ASSERT_EQ(call->resume().value(), Call::State::Suspended);
  const uint64_t second = call->fuel_used() - first;
  EXPECT_GE(second, 50'000u);
  EXPECT_LT(second, 50'100u);
  // Zero counts as one: the call still makes progress.
  call->set_slice(0);
  ASSERT_EQ(call->resume().value(), Call::State::Suspended);
  EXPECT_GT(call->fuel_used(), first + second);
  call->set_slice(kUnlimitedFuel);
  ASSERT_EQ(call->resume().value(), Call::State::Finished);
  EXPECT_EQ(call->results()[0].as_i32(), 100'000);
}

TEST_P(EngineTest, CallsAfterATrappedCallStartFromACleanState) {
  auto inst = instantiate(kLoops);
  ASSERT_TRUE(inst);
  for (int round = 0; round < 3; ++round) {
    CallOptions options;
    options.fuel = 5'000;
    auto trapped = inst->start_call("forever", {}, options).value();
    Result<Call::State> state;
    do {
      state = trapped->resume();
    } while (state.has_value() && *state == Call::State::Suspended);
    ASSERT_FALSE(state.has_value());
    EXPECT_EQ(state.error().code, ErrorCode::TrapOutOfFuel);
    for (int i = 0; i < 3; ++i) {
      auto call = inst->start_call("count", std::vector{Value::i32(1'000 + i)}).value();
      ASSERT_EQ(call->resume().value(), Call::State::Finished);
      EXPECT_EQ(call->results()[0].as_i32(), 1'000 + i);
    }
  }
}

TEST_P(EngineTest, SuspendedCallsInterleaveAndMoveBetweenThreads) {
  auto inst = instantiate(kLoops);
  ASSERT_TRUE(inst);
  CallOptions options;
  options.slice = 5'000;
  auto a = inst->start_call("count", std::vector{Value::i32(50'000)}, options).value();
  auto b = inst->start_call("count", std::vector{Value::i32(20'000)}, options).value();
  bool a_done = false, b_done = false;
  int turn = 0;
  while (!a_done || !b_done) {
    // Alternate worker threads the way a scheduler would.
    std::thread worker([&] {
      if (!a_done) a_done = a->resume().value() == Call::State::Finished;
      if (!b_done) b_done = b->resume().value() == Call::State::Finished;
    });
    worker.join();
    ASSERT_LT(++turn, 10'000);
  }
  EXPECT_EQ(a->results()[0].as_i32(), 50'000);
  EXPECT_EQ(b->results()[0].as_i32(), 20'000);
}

TEST_P(EngineTest, ASuspendedCallRunsOutOfFuelAsATrap) {
  auto inst = instantiate(kLoops);
  ASSERT_TRUE(inst);
  CallOptions options;
  options.fuel = 100'000;
  options.slice = 10'000;
  auto call = inst->start_call("forever", {}, options).value();
  Result<Call::State> state;
  int slices = 0;
  do {
    state = call->resume();
    ++slices;
  } while (state.has_value() && *state == Call::State::Suspended && slices < 1000);
  ASSERT_FALSE(state.has_value());
  EXPECT_EQ(state.error().code, ErrorCode::TrapOutOfFuel);
  EXPECT_EQ(slices, 10);
  // Resuming a finished call repeats its outcome.
  EXPECT_EQ(call->resume().error().code, ErrorCode::TrapOutOfFuel);
}

TEST_P(EngineTest, DestroyingASuspendedCallCancelsItAndTheStoreStaysUsable) {
  auto inst = instantiate(kLoops);
  ASSERT_TRUE(inst);
  {
    CallOptions options;
    options.slice = 1'000;
    auto call = inst->start_call("forever", {}, options).value();
    ASSERT_EQ(call->resume().value(), Call::State::Suspended);
    ASSERT_EQ(call->resume().value(), Call::State::Suspended);
  }
  auto r = inst->call("count", std::vector{Value::i32(10)});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ((*r)[0].as_i32(), 10);
}

TEST_P(EngineTest, MemoryGrowPastTheCapReturnsMinusOne) {
  InstanceOptions options;
  options.limits.max_memory_bytes = 4 * kWasmPageSize;
  auto inst = instantiate(R"((module (memory (export "memory") 1)
    (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)))",
                          options);
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->call("grow", std::vector{Value::i32(2)}).value()[0].as_i32(), 1);
  EXPECT_EQ(inst->memory_bytes(), 3 * kWasmPageSize);
  EXPECT_EQ(inst->call("grow", std::vector{Value::i32(2)}).value()[0].as_i32(), -1);
  EXPECT_EQ(inst->call("grow", std::vector{Value::i32(1)}).value()[0].as_i32(), 3);
  EXPECT_EQ(inst->call("grow", std::vector{Value::i32(1)}).value()[0].as_i32(), -1);
  EXPECT_EQ(inst->memory_bytes(), 4 * kWasmPageSize);
}

// A bulk instruction costs in proportion to its length: one memory.fill of
// 1 MiB is charged 16384 units (one per 64 bytes), so a loop of them cannot
// hide seconds of work behind a few units of fuel per iteration.
TEST_P(EngineTest, BulkMemoryAndTableInstructionsAreChargedByLength) {
  auto inst = instantiate(R"((module (memory 16) (table 4096 funcref)
    (func (export "fill") (param i32) (memory.fill (i32.const 0) (i32.const 7) (local.get 0)))
    (func (export "copy") (param i32)
      (memory.copy (i32.const 0) (i32.const 65536) (local.get 0)))
    (func (export "tfill") (param i32) (table.fill 0 (i32.const 0) (ref.null func) (local.get 0)))
    (func (export "loop") (param i32)
      (loop $l
        (memory.fill (i32.const 0) (i32.const 1) (i32.const 1048576))
        (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))))))");
  ASSERT_TRUE(inst);
  auto fuel_of = [&](const char* name, int32_t arg) {
    const uint64_t before = inst->fuel_used();
    EXPECT_TRUE(inst->call(name, std::vector{Value::i32(arg)}).has_value()) << name;
    return inst->fuel_used() - before;
  };
  const uint64_t small = fuel_of("fill", 0);
  EXPECT_GE(fuel_of("fill", 1 << 20) - small, 16384u);
  EXPECT_GE(fuel_of("copy", 1 << 19) - small, 8192u);
  EXPECT_GE(fuel_of("tfill", 4096) - small, 1024u);
  // Past the budget, the loop of 1 MiB fills ends in an out-of-fuel trap after
  // a handful of iterations instead of a thousand.
  CallOptions options;
  options.fuel = 100'000;
  auto r = inst->call("loop", std::vector{Value::i32(1000)}, options);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::TrapOutOfFuel);
  // Byte 0 still holds 1 from the fills that ran: the semantics are unchanged.
  EXPECT_EQ(inst->read_memory(0, 1).value()[0], 1);
}

// An instance without memory reads and writes an empty range at 0 as nothing
// and refuses every other range (regression: both tiers dereferenced the
// missing memory for the empty range).
TEST_P(EngineTest, AnInstanceWithoutMemoryTakesTheEmptyRangeAndRefusesAnyOther) {
  auto inst = instantiate(kAdd);
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->memory_bytes(), 0u);
  auto read = inst->read_memory(0, 0);
  ASSERT_TRUE(read.has_value()) << read.error().to_string();
  EXPECT_TRUE(read->empty());
  EXPECT_TRUE(inst->write_memory(0, {}).has_value());
  EXPECT_EQ(inst->read_memory(0, 1).error().code, ErrorCode::TrapMemoryOutOfBounds);
  EXPECT_EQ(inst->read_memory(1, 0).error().code, ErrorCode::TrapMemoryOutOfBounds);
  const std::vector<uint8_t> one{7};
  EXPECT_EQ(inst->write_memory(0, one).error().code, ErrorCode::TrapMemoryOutOfBounds);
}

TEST_P(EngineTest, EveryMemoryGrowIsReportedToTheHook) {
  std::vector<MemoryGrowEvent> events;
  InstanceOptions options;
  options.limits.max_memory_bytes = 4 * kWasmPageSize;
  options.on_memory_grow = [&](const MemoryGrowEvent& e) { events.push_back(e); };
  // The grow sits in a named function with a trap after it, so the
  // backtrace shows that the frame names survive the rewritten imports.
  linker.define({"env", "nop", {{}, {}}, [](HostCall&, auto, auto) -> Result<void> { return {}; }});
  auto inst = instantiate(R"((module (import "env" "nop" (func $nop)) (memory 1 3)
    (func $grow_then (export "grow") (param i32) (param i32) (result i32)
      local.get 0 memory.grow
      local.get 1 if unreachable end)
    (func (export "size") (result i32) memory.size)))",
                          options);
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->call("grow", std::vector{Value::i32(1), Value::i32(0)}).value()[0].as_i32(), 1);
  EXPECT_EQ(inst->call("grow", std::vector{Value::i32(2), Value::i32(0)}).value()[0].as_i32(), -1);
  EXPECT_EQ(inst->call("grow", std::vector{Value::i32(0), Value::i32(0)}).value()[0].as_i32(), 2);
  EXPECT_EQ(inst->call("size", {}).value()[0].as_i32(), 2);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_TRUE(events[0].granted);
  EXPECT_EQ(events[0].old_bytes, 1 * kWasmPageSize);
  EXPECT_EQ(events[0].requested_bytes, 2 * kWasmPageSize);
  EXPECT_EQ(events[0].limit_bytes, 3 * kWasmPageSize);  // the module's own maximum binds first
  EXPECT_FALSE(events[1].granted);
  EXPECT_EQ(events[1].old_bytes, 2 * kWasmPageSize);
  EXPECT_EQ(events[1].requested_bytes, 4 * kWasmPageSize);
  EXPECT_TRUE(events[2].granted);
  auto trapped = inst->call("grow", std::vector{Value::i32(0), Value::i32(1)});
  ASSERT_FALSE(trapped);
  EXPECT_EQ(trapped.error().code, ErrorCode::TrapUnreachable);
  ASSERT_FALSE(trapped.error().backtrace.empty());
  EXPECT_NE(trapped.error().backtrace[0].find("grow_then"), std::string::npos)
      << trapped.error().backtrace[0];
}

TEST_P(EngineTest, InitialMemoryOverTheCapRefusesToInstantiate) {
  auto m = load("(module (memory 20))");
  ASSERT_TRUE(m);
  InstanceOptions options;
  options.limits.max_memory_bytes = 1 * MiB;  // 16 pages
  auto r = store->instantiate(*m, linker, options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::LimitExceeded);
  EXPECT_NE(r.error().message.find("20 pages"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("1 MiB"), std::string::npos) << r.error().message;
}

TEST_P(EngineTest, HugeTablesAreRefused) {
  auto m = load("(module (table 100000 funcref))");
  ASSERT_TRUE(m);
  InstanceOptions options;
  options.limits.max_table_elements = 1000;
  auto r = store->instantiate(*m, linker, options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::LimitExceeded);
}

TEST_P(EngineTest, AStartFunctionThatTrapsOrNeverEndsFailsInstantiation) {
  auto m = load("(module (func $s unreachable) (start $s))");
  ASSERT_TRUE(m);
  auto r = store->instantiate(*m, linker);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapUnreachable);

  m = load("(module (func $s (loop $l (br $l))) (start $s))");
  ASSERT_TRUE(m);
  InstanceOptions options;
  options.start_fuel = 100'000;
  r = store->instantiate(*m, linker, options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapOutOfFuel);
}

TEST_P(EngineTest, InstancesOfOneModuleAreIndependent) {
  auto m = load(R"((module (global $g (mut i32) (i32.const 0)) (memory 1)
    (func (export "bump") (result i32)
      global.get $g i32.const 1 i32.add global.set $g
      i32.const 0 i32.const 0 i32.load i32.const 10 i32.add i32.store
      global.get $g)
    (func (export "peek") (result i32) i32.const 0 i32.load)))");
  ASSERT_TRUE(m);
  auto store2 = engine->new_store();
  auto a = store->instantiate(*m, linker).value();
  auto b = store2->instantiate(*m, linker).value();
  auto c = store->instantiate(*m, linker).value();
  EXPECT_EQ(a->call("bump", {}).value()[0].as_i32(), 1);
  EXPECT_EQ(a->call("bump", {}).value()[0].as_i32(), 2);
  EXPECT_EQ(b->call("bump", {}).value()[0].as_i32(), 1);
  EXPECT_EQ(c->call("bump", {}).value()[0].as_i32(), 1);
  EXPECT_EQ(a->call("peek", {}).value()[0].as_i32(), 20);
  EXPECT_EQ(b->call("peek", {}).value()[0].as_i32(), 10);
}

TEST_P(EngineTest, InstancesLinkToEachOthersExportsWithinAStore) {
  auto provider = instantiate(R"((module (global (export "g") i32 (i32.const 666))
    (func (export "twice") (param i32) (result i32) local.get 0 i32.const 2 i32.mul)))");
  ASSERT_TRUE(provider);
  linker.define_instance("lib", provider);
  auto user = instantiate(R"((module (import "lib" "twice" (func $t (param i32) (result i32)))
    (import "lib" "g" (global $g i32))
    (func (export "f") (result i32) global.get $g call $t)))");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->call("f", {}).value()[0].as_i32(), 1332);
  EXPECT_EQ(provider->global("g").value().as_i32(), 666);

  auto other = engine->new_store();
  auto m = load(R"((module (import "lib" "twice" (func (param i32) (result i32)))))");
  auto r = other->instantiate(*m, linker);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::UnknownImport);
}

TEST_P(EngineTest, OneModuleNameServesAnInstanceAndHostFunctions) {
  auto provider = instantiate(R"((module (global (export "g") i32 (i32.const 40))
    (func (export "shadowed") (result i32) i32.const 1)))");
  ASSERT_TRUE(provider);
  linker.define_instance("lib", provider);
  auto constant = [](int32_t v) {
    return [v](HostCall&, auto, std::span<Value> results) -> Result<void> {
      results[0] = Value::i32(v);
      return {};
    };
  };
  linker.define({"lib", "two", {{}, {ValType::I32}}, constant(2)});
  linker.define({"lib", "shadowed", {{}, {ValType::I32}}, constant(100)});
  auto user = instantiate(R"((module (import "lib" "g" (global $g i32))
    (import "lib" "two" (func $two (result i32)))
    (import "lib" "shadowed" (func $shadowed (result i32)))
    (func (export "f") (result i32) global.get $g call $two i32.add call $shadowed i32.add)))");
  ASSERT_TRUE(user);
  // The instance's export wins over the host function of the same name.
  EXPECT_EQ(user->call("f", {}).value()[0].as_i32(), 43);

  // A name neither provides is still an unknown import.
  auto m = load(R"((module (import "lib" "three" (func (result i32)))))");
  ASSERT_TRUE(m);
  auto r = store->instantiate(*m, linker);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::UnknownImport);
  EXPECT_NE(r.error().message.find("'lib'.'three'"), std::string::npos) << r.error().message;
}

TEST_P(EngineTest, ARunningCallRefusesReentry) {
  std::shared_ptr<Instance> self;
  linker.define({"env", "again", {{}, {}}, [&](HostCall&, auto, auto) -> Result<void> {
                   auto r = self->call("f", {});
                   if (!r) return std::unexpected(r.error());
                   return {};
                 }});
  self = instantiate(R"((module (import "env" "again" (func $a)) (func (export "f") call $a)))");
  ASSERT_TRUE(self);
  EXPECT_EQ(call_error(*self, "f").code, ErrorCode::CallInProgress);
  self.reset();
}

// Typed host functions (host_function<F>): the native tier's compiled code
// calls them directly. Every number type, floats by bit pattern (a NaN payload
// survives), unsigned types as the same wasm integers.
Result<double> typed_mix(HostCall&, int32_t a, uint64_t b, float c, double d) {
  if (!std::isnan(c)) return make_error(ErrorCode::InternalError, "c is not a NaN");
  return d + static_cast<double>(a) + static_cast<double>(b);
}
Result<float> typed_nan(HostCall&, float f) { return f; }
Result<uint32_t> typed_wrap(HostCall&, uint32_t a, int64_t b) {
  return a + static_cast<uint32_t>(b);
}

TEST_P(EngineTest, ATypedHostFunctionPassesEveryNumberType) {
  linker.define(host_function<typed_mix>("env", "mix"));
  linker.define(host_function<typed_nan>("env", "nan"));
  linker.define(host_function<typed_wrap>("env", "wrap"));
  EXPECT_EQ(linker.find_function("env", "mix")->sig.to_string(), "(i32, i64, f32, f64) -> (f64)");
  auto inst = instantiate(R"((module
    (import "env" "mix" (func $mix (param i32 i64 f32 f64) (result f64)))
    (import "env" "nan" (func $nan (param f32) (result f32)))
    (import "env" "wrap" (func $wrap (param i32 i64) (result i32)))
    (func (export "mix") (param i32 i64 f32 f64) (result f64)
      local.get 0 local.get 1 local.get 2 local.get 3 call $mix)
    (func (export "nan") (param f32) (result f32) local.get 0 call $nan)
    (func (export "wrap") (param i32 i64) (result i32) local.get 0 local.get 1 call $wrap)))");
  ASSERT_TRUE(inst);
  auto r = inst->call("mix", std::vector{Value::i32(-2), Value::i64(1ll << 40),
                                         Value::f32(std::nanf("")), Value::f64(0.5)});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ((*r)[0].as_f64(), 0.5 - 2 + static_cast<double>(1ll << 40));
  const uint32_t payload = 0x7fa0'0001;  // a signalling NaN with a payload
  auto n = inst->call("nan", std::vector{Value::f32_bits(payload)});
  ASSERT_TRUE(n.has_value()) << n.error().to_string();
  EXPECT_EQ((*n)[0].f32_bits(), payload);
  auto w = inst->call("wrap", std::vector{Value::i32(-1), Value::i64(3)});
  ASSERT_TRUE(w.has_value()) << w.error().to_string();
  EXPECT_EQ((*w)[0].as_i32(), 2);
}

// Errors, memory bounds, user_data and the memory a start function sees work
// for typed host functions as for HostFn.
Result<uint32_t> typed_peek(HostCall& call, uint32_t at) {
  if (call.user_data() == nullptr) return make_error(ErrorCode::InternalError, "no user data");
  auto value = call.read_u32(at);
  if (!value) return std::unexpected(value.error());
  return *value + *static_cast<uint32_t*>(call.user_data());
}
Result<void> typed_leave(HostCall&, int32_t status) {
  return std::unexpected(Error{ErrorCode::ProcExit, "exit", {}, status});
}
Result<void> typed_throw(HostCall&) { throw std::runtime_error("from the host"); }

TEST_P(EngineTest, ATypedHostFunctionTrapsWithItsErrorAndChecksMemory) {
  linker.define(host_function<typed_peek>("env", "peek"));
  linker.define(host_function<typed_leave>("env", "leave"));
  linker.define(host_function<typed_throw>("env", "throw"));
  uint32_t user = 1000;
  InstanceOptions options;
  options.user_data = &user;
  // The start function reads memory through the host before the instance is
  // complete.
  auto inst = instantiate(R"((module
    (import "env" "peek" (func $peek (param i32) (result i32)))
    (import "env" "leave" (func $leave (param i32)))
    (import "env" "throw" (func $throw))
    (memory 1)
    (global $first (mut i32) (i32.const 0))
    (data (i32.const 8) "\2a\00\00\00")
    (func $init (global.set $first (call $peek (i32.const 8))))
    (start $init)
    (func (export "first") (result i32) global.get $first)
    (func (export "peek") (param i32) (result i32) local.get 0 call $peek)
    (func (export "leave") (param i32) local.get 0 call $leave unreachable)
    (func (export "throw") call $throw unreachable)))",
                          options);
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->call("first", {}).value()[0].as_i32(), 1042);
  EXPECT_EQ(inst->call("peek", std::vector{Value::i32(8)}).value()[0].as_i32(), 1042);
  EXPECT_EQ(call_error(*inst, "peek", {Value::i32(65533)}).code, ErrorCode::TrapMemoryOutOfBounds);
  EXPECT_EQ(call_error(*inst, "peek", {Value::i32(-1)}).code, ErrorCode::TrapMemoryOutOfBounds);
  auto exit = call_error(*inst, "leave", {Value::i32(7)});
  EXPECT_EQ(exit.code, ErrorCode::ProcExit);
  EXPECT_EQ(exit.exit_status, 7);
  if (!interp()) {  // the interpreter lets a host function's exception through
    auto threw = call_error(*inst, "throw");
    EXPECT_EQ(threw.code, ErrorCode::InternalError);
    EXPECT_NE(threw.message.find("from the host"), std::string::npos) << threw.message;
  }
  // The instance stays usable.
  EXPECT_EQ(inst->call("peek", std::vector{Value::i32(8)}).value()[0].as_i32(), 1042);
}

// A HostFn called by a start function sees the memory being instantiated too.
TEST_P(EngineTest, AHostFunctionCalledByTheStartFunctionSeesItsMemory) {
  uint32_t seen = 0;
  linker.define({"env", "peek", {{ValType::I32}, {ValType::I32}},
                 [&](HostCall& call, std::span<const Value> a, std::span<Value> r) -> Result<void> {
                   auto v = call.read_u32(static_cast<uint32_t>(a[0].as_i32()));
                   if (!v) return std::unexpected(v.error());
                   seen = *v;
                   r[0] = Value::i32(static_cast<int32_t>(call.memory_size()));
                   return {};
                 }});
  auto inst = instantiate(R"((module
    (import "env" "peek" (func $peek (param i32) (result i32)))
    (memory 2)
    (data (i32.const 16) "\2a\00\00\00")
    (func $init (drop (call $peek (i32.const 16))))
    (start $init)))");
  ASSERT_TRUE(inst);
  EXPECT_EQ(seen, 42u);
}

// ... but a host function of an instance without memory, called from another
// instance's start function, sees no memory, not the one being instantiated.
TEST_P(EngineTest, AHostFunctionSeesOnlyItsOwnInstancesMemory) {
  int64_t seen = -1;
  linker.define({"env", "size", {{}, {}},
                 [&](HostCall& call, std::span<const Value>, std::span<Value>) -> Result<void> {
                   seen = static_cast<int64_t>(call.memory_size());
                   return {};
                 }});
  auto plain = instantiate(R"((module
    (import "env" "size" (func $size))
    (func (export "size") call $size)))");
  ASSERT_TRUE(plain);
  linker.define_instance("plain", plain);
  auto inst = instantiate(R"((module
    (import "plain" "size" (func $size))
    (memory 3)
    (func $init call $size)
    (start $init)))");
  ASSERT_TRUE(inst);
  EXPECT_EQ(seen, 0);
}

Result<int32_t> typed_inc(HostCall&, int32_t v) { return v + 1; }

// A guest loop calling a typed host function burns the same fuel on both
// tiers, suspends at every slice and runs out of fuel as a trap.
TEST_P(EngineTest, ATypedHostFunctionInAMeteredLoopSuspendsAndRunsOutOfFuel) {
  linker.define(host_function<typed_inc>("env", "inc"));
  auto inst = instantiate(R"((module
    (import "env" "inc" (func $inc (param i32) (result i32)))
    (func (export "count") (param $n i32) (result i32) (local $i i32) (local $acc i32)
      (loop $l
        (local.set $acc (call $inc (local.get $acc)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
      (local.get $acc))))");
  ASSERT_TRUE(inst);
  CallOptions options;
  options.slice = 10'000;
  auto call = inst->start_call("count", std::vector{Value::i32(20'000)}, options);
  ASSERT_TRUE(call.has_value()) << call.error().to_string();
  int suspensions = 0;
  for (;;) {
    auto state = (*call)->resume();
    ASSERT_TRUE(state.has_value()) << state.error().to_string();
    if (*state == Call::State::Finished) break;
    ASSERT_LT(++suspensions, 1000);
  }
  EXPECT_GE(suspensions, 20);
  EXPECT_EQ((*call)->results()[0].as_i32(), 20'000);
  // The same metering on both tiers: the same count.
  EXPECT_EQ((*call)->fuel_used(), 240'003u);
  CallOptions small;
  small.fuel = 5'000;
  EXPECT_EQ(call_error(*inst, "count", {Value::i32(20'000)}, small).code, ErrorCode::TrapOutOfFuel);
}

// A typed host function with several results is not possible; a HostFn with
// several number results takes the raw-slot path on the native tier.
TEST_P(EngineTest, AHostFnWithSeveralNumberResultsPassesThemAll) {
  linker.define({"env", "swap", {{ValType::F64, ValType::I32}, {ValType::I32, ValType::F64}},
                 [](HostCall&, std::span<const Value> a, std::span<Value> r) -> Result<void> {
                   r[0] = a[1];
                   r[1] = a[0];
                   return {};
                 }});
  auto inst = instantiate(R"((module
    (import "env" "swap" (func $swap (param f64 i32) (result i32 f64)))
    (func (export "swap") (param f64 i32) (result i32 f64) local.get 0 local.get 1 call $swap)))");
  ASSERT_TRUE(inst);
  const uint64_t payload = 0x7ff4'0000'0000'0abcull;
  auto r = inst->call("swap", std::vector{Value::f64_bits(payload), Value::i32(-5)});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ((*r)[0].as_i32(), -5);
  EXPECT_EQ((*r)[1].f64_bits(), payload);
}

INSTANTIATE_TEST_SUITE_P(Tiers, EngineTest, ::testing::Values(Tier::Interp, Tier::Native),
                         testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::engine

namespace airssys::wasm::engine {
namespace {

// Found by fuzz_wat_loader: wabt's parser threw std::length_error on this
// annotation, which would have ended the host.
TEST(WatFuzzRegression, AMalformedAnnotationIsASyntaxErrorNotAnException) {
  auto engine = Engine::interpreter();
  auto r = engine->load_wat(" (memory (@14.constt\"\n", "hostile.wat");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::WatSyntax);
}

}  // namespace
}  // namespace airssys::wasm::engine
