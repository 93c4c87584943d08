// Lowering: Vals to core values and guest memory (CanonicalABI.md,
// "Storing", "Flat Lowering" and lower_flat_values). Memory is allocated
// with the guest's realloc, whose results are checked; a Val that does not
// fit its type is the host's error (InvalidArgument), not a trap.

#include <cstring>

#include "canonical_internal.hpp"

namespace airssys::wasm::cm {
namespace detail {

Result<uint32_t> reallocate(LiftLowerContext& cx, uint32_t old_ptr, uint32_t old_size,
                            uint32_t align, uint32_t new_size) {
  if (!cx.opts.realloc) return trap("canonical option `realloc` is required");
  if (cx.opts.memory == nullptr) return trap("canonical option `memory` is required");
  bool saved = cx.inst.may_leave;
  cx.inst.may_leave = false;
  auto ptr = cx.opts.realloc(old_ptr, old_size, align, new_size);
  cx.inst.may_leave = saved;
  if (!ptr) return ptr;
  if (*ptr % align != 0)
    return trap(fmt::format("unaligned pointer: realloc returned 0x{:x}, not aligned to {}", *ptr,
                            align));
  uint64_t size = cx.opts.memory->bytes().size();
  if (uint64_t{*ptr} + new_size > size)
    return trap(fmt::format(
        "realloc returned out-of-bounds pointer 0x{:x} for {} bytes (memory is {} bytes)", *ptr,
        new_size, size));
  return ptr;
}

}  // namespace detail

namespace {

using detail::bad_value;
using detail::trap;
using detail::write_le;

struct FlatValue {
  FlatType type;
  uint64_t bits;
};


Result<void> check_kind(const ValType& type, const Val& value) {
  if (value.kind != type.kind)
    return bad_value(fmt::format("{} value where a {} was expected", kind_name(value.kind),
                                 kind_name(type.kind)));
  return {};
}

// The integer's bits, after checking it is in the range of its type.
Result<uint64_t> int_bits(const ValType& type, const Val& value) {
  uint32_t width = int_bits(type.kind);
  if (width == 64) return value.bits;
  uint64_t high = value.bits >> (width - 1);
  bool ok = is_signed_int(type.kind) ? (high == 0 || high == (~uint64_t{0} >> (width - 1)))
                                 : (value.bits >> width) == 0;
  if (!ok) return bad_value(fmt::format("{} value 0x{:x} out of range", kind_name(type.kind), value.bits));
  return value.bits;
}

Result<uint32_t> char_bits(const Val& value) {
  if (value.bits >= 0x110000 || (value.bits >= 0xD800 && value.bits <= 0xDFFF))
    return bad_value(fmt::format("char value 0x{:x} is not a Unicode scalar value", value.bits));
  return static_cast<uint32_t>(value.bits);
}

Result<uint32_t> flags_bits(const ValType& type, const Val& value) {
  size_t n = type.labels.size();
  if (n < 64 && (value.bits >> n) != 0)
    return bad_value(fmt::format("flags value 0x{:x} sets bits past its {} labels", value.bits, n));
  return static_cast<uint32_t>(value.bits);
}

// The case index of a variant-like value, after checking its payload.
Result<uint32_t> case_of(const ValType& type, const Val& value, const ValType*& payload) {
  size_t n = case_count(type);
  if (value.bits >= n)
    return bad_value(fmt::format("case {} of a {} with {} cases", value.bits, kind_name(type.kind), n));
  payload = case_payload(type, value.bits);
  if (value.items.size() != (payload != nullptr ? 1u : 0u))
    return bad_value(fmt::format("case {} of a {} with {} payload values", value.bits,
                                 kind_name(type.kind), value.items.size()));
  return static_cast<uint32_t>(value.bits);
}

Result<uint32_t> handle_index(LiftLowerContext& cx, const ValType& type, const Val& value) {
  if (value.bits > UINT32_MAX)
    return bad_value(fmt::format("resource representation 0x{:x} exceeds 32 bits", value.bits));
  auto rep = static_cast<uint32_t>(value.bits);
  return type.kind == Kind::Own ? lower_own_handle(cx, rep, type)
                                : lower_borrow_handle(cx, rep, type);
}

Result<void> store_at(LiftLowerContext& cx, const ValType& type, const Val& value, uint32_t ptr);

// Writes `n` bytes of `v` at `ptr` of the current memory.
Result<void> put(LiftLowerContext& cx, uint32_t ptr, uint32_t n, uint64_t v) {
  auto mem = detail::memory_of(cx);
  if (!mem) return std::unexpected(mem.error());
  if (uint64_t{ptr} + n > mem->size())
    return trap(fmt::format("store out-of-bounds: {} bytes at 0x{:x}", n, ptr));
  write_le(*mem, ptr, n, v);
  return {};
}

Result<std::pair<uint32_t, uint32_t>> store_list_into_range(LiftLowerContext& cx,
                                                            const ValType& elem,
                                                            const std::vector<Val>& items) {
  uint32_t size = elem_size(elem);
  uint64_t byte_length = uint64_t{items.size()} * size;
  if (byte_length > kMaxListByteLength)
    return bad_value(fmt::format("list of {} bytes exceeds the limit of {}", byte_length,
                                 kMaxListByteLength));
  auto ptr = detail::reallocate(cx, 0, 0, alignment(elem), static_cast<uint32_t>(byte_length));
  if (!ptr) return std::unexpected(ptr.error());
  for (size_t i = 0; i < items.size(); ++i)
    AIRSSYS_TRY(store_at(cx, elem, items[i], *ptr + static_cast<uint32_t>(i) * size));
  return std::pair{*ptr, static_cast<uint32_t>(items.size())};
}

Result<void> store_at(LiftLowerContext& cx, const ValType& type, const Val& value,
                      uint32_t ptr) {
  AIRSSYS_TRY(check_kind(type, value));
  switch (type.kind) {
    case Kind::Bool: return put(cx, ptr, 1, value.bits != 0 ? 1 : 0);
    case Kind::S8:
    case Kind::U8:
    case Kind::S16:
    case Kind::U16:
    case Kind::S32:
    case Kind::U32:
    case Kind::S64:
    case Kind::U64: {
      auto bits = int_bits(type, value);
      if (!bits) return std::unexpected(bits.error());
      return put(cx, ptr, int_bits(type.kind) / 8, *bits);
    }
    case Kind::F32:
      return put(cx, ptr, 4, canonicalize_nan32(static_cast<uint32_t>(value.bits)));
    case Kind::F64: return put(cx, ptr, 8, canonicalize_nan64(value.bits));
    case Kind::Char: {
      auto c = char_bits(value);
      if (!c) return std::unexpected(c.error());
      return put(cx, ptr, 4, *c);
    }
    case Kind::String:
    case Kind::List: {
      auto range = type.kind == Kind::String ? store_string_into_range(cx, value.text)
                                             : store_list_into_range(cx, *type.element, value.items);
      if (!range) return std::unexpected(range.error());
      AIRSSYS_TRY(put(cx, ptr, 4, range->first));
      return put(cx, ptr + 4, 4, range->second);
    }
    case Kind::Record:
    case Kind::Tuple: {
      size_t n = field_count(type);
      if (value.items.size() != n)
        return bad_value(fmt::format("{} of {} fields where {} were expected", kind_name(type.kind),
                                     value.items.size(), n));
      uint64_t at = ptr;
      for (size_t i = 0; i < n; ++i) {
        const ValType& f = field_type(type, i);
        at = align_to(at, alignment(f));
        AIRSSYS_TRY(store_at(cx, f, value.items[i], static_cast<uint32_t>(at)));
        at += elem_size(f);
      }
      return {};
    }
    case Kind::Variant:
    case Kind::Enum:
    case Kind::Option:
    case Kind::Result: {
      const ValType* payload = nullptr;
      auto index = case_of(type, value, payload);
      if (!index) return std::unexpected(index.error());
      uint32_t disc_size = discriminant_size(case_count(type));
      AIRSSYS_TRY(put(cx, ptr, disc_size, *index));
      if (payload == nullptr) return {};
      auto at = static_cast<uint32_t>(align_to(uint64_t{ptr} + disc_size, max_case_alignment(type)));
      return store_at(cx, *payload, value.items[0], at);
    }
    case Kind::Flags: {
      auto bits = flags_bits(type, value);
      if (!bits) return std::unexpected(bits.error());
      return put(cx, ptr, flags_size(type.labels.size()), *bits);
    }
    case Kind::Own:
    case Kind::Borrow: {
      auto index = handle_index(cx, type, value);
      if (!index) return std::unexpected(index.error());
      return put(cx, ptr, 4, *index);
    }
  }
  return bad_value("unknown value type");
}

void push(std::vector<FlatValue>& out, FlatType type, uint64_t bits) { out.push_back({type, bits}); }

Result<void> lower_flat_at(LiftLowerContext& cx, const ValType& type, const Val& value,
                           std::vector<FlatValue>& out) {
  AIRSSYS_TRY(check_kind(type, value));
  switch (type.kind) {
    case Kind::Bool: push(out, FlatType::I32, value.bits != 0 ? 1 : 0); return {};
    case Kind::S8:
    case Kind::U8:
    case Kind::S16:
    case Kind::U16:
    case Kind::S32:
    case Kind::U32: {
      auto bits = int_bits(type, value);
      if (!bits) return std::unexpected(bits.error());
      push(out, FlatType::I32, *bits & 0xffffffffu);
      return {};
    }
    case Kind::S64:
    case Kind::U64: push(out, FlatType::I64, value.bits); return {};
    case Kind::F32:
      push(out, FlatType::F32, canonicalize_nan32(static_cast<uint32_t>(value.bits)));
      return {};
    case Kind::F64: push(out, FlatType::F64, canonicalize_nan64(value.bits)); return {};
    case Kind::Char: {
      auto c = char_bits(value);
      if (!c) return std::unexpected(c.error());
      push(out, FlatType::I32, *c);
      return {};
    }
    case Kind::String:
    case Kind::List: {
      auto range = type.kind == Kind::String ? store_string_into_range(cx, value.text)
                                             : store_list_into_range(cx, *type.element, value.items);
      if (!range) return std::unexpected(range.error());
      push(out, FlatType::I32, range->first);
      push(out, FlatType::I32, range->second);
      return {};
    }
    case Kind::Record:
    case Kind::Tuple: {
      size_t n = field_count(type);
      if (value.items.size() != n)
        return bad_value(fmt::format("{} of {} fields where {} were expected", kind_name(type.kind),
                                     value.items.size(), n));
      for (size_t i = 0; i < n; ++i)
        AIRSSYS_TRY(lower_flat_at(cx, field_type(type, i), value.items[i], out));
      return {};
    }
    case Kind::Variant:
    case Kind::Enum:
    case Kind::Option:
    case Kind::Result: {
      const ValType* payload = nullptr;
      auto index = case_of(type, value, payload);
      if (!index) return std::unexpected(index.error());
      std::vector<FlatType> joined = flatten_type(type);
      push(out, FlatType::I32, *index);
      size_t used = 0;
      if (payload != nullptr) {
        std::vector<FlatValue> own;
        AIRSSYS_TRY(lower_flat_at(cx, *payload, value.items[0], own));
        for (const auto& fv : own) {
          // f32 in an i32, and any 32-bit value in an i64, keep their bits
          // (zero-extended); the pairs `join` allows need nothing else.
          push(out, joined[1 + used], fv.bits);
          ++used;
        }
      }
      for (size_t k = 1 + used; k < joined.size(); ++k) push(out, joined[k], 0);
      return {};
    }
    case Kind::Flags: {
      auto bits = flags_bits(type, value);
      if (!bits) return std::unexpected(bits.error());
      push(out, FlatType::I32, *bits);
      return {};
    }
    case Kind::Own:
    case Kind::Borrow: {
      auto index = handle_index(cx, type, value);
      if (!index) return std::unexpected(index.error());
      push(out, FlatType::I32, *index);
      return {};
    }
  }
  return bad_value("unknown value type");
}

std::vector<engine::Value> to_core(const std::vector<FlatValue>& flat) {
  std::vector<engine::Value> out;
  out.reserve(flat.size());
  for (const auto& v : flat) {
    switch (v.type) {
      case FlatType::I32:
        out.push_back(engine::Value::i32(static_cast<int32_t>(static_cast<uint32_t>(v.bits))));
        break;
      case FlatType::I64: out.push_back(engine::Value::i64(static_cast<int64_t>(v.bits))); break;
      case FlatType::F32: out.push_back(engine::Value::f32_bits(static_cast<uint32_t>(v.bits))); break;
      default: out.push_back(engine::Value::f64_bits(v.bits)); break;
    }
  }
  return out;
}

}  // namespace

Result<void> store(LiftLowerContext& cx, const ValType& type, const Val& value, uint32_t ptr) {
  AIRSSYS_TRY(detail::check_range(cx, ptr, elem_size(type), alignment(type), "value"));
  return store_at(cx, type, value, ptr);
}

Result<std::vector<engine::Value>> lower_flat(LiftLowerContext& cx, const ValType& type,
                                              const Val& value) {
  std::vector<FlatValue> flat;
  AIRSSYS_TRY(lower_flat_at(cx, type, value, flat));
  return to_core(flat);
}

Result<std::vector<engine::Value>> lower_flat_values(LiftLowerContext& cx, size_t max_flat,
                                                     std::span<const TypeRef> types,
                                                     std::span<const Val> values,
                                                     std::optional<uint32_t> out_ptr) {
  if (values.size() != types.size())
    return bad_value(fmt::format("{} values for {} types", values.size(), types.size()));
  std::vector<FlatValue> flat;
  if (flatten_types(types).size() > max_flat) {
    TypeRef tuple = tuple_of(std::vector<TypeRef>(types.begin(), types.end()));
    Val tuple_value{Kind::Tuple, 0, {}, std::vector<Val>(values.begin(), values.end())};
    uint32_t align = alignment(*tuple);
    uint32_t size = elem_size(*tuple);
    uint32_t ptr = 0;
    if (out_ptr) {
      ptr = *out_ptr;
      AIRSSYS_TRY(detail::check_range(cx, ptr, size, align, "return area"));
    } else {
      auto allocated = detail::reallocate(cx, 0, 0, align, size);
      if (!allocated) return std::unexpected(allocated.error());
      ptr = *allocated;
      push(flat, FlatType::I32, ptr);
    }
    AIRSSYS_TRY(store_at(cx, *tuple, tuple_value, ptr));
    return to_core(flat);
  }
  for (size_t i = 0; i < types.size(); ++i)
    AIRSSYS_TRY(lower_flat_at(cx, *types[i], values[i], flat));
  return to_core(flat);
}

}  // namespace airssys::wasm::cm
