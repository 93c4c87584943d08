// Components assembled from component text by jco (tests/components/cm),
// decoded, instantiated and called through the canonical ABI on both tiers,
// with the values the reference run (tests/reference/cm_reference.mjs, jco
// on Node.js) checks for the same components.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../engine/tiers.hpp"
#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/cm/instance.hpp"

namespace airssys::wasm::cm {
namespace {

namespace fs = std::filesystem;
using engine::Tier;

fs::path material(const std::string& name) {
  return fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "cm" / (name + ".wasm");
}

class ComponentInstanceTest : public ::testing::TestWithParam<Tier> {
 protected:
  std::unique_ptr<engine::Engine> engine = engine::testing::make_engine(GetParam());

  std::unique_ptr<ComponentInstance> instantiate(const std::string& name) {
    if (!fs::exists(material(name))) {
      ADD_FAILURE() << material(name) << " is missing: jco makes it (scripts/setup.sh)";
      return nullptr;
    }
    auto bytes = engine::read_module_file(material(name));
    EXPECT_TRUE(bytes.has_value());
    if (!bytes) return nullptr;
    auto component = decode_component(*bytes, name, *engine);
    EXPECT_TRUE(component.has_value()) << component.error().to_string();
    if (!component) return nullptr;
    auto inst = ComponentInstance::instantiate(*component, *engine, HostInstance{});
    EXPECT_TRUE(inst.has_value()) << inst.error().to_string();
    return inst ? std::move(*inst) : nullptr;
  }

