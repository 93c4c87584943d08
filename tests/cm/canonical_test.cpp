// The canonical ABI: layout, lifting and lowering of every kind of value,
// flat and in memory, string transcoding, the traps on invalid values, and the
// resource handle rules.
//
// Guest memory here is a byte buffer behind GuestMemory and realloc a bump
// allocator over it (BumpHeap), the same allocator the specification's
// run_tests.py uses. Byte layouts marked "definitions.py" were produced by
// the specification's executable definitions on the same values:
//   python3 tests/cm/canonical_reference.py ../shared/component-model-testsuite/spec
// Longer than 900 lines: every kind of value and every trap of the
// canonical ABI, one short test each, over the same buffer-backed memory.

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>

#include "airssys/wasm/cm/canonical.hpp"
#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::cm {
namespace {

using engine::Value;

// A memory with a bump allocator: a shrinking realloc stays in place, a
// growing one takes fresh space and copies the old bytes. `grow_to`, when
// set, makes every realloc first grow the buffer (new storage, so the old
// span dangles: lowering must re-read the memory after realloc).
class BumpHeap final : public GuestMemory {
 public:
  explicit BumpHeap(size_t size) : mem(size) {}
  std::span<uint8_t> bytes() override { return mem; }

  Realloc realloc() {
    return [this](uint32_t old_ptr, uint32_t old_size, uint32_t align,
                  uint32_t new_size) -> Result<uint32_t> {
      calls.push_back({old_ptr, old_size, align, new_size});
      if (grow_by > 0) {
        std::vector<uint8_t> bigger(mem.size() + grow_by);
        std::memcpy(bigger.data(), mem.data(), mem.size());
        mem.swap(bigger);
      }
      if (old_ptr != 0 && new_size < old_size) return static_cast<uint32_t>(align_to(old_ptr, align));
      auto ret = static_cast<uint32_t>(align_to(last, align));
      last = ret + new_size;
      if (last > mem.size()) return make_error(ErrorCode::TrapUnreachable, "heap exhausted");
      std::memmove(mem.data() + ret, mem.data() + old_ptr, old_size);
      return ret;
    };
  }

  std::vector<uint8_t> mem;
  uint32_t last = 0;
  size_t grow_by = 0;
  std::vector<std::array<uint32_t, 4>> calls;
};

std::string hex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

template <class T>
void expect_trap(const Result<T>& r, std::string_view text) {
  ASSERT_FALSE(r.has_value()) << "no trap; expected: " << text;
  EXPECT_EQ(r.error().code, ErrorCode::TrapCanonical) << r.error().message;
  EXPECT_NE(r.error().message.find(text), std::string::npos) << r.error().message;
}

template <class T>
void expect_invalid(const Result<T>& r, std::string_view text) {
  ASSERT_FALSE(r.has_value()) << "accepted; expected: " << text;
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument) << r.error().message;
  EXPECT_NE(r.error().message.find(text), std::string::npos) << r.error().message;
}

Val items(Kind kind, std::vector<Val> v) { return Val{kind, 0, {}, std::move(v)}; }
Val with_case(Kind kind, uint64_t index, std::vector<Val> payload = {}) {
  return Val{kind, index, {}, std::move(payload)};
}
Val u8(uint64_t v) { return Val::u(Kind::U8, v); }
Val u32(uint64_t v) { return Val::u(Kind::U32, v); }

TypeRef t(Kind k) { return primitive(k); }

// An instance with a 256-byte memory, UTF-8 strings, and a call in progress.
class Canonical : public testing::Test {
 protected:
  Canonical() {
    opts.memory = &heap;
    opts.realloc = heap.realloc();
  }

  void write32(uint32_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) heap.mem[at + i] = static_cast<uint8_t>(v >> (8 * i));
  }

  // Lowers `value` in memory at 0 (allocations after it), lifts it back.
  Val memory_round_trip(const TypeRef& type, const Val& value) {
    heap.last = elem_size(*type);
    auto stored = store(cx, *type, value, 0);
    EXPECT_TRUE(stored.has_value()) << stored.error().message;
    auto loaded = load(cx, *type, 0);
    EXPECT_TRUE(loaded.has_value()) << loaded.error().message;
    return loaded.value_or(Val{});
  }

  Val flat_round_trip(const TypeRef& type, const Val& value) {
    auto flat = lower_flat(cx, *type, value);
    EXPECT_TRUE(flat.has_value()) << flat.error().message;
    if (!flat) return Val{};
    EXPECT_EQ(flat->size(), flatten_type(*type).size());
    auto lifted = lift_flat(cx, *type, *flat);
    EXPECT_TRUE(lifted.has_value()) << lifted.error().message;
    return lifted.value_or(Val{});
  }

  ResourceTypes types;
  InstanceState inst{types};
  BumpHeap heap{256};
  CanonOptions opts;
  CallContext call;
  LiftLowerContext cx{opts, inst, &call};
};

// ---------------------------------------------------------------- layout

TEST(CanonicalLayout, AlignmentAndSizeOfEveryKind) {
  struct Case {
    TypeRef type;
    uint32_t align, size;
  };
  std::vector<Case> cases = {
      {t(Kind::Bool), 1, 1},
      {t(Kind::S8), 1, 1},
      {t(Kind::U8), 1, 1},
      {t(Kind::S16), 2, 2},
      {t(Kind::U16), 2, 2},
      {t(Kind::S32), 4, 4},
      {t(Kind::U32), 4, 4},
      {t(Kind::S64), 8, 8},
      {t(Kind::U64), 8, 8},
      {t(Kind::F32), 4, 4},
      {t(Kind::F64), 8, 8},
      {t(Kind::Char), 4, 4},
      {t(Kind::String), 4, 8},
      {list_of(t(Kind::U64)), 4, 8},
      {record_of({{"a", t(Kind::U8)}, {"b", t(Kind::U16)}, {"c", t(Kind::U64)}, {"d", t(Kind::Bool)}}),
       8, 24},
      {tuple_of({t(Kind::U8), t(Kind::U32)}), 4, 8},
      {variant_of({{"a", t(Kind::U8)}, {"b", t(Kind::F32)}, {"c", t(Kind::U64)}, {"d", nullptr}}), 8,
       16},
      {enum_of({"a", "b"}), 1, 1},
      {option_of(t(Kind::U16)), 2, 4},
      {result_of(nullptr, nullptr), 1, 1},
      {result_of(t(Kind::String), t(Kind::U8)), 4, 12},
      {flags_of({"a"}), 1, 1},
      {own_of(1), 4, 4},
      {borrow_of(1), 4, 4},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(alignment(*c.type), c.align) << c.type->to_string();
    EXPECT_EQ(elem_size(*c.type), c.size) << c.type->to_string();
  }
}

TEST(CanonicalLayout, DiscriminantAndFlagsSizes) {
  EXPECT_EQ(discriminant_kind(1), Kind::U8);
  EXPECT_EQ(discriminant_kind(256), Kind::U8);
  EXPECT_EQ(discriminant_kind(257), Kind::U16);
  EXPECT_EQ(discriminant_kind(65536), Kind::U16);
  EXPECT_EQ(discriminant_kind(65537), Kind::U32);
  EXPECT_EQ(discriminant_size(257), 2u);
  EXPECT_EQ(flags_size(8), 1u);
  EXPECT_EQ(flags_size(9), 2u);
  EXPECT_EQ(flags_size(16), 2u);
  EXPECT_EQ(flags_size(17), 4u);
  EXPECT_EQ(flags_size(32), 4u);

  std::vector<std::string> labels;
  for (int i = 0; i < 300; ++i) labels.push_back("c" + std::to_string(i));
  auto big = enum_of(labels);
  EXPECT_EQ(alignment(*big), 2u);
  EXPECT_EQ(elem_size(*big), 2u);
}

