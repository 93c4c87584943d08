// The Component Model's value types and values: builders, names, equality,
// printing and the well-formedness check of a value against its type.

#include "airssys/wasm/cm/types.hpp"

#include <fmt/format.h>

#include <utility>

namespace airssys::wasm::cm {
namespace {

TypeRef make(ValType t) { return std::make_shared<const ValType>(std::move(t)); }
ValType of_kind(Kind kind) {
  ValType t;
  t.kind = kind;
  return t;
}

bool is_int(Kind k) { return k >= Kind::S8 && k <= Kind::U64; }


std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{{{:x}}}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string check(const ValType& type, const Val& value, const std::string& path);

std::string at(const std::string& path, const std::string& what) {
  return path.empty() ? what : path + ": " + what;
}

std::string check_payload(const TypeRef& type, const Val& value, const std::string& path) {
  if (!type) {
    return value.items.empty() ? std::string{} : at(path, "a payload where the case has none");
  }
  if (value.items.size() != 1) return at(path, "no payload where the case has one");
  return check(*type, value.items[0], path);
}

std::string check(const ValType& type, const Val& value, const std::string& path) {
  if (value.kind != type.kind) {
    return at(path, fmt::format("a {} value where a {} is expected", kind_name(value.kind),
                                kind_name(type.kind)));
  }
  const Kind k = type.kind;
  if (k == Kind::Bool && value.bits > 1) return at(path, "bool value other than 0 or 1");
  if (is_int(k)) {
    const unsigned bits = int_bits(k);
    if (bits < 64) {
      if (is_signed_int(k)) {
        const auto v = static_cast<int64_t>(value.bits);
        const int64_t lo = -(int64_t{1} << (bits - 1));
        const int64_t hi = (int64_t{1} << (bits - 1)) - 1;
        if (v < lo || v > hi) return at(path, fmt::format("{} value {} out of range", kind_name(k), v));
      } else if (value.bits >> bits) {
        return at(path, fmt::format("{} value {} out of range", kind_name(k), value.bits));
      }
    }
  }
  if (k == Kind::F32 && (value.bits >> 32)) return at(path, "f32 bits wider than 32 bits");
  if (k == Kind::Char &&
      (value.bits > 0x10FFFF || (value.bits >= 0xD800 && value.bits <= 0xDFFF))) {
    return at(path, fmt::format("char {:#x} is not a Unicode scalar value", value.bits));
  }
  if (k == Kind::String && !is_valid_utf8(value.text)) return at(path, "string is not valid UTF-8");
  switch (k) {
    case Kind::List:
      for (size_t i = 0; i < value.items.size(); ++i) {
        auto e = check(*type.element, value.items[i], at(path, fmt::format("element {}", i)));
        if (!e.empty()) return e;
      }
      return {};
    case Kind::Record:
      if (value.items.size() != type.fields.size()) {
        return at(path, fmt::format("{} fields where the record has {}", value.items.size(),
                                    type.fields.size()));
      }
      for (size_t i = 0; i < value.items.size(); ++i) {
        auto e = check(*type.fields[i].type, value.items[i],
                       at(path, fmt::format("field '{}'", type.fields[i].name)));
        if (!e.empty()) return e;
      }
      return {};
    case Kind::Tuple:
      if (value.items.size() != type.items.size()) {
        return at(path, fmt::format("{} items where the tuple has {}", value.items.size(),
                                    type.items.size()));
      }
      for (size_t i = 0; i < value.items.size(); ++i) {
        auto e = check(*type.items[i], value.items[i], at(path, fmt::format("item {}", i)));
        if (!e.empty()) return e;
      }
      return {};
    case Kind::Variant:
      if (value.bits >= type.cases.size()) {
        return at(path, fmt::format("case {} of a variant with {} cases", value.bits,
                                    type.cases.size()));
      }
      return check_payload(type.cases[value.bits].type, value,
                           at(path, fmt::format("case '{}'", type.cases[value.bits].name)));
    case Kind::Enum:
      if (value.bits >= type.labels.size()) {
        return at(path, fmt::format("case {} of an enum with {} cases", value.bits,
                                    type.labels.size()));
      }
      return {};
    case Kind::Option:
      if (value.bits > 1) return at(path, "option discriminant other than 0 or 1");
      return check_payload(value.bits ? type.element : nullptr, value, at(path, "some"));
    case Kind::Result:
      if (value.bits > 1) return at(path, "result discriminant other than 0 or 1");
      return check_payload(value.bits ? type.err : type.ok, value,
                           at(path, value.bits ? "error" : "ok"));
    case Kind::Flags:
      if (type.labels.size() < 64 && (value.bits >> type.labels.size())) {
        return at(path, "flag bits past the type's labels");
      }
      return {};
    case Kind::Own:
    case Kind::Borrow:
      if (value.bits > UINT32_MAX) return at(path, "handle index wider than 32 bits");
      return {};
    default:
      return value.items.empty() ? std::string{} : at(path, "items on a primitive value");
  }
}

}  // namespace

unsigned int_bits(Kind k) {
  switch (k) {
    case Kind::S8:
    case Kind::U8: return 8;
    case Kind::S16:
    case Kind::U16: return 16;
    case Kind::S32:
    case Kind::U32: return 32;
    default: return 64;
  }
}

bool is_signed_int(Kind k) {
  return k == Kind::S8 || k == Kind::S16 || k == Kind::S32 || k == Kind::S64;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}
const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::Bool: return "bool";
    case Kind::S8: return "s8";
    case Kind::U8: return "u8";
    case Kind::S16: return "s16";
    case Kind::U16: return "u16";
    case Kind::S32: return "s32";
    case Kind::U32: return "u32";
    case Kind::S64: return "s64";
    case Kind::U64: return "u64";
    case Kind::F32: return "f32";
    case Kind::F64: return "f64";
    case Kind::Char: return "char";
    case Kind::String: return "string";
    case Kind::List: return "list";
    case Kind::Record: return "record";
    case Kind::Tuple: return "tuple";
    case Kind::Variant: return "variant";
    case Kind::Enum: return "enum";
    case Kind::Option: return "option";
    case Kind::Result: return "result";
    case Kind::Flags: return "flags";
    case Kind::Own: return "own";
    case Kind::Borrow: return "borrow";
  }
  return "?";
}

