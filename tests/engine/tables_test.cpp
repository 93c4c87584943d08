// Tables under the instance's limits, on both tiers: table storage counts
// against the memory limit (refused at instantiation before anything is
// allocated, table.grow refused past it), and the bulk table instructions
// check their bounds before they are charged fuel.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "airssys/wasm/engine/engine.hpp"
#include "tiers.hpp"

namespace airssys::wasm::engine {
namespace {

// The process's resident memory, from /proc/self/statm.
uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  const int read = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  EXPECT_EQ(read, 2);
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

class TablesTest : public ::testing::TestWithParam<Tier> {
 protected:
  std::unique_ptr<Engine> engine = testing::make_engine(GetParam());
  std::unique_ptr<Store> store = engine->new_store();
  Linker linker;

  std::shared_ptr<const Module> load(std::string_view wat) {
    auto m = engine->load_wat(wat, "tables.wat");
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().to_string());
    return m ? *m : nullptr;
  }

  std::shared_ptr<Instance> instantiate(std::string_view wat, InstanceOptions options) {
    auto m = load(wat);
    if (!m) return nullptr;
    auto i = store->instantiate(*m, linker, options);
    EXPECT_TRUE(i.has_value()) << (i ? "" : i.error().to_string());
    return i ? *i : nullptr;
  }

  static InstanceOptions with_memory(uint64_t bytes) {
    InstanceOptions options;
    options.limits.max_memory_bytes = bytes;
    return options;
  }

  static int32_t i32_of(Result<std::vector<Value>> r) {
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
    return r && !r->empty() ? (*r)[0].as_i32() : INT32_MIN;
  }
};

// 100 tables of 1,048,576 elements in a few hundred bytes of module: with a
// start function that fills 40 of them, the host used to commit about 1 GB
// for an instance whose memory limit was 64 KiB.
std::string hundred_huge_tables() {
  std::string wat = "(module\n  (func $f)\n";
  for (int i = 0; i < 100; ++i) wat += "  (table 1048576 funcref)\n";
  wat += "  (func $fill\n";
  for (int i = 0; i < 40; ++i) {
    wat += "    (table.fill " + std::to_string(i) + " (i32.const 0) (ref.func $f) "
           "(i32.const 1048576))\n";
  }
  wat += "  )\n  (elem declare func $f)\n  (start $fill))";
  return wat;
}

TEST_P(TablesTest, HundredHugeTablesAreRefusedBeforeTheHostCommitsTheirMemory) {
  auto m = load(hundred_huge_tables());
  ASSERT_TRUE(m);
  const uint64_t before = resident_bytes();
  for (uint64_t limit : {64 * KiB, 256 * MiB}) {  // the issue's limit, and the default
    auto r = store->instantiate(*m, linker, with_memory(limit));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::LimitExceeded) << r.error().to_string();
    EXPECT_NE(r.error().message.find("104857600 elements"), std::string::npos)
        << r.error().message;
  }
  // The 64 KiB limit allows 2730 elements of 24 bytes; the message says so.
  auto r = store->instantiate(*m, linker, with_memory(64 * KiB));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("2730 elements"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("64 KiB"), std::string::npos) << r.error().message;
  const uint64_t after = resident_bytes();
  EXPECT_LT(after > before ? after - before : 0, 64 * MiB) << "resident memory grew";
}

TEST_P(TablesTest, TablesTogetherAreBoundedNotEachAlone) {
  // Two tables of 2000 fit 64 KiB one at a time, not together.
  auto m = load("(module (table 2000 funcref) (table 2000 externref))");
  ASSERT_TRUE(m);
  auto r = store->instantiate(*m, linker, with_memory(64 * KiB));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::LimitExceeded);
  EXPECT_NE(r.error().message.find("its 2 tables start with 4000 elements"), std::string::npos)
      << r.error().message;
  // 128 KiB allows 5461 elements: both fit.
  EXPECT_TRUE(store->instantiate(*m, linker, with_memory(128 * KiB)).has_value());
  // So does a table of exactly 2730 elements at 64 KiB, and not one more.
  m = load("(module (table 2730 funcref))");
  EXPECT_TRUE(store->instantiate(*m, linker, with_memory(64 * KiB)).has_value());
  m = load("(module (table 2731 funcref))");
  EXPECT_EQ(store->instantiate(*m, linker, with_memory(64 * KiB)).error().code,
            ErrorCode::LimitExceeded);
}

