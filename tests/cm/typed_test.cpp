// Host functions defined with C++ types (cm/typed.hpp) called by a real
// component (tests/components/cm/typed_host.wat) through `canon lower`, on
// both tiers: values lifted straight from the caller's memory, in UTF-8 and
// in UTF-16, the result written through the return pointer, every bad value
// a canonical trap; the same function called with values; and a lifted
// function called with arguments lowered from C++ values.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "../engine/tiers.hpp"
#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/cm/typed.hpp"

namespace airssys::wasm::cm {
namespace {

namespace fs = std::filesystem;
using engine::Tier;
using typed::Bytes;
using typed::CaseIndex;
using typed::EnumIndex;
using typed::Outcome;

fs::path material() { return fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "cm" / "typed_host.wasm"; }

FuncType note_type() {
  return FuncType{{{"text", primitive(Kind::String)},
                   {"data", list_of(primitive(Kind::U8))},
                   {"level", enum_of({"low", "high"})}},
                  result_of(primitive(Kind::U64),
                            variant_of({{"denied", nullptr}, {"full", nullptr}}))};
}

class TypedHostTest : public ::testing::TestWithParam<Tier> {
 protected:
  std::unique_ptr<engine::Engine> engine = engine::testing::make_engine(GetParam());
  HostInstance imports;
  std::vector<std::string> seen;  // the texts the host function got

  void SetUp() override {
    if (!fs::exists(material())) GTEST_SKIP() << "jco is not installed: " << material();
    imports.define_type("err");
    imports.define_type("level");
    // ok(1000 x UTF-8 bytes of text + 10 x the sum of the data + level),
    // or the error `denied` for the text "deny".
    auto defined = typed::define_typed<Outcome<uint64_t, CaseIndex>, std::string_view, Bytes,
                                       EnumIndex>(
        imports, "note", note_type(),
        [this](std::string_view text, Bytes data,
               EnumIndex level) -> Result<Outcome<uint64_t, CaseIndex>> {
          seen.emplace_back(text);
          if (text == "deny") return Outcome<uint64_t, CaseIndex>::failure(CaseIndex{0});
          uint64_t sum = std::accumulate(data.begin(), data.end(), uint64_t{0});
          return Outcome<uint64_t, CaseIndex>::success(text.size() * 1000 + sum * 10 +
                                                       level.index);
        });
    ASSERT_TRUE(defined.has_value()) << defined.error().to_string();
  }

  std::unique_ptr<ComponentInstance> instantiate() {
    auto bytes = engine::read_module_file(material());
    EXPECT_TRUE(bytes.has_value());
    if (!bytes) return nullptr;
    auto component = decode_component(*bytes, "typed_host", *engine);
    EXPECT_TRUE(component.has_value()) << component.error().to_string();
    if (!component) return nullptr;
    auto inst = ComponentInstance::instantiate(*component, *engine, imports);
    EXPECT_TRUE(inst.has_value()) << inst.error().to_string();
    return inst ? std::move(*inst) : nullptr;
  }
};

Result<std::vector<Val>> call(ComponentInstance& inst, std::string_view name, uint32_t text,
                              uint32_t text_len, uint32_t data, uint32_t data_len,
                              uint32_t level) {
  std::vector<Val> args{Val::u(Kind::U32, text), Val::u(Kind::U32, text_len),
                        Val::u(Kind::U32, data), Val::u(Kind::U32, data_len),
                        Val::u(Kind::U32, level)};
  return inst.call(name, args);
}

std::vector<Val> s64(int64_t v) { return {Val::s(Kind::S64, v)}; }

TEST_P(TypedHostTest, ArgumentsAreLiftedFromMemoryAndTheResultSpillsThroughTheReturnPointer) {
  auto inst = instantiate();
  ASSERT_TRUE(inst);
  auto r = call(*inst, "call8", 100, 6, 400, 3, 1);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(*r, s64(6000 + 60 + 1));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "h\xc3\xa9llo");
  // The error case of the result.
  r = call(*inst, "call8", 500, 4, 400, 0, 0);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(*r, s64(-1));
}

TEST_P(TypedHostTest, Utf16StringsAreTranscodedToUtf8) {
  auto inst = instantiate();
  ASSERT_TRUE(inst);
  auto r = call(*inst, "call16", 200, 5, 400, 3, 0);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(*r, s64(6000 + 60));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "h\xc3\xa9llo");
}