TypeRef primitive(Kind kind) { return make(of_kind(kind)); }
TypeRef list_of(TypeRef element) {
  ValType t = of_kind(Kind::List);
  t.element = std::move(element);
  return make(std::move(t));
}
TypeRef option_of(TypeRef element) {
  ValType t = of_kind(Kind::Option);
  t.element = std::move(element);
  return make(std::move(t));
}
TypeRef result_of(TypeRef ok, TypeRef err) {
  ValType t = of_kind(Kind::Result);
  t.ok = std::move(ok);
  t.err = std::move(err);
  return make(std::move(t));
}
TypeRef record_of(std::vector<Field> fields) {
  ValType t = of_kind(Kind::Record);
  t.fields = std::move(fields);
  return make(std::move(t));
}
TypeRef tuple_of(std::vector<TypeRef> items) {
  ValType t = of_kind(Kind::Tuple);
  t.items = std::move(items);
  return make(std::move(t));
}
TypeRef variant_of(std::vector<Case> cases) {
  ValType t = of_kind(Kind::Variant);
  t.cases = std::move(cases);
  return make(std::move(t));
}
TypeRef enum_of(std::vector<std::string> labels) {
  ValType t = of_kind(Kind::Enum);
  t.labels = std::move(labels);
  return make(std::move(t));
}
TypeRef flags_of(std::vector<std::string> labels) {
  ValType t = of_kind(Kind::Flags);
  t.labels = std::move(labels);
  return make(std::move(t));
}
TypeRef own_of(uint64_t resource) {
  ValType t = of_kind(Kind::Own);
  t.resource = resource;
  return make(std::move(t));
}
TypeRef borrow_of(uint64_t resource) {
  ValType t = of_kind(Kind::Borrow);
  t.resource = resource;
  return make(std::move(t));
}

namespace {
bool same_ref(const TypeRef& a, const TypeRef& b) {
  if (!a || !b) return !a && !b;
  return a == b || same_type(*a, *b);
}
}  // namespace

