// The engine with components compiled from C by the build.
#include <gtest/gtest.h>

#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::engine {
namespace {

std::filesystem::path component(const char* name) {
  return std::filesystem::path(AIRSSYS_TEST_COMPONENTS_DIR) / name;
}

TEST(CComponents, ComputeRunsAndCountsFuel) {
  auto engine = Engine::interpreter();
  auto module = engine->load_file(component("compute.wasm"));
  ASSERT_TRUE(module.has_value()) << module.error().to_string();
  EXPECT_TRUE((*module)->imports().empty());
  auto store = engine->new_store();
  auto inst = store->instantiate(**module, Linker{}).value();
  EXPECT_EQ(inst->call("fib", std::vector{Value::i32(20)}).value()[0].as_i32(), 6765);
  EXPECT_EQ(inst->call("sum_to", std::vector{Value::i64(100'000)}).value()[0].as_i64(),
            5'000'050'000);
  EXPECT_GT(inst->fuel_used(), 100'000u);
}

TEST(CComponents, TrapsNameTheCFunctionsInTheBacktrace) {
  auto engine = Engine::interpreter();
  auto module = engine->load_file(component("compute.wasm")).value();
  auto store = engine->new_store();
  auto inst = store->instantiate(*module, Linker{}).value();
  auto r = inst->call("crash", std::vector{Value::i32(1)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapUnreachable);
  ASSERT_EQ(r.error().backtrace.size(), 2u) << ::testing::PrintToString(r.error().backtrace);
  EXPECT_EQ(r.error().backtrace[0], "compute.wasm!crash_inner");
  EXPECT_EQ(r.error().backtrace[1], "compute.wasm!crash");
}

TEST(CComponents, MissingFileIsAnIoError) {
  auto engine = Engine::interpreter();
  auto r = engine->load_file(component("does-not-exist.wasm"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::IoError);
}

}  // namespace
}  // namespace airssys::wasm::engine