TEST(CanonicalLayout, FlattenJoinsVariantPayloads) {
  using F = FlatType;
  EXPECT_EQ(join(F::I32, F::F32), F::I32);
  EXPECT_EQ(join(F::F32, F::F32), F::F32);
  EXPECT_EQ(join(F::F32, F::I64), F::I64);
  EXPECT_EQ(join(F::F64, F::I32), F::I64);
  auto v = variant_of({{"a", t(Kind::U8)}, {"b", t(Kind::F32)}, {"c", t(Kind::U64)}, {"d", nullptr}});
  EXPECT_EQ(flatten_type(*v), (std::vector<F>{F::I32, F::I64}));
  auto w = variant_of({{"a", t(Kind::F32)}, {"b", tuple_of({t(Kind::F32), t(Kind::F64)})}});
  EXPECT_EQ(flatten_type(*w), (std::vector<F>{F::I32, F::F32, F::F64}));
  auto r = result_of(t(Kind::String), t(Kind::F64));
  EXPECT_EQ(flatten_type(*r), (std::vector<F>{F::I32, F::I64, F::I32}));
  EXPECT_EQ(flatten_type(*record_of({{"s", t(Kind::String)}, {"f", flags_of({"x"})}})),
            (std::vector<F>{F::I32, F::I32, F::I32}));
}

TEST(CanonicalLayout, FlattenFunctypeSpillsParamsAndResults) {
  using F = FlatType;
  FuncType many;
  for (int i = 0; i < 17; ++i) many.params.push_back({"p" + std::to_string(i), t(Kind::U32)});
  EXPECT_EQ(flatten_functype(many, FlattenContext::Lift).params, std::vector<F>{F::I32});
  many.params.pop_back();
  EXPECT_EQ(flatten_functype(many, FlattenContext::Lift).params.size(), 16u);

  FuncType str{{{"a", t(Kind::F64)}}, t(Kind::String)};
  auto lift = flatten_functype(str, FlattenContext::Lift);
  EXPECT_EQ(lift.params, std::vector<F>{F::F64});
  EXPECT_EQ(lift.results, std::vector<F>{F::I32});
  auto lower = flatten_functype(str, FlattenContext::Lower);
  EXPECT_EQ(lower.params, (std::vector<F>{F::F64, F::I32}));
  EXPECT_TRUE(lower.results.empty());

  FuncType one{{}, t(Kind::U64)};
  EXPECT_EQ(flatten_functype(one, FlattenContext::Lower).results, std::vector<F>{F::I64});
}

TEST(CanonicalLayout, Despecialize) {
  auto tup = despecialize(tuple_of({t(Kind::U8), t(Kind::String)}));
  ASSERT_EQ(tup->kind, Kind::Record);
  EXPECT_EQ(tup->fields[1].name, "1");
  auto opt = despecialize(option_of(t(Kind::U8)));
  ASSERT_EQ(opt->kind, Kind::Variant);
  EXPECT_EQ(opt->cases[0].name, "none");
  EXPECT_EQ(opt->cases[1].type->kind, Kind::U8);
  auto res = despecialize(result_of(nullptr, t(Kind::U8)));
  EXPECT_EQ(res->cases[1].name, "error");
  EXPECT_EQ(res->cases[0].type, nullptr);
  auto en = despecialize(enum_of({"x", "y"}));
  EXPECT_EQ(en->cases.size(), 2u);
  auto str = t(Kind::String);
  EXPECT_EQ(despecialize(str), str);
  // Layout is the same before and after.
  auto r = result_of(t(Kind::String), t(Kind::U8));
  EXPECT_EQ(elem_size(*r), elem_size(*despecialize(r)));
  EXPECT_EQ(flatten_type(*r), flatten_type(*despecialize(r)));
}

// ---------------------------------------------------------------- numbers

TEST_F(Canonical, PrimitivesRoundTripFlatAndInMemory) {
  std::vector<std::pair<TypeRef, Val>> cases = {
      {t(Kind::Bool), Val::boolean(true)},
      {t(Kind::Bool), Val::boolean(false)},
      {t(Kind::S8), Val::s(Kind::S8, -128)},
      {t(Kind::U8), u8(255)},
      {t(Kind::S16), Val::s(Kind::S16, -2)},
      {t(Kind::U16), Val::u(Kind::U16, 65535)},
      {t(Kind::S32), Val::s(Kind::S32, INT32_MIN)},
      {t(Kind::U32), u32(0xffffffff)},
      {t(Kind::S64), Val::s(Kind::S64, INT64_MIN)},
      {t(Kind::U64), Val::u(Kind::U64, UINT64_MAX)},
      {t(Kind::F32), Val::f32_bits(0x3fc00000)},
      {t(Kind::F64), Val::f64_bits(0xbff8000000000000ull)},
      {t(Kind::Char), Val::character(U'\U0001F370')},
      {t(Kind::Char), Val::character(0xD7FF)},
  };
  for (const auto& [type, value] : cases) {
    EXPECT_EQ(flat_round_trip(type, value), value) << value.to_string();
    EXPECT_EQ(memory_round_trip(type, value), value) << value.to_string();
  }
}

TEST_F(Canonical, IntegersLiftIgnoringHighBitsAndSignExtend) {
  auto u = lift_flat(cx, *t(Kind::U8), std::array{Value::i32(0x1ff)});
  ASSERT_TRUE(u);
  EXPECT_EQ(u->bits, 0xffu);
  auto s = lift_flat(cx, *t(Kind::S8), std::array{Value::i32(0x80)});
  ASSERT_TRUE(s);
  EXPECT_EQ(static_cast<int64_t>(s->bits), -128);
  auto s16 = lift_flat(cx, *t(Kind::S16), std::array{Value::i32(-1)});
  ASSERT_TRUE(s16);
  EXPECT_EQ(static_cast<int64_t>(s16->bits), -1);
  // A negative s32 lowers to its two's complement i32.
  auto low = lower_flat(cx, *t(Kind::S32), Val::s(Kind::S32, -5));
  ASSERT_TRUE(low);
  EXPECT_EQ((*low)[0].as_i32(), -5);
  // Out of range values from the host are refused, not truncated.
  expect_invalid(lower_flat(cx, *t(Kind::U8), u8(256)), "out of range");
  expect_invalid(lower_flat(cx, *t(Kind::S8), Val::s(Kind::S8, 200)), "out of range");
}

TEST_F(Canonical, BoolLiftsAnyNonZeroAsTrue) {
  auto flat = lift_flat(cx, *t(Kind::Bool), std::array{Value::i32(2)});
  ASSERT_TRUE(flat);
  EXPECT_EQ(*flat, Val::boolean(true));
  heap.mem[0] = 0x80;
  auto mem = load(cx, *t(Kind::Bool), 0);
  ASSERT_TRUE(mem);
  EXPECT_EQ(*mem, Val::boolean(true));
}

TEST_F(Canonical, NaNsAreCanonicalizedOnLiftAndLower) {
  // A signalling NaN with payload and sign, and a quiet one with payload.
  auto f32 = lift_flat(cx, *t(Kind::F32), std::array{Value::f32_bits(0xff800001)});
  ASSERT_TRUE(f32);
  EXPECT_EQ(f32->bits, kCanonicalNan32);
  auto f64 = lift_flat(cx, *t(Kind::F64), std::array{Value::f64_bits(0x7ff0000000000001ull)});
  ASSERT_TRUE(f64);
  EXPECT_EQ(f64->bits, kCanonicalNan64);
  write32(0, 0x7fc0dead);
  auto loaded = load(cx, *t(Kind::F32), 0);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->bits, kCanonicalNan32);

  auto lowered = lower_flat(cx, *t(Kind::F64), Val::f64_bits(0xfff8000000000abcull));
  ASSERT_TRUE(lowered);
  EXPECT_EQ((*lowered)[0].f64_bits(), kCanonicalNan64);
  ASSERT_TRUE(store(cx, *t(Kind::F32), Val::f32_bits(0xffc00001), 4));
  EXPECT_EQ(hex(std::span(heap.mem).subspan(4, 4)), "0000c07f");
  // Infinities are not NaNs.
  EXPECT_EQ(canonicalize_nan32(0x7f800000), 0x7f800000u);
  EXPECT_EQ(canonicalize_nan64(0xfff0000000000000ull), 0xfff0000000000000ull);
}

