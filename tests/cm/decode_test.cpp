// The component decoder and validator on components built byte by byte
// here: what a valid one decodes to, and one typed error for each kind of
// bad input (truncated, garbage, deep nesting, huge counts, bad names,
// out-of-range indices, features past the MVP).

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::cm {
namespace {

using Bytes = std::vector<uint8_t>;

void leb(Bytes& out, uint64_t v) {
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    if (v) b |= 0x80;
    out.push_back(b);
  } while (v);
}

Bytes name(std::string_view s) {
  Bytes out;
  leb(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes section(uint8_t id, const Bytes& body) {
  Bytes out{id};
  leb(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

const Bytes kPreamble{0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};

Bytes component(std::initializer_list<Bytes> sections) {
  Bytes out = kPreamble;
  for (const auto& s : sections) out.insert(out.end(), s.begin(), s.end());
  return out;
}

// (module (func (export "f") (param i32) (result i32) local.get 0))
const Bytes kCoreModule{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,  // preamble
                        0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f,  // type (i32) -> i32
                        0x03, 0x02, 0x01, 0x00,                          // func 0: type 0
                        0x07, 0x05, 0x01, 0x01, 'f', 0x00, 0x00,         // export "f" func 0
                        0x0a, 0x06, 0x01, 0x04, 0x00, 0x20, 0x00, 0x0b};  // local.get 0

// A component that lifts the core module's `f` as func(a: <param>) -> u32
// and exports it as "f".
Bytes lifting_component(uint8_t param) {
  return component({
      section(1, kCoreModule),
      section(2, {0x01, 0x00, 0x00, 0x00}),                               // core instance: instantiate 0
      section(6, cat({{0x01, 0x00, 0x00, 0x01, 0x00}, name("f")})),       // alias core export 0 "f" (core func)
      section(7, cat({{0x01, 0x40, 0x01}, name("a"), {param, 0x00, 0x79}})),  // type func(a) -> u32
      section(8, {0x01, 0x00, 0x00, 0x00, 0x00, 0x00}),                   // canon lift core func 0, no opts, type 0
      section(11, cat({{0x01, 0x00}, name("f"), {0x01, 0x00, 0x00}})),    // export "f" (func 0)
  });
}

class DecodeTest : public ::testing::Test {
 protected:
  Result<std::shared_ptr<const Component>> decode(const Bytes& bytes) {
    return decode_component(bytes, "test.wasm", *engine_);
  }
  void expect_error(const Bytes& bytes, ErrorCode code, std::string_view fragment) {
    auto r = decode(bytes);
    ASSERT_FALSE(r.has_value()) << "accepted";
    EXPECT_EQ(r.error().code, code) << r.error().to_string();
    EXPECT_NE(r.error().message.find(fragment), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(": 0x"), std::string::npos) << "no byte offset: " << r.error().message;
  }
  std::unique_ptr<engine::Engine> engine_ = engine::Engine::interpreter();
};

TEST_F(DecodeTest, PreambleTellsComponentsFromModules) {
  EXPECT_TRUE(is_component(kPreamble));
  EXPECT_FALSE(is_component(kCoreModule));
  EXPECT_FALSE(is_component(Bytes{0x00, 0x61, 0x73}));
  expect_error(kCoreModule, ErrorCode::MalformedComponent, "core module");
}

TEST_F(DecodeTest, LiftedFunctionDecodesToItsDefinitionsInOrder) {
  auto r = decode(lifting_component(0x79));
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  const Component& c = **r;
  ASSERT_EQ(c.items.size(), 6u);
  EXPECT_EQ(c.items[0].kind, DefKind::Module);
  EXPECT_EQ(c.items[1].kind, DefKind::CoreInstance);
  EXPECT_EQ(c.items[2].kind, DefKind::Alias);
  EXPECT_EQ(c.items[3].kind, DefKind::Type);
  EXPECT_EQ(c.items[4].kind, DefKind::Canon);
  EXPECT_EQ(c.items[5].kind, DefKind::Export);
  ASSERT_EQ(c.modules.size(), 1u);
  EXPECT_EQ(c.modules[0].bytes, kCoreModule);
  ASSERT_NE(c.modules[0].module, nullptr);
  ASSERT_EQ(c.canons.size(), 1u);
  EXPECT_EQ(c.canons[0].kind, Canon::Kind::Lift);
  EXPECT_EQ(c.canons[0].core_sig.to_string(), "(i32) -> (i32)");
  EXPECT_EQ(c.canons[0].type->to_string(), "func(a: u32) -> u32");
  // Component funcs: the lift, then the export (a new index aliasing it).
  ASSERT_EQ(c.spaces.funcs.size(), 2u);
  EXPECT_EQ(c.spaces.funcs[0].origin.kind, DefKind::Canon);
  EXPECT_EQ(c.spaces.funcs[1].origin.kind, DefKind::Export);
  ASSERT_EQ(c.spaces.core_funcs.size(), 1u);
  EXPECT_EQ(c.spaces.core_funcs[0].origin.kind, DefKind::Alias);
  ASSERT_EQ(c.exports.size(), 1u);
  EXPECT_EQ(c.exports[0].name, "f");
  EXPECT_EQ(c.exports[0].target.sort, Sort::Func);
  ASSERT_EQ(c.type.exports.size(), 1u);
}

TEST_F(DecodeTest, LiftOfMismatchedCoreFunctionIsInvalid) {
  // func(a: u64) flattens to (i64) but the core function takes (i32).
  expect_error(lifting_component(0x77), ErrorCode::InvalidComponent, "do not match");
}

TEST_F(DecodeTest, EveryTruncationIsOneMalformedError) {
  Bytes full = lifting_component(0x79);
  // Offsets where a section ends: a prefix ending there is a valid component.
  std::vector<size_t> boundaries{kPreamble.size()};
  for (size_t pos = kPreamble.size(); pos < full.size();) {
    size_t size = 0;
    size_t shift = 0;
    size_t p = pos + 1;
    while (true) {
      size |= static_cast<size_t>(full[p] & 0x7F) << shift;
      shift += 7;
      if ((full[p++] & 0x80) == 0) break;
    }
    pos = p + size;
    boundaries.push_back(pos);
  }
  for (size_t len = 0; len < full.size(); ++len) {
    Bytes cut(full.begin(), full.begin() + static_cast<long>(len));
    auto r = decode(cut);
    bool at_boundary = std::find(boundaries.begin(), boundaries.end(), len) != boundaries.end();
    if (r.has_value()) {
      EXPECT_TRUE(at_boundary) << "prefix of " << len << " bytes accepted";
      continue;
    }
    // A prefix that ends after a whole section may still be invalid (an
    // export of a function that is not there); one inside a section is
    // malformed.
    if (!at_boundary) {
      EXPECT_EQ(r.error().code, ErrorCode::MalformedComponent) << len << ": " << r.error().message;
    }
  }
}

TEST_F(DecodeTest, GarbageIsRefusedWithATypedError) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 2000; ++round) {
    Bytes bytes = kPreamble;
    size_t n = rng() % 64;
    for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<uint8_t>(rng()));
    auto r = decode(bytes);
    if (r.has_value()) continue;  // random bytes can form a valid (custom-section) component
    ErrorCode code = r.error().code;
    EXPECT_TRUE(code == ErrorCode::MalformedComponent || code == ErrorCode::InvalidComponent ||
                code == ErrorCode::UnsupportedFeature)
        << r.error().to_string();
  }
  expect_error(Bytes{'n', 'o', 't', ' ', 'w', 'a', 's', 'm'}, ErrorCode::MalformedComponent, "magic");
  expect_error(Bytes{0x00, 0x61, 0x73, 0x6d, 0x0e, 0x00, 0x01, 0x00}, ErrorCode::MalformedComponent, "version");
  expect_error(component({section(13, {})}), ErrorCode::MalformedComponent, "section id");
}

// (component
//   (type (resource (rep i32)))
//   (type (instance (export "r" (type (sub resource))) (type (func)) (export "f" (func (type 1)))))
//   (import "i" (instance (type 1)))
//   (component))
Bytes instance_type_component() {
  Bytes inst = cat({{0x42, 0x03, 0x04, 0x00}, name("r"), {0x03, 0x01},  // export "r" (type (sub resource))
                    {0x01, 0x40, 0x00, 0x01, 0x00},                      // type (func)
                    {0x04, 0x00}, name("f"), {0x01, 0x01}});             // export "f" (func (type 1))
  return component({section(7, cat({{0x02, 0x3f, 0x7f, 0x00}, inst})),
                    section(10, cat({{0x01, 0x00}, name("i"), {0x05, 0x01}})), section(4, kPreamble)});
}

TEST_F(DecodeTest, ImportedInstanceTypesGetFreshResources) {
  auto r = decode(instance_type_component());
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  const Component& c = **r;
  ASSERT_EQ(c.resources.size(), 2u);
  EXPECT_EQ(c.resources[0].kind, ResourceOrigin::Kind::Defined);
  EXPECT_EQ(c.resources[1].kind, ResourceOrigin::Kind::Import);
  EXPECT_EQ(c.resources[1].path, std::vector<std::string>{"r"});
  ASSERT_EQ(c.imports.size(), 1u);
  const InstanceType& it = *c.imports[0].desc.instance;
  ASSERT_EQ(it.exports.size(), 2u);
  EXPECT_EQ(it.exports[0].desc.type->resource, c.resources[1].id);
  ASSERT_EQ(c.components.size(), 1u);
  EXPECT_EQ(c.components[0]->name, "test.wasm/0");
}

TEST_F(DecodeTest, MutatedComponentsGiveOneTypedErrorOrDecode) {
  std::mt19937 rng(777);
  for (const Bytes& base : {lifting_component(0x79), instance_type_component()}) {
    for (int round = 0; round < 3000; ++round) {
      Bytes bytes = base;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) {
        size_t at = kPreamble.size() + rng() % (bytes.size() - kPreamble.size());
        bytes[at] = static_cast<uint8_t>(rng());
      }
      auto r = decode(bytes);
      if (r.has_value()) continue;
      ErrorCode code = r.error().code;
      EXPECT_TRUE(code == ErrorCode::MalformedComponent || code == ErrorCode::InvalidComponent ||
                  code == ErrorCode::UnsupportedFeature)
          << r.error().to_string();
    }
  }
}

TEST_F(DecodeTest, DeepComponentNestingIsRefusedAtTheLimit) {
  Bytes inner = kPreamble;
  for (int i = 0; i < 150; ++i) inner = component({section(4, inner)});
  expect_error(inner, ErrorCode::InvalidComponent, "deeper than 100");
}

TEST_F(DecodeTest, DeepTypeNestingIsRefusedAtTheLimit) {
  // type 0 = list<u8>, type i = list<type i-1>, 150 deep.
  Bytes body;
  leb(body, 150);
  body.insert(body.end(), {0x70, 0x7d});
  for (int i = 1; i < 150; ++i) {
    body.push_back(0x70);
    Bytes idx;
    leb(idx, static_cast<uint64_t>(i - 1));
    if (i - 1 >= 64) idx = {static_cast<uint8_t>(((i - 1) & 0x7F) | 0x80), static_cast<uint8_t>((i - 1) >> 7)};
    body.insert(body.end(), idx.begin(), idx.end());
  }
  expect_error(component({section(7, body)}), ErrorCode::InvalidComponent, "nested deeper than 100");
}

TEST_F(DecodeTest, TypesThatExpandExponentiallyAreRefused) {
  // type 0 = tuple<u8, u8>, type i = tuple<type i-1, type i-1>: 2^40 leaves.
  Bytes body;
  leb(body, 40);
  body.insert(body.end(), {0x6f, 0x02, 0x7d, 0x7d});
  for (uint8_t i = 1; i < 40; ++i) body.insert(body.end(), {0x6f, 0x02, static_cast<uint8_t>(i - 1), static_cast<uint8_t>(i - 1)});
  expect_error(component({section(7, body)}), ErrorCode::InvalidComponent, "type too large");
}

TEST_F(DecodeTest, ManyChecksOfOneLargeSharedTypeStopAtTheWorkBound) {
  // type i = tuple<type i-1, type i-1> for 15 levels (65535 nodes), then a
  // func type taking it, imported 400 times: each import walks the type.
  Bytes types;
  leb(types, 16);
  types.insert(types.end(), {0x6f, 0x02, 0x7d, 0x7d});
  for (uint8_t i = 1; i < 15; ++i) types.insert(types.end(), {0x6f, 0x02, static_cast<uint8_t>(i - 1), static_cast<uint8_t>(i - 1)});
  types.insert(types.end(), {0x40, 0x01});
  Bytes a = name("a");
  types.insert(types.end(), a.begin(), a.end());
  types.insert(types.end(), {14, 0x01, 0x00});
  Bytes imports;
  leb(imports, 400);
  for (int i = 0; i < 400; ++i) {
    imports.push_back(0x00);
    Bytes n = name("f" + std::to_string(i));
    imports.insert(imports.end(), n.begin(), n.end());
    imports.insert(imports.end(), {0x01, 15});
  }
  expect_error(component({section(7, types), section(10, imports)}), ErrorCode::InvalidComponent, "too complex");
}

TEST_F(DecodeTest, HugeCountsAreRefusedBeforeAllocating) {
  expect_error(component({section(7, {0xff, 0xff, 0xff, 0xff, 0x0f})}), ErrorCode::MalformedComponent,
               "cannot fit");
  expect_error(component({section(10, {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00})}), ErrorCode::MalformedComponent,
               "cannot fit");
  // A section size past the end of the file.
  expect_error(cat({kPreamble, {0x07, 0xff, 0xff, 0xff, 0xff, 0x0f}}), ErrorCode::MalformedComponent,
               "exceeds");
  // An integer longer than a u32.
  expect_error(cat({kPreamble, {0x07, 0xff, 0xff, 0xff, 0xff, 0x7f}}), ErrorCode::MalformedComponent,
               "integer too large");
}

TEST_F(DecodeTest, NamesMustBeUtf8KebabCaseAndUnique) {
  // (type (func)) then (import NAME (func (type 0))).
  auto with_import = [&](const Bytes& nm) {
    return component({section(7, {0x01, 0x40, 0x00, 0x01, 0x00}),
                      section(10, cat({{0x01, 0x00}, nm, {0x01, 0x00}}))});
  };
  ASSERT_TRUE(decode(with_import(name("run"))).has_value());
  Bytes bad_utf8{0x02, 0xc3, 0x28};
  expect_error(with_import(bad_utf8), ErrorCode::MalformedComponent, "UTF-8");
  expect_error(with_import(name("Run-fast")), ErrorCode::InvalidComponent, "kebab");
  expect_error(with_import(name("wasi:cli/run@1.0")), ErrorCode::InvalidComponent, "semver");
  Bytes twice = component({section(7, {0x01, 0x40, 0x00, 0x01, 0x00}),
                           section(10, cat({{0x02, 0x00}, name("run"), {0x01, 0x00, 0x00}, name("RUN"),
                                            {0x01, 0x00}}))});
  expect_error(twice, ErrorCode::InvalidComponent, "conflicts");
  auto ok = decode(with_import(name("wasi:cli/run@0.2.0")));
  ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
  EXPECT_EQ((*ok)->imports[0].version, "0.2.0");
}

TEST_F(DecodeTest, OutOfRangeIndicesAreInvalid) {
  // (export "f" (func 5)) with no function defined.
  expect_error(component({section(11, cat({{0x01, 0x00}, name("f"), {0x01, 0x05, 0x00}}))}),
               ErrorCode::InvalidComponent, "out of bounds");
  // (type (own 0)) where type 0 does not exist.
  expect_error(component({section(7, {0x01, 0x69, 0x00})}), ErrorCode::InvalidComponent, "out of bounds");
}

TEST_F(DecodeTest, FeaturesPastTheMvpAreNamed) {
  expect_error(component({section(7, {0x01, 0x66, 0x00})}), ErrorCode::UnsupportedFeature, "stream");
  expect_error(component({section(7, {0x01, 0x65, 0x00})}), ErrorCode::UnsupportedFeature, "future");
  expect_error(component({section(7, {0x01, 0x63, 0x73, 0x73})}), ErrorCode::UnsupportedFeature, "map");
  expect_error(component({section(7, {0x01, 0x43, 0x00, 0x01, 0x00})}), ErrorCode::UnsupportedFeature, "async");
  expect_error(component({section(8, {0x01, 0x1f})}), ErrorCode::UnsupportedFeature, "waitable-set.new");
  expect_error(component({section(12, {0x00})}), ErrorCode::UnsupportedFeature, "value");
}

TEST_F(DecodeTest, ResourcesFollowTheirRules) {
  // (type (resource (rep i32))) (type (borrow 0)) (type (func (result 1))): a borrow result.
  expect_error(component({section(7, {0x03, 0x3f, 0x7f, 0x00, 0x68, 0x00, 0x40, 0x00, 0x00, 0x01})}),
               ErrorCode::InvalidComponent, "borrow");
  // (type u32) (type (own 0)): own of a type that is not a resource.
  expect_error(component({section(7, {0x02, 0x79, 0x69, 0x00})}), ErrorCode::InvalidComponent,
               "not a resource type");
  // A resource defined in a component type.
  expect_error(component({section(7, {0x01, 0x41, 0x01, 0x01, 0x3f, 0x7f, 0x00})}), ErrorCode::InvalidComponent,
               "resources can only be defined");
  // resource.new of a resource this component defines: (core func (param i32) (result i32)).
  auto ok = decode(component({section(7, {0x01, 0x3f, 0x7f, 0x00}), section(8, {0x01, 0x02, 0x00})}));
  ASSERT_TRUE(ok.has_value()) << ok.error().to_string();
  ASSERT_EQ((*ok)->resources.size(), 1u);
  EXPECT_EQ((*ok)->resources[0].kind, ResourceOrigin::Kind::Defined);
  EXPECT_EQ((*ok)->canons[0].resource, (*ok)->resources[0].id);
  EXPECT_EQ((*ok)->spaces.core_funcs[0].type.to_string(), "(i32) -> (i32)");
  // resource.new of an imported resource: (import "r" (type (sub resource))).
  expect_error(component({section(10, cat({{0x01, 0x00}, name("r"), {0x03, 0x01}})), section(8, {0x01, 0x02, 0x00})}),
               ErrorCode::InvalidComponent, "defined in this component");
}

}  // namespace
}  // namespace airssys::wasm::cm
