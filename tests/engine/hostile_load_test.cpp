// Modules made to break the loader: function types longer than any fixed
// buffer, blocks nested past the engine's limit, custom sections that cannot
// be read. Each loads, or is refused with a typed error, on both tiers, and
// never takes the process down, whatever the loading thread's stack.
#include <gtest/gtest.h>
#include <pthread.h>

#include <fstream>
#include <functional>
#include <iterator>

#include <fmt/format.h>

#include "../support/backtrace.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "../support/hostile_modules.hpp"
#include "tiers.hpp"

namespace airssys::wasm::engine {
namespace {

using Bytes = std::vector<uint8_t>;
using airssys::wasm::testing::put_leb;
using airssys::wasm::testing::put_section;

void put_name(Bytes& out, std::string_view s) {
  put_leb(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

// Function 0, exported as "run", calls function 1, which executes
// `unreachable`; both of type () -> i32. `custom` sections go at the end.
Bytes trapping_module(const std::vector<Bytes>& custom) {
  Bytes m{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  put_section(m, 1, {0x01, 0x60, 0x00, 0x01, 0x7f});
  put_section(m, 3, {0x02, 0x00, 0x00});
  put_section(m, 7, {0x01, 0x03, 'r', 'u', 'n', 0x00, 0x00});
  put_section(m, 10, {0x02, 0x04, 0x00, 0x10, 0x01, 0x0b, 0x03, 0x00, 0x00, 0x0b});
  for (const auto& c : custom) put_section(m, 0, c);
  return m;
}

// A custom section's content: its name, then `payload`.
Bytes custom_section(std::string_view name, const Bytes& payload) {
  Bytes c;
  put_name(c, name);
  c.insert(c.end(), payload.begin(), payload.end());
  return c;
}

// The function-names subsection of a name section, entries as given.
Bytes function_names(const std::vector<std::pair<uint32_t, std::string>>& entries) {
  Bytes sub;
  put_leb(sub, entries.size());
  for (const auto& [index, name] : entries) {
    put_leb(sub, index);
    put_name(sub, name);
  }
  Bytes payload{0x01};
  put_leb(payload, sub.size());
  payload.insert(payload.end(), sub.begin(), sub.end());
  return payload;
}

// One exported function "f" of type () -> i32 whose body opens `depth`
// blocks, closes them, and returns 7; function 0 before it returns 1.
Bytes nested_module(uint32_t depth) {
  Bytes m{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  put_section(m, 1, {0x01, 0x60, 0x00, 0x01, 0x7f});
  put_section(m, 3, {0x02, 0x00, 0x00});
  put_section(m, 7, {0x01, 0x01, 'f', 0x00, 0x01});
  Bytes body{0x00};
  for (uint32_t i = 0; i < depth; ++i) body.insert(body.end(), {0x02, 0x40});
  for (uint32_t i = 0; i < depth; ++i) body.push_back(0x0b);
  body.insert(body.end(), {0x41, 0x07, 0x0b});
  // Two bodies; function 0's: no locals, i32.const 1, end.
  Bytes code{0x02, 0x04, 0x00, 0x41, 0x01, 0x0b};
  put_leb(code, body.size());
  code.insert(code.end(), body.begin(), body.end());
  put_section(m, 10, code);
  return m;
}

// Runs `fn` on a thread with a small stack, as a worker of an embedding
// application might have: the loader must not depend on the caller's stack.
void on_small_stack(const std::function<void()>& fn) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
  pthread_t thread;
  auto body = [](void* arg) -> void* {
    (*static_cast<const std::function<void()>*>(arg))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, body, const_cast<std::function<void()>*>(&fn)), 0);
  pthread_attr_destroy(&attr);
  pthread_join(thread, nullptr);
}

class HostileLoad : public ::testing::TestWithParam<Tier> {
 protected:
  std::unique_ptr<Engine> engine = testing::make_engine(GetParam());

  Result<std::vector<Value>> run(const Module& module, std::string_view name,
                                 std::span<const Value> args = {}) {
    auto store = engine->new_store();
    auto instance = store->instantiate(module, Linker{});
    if (!instance) return std::unexpected(instance.error());
    return (*instance)->call(name, args);
  }
};

// A function type of 400 parameters and 200 results (600 value types, past
// any fixed buffer of 256): called directly by the host and through
// call_indirect, with the same results on both tiers.
TEST_P(HostileLoad, AFunctionTypeOfSixHundredValueTypesLoadsAndRuns) {
  constexpr int kParams = 400, kResults = 200;
  std::string params, results, consts, body;
  for (int i = 0; i < kParams; ++i) params += " i32";
  for (int i = 0; i < kResults; ++i) {
    results += " i32";
    body += fmt::format(" local.get {}", i * 2);
  }
  for (int i = 0; i < kParams; ++i) consts += fmt::format(" i32.const {}", i + 1);
  // "wide" returns its parameters 0, 2, 4, ...: the odd numbers from 1; the
  // indirect caller adds all 200 of them up.
  std::string adds;
  for (int i = 0; i < kResults - 1; ++i) adds += " i32.add";
  std::string wat = fmt::format(R"((module
  (type $wide (func (param{0}) (result{1})))
  (table 1 funcref) (elem (i32.const 0) $wide)
  (func $wide (export "wide") (type $wide){2})
  (func (export "indirect") (result i32)
    {3} i32.const 0 call_indirect (type $wide)
    {4})))",
                                params, results, body, consts, adds);
  auto module = engine->load_wat(wat, "wide.wat");
  ASSERT_TRUE(module.has_value()) << module.error().to_string();
  std::vector<Value> args;
  for (int i = 0; i < kParams; ++i) args.push_back(Value::i32(i + 1));
  auto direct = run(**module, "wide", args);
  ASSERT_TRUE(direct.has_value()) << direct.error().to_string();
  ASSERT_EQ(direct->size(), static_cast<size_t>(kResults));
  EXPECT_EQ((*direct)[0].as_i32(), 1);
  EXPECT_EQ((*direct)[kResults - 1].as_i32(), 2 * (kResults - 1) + 1);
  auto indirect = run(**module, "indirect");
  ASSERT_TRUE(indirect.has_value()) << indirect.error().to_string();
  // The sum of the odd numbers 1, 3, ..., 399.
  EXPECT_EQ((*indirect)[0].as_i32(), kResults * kResults);
}

TEST_P(HostileLoad, BlocksNestedPastTheLimitAreRefusedNamingTheFunctionAndTheDepth) {
  Bytes bytes = nested_module(50'000);
  std::optional<Result<std::shared_ptr<const Module>>> loaded;
  on_small_stack([&] { loaded.emplace(engine->load(bytes, "deep.wasm")); });
  ASSERT_TRUE(loaded.has_value());
  ASSERT_FALSE(loaded->has_value());
  const Error& e = loaded->error();
  EXPECT_EQ(e.code, ErrorCode::ModuleTooComplex) << e.to_string();
  EXPECT_NE(e.message.find("deep.wasm"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("function 1"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("10000"), std::string::npos) << e.message;
}

TEST_P(HostileLoad, BlocksNestedToTheLimitLoadAndRunOnASmallStack) {
  Bytes bytes = nested_module(10'000);
  std::optional<Result<std::shared_ptr<const Module>>> loaded;
  on_small_stack([&] { loaded.emplace(engine->load(bytes, "limit.wasm")); });
  ASSERT_TRUE(loaded.has_value());
  ASSERT_TRUE(loaded->has_value()) << loaded->error().to_string();
  auto r = run(***loaded, "f");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ((*r)[0].as_i32(), 7);
}

TEST_P(HostileLoad, DeeplyNestedTextIsRefusedBeforeItIsParsed) {
  std::string flat = "(module (func (export \"f\") (result i32)";
  for (int i = 0; i < 50'000; ++i) flat += " block";
  for (int i = 0; i < 50'000; ++i) flat += " end";
  flat += " i32.const 7))";
  std::string folded = "(module (func (export \"f\") (result i32)";
  for (int i = 0; i < 50'000; ++i) folded += " (block";
  for (int i = 0; i < 50'000; ++i) folded += ")";
  folded += " i32.const 7))";
  for (const std::string* text : {&flat, &folded}) {
    std::optional<Result<std::shared_ptr<const Module>>> loaded;
    on_small_stack([&] { loaded.emplace(engine->load_wat(*text, "deep.wat")); });
    ASSERT_TRUE(loaded.has_value());
    ASSERT_FALSE(loaded->has_value());
    EXPECT_EQ(loaded->error().code, ErrorCode::ModuleTooComplex) << loaded->error().to_string();
  }
}

TEST_P(HostileLoad, ManySequentialFoldedBlocksAreNotMistakenForDeepNesting) {
  std::string text = "(module (func (export \"f\") (result i32)";
  for (int i = 0; i < 12'000; ++i) text += " (block (nop))";
  text += " i32.const 7))";
  auto module = engine->load_wat(text, "wide.wat");
  ASSERT_TRUE(module.has_value()) << module.error().to_string();
  auto r = run(**module, "f");
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ((*r)[0].as_i32(), 7);
}

// A well-formed name section names the frames of a backtrace.
TEST_P(HostileLoad, AGoodNameSectionNamesTheFrames) {
  auto module = engine->load(
      trapping_module({custom_section("name", function_names({{0, "outer"}, {1, "inner"}}))}),
      "named.wasm");
  ASSERT_TRUE(module.has_value()) << module.error().to_string();
  EXPECT_TRUE((*module)->warnings().empty());
  auto r = run(**module, "run");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapUnreachable);
  if (GetParam() == Tier::Interp) {
    ASSERT_EQ(r.error().backtrace.size(), 2u);
    EXPECT_EQ(r.error().backtrace[0], "named.wasm!inner");
  }
  wasm::testing::expect_frames_within(r.error(), {"named.wasm!inner", "named.wasm!outer"},
                                "named.wasm!outer");
}

struct BadCustom {
  const char* what;
  Bytes section;
  const char* warning;  // a part of the warning
};

std::vector<BadCustom> bad_custom_sections() {
  std::vector<BadCustom> out;
  out.push_back({"names out of order",
                 custom_section("name", function_names({{1, "inner"}, {0, "outer"}})),
                 "name section"});
  Bytes truncated = custom_section("name", function_names({{0, "outer"}, {1, "inner"}}));
  truncated.resize(truncated.size() - 4);
  out.push_back({"a truncated name section", truncated, "name section"});
  out.push_back({"a name for a function that does not exist",
                 custom_section("name", function_names({{0, "outer"}, {7, "ghost"}})),
                 "name section"});
  out.push_back({"an unknown subsection with a bad length",
                 custom_section("name", Bytes{0x09, 0x7f, 0x01}), "name section"});
  out.push_back({"a linking section of garbage",
                 custom_section("linking", Bytes{0x02, 0x08, 0xff, 0xff, 0xff}), "custom section"});
  return out;
}

// The core specification: a custom section never makes a module invalid. A
// name section that cannot be read is dropped whole (frames fall back to
// function indices), with one warning naming it and its offset.
TEST_P(HostileLoad, AnUnreadableCustomSectionIsDroppedWithAWarning) {
  for (const auto& bad : bad_custom_sections()) {
    SCOPED_TRACE(bad.what);
    auto module = engine->load(trapping_module({bad.section}), "bad-names.wasm");
    ASSERT_TRUE(module.has_value()) << module.error().to_string();
    ASSERT_EQ((*module)->warnings().size(), 1u);
    const std::string& warning = (*module)->warnings()[0];
    EXPECT_NE(warning.find(bad.warning), std::string::npos) << warning;
    EXPECT_NE(warning.find("0x"), std::string::npos) << warning;
    auto r = run(**module, "run");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::TrapUnreachable) << r.error().to_string();
    if (GetParam() == Tier::Interp) {
      ASSERT_FALSE(r.error().backtrace.empty());
      EXPECT_EQ(r.error().backtrace[0], "bad-names.wasm!func[1]");
    }
  }
}

// The core module of the official WASI preview1 adapter, as the pinned
// component tool embeds it in every component it makes (tests/outside):
// its name section counts more names than it has functions.
TEST_P(HostileLoad, TheOfficialPreview1AdapterModuleLoads) {
  std::ifstream in(std::string(AIRSSYS_SOURCE_DIR) + "/tests/outside/preview1-adapter.core.wasm",
                   std::ios::binary);
  ASSERT_TRUE(in) << "tests/outside/preview1-adapter.core.wasm is missing";
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto module = engine->load(bytes, "adapter.wasm");
  ASSERT_TRUE(module.has_value()) << module.error().to_string();
  ASSERT_FALSE((*module)->warnings().empty());
  EXPECT_NE((*module)->warnings()[0].find("name section"), std::string::npos);
  bool exports_fd_write = false;
  for (const auto& e : (*module)->exports()) exports_fd_write |= e.name == "fd_write";
  EXPECT_TRUE(exports_fd_write);
}

INSTANTIATE_TEST_SUITE_P(BothTiers, HostileLoad, ::testing::Values(Tier::Interp, Tier::Native),
                         testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::engine
