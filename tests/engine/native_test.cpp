// The native tier's own concerns: its compile cache, the bounds on the
// compiler, what it refuses, and traps on several threads at once. What it
// shares with the interpreter is tested on both tiers in engine_test.cpp.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <set>
#include <fstream>
#include <iterator>
#include <thread>

#include <fmt/format.h>

#include "airssys/wasm/engine/engine.hpp"
#include "native_codegen.hpp"
#include "../support/backtrace.hpp"
#include "../support/hostile_modules.hpp"
#include "tiers.hpp"

namespace airssys::wasm::engine {
namespace {

namespace fs = std::filesystem;
namespace hostile = airssys::wasm::testing;

constexpr std::string_view kFib = R"((module
  (func $fib (export "fib") (param i32) (result i32)
    local.get 0 i32.const 2 i32.lt_u
    if (result i32) local.get 0
    else local.get 0 i32.const 1 i32.sub call $fib
         local.get 0 i32.const 2 i32.sub call $fib i32.add end)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)))";

class NativeCacheTest : public ::testing::Test {
 protected:
  fs::path dir = testing::test_cache_dir() /
                 ::testing::UnitTest::GetInstance()->current_test_info()->name();

  std::unique_ptr<Engine> engine() {
    NativeOptions options;
    options.cache_dir = dir;
    auto e = Engine::native(options);
    EXPECT_TRUE(e.has_value()) << (e ? "" : e.error().to_string());
    return e ? std::move(*e) : nullptr;
  }

  static int32_t fib(Engine& engine, int32_t n) {
    auto m = engine.load_wat(kFib, "fib.wat");
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().to_string());
    if (!m) return -1;
    auto store = engine.new_store();
    auto inst = store->instantiate(**m, Linker{}).value();
    return inst->call("fib", std::vector{Value::i32(n)}).value()[0].as_i32();
  }

  std::vector<fs::path> entries() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
      auto name = e.path().filename().string();
      if (e.path().extension() == ".so" && !name.starts_with(".")) out.push_back(e.path());
    }
    return out;
  }
};

TEST_F(NativeCacheTest, TheCacheIsPrivateAndSurvivesARestart) {
  {
    auto first = engine();
    ASSERT_TRUE(first);
    EXPECT_EQ(fib(*first, 20), 6765);
    EXPECT_EQ(first->stats().native_compiles, 1u);
    EXPECT_EQ(first->stats().cache_hits, 0u);
  }
  struct stat st{};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(entries().size(), 1u);
  // Only the entry is left behind: no build directory, no loaded copy.
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);

  auto second = engine();  // a restart: nothing shared but the directory
  ASSERT_TRUE(second);
  EXPECT_EQ(fib(*second, 21), 10946);
  EXPECT_EQ(second->stats().native_compiles, 0u);
  EXPECT_EQ(second->stats().cache_hits, 1u);
}

