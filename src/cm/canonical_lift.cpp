// Lifting: core values and guest memory to Vals (CanonicalABI.md, "Loading",
// "Flat Lifting" and lift_flat_values). Every value the guest got wrong is a
// trap.

#include "canonical_internal.hpp"

namespace airssys::wasm::cm {
namespace detail {

Result<std::span<uint8_t>> memory_of(const LiftLowerContext& cx) {
  if (cx.opts.memory == nullptr) return trap("canonical option `memory` is required");
  return cx.opts.memory->bytes();
}

Result<void> check_range(const LiftLowerContext& cx, uint64_t ptr, uint64_t size, uint32_t align,
                         const char* what) {
  if (ptr % align != 0)
    return trap(fmt::format("unaligned pointer: {} at 0x{:x} is not aligned to {}", what, ptr,
                            align));
  auto mem = memory_of(cx);
  if (!mem) return std::unexpected(mem.error());
  if (ptr + size > mem->size())
    return trap(fmt::format("{} out-of-bounds: {} bytes at 0x{:x} past the end of memory ({} bytes)",
                            what, size, ptr, mem->size()));
  return {};
}

}  // namespace detail

namespace {

using detail::read_le;
using detail::trap;

// A core value as the lifting code reads it: i32 zero-extended, floats as
// their bits.
struct FlatValue {
  FlatType type;
  uint64_t bits;
};

class FlatReader {
 public:
  explicit FlatReader(std::span<const FlatValue> values) : values_(values) {}

  Result<uint64_t> next(FlatType want) {
    if (pos_ >= values_.size())
      return make_error(ErrorCode::SignatureMismatch, "too few core values to lift");
    const FlatValue& v = values_[pos_];
    if (v.type != want)
      return make_error(ErrorCode::SignatureMismatch,
                        fmt::format("core value {} is {}, {} expected", pos_,
                                    engine::val_type_name(v.type), engine::val_type_name(want)));
    ++pos_;
    return v.bits;
  }
  [[nodiscard]] bool done() const { return pos_ == values_.size(); }