TEST_F(Canonical, CharTrapsOnNonScalarValues) {
  for (int32_t bad : {0xD800, 0xDFFF, 0x110000, -1}) {
    expect_trap(lift_flat(cx, *t(Kind::Char), std::array{Value::i32(bad)}),
                "invalid `char` bit pattern");
  }
  write32(0, 0xDC00);
  expect_trap(load(cx, *t(Kind::Char), 0), "invalid `char` bit pattern");
  expect_invalid(lower_flat(cx, *t(Kind::Char), Val::character(0xD800)), "scalar value");
}

// ---------------------------------------------------------------- strings

TEST_F(Canonical, Utf8StringsLiftAndTrapOnInvalidBytes) {
  std::memcpy(heap.mem.data() + 8, "h\xc3\xb6", 3);
  auto s = lift_flat(cx, *t(Kind::String), std::array{Value::i32(8), Value::i32(3)});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->text, "h\xc3\xb6");

  heap.mem[16] = 0xff;
  expect_trap(load_string_from_range(cx, 16, 1), "invalid utf-8");
  heap.mem[16] = 0xc3;
  expect_trap(load_string_from_range(cx, 16, 1), "incomplete utf-8 byte sequence");
  std::memcpy(heap.mem.data() + 16, "\xed\xa0\x80", 3);  // an encoded surrogate
  expect_trap(load_string_from_range(cx, 16, 3), "invalid utf-8");
  std::memcpy(heap.mem.data() + 16, "\xc0\xaf", 2);  // overlong '/'
  expect_trap(load_string_from_range(cx, 16, 2), "invalid utf-8");
  std::memcpy(heap.mem.data() + 16, "\xe0\x80\xaf", 3);  // overlong '/' in three bytes
  expect_trap(load_string_from_range(cx, 16, 3), "invalid utf-8");
  std::memcpy(heap.mem.data() + 16, "\xf0\x8f\xbf\xbf", 4);  // overlong U+FFFF in four
  expect_trap(load_string_from_range(cx, 16, 4), "invalid utf-8");
  std::memcpy(heap.mem.data() + 16, "\xf4\x90\x80\x80", 4);  // past U+10FFFF
  expect_trap(load_string_from_range(cx, 16, 4), "invalid utf-8");
  // Long ASCII runs are checked a word at a time; what follows them still is.
  std::memcpy(heap.mem.data() + 64, "abcdefghijklmnopq\xc3\xb6rstuvwxyz0123456789", 38);
  auto long_text = load_string_from_range(cx, 64, 38);
  ASSERT_TRUE(long_text);
  EXPECT_EQ(*long_text, "abcdefghijklmnopq\xc3\xb6rstuvwxyz0123456789");
  heap.mem[64 + 35] = 0x80;
  expect_trap(load_string_from_range(cx, 64, 38), "invalid utf-8: byte 0x80 at offset 35");
  expect_invalid(store_string_into_range(cx, "abcdefgh12345678\xc3"), "incomplete utf-8");
}

TEST_F(Canonical, StringsOutOfBoundsTrapEvenWhenEmpty) {
  auto empty = load_string_from_range(cx, 100, 0);
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "");
  expect_trap(load_string_from_range(cx, 0xdeadbeef, 0), "string content out-of-bounds");
  expect_trap(load_string_from_range(cx, 250, 7), "string content out-of-bounds");
  // The byte length is limited before anything is read.
  opts.encoding = StringEncoding::Utf16;
  expect_trap(load_string_from_range(cx, 0, 0x7fffffff), "exceeds the limit");
  // End of memory, exactly.
  opts.encoding = StringEncoding::Utf8;
  heap.mem[254] = 'o';
  heap.mem[255] = 'k';
  auto end = load_string_from_range(cx, 254, 2);
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, "ok");
}

TEST_F(Canonical, Utf16AndLatin1StringsLiftToUtf8) {
  opts.encoding = StringEncoding::Utf16;
  // "hö☃🍰" in UTF-16LE (definitions.py, "utf16").
  const uint8_t utf16[] = {0x68, 0x00, 0xf6, 0x00, 0x03, 0x26, 0x3c, 0xd8, 0x70, 0xdf};
  std::memcpy(heap.mem.data() + 8, utf16, sizeof utf16);
  auto s = load_string_from_range(cx, 8, 5);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(*s, "h\xc3\xb6\xe2\x98\x83\xf0\x9f\x8d\xb0");
  expect_trap(load_string_from_range(cx, 9, 1), "unaligned pointer");
  heap.mem[40] = 0x00, heap.mem[41] = 0xdc;  // a lone low surrogate
  expect_trap(load_string_from_range(cx, 40, 1), "invalid utf-16");
  heap.mem[40] = 0x00, heap.mem[41] = 0xd8;  // a high surrogate at the end
  expect_trap(load_string_from_range(cx, 40, 1), "invalid utf-16");

  opts.encoding = StringEncoding::Latin1Utf16;
  heap.mem[48] = 'h', heap.mem[49] = 0xf6, heap.mem[50] = '!';
  auto latin1 = load_string_from_range(cx, 48, 3);
  ASSERT_TRUE(latin1);
  EXPECT_EQ(*latin1, "h\xc3\xb6!");
  auto tagged = load_string_from_range(cx, 8, 5 | kUtf16Tag);
  ASSERT_TRUE(tagged);
  EXPECT_EQ(*tagged, *s);
  expect_trap(load_string_from_range(cx, 49, 1), "unaligned pointer");
}

TEST_F(Canonical, StringsStoreInEveryEncodingAsTheSpecificationDoes) {
  struct Case {
    StringEncoding encoding;
    std::string text;
    std::string memory;  // definitions.py, the bytes up to the heap's end
  };
  std::vector<Case> cases = {
      {StringEncoding::Utf8, "h\xc3\xb6\xe2\x98\x83", "080000000600000068c3b6e29883"},
      {StringEncoding::Utf16, "h\xc3\xb6\xe2\x98\x83\xf0\x9f\x8d\xb0",
       "08000000050000006800f60003263cd870df00000000000000000000"},
      {StringEncoding::Latin1Utf16, "h\xc3\xb6!", "080000000300000068f62100"},
      // Latin-1 first, then inflated to UTF-16 in a grown allocation.
      {StringEncoding::Latin1Utf16, "h\xc3\xb6\xe2\x98\x83\xf0\x9f\x8d\xb0",
       "120000000500008068f600000000000000006800f60003263cd870df00000000000000000000"},
  };
  for (const auto& c : cases) {
    heap = BumpHeap(96);
    opts.realloc = heap.realloc();
    opts.encoding = c.encoding;
    Val v = memory_round_trip(t(Kind::String), Val::string(c.text));
    EXPECT_EQ(hex(std::span(heap.mem).first(heap.last)), c.memory) << string_encoding_name(c.encoding);
    EXPECT_EQ(v.text, c.text) << string_encoding_name(c.encoding);
  }
}