TEST_F(NativeCacheTest, AChangedOrTruncatedEntryIsRefusedAndRebuilt) {
  {
    auto first = engine();
    ASSERT_TRUE(first);
    EXPECT_EQ(fib(*first, 10), 55);
  }
  ASSERT_EQ(entries().size(), 1u);
  const fs::path entry = entries()[0];
  std::string original;
  {
    std::ifstream in(entry, std::ios::binary);
    original.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(original.size(), 1000u);

  // One byte changed deep inside the object.
  std::string changed = original;
  changed[changed.size() / 2] ^= 0x40;
  std::ofstream(entry, std::ios::binary | std::ios::trunc) << changed;
  {
    auto e = engine();
    ASSERT_TRUE(e);
    EXPECT_EQ(fib(*e, 10), 55);
    EXPECT_EQ(e->stats().cache_refused, 1u);
    EXPECT_EQ(e->stats().native_compiles, 1u);
    EXPECT_EQ(e->stats().cache_hits, 0u);
  }
  // Cut short.
  std::ofstream(entry, std::ios::binary | std::ios::trunc) << original.substr(0, original.size() / 3);
  {
    auto e = engine();
    ASSERT_TRUE(e);
    EXPECT_EQ(fib(*e, 11), 89);
    EXPECT_EQ(e->stats().cache_refused, 1u);
    EXPECT_EQ(e->stats().native_compiles, 1u);
  }
  // The rebuilt entry is sound again.
  auto e = engine();
  ASSERT_TRUE(e);
  EXPECT_EQ(fib(*e, 12), 144);
  EXPECT_EQ(e->stats().cache_hits, 1u);
  EXPECT_EQ(e->stats().cache_refused, 0u);
}

// An entry holds what a load needs besides the object (the module's imports
// and exports and how to link them), so a hit runs none of the loader: it
// must describe and link the module exactly as a first load does.
TEST_F(NativeCacheTest, AnEntryDescribesAndLinksTheModuleAsAFirstLoadDoes) {
  constexpr std::string_view kLinked = R"((module
    (import "env" "add" (func $add (param i32 i64) (result i64)))
    (import "env" "base" (global $base i32))
    (memory (export "mem") 1 4)
    (table (export "tab") 2 funcref)
    (global $count (export "count") (mut i64) (i64.const 7))
    (func (export "run") (param i32) (result i64)
      local.get 0 global.get $base i32.add i64.const 5 call $add
      global.get $count i64.add)
    (func (export "pair") (result i32 f64) i32.const 3 f64.const 1.5)))";
  constexpr std::string_view kProvider = R"((module
    (global (export "base") i32 (i32.const 100))))";
  auto describe = [](const Module& m) {
    std::string out;
    for (const auto& i : m.imports()) {
      out += fmt::format("import {}.{} {} {};", i.module, i.name, extern_kind_name(i.kind),
                         i.to_string());
    }
    for (const auto& e : m.exports()) {
      out += fmt::format("export {} {} {};", e.name, extern_kind_name(e.kind), e.to_string());
    }
    return out;
  };
  auto run = [](Engine& engine, const Module& m) -> std::vector<std::string> {
    auto store = engine.new_store();
    auto provider = store->instantiate(*engine.load_wat(kProvider, "provider.wat").value(),
                                       Linker{}).value();
    Linker linker;
    linker.define_instance("env", provider);
    linker.define(HostFunction{"env", "add", FuncSig{{ValType::I32, ValType::I64}, {ValType::I64}},
                               [](HostCall&, std::span<const Value> args, std::span<Value> out)
                                   -> Result<void> {
                                 out[0] = Value::i64(args[0].as_i32() + args[1].as_i64());
                                 return {};
                               }});
    auto inst = store->instantiate(m, linker);
    if (!inst) return {inst.error().to_string()};
    std::vector<std::string> seen;
    seen.push_back((*inst)->call("run", std::vector{Value::i32(1)}).value()[0].to_string());
    auto pair = (*inst)->call("pair", {}).value();
    seen.push_back(pair.at(0).to_string() + " " + pair.at(1).to_string());
    seen.push_back((*inst)->global("count").value().to_string());
    seen.push_back(std::to_string((*inst)->memory_bytes()));
    return seen;
  };
  std::string first_description;
  std::vector<std::string> first_run;
  {
    auto first = engine();
    ASSERT_TRUE(first);
    auto m = first->load_wat(kLinked, "linked.wat");
    ASSERT_TRUE(m.has_value()) << m.error().to_string();
    first_description = describe(**m);
    first_run = run(*first, **m);
    EXPECT_EQ(first->stats().native_compiles, 2u);
  }
  auto second = engine();
  ASSERT_TRUE(second);
  auto m = second->load_wat(kLinked, "linked.wat");
  ASSERT_TRUE(m.has_value()) << m.error().to_string();
  EXPECT_EQ(describe(**m), first_description);
  // As the interpreter's loader describes it: every kind with its type.
  EXPECT_EQ(first_description,
            "import env.add func (i32, i64) -> (i64);import env.base global i32;"
            "export mem memory 1..4 pages;export tab table funcref 2..;"
            "export count global mut i64;export run func (i32) -> (i64);"
            "export pair func () -> (i32, f64);");
  EXPECT_EQ(describe(*Engine::interpreter()->load_wat(kLinked, "linked.wat").value()),
            first_description);
  EXPECT_EQ(run(*second, **m), first_run);
  EXPECT_EQ(second->stats().native_compiles, 0u);
  EXPECT_EQ(second->stats().cache_hits, 2u);
  ASSERT_EQ(first_run.size(), 4u);
  EXPECT_EQ(first_run[0], Value::i64(113).to_string());
  EXPECT_EQ(first_run[3], std::to_string(kWasmPageSize));
  EXPECT_NE(first_description.find("import env.add func (i32, i64) -> (i64)"), std::string::npos)
      << first_description;
}