TEST_P(TablesTest, TableGrowPastTheMemoryLimitReturnsMinusOne) {
  // 64 KiB allows 2730 elements. Three tables start with 15; c may grow by 3
  // only, so a and b share the rest equally: 1356 more each.
  auto inst = instantiate(R"((module
    (table $a 10 funcref) (table $b 0 externref) (table $c 5 8 funcref)
    (func (export "grow_a") (param i32) (result i32)
      (table.grow $a (ref.null func) (local.get 0)))
    (func (export "grow_b") (param i32) (result i32)
      (table.grow $b (ref.null extern) (local.get 0)))
    (func (export "grow_c") (param i32) (result i32)
      (table.grow $c (ref.null func) (local.get 0)))
    (func (export "sizes") (result i32)
      (i32.add (table.size $a) (i32.add (table.size $b) (table.size $c))))))",
                          with_memory(64 * KiB));
  ASSERT_TRUE(inst);
  auto grow = [&](const char* name, int32_t n) {
    return i32_of(inst->call(name, std::vector{Value::i32(n)}));
  };
  EXPECT_EQ(grow("grow_a", 1357), -1);
  EXPECT_EQ(grow("grow_a", 1356), 10);
  EXPECT_EQ(grow("grow_a", 1), -1);
  EXPECT_EQ(grow("grow_b", -1), -1);  // 0xFFFFFFFF elements: refused, nothing allocated
  EXPECT_EQ(grow("grow_b", 1356), 0);
  EXPECT_EQ(grow("grow_b", 1), -1);
  EXPECT_EQ(grow("grow_c", 3), 5);
  EXPECT_EQ(grow("grow_c", 1), -1);
  EXPECT_EQ(i32_of(inst->call("sizes", {})), 2730);  // exactly 64 KiB / 24 bytes
  EXPECT_EQ(2730u, 64 * KiB / kTableElementBytes);
}

TEST_P(TablesTest, MaxTableElementsBoundsAllTablesTogether) {
  InstanceOptions options;
  options.limits.max_table_elements = 1000;
  auto inst = instantiate(R"((module (table $a 400 funcref) (table $b 400 funcref)
    (func (export "grow_a") (param i32) (result i32)
      (table.grow $a (ref.null func) (local.get 0)))
    (func (export "grow_b") (param i32) (result i32)
      (table.grow $b (ref.null func) (local.get 0)))))",
                          options);
  ASSERT_TRUE(inst);
  EXPECT_EQ(i32_of(inst->call("grow_a", std::vector{Value::i32(101)})), -1);
  EXPECT_EQ(i32_of(inst->call("grow_a", std::vector{Value::i32(100)})), 400);
  EXPECT_EQ(i32_of(inst->call("grow_b", std::vector{Value::i32(100)})), 400);
  EXPECT_EQ(i32_of(inst->call("grow_b", std::vector{Value::i32(1)})), -1);
}