TEST_F(Canonical, StringsTranscodeBetweenEncodings) {
  // Lifted from one encoding, lowered into another: the same text arrives.
  const std::string text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";  // aé€😀z
  for (auto from : {StringEncoding::Utf8, StringEncoding::Utf16, StringEncoding::Latin1Utf16}) {
    for (auto to : {StringEncoding::Utf8, StringEncoding::Utf16, StringEncoding::Latin1Utf16}) {
      BumpHeap a(128), b(128);
      CanonOptions oa{from, &a, a.realloc(), false};
      CanonOptions ob{to, &b, b.realloc(), false};
      LiftLowerContext ca{oa, inst, &call}, cb{ob, inst, &call};
      auto flat = lower_flat(ca, *t(Kind::String), Val::string(text));
      ASSERT_TRUE(flat) << flat.error().message;
      auto lifted = lift_flat(ca, *t(Kind::String), *flat);
      ASSERT_TRUE(lifted) << lifted.error().message;
      auto again = lower_flat(cb, *t(Kind::String), *lifted);
      ASSERT_TRUE(again);
      auto back = lift_flat(cb, *t(Kind::String), *again);
      ASSERT_TRUE(back);
      EXPECT_EQ(back->text, text) << string_encoding_name(from) << " -> " << string_encoding_name(to);
    }
  }
  // A Latin-1-only string stays untagged in latin1+utf16, one byte a char.
  opts.encoding = StringEncoding::Latin1Utf16;
  auto range = store_string_into_range(cx, "caf\xc3\xa9");
  ASSERT_TRUE(range);
  EXPECT_EQ(range->second, 4u);
  EXPECT_EQ(heap.mem[range->first + 3], 0xe9);
  auto wide = store_string_into_range(cx, "\xe2\x82\xac");
  ASSERT_TRUE(wide);
  EXPECT_EQ(wide->second, 1u | kUtf16Tag);
  // Invalid UTF-8 from the host is refused.
  expect_invalid(store_string_into_range(cx, "\xff"), "invalid utf-8");
}

TEST_F(Canonical, EmptyStringsAndListsStillCallRealloc) {
  auto range = store_string_into_range(cx, "");
  ASSERT_TRUE(range);
  EXPECT_EQ(range->second, 0u);
  auto list = lower_flat(cx, *list_of(t(Kind::U8)), items(Kind::List, {}));
  ASSERT_TRUE(list);
  ASSERT_EQ(heap.calls.size(), 2u);
  EXPECT_EQ(heap.calls[1], (std::array<uint32_t, 4>{0, 0, 1, 0}));
}

// ---------------------------------------------------------------- realloc

TEST_F(Canonical, ReallocResultsAreCheckedAndItsErrorsPropagate) {
  opts.realloc = [](uint32_t, uint32_t, uint32_t, uint32_t) -> Result<uint32_t> { return 0xffffffffu; };
  expect_trap(lower_flat(cx, *list_of(t(Kind::U32)), items(Kind::List, {u32(1), u32(2)})),
              "unaligned pointer");
  opts.realloc = [](uint32_t, uint32_t, uint32_t, uint32_t) -> Result<uint32_t> { return 0xfffffff0u; };
  expect_trap(lower_flat(cx, *list_of(t(Kind::U32)), items(Kind::List, {u32(1)})),
              "realloc returned out-of-bounds pointer");
  // Even for a zero-size allocation.
  expect_trap(lower_flat(cx, *list_of(t(Kind::U32)), items(Kind::List, {})),
              "realloc returned out-of-bounds pointer");
  expect_trap(store_string_into_range(cx, "abc"), "realloc returned out-of-bounds pointer");
  opts.realloc = [](uint32_t, uint32_t, uint32_t, uint32_t) -> Result<uint32_t> {
    return make_error(ErrorCode::TrapUnreachable, "unreachable in realloc");
  };
  auto r = store_string_into_range(cx, "abc");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::TrapUnreachable);
  opts.realloc = nullptr;
  expect_trap(store_string_into_range(cx, "abc"), "`realloc` is required");
  opts.memory = nullptr;
  expect_trap(load_string_from_range(cx, 0, 0), "`memory` is required");
}

TEST_F(Canonical, ReallocRunsWithMayLeaveCleared) {
  bool seen = true;
  opts.realloc = [&](uint32_t, uint32_t, uint32_t, uint32_t) -> Result<uint32_t> {
    seen = inst.may_leave;
    return 8u;
  };
  ASSERT_TRUE(store_string_into_range(cx, "x"));
  EXPECT_FALSE(seen);
  EXPECT_TRUE(inst.may_leave);
}

TEST_F(Canonical, LoweringRereadsMemoryThatReallocGrew) {
  heap = BumpHeap(16);
  heap.grow_by = 4096;  // every realloc moves the memory
  opts.realloc = heap.realloc();
  auto type = list_of(tuple_of({t(Kind::String), t(Kind::U32)}));
  Val value = items(Kind::List, {items(Kind::Tuple, {Val::string("first"), u32(1)}),
                                 items(Kind::Tuple, {Val::string("second"), u32(2)})});
  auto flat = lower_flat(cx, *type, value);
  ASSERT_TRUE(flat) << flat.error().message;
  auto back = lift_flat(cx, *type, *flat);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, value);
}

// ---------------------------------------------------------------- lists, records

// Each lifted list element is a Val in host memory: the lifting of one
// call's values builds at most kMaxLiftedListElements of them, counted over
// all its lists, and traps past it rather than holding tens of times the
// guest's memory.
TEST_F(Canonical, TheListElementsOneCallLiftsAreBounded) {
  heap.mem.resize(kMaxLiftedListElements + 64);
  auto bytes = list_of(t(Kind::U8));
  auto at_limit = lift_flat(cx, *bytes, std::array{Value::i32(0),
                                                   Value::i32(static_cast<int32_t>(kMaxLiftedListElements))});
  ASSERT_TRUE(at_limit.has_value()) << at_limit.error().message;
  EXPECT_EQ(at_limit->items.size(), kMaxLiftedListElements);
  // The same context has no element left: one more list traps.
  expect_trap(lift_flat(cx, *bytes, std::array{Value::i32(0), Value::i32(1)}),
              "list elements lifted at once");
  // A fresh call's context counts from zero; two lists of one call add up.
  CallContext next;
  LiftLowerContext fresh{opts, inst, &next};
  const auto half = static_cast<int32_t>(kMaxLiftedListElements / 2 + 1);
  auto two = tuple_of({bytes, bytes});
  expect_trap(lift_flat(fresh, *two, std::array{Value::i32(0), Value::i32(half), Value::i32(0),
                                                Value::i32(half)}),
              "list elements lifted at once");
}

TEST_F(Canonical, ListsTrapOutOfBoundsMisalignedAndTooLong) {
  auto type = list_of(t(Kind::U32));
  expect_trap(lift_flat(cx, *type, std::array{Value::i32(2), Value::i32(1)}), "unaligned pointer");
  expect_trap(lift_flat(cx, *type, std::array{Value::i32(252), Value::i32(2)}),
              "list content out-of-bounds");
  expect_trap(lift_flat(cx, *type, std::array{Value::i32(0), Value::i32(0x4000000)}),
              "exceeds the limit");
  // A length whose byte size wraps 32 bits is not a small range.
  expect_trap(lift_flat(cx, *list_of(t(Kind::U64)), std::array{Value::i32(0), Value::i32(0x20000001)}),
              "exceeds the limit");
  write32(0, 16);
  write32(4, 2);
  write32(16, 7);
  write32(20, 9);
  auto loaded = load(cx, *type, 0);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(*loaded, items(Kind::List, {u32(7), u32(9)}));
  expect_trap(load(cx, *type, 2), "unaligned pointer");
  expect_trap(load(cx, *type, 252), "out-of-bounds");
}