// An entry is bound to the exact bytes of its module: a sound entry of one
// module put where another's belongs is refused, and the other compiled.
TEST_F(NativeCacheTest, AnotherModulesEntryIsRefused) {
  constexpr std::string_view kOther =
      R"((module (func (export "fib") (param i32) (result i32) i32.const 42)))";
  fs::path fib_entry, other_entry;
  {
    auto e = engine();
    ASSERT_TRUE(e);
    EXPECT_EQ(fib(*e, 10), 55);
    ASSERT_EQ(entries().size(), 1u);
    fib_entry = entries()[0];
    ASSERT_TRUE(e->load_wat(kOther, "other.wat").has_value());
    ASSERT_EQ(entries().size(), 2u);
    other_entry = entries()[0] == fib_entry ? entries()[1] : entries()[0];
  }
  EXPECT_NE(fib_entry.filename(), other_entry.filename());
  fs::copy_file(fib_entry, other_entry, fs::copy_options::overwrite_existing);
  auto e = engine();
  ASSERT_TRUE(e);
  auto m = e->load_wat(kOther, "other.wat");
  ASSERT_TRUE(m.has_value()) << m.error().to_string();
  EXPECT_EQ(e->stats().cache_refused, 1u);
  EXPECT_EQ(e->stats().native_compiles, 1u);
  auto store = e->new_store();
  auto inst = store->instantiate(**m, Linker{}).value();
  EXPECT_EQ(inst->call("fib", std::vector{Value::i32(10)}).value()[0].as_i32(), 42);
}

// With the cache alone allowed, a module the cache does not hold is still
// validated first: a broken module is refused as broken, not as missing.
TEST_F(NativeCacheTest, CacheOnlyStillValidatesWhatItDoesNotHold) {
  NativeOptions options;
  options.cache_dir = dir;
  options.cache_only = true;
  auto e = Engine::native(options);
  ASSERT_TRUE(e.has_value()) << e.error().to_string();
  // (module (func (result i32) i64.const 1)): well formed, invalid.
  const std::vector<uint8_t> bad_bytes{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
                                       0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,
                                       0x03, 0x02, 0x01, 0x00,
                                       0x0a, 0x06, 0x01, 0x04, 0x00, 0x42, 0x01, 0x0b};
  auto bad = (*e)->load(bad_bytes, "bad.wasm");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::InvalidModule);
  auto good = (*e)->load_wat(kFib, "fib.wat");
  ASSERT_FALSE(good.has_value());
  EXPECT_EQ(good.error().code, ErrorCode::NotFound);
}

TEST_F(NativeCacheTest, ACacheDirectoryOthersCanEnterIsRefused) {
  fs::create_directories(dir);
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  NativeOptions options;
  options.cache_dir = dir;
  auto e = Engine::native(options);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, ErrorCode::InvalidConfig);
  EXPECT_NE(e.error().message.find("0700"), std::string::npos) << e.error().message;
}

TEST_F(NativeCacheTest, ACompilerThatRunsTooLongIsStoppedAndReported) {
  NativeOptions options;
  options.cache_dir = dir;
  options.compile_timeout = std::chrono::seconds(0);
  auto e = Engine::native(options);  // the identity check is bounded too
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, ErrorCode::CompileLimit);
  EXPECT_NE(e.error().message.find("did not finish"), std::string::npos) << e.error().message;
}

// Every compile writes the C compiler's stack report; a function whose frame
// is larger than the stack check's reserve allows, or sized at run time,
// refuses the module for the native tier. Read here from reports written as
// the compiler writes them.
TEST(NativeFrames, AFrameLargerThanTheNativeTierAllowsIsRefused) {
  const airssys::wasm::test::TempDir dir("native");
  auto report = [&](const std::string& text) {
    for (const auto& e : fs::directory_iterator(dir.path())) fs::remove(e.path());
    std::ofstream(dir.path() / "module.so-module.su") << text;
    std::ofstream(dir.path() / "module.so-airssys-rt.su")
        << "airssys-rt.c:40:5:airssys_enter\t96\tstatic\n";
    return detail::check_stack_frames(dir.path(), "frames.wasm");
  };
  const uint64_t max = detail::kMaxNativeFrameBytes;
  EXPECT_TRUE(report(fmt::format("module.c:10:13:w2c_m_f0\t48\tstatic\n"
                                 "module.c:99:13:w2c_m_f1\t{}\tstatic\n",
                                 max)));
  auto big = report(fmt::format("module.c:10:13:w2c_m_f0\t48\tstatic\n"
                                "module.c:99:13:w2c_m_big\t{}\tstatic\n",
                                max + 16));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::CompileFailed);
  EXPECT_NE(big.error().message.find("w2c_m_big"), std::string::npos) << big.error().message;
  EXPECT_TRUE(report("module.c:7:6:w2c_m_args\t64\tdynamic,bounded\n"));
  auto dynamic = report("module.c:7:6:w2c_m_alloca\t64\tdynamic\n");
  ASSERT_FALSE(dynamic);
  EXPECT_NE(dynamic.error().message.find("dynamic"), std::string::npos);
  auto garbled = report("module.c:7:6:w2c_m_f\tmany\tstatic\n");
  EXPECT_FALSE(garbled);
  for (const auto& e : fs::directory_iterator(dir.path())) fs::remove(e.path());
  auto missing = detail::check_stack_frames(dir.path(), "frames.wasm");
  ASSERT_FALSE(missing) << "no report at all fails closed";
}