  void SetUp() override {
    if (!fs::exists(material("strings"))) {
      GTEST_SKIP() << "jco is not installed: the component text was not assembled";
    }
  }
};

Val str(std::string s) { return Val::string(std::move(s)); }
Val s32(int32_t v) { return Val::s(Kind::S32, v); }
Val u32(uint32_t v) { return Val::u(Kind::U32, v); }
Val point(int32_t x, int32_t y) { return Val{Kind::Record, 0, {}, {s32(x), s32(y)}}; }
Val list(std::vector<Val> items) { return Val{Kind::List, 0, {}, std::move(items)}; }

std::vector<Val> call(ComponentInstance& inst, std::string_view name, std::vector<Val> args) {
  auto r = inst.call(name, args);
  EXPECT_TRUE(r.has_value()) << name << ": " << r.error().to_string();
  return r ? *r : std::vector<Val>{};
}

TEST_P(ComponentInstanceTest, StringsCrossInUtf8WithReallocAndPostReturn) {
  auto inst = instantiate("strings");
  ASSERT_TRUE(inst);
  EXPECT_EQ(call(*inst, "greet", {str("world")}), std::vector{str("Hello, world!")});
  EXPECT_EQ(call(*inst, "greet", {str("")}), std::vector{str("Hello, !")});
  EXPECT_EQ(call(*inst, "greet", {str("w\xc3\xb6rld \xe2\x9c\x93")}),
            std::vector{str("Hello, w\xc3\xb6rld \xe2\x9c\x93!")});
  EXPECT_EQ(call(*inst, "count-bytes", {str("h\xc3\xa9llo")}), std::vector{u32(6)});
  EXPECT_EQ(call(*inst, "count-bytes", {str(std::string(100000, 'x'))}), std::vector{u32(100000)});
  EXPECT_EQ(call(*inst, "upper", {str("abc-D\xc3\xa9" "f")}), std::vector{str("ABC-D\xc3\xa9" "F")});
  EXPECT_EQ(call(*inst, "upper", {str(std::string(70000, 'z'))}),
            std::vector{str(std::string(70000, 'Z'))});
  // greet x3, upper x2: one post-return call per string result.
  EXPECT_EQ(call(*inst, "post-returns", {}), std::vector{u32(5)});
}

// start_call runs the core function in fuel slices, as an actor runs a
// handler, with the same results, post-return included.
TEST_P(ComponentInstanceTest, ASlicedCallSuspendsBetweenSlicesAndGivesTheSameResults) {
  auto inst = instantiate("strings");
  ASSERT_TRUE(inst);
  engine::CallOptions options;
  options.slice = 1000;
  auto call_or = inst->start_call("upper", std::vector{str(std::string(70000, 'z'))}, options);
  ASSERT_TRUE(call_or.has_value()) << call_or.error().to_string();
  auto& sliced = **call_or;
  int suspensions = 0;
  for (;;) {
    auto state = sliced.resume();
    ASSERT_TRUE(state.has_value()) << state.error().to_string();
    if (*state == engine::Call::State::Finished) break;
    ++suspensions;
    if (suspensions == 1) {
      // The instance is inside a call: another one is refused, not interleaved.
      auto other = inst->call("count-bytes", std::vector{str("x")});
      ASSERT_FALSE(other.has_value());
      EXPECT_EQ(other.error().code, ErrorCode::CallInProgress);
    }
  }
  EXPECT_GT(suspensions, 10);
  EXPECT_EQ(sliced.values(), std::vector{str(std::string(70000, 'Z'))});
  EXPECT_TRUE(sliced.results().empty());
  EXPECT_GT(sliced.fuel_used(), 70000u);
  call_or->reset();
  EXPECT_EQ(call(*inst, "post-returns", {}), std::vector{u32(1)});
}

TEST_P(ComponentInstanceTest, ACancelledSlicedCallLeavesTheInstanceUsable) {
  auto inst = instantiate("strings");
  ASSERT_TRUE(inst);
  engine::CallOptions options;
  options.slice = 500;
  {
    auto sliced = inst->start_call("upper", std::vector{str(std::string(50000, 'a'))}, options);
    ASSERT_TRUE(sliced.has_value());
    auto state = (*sliced)->resume();
    ASSERT_TRUE(state.has_value());
    ASSERT_EQ(*state, engine::Call::State::Suspended);
  }  // destroyed mid-call
  EXPECT_EQ(call(*inst, "greet", {str("again")}), std::vector{str("Hello, again!")});

  // A budget too small for the whole call ends it with an out-of-fuel trap,
  // and the instance takes calls again.
  options.fuel = 5000;
  auto starved = inst->start_call("upper", std::vector{str(std::string(50000, 'a'))}, options);
  ASSERT_TRUE(starved.has_value());
  Result<engine::Call::State> state = engine::Call::State::Suspended;
  while (state && *state == engine::Call::State::Suspended) state = (*starved)->resume();
  ASSERT_FALSE(state.has_value());
  EXPECT_EQ(state.error().code, ErrorCode::TrapOutOfFuel);
  starved->reset();
  EXPECT_EQ(call(*inst, "count-bytes", {str("abc")}), std::vector{u32(3)});
}

// The memory limit is one budget for all the component's memories: a grow
// of one memory is refused past what the others leave.
TEST_P(ComponentInstanceTest, TheMemoryLimitCountsEveryCoreInstancesMemory) {
  auto bytes = engine::read_module_file(material("two_memories"));
  ASSERT_TRUE(bytes.has_value());
  auto component = decode_component(*bytes, "two_memories", *engine);
  ASSERT_TRUE(component.has_value()) << component.error().to_string();
  ComponentOptions options;
  options.limits.max_memory_bytes = 4 * 65536;
  std::vector<uint64_t> granted;
  options.on_memory_grow = [&](const engine::MemoryGrowEvent& e) {
    if (e.granted) granted.push_back(e.requested_bytes);
  };
  auto inst = ComponentInstance::instantiate(*component, *engine, HostInstance{}, options);
  ASSERT_TRUE(inst.has_value()) << inst.error().to_string();
  EXPECT_EQ((*inst)->memory_bytes(), 2u * 65536);
  auto s32 = [](int32_t v) { return Val::s(Kind::S32, v); };
  EXPECT_EQ(call(**inst, "grow-a", {u32(1)}), std::vector{s32(1)});   // 3 pages in all
  EXPECT_EQ(call(**inst, "grow-b", {u32(2)}), std::vector{s32(-1)});  // 5 > 4: refused
  EXPECT_EQ(call(**inst, "grow-b", {u32(1)}), std::vector{s32(1)});   // 4 pages
  EXPECT_EQ(call(**inst, "grow-a", {u32(1)}), std::vector{s32(-1)});  // full
  EXPECT_EQ((*inst)->memory_bytes(), 4u * 65536);
  EXPECT_EQ(granted, (std::vector<uint64_t>{2 * 65536, 2 * 65536}));

  // A component whose memories do not fit at all does not instantiate.
  options.limits.max_memory_bytes = 65536;
  auto none = ComponentInstance::instantiate(*component, *engine, HostInstance{}, options);
  EXPECT_FALSE(none.has_value());
}

// A memory grown by an instance that imports it counts once, at its size
// after the grow (the gate used to add it to what its defining instance
// already counted).
TEST_P(ComponentInstanceTest, AnImportedMemoryGrownByItsImporterCountsOnce) {
  auto bytes = engine::read_module_file(material("two_memories"));
  ASSERT_TRUE(bytes.has_value());
  auto component = decode_component(*bytes, "two_memories", *engine);
  ASSERT_TRUE(component.has_value()) << component.error().to_string();
  ComponentOptions options;
  options.limits.max_memory_bytes = 4 * 65536;
  auto inst = ComponentInstance::instantiate(*component, *engine, HostInstance{}, options);
  ASSERT_TRUE(inst.has_value()) << inst.error().to_string();
  auto s32 = [](int32_t v) { return Val::s(Kind::S32, v); };
  EXPECT_EQ(call(**inst, "grow-c", {u32(2)}), std::vector{s32(1)});   // a: 3 pages, 4 in all
  EXPECT_EQ((*inst)->memory_bytes(), 4u * 65536);
  EXPECT_EQ(call(**inst, "grow-c", {u32(1)}), std::vector{s32(-1)});  // 5 > 4: refused
  EXPECT_EQ(call(**inst, "grow-b", {u32(1)}), std::vector{s32(-1)});  // full
}

TEST_P(ComponentInstanceTest, ArgumentsThatDoNotFitTheTypeAreRefusedBeforeAnythingRuns) {
  auto inst = instantiate("strings");
  ASSERT_TRUE(inst);
  auto r = inst->call("greet", std::vector{u32(1)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument) << r.error().to_string();
  r = inst->call("greet", std::vector{str("\xff\xfe")});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument) << r.error().to_string();
  r = inst->call("no-such-function", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::MissingExport);
  EXPECT_EQ(call(*inst, "post-returns", {}), std::vector{u32(0)});
}

TEST_P(ComponentInstanceTest, RecordsListsAndOptionsOfAnExportedInterface) {
  auto inst = instantiate("records");
  ASSERT_TRUE(inst);
  const std::string api = "airssys:test/records#";
  EXPECT_EQ(call(*inst, api + "sum", {list({point(1, 2), point(3, -4)})}),
            std::vector{point(4, -2)});
  EXPECT_EQ(call(*inst, api + "sum", {list({})}), std::vector{point(0, 0)});
  EXPECT_EQ(call(*inst, api + "scale", {point(2, -3), s32(5)}), std::vector{point(10, -15)});
  EXPECT_EQ(call(*inst, api + "reverse", {list({u32(1), u32(2), u32(3), u32(4294967295u)})}),
            std::vector{list({u32(4294967295u), u32(3), u32(2), u32(1)})});
  std::vector<Val> many;
  for (int32_t i = 0; i < 1000; ++i) many.push_back(point(i, -i));
  EXPECT_EQ(call(*inst, api + "sum", {list(many)}), std::vector{point(499500, -499500)});
  Val some999{Kind::Option, 1, {}, {u32(999)}};
  EXPECT_EQ(call(*inst, api + "find", {list(many), s32(999)}), std::vector{some999});
  Val none{Kind::Option, 0, {}, {}};
  EXPECT_EQ(call(*inst, api + "find", {list({}), s32(7)}), std::vector{none});
}

TEST_P(ComponentInstanceTest, AResourceLivesThroughItsHandlesAndItsDestructorRuns) {
  auto inst = instantiate("resource");
  ASSERT_TRUE(inst);
  const std::string api = "airssys:test/counters#";
  auto made = call(*inst, api + "[constructor]counter", {u32(5)});
  ASSERT_EQ(made.size(), 1u);
  EXPECT_EQ(made[0].kind, Kind::Own);
  Val borrowed = made[0];
  borrowed.kind = Kind::Borrow;
  EXPECT_EQ(call(*inst, api + "[method]counter.increment", {borrowed, u32(3)}),
            std::vector{u32(8)});
  EXPECT_EQ(call(*inst, api + "[method]counter.value", {borrowed}), std::vector{u32(8)});
  EXPECT_EQ(call(*inst, api + "dropped", {}), std::vector{u32(0)});
  auto other = call(*inst, api + "[constructor]counter", {u32(40)});
  ASSERT_EQ(other.size(), 1u);
  // consume takes the handle: its value comes back and the destructor runs.
  EXPECT_EQ(call(*inst, api + "[static]counter.consume", {other[0]}), std::vector{u32(40)});
  EXPECT_EQ(call(*inst, api + "dropped", {}), std::vector{u32(1)});
}

INSTANTIATE_TEST_SUITE_P(Tiers, ComponentInstanceTest,
                         ::testing::Values(Tier::Interp, Tier::Native),
                         engine::testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::cm
