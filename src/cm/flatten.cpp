// The canonical ABI's layout of value types: alignment, element size and
// flattening, with 32-bit pointers.

#include "flatten.hpp"

#include <algorithm>
#include <limits>

namespace airssys::wasm::cm::static_layout {
namespace {

constexpr uint64_t kSaturated = std::numeric_limits<uint64_t>::max() / 2;

uint64_t sat_add(uint64_t a, uint64_t b) { return std::min(kSaturated, a + std::min(b, kSaturated)); }

uint32_t flags_size(size_t labels) {
  if (labels <= 8) return 1;
  if (labels <= 16) return 2;
  return 4;
}

uint32_t field_alignment(const std::vector<TypeRef>& items) {
  uint32_t a = 1;
  for (const auto& i : items) a = std::max(a, alignment(*i));
  return a;
}

uint64_t record_size(const std::vector<const ValType*>& fields) {
  uint64_t s = 0;
  uint32_t a = 1;
  for (const auto* f : fields) {
    uint32_t fa = alignment(*f);
    a = std::max(a, fa);
    s = sat_add(align_to(s, fa), elem_size(*f));
  }
  return align_to(s, a);
}

// A variant-like type's cases as (payload or null); option, result and enum
// are variants (CanonicalABI.md: Despecialization).
std::vector<const ValType*> case_payloads(const ValType& t) {
  std::vector<const ValType*> out;
  switch (t.kind) {
    case Kind::Variant:
      for (const auto& c : t.cases) out.push_back(c.type.get());
      break;
    case Kind::Option:
      out = {nullptr, t.element.get()};
      break;
    case Kind::Result:
      out = {t.ok.get(), t.err.get()};
      break;
    case Kind::Enum:
      out.assign(t.labels.size(), nullptr);
      break;
    default: break;
  }
  return out;
}

void join_into(std::vector<engine::ValType>& flat, size_t i, engine::ValType t) {
  using engine::ValType;
  if (i >= flat.size()) {
    flat.push_back(t);
    return;
  }
  ValType a = flat[i];
  if (a == t) return;
  if ((a == ValType::I32 && t == ValType::F32) || (a == ValType::F32 && t == ValType::I32)) {
    flat[i] = ValType::I32;
  } else {
    flat[i] = ValType::I64;
  }
}

}  // namespace

uint64_t align_to(uint64_t offset, uint32_t alignment) {
  if (offset >= kSaturated) return kSaturated;
  return (offset + alignment - 1) / alignment * alignment;
}

uint32_t discriminant_size(size_t cases) {
  if (cases <= 0x100) return 1;
  if (cases <= 0x10000) return 2;
  return 4;
}

uint32_t alignment(const ValType& t) {
  switch (t.kind) {
    case Kind::Bool:
    case Kind::S8:
    case Kind::U8: return 1;
    case Kind::S16:
    case Kind::U16: return 2;
    case Kind::S32:
    case Kind::U32:
    case Kind::F32:
    case Kind::Char:
    case Kind::Own:
    case Kind::Borrow: return 4;
    case Kind::S64:
    case Kind::U64:
    case Kind::F64: return 8;
    case Kind::String:
    case Kind::List: return 4;
    case Kind::Record: {
      uint32_t a = 1;
      for (const auto& f : t.fields) a = std::max(a, alignment(*f.type));
      return a;
    }
    case Kind::Tuple: return field_alignment(t.items);
    case Kind::Flags: return flags_size(t.labels.size());
    case Kind::Variant:
    case Kind::Enum:
    case Kind::Option:
    case Kind::Result: {
      auto payloads = case_payloads(t);
      uint32_t a = discriminant_size(payloads.size());
      for (const auto* p : payloads) {
        if (p) a = std::max(a, alignment(*p));
      }
      return a;
    }
  }
  return 1;
}

uint64_t elem_size(const ValType& t) {
  switch (t.kind) {
    case Kind::Bool:
    case Kind::S8:
    case Kind::U8: return 1;
    case Kind::S16:
    case Kind::U16: return 2;
    case Kind::S32:
    case Kind::U32:
    case Kind::F32:
    case Kind::Char:
    case Kind::Own:
    case Kind::Borrow: return 4;
    case Kind::S64:
    case Kind::U64:
    case Kind::F64: return 8;
    case Kind::String:
    case Kind::List: return 8;
    case Kind::Record: {
      std::vector<const ValType*> fields;
      for (const auto& f : t.fields) fields.push_back(f.type.get());
      return record_size(fields);
    }
    case Kind::Tuple: {
      std::vector<const ValType*> fields;
      for (const auto& i : t.items) fields.push_back(i.get());
      return record_size(fields);
    }
    case Kind::Flags: return flags_size(t.labels.size());
    case Kind::Variant:
    case Kind::Enum:
    case Kind::Option:
    case Kind::Result: {
      auto payloads = case_payloads(t);
      uint64_t s = discriminant_size(payloads.size());
      uint32_t case_align = 1;
      uint64_t cs = 0;
      for (const auto* p : payloads) {
        if (!p) continue;
        case_align = std::max(case_align, alignment(*p));
        cs = std::max(cs, elem_size(*p));
      }
      s = sat_add(align_to(s, case_align), cs);
      return align_to(s, alignment(t));
    }
  }
  return 1;
}

void flatten_type(const ValType& t, std::vector<engine::ValType>& out, size_t limit) {
  using engine::ValType;
  if (out.size() > limit) return;
  switch (t.kind) {
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
    case Kind::Borrow: out.push_back(ValType::I32); return;
    case Kind::S64:
    case Kind::U64: out.push_back(ValType::I64); return;
    case Kind::F32: out.push_back(ValType::F32); return;
    case Kind::F64: out.push_back(ValType::F64); return;
    case Kind::String:
    case Kind::List:
      out.push_back(ValType::I32);
      out.push_back(ValType::I32);
      return;
    case Kind::Record:
      for (const auto& f : t.fields) flatten_type(*f.type, out, limit);
      return;
    case Kind::Tuple:
      for (const auto& i : t.items) flatten_type(*i, out, limit);
      return;
    case Kind::Variant:
    case Kind::Enum:
    case Kind::Option:
    case Kind::Result: {
      out.push_back(ValType::I32);  // the discriminant
      std::vector<ValType> joined;
      for (const auto* p : case_payloads(t)) {
        if (!p) continue;
        std::vector<ValType> flat;
        flatten_type(*p, flat, limit);
        for (size_t i = 0; i < flat.size(); ++i) join_into(joined, i, flat[i]);
        if (joined.size() > limit) break;
      }
      out.insert(out.end(), joined.begin(), joined.end());
      return;
    }
  }
}

bool contains_memory_data(const ValType& t) {
  switch (t.kind) {
    case Kind::String:
    case Kind::List: return true;
    case Kind::Option: return contains_memory_data(*t.element);
    case Kind::Record:
      return std::ranges::any_of(t.fields, [](const Field& f) { return contains_memory_data(*f.type); });
    case Kind::Tuple:
      return std::ranges::any_of(t.items, [](const TypeRef& i) { return contains_memory_data(*i); });
    case Kind::Variant:
      return std::ranges::any_of(
          t.cases, [](const Case& c) { return c.type && contains_memory_data(*c.type); });
    case Kind::Result:
      return (t.ok && contains_memory_data(*t.ok)) || (t.err && contains_memory_data(*t.err));
    default: return false;
  }
}

bool contains_borrow(const ValType& t) {
  switch (t.kind) {
    case Kind::Borrow: return true;
    case Kind::List:
    case Kind::Option: return contains_borrow(*t.element);
    case Kind::Record:
      return std::ranges::any_of(t.fields, [](const Field& f) { return contains_borrow(*f.type); });
    case Kind::Tuple:
      return std::ranges::any_of(t.items, [](const TypeRef& i) { return contains_borrow(*i); });
    case Kind::Variant:
      return std::ranges::any_of(t.cases,
                                 [](const Case& c) { return c.type && contains_borrow(*c.type); });
    case Kind::Result: return (t.ok && contains_borrow(*t.ok)) || (t.err && contains_borrow(*t.err));
    default: return false;
  }
}

FlatFunc flatten_functype(const FuncType& type, FlatContext context) {
  using engine::ValType;
  FlatFunc out;
  std::vector<ValType> params;
  for (const auto& p : type.params) flatten_type(*p.type, params, kMaxFlatParams);
  std::vector<ValType> results;
  if (type.result) flatten_type(*type.result, results, kMaxFlatResults);
  if (params.size() > kMaxFlatParams) {
    params = {ValType::I32};
    out.params_in_memory = true;
  }
  if (results.size() > kMaxFlatResults) {
    out.results_in_memory = true;
    if (context == FlatContext::Lift) {
      results = {ValType::I32};
    } else {
      params.push_back(ValType::I32);
      results.clear();
    }
  }
  out.sig.params = std::move(params);
  out.sig.results = std::move(results);
  return out;
}

}  // namespace airssys::wasm::cm::static_layout