// --- What is sent to the compilers, and how long they may take -------------

// `_start` of a module runs on `engine` (a check that the module works).
void run_start(Engine& engine, std::span<const uint8_t> bytes) {
  auto m = engine.load(bytes, "hostile.wasm");
  ASSERT_TRUE(m.has_value()) << m.error().to_string();
  auto store = engine.new_store();
  auto inst = store->instantiate(**m, Linker{});
  ASSERT_TRUE(inst.has_value()) << inst.error().to_string();
  auto r = (*inst)->call("_start", {});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
}

TEST_F(NativeCacheTest, ModulesPastACompileBoundAreRefusedBeforeAnyCompilerRuns) {
  NativeOptions options;
  options.cache_dir = dir;
  options.max_module_bytes = 32 << 10;
  options.max_function_bytes = 8 << 10;
  options.max_br_table_targets = 1000;
  auto native = Engine::native(options);
  ASSERT_TRUE(native.has_value()) << native.error().to_string();
  auto interp = Engine::interpreter();
  struct Case {
    std::vector<uint8_t> bytes;
    std::string why;
  };
  std::vector<Case> cases{
      {hostile::straight_line_stores(2000), "function 0 has a body of"},
      {hostile::wide_br_table(5000), "function 0 has a br_table of 5000 targets"},
      {hostile::straight_line_stores(7000), "the module has"},
  };
  for (const auto& c : cases) {
    auto m = (*native)->load(c.bytes, "hostile.wasm");
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().code, ErrorCode::CompileLimit);
    EXPECT_NE(m.error().message.find(c.why), std::string::npos) << m.error().message;
    run_start(*interp, c.bytes);  // the interpreter runs them
  }
  EXPECT_EQ((*native)->stats().native_compiles, 0u);
  // Within the bounds, the same shapes compile and run.
  run_start(**native, hostile::straight_line_stores(100));
  run_start(**native, hostile::wide_br_table(500));
  EXPECT_EQ((*native)->stats().native_compiles, 2u);
}

// A compile that takes long (a C compiler's time grows much faster than the
// function), within every size bound: seconds even on an idle machine, where
// huge functions are compiled with cheaper flags in units of their own.
constexpr uint32_t kSlowStores = 20000;

NativeOptions slow_options(const fs::path& dir) {
  NativeOptions options;
  options.cache_dir = dir;
  options.max_function_bytes = 1 << 20;
  return options;
}

// Watches this process's compile groups while `done` is false; `seen`
// collects them, `compiling` turns true once one holds the compiler proper
// (the guard, the driver and the compiler it started).
struct GroupWatch {
  std::atomic<bool> done{false};
  std::atomic<bool> compiling{false};
  std::mutex mutex;
  std::set<int> seen;
  std::vector<int> members;  // of the compiling group, when first seen
  std::thread thread;