TEST_F(Canonical, RecordsAndListsOfTuplesMatchTheSpecificationLayout) {
  // definitions.py, "record".
  auto rec = record_of({{"a", t(Kind::U8)}, {"b", t(Kind::U16)}, {"c", t(Kind::U64)}, {"d", t(Kind::Bool)}});
  Val r = items(Kind::Record, {u8(0xab), Val::u(Kind::U16, 0x1234),
                               Val::u(Kind::U64, 0x0102030405060708ull), Val::boolean(true)});
  heap = BumpHeap(96);
  opts.realloc = heap.realloc();
  EXPECT_EQ(memory_round_trip(rec, r), r);
  EXPECT_EQ(hex(std::span(heap.mem).first(24)), "ab0034120000000008070605040302010100000000000000");
  EXPECT_EQ(flat_round_trip(rec, r), r);

  // definitions.py, "list-tuple".
  heap = BumpHeap(96);
  opts.realloc = heap.realloc();
  auto lst = list_of(tuple_of({t(Kind::U8), t(Kind::String)}));
  Val l = items(Kind::List, {items(Kind::Tuple, {u8(1), Val::string("ab")}),
                             items(Kind::Tuple, {u8(2), Val::string("c")})});
  EXPECT_EQ(memory_round_trip(lst, l), l);
  EXPECT_EQ(hex(std::span(heap.mem).first(heap.last)),
            "0800000002000000010000002000000002000000020000002200000001000000616263");
  expect_invalid(lower_flat(cx, *rec, items(Kind::Record, {u8(1)})), "fields");
  expect_invalid(lower_flat(cx, *rec, u8(1)), "u8 value where a record");
}

// ---------------------------------------------------------------- variants

TEST_F(Canonical, VariantsMatchTheSpecificationFlatAndInMemory) {
  auto var = variant_of({{"a", t(Kind::U8)}, {"b", t(Kind::F32)}, {"c", t(Kind::U64)}, {"d", nullptr}});
  Val b = with_case(Kind::Variant, 1, {Val::f32_bits(0x3fc00000)});
  // definitions.py, "variant-f32": flat [1, 0x3fc00000] with the f32 in an i64.
  auto flat = lower_flat(cx, *var, b);
  ASSERT_TRUE(flat);
  ASSERT_EQ(flat->size(), 2u);
  EXPECT_EQ((*flat)[0].as_i32(), 1);
  EXPECT_EQ((*flat)[1].type(), FlatType::I64);
  EXPECT_EQ((*flat)[1].as_i64(), 0x3fc00000);
  EXPECT_EQ(flat_round_trip(var, b), b);
  EXPECT_EQ(memory_round_trip(var, b), b);
  EXPECT_EQ(hex(std::span(heap.mem).first(16)), "01000000000000000000c03f00000000");
  for (uint64_t i : {0u, 2u, 3u}) {
    Val v = i == 3 ? with_case(Kind::Variant, 3)
                   : with_case(Kind::Variant, i, {i == 0 ? u8(9) : Val::u(Kind::U64, 1ull << 40)});
    EXPECT_EQ(flat_round_trip(var, v), v);
    EXPECT_EQ(memory_round_trip(var, v), v);
  }
  // An i64 slot carrying an i32 payload: only the low 32 bits count.
  auto lifted = lift_flat(cx, *var, std::array{Value::i32(0), Value::i64(0x1234567800000041ll)});
  ASSERT_TRUE(lifted);
  EXPECT_EQ(lifted->items[0], u8(0x41));
}

TEST_F(Canonical, OptionsResultsAndEnumsMatchTheSpecification) {
  // definitions.py, "option-result": some(error("no")).
  auto type = option_of(result_of(t(Kind::U32), t(Kind::String)));
  Val v = with_case(Kind::Option, 1, {with_case(Kind::Result, 1, {Val::string("no")})});
  heap = BumpHeap(96);
  opts.realloc = heap.realloc();
  auto flat = lower_flat(cx, *type, v);
  ASSERT_TRUE(flat);
  ASSERT_EQ(flat->size(), 4u);
  EXPECT_EQ((*flat)[0].as_i32(), 1);
  EXPECT_EQ((*flat)[1].as_i32(), 1);
  EXPECT_EQ((*flat)[2].as_i32(), 0);
  EXPECT_EQ((*flat)[3].as_i32(), 2);
  EXPECT_EQ(hex(std::span(heap.mem).first(2)), "6e6f");
  heap = BumpHeap(96);
  opts.realloc = heap.realloc();
  EXPECT_EQ(memory_round_trip(type, v), v);
  EXPECT_EQ(hex(std::span(heap.mem).first(heap.last)), "010000000100000010000000020000006e6f");

  for (const Val& x : {with_case(Kind::Option, 0), with_case(Kind::Option, 1, {with_case(Kind::Result, 0, {u32(5)})})}) {
    EXPECT_EQ(flat_round_trip(type, x), x);
    EXPECT_EQ(memory_round_trip(type, x), x);
  }
  auto en = enum_of({"a", "b", "c"});
  EXPECT_EQ(flat_round_trip(en, with_case(Kind::Enum, 2)), with_case(Kind::Enum, 2));
  auto unit = result_of(nullptr, nullptr);
  EXPECT_EQ(memory_round_trip(unit, with_case(Kind::Result, 1)), with_case(Kind::Result, 1));
  expect_invalid(lower_flat(cx, *en, with_case(Kind::Enum, 3)), "case 3");
  expect_invalid(lower_flat(cx, *type, with_case(Kind::Option, 1)), "payload");
}

TEST_F(Canonical, BadDiscriminantsTrap) {
  auto var = variant_of({{"a", t(Kind::U8)}, {"b", nullptr}});
  expect_trap(lift_flat(cx, *var, std::array{Value::i32(2), Value::i32(0)}),
              "invalid variant discriminant 2");
  expect_trap(lift_flat(cx, *enum_of({"x"}), std::array{Value::i32(-1)}),
              "invalid variant discriminant");
  heap.mem[0] = 2;
  expect_trap(load(cx, *option_of(t(Kind::U8)), 0), "invalid variant discriminant");
  expect_trap(load(cx, *result_of(nullptr, nullptr), 0), "invalid variant discriminant");
  heap.mem[0] = 3;
  expect_trap(load(cx, *enum_of({"a", "b", "c"}), 0), "invalid variant discriminant 3 (3 cases)");
}

TEST_F(Canonical, FlagsPackIntoTheSmallestIntegerAndIgnoreUnknownBits) {
  std::vector<std::string> labels;
  for (int i = 0; i < 12; ++i) labels.push_back("f" + std::to_string(i));
  auto type = flags_of(labels);
  Val v = Val::u(Kind::Flags, (1u << 0) | (1u << 3) | (1u << 11));
  EXPECT_EQ(memory_round_trip(type, v), v);
  EXPECT_EQ(hex(std::span(heap.mem).first(2)), "0908");  // definitions.py, "flags12"
  EXPECT_EQ(flat_round_trip(type, v), v);
  auto lifted = lift_flat(cx, *type, std::array{Value::i32(-1)});
  ASSERT_TRUE(lifted);
  EXPECT_EQ(lifted->bits, 0xfffu);
  heap.mem[0] = 0xff, heap.mem[1] = 0xff;
  auto loaded = load(cx, *type, 0);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->bits, 0xfffu);
  expect_invalid(lower_flat(cx, *type, Val::u(Kind::Flags, 1u << 12)), "past its 12 labels");
}

// ---------------------------------------------------------------- parameter lists

TEST_F(Canonical, ManyParametersSpillThroughOnePointer) {
  std::vector<TypeRef> params(17, t(Kind::U32));
  std::vector<Val> values;
  for (uint32_t i = 0; i < 17; ++i) values.push_back(u32(i * 3));
  auto flat = lower_flat_values(cx, kMaxFlatParams, params, values);
  ASSERT_TRUE(flat) << flat.error().message;
  ASSERT_EQ(flat->size(), 1u);
  EXPECT_EQ(heap.calls.back(), (std::array<uint32_t, 4>{0, 0, 4, 68}));
  auto back = lift_flat_values(cx, kMaxFlatParams, params, *flat);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, values);
  expect_trap(lift_flat_values(cx, kMaxFlatParams, params, std::array{Value::i32(2)}),
              "unaligned pointer");
  expect_trap(lift_flat_values(cx, kMaxFlatParams, params, std::array{Value::i32(200)}),
              "out-of-bounds");
  // Sixteen stay flat.
  params.pop_back();
  values.pop_back();
  auto sixteen = lower_flat_values(cx, kMaxFlatParams, params, values);
  ASSERT_TRUE(sixteen);
  EXPECT_EQ(sixteen->size(), 16u);
}

