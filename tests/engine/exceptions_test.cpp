// Exception handling in its standard form (tags, throw, try_table with catch
// and catch_all clauses), on both tiers: throw and catch in one module and
// across instances through an imported tag (a tag is its defining instance's:
// the same module instantiated twice defines two tags), an uncaught exception
// as a typed trap, and exception references and the legacy instructions
// refused with a typed error.
//
// The toolkit's text parser knows only the legacy form, so the modules are
// written here in the binary format, each instruction commented.
#include <gtest/gtest.h>

#include <initializer_list>
#include <thread>
#include <string_view>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "tiers.hpp"

namespace airssys::wasm::engine {
namespace {

using Bytes = std::vector<uint8_t>;

void leb(Bytes& out, uint32_t value) {
  do {
    uint8_t b = value & 0x7F;
    value >>= 7;
    if (value) b |= 0x80;
    out.push_back(b);
  } while (value);
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes name(std::string_view text) {
  Bytes out;
  leb(out, static_cast<uint32_t>(text.size()));
  out.insert(out.end(), text.begin(), text.end());
  return out;
}

Bytes vec(std::initializer_list<Bytes> items) {
  Bytes out;
  leb(out, static_cast<uint32_t>(items.size()));
  for (const auto& i : items) out.insert(out.end(), i.begin(), i.end());
  return out;
}

Bytes section(uint8_t id, const Bytes& content) {
  Bytes out{id};
  leb(out, static_cast<uint32_t>(content.size()));
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

// A function body without locals.
Bytes body(const Bytes& code) {
  Bytes inner = cat({{0x00}, code});
  Bytes out;
  leb(out, static_cast<uint32_t>(inner.size()));
  out.insert(out.end(), inner.begin(), inner.end());
  return out;
}

Bytes module(std::initializer_list<Bytes> sections) {
  Bytes out{0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00};
  for (const auto& s : sections) out.insert(out.end(), s.begin(), s.end());
  return out;
}

// type 0: (i32) -> (), type 1: (i32) -> (i32)
const Bytes kTypes = section(1, vec({{0x60, 0x01, 0x7F, 0x00}, {0x60, 0x01, 0x7F, 0x01, 0x7F}}));

// (block $h (result i32) (try_table (catch <tag> $h) <body>) (i32.const -1))
Bytes catch_into_block(uint8_t tag, const Bytes& inside) {
  return cat({{0x02, 0x7F,                     // block (result i32)
               0x1F, 0x40, 0x01, 0x00, tag, 0x00},  // try_table (catch tag 0)
              inside,
              {0x0B,                           // end (try_table)
               0x41, 0x7F,                     // i32.const -1
               0x0B}});                        // end (block)
}

// Tags $e (0) and $other (1), both (param i32).
//   func 0 "throw"      (param i32): throw $e (local.get 0)
//   func 1 "catch"      (param i32) (result i32): catches $e from func 0, its payload the result
//   func 2 "catch_all"  (param i32) (result i32): 7 when func 0 threw anything
//   func 3 "uncaught"   (param i32) (result i32): calls func 0, catches nothing
//   func 4 "mismatch"   (param i32) (result i32): throws $other where only $e is caught
//   func 5 "loop"       (param i32) (result i32): throws and catches n times, counting
//   func 6 "spin_throw" (param i32) (result i32): inside a try_table, counts n
//                       down, then throws 77, which it catches
//   exports "e" (tag 0)
const Bytes kOneModule = module({
    kTypes,
    section(3, vec({{0x00}, {0x01}, {0x01}, {0x01}, {0x01}, {0x01}, {0x01}})),
    section(13, vec({{0x00, 0x00}, {0x00, 0x00}})),
    section(7, vec({cat({name("throw"), {0x00, 0x00}}), cat({name("catch"), {0x00, 0x01}}),
                    cat({name("catch_all"), {0x00, 0x02}}), cat({name("uncaught"), {0x00, 0x03}}),
                    cat({name("mismatch"), {0x00, 0x04}}), cat({name("loop"), {0x00, 0x05}}),
                    cat({name("spin_throw"), {0x00, 0x06}}), cat({name("e"), {0x04, 0x00}})})),
    section(10, vec({
        body({0x20, 0x00, 0x08, 0x00, 0x0B}),  // local.get 0; throw 0; end
        body(cat({catch_into_block(0, {0x20, 0x00, 0x10, 0x00}), {0x0B}})),  // call 0
        body({0x02, 0x40,                    // block $h
              0x1F, 0x40, 0x01, 0x02, 0x00,  // try_table (catch_all $h)
              0x20, 0x00, 0x10, 0x00,        // local.get 0; call 0
              0x0B,                          // end
              0x41, 0x7F, 0x0F,              // i32.const -1; return
              0x0B,                          // end
              0x41, 0x07, 0x0B}),            // i32.const 7; end
        body({0x20, 0x00, 0x10, 0x00, 0x41, 0x00, 0x0B}),  // call 0; i32.const 0
        body(cat({catch_into_block(0, {0x20, 0x00, 0x08, 0x01}), {0x0B}})),  // throw 1
        // (loop $l (if (local.get 0) (then
        //   (block $h (result i32) (try_table (catch $e $h) (local.get 0) (throw $e)) (i32.const 0))
        //   (i32.sub (i32.const 1)) (local.set 0) (br $l)))) (i32.const 42)
        body(cat({{0x03, 0x40, 0x20, 0x00, 0x04, 0x40},
                  catch_into_block(0, {0x20, 0x00, 0x08, 0x00}),
                  {0x41, 0x01, 0x6B, 0x21, 0x00, 0x0C, 0x01, 0x0B, 0x0B, 0x41, 0x2A, 0x0B}})),
        body(cat({catch_into_block(0, {0x03, 0x40,              // loop
                                       0x20, 0x00, 0x04, 0x40,  // local.get 0; if
                                       0x20, 0x00, 0x41, 0x01, 0x6B, 0x21, 0x00,  // n - 1
                                       0x0C, 0x01,              // br 1 (the loop)
                                       0x0B, 0x0B,              // end end
                                       0x41, 0xCD, 0x00,        // i32.const 77
                                       0x08, 0x00}),            // throw 0
                  {0x0B}})),
    })),
});

// Imports "a" "throw" (func (param i32)) and "a" "e" (tag (param i32));
// "run" catches the imported tag around a call of the imported thrower.
const Bytes kCatcher = module({
    kTypes,
    section(2, vec({cat({name("a"), name("throw"), {0x00, 0x00}}),
                    cat({name("a"), name("e"), {0x04, 0x00, 0x00}})})),
    section(3, vec({{0x01}})),
    section(7, vec({cat({name("run"), {0x00, 0x01}})})),
    section(10, vec({body(cat({catch_into_block(0, {0x20, 0x00, 0x10, 0x00}), {0x0B}}))})),
});

// Imports "a" "e" (tag (param i32)) and exports it again as "e".
const Bytes kReexporter = module({
    kTypes,
    section(2, vec({cat({name("a"), name("e"), {0x04, 0x00, 0x00}})})),
    section(7, vec({cat({name("e"), {0x04, 0x00}})})),
});

class ExceptionsTest : public ::testing::TestWithParam<Tier> {
 protected:
  std::unique_ptr<Engine> engine = testing::make_engine(GetParam());
  std::unique_ptr<Store> store = engine->new_store();

  std::shared_ptr<const Module> load(const Bytes& bytes, std::string_view what) {
    auto m = engine->load(bytes, what);
    EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().to_string());
    return m ? *m : nullptr;
  }
  std::shared_ptr<Instance> instantiate(const Module& m, const Linker& linker = {}) {
    auto i = store->instantiate(m, linker, {});
    EXPECT_TRUE(i.has_value()) << (i ? "" : i.error().to_string());
    return i ? *i : nullptr;
  }
  static int32_t i32_of(const Result<std::vector<Value>>& r) {
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
    return r && !r->empty() ? (*r)[0].as_i32() : INT32_MIN;
  }
  static std::vector<Value> arg(int32_t v) { return {Value::i32(v)}; }
};

TEST_P(ExceptionsTest, ThrowAndCatchInOneModule) {
  auto m = load(kOneModule, "one.wasm");
  ASSERT_TRUE(m);
  auto i = instantiate(*m);
  ASSERT_TRUE(i);
  EXPECT_EQ(i32_of(i->call("catch", arg(42))), 42);
  EXPECT_EQ(i32_of(i->call("catch", arg(-5))), -5);
  EXPECT_EQ(i32_of(i->call("catch_all", arg(1))), 7);
  EXPECT_EQ(i32_of(i->call("loop", arg(1000))), 42);
  // The tag is an export of its own kind.
  bool tag_export = false;
  for (const auto& e : m->exports()) tag_export |= e.name == "e" && e.kind == ExternKind::Tag;
  EXPECT_TRUE(tag_export);
}

// A call suspended between fuel slices inside a try_table, resumed on other
// threads, still lands in that try's handler when it throws.
TEST_P(ExceptionsTest, AThrowAfterSuspensionsLandsInItsHandler) {
  auto m = load(kOneModule, "one.wasm");
  ASSERT_TRUE(m);
  auto i = instantiate(*m);
  ASSERT_TRUE(i);
  CallOptions options;
  options.slice = 10'000;
  auto call = i->start_call("spin_throw", arg(100'000), options);
  ASSERT_TRUE(call.has_value()) << call.error().to_string();
  int suspensions = 0;
  bool finished = false;
  while (!finished && suspensions < 10'000) {
    std::thread runner([&] {
      auto state = (*call)->resume();
      ASSERT_TRUE(state.has_value()) << state.error().to_string();
      finished = *state == Call::State::Finished;
    });
    runner.join();
    if (!finished) ++suspensions;
  }
  ASSERT_TRUE(finished);
  EXPECT_GE(suspensions, 10);
  ASSERT_EQ((*call)->results().size(), 1u);
  EXPECT_EQ((*call)->results()[0].as_i32(), 77);
}

TEST_P(ExceptionsTest, AnUncaughtExceptionIsATypedTrap) {
  auto m = load(kOneModule, "one.wasm");
  ASSERT_TRUE(m);
  auto i = instantiate(*m);
  ASSERT_TRUE(i);
  for (const char* f : {"uncaught", "mismatch"}) {
    auto r = i->call(f, arg(3));
    ASSERT_FALSE(r.has_value()) << f;
    EXPECT_EQ(r.error().code, ErrorCode::TrapUncaughtException) << r.error().to_string();
    EXPECT_TRUE(r.error().is_trap());
  }
  auto thrown = i->call("throw", arg(3));
  ASSERT_FALSE(thrown.has_value());
  EXPECT_EQ(thrown.error().code, ErrorCode::TrapUncaughtException);
  // The instance carries on after it.
  EXPECT_EQ(i32_of(i->call("catch", arg(9))), 9);
}

TEST_P(ExceptionsTest, AnImportedTagIsTheExportersTag) {
  auto thrower = load(kOneModule, "one.wasm");
  auto catcher = load(kCatcher, "catcher.wasm");
  ASSERT_TRUE(thrower && catcher);
  auto a = instantiate(*thrower);
  auto b = instantiate(*thrower);  // the same module again: a tag of its own
  ASSERT_TRUE(a && b);

  Linker same;
  same.define_instance("a", a);
  auto c = instantiate(*catcher, same);
  ASSERT_TRUE(c);
  EXPECT_EQ(i32_of(c->call("run", arg(11))), 11);

  // Throws a's tag, catches b's: no match.
  Linker other;
  other.define_export("a", "throw", a, "throw");
  other.define_export("a", "e", b, "e");
  auto d = instantiate(*catcher, other);
  ASSERT_TRUE(d);
  auto r = d->call("run", arg(11));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TrapUncaughtException) << r.error().to_string();

  // A tag exported again by an instance that imported it is still a's.
  auto reexporter = load(kReexporter, "reexporter.wasm");
  ASSERT_TRUE(reexporter);
  Linker to_a;
  to_a.define_instance("a", a);
  auto r_a = instantiate(*reexporter, to_a);
  ASSERT_TRUE(r_a);
  Linker through;
  through.define_export("a", "throw", a, "throw");
  through.define_export("a", "e", r_a, "e");
  auto f = instantiate(*catcher, through);
  ASSERT_TRUE(f);
  EXPECT_EQ(i32_of(f->call("run", arg(12))), 12);

  // A tag of another type does not satisfy the import.
  Linker wrong;
  wrong.define_export("a", "throw", a, "throw");
  wrong.define_export("a", "e", a, "throw");
  auto e = store->instantiate(*catcher, wrong, {});
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, ErrorCode::IncompatibleImport) << e.error().to_string();
}

TEST_P(ExceptionsTest, ExceptionReferencesAreRefused) {
  const Bytes modules[] = {
      // a function type with an exnref result
      module({section(1, vec({{0x60, 0x00, 0x01, 0x69}}))}),
      // try_table (catch_all_ref 0) inside a block
      module({section(1, vec({{0x60, 0x00, 0x00}})), section(3, vec({{0x00}})),
              section(10, vec({body({0x1F, 0x40, 0x01, 0x03, 0x00, 0x0B, 0x0B})}))}),
      // try_table (catch_ref $e 0)
      module({section(1, vec({{0x60, 0x00, 0x00}})), section(3, vec({{0x00}})),
              section(13, vec({{0x00, 0x00}})),
              section(10, vec({body({0x1F, 0x40, 0x01, 0x01, 0x00, 0x00, 0x0B, 0x0B})}))}),
      // throw_ref
      module({section(1, vec({{0x60, 0x00, 0x00}})), section(3, vec({{0x00}})),
              section(10, vec({body({0xD0, 0x69, 0x0A, 0x0B})}))}),
      // a local of type exnref
      module({section(1, vec({{0x60, 0x00, 0x00}})), section(3, vec({{0x00}})),
              section(10, vec({{0x04, 0x01, 0x01, 0x69, 0x0B}}))}),
  };
  for (const auto& bytes : modules) {
    auto m = engine->load(bytes, "exnref.wasm");
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().code, ErrorCode::UnsupportedFeature) << m.error().to_string();
    EXPECT_NE(m.error().message.find("exception references"), std::string::npos)
        << m.error().message;
  }
}

TEST_P(ExceptionsTest, TheLegacyFormIsRefused) {
  const Bytes legacy = module({
      section(1, vec({{0x60, 0x00, 0x00}})), section(3, vec({{0x00}})),
      section(13, vec({{0x00, 0x00}})),
      section(10, vec({body({0x06, 0x40,         // try
                             0x07, 0x00,         // catch 0
                             0x19,               // catch_all
                             0x0B, 0x0B})})),    // end end
  });
  auto m = engine->load(legacy, "legacy.wasm");
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, ErrorCode::UnsupportedFeature) << m.error().to_string();
  EXPECT_NE(m.error().message.find("legacy exception-handling instructions"), std::string::npos)
      << m.error().message;
  // The same in the text format, which the toolkit reads in the legacy form.
  auto text = engine->load_wat(R"((module (tag $e) (func (try (do) (catch $e)))))", "legacy.wat");
  ASSERT_FALSE(text.has_value());
  EXPECT_EQ(text.error().code, ErrorCode::UnsupportedFeature) << text.error().to_string();
}

INSTANTIATE_TEST_SUITE_P(Tiers, ExceptionsTest, ::testing::Values(Tier::Interp, Tier::Native),
                         testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::engine
