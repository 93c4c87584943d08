// The canonical ABI's layout: despecialization, alignment, sizes,
// discriminants and flattening (CanonicalABI.md, "Despecialization" to
// "Flattening").

#include <algorithm>
#include <cassert>

#include "canonical_internal.hpp"

namespace airssys::wasm::cm {

const char* string_encoding_name(StringEncoding encoding) {
  switch (encoding) {
    case StringEncoding::Utf8: return "utf8";
    case StringEncoding::Utf16: return "utf16";
    case StringEncoding::Latin1Utf16: return "latin1+utf16";
  }
  return "?";
}

uint32_t canonicalize_nan32(uint32_t bits) {
  bool nan = (bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0;
  return nan ? kCanonicalNan32 : bits;
}

uint64_t canonicalize_nan64(uint64_t bits) {
  bool nan = (bits & 0x7ff0000000000000ull) == 0x7ff0000000000000ull &&
             (bits & 0x000fffffffffffffull) != 0;
  return nan ? kCanonicalNan64 : bits;
}

TypeRef despecialize(const TypeRef& type) {
  switch (type->kind) {
    case Kind::Tuple: {
      std::vector<Field> fields;
      for (size_t i = 0; i < type->items.size(); ++i)
        fields.push_back(Field{std::to_string(i), type->items[i]});
      return record_of(std::move(fields));
    }
    case Kind::Enum: {
      std::vector<Case> cases;
      for (const auto& label : type->labels) cases.push_back(Case{label, nullptr});
      return variant_of(std::move(cases));
    }
    case Kind::Option: return variant_of({Case{"none", nullptr}, Case{"some", type->element}});
    case Kind::Result: return variant_of({Case{"ok", type->ok}, Case{"error", type->err}});
    default: return type;
  }
}

size_t case_count(const ValType& type) {
  switch (type.kind) {
    case Kind::Variant: return type.cases.size();
    case Kind::Enum: return type.labels.size();
    case Kind::Option:
    case Kind::Result: return 2;
    default: return 0;
  }
}

const ValType* case_payload(const ValType& type, size_t index) {
  switch (type.kind) {
    case Kind::Variant: return index < type.cases.size() ? type.cases[index].type.get() : nullptr;
    case Kind::Option: return index == 1 ? type.element.get() : nullptr;
    case Kind::Result: return index == 0 ? type.ok.get() : index == 1 ? type.err.get() : nullptr;
    default: return nullptr;
  }
}

size_t field_count(const ValType& type) {
  return type.kind == Kind::Record ? type.fields.size() : type.items.size();
}

const ValType& field_type(const ValType& type, size_t index) {
  return type.kind == Kind::Record ? *type.fields[index].type : *type.items[index];
}

Kind discriminant_kind(size_t cases) {
  assert(cases > 0);
  if (cases <= (size_t{1} << 8)) return Kind::U8;
  if (cases <= (size_t{1} << 16)) return Kind::U16;
  return Kind::U32;
}

uint32_t discriminant_size(size_t cases) {
  switch (discriminant_kind(cases)) {
    case Kind::U8: return 1;
    case Kind::U16: return 2;
    default: return 4;
  }
}

uint32_t flags_size(size_t labels) {
  if (labels <= 8) return 1;
  if (labels <= 16) return 2;
  return 4;
}

uint32_t max_case_alignment(const ValType& type) {
  uint32_t a = 1;
  size_t n = case_count(type);
  for (size_t i = 0; i < n; ++i)
    if (const ValType* p = case_payload(type, i)) a = std::max(a, alignment(*p));
  return a;
}

uint32_t alignment(const ValType& type) {
  switch (type.kind) {
    case Kind::Bool:
    case Kind::S8:
    case Kind::U8: return 1;
    case Kind::S16:
    case Kind::U16: return 2;
    case Kind::S32:
    case Kind::U32:
    case Kind::F32:
    case Kind::Char: return 4;
    case Kind::S64:
    case Kind::U64:
    case Kind::F64: return 8;
    case Kind::String:
    case Kind::List: return 4;
    case Kind::Record:
    case Kind::Tuple: {
      uint32_t a = 1;
      for (size_t i = 0; i < field_count(type); ++i) a = std::max(a, alignment(field_type(type, i)));
      return a;
    }
    case Kind::Variant:
    case Kind::Enum:
    case Kind::Option:
    case Kind::Result:
      return std::max(discriminant_size(case_count(type)), max_case_alignment(type));
    case Kind::Flags: return flags_size(type.labels.size());
    case Kind::Own:
    case Kind::Borrow: return 4;
  }
  return 1;
}

namespace {

constexpr uint64_t kSaturated = UINT64_MAX / 2;

uint64_t sat_add(uint64_t a, uint64_t b) { return std::min(kSaturated, a + std::min(b, kSaturated)); }

uint64_t sat_align(uint64_t offset, uint32_t alignment) {
  return offset >= kSaturated ? kSaturated : align_to(offset, alignment);
}

}  // namespace

uint64_t elem_size_saturated(const ValType& type) {
  switch (type.kind) {
    case Kind::Bool:
    case Kind::S8:
    case Kind::U8: return 1;
    case Kind::S16:
    case Kind::U16: return 2;
    case Kind::S32:
    case Kind::U32:
    case Kind::F32:
    case Kind::Char: return 4;
    case Kind::S64:
    case Kind::U64:
    case Kind::F64: return 8;
    case Kind::String:
    case Kind::List: return 8;
    case Kind::Record:
    case Kind::Tuple: {
      uint64_t s = 0;
      for (size_t i = 0; i < field_count(type); ++i) {
        const ValType& f = field_type(type, i);
        s = sat_add(sat_align(s, alignment(f)), elem_size_saturated(f));
      }
      return sat_align(s, alignment(type));
    }
    case Kind::Variant:
    case Kind::Enum:
    case Kind::Option:
    case Kind::Result: {
      size_t n = case_count(type);
      uint64_t s = align_to(discriminant_size(n), max_case_alignment(type));
      uint64_t cs = 0;
      for (size_t i = 0; i < n; ++i)
        if (const ValType* p = case_payload(type, i)) cs = std::max(cs, elem_size_saturated(*p));
      return sat_align(sat_add(s, cs), alignment(type));
    }
    case Kind::Flags: return flags_size(type.labels.size());
    case Kind::Own:
    case Kind::Borrow: return 4;
  }
  return 1;
}

uint32_t elem_size(const ValType& type) { return static_cast<uint32_t>(elem_size_saturated(type)); }

FlatType join(FlatType a, FlatType b) {
  if (a == b) return a;
  if ((a == FlatType::I32 && b == FlatType::F32) || (a == FlatType::F32 && b == FlatType::I32))
    return FlatType::I32;
  return FlatType::I64;
}

void flatten_type(const ValType& type, std::vector<FlatType>& out, size_t limit) {
  if (out.size() > limit) return;
  switch (type.kind) {
    case Kind::Bool:
    case Kind::S8:
    case Kind::U8:
    case Kind::S16:
    case Kind::U16:
    case Kind::S32:
    case Kind::U32:
    case Kind::Char:
    case Kind::Flags:
    case Kind::Own:
    case Kind::Borrow: out.push_back(FlatType::I32); return;
    case Kind::S64:
    case Kind::U64: out.push_back(FlatType::I64); return;
    case Kind::F32: out.push_back(FlatType::F32); return;
    case Kind::F64: out.push_back(FlatType::F64); return;
    case Kind::String:
    case Kind::List:
      out.push_back(FlatType::I32);
      out.push_back(FlatType::I32);
      return;
    case Kind::Record:
    case Kind::Tuple:
      for (size_t i = 0; i < field_count(type); ++i) flatten_type(field_type(type, i), out, limit);
      return;
    case Kind::Variant:
    case Kind::Enum:
    case Kind::Option:
    case Kind::Result: {
      out.push_back(FlatType::I32);  // every discriminant flattens to i32
      size_t base = out.size();
      std::vector<FlatType> payload;
      for (size_t i = 0; i < case_count(type); ++i) {
        const ValType* p = case_payload(type, i);
        if (p == nullptr) continue;
        payload.clear();
        flatten_type(*p, payload, limit);
        for (size_t k = 0; k < payload.size(); ++k) {
          if (base + k < out.size())
            out[base + k] = join(out[base + k], payload[k]);
          else
            out.push_back(payload[k]);
        }
        if (out.size() > limit) return;
      }
      return;
    }
  }
}

std::vector<FlatType> flatten_type(const ValType& type) {
  std::vector<FlatType> out;
  flatten_type(type, out);
  return out;
}

std::vector<FlatType> flatten_types(std::span<const TypeRef> types, size_t limit) {
  std::vector<FlatType> out;
  for (const auto& t : types) flatten_type(*t, out, limit);
  return out;
}

std::vector<TypeRef> param_types(const FuncType& type) {
  std::vector<TypeRef> out;
  out.reserve(type.params.size());
  for (const auto& p : type.params) out.push_back(p.type);
  return out;
}

std::vector<TypeRef> result_types(const FuncType& type) {
  if (!type.result) return {};
  return {type.result};
}

engine::FuncSig flatten_functype(const FuncType& type, FlattenContext context) {
  auto params = param_types(type);
  auto results = result_types(type);
  engine::FuncSig sig{flatten_types(params, kMaxFlatParams),
                      flatten_types(results, kMaxFlatResults)};
  if (sig.params.size() > kMaxFlatParams) sig.params = {FlatType::I32};
  if (sig.results.size() > kMaxFlatResults) {
    if (context == FlattenContext::Lift) {
      sig.results = {FlatType::I32};
    } else {
      sig.params.push_back(FlatType::I32);
      sig.results.clear();
    }
  }
  return sig;
}

}  // namespace airssys::wasm::cm