TEST_F(Canonical, ResultsSpillToTheCallersReturnArea) {
  std::vector<TypeRef> results{t(Kind::String)};
  std::vector<Val> values{Val::string("hi")};
  heap.last = 64;
  auto flat = lower_flat_values(cx, kMaxFlatResults, results, values, 16u);
  ASSERT_TRUE(flat);
  EXPECT_TRUE(flat->empty());
  auto back = lift_flat_values(cx, kMaxFlatResults, results, std::array{Value::i32(16)});
  ASSERT_TRUE(back);
  EXPECT_EQ((*back)[0].text, "hi");
  expect_trap(lower_flat_values(cx, kMaxFlatResults, results, values, 18u), "unaligned pointer");
  expect_trap(lower_flat_values(cx, kMaxFlatResults, results, values, 252u), "out-of-bounds");
  // A core value of the wrong type is the caller's mismatch, not a trap.
  auto wrong = lift_flat_values(cx, kMaxFlatParams, std::vector<TypeRef>{t(Kind::U32)},
                                std::array{Value::i64(1)});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::SignatureMismatch);
}

// ---------------------------------------------------------------- resources

class Resources : public Canonical {
 protected:
  const ResourceType& rt = types.define(&inst, [this](uint32_t rep) -> Result<void> {
    destroyed.push_back(rep);
    return {};
  });
  std::vector<uint32_t> destroyed;
};

TEST_F(Resources, NewRepDropAndTheDestructor) {
  auto h1 = resource_new(inst, rt, 42);
  ASSERT_TRUE(h1);
  EXPECT_EQ(*h1, 1u);  // index 0 is never used
  auto h2 = resource_new(inst, rt, 43);
  ASSERT_TRUE(h2);
  EXPECT_EQ(*h2, 2u);
  auto rep = resource_rep(inst, rt, *h2);
  ASSERT_TRUE(rep);
  EXPECT_EQ(*rep, 43u);
  ASSERT_TRUE(resource_drop(inst, rt, *h1));
  EXPECT_EQ(destroyed, std::vector<uint32_t>{42});
  expect_trap(resource_drop(inst, rt, *h1), "unknown handle index 1");
  expect_trap(resource_rep(inst, rt, *h1), "unknown handle index 1");
  expect_trap(resource_drop(inst, rt, 0), "unknown handle index 0");
  expect_trap(resource_drop(inst, rt, 0xffffffff), "unknown handle index 4294967295");
  // The freed index is the next one handed out.
  auto h3 = resource_new(inst, rt, 44);
  ASSERT_TRUE(h3);
  EXPECT_EQ(*h3, 1u);
}

TEST_F(Resources, HandlesOfAnotherTypeTrap) {
  const ResourceType& other = types.define(&inst);
  auto h = resource_new(inst, rt, 1);
  ASSERT_TRUE(h);
  expect_trap(resource_drop(inst, other, *h), "used with the wrong type");
  expect_trap(resource_rep(inst, other, *h), "used with the wrong type");
  expect_trap(lift_own_handle(cx, *h, *own_of(other.id)), "used with the wrong type");
}

TEST_F(Resources, OwnHandlesMoveOnLiftAndLower) {
  auto h = resource_new(inst, rt, 77);
  ASSERT_TRUE(h);
  auto type = own_of(rt.id);
  auto lifted = lift_flat(cx, *type, std::array{Value::i32(static_cast<int32_t>(*h))});
  ASSERT_TRUE(lifted);
  EXPECT_EQ(*lifted, Val::u(Kind::Own, 77));
  EXPECT_EQ(inst.handles.live(), 0u);  // ownership left the table
  expect_trap(lift_flat(cx, *type, std::array{Value::i32(static_cast<int32_t>(*h))}),
              "unknown handle index");

  // Lowered into another instance, it becomes a handle there.
  InstanceState other(types);
  LiftLowerContext ocx{opts, other, &call};
  auto lowered = lower_flat(ocx, *type, *lifted);
  ASSERT_TRUE(lowered);
  auto rep = resource_rep(other, rt, static_cast<uint32_t>((*lowered)[0].as_i32()));
  ASSERT_TRUE(rep);
  EXPECT_EQ(*rep, 77u);
  // A borrow handle cannot be lifted as own.
  CallContext inner;
  LiftLowerContext icx{opts, other, &inner};
  auto b = lower_borrow_handle(icx, 5, *borrow_of(rt.id));
  ASSERT_TRUE(b);
  expect_trap(lift_own_handle(icx, *b, *type), "borrow handle where an own handle");
}

TEST_F(Resources, LentHandlesCannotBeDroppedOrMovedUntilTheCallResolves) {
  auto h = resource_new(inst, rt, 9);
  ASSERT_TRUE(h);
  {
    CallContext subtask;
    LiftLowerContext caller{opts, inst, &subtask};
    auto rep = lift_borrow_handle(caller, *h, *borrow_of(rt.id));
    ASSERT_TRUE(rep);
    EXPECT_EQ(*rep, 9u);
    EXPECT_EQ(subtask.lends(), 1u);
    expect_trap(resource_drop(inst, rt, *h), "cannot remove owned resource while borrowed");
    expect_trap(lift_own_handle(caller, *h, *own_of(rt.id)),
                "cannot remove owned resource while borrowed");
    subtask.release_lends();
  }
  ASSERT_TRUE(resource_drop(inst, rt, *h));
  EXPECT_EQ(destroyed, std::vector<uint32_t>{9});
}

TEST_F(Resources, BorrowsLeftAtTheEndOfACallTrap) {
  InstanceState callee(types);
  CallContext task;
  LiftLowerContext cx2{opts, callee, &task};
  auto b = lower_borrow_handle(cx2, 5, *borrow_of(rt.id));
  ASSERT_TRUE(b);
  EXPECT_EQ(task.borrows(), 1u);
  expect_trap(task.check_return(), "borrow handles still remain at the end of the call");
  // Dropping the borrow counts it off; it runs no destructor.
  ASSERT_TRUE(resource_drop(callee, rt, *b));
  EXPECT_TRUE(task.check_return().has_value());
  EXPECT_TRUE(destroyed.empty());
  // A borrow lent to the resource's own instance is its representation.
  auto own_rep = lower_borrow_handle(cx, 5, *borrow_of(rt.id));
  ASSERT_TRUE(own_rep);
  EXPECT_EQ(*own_rep, 5u);
  EXPECT_EQ(call.borrows(), 0u);
}

TEST_F(Resources, AFinishedCallTakesItsRemainingBorrowsAlong) {
  InstanceState callee(types);
  {
    CallContext task;
    LiftLowerContext cx2{opts, callee, &task};
    ASSERT_TRUE(lower_borrow_handle(cx2, 5, *borrow_of(rt.id)));
    EXPECT_EQ(callee.handles.live(), 1u);
  }
  EXPECT_EQ(callee.handles.live(), 0u);
  expect_trap(resource_drop(callee, rt, 1), "unknown handle index 1");
}

TEST_F(Resources, BuiltinsTrapWhileTheInstanceMayNotLeave) {
  inst.may_leave = false;
  expect_trap(resource_new(inst, rt, 1), "cannot leave component instance");
  expect_trap(resource_drop(inst, rt, 1), "cannot leave component instance");
}

TEST_F(Resources, HostResourcesRunTheirDestructorDirectly) {
  std::vector<uint32_t> host_dropped;
  const ResourceType& host = types.define(nullptr, [&](uint32_t rep) -> Result<void> {
    host_dropped.push_back(rep);
    return {};
  });
  auto h = lower_own_handle(cx, 1000, *own_of(host.id));
  ASSERT_TRUE(h);
  ASSERT_TRUE(resource_drop(inst, host, *h));
  EXPECT_EQ(host_dropped, std::vector<uint32_t>{1000});
}