TEST_P(TypedHostTest, EveryBadValueIsACanonicalTrapAndTheFunctionIsNotCalled) {
  auto inst = instantiate();
  ASSERT_TRUE(inst);
  struct Case {
    const char* what;
    uint32_t text, text_len, data, data_len, level;
    const char* message;
  };
  const Case cases[] = {
      {"a string that is not UTF-8", 300, 2, 400, 3, 0, "utf-8"},
      {"a string past the end of memory", 65530, 100, 400, 3, 0, "out-of-bounds"},
      {"a list past the end of memory", 100, 6, 65535, 10, 0, "out-of-bounds"},
      {"an enum case past the cases", 100, 6, 400, 3, 2, "discriminant"},
  };
  for (const Case& c : cases) {
    auto again = instantiate();  // a trap leaves an instance unusable
    ASSERT_TRUE(again);
    auto r = call(*again, "call8", c.text, c.text_len, c.data, c.data_len, c.level);
    ASSERT_FALSE(r.has_value()) << c.what;
    EXPECT_EQ(r.error().code, ErrorCode::TrapCanonical) << c.what << ": " << r.error().to_string();
    EXPECT_NE(r.error().message.find(c.message), std::string::npos)
        << c.what << ": " << r.error().message;
  }
  EXPECT_TRUE(seen.empty());
}

TEST_P(TypedHostTest, TheSameFunctionServesCallersThatPassValues) {
  auto inst = instantiate();
  ASSERT_TRUE(inst);
  std::vector<Val> args{Val::string("abc"),
                        Val{Kind::List, 0, {}, {Val::u(Kind::U8, 1), Val::u(Kind::U8, 2)}},
                        Val{Kind::Enum, 1, {}, {}}};
  auto r = inst->call("note", args);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0], (Val{Kind::Result, 0, {}, {Val::u(Kind::U64, 3000 + 30 + 1)}}));
  args[0] = Val::string("deny");
  r = inst->call("note", args);
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ((*r)[0], (Val{Kind::Result, 1, {}, {Val{Kind::Variant, 0, {}, {}}}}));
}

TEST_P(TypedHostTest, ALiftedFunctionTakesArgumentsLoweredFromCppValues) {
  auto inst = instantiate();
  ASSERT_TRUE(inst);
  auto at = inst->function_index("call16");
  ASSERT_TRUE(at.has_value());
  auto sliced = inst->start_call(*at, [](LiftLowerContext& cx, std::vector<engine::Value>& flat) {
    return typed::lower_args(cx, flat, 200u, 5u, 400u, 3u, 1u);
  });
  ASSERT_TRUE(sliced.has_value()) << sliced.error().to_string();
  auto state = (*sliced)->resume();
  ASSERT_TRUE(state.has_value()) << state.error().to_string();
  EXPECT_EQ(*state, engine::Call::State::Finished);
  EXPECT_EQ((*sliced)->values(), s64(6000 + 60 + 1));
  sliced->reset();

  // Lowered values that are not the parameters' flattening are refused
  // before the core function runs.
  auto wrong = inst->start_call(*at, [](LiftLowerContext& cx, std::vector<engine::Value>& flat) {
    return typed::lower_args(cx, flat, 200u, uint64_t{5});
  });
  ASSERT_TRUE(wrong.has_value());
  auto refused = (*wrong)->resume();
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::InvalidArgument);
  wrong->reset();
  EXPECT_EQ(inst->function_index("nothing").error().code, ErrorCode::MissingExport);
}

TEST(TypedHost, AnotherCppSignatureThanTheWitTypeIsRefusedAtDefinition) {
  HostInstance imports;
  auto defined = typed::define_typed<Outcome<uint32_t, CaseIndex>, std::string_view, Bytes,
                                     EnumIndex>(
      imports, "note", note_type(),
      [](std::string_view, Bytes, EnumIndex) -> Result<Outcome<uint32_t, CaseIndex>> {
        return Outcome<uint32_t, CaseIndex>::success(0);
      });
  ASSERT_FALSE(defined.has_value());
  EXPECT_EQ(defined.error().code, ErrorCode::InternalError);
  EXPECT_EQ(imports.find("note"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Tiers, TypedHostTest, ::testing::Values(Tier::Interp, Tier::Native),
                         engine::testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::cm