// table.fill, table.copy and table.init of 0xFFFFFFFF elements on a table of
// 4 trap out of bounds at once, as the specification requires, with nearly
// all of a budget of 1000 left: the length is charged only after the bounds
// held. The same holds for the bulk memory instructions.
TEST_P(TablesTest, OutOfBoundsBulkInstructionsTrapBeforeTheyAreCharged) {
  auto inst = instantiate(R"((module
    (table $t 4 funcref) (table $u 4 funcref) (memory 1)
    (func $f) (elem $e func $f $f)
    (data $d "abcd")
    (func (export "fill") (param i32 i32)
      (table.fill $t (local.get 0) (ref.null func) (local.get 1)))
    (func (export "copy") (param i32 i32)
      (table.copy $t $u (local.get 0) (i32.const 0) (local.get 1)))
    (func (export "copy_src") (param i32 i32)
      (table.copy $t $u (i32.const 0) (local.get 0) (local.get 1)))
    (func (export "init") (param i32 i32)
      (table.init $t $e (local.get 0) (i32.const 0) (local.get 1)))
    (func (export "mfill") (param i32 i32)
      (memory.fill (local.get 0) (i32.const 7) (local.get 1)))
    (func (export "mcopy") (param i32 i32)
      (memory.copy (local.get 0) (i32.const 0) (local.get 1)))
    (func (export "minit") (param i32 i32)
      (memory.init $d (local.get 0) (i32.const 0) (local.get 1)))))",
                          {});
  ASSERT_TRUE(inst);
  struct Case {
    const char* name;
    int32_t at;
    int32_t length;
    ErrorCode code;
  };
  const auto table = ErrorCode::TrapTableOutOfBounds;
  const auto memory = ErrorCode::TrapMemoryOutOfBounds;
  for (const Case& c : std::initializer_list<Case>{
           {"fill", 0, -1, table},
           {"fill", 3, -1, table},
           {"copy", 0, -1, table},
           {"copy_src", 2, 3, table},  // the destination holds, the source does not
           {"init", 0, -1, table},
           {"init", 0, 3, table},  // the segment holds 2
           {"mfill", 0, -1, memory},
           {"mcopy", 0, -1, memory},
           {"minit", 0, -1, memory},
       }) {
    CallOptions options;
    options.fuel = 1000;
    const uint64_t before = inst->fuel_used();
    auto r = inst->call(c.name, std::vector{Value::i32(c.at), Value::i32(c.length)}, options);
    ASSERT_FALSE(r.has_value()) << c.name;
    EXPECT_EQ(r.error().code, c.code) << c.name << " " << c.length << ": " << r.error().to_string();
    EXPECT_LT(inst->fuel_used() - before, 100u) << c.name;
  }
  // In bounds, the work is still charged by its length: a fill of the whole
  // table costs one unit per 4 elements more than a fill of none.
  auto fuel_of = [&](const char* name, int32_t length) {
    const uint64_t before = inst->fuel_used();
    EXPECT_TRUE(inst->call(name, std::vector{Value::i32(0), Value::i32(length)}).has_value());
    return inst->fuel_used() - before;
  };
  EXPECT_EQ(fuel_of("fill", 4) - fuel_of("fill", 0), 1u);
  EXPECT_EQ(fuel_of("mfill", 65536) - fuel_of("mfill", 0), 1024u);
}

// An in-bounds fill larger than the budget still ends out of fuel; what it
// did stays done (it ran before it was charged), as any work of a call that
// runs out of fuel does.
TEST_P(TablesTest, AnInBoundsFillOverTheBudgetEndsOutOfFuel) {
  auto inst = instantiate(R"((module (table $t 40000 funcref)
    (func $f) (elem declare func $f)
    (func (export "fill") (table.fill $t (i32.const 0) (ref.func $f) (i32.const 40000)))
    (func (export "last_set") (result i32)
      (i32.eqz (ref.is_null (table.get $t (i32.const 39999)))))))",
                          {});
  ASSERT_TRUE(inst);
  CallOptions options;
  options.fuel = 1000;
  auto r = inst->call("fill", {}, options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapOutOfFuel) << r.error().to_string();
  EXPECT_EQ(i32_of(inst->call("last_set", {})), 1);
}

INSTANTIATE_TEST_SUITE_P(Tiers, TablesTest, ::testing::Values(Tier::Interp, Tier::Native),
                         testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::engine