 private:
  std::span<const FlatValue> values_;
  size_t pos_ = 0;
};

Result<std::vector<FlatValue>> to_flat(std::span<const engine::Value> values) {
  std::vector<FlatValue> out;
  out.reserve(values.size());
  for (const auto& v : values) {
    switch (v.type()) {
      case FlatType::I32:
        out.push_back({FlatType::I32, static_cast<uint32_t>(v.as_i32())});
        break;
      case FlatType::I64:
        out.push_back({FlatType::I64, static_cast<uint64_t>(v.as_i64())});
        break;
      case FlatType::F32: out.push_back({FlatType::F32, v.f32_bits()}); break;
      case FlatType::F64: out.push_back({FlatType::F64, v.f64_bits()}); break;
      default:
        return make_error(ErrorCode::SignatureMismatch,
                          fmt::format("core value of type {} in a canonical ABI signature",
                                      engine::val_type_name(v.type())));
    }
  }
  return out;
}


// The integer `raw` (at least `width` bits) as a Val of kind `k`.
Val int_val(Kind k, uint64_t raw) {
  uint32_t width = int_bits(k);
  if (width < 64) {
    uint64_t mask = (uint64_t{1} << width) - 1;
    raw &= mask;
    if (is_signed_int(k) && (raw >> (width - 1)) != 0) raw |= ~mask;
  }
  return Val::u(k, raw);
}

Result<Val> char_val(uint64_t i) {
  if (i >= 0x110000 || (i >= 0xD800 && i <= 0xDFFF))
    return trap(fmt::format("invalid `char` bit pattern 0x{:x}", i));
  return Val::character(static_cast<char32_t>(i));
}

uint64_t flags_mask(size_t labels) {
  return labels >= 64 ? ~uint64_t{0} : (uint64_t{1} << labels) - 1;
}

Result<Val> handle_val(LiftLowerContext& cx, const ValType& type, uint32_t index) {
  auto rep = type.kind == Kind::Own ? lift_own_handle(cx, index, type)
                                    : lift_borrow_handle(cx, index, type);
  if (!rep) return std::unexpected(rep.error());
  return Val::u(type.kind, *rep);
}

Result<Val> load_at(LiftLowerContext& cx, std::span<const uint8_t> mem, const ValType& type,
                    uint32_t ptr);

Result<Val> load_list_from_range(LiftLowerContext& cx, uint32_t ptr, uint32_t length,
                                 const ValType& elem) {
  uint32_t size = elem_size(elem);
  uint64_t byte_length = uint64_t{length} * size;
  if (byte_length > kMaxListByteLength)
    return trap(fmt::format("list byte length {} exceeds the limit of {}", byte_length,
                            kMaxListByteLength));
  AIRSSYS_TRY(detail::check_range(cx, ptr, byte_length, alignment(elem), "list content"));
  cx.lifted_elements += length;
  if (cx.lifted_elements > kMaxLiftedListElements)
    return trap(fmt::format("{} list elements lifted at once: the host builds at most {} values "
                            "of a call's lists",
                            cx.lifted_elements, kMaxLiftedListElements));
  auto mem = detail::memory_of(cx);
  if (!mem) return std::unexpected(mem.error());
  Val list{Kind::List, 0, {}, {}};
  list.items.reserve(length);
  for (uint32_t i = 0; i < length; ++i) {
    auto v = load_at(cx, *mem, elem, ptr + i * size);
    if (!v) return std::unexpected(v.error());
    list.items.push_back(std::move(*v));
  }
  return list;
}

// `ptr` is aligned and [ptr, ptr + elem_size(type)) is in `mem`.
Result<Val> load_at(LiftLowerContext& cx, std::span<const uint8_t> mem, const ValType& type,
                    uint32_t ptr) {
  switch (type.kind) {
    case Kind::Bool: return Val::boolean(mem[ptr] != 0);
    case Kind::S8:
    case Kind::U8:
    case Kind::S16:
    case Kind::U16:
    case Kind::S32:
    case Kind::U32:
    case Kind::S64:
    case Kind::U64: return int_val(type.kind, read_le(mem, ptr, int_bits(type.kind) / 8));
    case Kind::F32:
      return Val::f32_bits(canonicalize_nan32(static_cast<uint32_t>(read_le(mem, ptr, 4))));
    case Kind::F64: return Val::f64_bits(canonicalize_nan64(read_le(mem, ptr, 8)));
    case Kind::Char: return char_val(read_le(mem, ptr, 4));
    case Kind::String: {
      auto begin = static_cast<uint32_t>(read_le(mem, ptr, 4));
      auto units = static_cast<uint32_t>(read_le(mem, ptr + 4, 4));
      auto s = load_string_from_range(cx, begin, units);
      if (!s) return std::unexpected(s.error());
      return Val::string(std::move(*s));
    }
    case Kind::List: {
      auto begin = static_cast<uint32_t>(read_le(mem, ptr, 4));
      auto length = static_cast<uint32_t>(read_le(mem, ptr + 4, 4));
      return load_list_from_range(cx, begin, length, *type.element);
    }
    case Kind::Record:
    case Kind::Tuple: {
      Val rec{type.kind, 0, {}, {}};
      size_t n = field_count(type);
      rec.items.reserve(n);
      uint64_t at = ptr;
      for (size_t i = 0; i < n; ++i) {
        const ValType& f = field_type(type, i);
        at = align_to(at, alignment(f));
        auto v = load_at(cx, mem, f, static_cast<uint32_t>(at));
        if (!v) return std::unexpected(v.error());
        rec.items.push_back(std::move(*v));
        at += elem_size(f);
      }
      return rec;
    }
    case Kind::Variant:
    case Kind::Enum:
    case Kind::Option:
    case Kind::Result: {
      size_t n = case_count(type);
      uint32_t disc_size = discriminant_size(n);
      uint64_t index = read_le(mem, ptr, disc_size);
      if (index >= n)
        return trap(fmt::format("invalid variant discriminant {} ({} cases)", index, n));
      Val v{type.kind, index, {}, {}};
      if (const ValType* payload = case_payload(type, index)) {
        auto at = static_cast<uint32_t>(align_to(uint64_t{ptr} + disc_size, max_case_alignment(type)));
        auto p = load_at(cx, mem, *payload, at);
        if (!p) return std::unexpected(p.error());
        v.items.push_back(std::move(*p));
      }
      return v;
    }
    case Kind::Flags: {
      uint64_t bits = read_le(mem, ptr, flags_size(type.labels.size()));
      return Val::u(Kind::Flags, bits & flags_mask(type.labels.size()));
    }
    case Kind::Own:
    case Kind::Borrow: return handle_val(cx, type, static_cast<uint32_t>(read_le(mem, ptr, 4)));
  }
  return trap("unknown value type");
}

Result<Val> lift_flat_at(LiftLowerContext& cx, FlatReader& in, const ValType& type);

Result<Val> lift_flat_variant(LiftLowerContext& cx, FlatReader& in, const ValType& type) {
  std::vector<FlatType> joined = flatten_type(type);
  auto index = in.next(FlatType::I32);
  if (!index) return std::unexpected(index.error());
  size_t n = case_count(type);
  if (*index >= n) return trap(fmt::format("invalid variant discriminant {} ({} cases)", *index, n));
  Val v{type.kind, *index, {}, {}};
  size_t used = 0;
  if (const ValType* payload = case_payload(type, *index)) {
    std::vector<FlatType> want = flatten_type(*payload);
    std::vector<FlatValue> coerced;
    coerced.reserve(want.size());
    for (size_t k = 0; k < want.size(); ++k) {
      FlatType have = joined[1 + k];
      auto x = in.next(have);
      if (!x) return std::unexpected(x.error());
      uint64_t bits = *x;
      // i64 carrying i32 or f32: the low 32 bits; the other pairs share bits.
      if (have == FlatType::I64 && (want[k] == FlatType::I32 || want[k] == FlatType::F32))
        bits &= 0xffffffffu;
      coerced.push_back({want[k], bits});
    }
    used = want.size();
    FlatReader sub(coerced);
    auto p = lift_flat_at(cx, sub, *payload);
    if (!p) return std::unexpected(p.error());
    v.items.push_back(std::move(*p));
  }
  for (size_t k = 1 + used; k < joined.size(); ++k) {
    auto skipped = in.next(joined[k]);
    if (!skipped) return std::unexpected(skipped.error());
  }
  return v;
}

Result<Val> lift_flat_at(LiftLowerContext& cx, FlatReader& in, const ValType& type) {
  switch (type.kind) {
    case Kind::Bool: {
      auto i = in.next(FlatType::I32);
      if (!i) return std::unexpected(i.error());
      return Val::boolean(*i != 0);
    }
    case Kind::S8:
    case Kind::U8:
    case Kind::S16:
    case Kind::U16:
    case Kind::S32:
    case Kind::U32: {
      auto i = in.next(FlatType::I32);
      if (!i) return std::unexpected(i.error());
      return int_val(type.kind, *i);
    }
    case Kind::S64:
    case Kind::U64: {
      auto i = in.next(FlatType::I64);
      if (!i) return std::unexpected(i.error());
      return Val::u(type.kind, *i);
    }
    case Kind::F32: {
      auto f = in.next(FlatType::F32);
      if (!f) return std::unexpected(f.error());
      return Val::f32_bits(canonicalize_nan32(static_cast<uint32_t>(*f)));
    }
    case Kind::F64: {
      auto f = in.next(FlatType::F64);
      if (!f) return std::unexpected(f.error());
      return Val::f64_bits(canonicalize_nan64(*f));
    }
    case Kind::Char: {
      auto i = in.next(FlatType::I32);
      if (!i) return std::unexpected(i.error());
      return char_val(*i);
    }
    case Kind::String:
    case Kind::List: {
      auto ptr = in.next(FlatType::I32);
      if (!ptr) return std::unexpected(ptr.error());
      auto length = in.next(FlatType::I32);
      if (!length) return std::unexpected(length.error());
      if (type.kind == Kind::List)
        return load_list_from_range(cx, static_cast<uint32_t>(*ptr),
                                    static_cast<uint32_t>(*length), *type.element);
      auto s = load_string_from_range(cx, static_cast<uint32_t>(*ptr),
                                      static_cast<uint32_t>(*length));
      if (!s) return std::unexpected(s.error());
      return Val::string(std::move(*s));
    }
    case Kind::Record:
    case Kind::Tuple: {
      Val rec{type.kind, 0, {}, {}};
      size_t n = field_count(type);
      rec.items.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        auto v = lift_flat_at(cx, in, field_type(type, i));
        if (!v) return std::unexpected(v.error());
        rec.items.push_back(std::move(*v));
      }
      return rec;
    }
    case Kind::Variant:
    case Kind::Enum:
    case Kind::Option:
    case Kind::Result: return lift_flat_variant(cx, in, type);
    case Kind::Flags: {
      auto i = in.next(FlatType::I32);
      if (!i) return std::unexpected(i.error());
      return Val::u(Kind::Flags, *i & flags_mask(type.labels.size()));
    }
    case Kind::Own:
    case Kind::Borrow: {
      auto i = in.next(FlatType::I32);
      if (!i) return std::unexpected(i.error());
      return handle_val(cx, type, static_cast<uint32_t>(*i));
    }
  }
  return trap("unknown value type");
}

Result<void> check_consumed(const FlatReader& in) {
  if (!in.done()) return make_error(ErrorCode::SignatureMismatch, "too many core values to lift");
  return {};
}

}  // namespace