TEST_F(Resources, DestructorsEnterTheirInstance) {
  InstanceState user(types);
  LiftLowerContext ucx{opts, user, &call};
  // rt is defined by `inst`; a handle dropped from `user` runs its
  // destructor inside `inst`, which may not be on the stack already.
  auto h = lower_own_handle(ucx, 3, *own_of(rt.id));
  ASSERT_TRUE(h);
  inst.may_enter = false;
  expect_trap(resource_drop(user, rt, *h), "cannot enter component instance");
  inst.may_enter = true;
  auto h2 = lower_own_handle(ucx, 4, *own_of(rt.id));
  ASSERT_TRUE(h2);
  ASSERT_TRUE(resource_drop(user, rt, *h2));
  EXPECT_EQ(destroyed, std::vector<uint32_t>{4});
  EXPECT_TRUE(inst.may_enter);
  // Without a destructor the drop still enters the defining instance.
  const ResourceType& plain = types.define(&inst);
  auto h3 = lower_own_handle(ucx, 5, *own_of(plain.id));
  ASSERT_TRUE(h3);
  inst.may_enter = false;
  expect_trap(resource_drop(user, plain, *h3), "cannot enter component instance");
  inst.may_enter = true;
  // An instance drops the handles of resources it defines itself.
  auto mine = resource_new(inst, plain, 6);
  ASSERT_TRUE(mine);
  inst.may_enter = false;
  EXPECT_TRUE(resource_drop(inst, plain, *mine).has_value());
  inst.may_enter = true;
}

// ---------------------------------------------------------------- calls

TEST_F(Canonical, ReentryTrapsButDonutWrappingDoesNot) {
  InstanceState parent(types);
  InstanceState child(types, &parent);
  InstanceState sibling(types, &parent);
  ASSERT_TRUE(parent.enter_from(nullptr));   // host -> parent
  ASSERT_TRUE(child.enter_from(&parent));    // parent -> child
  ASSERT_TRUE(sibling.enter_from(&child));   // child -> sibling
  ASSERT_TRUE(parent.enter_from(&sibling));  // back into the parent: it is held in common
  expect_trap(child.enter_from(&parent), "cannot enter component instance");
  expect_trap(child.enter_from(nullptr), "cannot enter component instance");
  sibling.leave_to(&child);
  child.leave_to(&parent);
  parent.leave_to(nullptr);
  EXPECT_TRUE(parent.may_enter && child.may_enter && sibling.may_enter);
}

TEST_F(Canonical, CallLiftedLowersArgumentsLiftsResultsAndCallsPostReturn) {
  LiftedFunction f;
  f.type = FuncType{{{"s", t(Kind::String)}, {"n", t(Kind::U32)}}, t(Kind::String)};
  f.opts = opts;
  f.opts.has_post_return = true;
  f.inst = &inst;
  bool entered = false;
  f.callee = [&](std::span<const Value> args) -> Result<std::vector<Value>> {
    entered = !inst.may_enter;
    // Reentering the instance from the host while it runs traps.
    LiftedFunction again = f;
    auto nested = call_lifted(again, nullptr, std::vector<Val>{Val::string(""), u32(0)});
    EXPECT_FALSE(nested.has_value());
    EXPECT_NE(nested.error().message.find("cannot enter component instance"), std::string::npos);
    // Echo the string "n" times into a (ptr, len) pair at 200.
    auto ptr = static_cast<uint32_t>(args[0].as_i32());
    auto len = static_cast<uint32_t>(args[1].as_i32());
    auto n = static_cast<uint32_t>(args[2].as_i32());
    uint32_t out = heap.last;
    for (uint32_t i = 0; i < n; ++i) std::memcpy(heap.mem.data() + out + i * len, heap.mem.data() + ptr, len);
    heap.last += n * len;
    write32(200, out);
    write32(204, n * len);
    return std::vector<Value>{Value::i32(200)};
  };
  bool post_return_saw_may_leave = true;
  std::vector<Value> post_args;
  f.post_return = [&](std::span<const Value> results) -> Result<std::vector<Value>> {
    post_return_saw_may_leave = inst.may_leave;
    post_args.assign(results.begin(), results.end());
    // An import called from post-return traps.
    auto r = call_lowered(FuncType{}, opts, inst,
                          [](InstanceState*, std::span<const Val>) -> Result<std::vector<Val>> {
                            return std::vector<Val>{};
                          },
                          {});
    EXPECT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("cannot leave component instance"), std::string::npos);
    return std::vector<Value>{};
  };
  auto out = call_lifted(f, nullptr, std::vector<Val>{Val::string("ab"), u32(3)});
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].text, "ababab");
  EXPECT_TRUE(entered);
  EXPECT_FALSE(post_return_saw_may_leave);
  ASSERT_EQ(post_args.size(), 1u);
  EXPECT_EQ(post_args[0].as_i32(), 200);
  EXPECT_TRUE(inst.may_enter);
  EXPECT_TRUE(inst.may_leave);
}

TEST_F(Resources, CallLiftedTrapsWhenTheCalleeKeepsABorrow) {
  InstanceState callee(types);
  BumpHeap callee_heap(64);
  LiftedFunction f;
  f.type = FuncType{{{"r", borrow_of(rt.id)}}, nullptr};
  f.opts.memory = &callee_heap;
  f.inst = &callee;
  uint32_t kept = 0;
  f.callee = [&](std::span<const Value> args) -> Result<std::vector<Value>> {
    kept = static_cast<uint32_t>(args[0].as_i32());
    return std::vector<Value>{};
  };
  auto out = call_lifted(f, &inst, std::vector<Val>{Val::u(Kind::Borrow, 8)});
  expect_trap(out, "borrow handles still remain at the end of the call");
  EXPECT_EQ(callee.handles.live(), 0u);  // the borrow went with its call
  EXPECT_TRUE(callee.may_enter);

  // Dropping it in time is fine.
  f.callee = [&](std::span<const Value> args) -> Result<std::vector<Value>> {
    AIRSSYS_TRY(resource_drop(callee, rt, static_cast<uint32_t>(args[0].as_i32())));
    return std::vector<Value>{};
  };
  EXPECT_TRUE(call_lifted(f, &inst, std::vector<Val>{Val::u(Kind::Borrow, 8)}).has_value());
  EXPECT_TRUE(destroyed.empty());
}

TEST_F(Resources, CallLoweredLendsForTheCallAndWritesSpilledResults) {
  auto h = resource_new(inst, rt, 55);
  ASSERT_TRUE(h);
  FuncType type{{{"r", borrow_of(rt.id)}}, tuple_of({t(Kind::U32), t(Kind::String)})};
  EXPECT_EQ(flatten_functype(type, FlattenContext::Lower).params.size(), 2u);
  bool lent_during_call = false;
  ComponentFunction callee = [&](InstanceState* caller, std::span<const Val> args)
      -> Result<std::vector<Val>> {
    EXPECT_EQ(caller, &inst);
    EXPECT_EQ(args[0], Val::u(Kind::Borrow, 55));
    auto handle = inst.handles.get(*h);
    lent_during_call = handle && (*handle)->num_lends == 1;
    return std::vector<Val>{items(Kind::Tuple, {u32(7), Val::string("ok")})};
  };
  heap.last = 64;
  auto flat = call_lowered(type, opts, inst, callee,
                           std::array{Value::i32(static_cast<int32_t>(*h)), Value::i32(16)});
  ASSERT_TRUE(flat) << flat.error().message;
  EXPECT_TRUE(flat->empty());
  EXPECT_TRUE(lent_during_call);
  auto handle = inst.handles.get(*h);
  ASSERT_TRUE(handle);
  EXPECT_EQ((*handle)->num_lends, 0u);
  auto result = load(cx, *result_types(type)[0], 16);
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, items(Kind::Tuple, {u32(7), Val::string("ok")}));
  expect_trap(call_lowered(type, opts, inst, callee, std::array{Value::i32(9), Value::i32(16)}),
              "unknown handle index 9");
}

