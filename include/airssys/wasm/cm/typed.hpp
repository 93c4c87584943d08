#pragma once
// Typed host functions and typed calls: the canonical ABI for C++ values,
// without building cm::Val trees. A host function written as
//
//   Result<Outcome<uint64_t, CaseIndex>> request(std::string_view target, Bytes payload,
//                                                uint32_t timeout_ms);
//
// is defined for the WIT type `func(target: string, payload: list<u8>,
// timeout-ms: u32) -> result<u64, error>` with define_typed(); its
// arguments are lifted straight from the caller's core values and memory
// (a string is a view of the caller's memory, checked as UTF-8; a list<u8>
// a view of its bytes) and its result is lowered straight into the caller
// (through the return pointer when it spills). The WIT type stays the one
// the host declares: define_typed checks, once, that the C++ types have its
// layout, and the component's import is checked against the WIT type at
// instantiation as for any host function.
//
// The same C++ types lower a call's arguments into a lifted function
// (lower_args, for ComponentInstance::start_call with a FlatLowerer).
//
// The C++ types and the WIT types they stand for:
//   bool, uint8_t .. uint64_t, int8_t .. int64_t   bool, u8 .. u64, s8 .. s64
//   std::string_view (arguments), std::string      string
//   Bytes (a span of bytes)                        list<u8>
//   std::vector<T>                                 list<T> (results only)
//   std::optional<T>                               option<T>
//   Outcome<T, E> (T or E may be Unit)             result<T, E>, result<_, E>, ...
//   Borrow                                         borrow<R> (arguments only)
//   cm::Val                                        any type (the result only: lowered by
//                                                  the canonical ABI's value path)
//   CaseIndex                                      a variant without payloads (at most
//                                                  256 cases)
//   EnumIndex                                      an enum (at most 256 cases)
//
// Lifetimes: a string_view or Bytes argument refers to the caller's memory
// and is valid until the host function returns; a result must not refer to
// the caller's memory (lowering it may call the guest's realloc, which may
// move the memory).

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <forward_list>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "airssys/wasm/cm/canonical.hpp"
#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/cm/types.hpp"

namespace airssys::wasm::cm::typed {

using Bytes = std::span<const uint8_t>;

// No payload (the `_` of result<_, E>).
struct Unit {
  friend bool operator==(Unit, Unit) = default;
};

// The case of a variant whose cases carry no payload (CaseIndex) or of an
// enum (EnumIndex).
template <Kind K>
struct CaseOf {
  uint32_t index = 0;
  friend bool operator==(CaseOf, CaseOf) = default;
};
using CaseIndex = CaseOf<Kind::Variant>;
using EnumIndex = CaseOf<Kind::Enum>;

// borrow<R> as an argument: the resource's representation (the caller's
// handle is lent for the call, as the canonical ABI lifts a borrow).
struct Borrow {
  uint32_t rep = 0;
  friend bool operator==(Borrow, Borrow) = default;
};

// result<T, E>.
template <class T, class E>
struct Outcome {
  bool is_error = false;
  T ok{};
  E error{};
  [[nodiscard]] static Outcome success(T v = {}) { return Outcome{false, std::move(v), E{}}; }
  [[nodiscard]] static Outcome failure(E e) { return Outcome{true, T{}, std::move(e)}; }
};

// ---- the flat values of a call ---------------------------------------------

// A core value as lifting and lowering see it: its flat type and its bits
// (i32 zero-extended, floats as their bit patterns).
struct Flat {
  FlatType type;
  uint64_t bits;
};

[[nodiscard]] constexpr FlatType flat_join(FlatType a, FlatType b) {
  if (a == b) return a;
  if ((a == FlatType::I32 && b == FlatType::F32) || (a == FlatType::F32 && b == FlatType::I32))
    return FlatType::I32;
  return FlatType::I64;
}

// Reads the flat values of a call in order, checking each one's type, and
// keeps the strings transcoded on the way.
class Lifter {
 public:
  Lifter(LiftLowerContext& cx, std::span<const Flat> flat) : cx_(cx), flat_(flat) {}
  [[nodiscard]] Result<uint64_t> next(FlatType want);
  [[nodiscard]] bool done() const { return pos_ == flat_.size(); }
  [[nodiscard]] LiftLowerContext& cx() { return cx_; }
  // A string transcoded from UTF-16 or Latin-1, kept until the call ends.
  std::string_view keep(std::string s);

