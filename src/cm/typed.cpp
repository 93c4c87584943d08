// The non-template parts of the typed canonical ABI (cm/typed.hpp): the
// flat value reader, and the memory, realloc and string primitives the
// templates call, which are the canonical ABI's own (canonical_internal.hpp).

#include "airssys/wasm/cm/typed.hpp"

#include "canonical_internal.hpp"

namespace airssys::wasm::cm::typed {

Result<uint64_t> Lifter::next(FlatType want) {
  if (pos_ >= flat_.size())
    return make_error(ErrorCode::SignatureMismatch, "too few core values to lift");
  const Flat& v = flat_[pos_];
  if (v.type != want)
    return make_error(ErrorCode::SignatureMismatch,
                      fmt::format("core value {} is {}, {} expected", pos_,
                                  engine::val_type_name(v.type), engine::val_type_name(want)));
  ++pos_;
  return v.bits;
}

std::string_view Lifter::keep(std::string s) { return kept_.emplace_front(std::move(s)); }

Result<std::span<const Flat>> Lowerer::flat() const {
  if (size_ > kCapacity)
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("{} flat values: at most {} are lowered flat", size_, kCapacity));
  return std::span<const Flat>(flat_.data(), size_);
}

Result<std::span<uint8_t>> memory(LiftLowerContext& cx) { return cm::detail::memory_of(cx); }

Result<void> check_range(LiftLowerContext& cx, uint64_t ptr, uint64_t size, uint32_t align,
                         const char* what) {
  return cm::detail::check_range(cx, ptr, size, align, what);
}

Result<uint32_t> realloc(LiftLowerContext& cx, uint32_t old_ptr, uint32_t old_size,
                         uint32_t align, uint32_t new_size) {
  return cm::detail::reallocate(cx, old_ptr, old_size, align, new_size);
}

Result<std::string_view> lift_string(Lifter& in, uint32_t ptr, uint32_t units) {
  LiftLowerContext& cx = in.cx();
  if (cx.opts.encoding != StringEncoding::Utf8) {
    AIRSSYS_TRY_ASSIGN(std::string s, load_string_from_range(cx, ptr, units));
    return in.keep(std::move(s));
  }
  if (units > kMaxStringByteLength)
    return cm::detail::trap(fmt::format("string byte length {} exceeds the limit of {}", units,
                                        kMaxStringByteLength));
  AIRSSYS_TRY(cm::detail::check_range(cx, ptr, units, 1, "string content"));
  AIRSSYS_TRY_ASSIGN(auto mem, cm::detail::memory_of(cx));
  std::string_view text(reinterpret_cast<const char*>(mem.data()) + ptr, units);
  AIRSSYS_TRY(cm::detail::validate_utf8(text));
  return text;
}

Result<Bytes> lift_bytes(LiftLowerContext& cx, uint32_t ptr, uint32_t length) {
  if (length > kMaxListByteLength)
    return cm::detail::trap(fmt::format("list byte length {} exceeds the limit of {}", length,
                                        kMaxListByteLength));
  AIRSSYS_TRY(cm::detail::check_range(cx, ptr, length, 1, "list content"));
  AIRSSYS_TRY_ASSIGN(auto mem, cm::detail::memory_of(cx));
  return Bytes(mem.data() + ptr, length);
}

Result<std::pair<uint32_t, uint32_t>> lower_bytes(LiftLowerContext& cx, Bytes bytes) {
  if (bytes.size() > kMaxListByteLength)
    return cm::detail::bad_value(fmt::format("list of {} bytes exceeds the limit of {}",
                                             bytes.size(), kMaxListByteLength));
  const auto length = static_cast<uint32_t>(bytes.size());
  AIRSSYS_TRY_ASSIGN(uint32_t at, cm::detail::reallocate(cx, 0, 0, 1, length));
  AIRSSYS_TRY_ASSIGN(auto mem, cm::detail::memory_of(cx));
  if (length != 0) std::memcpy(mem.data() + at, bytes.data(), length);
  return std::pair{at, length};
}

Result<Flat> flat_of(const engine::Value& v) {
  switch (v.type()) {
    case FlatType::I32: return Flat{FlatType::I32, static_cast<uint32_t>(v.as_i32())};
    case FlatType::I64: return Flat{FlatType::I64, static_cast<uint64_t>(v.as_i64())};
    case FlatType::F32: return Flat{FlatType::F32, v.f32_bits()};
    case FlatType::F64: return Flat{FlatType::F64, v.f64_bits()};
    default:
      return make_error(ErrorCode::SignatureMismatch,
                        fmt::format("core value of type {} in a canonical ABI signature",
                                    engine::val_type_name(v.type())));
  }
}

engine::Value value_of(Flat f) {
  switch (f.type) {
    case FlatType::I64: return engine::Value::i64(static_cast<int64_t>(f.bits));
    case FlatType::F32: return engine::Value::f32_bits(static_cast<uint32_t>(f.bits));
    case FlatType::F64: return engine::Value::f64_bits(f.bits);
    default: return engine::Value::i32(static_cast<int32_t>(static_cast<uint32_t>(f.bits)));
  }
}

bool case_type_matches(Kind kind, const ValType& t) {
  if (t.kind != kind) return false;
  if (kind == Kind::Enum) return !t.labels.empty() && t.labels.size() <= 256;
  if (kind != Kind::Variant || t.cases.empty() || t.cases.size() > 256) return false;
  for (const auto& c : t.cases) {
    if (c.type) return false;
  }
  return true;
}

namespace detail {

Result<void> check_cases(const FuncType& type, size_t param, uint32_t index) {
  const ValType& t = *type.params[param].type;
  const size_t n = t.kind == Kind::Enum ? t.labels.size() : t.cases.size();
  if (index >= n)
    return cm::detail::trap(fmt::format("invalid variant discriminant {} ({} cases)", index, n));
  return {};
}

std::vector<engine::Value> values_of(std::span<const Flat> flat) {
  std::vector<engine::Value> out;
  out.reserve(flat.size());
  for (const Flat& f : flat) out.push_back(value_of(f));
  return out;
}

Result<size_t> flats_of(std::span<const engine::Value> values,
                        std::array<Flat, kMaxFlatParams + 1>& out) {
  if (values.size() > out.size())
    return make_error(ErrorCode::SignatureMismatch,
                      fmt::format("{} core arguments: at most {}", values.size(), out.size()));
  for (size_t i = 0; i < values.size(); ++i) {
    AIRSSYS_TRY_ASSIGN(out[i], flat_of(values[i]));
  }
  return values.size();
}

}  // namespace detail

}  // namespace airssys::wasm::cm::typed