  GroupWatch() {
    thread = std::thread([this] {
      while (!done.load()) {
        for (int g : hostile::compile_groups(::getpid())) {
          auto in = hostile::group_members(g);
          std::lock_guard lock(mutex);
          seen.insert(g);
          if (in.size() >= 3 && !compiling.load()) {
            for (const auto& p : in) members.push_back(p.pid);
            compiling.store(true);
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  ~GroupWatch() { stop(); }
  void stop() {
    done.store(true);
    if (thread.joinable()) thread.join();
  }
  bool wait_compiling(std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!compiling.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return compiling.load();
  }
  // Whether every process of every group seen is gone (within `limit`: a
  // killed process takes a moment to be reaped).
  bool all_gone(std::chrono::seconds limit) {
    stop();
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      bool any = false;
      for (int g : seen) any |= !hostile::group_members(g).empty();
      if (!any) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
};

TEST_F(NativeCacheTest, ACompilePastItsTimeBoundIsKilledWithItsWholeProcessGroup) {
  auto options = slow_options(dir);
  options.compile_timeout = std::chrono::milliseconds(500);
  auto native = Engine::native(options);
  ASSERT_TRUE(native.has_value()) << native.error().to_string();
  GroupWatch watch;
  const auto bytes = hostile::straight_line_stores(kSlowStores);
  const auto began = std::chrono::steady_clock::now();
  auto m = (*native)->load(bytes, "slow.wasm");
  const auto took = std::chrono::steady_clock::now() - began;
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, ErrorCode::CompileLimit);
  EXPECT_NE(m.error().message.find("did not finish within the native compile time bound"),
            std::string::npos)
      << m.error().message;
  EXPECT_LT(took, std::chrono::seconds(15));
  EXPECT_TRUE(watch.all_gone(std::chrono::seconds(10)))
      << "a compiler outlived its compile";
  EXPECT_FALSE(watch.seen.empty());
}

TEST_F(NativeCacheTest, ACancelledLoadKillsItsCompileAtOnce) {
  auto native = Engine::native(slow_options(dir));
  ASSERT_TRUE(native.has_value()) << native.error().to_string();
  GroupWatch watch;
  std::atomic<bool> cancel{false};
  const auto bytes = hostile::straight_line_stores(kSlowStores + 1);
  auto loading = std::async(std::launch::async, [&] {
    return (*native)->load_cancellable(bytes, "slow.wasm", &cancel);
  });
  ASSERT_TRUE(watch.wait_compiling(std::chrono::seconds(60))) << "no compiler started";
  cancel.store(true);
  ASSERT_EQ(loading.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto m = loading.get();
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, ErrorCode::CallCancelled) << m.error().to_string();
  EXPECT_TRUE(watch.all_gone(std::chrono::seconds(10))) << "a compiler outlived its compile";
  // cancel_compiles() stops what runs and what follows, engine-wide.
  (*native)->cancel_compiles();
  auto later = (*native)->load(hostile::straight_line_stores(10), "later.wasm");
  ASSERT_FALSE(later.has_value());
  EXPECT_EQ(later.error().code, ErrorCode::CallCancelled);
}

TEST_F(NativeCacheTest, CompilersStartWithACleanSignalMaskAndALowerPriority) {
  auto native = Engine::native(slow_options(dir));
  ASSERT_TRUE(native.has_value()) << native.error().to_string();
  GroupWatch watch;
  std::atomic<bool> cancel{false};
  const auto bytes = hostile::straight_line_stores(kSlowStores + 2);
  // A thread with the signals `serve` keeps for its signal thread blocked.
  auto loading = std::async(std::launch::async, [&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return (*native)->load_cancellable(bytes, "slow.wasm", &cancel);
  });
  ASSERT_TRUE(watch.wait_compiling(std::chrono::seconds(60))) << "no compiler started";
  std::vector<int> members;
  {
    std::lock_guard lock(watch.mutex);
    members = watch.members;
  }
  size_t looked = 0;
  for (int pid : members) {
    auto blocked = hostile::status_field(pid, "SigBlk");
    if (!blocked) continue;  // gone meanwhile
    ++looked;
    EXPECT_EQ(*blocked, "0000000000000000") << "process " << pid;
    errno = 0;
    EXPECT_GE(::getpriority(PRIO_PROCESS, pid), 5) << "process " << pid;
  }
  EXPECT_GT(looked, 0u);
  cancel.store(true);
  ASSERT_EQ(loading.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(watch.all_gone(std::chrono::seconds(10)));
}

TEST_F(NativeCacheTest, ToolsMustBeGivenByAbsolutePath) {
  NativeOptions options;
  options.cache_dir = dir;
  options.compiler = "gcc";
  auto e = Engine::native(options);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, ErrorCode::InvalidConfig);
}

TEST_F(NativeCacheTest, SimdModulesAreRefusedWithAReason) {
  auto e = engine();
  ASSERT_TRUE(e);
  auto m = e->load_wat(R"((module (func (export "v") (result i32)
    v128.const i32x4 1 2 3 4 i32x4.extract_lane 0)))",
                       "simd.wat");
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, ErrorCode::CompileFailed);
  // The interpreter runs the same module.
  auto interp = Engine::interpreter();
  auto mi = interp->load_wat(R"((module (func (export "v") (result i32)
    v128.const i32x4 1 2 3 4 i32x4.extract_lane 0)))",
                             "simd.wat");
  ASSERT_TRUE(mi.has_value());
}

