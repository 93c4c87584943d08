// Bounds of linear memory on every engine: the interpreter, and the native
// tier with guard pages (the MMU and the fault handler) and with explicit
// checks. Each access width at the end of a memory, large static offsets,
// grown memories, worker threads, suspended calls and calls across
// instances trap alike, with the same code, message, fuel and backtrace; the
// fault handler leaves every fault it does not own to the process as before.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "../support/backtrace.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "native_guard.hpp"
#include "tiers.hpp"

namespace airssys::wasm::engine {
namespace {

struct Mode {
  Tier tier;
  BoundsChecks checks;
};

std::string mode_name(const ::testing::TestParamInfo<Mode>& info) {
  if (info.param.tier == Tier::Interp) return "Interp";
  return info.param.checks == BoundsChecks::Guard ? "NativeGuard" : "NativeExplicit";
}

std::unique_ptr<Engine> make_engine(Mode mode) {
  if (mode.tier == Tier::Interp) return Engine::interpreter();
  NativeOptions options;
  options.cache_dir = testing::test_cache_dir() / "bounds";
  options.bounds_checks = mode.checks;
  auto engine = Engine::native(options);
  EXPECT_TRUE(engine.has_value()) << (engine ? "" : engine.error().to_string());
  return engine ? std::move(*engine) : nullptr;
}

struct Access {
  const char* op;
  uint32_t size;
  bool store;
  const char* value;  // the stored value's type
};

constexpr Access kAccesses[] = {
    {"i32.load", 4, false, "i32"},     {"i64.load", 8, false, "i64"},
    {"f32.load", 4, false, "f32"},     {"f64.load", 8, false, "f64"},
    {"i32.load8_s", 1, false, "i32"},  {"i32.load8_u", 1, false, "i32"},
    {"i32.load16_s", 2, false, "i32"}, {"i32.load16_u", 2, false, "i32"},
    {"i64.load8_s", 1, false, "i64"},  {"i64.load8_u", 1, false, "i64"},
    {"i64.load16_s", 2, false, "i64"}, {"i64.load16_u", 2, false, "i64"},
    {"i64.load32_s", 4, false, "i64"}, {"i64.load32_u", 4, false, "i64"},
    {"i32.store", 4, true, "i32"},     {"i64.store", 8, true, "i64"},
    {"f32.store", 4, true, "f32"},     {"f64.store", 8, true, "f64"},
    {"i32.store8", 1, true, "i32"},    {"i32.store16", 2, true, "i32"},
    {"i64.store8", 1, true, "i64"},    {"i64.store16", 2, true, "i64"},
    {"i64.store32", 4, true, "i64"},
};

// One export per access and offset: "a<k>" with no static offset, "o<k>"
// with `offset`; each takes the address and returns nothing (a load's value
// is dropped after it is made).
std::string access_module(uint64_t offset, const char* memory = "(memory (export \"mem\") 1 3)") {
  std::string wat = fmt::format("(module {}\n", memory);
  int k = 0;
  for (const auto& a : kAccesses) {
    for (int with_offset = 0; with_offset < 2; ++with_offset) {
      const std::string name = fmt::format("{}{}", with_offset ? "o" : "a", k);
      const std::string off = with_offset ? fmt::format(" offset={}", offset) : "";
      if (a.store) {
        wat += fmt::format(
            "  (func (export \"{}\") (param i32) local.get 0 {}.const 7 {}{})\n", name, a.value,
            a.op, off);
      } else {
        wat += fmt::format("  (func (export \"{}\") (param i32) local.get 0 {}{} drop)\n", name,
                           a.op, off);
      }
    }
    ++k;
  }
  wat += "  (func (export \"grow\") (param i32) (result i32) local.get 0 memory.grow))";
  return wat;
}

class BoundsTest : public ::testing::TestWithParam<Mode> {
 protected:
  std::unique_ptr<Engine> engine = make_engine(GetParam());
  std::unique_ptr<Store> store = engine->new_store();
  Linker linker;

  std::shared_ptr<Instance> instantiate(std::string_view wat, Store* in = nullptr) {
    auto m = engine->load_wat(wat, "bounds.wat");
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().to_string());
    if (!m) return nullptr;
    auto i = (in ? in : store.get())->instantiate(**m, linker);
    EXPECT_TRUE(i.has_value()) << (i ? "" : i.error().to_string());
    return i ? *i : nullptr;
  }

