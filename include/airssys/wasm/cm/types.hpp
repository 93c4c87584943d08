#pragma once
// The Component Model's value types and values, as the layer `cm` sees them
// (the layer between `engine` and `host` that decodes, validates and runs
// WebAssembly components; `component/` is the actor layer, a different
// thing). The canonical ABI lifts core values into `Val`s of a `ValType` and
// lowers them back; the decoder produces `ValType` trees for the value types
// a component defines.
//
// A ValType is immutable once built and shared (TypeRef); a Val is a plain
// tree of values that owns its strings and elements.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airssys::wasm::cm {

// The kinds of a value type, in the order of the specification's `valtype`.
enum class Kind : uint8_t {
  Bool,
  S8,
  U8,
  S16,
  U16,
  S32,
  U32,
  S64,
  U64,
  F32,
  F64,
  Char,
  String,
  List,
  Record,
  Tuple,
  Variant,
  Enum,
  Option,
  Result,
  Flags,
  Own,
  Borrow,
};

// "bool", "u32", "list", "own", ... (the WIT spelling of the kind).
[[nodiscard]] const char* kind_name(Kind kind);

// The width in bits of an integer kind (8, 16, 32 or 64), and whether it is
// signed; 64 and false for any other kind.
[[nodiscard]] unsigned int_bits(Kind kind);
[[nodiscard]] bool is_signed_int(Kind kind);

// Whether `s` is well-formed UTF-8: no overlong forms, no surrogates, nothing
// past U+10FFFF, no truncated sequence.
[[nodiscard]] bool is_valid_utf8(std::string_view s);

// Whether a kind is a number or bool or char: a value held in Val::bits alone.
[[nodiscard]] constexpr bool is_primitive(Kind kind) {
  return kind <= Kind::Char;
}

struct ValType;
using TypeRef = std::shared_ptr<const ValType>;

struct Field {
  std::string name;
  TypeRef type;
};

struct Case {
  std::string name;
  TypeRef type;  // null: the case carries no payload
};

// The most labels a flags type may have (Binary.md: 0 < |l*| <= 32).
inline constexpr size_t kMaxFlags = 32;

// One value type. Which members mean something depends on `kind`:
//   List, Option             element
//   Record                   fields (at least one)
//   Tuple                    items (at least one)
//   Variant                  cases (at least one)
//   Enum, Flags              labels
//   Result                   ok, err (each may be null: no payload)
//   Own, Borrow              resource
// The others (numbers, bool, char, string) use none.
struct ValType {
  Kind kind = Kind::Bool;
  TypeRef element;
  std::vector<Field> fields;
  std::vector<TypeRef> items;
  std::vector<Case> cases;
  std::vector<std::string> labels;
  TypeRef ok;
  TypeRef err;
  // Which resource type a handle is of. In a decoded component, the resource
  // id the decoder gave the resource type (see ast.hpp: unique in the decoded
  // tree, its origin in Component::resources); in a running
  // component instance, an id unique in the process for each resource type
  // the instance defines or imports (two instantiations of one component
  // define different resource types).
  uint64_t resource = 0;

  // The type in WIT syntax: "list<tuple<u8, string>>", "result<_, u32>",
  // "record { a: u8, b: string }", "own<3>".
  [[nodiscard]] std::string to_string() const;
};

// Builders of shared types.
[[nodiscard]] TypeRef primitive(Kind kind);  // numbers, bool, char, string
[[nodiscard]] TypeRef list_of(TypeRef element);
[[nodiscard]] TypeRef option_of(TypeRef element);
[[nodiscard]] TypeRef result_of(TypeRef ok, TypeRef err);
[[nodiscard]] TypeRef record_of(std::vector<Field> fields);
[[nodiscard]] TypeRef tuple_of(std::vector<TypeRef> items);
[[nodiscard]] TypeRef variant_of(std::vector<Case> cases);
[[nodiscard]] TypeRef enum_of(std::vector<std::string> labels);
[[nodiscard]] TypeRef flags_of(std::vector<std::string> labels);
[[nodiscard]] TypeRef own_of(uint64_t resource);
[[nodiscard]] TypeRef borrow_of(uint64_t resource);

// Structural equality (resource ids compared as numbers).
[[nodiscard]] bool same_type(const ValType& a, const ValType& b);

// How a lifted or lowered function's strings are encoded in its memory
// (the canonopts string-encoding=).
enum class StringEncoding : uint8_t { Utf8, Utf16, Latin1Utf16 };
// "utf8", "utf16", "latin1+utf16"
[[nodiscard]] const char* string_encoding_name(StringEncoding encoding);

// A component-level function type: named parameters and at most one result.
struct FuncType {
  std::vector<Field> params;
  TypeRef result;  // null: no result
  [[nodiscard]] std::string to_string() const;  // "func(a: u32, b: string) -> bool"
};

// A component value. Which members hold it depends on the kind of its type:
//   Bool                     bits (0 or 1)
//   S8 .. S64                bits: the value sign-extended to 64 bits
//   U8 .. U64                bits: the value zero-extended
//   F32, F64                 bits: the IEEE bit pattern (f32 in the low 32 bits)
//   Char                     bits: the Unicode scalar value
//   String                   text, in UTF-8 whatever the encoding it crossed in
//   List                     items: the elements
//   Record, Tuple            items: the fields in declaration order
//   Variant                  bits: the case index; items: the payload (0 or 1)
//   Enum                     bits: the case index
//   Option                   bits: 0 none, 1 some; items: the payload when some
//   Result                   bits: 0 ok, 1 error; items: the payload when present
//   Flags                    bits: bit i set when label i is
//   Own, Borrow              bits: the handle index in the holder's table; as
//                            the canonical ABI lifts and lowers it (cm/
//                            canonical.hpp), the resource's representation
//                            (the rep given to resource.new; for a resource the
//                            host defines, whatever the host chose), the
//                            handle's type naming the resource type
struct Val {
  Kind kind = Kind::Bool;
  uint64_t bits = 0;
  std::string text;
  std::vector<Val> items;

  friend bool operator==(const Val&, const Val&) = default;

  [[nodiscard]] static Val boolean(bool b) { return Val{Kind::Bool, b ? 1u : 0u, {}, {}}; }
  [[nodiscard]] static Val s(Kind kind, int64_t v) {
    return Val{kind, static_cast<uint64_t>(v), {}, {}};
  }
  [[nodiscard]] static Val u(Kind kind, uint64_t v) { return Val{kind, v, {}, {}}; }
  [[nodiscard]] static Val f32_bits(uint32_t bits) { return Val{Kind::F32, bits, {}, {}}; }
  [[nodiscard]] static Val f64_bits(uint64_t bits) { return Val{Kind::F64, bits, {}, {}}; }
  [[nodiscard]] static Val character(char32_t c) { return Val{Kind::Char, c, {}, {}}; }
  [[nodiscard]] static Val string(std::string s) { return Val{Kind::String, 0, std::move(s), {}}; }

  // The value in a WAST-like form for messages and test output:
  // "u32 7", "string \"hi\"", "list [u8 1, u8 2]", "variant 1 (u32 3)".
  [[nodiscard]] std::string to_string() const;
};

// Whether `value` is a well-formed value of `type`: kinds match all the way
// down, integers are in their range, a char is a scalar value, case indices
// and flags are within their labels, payloads are present exactly when the
// case has one, strings are valid UTF-8. An empty string when it is, else
// what is wrong, naming the path ("field 'b': u8 value 300 out of range").
[[nodiscard]] std::string check_value(const ValType& type, const Val& value);

}  // namespace airssys::wasm::cm