// The shape a lowered function computes once: its core argument count, its
// types and whether its results spill; a call with it does what a call
// without it does, refusals included.
TEST_F(Canonical, CallLoweredWithAShapeComputedOnceMatchesACallWithout) {
  FuncType spilling{{{"s", t(Kind::String)}},
                    result_of(nullptr, variant_of({{"denied", nullptr}, {"full", nullptr}}))};
  FuncType direct{{{"a", t(Kind::U32)}, {"b", t(Kind::U64)}}, t(Kind::U32)};
  const LoweredShape s = lowered_shape(spilling);
  EXPECT_EQ(s.flat_params, 3u);  // the string's pointer and length, the return pointer
  EXPECT_EQ(s.params.size(), 1u);
  EXPECT_EQ(s.results.size(), 1u);
  EXPECT_TRUE(s.results_spill);
  const LoweredShape d = lowered_shape(direct);
  EXPECT_EQ(d.flat_params, 2u);
  EXPECT_FALSE(d.results_spill);

  ComponentFunction refuse = [&](InstanceState*, std::span<const Val> args)
      -> Result<std::vector<Val>> {
    EXPECT_EQ(args[0], Val::string("hi"));
    Val error{Kind::Result, 1, {}, {Val{Kind::Variant, 1, {}, {}}}};
    return std::vector<Val>{error};
  };
  std::memcpy(heap.mem.data() + 8, "hi", 2);
  heap.last = 64;
  for (uint32_t out : {32u, 40u}) {
    auto flat = out == 32 ? call_lowered(spilling, s, opts, inst, refuse,
                                         std::array{Value::i32(8), Value::i32(2), Value::i32(32)})
                          : call_lowered(spilling, opts, inst, refuse,
                                         std::array{Value::i32(8), Value::i32(2), Value::i32(40)});
    ASSERT_TRUE(flat) << flat.error().message;
    EXPECT_TRUE(flat->empty());
    auto stored = load(cx, *s.results[0], out);
    ASSERT_TRUE(stored);
    EXPECT_EQ(*stored, (Val{Kind::Result, 1, {}, {Val{Kind::Variant, 1, {}, {}}}}));
  }

  ComponentFunction add = [](InstanceState*, std::span<const Val> args)
      -> Result<std::vector<Val>> {
    return std::vector<Val>{Val::u(Kind::U32, args[0].bits + args[1].bits)};
  };
  auto flat = call_lowered(direct, d, opts, inst, add, std::array{Value::i32(2), Value::i64(40)});
  ASSERT_TRUE(flat) << flat.error().message;
  ASSERT_EQ(flat->size(), 1u);
  EXPECT_EQ((*flat)[0].as_i32(), 42);
  // A wrong number of core arguments is refused with the shape as without it.
  auto wrong = call_lowered(direct, d, opts, inst, add, std::array{Value::i32(2)});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::SignatureMismatch);
  EXPECT_EQ(wrong.error().message,
            call_lowered(direct, opts, inst, add, std::array{Value::i32(2)}).error().message);
}

// ---------------------------------------------------------------- real guests

// A guest's memory as a host function sees it during the call.
class HostCallMemory final : public GuestMemory {
 public:
  explicit HostCallMemory(engine::HostCall& call) : call_(call) {}
  std::span<uint8_t> bytes() override {
    auto m = call_.memory(0, call_.memory_size());
    return m ? *m : std::span<uint8_t>{};
  }

 private:
  engine::HostCall& call_;
};

constexpr std::string_view kGuest = R"((module
  (import "cm" "count" (func $count (param i32 i32) (result i32)))
  (import "cm" "pair" (func $pair (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "h\c3\b6\e2\98\83")
  (data (i32.const 32) "\ff")
  (func (export "good") (result i32) (call $count (i32.const 16) (i32.const 6)))
  (func (export "bad") (result i32) (call $count (i32.const 32) (i32.const 1)))
  (func (export "oob") (result i32) (call $count (i32.const 65535) (i32.const 2)))
  (func (export "spill") (result i64)
    (call $pair (i32.const 16) (i32.const 6) (i32.const 64))
    (i64.load (i32.const 64)))
  (func (export "misaligned") (call $pair (i32.const 16) (i32.const 6) (i32.const 66))))
)";

// Core wasm calls lowered functions (`canon lower`) whose strings are lifted
// from its real linear memory, and whose spilled results are stored there.
TEST(CanonicalGuest, LoweredImportsLiftFromAndStoreIntoRealGuestMemory) {
  ResourceTypes types;
  InstanceState state(types);
  auto code_points = [](std::string_view s) {
    uint32_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
  };
  auto lowered = [&](FuncType type, ComponentFunction callee) {
    return [&state, type, callee](engine::HostCall& call, std::span<const Value> args,
                                  std::span<Value> results) -> Result<void> {
      HostCallMemory memory(call);
      CanonOptions opts;
      opts.memory = &memory;
      auto flat = call_lowered(type, opts, state, callee, args);
      if (!flat) return std::unexpected(flat.error());
      for (size_t i = 0; i < flat->size(); ++i) results[i] = (*flat)[i];
      return {};
    };
  };
  using F = FlatType;
  engine::Linker linker;
  FuncType count{{{"s", t(Kind::String)}}, t(Kind::U32)};
  linker.define({"cm", "count", flatten_functype(count, FlattenContext::Lower),
                 lowered(count, [&](InstanceState*, std::span<const Val> args) -> Result<std::vector<Val>> {
                   return std::vector<Val>{u32(code_points(args[0].text))};
                 })});
  FuncType pair{{{"s", t(Kind::String)}}, tuple_of({t(Kind::U32), t(Kind::U32)})};
  EXPECT_EQ(flatten_functype(pair, FlattenContext::Lower).params, (std::vector<F>{F::I32, F::I32, F::I32}));
  linker.define({"cm", "pair", flatten_functype(pair, FlattenContext::Lower),
                 lowered(pair, [&](InstanceState*, std::span<const Val> args) -> Result<std::vector<Val>> {
                   const std::string& s = args[0].text;
                   return std::vector<Val>{items(Kind::Tuple, {u32(s.size()), u32(code_points(s))})};
                 })});
  auto engine = engine::Engine::interpreter();
  auto module = engine->load_wat(kGuest, "guest.wat");
  ASSERT_TRUE(module) << module.error().to_string();
  auto store = engine->new_store();
  auto instance = store->instantiate(**module, linker);
  ASSERT_TRUE(instance) << instance.error().to_string();

  auto good = (*instance)->call("good", {});
  ASSERT_TRUE(good) << good.error().to_string();
  EXPECT_EQ((*good)[0].as_i32(), 3);
  auto spill = (*instance)->call("spill", {});
  ASSERT_TRUE(spill) << spill.error().to_string();
  EXPECT_EQ((*spill)[0].as_i64(), (int64_t{3} << 32) | 6);

  auto bad = (*instance)->call("bad", {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::TrapCanonical);
  EXPECT_NE(bad.error().message.find("invalid utf-8"), std::string::npos) << bad.error().message;
  auto oob = (*instance)->call("oob", {});
  ASSERT_FALSE(oob);
  EXPECT_EQ(oob.error().code, ErrorCode::TrapCanonical);
  EXPECT_NE(oob.error().message.find("string content out-of-bounds"), std::string::npos);
  auto misaligned = (*instance)->call("misaligned", {});
  ASSERT_FALSE(misaligned);
  EXPECT_EQ(misaligned.error().code, ErrorCode::TrapCanonical);
  EXPECT_NE(misaligned.error().message.find("unaligned pointer"), std::string::npos);
}

}  // namespace
}  // namespace airssys::wasm::cm