  // "" when the call returns; else the error's code name and message (the
  // interpreter's adds the access after a colon).
  static std::string outcome(Instance& inst, std::string_view name, uint32_t address) {
    auto r = inst.call(name, std::vector{Value::i32(static_cast<int32_t>(address))});
    if (r) return "";
    const std::string& message = r.error().message;
    return fmt::format("{}: {}", error_code_name(r.error().code),
                       message.substr(0, message.find(':')));
  }
};

const std::string kOutOfBounds =
    fmt::format("{}: out of bounds memory access", error_code_name(ErrorCode::TrapMemoryOutOfBounds));

TEST_P(BoundsTest, EveryWidthReachesTheLastByteAndTrapsOnePast) {
  auto inst = instantiate(access_module(0));
  ASSERT_TRUE(inst);
  constexpr uint32_t kEnd = 65536;
  for (size_t k = 0; k < std::size(kAccesses); ++k) {
    const auto& a = kAccesses[k];
    const std::string name = fmt::format("a{}", k);
    SCOPED_TRACE(a.op);
    EXPECT_EQ(outcome(*inst, name, 0), "");
    EXPECT_EQ(outcome(*inst, name, kEnd - a.size), "");
    for (uint32_t past : {kEnd - a.size + 1, kEnd - 1, kEnd, kEnd + 4096, kEnd * 3,
                          0x7fffffffu, 0xfffffff8u, 0xffffffffu}) {
      if (uint64_t{past} + a.size <= kEnd) continue;  // in bounds
      EXPECT_EQ(outcome(*inst, name, past), kOutOfBounds) << past;
    }
  }
  // The instance goes on working after each trap.
  EXPECT_EQ(outcome(*inst, "a0", 100), "");
}

TEST_P(BoundsTest, LargeStaticOffsetsTrapAtTheEndOfWhatTheyCanReach) {
  // An offset that alone stays within the memory, and offsets toward the
  // most a 32-bit address and a 32-bit offset can reach together.
  auto near = instantiate(access_module(65536 - 8));
  ASSERT_TRUE(near);
  auto far = instantiate(access_module(0xfffffff0u));
  ASSERT_TRUE(far);
  auto farthest = instantiate(access_module(0xffffffffu));
  ASSERT_TRUE(farthest);
  for (size_t k = 0; k < std::size(kAccesses); ++k) {
    const auto& a = kAccesses[k];
    const std::string name = fmt::format("o{}", k);
    SCOPED_TRACE(a.op);
    EXPECT_EQ(outcome(*near, name, 8 - a.size), "");
    EXPECT_EQ(outcome(*near, name, 8 - a.size + 1), kOutOfBounds);
    for (uint32_t address : {0u, 16u, 0xffffu, 0x10000u, 0xffffffffu}) {
      EXPECT_EQ(outcome(*far, name, address), kOutOfBounds) << address;
      EXPECT_EQ(outcome(*farthest, name, address), kOutOfBounds) << address;
    }
  }
}

TEST_P(BoundsTest, GrowingMakesThePagesReachableAndNoMore) {
  auto inst = instantiate(access_module(0));
  ASSERT_TRUE(inst);
  // i64.store (index 15): the widest access.
  EXPECT_EQ(outcome(*inst, "a15", 65536), kOutOfBounds);
  ASSERT_EQ(inst->call("grow", std::vector{Value::i32(1)}).value()[0].as_i32(), 1);
  EXPECT_EQ(outcome(*inst, "a15", 65536), "");
  EXPECT_EQ(outcome(*inst, "a15", 2 * 65536 - 8), "");
  EXPECT_EQ(outcome(*inst, "a15", 2 * 65536 - 7), kOutOfBounds);
  EXPECT_EQ(outcome(*inst, "a1", 2 * 65536), kOutOfBounds);
  ASSERT_EQ(inst->call("grow", std::vector{Value::i32(1)}).value()[0].as_i32(), 2);
  EXPECT_EQ(outcome(*inst, "a15", 3 * 65536 - 8), "");
  EXPECT_EQ(outcome(*inst, "a15", 3 * 65536 - 7), kOutOfBounds);
  // Past the maximum (3 pages) nothing grows, and the end stays where it was.
  EXPECT_EQ(inst->call("grow", std::vector{Value::i32(1)}).value()[0].as_i32(), -1);
  EXPECT_EQ(outcome(*inst, "a15", 3 * 65536), kOutOfBounds);
}

TEST_P(BoundsTest, AMemoryWithoutPagesTrapsOnEveryAccess) {
  auto inst = instantiate(access_module(0, "(memory 0 0)"));
  ASSERT_TRUE(inst);
  EXPECT_EQ(outcome(*inst, "a0", 0), kOutOfBounds);
  EXPECT_EQ(outcome(*inst, "a15", 0), kOutOfBounds);
}

// The stores made before a trap stay made: neighbouring narrow stores up to
// the end of the memory are not joined into one that faults as a whole, and
// an earlier store is not put after a later faulting load.
constexpr std::string_view kPartial = R"((module
  (memory (export "mem") 1 1)
  (func (export "bytes") (param i32)
    local.get 0 i32.const 1 i32.store8 offset=0
    local.get 0 i32.const 2 i32.store8 offset=1
    local.get 0 i32.const 3 i32.store8 offset=2
    local.get 0 i32.const 4 i32.store8 offset=3
    local.get 0 i32.const 5 i32.store8 offset=4
    local.get 0 i32.const 6 i32.store8 offset=5
    local.get 0 i32.const 7 i32.store8 offset=6
    local.get 0 i32.const 8 i32.store8 offset=7)
  (func (export "store_then_load") (param i32) (result i32)
    local.get 0 i32.const 0x5a5a5a5a i32.store offset=0
    local.get 0 i32.load offset=65536))
)";