 private:
  LiftLowerContext& cx_;
  std::span<const Flat> flat_;
  size_t pos_ = 0;
  std::forward_list<std::string> kept_;  // allocates nothing while empty
};

// Writes flat values, into a buffer of its own: a call's arguments are at
// most 16 flat values (more spill to memory), a result one. Past 17 the
// lowering fails (InvalidArgument).
class Lowerer {
 public:
  static constexpr size_t kCapacity = kMaxFlatParams + 1;
  explicit Lowerer(LiftLowerContext& cx) : cx_(cx) {}
  void push(FlatType type, uint64_t bits) {
    if (size_ < kCapacity) flat_[size_] = Flat{type, bits};
    ++size_;
  }
  [[nodiscard]] LiftLowerContext& cx() { return cx_; }
  [[nodiscard]] size_t size() const { return size_; }
  // The values written; an error past the capacity.
  [[nodiscard]] Result<std::span<const Flat>> flat() const;
  // Retypes value `i` (a variant's payload widened to the joined type).
  void retype(size_t i, FlatType type) {
    if (i < kCapacity) flat_[i].type = type;
  }

 private:
  LiftLowerContext& cx_;
  std::array<Flat, kCapacity> flat_;  // the first size_ are written
  size_t size_ = 0;
};

// The canonical ABI's primitives on the guest's memory, for the typed code.
[[nodiscard]] Result<std::span<uint8_t>> memory(LiftLowerContext& cx);
// [ptr, ptr + size) in memory and ptr aligned, else the canonical trap.
[[nodiscard]] Result<void> check_range(LiftLowerContext& cx, uint64_t ptr, uint64_t size,
                                       uint32_t align, const char* what);
// The guest's realloc with the canonical checks of its answer.
[[nodiscard]] Result<uint32_t> realloc(LiftLowerContext& cx, uint32_t old_ptr, uint32_t old_size,
                                       uint32_t align, uint32_t new_size);
// A string at (ptr, tagged code units) in the options' encoding: UTF-8 as a
// checked view of memory, the others transcoded and kept by `in`.
[[nodiscard]] Result<std::string_view> lift_string(Lifter& in, uint32_t ptr, uint32_t units);
// Bytes of a list<u8> at (ptr, length): a view of memory.
[[nodiscard]] Result<Bytes> lift_bytes(LiftLowerContext& cx, uint32_t ptr, uint32_t length);
// Copies bytes into a fresh allocation of the guest: (ptr, length).
[[nodiscard]] Result<std::pair<uint32_t, uint32_t>> lower_bytes(LiftLowerContext& cx, Bytes bytes);
[[nodiscard]] Result<Flat> flat_of(const engine::Value& v);
[[nodiscard]] engine::Value value_of(Flat f);

// ---- the C++ types ---------------------------------------------------------

template <class T>
struct Canon;

namespace detail {

template <size_t N, size_t M>
constexpr std::array<FlatType, (N > M ? N : M) + 1> variant_flat(
    const std::array<FlatType, N>& a, const std::array<FlatType, M>& b) {
  std::array<FlatType, (N > M ? N : M) + 1> out{};
  out[0] = FlatType::I32;
  for (size_t i = 0; i < (N > M ? N : M); ++i) {
    if (i < N && i < M) {
      out[i + 1] = flat_join(a[i], b[i]);
    } else {
      out[i + 1] = i < N ? a[i] : b[i];
    }
  }
  return out;
}

constexpr uint32_t align_up(uint32_t v, uint32_t a) { return (v + a - 1) / a * a; }

}  // namespace detail

// Integers and bool.
template <class T>
  requires(std::is_integral_v<T>)
struct Canon<T> {
  static constexpr uint32_t kSize = std::is_same_v<T, bool> ? 1 : sizeof(T);
  static constexpr uint32_t kAlign = kSize;
  static constexpr FlatType kFlatType = kSize == 8 ? FlatType::I64 : FlatType::I32;
  static constexpr std::array<FlatType, 1> kFlat{kFlatType};
  static constexpr Kind kind() {
    if constexpr (std::is_same_v<T, bool>) return Kind::Bool;
    else if constexpr (kSize == 1) return std::is_signed_v<T> ? Kind::S8 : Kind::U8;
    else if constexpr (kSize == 2) return std::is_signed_v<T> ? Kind::S16 : Kind::U16;
    else if constexpr (kSize == 4) return std::is_signed_v<T> ? Kind::S32 : Kind::U32;
    else return std::is_signed_v<T> ? Kind::S64 : Kind::U64;
  }
  static bool matches(const ValType& t) { return t.kind == kind(); }
  static T from_bits(uint64_t bits) {
    if constexpr (std::is_same_v<T, bool>) return bits != 0;
    else return static_cast<T>(bits);  // wraps to the width, then sign as T says
  }
  static uint64_t to_bits(T v) {
    if constexpr (std::is_same_v<T, bool>) return v ? 1 : 0;
    else if constexpr (kSize == 8) return static_cast<uint64_t>(v);
    else return static_cast<uint64_t>(static_cast<std::make_unsigned_t<T>>(v));
  }
  static Result<T> lift(Lifter& in) {
    AIRSSYS_TRY_ASSIGN(uint64_t bits, in.next(kFlatType));
    return from_bits(bits);
  }
  static Result<T> load(Lifter&, std::span<const uint8_t> mem, uint32_t ptr) {
    uint64_t bits = 0;
    std::memcpy(&bits, mem.data() + ptr, kSize);  // little-endian host
    return from_bits(bits);
  }
  static Result<void> lower(Lowerer& out, const T& v) {
    out.push(kFlatType, to_bits(v));
    return {};
  }
  static Result<void> store(LiftLowerContext& cx, const T& v, uint32_t ptr) {
    AIRSSYS_TRY_ASSIGN(auto mem, memory(cx));
    uint64_t bits = to_bits(v);
    std::memcpy(mem.data() + ptr, &bits, kSize);
    return {};
  }
  static Result<T> from_val(const Val& v, std::deque<std::string>&) { return from_bits(v.bits); }
  static Val to_val(const T& v) {
    if constexpr (std::is_same_v<T, bool>) return Val::boolean(v);
    else if constexpr (std::is_signed_v<T>) return Val::s(kind(), static_cast<int64_t>(v));
    else return Val::u(kind(), static_cast<uint64_t>(v));
  }
};

// Strings: a view of the caller's memory as an argument; owned as a result.
struct StringCanon {
  static constexpr uint32_t kSize = 8;
  static constexpr uint32_t kAlign = 4;
  static constexpr std::array<FlatType, 2> kFlat{FlatType::I32, FlatType::I32};
  static bool matches(const ValType& t) { return t.kind == Kind::String; }
  static Result<std::string_view> lift(Lifter& in) {
    AIRSSYS_TRY_ASSIGN(uint64_t ptr, in.next(FlatType::I32));
    AIRSSYS_TRY_ASSIGN(uint64_t units, in.next(FlatType::I32));
    return lift_string(in, static_cast<uint32_t>(ptr), static_cast<uint32_t>(units));
  }
  static Result<std::string_view> load(Lifter& in, std::span<const uint8_t> mem, uint32_t ptr) {
    uint32_t p = 0, units = 0;
    std::memcpy(&p, mem.data() + ptr, 4);
    std::memcpy(&units, mem.data() + ptr + 4, 4);
    return lift_string(in, p, units);
  }
  static Result<void> lower(Lowerer& out, std::string_view v) {
    AIRSSYS_TRY_ASSIGN(auto at, store_string_into_range(out.cx(), v));
    out.push(FlatType::I32, at.first);
    out.push(FlatType::I32, at.second);
    return {};
  }
  static Result<void> store(LiftLowerContext& cx, std::string_view v, uint32_t ptr) {
    AIRSSYS_TRY_ASSIGN(auto at, store_string_into_range(cx, v));
    AIRSSYS_TRY_ASSIGN(auto mem, memory(cx));  // after realloc: it may have moved
    std::memcpy(mem.data() + ptr, &at.first, 4);
    std::memcpy(mem.data() + ptr + 4, &at.second, 4);
    return {};
  }
  static Val to_val(std::string_view v) { return Val::string(std::string(v)); }
};
template <>
struct Canon<std::string_view> : StringCanon {
  static Result<std::string_view> from_val(const Val& v, std::deque<std::string>&) {
    return std::string_view(v.text);
  }
};
template <>
struct Canon<std::string> : StringCanon {
  static Result<std::string> from_val(const Val& v, std::deque<std::string>&) { return v.text; }
};

// list<u8>.
template <>
struct Canon<Bytes> {
  static constexpr uint32_t kSize = 8;
  static constexpr uint32_t kAlign = 4;
  static constexpr std::array<FlatType, 2> kFlat{FlatType::I32, FlatType::I32};
  static bool matches(const ValType& t) {
    return t.kind == Kind::List && t.element && t.element->kind == Kind::U8;
  }
  static Result<Bytes> lift(Lifter& in) {
    AIRSSYS_TRY_ASSIGN(uint64_t ptr, in.next(FlatType::I32));
    AIRSSYS_TRY_ASSIGN(uint64_t length, in.next(FlatType::I32));
    return lift_bytes(in.cx(), static_cast<uint32_t>(ptr), static_cast<uint32_t>(length));
  }
  static Result<Bytes> load(Lifter& in, std::span<const uint8_t> mem, uint32_t ptr) {
    uint32_t p = 0, length = 0;
    std::memcpy(&p, mem.data() + ptr, 4);
    std::memcpy(&length, mem.data() + ptr + 4, 4);
    return lift_bytes(in.cx(), p, length);
  }
  static Result<void> lower(Lowerer& out, Bytes v) {
    AIRSSYS_TRY_ASSIGN(auto at, lower_bytes(out.cx(), v));
    out.push(FlatType::I32, at.first);
    out.push(FlatType::I32, at.second);
    return {};
  }
  static Result<void> store(LiftLowerContext& cx, Bytes v, uint32_t ptr) {
    AIRSSYS_TRY_ASSIGN(auto at, lower_bytes(cx, v));
    AIRSSYS_TRY_ASSIGN(auto mem, memory(cx));
    std::memcpy(mem.data() + ptr, &at.first, 4);
    std::memcpy(mem.data() + ptr + 4, &at.second, 4);
    return {};
  }
  // A Val list of u8 is copied into storage the call keeps.
  static Result<Bytes> from_val(const Val& v, std::deque<std::string>& keep) {
    std::string& s = keep.emplace_back();
    s.reserve(v.items.size());
    for (const auto& b : v.items) s.push_back(static_cast<char>(b.bits));
    return Bytes(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  static Val to_val(Bytes v) {
    Val out{Kind::List, 0, {}, {}};
    out.items.reserve(v.size());
    for (uint8_t b : v) out.items.push_back(Val::u(Kind::U8, b));
    return out;
  }
};

// borrow<R>, lifted with the parameter's type (which names the resource).
template <>
struct Canon<Borrow> {
  static constexpr uint32_t kSize = 4;
  static constexpr uint32_t kAlign = 4;
  static constexpr std::array<FlatType, 1> kFlat{FlatType::I32};
  static bool matches(const ValType& t) { return t.kind == Kind::Borrow; }
  static Result<Borrow> lift(Lifter& in, const ValType& type) {
    AIRSSYS_TRY_ASSIGN(uint64_t index, in.next(FlatType::I32));
    AIRSSYS_TRY_ASSIGN(uint32_t rep,
                       lift_borrow_handle(in.cx(), static_cast<uint32_t>(index), type));
    return Borrow{rep};
  }
  static Result<Borrow> load(Lifter& in, std::span<const uint8_t> mem, uint32_t ptr,
                             const ValType& type) {
    uint32_t index = 0;
    std::memcpy(&index, mem.data() + ptr, 4);
    AIRSSYS_TRY_ASSIGN(uint32_t rep, lift_borrow_handle(in.cx(), index, type));
    return Borrow{rep};
  }
  static Result<Borrow> from_val(const Val& v, std::deque<std::string>&) {
    return Borrow{static_cast<uint32_t>(v.bits)};
  }
  static Val to_val(Borrow b) { return Val::u(Kind::Borrow, b.rep); }
};

// A variant without payloads, or an enum (at most 256 cases: one byte).
bool case_type_matches(Kind kind, const ValType& t);

template <Kind K>
struct Canon<CaseOf<K>> {
  using T = CaseOf<K>;
  static constexpr uint32_t kSize = 1;
  static constexpr uint32_t kAlign = 1;
  static constexpr std::array<FlatType, 1> kFlat{FlatType::I32};
  static bool matches(const ValType& t) { return case_type_matches(K, t); }
  // The index as it comes; define_typed checks it against the number of
  // cases of the parameter's type (the canonical trap past them).
  static Result<T> lift(Lifter& in) {
    AIRSSYS_TRY_ASSIGN(uint64_t bits, in.next(FlatType::I32));
    return T{static_cast<uint32_t>(bits)};
  }
  static Result<T> load(Lifter&, std::span<const uint8_t> mem, uint32_t ptr) {
    return T{mem[ptr]};
  }
  static Result<void> lower(Lowerer& out, T v) {
    out.push(FlatType::I32, v.index);
    return {};
  }
  static Result<void> store(LiftLowerContext& cx, T v, uint32_t ptr) {
    AIRSSYS_TRY_ASSIGN(auto mem, memory(cx));
    mem[ptr] = static_cast<uint8_t>(v.index);
    return {};
  }
  static Result<T> from_val(const Val& v, std::deque<std::string>&) {
    return T{static_cast<uint32_t>(v.bits)};
  }
  static Val to_val(T v) { return Val{K, v.index, {}, {}}; }
};

// option<T>.
template <class T>
struct Canon<std::optional<T>> {
  using C = Canon<T>;
  static constexpr uint32_t kAlign = C::kAlign;
  static constexpr uint32_t kPayload = detail::align_up(1, C::kAlign);
  static constexpr uint32_t kSize = detail::align_up(kPayload + C::kSize, kAlign);
  static constexpr auto kFlat = detail::variant_flat(std::array<FlatType, 0>{}, C::kFlat);
  static bool matches(const ValType& t) {
    return t.kind == Kind::Option && t.element && C::matches(*t.element);
  }
  static Result<void> lower(Lowerer& out, const std::optional<T>& v) {
    out.push(FlatType::I32, v ? 1 : 0);
    size_t base = out.size();
    if (v) AIRSSYS_TRY(C::lower(out, *v));
    for (size_t k = 0; k + 1 < kFlat.size(); ++k) {
      if (base + k < out.size()) {
        out.retype(base + k, kFlat[k + 1]);
      } else {
        out.push(kFlat[k + 1], 0);
      }
    }
    return {};
  }
  static Result<void> store(LiftLowerContext& cx, const std::optional<T>& v, uint32_t ptr) {
    if (v) AIRSSYS_TRY(C::store(cx, *v, ptr + kPayload));  // may move memory
    AIRSSYS_TRY_ASSIGN(auto mem, memory(cx));
    mem[ptr] = v ? 1 : 0;
    return {};
  }
  static Val to_val(const std::optional<T>& v) {
    Val out{Kind::Option, v ? 1u : 0u, {}, {}};
    if (v) out.items.push_back(C::to_val(*v));
    return out;
  }
};

template <>
struct Canon<Unit> {
  static constexpr uint32_t kSize = 0;
  static constexpr uint32_t kAlign = 1;
  static constexpr std::array<FlatType, 0> kFlat{};
};

// result<T, E>.
template <class T, class E>
struct Canon<Outcome<T, E>> {
  static constexpr bool kOk = !std::is_same_v<T, Unit>;
  static constexpr bool kErr = !std::is_same_v<E, Unit>;
  static constexpr uint32_t kCaseAlign =
      Canon<T>::kAlign > Canon<E>::kAlign ? Canon<T>::kAlign : Canon<E>::kAlign;
  static constexpr uint32_t kAlign = kCaseAlign;
  static constexpr uint32_t kPayload = detail::align_up(1, kCaseAlign);
  static constexpr uint32_t kSize = detail::align_up(
      kPayload + (Canon<T>::kSize > Canon<E>::kSize ? Canon<T>::kSize : Canon<E>::kSize), kAlign);
  static constexpr auto kFlat = detail::variant_flat(Canon<T>::kFlat, Canon<E>::kFlat);

  static bool matches(const ValType& t) {
    if (t.kind != Kind::Result) return false;
    bool ok = !t.ok, err = !t.err;
    if constexpr (kOk) ok = t.ok && Canon<T>::matches(*t.ok);
    if constexpr (kErr) err = t.err && Canon<E>::matches(*t.err);
    return ok && err;
  }
  template <class P>
  static Result<void> lower_case(Lowerer& out, const P& payload) {
    size_t base = out.size();
    if constexpr (!std::is_same_v<P, Unit>) AIRSSYS_TRY(Canon<P>::lower(out, payload));
    // Widen to the joined types (the bits of an i32 or f32 are already
    // zero-extended), and pad to the joined length.
    for (size_t k = 0; k + 1 < kFlat.size(); ++k) {
      if (base + k < out.size()) {
        out.retype(base + k, kFlat[k + 1]);
      } else {
        out.push(kFlat[k + 1], 0);
      }
    }
    return {};
  }
  static Result<void> lower(Lowerer& out, const Outcome<T, E>& v) {
    out.push(FlatType::I32, v.is_error ? 1 : 0);
    return v.is_error ? lower_case(out, v.error) : lower_case(out, v.ok);
  }
  static Result<void> store(LiftLowerContext& cx, const Outcome<T, E>& v, uint32_t ptr) {
    if (v.is_error) {
      if constexpr (kErr) AIRSSYS_TRY(Canon<E>::store(cx, v.error, ptr + kPayload));
    } else {
      if constexpr (kOk) AIRSSYS_TRY(Canon<T>::store(cx, v.ok, ptr + kPayload));
    }
    AIRSSYS_TRY_ASSIGN(auto mem, memory(cx));
    mem[ptr] = v.is_error ? 1 : 0;
    return {};
  }
  static Val to_val(const Outcome<T, E>& v) {
    Val out{Kind::Result, v.is_error ? 1u : 0u, {}, {}};
    if (v.is_error) {
      if constexpr (kErr) out.items.push_back(Canon<E>::to_val(v.error));
    } else {
      if constexpr (kOk) out.items.push_back(Canon<T>::to_val(v.ok));
    }
    return out;
  }
};

// list<T> as a result (lowered into a fresh allocation of the guest).
template <class T>
struct Canon<std::vector<T>> {
  using C = Canon<T>;
  static constexpr uint32_t kSize = 8;
  static constexpr uint32_t kAlign = 4;
  static constexpr std::array<FlatType, 2> kFlat{FlatType::I32, FlatType::I32};
  static bool matches(const ValType& t) {
    return t.kind == Kind::List && t.element && C::matches(*t.element);
  }
  static Result<std::pair<uint32_t, uint32_t>> lower_list(LiftLowerContext& cx,
                                                          const std::vector<T>& v) {
    uint64_t bytes = uint64_t{C::kSize} * v.size();
    if (bytes > kMaxListByteLength)
      return make_error(ErrorCode::InvalidArgument, "list exceeds the canonical size limit");
    AIRSSYS_TRY_ASSIGN(uint32_t at, realloc(cx, 0, 0, C::kAlign, static_cast<uint32_t>(bytes)));
    for (size_t i = 0; i < v.size(); ++i)
      AIRSSYS_TRY(C::store(cx, v[i], at + static_cast<uint32_t>(i * C::kSize)));
    return std::pair{at, static_cast<uint32_t>(v.size())};
  }
  static Result<void> lower(Lowerer& out, const std::vector<T>& v) {
    AIRSSYS_TRY_ASSIGN(auto at, lower_list(out.cx(), v));
    out.push(FlatType::I32, at.first);
    out.push(FlatType::I32, at.second);
    return {};
  }
  static Result<void> store(LiftLowerContext& cx, const std::vector<T>& v, uint32_t ptr) {
    AIRSSYS_TRY_ASSIGN(auto at, lower_list(cx, v));
    AIRSSYS_TRY_ASSIGN(auto mem, memory(cx));
    std::memcpy(mem.data() + ptr, &at.first, 4);
    std::memcpy(mem.data() + ptr + 4, &at.second, 4);
    return {};
  }
  static Val to_val(const std::vector<T>& v) {
    Val out{Kind::List, 0, {}, {}};
    out.items.reserve(v.size());
    for (const auto& x : v) out.items.push_back(C::to_val(x));
    return out;
  }
};

// ---- calls -----------------------------------------------------------------

// Whether the C++ types Args... have the layout of `type`'s parameters and R
// of its result (void: none): the check define_typed makes.
template <class R, class... Args>
[[nodiscard]] bool signature_matches(const FuncType& type) {
  if (type.params.size() != sizeof...(Args)) return false;
  [[maybe_unused]] size_t i = 0;
  bool ok = (Canon<Args>::matches(*type.params[i++].type) && ...);
  if constexpr (std::is_void_v<R>) {
    return ok && !type.result;
  } else if constexpr (std::is_same_v<R, Val>) {
    return ok && type.result != nullptr;
  } else {
    return ok && type.result && Canon<R>::matches(*type.result);
  }
}

namespace detail {

// Bounds a CaseIndex argument by its number of cases (the canonical trap
// for a discriminant past the cases), for the arguments that are one.
Result<void> check_cases(const FuncType& type, size_t param, uint32_t index);

template <class... Args, size_t... I>
Result<std::tuple<Args...>> lift_params(Lifter& in, const FuncType& type, bool spilled,
                                        std::index_sequence<I...>) {
  std::tuple<Args...> out;
  Result<void> status;
  if (!spilled) {
    [[maybe_unused]] auto one = [&]<size_t K>(std::integral_constant<size_t, K>) {
      if (!status) return;
      using A = std::tuple_element_t<K, std::tuple<Args...>>;
      auto v = [&] {
        if constexpr (std::is_same_v<A, Borrow>) {
          return Canon<A>::lift(in, *type.params[K].type);
        } else {
          return Canon<A>::lift(in);
        }
      }();
      if (!v) {
        status = std::unexpected(v.error());
        return;
      }
      std::get<K>(out) = std::move(*v);
    };
    (one(std::integral_constant<size_t, I>{}), ...);
  } else {
    // More than 16 flat values: one pointer to the parameters as a tuple.
    AIRSSYS_TRY_ASSIGN(uint64_t ptr, in.next(FlatType::I32));
    constexpr uint32_t align = std::max({uint32_t{1}, Canon<Args>::kAlign...});
    uint32_t size = 0;
    ((size = align_up(size, Canon<Args>::kAlign) + Canon<Args>::kSize), ...);
    size = align_up(size, align);
    AIRSSYS_TRY(check_range(in.cx(), ptr, size, align, "spilled values"));
    uint32_t at = static_cast<uint32_t>(ptr);
    [[maybe_unused]] auto one = [&]<size_t K>(std::integral_constant<size_t, K>) {
      using A = std::tuple_element_t<K, std::tuple<Args...>>;
      at = align_up(at, Canon<A>::kAlign);
      if (status) {
        auto mem = memory(in.cx());
        if (!mem) {
          status = std::unexpected(mem.error());
          return;
        }
        auto v = [&] {
          if constexpr (std::is_same_v<A, Borrow>) {
            return Canon<A>::load(in, *mem, at, *type.params[K].type);
          } else {
            return Canon<A>::load(in, *mem, at);
          }
        }();
        if (!v) {
          status = std::unexpected(v.error());
        } else {
          std::get<K>(out) = std::move(*v);
        }
      }
      at += Canon<A>::kSize;
    };
    (one(std::integral_constant<size_t, I>{}), ...);
  }
  if (!status) return std::unexpected(status.error());
  if (!in.done()) return make_error(ErrorCode::SignatureMismatch, "too many core values to lift");
  [[maybe_unused]] auto cases = [&]<size_t K>(std::integral_constant<size_t, K>) {
    using A = std::tuple_element_t<K, std::tuple<Args...>>;
    if constexpr (std::is_same_v<A, CaseIndex> || std::is_same_v<A, EnumIndex>) {
      if (status) status = check_cases(type, K, std::get<K>(out).index);
    }
  };
  (cases(std::integral_constant<size_t, I>{}), ...);
  if (!status) return std::unexpected(status.error());
  return out;
}

template <class... Args, size_t... I>
Result<std::tuple<Args...>> params_from_vals(std::span<const Val> args,
                                             std::deque<std::string>& keep,
                                             std::index_sequence<I...>) {
  std::tuple<Args...> out;
  Result<void> status;
  [[maybe_unused]] auto one = [&]<size_t K>(std::integral_constant<size_t, K>) {
    if (!status) return;
    using A = std::tuple_element_t<K, std::tuple<Args...>>;
    auto v = Canon<A>::from_val(args[K], keep);
    if (!v) status = std::unexpected(v.error());
    else std::get<K>(out) = std::move(*v);
  };
  (one(std::integral_constant<size_t, I>{}), ...);
  if (!status) return std::unexpected(status.error());
  return out;
}

template <class... Ts>
constexpr size_t flat_count() {
  return (size_t{0} + ... + Canon<Ts>::kFlat.size());
}

std::vector<engine::Value> values_of(std::span<const Flat> flat);
// The core values as Flats, written into `out`; their number.
Result<size_t> flats_of(std::span<const engine::Value> values,
                        std::array<Flat, kMaxFlatParams + 1>& out);

}  // namespace detail

// Defines `name` on `inst` as a host function of WIT type `type` whose
// body is `fn`, called with the arguments as C++ values (Args...) and
// returning Result<R> (an error traps the caller with it). Fails
// (InternalError) when the C++ types do not have the layout of `type`.
// The function also serves callers that pass cm::Val values (a component
// that re-exports it, called by the host).
template <class R, class... Args, class F>
Result<void> define_typed(HostInstance& inst, std::string name, FuncType type, F fn) {
  if (!signature_matches<R, Args...>(type)) {
    return make_error(ErrorCode::InternalError,
                      "host function " + name + ": the C++ signature does not match " +
                          type.to_string());
  }
  auto shared_fn = std::make_shared<F>(std::move(fn));
  auto shared_type = std::make_shared<const FuncType>(type);
  constexpr size_t kParamsFlat = detail::flat_count<Args...>();
  constexpr bool kSpillParams = kParamsFlat > kMaxFlatParams;
  constexpr bool kValResult = std::is_same_v<R, Val>;
  const std::vector<TypeRef> results = result_types(type);
  // Not const: a constant would need no capture for clang, and one for gcc.
  bool spill_result = [&] {
    if constexpr (std::is_void_v<R>) {
      return false;
    } else if constexpr (kValResult) {
      return flatten_types(results, kMaxFlatResults).size() > kMaxFlatResults;
    } else {
      return Canon<R>::kFlat.size() > kMaxFlatResults;
    }
  }();
  RawHostFn raw = [shared_fn, shared_type, results, spill_result](
                      LiftLowerContext& cx,
                      std::span<const engine::Value> args) -> Result<std::vector<engine::Value>> {
    if (spill_result && args.empty())
      return make_error(ErrorCode::SignatureMismatch, "no return pointer");
    std::span<const engine::Value> params = spill_result ? args.first(args.size() - 1) : args;
    std::array<Flat, kMaxFlatParams + 1> flats;  // the first `count` are written
    AIRSSYS_TRY_ASSIGN(size_t count, detail::flats_of(params, flats));
    Lifter in(cx, std::span<const Flat>(flats.data(), count));
    AIRSSYS_TRY_ASSIGN(auto values, (detail::lift_params<Args...>(
                                        in, *shared_type, kSpillParams,
                                        std::index_sequence_for<Args...>{})));
    if constexpr (std::is_void_v<R>) {
      AIRSSYS_TRY(std::apply(*shared_fn, std::move(values)));
      return std::vector<engine::Value>{};
    } else if constexpr (kValResult) {
      AIRSSYS_TRY_ASSIGN(Val result, std::apply(*shared_fn, std::move(values)));
      std::optional<uint32_t> out_ptr;
      if (spill_result) out_ptr = static_cast<uint32_t>(args.back().as_i32());
      const Val one[] = {std::move(result)};
      return lower_flat_values(cx, kMaxFlatResults, results, one, out_ptr);
    } else {
      AIRSSYS_TRY_ASSIGN(R result, std::apply(*shared_fn, std::move(values)));
      if (spill_result) {
        uint64_t ptr = static_cast<uint32_t>(args.back().as_i32());
        AIRSSYS_TRY(check_range(cx, ptr, Canon<R>::kSize, Canon<R>::kAlign, "return pointer"));
        AIRSSYS_TRY(Canon<R>::store(cx, result, static_cast<uint32_t>(ptr)));
        return std::vector<engine::Value>{};
      } else {
        Lowerer out(cx);
        AIRSSYS_TRY(Canon<R>::lower(out, result));
        AIRSSYS_TRY_ASSIGN(auto flat, out.flat());
        return detail::values_of(flat);
      }
    }
  };
  HostFn by_value = [shared_fn](std::span<const Val> args) -> Result<std::vector<Val>> {
    if (args.size() != sizeof...(Args))
      return make_error(ErrorCode::SignatureMismatch, "wrong number of arguments");
    std::deque<std::string> keep;
    AIRSSYS_TRY_ASSIGN(auto values, (detail::params_from_vals<Args...>(
                                        args, keep, std::index_sequence_for<Args...>{})));
    if constexpr (std::is_void_v<R>) {
      AIRSSYS_TRY(std::apply(*shared_fn, std::move(values)));
      return std::vector<Val>{};
    } else if constexpr (std::is_same_v<R, Val>) {
      AIRSSYS_TRY_ASSIGN(Val result, std::apply(*shared_fn, std::move(values)));
      return std::vector<Val>{std::move(result)};
    } else {
      AIRSSYS_TRY_ASSIGN(R result, std::apply(*shared_fn, std::move(values)));
      return std::vector<Val>{Canon<R>::to_val(result)};
    }
  };
  inst.define_raw_func(std::move(name), std::move(type), std::move(raw), std::move(by_value));
  return {};
}

// Lowers `args` as the flat arguments of a lifted function's call (a
// FlatLowerer's body): each one's flat values in order, written into the
// callee's memory where they need it.
template <class... Args>
Result<void> lower_args(LiftLowerContext& cx, std::vector<engine::Value>& flat,
                        const Args&... args) {
  Lowerer out(cx);
  Result<void> status;
  ((status = status ? Canon<Args>::lower(out, args) : status), ...);
  if (!status) return status;
  AIRSSYS_TRY_ASSIGN(auto values, out.flat());
  for (const Flat& f : values) flat.push_back(value_of(f));
  return {};
}

}  // namespace airssys::wasm::cm::typed