// Trap state lives with each call: calls trapping on several threads at once
// each get their own outcome.
TEST_F(NativeCacheTest, TrapsOnManyThreadsAtOnceStayWithTheirCalls) {
  auto e = engine();
  ASSERT_TRUE(e);
  auto m = e->load_wat(kFib, "fib.wat").value();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto store = e->new_store();
      auto inst = store->instantiate(*m, Linker{}).value();
      for (int i = 0; i < 300; ++i) {
        bool trap = (i + t) % 2 == 0;
        auto r = inst->call("div", std::vector{Value::i32(100), Value::i32(trap ? 0 : 4)});
        if (trap ? (r.has_value() || r.error().code != ErrorCode::TrapDivideByZero)
                 : (!r.has_value() || (*r)[0].as_i32() != 25)) {
          ++wrong;
        }
        auto f = inst->call("fib", std::vector{Value::i32(12)});
        if (!f || (*f)[0].as_i32() != 144) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

std::filesystem::path component(const char* name) {
  return std::filesystem::path(AIRSSYS_TEST_COMPONENTS_DIR) / name;
}

// A component compiled from C gives the same results and fuel on both tiers.
TEST_F(NativeCacheTest, ACComponentRunsAlikeOnBothTiers) {
  auto native = engine();
  ASSERT_TRUE(native);
  auto interp = Engine::interpreter();
  std::vector<std::vector<Value>> outcomes;
  std::vector<uint64_t> fuel;
  for (Engine* eng : {interp.get(), native.get()}) {
    auto module = eng->load_file(component("compute.wasm"));
    ASSERT_TRUE(module.has_value()) << module.error().to_string();
    auto store = eng->new_store();
    auto inst = store->instantiate(**module, Linker{}).value();
    std::vector<Value> results;
    results.push_back(inst->call("fib", std::vector{Value::i32(22)}).value()[0]);
    results.push_back(inst->call("sum_to", std::vector{Value::i64(100'000)}).value()[0]);
    auto crash = inst->call("crash", std::vector{Value::i32(1)});
    ASSERT_FALSE(crash.has_value());
    EXPECT_EQ(crash.error().code, ErrorCode::TrapUnreachable);
    outcomes.push_back(results);
    fuel.push_back(inst->fuel_used());
  }
  EXPECT_EQ(outcomes[0][0].as_i32(), 17711);
  EXPECT_EQ(outcomes[1][0].as_i32(), 17711);
  EXPECT_EQ(outcomes[0][1].as_i64(), outcomes[1][1].as_i64());
  EXPECT_EQ(fuel[0], fuel[1]);  // the same metering: the same count
}

// A trap names the C functions on the native tier too, on a first load and
// from the cache (which keeps the names). crash_inner is noinline in C, but
// the C compiler of the native tier may still inline its wasm function.
TEST_F(NativeCacheTest, ATrapNamesTheFunctionsOfItsBacktrace) {
  for (int load = 0; load < 2; ++load) {
    auto native = engine();
    ASSERT_TRUE(native);
    auto module = native->load_file(component("compute.wasm"));
    ASSERT_TRUE(module.has_value()) << module.error().to_string();
    EXPECT_EQ(native->stats().cache_hits, load == 0 ? 0u : 1u);
    auto store = native->new_store();
    auto inst = store->instantiate(**module, Linker{}).value();
    auto crash = inst->call("crash", std::vector{Value::i32(1)});
    ASSERT_FALSE(crash.has_value());
    EXPECT_EQ(crash.error().code, ErrorCode::TrapUnreachable);
    wasm::testing::expect_frames_within(crash.error(),
                                  {"compute.wasm!crash_inner", "compute.wasm!crash"},
                                  "compute.wasm!crash");
    // The rendered error lists them as the interpreter's does.
    EXPECT_NE(crash.error().to_string().find("compute.wasm!crash"), std::string::npos)
        << crash.error().to_string();
  }
}


// `count` functions, each storing `stores` constants and calling the one
// before it, and one of `huge_stores` stores; "run" calls the last of the
// chain and the huge one and reads back what they stored. Over the units'
// size the chain is compiled in several units (the calls cross them) and
// the huge function in a unit of its own.
std::string many_functions(int count, int stores, int huge_stores) {
  auto body = [](int n, int seed) {
    std::string out;
    for (int i = 0; i < n; ++i) {
      out += fmt::format("    i32.const {} i32.const {} i32.store\n", (seed * 64 + i * 4) % 60000,
                         seed * 1000 + i);
    }
    return out;
  };
  std::string wat = "(module (memory 1)\n";
  for (int k = 0; k < count; ++k) {
    wat += fmt::format("  (func $f{} (param i32) (result i32)\n{}", k, body(stores, k));
    wat += k == 0 ? "    local.get 0)\n"
                  : fmt::format("    local.get 0 call $f{} i32.const 3 i32.mul i32.const {} "
                                "i32.add)\n",
                                k - 1, k);
  }
  wat += fmt::format("  (func $huge (param i32) (result i32)\n{}    local.get 0 i32.const 7 "
                     "i32.xor)\n",
                     body(huge_stores, count));
  wat += fmt::format(
      "  (func (export \"run\") (param i32) (result i32)\n"
      "    local.get 0 call $f{} local.get 0 call $huge i32.add\n"
      "    i32.const 64 i32.load i32.add i32.const {} i32.load i32.add))\n",
      count - 1, (count * 64 + 8) % 60000);
  return wat;
}

int32_t run_many(Engine& engine, std::string_view wat, int32_t x) {
  auto m = engine.load_wat(wat, "many.wat");
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().to_string());
  if (!m) return -1;
  auto store = engine.new_store();
  auto inst = store->instantiate(**m, Linker{}).value();
  return inst->call("run", std::vector{Value::i32(x)}).value()[0].as_i32();
}

// A module whose C is split: the functions in several units compiled at
// once, the huge one with cheaper flags, the glue in a unit of its own. It
// computes what the interpreter computes, and the compile reports its
// progress.
TEST_F(NativeCacheTest, AModuleOfManyFunctionsIsCompiledInSeveralUnitsAndRunsAlike) {
  const std::string wat = many_functions(30, 30, 1300);
  std::vector<NativeCompileEvent::Kind> kinds;
  size_t units = 0, jobs = 0, done = 0;
  std::string reason;
  fs::path cache;
  NativeOptions options;
  options.cache_dir = dir;
  options.compile_jobs = 2;
  options.on_compile = [&](const NativeCompileEvent& e) {
    kinds.push_back(e.kind);
    if (e.kind == NativeCompileEvent::Kind::Started) {
      reason = e.reason;
      cache = e.cache_dir;
    }
    units = e.units;
    jobs = e.jobs;
    done = e.units_done;
  };
  auto native = Engine::native(options);
  ASSERT_TRUE(native.has_value()) << native.error().to_string();
  auto interp = Engine::interpreter();
  for (int32_t x : {0, 1, 12345}) {
    EXPECT_EQ(run_many(**native, wat, x), run_many(*interp, wat, x)) << x;
  }
  EXPECT_EQ((*native)->stats().native_compiles, 1u);
  ASSERT_FALSE(kinds.empty());
  EXPECT_EQ(kinds.front(), NativeCompileEvent::Kind::Started);
  EXPECT_EQ(kinds.back(), NativeCompileEvent::Kind::Finished);
  EXPECT_EQ(reason, "no cache entry");
  EXPECT_EQ(cache, dir);
  // At least two units of the chain, the huge function's, the glue's and the
  // runtime's; each reported once done.
  EXPECT_GE(units, 5u);
  EXPECT_EQ(done, units);
  EXPECT_EQ(jobs, 2u);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), NativeCompileEvent::Kind::UnitDone),
            static_cast<std::ptrdiff_t>(units));
}

// Why a compile runs, as it tells the one who waits: no entry, a damaged
// entry (removed), an entry of the same module for other compilers.
TEST_F(NativeCacheTest, ACompileSaysWhyItRuns) {
  std::vector<NativeCompileEvent::Kind> kinds;
  std::string reason;
  NativeOptions options;
  options.cache_dir = dir;
  options.on_compile = [&](const NativeCompileEvent& e) {
    kinds.push_back(e.kind);
    if (e.kind == NativeCompileEvent::Kind::Started) reason = e.reason;
  };
  auto first = Engine::native(options);
  ASSERT_TRUE(first.has_value()) << first.error().to_string();
  EXPECT_EQ(fib(**first, 10), 55);
  EXPECT_EQ(reason, "no cache entry");
  ASSERT_EQ(entries().size(), 1u);
  const fs::path entry = entries().front();
  fs::resize_file(entry, fs::file_size(entry) / 2);
  auto second = Engine::native(options);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(fib(**second, 11), 89);
  EXPECT_EQ(reason, "its cache entry was damaged and is removed");
  // The same module's digest starts the name, another key follows.
  ASSERT_EQ(entries().size(), 1u);
  const std::string name = entries().front().filename().string();
  fs::rename(entries().front(),
             dir / (name.substr(0, name.find('-') + 1) + std::string(64, '0') + ".so"));
  auto third = Engine::native(options);
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(fib(**third, 12), 144);
  EXPECT_EQ(reason, "the cache holds an entry of it for another compiler or host version");
  // From the cache: nothing compiles, nothing is reported.
  kinds.clear();
  auto fourth = Engine::native(options);
  ASSERT_TRUE(fourth.has_value());
  EXPECT_EQ(fib(**fourth, 13), 233);
  EXPECT_EQ((*fourth)->stats().cache_hits, 1u);
  EXPECT_TRUE(kinds.empty());
}

// A C compiler that refuses one unit (the others compile) fails the whole
// compile with that unit's words; no compiler outlives it.
TEST_F(NativeCacheTest, AUnitThatFailsToCompileFailsTheWholeCompile) {
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all);  // the cache's own mode
  const fs::path cc = dir / "cc-refusing-unit1.sh";
  {
    std::ofstream script(cc);
    script << "#!/bin/sh\ncase \"$*\" in *unit1.c*) echo 'unit1.c: refused here' >&2; exit 1;; "
              "esac\nexec " AIRSSYS_NATIVE_CC_PATH " \"$@\"\n";
  }
  fs::permissions(cc, fs::perms::owner_all);
  NativeOptions options;
  options.cache_dir = dir;
  options.compiler = cc;
  options.compile_jobs = 3;
  bool failed_reported = false;
  options.on_compile = [&](const NativeCompileEvent& e) {
    failed_reported |= e.kind == NativeCompileEvent::Kind::Failed;
  };
  auto native = Engine::native(options);
  ASSERT_TRUE(native.has_value()) << native.error().to_string();
  GroupWatch watch;
  auto m = (*native)->load_wat(many_functions(30, 30, 1300), "many.wat");
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, ErrorCode::CompileFailed) << m.error().to_string();
  EXPECT_NE(m.error().message.find("the C compiler failed with status 1: unit1.c: refused here"),
            std::string::npos)
      << m.error().message;
  EXPECT_TRUE(failed_reported);
  EXPECT_TRUE(watch.all_gone(std::chrono::seconds(10))) << "a compiler outlived its compile";
  EXPECT_TRUE(entries().empty());
}