TEST_P(BoundsTest, StoresBeforeTheTrapStayMade) {
  auto inst = instantiate(kPartial);
  ASSERT_TRUE(inst);
  // Eight byte stores from 65532: four fit, the fifth traps.
  EXPECT_EQ(outcome(*inst, "bytes", 65532), kOutOfBounds);
  auto tail = inst->read_memory(65528, 8).value();
  EXPECT_EQ(tail, (std::vector<uint8_t>{0, 0, 0, 0, 1, 2, 3, 4}));
  EXPECT_EQ(outcome(*inst, "store_then_load", 100), kOutOfBounds);
  EXPECT_EQ(inst->read_memory(100, 4).value(), (std::vector<uint8_t>{0x5a, 0x5a, 0x5a, 0x5a}));
}

constexpr std::string_view kNested = R"((module
  (memory (export "mem") 1)
  (func $poke (param i32) (result i32)
    local.get 0 i32.const 42 i32.store
    local.get 0 i32.load)
  (func $middle (export "middle") (param i32) (result i32)
    local.get 0 call $poke i32.const 3 i32.mul)
  (func (export "outer") (param i32) (result i32)
    local.get 0 call $middle i32.const 5 i32.add))
)";

TEST_P(BoundsTest, ATrapNamesTheFaultingFunctionAndItsCallers) {
  auto inst = instantiate(kNested);
  ASSERT_TRUE(inst);
  EXPECT_EQ(inst->call("outer", std::vector{Value::i32(8)}).value()[0].as_i32(), 42 * 3 + 5);
  auto r = inst->call("outer", std::vector{Value::i32(65534)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapMemoryOutOfBounds);
  wasm::testing::expect_frames_within(
      r.error(), {"bounds.wat!poke", "bounds.wat!middle", "bounds.wat!func[2]"},
      "bounds.wat!func[2]");
}

TEST_P(BoundsTest, CallsOnWorkerThreadsTrapAndGoOn) {
  auto m = engine->load_wat(kNested, "bounds.wat").value();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto own = engine->new_store();
      auto inst = own->instantiate(*m, Linker{}).value();
      for (int i = 0; i < 200; ++i) {
        const bool trap = (i + t) % 3 == 0;
        auto r = inst->call("outer", std::vector{Value::i32(trap ? 65533 + t % 3 : 4 * i)});
        if (trap ? (r.has_value() || r.error().code != ErrorCode::TrapMemoryOutOfBounds ||
                    r.error().backtrace.empty())
                 : (!r.has_value() || (*r)[0].as_i32() != 131)) {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

// A loop that runs for many slices and then stores past the end: the fault
// happens on the call's fiber after it was suspended and resumed, on another
// thread than the one it began on, and ends the call with the trap and the
// fuel of an explicit check.
constexpr std::string_view kLongThenFault = R"((module
  (memory (export "mem") 1)
  (func $spin (param i32) (result i32) (local i32)
    block loop
      local.get 1 local.get 0 i32.ge_u br_if 1
      local.get 1 i32.const 1 i32.add local.set 1
      br 0
    end end
    local.get 1)
  (func (export "spin_then_store") (param i32 i32)
    local.get 1 local.get 0 call $spin i32.store))
)";

TEST_P(BoundsTest, ACallResumedOnAnotherThreadTrapsWithTheFuelItUsed) {
  auto inst = instantiate(kLongThenFault);
  ASSERT_TRUE(inst);
  CallOptions options;
  options.slice = 5'000;
  auto call = inst->start_call("spin_then_store", std::vector{Value::i32(20'000), Value::i32(65535)},
                               options);
  ASSERT_TRUE(call.has_value()) << call.error().to_string();
  int suspensions = 0;
  Result<Call::State> state;
  for (;;) {
    // Every other slice on a thread of its own.
    if (suspensions % 2 == 0) {
      std::thread([&] { state = (*call)->resume(); }).join();
    } else {
      state = (*call)->resume();
    }
    if (!state.has_value() || *state == Call::State::Finished) break;
    ++suspensions;
    ASSERT_LT(suspensions, 10'000);
  }
  EXPECT_GE(suspensions, 10);
  ASSERT_FALSE(state.has_value());
  EXPECT_EQ(state.error().code, ErrorCode::TrapMemoryOutOfBounds);
  EXPECT_TRUE(state.error().message.starts_with("out of bounds memory access"))
      << state.error().message;
  // The fuel is the interpreter's: the register's count was written back.
  const uint64_t used = (*call)->fuel_used();
  auto interp = Engine::interpreter();
  auto m = interp->load_wat(kLongThenFault, "bounds.wat").value();
  auto istore = interp->new_store();
  auto reference = istore->instantiate(*m, Linker{}).value();
  auto r = reference->call("spin_then_store", std::vector{Value::i32(20'000), Value::i32(65535)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(used, reference->fuel_used());
  // A synchronous call traps with the same count.
  const uint64_t before = inst->fuel_used();
  EXPECT_FALSE(inst->call("spin_then_store", std::vector{Value::i32(20'000), Value::i32(65535)})
                   .has_value());
  EXPECT_EQ(inst->fuel_used() - before, reference->fuel_used());
}

// Two instances: one calls the other's export, which faults on its own
// memory; another stores into a memory it imports.
TEST_P(BoundsTest, CallsAcrossInstancesTrapInTheInstanceThatFaults) {
  auto provider = instantiate(kNested);
  ASSERT_TRUE(provider);
  linker.define_instance("lib", provider);
  auto user = instantiate(R"((module
    (import "lib" "outer" (func $outer (param i32) (result i32)))
    (import "lib" "mem" (memory 1))
    (func (export "through") (param i32) (result i32)
      local.get 0 call $outer i32.const 1 i32.add)
    (func (export "direct") (param i32) (result i32)
      local.get 0 i32.const 9 i32.store
      local.get 0 i32.load)))");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->call("through", std::vector{Value::i32(0)}).value()[0].as_i32(), 132);
  auto r = user->call("through", std::vector{Value::i32(65535)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapMemoryOutOfBounds);
  ASSERT_FALSE(r.error().backtrace.empty());
  EXPECT_EQ(user->call("direct", std::vector{Value::i32(65532)}).value()[0].as_i32(), 9);
  EXPECT_EQ(outcome(*user, "direct", 65533), kOutOfBounds);
  // Through a host function that calls the provider while the user's call runs.
  auto handle = provider->resolve("outer").value();
  linker.define({"env", "nested", {{ValType::I32}, {ValType::I32}},
                 [&](HostCall& call, std::span<const Value> args,
                     std::span<Value> results) -> Result<void> {
                   auto inner = call.call(*provider, handle, std::vector{args[0]});
                   if (!inner) return std::unexpected(inner.error());
                   results[0] = (*inner)[0];
                   return {};
                 }});
  auto host_user = instantiate(R"((module
    (import "env" "nested" (func $nested (param i32) (result i32)))
    (func (export "run") (param i32) (result i32) local.get 0 call $nested)))");
  ASSERT_TRUE(host_user);
  EXPECT_EQ(host_user->call("run", std::vector{Value::i32(4)}).value()[0].as_i32(), 131);
  EXPECT_EQ(outcome(*host_user, "run", 65535), kOutOfBounds);
  EXPECT_EQ(host_user->call("run", std::vector{Value::i32(4)}).value()[0].as_i32(), 131);
}

INSTANTIATE_TEST_SUITE_P(Engines, BoundsTest,
                         ::testing::Values(Mode{Tier::Interp, BoundsChecks::Explicit},
                                           Mode{Tier::Native, BoundsChecks::Guard},
                                           Mode{Tier::Native, BoundsChecks::Explicit}),
                         mode_name);

// ---------------------------------------------------------------------------
// The guard-page engine's own concerns.

class GuardPagesTest : public ::testing::Test {
 protected:
  std::filesystem::path dir = testing::test_cache_dir() /
                              ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::unique_ptr<Engine> native(BoundsChecks checks) {
    NativeOptions options;
    options.cache_dir = dir;
    options.bounds_checks = checks;
    auto e = Engine::native(options);
    EXPECT_TRUE(e.has_value()) << (e ? "" : e.error().to_string());
    return e ? std::move(*e) : nullptr;
  }
};

TEST_F(GuardPagesTest, GuardPagesAreTheDefaultHere) {
  EXPECT_EQ(NativeOptions{}.bounds_checks, BoundsChecks::Guard);
  EXPECT_TRUE(native::guard_pages_supported());
}

// Code of one choice never serves the other from the cache.
TEST_F(GuardPagesTest, EachChoiceHasCacheEntriesOfItsOwn) {
  const std::string wat = access_module(0);
  for (auto checks : {BoundsChecks::Guard, BoundsChecks::Explicit, BoundsChecks::Guard}) {
    auto e = native(checks);
    ASSERT_TRUE(e);
    auto m = e->load_wat(wat, "bounds.wat");
    ASSERT_TRUE(m.has_value()) << m.error().to_string();
    auto inst = e->new_store()->instantiate(**m, Linker{}).value();
    EXPECT_FALSE(inst->call("a15", std::vector{Value::i32(65536)}).has_value());
  }
  // Compiled twice (once each), then found.
  size_t entries = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() == ".so" && !f.path().filename().string().starts_with(".")) ++entries;
  }
  EXPECT_EQ(entries, 2u);
  auto again = native(BoundsChecks::Explicit);
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->load_wat(wat, "bounds.wat").has_value());
  EXPECT_EQ(again->stats().cache_hits, 1u);
  EXPECT_EQ(again->stats().native_compiles, 0u);
}

// A memory of explicitly checked code is no guard reservation: code without
// checks refuses to import it (the other way round is fine).
TEST_F(GuardPagesTest, GuardPageCodeImportsOnlyGuardPageMemories) {
  auto guard = native(BoundsChecks::Guard);
  auto explicit_checks = native(BoundsChecks::Explicit);
  ASSERT_TRUE(guard && explicit_checks);
  constexpr std::string_view kExporter = R"((module (memory (export "mem") 1)))";
  constexpr std::string_view kImporter = R"((module (import "lib" "mem" (memory 1))
    (func (export "peek") (param i32) (result i32) local.get 0 i32.load)))";
  auto store = guard->new_store();
  for (auto [exporter, importer, ok] :
       {std::tuple{explicit_checks.get(), guard.get(), false},
        std::tuple{guard.get(), explicit_checks.get(), true},
        std::tuple{guard.get(), guard.get(), true}}) {
    auto provider = store->instantiate(*exporter->load_wat(kExporter, "lib.wat").value(), Linker{})
                        .value();
    Linker linker;
    linker.define_instance("lib", provider);
    auto inst = store->instantiate(*importer->load_wat(kImporter, "user.wat").value(), linker);
    EXPECT_EQ(inst.has_value(), ok);
    if (!inst) {
      EXPECT_EQ(inst.error().code, ErrorCode::IncompatibleImport);
      EXPECT_NE(inst.error().message.find("guard-page memory"), std::string::npos)
          << inst.error().message;
    } else {
      EXPECT_EQ((*inst)->call("peek", std::vector{Value::i32(65533)}).error().code,
                ErrorCode::TrapMemoryOutOfBounds);
    }
  }
}

// Ten thousand memories of 8 GiB of address space each, with a page each
// made accessible (two map entries each): what ten thousand idle components
// need of the address space and the kernel's map count.
TEST_F(GuardPagesTest, TenThousandReservationsFit) {
  std::vector<uint8_t*> held;
  held.reserve(10'000);
  for (int k = 0; k < 10'000; ++k) {
    uint8_t* base = native::reserve_memory();
    ASSERT_NE(base, nullptr) << "reservation " << k;
    ASSERT_EQ(::mprotect(base, 65536, PROT_READ | PROT_WRITE), 0) << k;
    base[k] = 1;
    held.push_back(base);
  }
  EXPECT_TRUE(native::is_guard_memory(held.front()));
  for (uint8_t* base : held) native::release_memory(base);
  EXPECT_FALSE(native::is_guard_memory(held.front()));
}

// --- Faults that are not the guest's reach the process as before. Each case
// runs in a child process of its own (the threadsafe death test style
// re-executes the test binary), so that the handlers installed are those of
// the case alone.

constexpr std::string_view kCallsHost = R"((module
  (import "env" "host" (func $host (param i32) (result i32)))
  (memory (export "mem") 1)
  (func (export "run") (param i32) (result i32) local.get 0 call $host)
  (func (export "peek") (param i32) (result i32) local.get 0 i32.load))
)";

// A guard-page instance whose host function does `bad` when called.
void run_host_function(const std::filesystem::path& dir, void (*bad)(HostCall&)) {
  NativeOptions options;
  options.cache_dir = dir;
  options.bounds_checks = BoundsChecks::Guard;
  auto engine = Engine::native(options).value();
  Linker linker;
  linker.define({"env", "host", {{ValType::I32}, {ValType::I32}},
                 [bad](HostCall& call, std::span<const Value>, std::span<Value> results)
                     -> Result<void> {
                   bad(call);
                   results[0] = Value::i32(0);
                   return {};
                 }});
  auto store = engine->new_store();
  auto inst = store->instantiate(*engine->load_wat(kCallsHost, "host.wat").value(), linker).value();
  // The guest's own fault is a trap, and the process goes on.
  if (inst->call("peek", std::vector{Value::i32(65535)}).error().code !=
      ErrorCode::TrapMemoryOutOfBounds) {
    std::_Exit(3);
  }
  (void)inst->call("run", std::vector{Value::i32(0)});
  std::_Exit(4);  // not reached: the host's fault ends the process
}

void null_dereference(HostCall&) {
  volatile int* null = nullptr;
  *null = 1;
}

// An address inside the guest's own reservation, past its page: a guard
// reservation, but touched by host code.
void host_touches_the_guard(HostCall& call) {
  auto span = call.memory(0, 1).value();
  volatile uint8_t* beyond = span.data() + 2 * 65536;
  *beyond = 1;
}

TEST_F(GuardPagesTest, AHostFunctionsFaultStillEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(run_host_function(dir, null_dereference), ::testing::KilledBySignal(SIGSEGV), "");
  EXPECT_EXIT(run_host_function(dir, host_touches_the_guard), ::testing::KilledBySignal(SIGSEGV),
              "");
}

std::atomic<int> g_previous_calls{0};
void previous_handler(int, siginfo_t* info, void*) {
  // Called for the host's fault only, with its address.
  std::_Exit(info->si_addr == nullptr && g_previous_calls.load() == 0 ? 42 : 43);
}

TEST_F(GuardPagesTest, AHandlerInstalledBeforeGetsTheFaultsOutsideCompiledCode) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        struct sigaction action{};
        action.sa_sigaction = previous_handler;
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGSEGV, &action, nullptr);
        run_host_function(dir, null_dereference);
      },
      ::testing::ExitedWithCode(42), "");
}

// A SIGSEGV sent to the process is no fault of compiled code: with the
// default action before, it still ends the process.
TEST_F(GuardPagesTest, ASentSegvStillEndsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto engine = native(BoundsChecks::Guard);
        if (!engine) std::_Exit(3);
        ::kill(::getpid(), SIGSEGV);
        std::_Exit(4);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

}  // namespace
}  // namespace airssys::wasm::engine
