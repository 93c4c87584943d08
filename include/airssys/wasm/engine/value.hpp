#pragma once
// WebAssembly values and types as the engine's callers see them, independent
// of the backend.

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace airssys::wasm::engine {

enum class ValType : uint8_t { I32, I64, F32, F64, V128, FuncRef, ExternRef };

[[nodiscard]] const char* val_type_name(ValType type);

struct V128 {
  std::array<uint8_t, 16> bytes{};
  friend bool operator==(const V128&, const V128&) = default;
};

// A reference value: null, or an opaque handle. Extern references carry the
// payload the host gave them; function references carry a backend handle.
struct RefValue {
  bool is_null = true;
  uint64_t handle = 0;
  friend bool operator==(const RefValue&, const RefValue&) = default;
};

class Value {
 public:
  Value() : Value(ValType::I32) {}

  static Value i32(int32_t v) { return Value(ValType::I32, &v, sizeof v); }
  static Value i64(int64_t v) { return Value(ValType::I64, &v, sizeof v); }
  static Value f32(float v) { return Value(ValType::F32, &v, sizeof v); }
  static Value f64(double v) { return Value(ValType::F64, &v, sizeof v); }
  // Floats by bit pattern, so NaN payloads survive.
  static Value f32_bits(uint32_t bits) { return Value(ValType::F32, &bits, sizeof bits); }
  static Value f64_bits(uint64_t bits) { return Value(ValType::F64, &bits, sizeof bits); }
  static Value v128(const V128& v) { return Value(ValType::V128, v.bytes.data(), 16); }
  static Value funcref(RefValue r) { return ref(ValType::FuncRef, r); }
  static Value externref(RefValue r) { return ref(ValType::ExternRef, r); }
  static Value zero(ValType type) { return Value(type); }

  [[nodiscard]] ValType type() const { return type_; }
  [[nodiscard]] int32_t as_i32() const { return load<int32_t>(); }
  [[nodiscard]] int64_t as_i64() const { return load<int64_t>(); }
  [[nodiscard]] float as_f32() const { return load<float>(); }
  [[nodiscard]] double as_f64() const { return load<double>(); }
  [[nodiscard]] uint32_t f32_bits() const { return load<uint32_t>(); }
  [[nodiscard]] uint64_t f64_bits() const { return load<uint64_t>(); }
  [[nodiscard]] V128 as_v128() const {
    V128 v;
    std::memcpy(v.bytes.data(), bytes_.data(), 16);
    return v;
  }
  [[nodiscard]] RefValue as_ref() const { return RefValue{bytes_[8] != 0, load<uint64_t>()}; }

  [[nodiscard]] std::string to_string() const;

 private:
  explicit Value(ValType type) : type_(type) {
    if (type == ValType::FuncRef || type == ValType::ExternRef) bytes_[8] = 1;
  }
  Value(ValType type, const void* data, size_t size) : type_(type) {
    std::memcpy(bytes_.data(), data, size);
  }
  static Value ref(ValType type, RefValue r) {
    Value v(type, &r.handle, sizeof r.handle);
    v.bytes_[8] = r.is_null ? 1 : 0;
    return v;
  }
  template <class T>
  [[nodiscard]] T load() const {
    T v;
    std::memcpy(&v, bytes_.data(), sizeof v);
    return v;
  }

  ValType type_;
  std::array<uint8_t, 16> bytes_{};
};

struct FuncSig {
  std::vector<ValType> params;
  std::vector<ValType> results;
  friend bool operator==(const FuncSig&, const FuncSig&) = default;
  // "(i32, i64) -> (i32)"
  [[nodiscard]] std::string to_string() const;
};

}  // namespace airssys::wasm::engine