// Cancelling kills the compilers of every unit in progress, not only one.
TEST_F(NativeCacheTest, ACancelledLoadKillsTheCompilersOfEveryUnit) {
  auto options = slow_options(dir);
  options.compile_jobs = 3;
  auto native = Engine::native(options);
  ASSERT_TRUE(native.has_value()) << native.error().to_string();
  GroupWatch watch;
  // Three functions of slow compiles, each in a unit of its own.
  std::string wat = "(module (memory 1)\n";
  for (int f = 0; f < 3; ++f) {
    wat += fmt::format("  (func (export \"f{}\")\n", f);
    for (uint32_t i = 0; i < kSlowStores; ++i) {
      wat += fmt::format("    i32.const {} i32.const {} i32.store\n", (i * 4) % 60000, f + i);
    }
    wat += "  )\n";
  }
  wat += ")\n";
  auto loading = std::async(std::launch::async, [&] { return (*native)->load_wat(wat, "slow3.wat"); });
  // Two compilers at work at once (a group each: guard, driver, compiler).
  std::set<int> busy;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (busy.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    busy.clear();
    for (int g : hostile::compile_groups(::getpid())) {
      if (hostile::group_members(g).size() >= 3) busy.insert(g);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_GE(busy.size(), 2u) << "no two compilers ran at once";
  (*native)->cancel_compiles();  // as a host that stops
  ASSERT_EQ(loading.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto m = loading.get();
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, ErrorCode::CallCancelled) << m.error().to_string();
  EXPECT_TRUE(hostile::groups_gone(busy)) << "a unit's compiler outlived the cancel";
  EXPECT_TRUE(watch.all_gone(std::chrono::seconds(10)));
}

}  // namespace
}  // namespace airssys::wasm::engine
