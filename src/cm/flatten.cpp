// What the validator asks of a value type's layout beyond canonical.hpp's.

#include "flatten.hpp"

#include <algorithm>

namespace airssys::wasm::cm::static_layout {

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
  FlatFunc out;
  out.params_in_memory = flatten_types(param_types(type), kMaxFlatParams).size() > kMaxFlatParams;
  out.results_in_memory =
      flatten_types(result_types(type), kMaxFlatResults).size() > kMaxFlatResults;
  out.sig = cm::flatten_functype(
      type, context == FlatContext::Lift ? FlattenContext::Lift : FlattenContext::Lower);
  return out;
}

}  // namespace airssys::wasm::cm::static_layout