bool same_type(const ValType& a, const ValType& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::List:
    case Kind::Option: return same_ref(a.element, b.element);
    case Kind::Record:
      if (a.fields.size() != b.fields.size()) return false;
      for (size_t i = 0; i < a.fields.size(); ++i) {
        if (a.fields[i].name != b.fields[i].name || !same_ref(a.fields[i].type, b.fields[i].type)) {
          return false;
        }
      }
      return true;
    case Kind::Tuple:
      if (a.items.size() != b.items.size()) return false;
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (!same_ref(a.items[i], b.items[i])) return false;
      }
      return true;
    case Kind::Variant:
      if (a.cases.size() != b.cases.size()) return false;
      for (size_t i = 0; i < a.cases.size(); ++i) {
        if (a.cases[i].name != b.cases[i].name || !same_ref(a.cases[i].type, b.cases[i].type)) {
          return false;
        }
      }
      return true;
    case Kind::Enum:
    case Kind::Flags: return a.labels == b.labels;
    case Kind::Result: return same_ref(a.ok, b.ok) && same_ref(a.err, b.err);
    case Kind::Own:
    case Kind::Borrow: return a.resource == b.resource;
    default: return true;
  }
}

std::string ValType::to_string() const {
  auto name = [](const TypeRef& t) { return t ? t->to_string() : std::string("_"); };
  switch (kind) {
    case Kind::List: return fmt::format("list<{}>", name(element));
    case Kind::Option: return fmt::format("option<{}>", name(element));
    case Kind::Result:
      if (!ok && !err) return "result";
      if (!err) return fmt::format("result<{}>", name(ok));
      return fmt::format("result<{}, {}>", name(ok), name(err));
    case Kind::Record: {
      std::string out = "record { ";
      for (size_t i = 0; i < fields.size(); ++i) {
        out += fmt::format("{}{}: {}", i ? ", " : "", fields[i].name, name(fields[i].type));
      }
      return out + " }";
    }
    case Kind::Tuple: {
      std::string out = "tuple<";
      for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + name(items[i]);
      return out + ">";
    }
    case Kind::Variant: {
      std::string out = "variant { ";
      for (size_t i = 0; i < cases.size(); ++i) {
        out += (i ? ", " : "") + cases[i].name;
        if (cases[i].type) out += "(" + cases[i].type->to_string() + ")";
      }
      return out + " }";
    }
    case Kind::Enum:
    case Kind::Flags: {
      std::string out = std::string(kind_name(kind)) + " { ";
      for (size_t i = 0; i < labels.size(); ++i) out += (i ? ", " : "") + labels[i];
      return out + " }";
    }
    case Kind::Own: return fmt::format("own<{}>", resource);
    case Kind::Borrow: return fmt::format("borrow<{}>", resource);
    default: return kind_name(kind);
  }
}

std::string FuncType::to_string() const {
  std::string out = "func(";
  for (size_t i = 0; i < params.size(); ++i) {
    out += fmt::format("{}{}: {}", i ? ", " : "", params[i].name, params[i].type->to_string());
  }
  out += ")";
  if (result) out += " -> " + result->to_string();
  return out;
}

std::string Val::to_string() const {
  const char* name = kind_name(kind);
  switch (kind) {
    case Kind::Bool: return bits ? "bool true" : "bool false";
    case Kind::S8:
    case Kind::S16:
    case Kind::S32:
    case Kind::S64: return fmt::format("{} {}", name, static_cast<int64_t>(bits));
    case Kind::F32:
    case Kind::F64:
    case Kind::Flags: return fmt::format("{} {:#x}", name, bits);
    case Kind::Char: return fmt::format("char U+{:04X}", bits);
    case Kind::String: return "string " + quote(text);
    case Kind::List:
    case Kind::Record:
    case Kind::Tuple: {
      std::string out = fmt::format("{} [", name);
      for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i].to_string();
      return out + "]";
    }
    case Kind::Variant:
    case Kind::Option:
    case Kind::Result:
      return items.empty() ? fmt::format("{} {}", name, bits)
                           : fmt::format("{} {} ({})", name, bits, items[0].to_string());
    default: return fmt::format("{} {}", name, bits);
  }
}

std::string check_value(const ValType& type, const Val& value) { return check(type, value, ""); }

}  // namespace airssys::wasm::cm