Result<Val> load(LiftLowerContext& cx, const ValType& type, uint32_t ptr) {
  AIRSSYS_TRY(detail::check_range(cx, ptr, elem_size(type), alignment(type), "value"));
  auto mem = detail::memory_of(cx);
  if (!mem) return std::unexpected(mem.error());
  return load_at(cx, *mem, type, ptr);
}

Result<Val> lift_flat(LiftLowerContext& cx, const ValType& type,
                      std::span<const engine::Value> flat) {
  auto values = to_flat(flat);
  if (!values) return std::unexpected(values.error());
  FlatReader in(*values);
  auto v = lift_flat_at(cx, in, type);
  if (!v) return v;
  AIRSSYS_TRY(check_consumed(in));
  return v;
}

Result<std::vector<Val>> lift_flat_values(LiftLowerContext& cx, size_t max_flat,
                                          std::span<const TypeRef> types,
                                          std::span<const engine::Value> flat) {
  auto values = to_flat(flat);
  if (!values) return std::unexpected(values.error());
  FlatReader in(*values);
  std::vector<Val> out;
  if (flatten_types(types).size() > max_flat) {
    auto ptr = in.next(FlatType::I32);
    if (!ptr) return std::unexpected(ptr.error());
    AIRSSYS_TRY(check_consumed(in));
    TypeRef tuple = tuple_of(std::vector<TypeRef>(types.begin(), types.end()));
    AIRSSYS_TRY(detail::check_range(cx, *ptr, elem_size(*tuple), alignment(*tuple),
                                    "spilled values"));
    auto mem = detail::memory_of(cx);
    if (!mem) return std::unexpected(mem.error());
    auto v = load_at(cx, *mem, *tuple, static_cast<uint32_t>(*ptr));
    if (!v) return std::unexpected(v.error());
    return std::move(v->items);
  }
  out.reserve(types.size());
  for (const auto& t : types) {
    auto v = lift_flat_at(cx, in, *t);
    if (!v) return std::unexpected(v.error());
    out.push_back(std::move(*v));
  }
  AIRSSYS_TRY(check_consumed(in));
  return out;
}

}  // namespace airssys::wasm::cm
