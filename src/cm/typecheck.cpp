// Type checking of components (Explainer.md: Type Checking): structural
// equality of value and function types, subtyping of instance, component
// and module types, substitution of resource ids, and the external
// visibility of the types imports and exports use.

#include <fmt/format.h>

#include <algorithm>

#include "decoder.hpp"

namespace airssys::wasm::cm::detail {
namespace {

uint64_t resolve(uint64_t id, const Subst& s) { return s.resolve(id); }

const void* desc_ptr(const ExternDesc& d) {
  if (d.func) return d.func.get();
  if (d.type) return d.type.get();
  if (d.instance) return d.instance.get();
  if (d.component) return d.component.get();
  return nullptr;
}

std::string describe(const ValType& t) {
  if (is_primitive(t.kind) || t.kind == Kind::String) return fmt::format("primitive `{}`", kind_name(t.kind));
  return kind_name(t.kind);
}

}  // namespace

namespace {

std::unordered_set<const void*>& collect_seen() {
  thread_local std::unordered_set<const void*> seen;
  return seen;
}

void collect_val(const ValType& t, std::set<uint64_t>& out, uint32_t depth) {
  // Shared parts are walked once per call of collect_resources.
  if (depth > kMaxTypeDepth + 1 || !collect_seen().insert(&t).second) return;
  switch (t.kind) {
    case Kind::Own:
    case Kind::Borrow: out.insert(t.resource); return;
    case Kind::List:
    case Kind::Option: collect_val(*t.element, out, depth + 1); return;
    case Kind::Record:
      for (const auto& f : t.fields) collect_val(*f.type, out, depth + 1);
      return;
    case Kind::Tuple:
      for (const auto& i : t.items) collect_val(*i, out, depth + 1);
      return;
    case Kind::Variant:
      for (const auto& c : t.cases) {
        if (c.type) collect_val(*c.type, out, depth + 1);
      }
      return;
    case Kind::Result:
      if (t.ok) collect_val(*t.ok, out, depth + 1);
      if (t.err) collect_val(*t.err, out, depth + 1);
      return;
    default: return;
  }
}

void collect_desc(const ExternDesc& d, std::set<uint64_t>& out, uint32_t depth);

void collect_def(const DefType& d, std::set<uint64_t>& out, uint32_t depth) {
  if (depth > kMaxTypeDepth + 1 || !collect_seen().insert(&d).second) return;
  switch (d.kind) {
    case DefType::Kind::Value: collect_val(*d.value, out, depth + 1); return;
    case DefType::Kind::Resource: out.insert(d.resource); return;
    case DefType::Kind::Func:
      for (const auto& p : d.func->params) collect_val(*p.type, out, depth + 1);
      if (d.func->result) collect_val(*d.func->result, out, depth + 1);
      return;
    case DefType::Kind::Instance:
      for (const auto& e : d.instance->exports) collect_desc(e.desc, out, depth + 1);
      return;
    case DefType::Kind::Component:
      for (const auto& e : d.component->imports) collect_desc(e.desc, out, depth + 1);
      for (const auto& e : d.component->exports) collect_desc(e.desc, out, depth + 1);
      return;
  }
}

void collect_desc(const ExternDesc& d, std::set<uint64_t>& out, uint32_t depth) {
  DefType def;
  switch (d.sort) {
    case Sort::Func:
      def.kind = DefType::Kind::Func;
      def.func = d.func;
      break;
    case Sort::Type: collect_def(*d.type, out, depth + 1); return;
    case Sort::Instance:
      def.kind = DefType::Kind::Instance;
      def.instance = d.instance;
      break;
    case Sort::Component:
      def.kind = DefType::Kind::Component;
      def.component = d.component;
      break;
    default: return;
  }
  collect_def(def, out, depth);
}

}  // namespace

void collect_resources(const std::vector<NamedExtern>& externs, std::set<uint64_t>& out) {
  collect_seen().clear();
  for (const auto& e : externs) collect_desc(e.desc, out, 0);
  collect_seen().clear();
}

// ------------------------------------------------------------ registration

void Decoder::note(const void* p, uint32_t depth, uint64_t size, uint64_t offset) {
  if (depth > kMaxTypeDepth) {
    invalid(offset, fmt::format("type nested deeper than {} levels", kMaxTypeDepth));
  }
  if (size > kMaxTypeSize) {
    invalid(offset, fmt::format("type too large: more than {} nodes once its parts are expanded", kMaxTypeSize));
  }
  info_[p] = {depth, size};
}

uint32_t Decoder::depth_of(const void* p) const {
  auto it = info_.find(p);
  return it == info_.end() ? 1 : it->second.first;
}

uint64_t Decoder::size_of(const void* p) const {
  auto it = info_.find(p);
  return it == info_.end() ? 1 : it->second.second;
}

TypeRef Decoder::keep(ValType t, uint64_t offset) {
  uint32_t depth = 0;
  uint64_t size = 1;
  auto child = [&](const TypeRef& c) {
    if (!c) return;
    depth = std::max(depth, depth_of(c.get()));
    size += size_of(c.get());
  };
  child(t.element);
  child(t.ok);
  child(t.err);
  for (const auto& f : t.fields) child(f.type);
  for (const auto& i : t.items) child(i);
  for (const auto& c : t.cases) child(c.type);
  auto ref = std::make_shared<const ValType>(std::move(t));
  note(ref.get(), depth + 1, size, offset);
  kept_.push_back(ref);
  return ref;
}

DefTypeRef Decoder::keep_def(DefType d, uint64_t offset) {
  const void* inner = d.value ? static_cast<const void*>(d.value.get())
                      : d.func ? static_cast<const void*>(d.func.get())
                      : d.instance ? static_cast<const void*>(d.instance.get())
                      : d.component ? static_cast<const void*>(d.component.get())
                                    : nullptr;
  uint32_t depth = inner ? depth_of(inner) : 0;
  uint64_t size = inner ? size_of(inner) : 1;
  auto ref = std::make_shared<const DefType>(std::move(d));
  note(ref.get(), depth + 1, size + 1, offset);
  kept_.push_back(ref);
  return ref;
}

// ------------------------------------------------------------------ equality

bool Decoder::eq_val(const ValType& a, const ValType& b, const Subst& s, std::string& why) {
  step();
  if (&a == &b && s.empty()) return true;
  if (a.kind != b.kind) {
    if ((is_primitive(a.kind) || a.kind == Kind::String) && (is_primitive(b.kind) || b.kind == Kind::String)) {
      why = fmt::format("expected primitive `{}` found primitive `{}`", kind_name(b.kind), kind_name(a.kind));
    } else {
      why = fmt::format("expected {}, found {}", describe(b), describe(a));
    }
    return false;
  }
  auto opt = [&](const TypeRef& x, const TypeRef& y, const char* what) {
    if (!x && !y) return true;
    if (!x || !y) {
      why = y ? fmt::format("expected {} type, but found none", what)
              : fmt::format("expected {} type to not be present", what);
      return false;
    }
    if (!eq_val(*x, *y, s, why)) {
      why = fmt::format("type mismatch in {} variant: {}", what, why);
      return false;
    }
    return true;
  };
  switch (a.kind) {
    case Kind::List:
    case Kind::Option:
      if (!eq_val(*a.element, *b.element, s, why)) {
        why = fmt::format("type mismatch in {} element: {}", kind_name(a.kind), why);
        return false;
      }
      return true;
    case Kind::Record:
      if (a.fields.size() != b.fields.size()) {
        why = fmt::format("expected {} fields, found {}", b.fields.size(), a.fields.size());
        return false;
      }
      for (size_t i = 0; i < a.fields.size(); ++i) {
        if (a.fields[i].name != b.fields[i].name) {
          why = fmt::format("expected field name `{}`, found `{}`", b.fields[i].name, a.fields[i].name);
          return false;
        }
        if (!eq_val(*a.fields[i].type, *b.fields[i].type, s, why)) {
          why = fmt::format("type mismatch in record field `{}`: {}", a.fields[i].name, why);
          return false;
        }
      }
      return true;
    case Kind::Tuple:
      if (a.items.size() != b.items.size()) {
        why = fmt::format("expected {} types, found {}", b.items.size(), a.items.size());
        return false;
      }
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (!eq_val(*a.items[i], *b.items[i], s, why)) {
          why = fmt::format("type mismatch in tuple field {}: {}", i, why);
          return false;
        }
      }
      return true;
    case Kind::Variant:
      if (a.cases.size() != b.cases.size()) {
        why = fmt::format("expected {} cases, found {}", b.cases.size(), a.cases.size());
        return false;
      }
      for (size_t i = 0; i < a.cases.size(); ++i) {
        const Case& x = a.cases[i];
        const Case& y = b.cases[i];
        if (x.name != y.name) {
          why = fmt::format("expected case named `{}`, found `{}`", y.name, x.name);
          return false;
        }
        if (!x.type && y.type) {
          why = fmt::format("expected case `{}` to have a type, found none", x.name);
          return false;
        }
        if (x.type && !y.type) {
          why = fmt::format("expected case `{}` to have no type", x.name);
          return false;
        }
        if (x.type && !eq_val(*x.type, *y.type, s, why)) {
          why = fmt::format("type mismatch in variant case `{}`: {}", x.name, why);
          return false;
        }
      }
      return true;
    case Kind::Enum:
    case Kind::Flags:
      if (a.labels != b.labels) {
        why = fmt::format("mismatch in {} elements", a.kind == Kind::Enum ? "enum" : "flags");
        return false;
      }
      return true;
    case Kind::Result: return opt(a.ok, b.ok, "ok") && opt(a.err, b.err, "err");
    case Kind::Own:
    case Kind::Borrow:
      if (resolve(a.resource, s) != resolve(b.resource, s)) {
        why = fmt::format("resource types are not the same ({} of resource {}, expected resource {})",
                          kind_name(a.kind), a.resource, b.resource);
        return false;
      }
      return true;
    default: return true;
  }
}

bool Decoder::eq_func(const FuncType& a, const FuncType& b, const Subst& s, std::string& why) {
  if (&a == &b && s.empty()) return true;
  if (a.params.size() != b.params.size()) {
    why = fmt::format("expected {} parameters, found {}", b.params.size(), a.params.size());
    return false;
  }
  for (size_t i = 0; i < a.params.size(); ++i) {
    if (a.params[i].name != b.params[i].name) {
      why = fmt::format("expected parameter named `{}`, found `{}`", b.params[i].name, a.params[i].name);
      return false;
    }
    if (!eq_val(*a.params[i].type, *b.params[i].type, s, why)) {
      why = fmt::format("type mismatch in function parameter `{}`: {}", a.params[i].name, why);
      return false;
    }
  }
  if (!a.result && b.result) {
    why = "expected a result, found none";
    return false;
  }
  if (a.result && !b.result) {
    why = "expected no result, found one";
    return false;
  }
  if (a.result && !eq_val(*a.result, *b.result, s, why)) {
    why = fmt::format("type mismatch with result type: {}", why);
    return false;
  }
  return true;
}

bool Decoder::eq_deftype(const DefType& a, const DefType& e, Subst& s, std::unordered_set<uint64_t>& bindable,
                         std::string& why) {
  if (e.kind == DefType::Kind::Resource) {
    if (a.kind != DefType::Kind::Resource) {
      why = "expected resource, found a type that is not a resource";
      return false;
    }
    if (bindable.contains(e.resource) && !s.ids.contains(e.resource)) {
      s.ids[e.resource] = resolve(a.resource, s);
      return true;
    }
    if (resolve(a.resource, s) != resolve(e.resource, s)) {
      why = "resource types are not the same";
      return false;
    }
    return true;
  }
  if (a.kind != e.kind) {
    why = "expected a different kind of type";
    return false;
  }
  switch (e.kind) {
    case DefType::Kind::Value: return eq_val(*a.value, *e.value, s, why);
    case DefType::Kind::Func: return eq_func(*a.func, *e.func, s, why);
    case DefType::Kind::Instance: return sub_instance(*a.instance, *e.instance, s, bindable, why);
    case DefType::Kind::Component: return sub_component(*a.component, *e.component, s, bindable, why);
    default: return true;
  }
}

// ------------------------------------------------------------------ subtyping

bool Decoder::sub_extern(const ExternDesc& actual, const ExternDesc& expected, Subst& s,
                         std::unordered_set<uint64_t>& bindable, std::string& why) {
  if (actual.sort != expected.sort) {
    why = fmt::format("expected {}, found {}", sort_name(expected.sort), sort_name(actual.sort));
    return false;
  }
  switch (expected.sort) {
    case Sort::CoreModule: return sub_core_module(*actual.core_module, *expected.core_module, why);
    case Sort::Func: return eq_func(*actual.func, *expected.func, s, why);
    case Sort::Type:
      if (!eq_deftype(*actual.type, *expected.type, s, bindable, why)) return false;
      // Later uses of the expected type stand for the actual one.
      s.memo[expected.type.get()] = actual.type;
      if (expected.type->value && actual.type->value) s.memo[expected.type->value.get()] = actual.type->value;
      return true;
    case Sort::Instance: return sub_instance(*actual.instance, *expected.instance, s, bindable, why);
    case Sort::Component: return sub_component(*actual.component, *expected.component, s, bindable, why);
    default: return true;
  }
}

bool Decoder::sub_instance(const InstanceType& a, const InstanceType& b, Subst& s,
                           std::unordered_set<uint64_t>& bindable, std::string& why) {
  bindable.insert(b.resources.begin(), b.resources.end());
  for (const auto& e : b.exports) {
    const NamedExtern* x = a.find(e.name);
    if (!x) {
      why = fmt::format("missing expected export `{}`", e.name);
      return false;
    }
    if (!sub_extern(x->desc, e.desc, s, bindable, why)) {
      why = fmt::format("type mismatch in instance export `{}`: {}", e.name, why);
      return false;
    }
  }
  return true;
}

bool Decoder::sub_component(const ComponentType& a, const ComponentType& b, Subst& s,
                            std::unordered_set<uint64_t>& bindable, std::string& why) {
  bindable.insert(a.imported_resources.begin(), a.imported_resources.end());
  bindable.insert(b.exported_resources.begin(), b.exported_resources.end());
  for (const auto& imp : a.imports) {
    auto it = std::ranges::find_if(b.imports, [&](const NamedExtern& x) { return x.name == imp.name; });
    if (it == b.imports.end()) {
      why = fmt::format("missing expected import `{}`", imp.name);
      return false;
    }
    if (!sub_extern(it->desc, imp.desc, s, bindable, why)) {
      why = fmt::format("type mismatch in import `{}`: {}", imp.name, why);
      return false;
    }
  }
  for (const auto& e : b.exports) {
    auto it = std::ranges::find_if(a.exports, [&](const NamedExtern& x) { return x.name == e.name; });
    if (it == a.exports.end()) {
      why = fmt::format("missing expected export `{}`", e.name);
      return false;
    }
    if (!sub_extern(it->desc, e.desc, s, bindable, why)) {
      why = fmt::format("type mismatch in export `{}`: {}", e.name, why);
      return false;
    }
  }
  return true;
}

bool Decoder::sub_core_extern(const engine::ExternType& actual, const engine::ExternType& expected,
                              std::string& why) {
  using engine::ExternKind;
  if (actual.kind != expected.kind) {
    why = fmt::format("expected {}, found {}", engine::extern_kind_name(expected.kind),
                      engine::extern_kind_name(actual.kind));
    return false;
  }
  auto limits_ok = [](const engine::ExternLimits& a, const engine::ExternLimits& e) {
    if (a.initial < e.initial) return false;
    if (!e.max) return true;
    return a.max && *a.max <= *e.max;
  };
  switch (expected.kind) {
    case ExternKind::Func:
    case ExternKind::Tag:
      if (actual.sig != expected.sig) {
        why = fmt::format("expected: (func {}), found (func {})", expected.sig.to_string(), actual.sig.to_string());
        return false;
      }
      return true;
    case ExternKind::Global:
      if (actual.value != expected.value || actual.mutable_global != expected.mutable_global) {
        why = fmt::format("expected global type {}, found {}", expected.to_string(), actual.to_string());
        return false;
      }
      return true;
    case ExternKind::Table:
      if (actual.value != expected.value) {
        why = fmt::format("expected table element type {}, found {}", engine::val_type_name(expected.value),
                          engine::val_type_name(actual.value));
        return false;
      }
      if (!limits_ok(actual.limits, expected.limits)) {
        why = fmt::format("mismatch in table limits: expected {}, found {}", expected.to_string(), actual.to_string());
        return false;
      }
      return true;
    case ExternKind::Memory:
      if (!limits_ok(actual.limits, expected.limits)) {
        why = fmt::format("mismatch in memory limits: expected {}, found {}", expected.to_string(),
                          actual.to_string());
        return false;
      }
      return true;
  }
  return true;
}

bool Decoder::sub_core_module(const CoreModuleType& a, const CoreModuleType& b, std::string& why) {
  for (const auto& imp : a.imports) {
    auto it = std::ranges::find_if(
        b.imports, [&](const engine::ImportInfo& x) { return x.module == imp.module && x.name == imp.name; });
    if (it == b.imports.end()) {
      why = fmt::format("missing expected import `{}::{}`", imp.module, imp.name);
      return false;
    }
    if (!sub_core_extern(*it, imp, why)) {
      why = fmt::format("type mismatch in import `{}::{}`: {}", imp.module, imp.name, why);
      return false;
    }
  }
  for (const auto& e : b.exports) {
    auto it = std::ranges::find_if(a.exports, [&](const engine::ExportInfo& x) { return x.name == e.name; });
    if (it == a.exports.end()) {
      why = fmt::format("missing expected export `{}`", e.name);
      return false;
    }
    if (!sub_core_extern(*it, e, why)) {
      why = fmt::format("type mismatch in export `{}`: {}", e.name, why);
      return false;
    }
  }
  return true;
}

// --------------------------------------------------------------- substitution

TypeRef Decoder::subst_val(const TypeRef& t, const Subst& s) {
  if (!t || s.empty()) return t;
  if (auto m = s.memo.find(t.get()); m != s.memo.end()) return std::static_pointer_cast<const ValType>(m->second);
  ValType copy = *t;
  bool changed = false;
  auto sub = [&](TypeRef& c) {
    if (!c) return;
    TypeRef n = subst_val(c, s);
    if (n != c) {
      c = std::move(n);
      changed = true;
    }
  };
  sub(copy.element);
  sub(copy.ok);
  sub(copy.err);
  for (auto& f : copy.fields) sub(f.type);
  for (auto& i : copy.items) sub(i);
  for (auto& c : copy.cases) sub(c.type);
  DefTypeRef alias;
  if (copy.kind == Kind::Own || copy.kind == Kind::Borrow) {
    if (auto a = handle_alias_.find(t.get()); a != handle_alias_.end()) {
      alias = subst_def(a->second, s);
      if (alias != a->second) changed = true;
    }
    uint64_t id = resolve(copy.resource, s);
    if (id != copy.resource) {
      copy.resource = id;
      changed = true;
    }
  }
  TypeRef out = t;
  if (changed) {
    out = keep(std::move(copy), 0);
    if (alias) handle_alias_[out.get()] = alias;
  }
  s.memo[t.get()] = out;
  return out;
}

FuncTypeRef Decoder::subst_func(const FuncTypeRef& f, const Subst& s) {
  if (!f || s.empty()) return f;
  FuncType copy = *f;
  bool changed = false;
  for (auto& p : copy.params) {
    TypeRef n = subst_val(p.type, s);
    if (n != p.type) {
      p.type = std::move(n);
      changed = true;
    }
  }
  if (TypeRef n = subst_val(copy.result, s); n != copy.result) {
    copy.result = std::move(n);
    changed = true;
  }
  if (!changed) return f;
  auto out = std::make_shared<const FuncType>(std::move(copy));
  info_[out.get()] = {depth_of(f.get()), size_of(f.get())};
  kept_.push_back(out);
  return out;
}

DefTypeRef Decoder::subst_def(const DefTypeRef& d, const Subst& s) {
  if (!d || s.empty()) return d;
  if (auto m = s.memo.find(d.get()); m != s.memo.end()) return std::static_pointer_cast<const DefType>(m->second);
  DefType copy = *d;
  switch (copy.kind) {
    case DefType::Kind::Value: copy.value = subst_val(copy.value, s); break;
    case DefType::Kind::Func: copy.func = subst_func(copy.func, s); break;
    case DefType::Kind::Instance: copy.instance = subst_instance(copy.instance, s); break;
    case DefType::Kind::Component: copy.component = subst_component(copy.component, s); break;
    case DefType::Kind::Resource: copy.resource = resolve(copy.resource, s); break;
  }
  DefTypeRef out = d;
  if (copy.value != d->value || copy.func != d->func || copy.instance != d->instance ||
      copy.component != d->component || copy.resource != d->resource) {
    out = keep_def(std::move(copy), 0);
  }
  s.memo[d.get()] = out;
  return out;
}

ExternDesc Decoder::subst_desc(const ExternDesc& d, const Subst& s) {
  if (s.empty()) return d;
  ExternDesc out = d;
  out.func = subst_func(d.func, s);
  out.type = subst_def(d.type, s);
  out.instance = subst_instance(d.instance, s);
  out.component = subst_component(d.component, s);
  return out;
}

InstanceTypeRef Decoder::subst_instance(const InstanceTypeRef& i, const Subst& s) {
  if (!i || s.empty()) return i;
  auto copy = std::make_shared<InstanceType>();
  bool changed = false;
  for (const auto& e : i->exports) {
    ExternDesc d = subst_desc(e.desc, s);
    if (desc_ptr(d) != desc_ptr(e.desc)) changed = true;
    copy->exports.push_back({e.name, std::move(d)});
  }
  for (uint64_t id : i->resources) {
    uint64_t n = resolve(id, s);
    if (n != id) changed = true;
    copy->resources.push_back(n);
  }
  if (!changed) return i;
  info_[copy.get()] = {depth_of(i.get()), size_of(i.get())};
  kept_.push_back(copy);
  return copy;
}

ComponentTypeRef Decoder::subst_component(const ComponentTypeRef& c, const Subst& s) {
  if (!c || s.empty()) return c;
  auto copy = std::make_shared<ComponentType>();
  bool changed = false;
  for (const auto& e : c->imports) {
    ExternDesc d = subst_desc(e.desc, s);
    if (desc_ptr(d) != desc_ptr(e.desc)) changed = true;
    copy->imports.push_back({e.name, std::move(d)});
  }
  for (const auto& e : c->exports) {
    ExternDesc d = subst_desc(e.desc, s);
    if (desc_ptr(d) != desc_ptr(e.desc)) changed = true;
    copy->exports.push_back({e.name, std::move(d)});
  }
  for (uint64_t id : c->imported_resources) copy->imported_resources.push_back(resolve(id, s));
  for (uint64_t id : c->exported_resources) copy->exported_resources.push_back(resolve(id, s));
  if (!changed && copy->imported_resources == c->imported_resources &&
      copy->exported_resources == c->exported_resources) {
    return c;
  }
  info_[copy.get()] = {depth_of(c.get()), size_of(c.get())};
  kept_.push_back(copy);
  return copy;
}

void Decoder::freshen(const std::vector<uint64_t>& ids, Subst& s) {
  for (uint64_t id : ids) s.ids[id] = new_resource();
}

void Decoder::resource_paths(const InstanceTypeRef& it, std::vector<std::string>& path,
                             std::map<uint64_t, std::vector<std::string>>& out) {
  if (path.size() > kMaxTypeDepth) return;
  for (const auto& e : it->exports) {
    path.push_back(e.name);
    if (e.desc.sort == Sort::Type && e.desc.type->kind == DefType::Kind::Resource) {
      out.emplace(e.desc.type->resource, path);
    } else if (e.desc.sort == Sort::Instance) {
      resource_paths(e.desc.instance, path, out);
    }
    path.pop_back();
  }
}

// ---------------------------------------------------------- external names

bool Decoder::visible(const ValType& t, const Names& names) const {
  step();
  if (names.has(&t)) return true;
  switch (t.kind) {
    case Kind::Record:
    case Kind::Variant:
    case Kind::Enum:
    case Kind::Flags: return false;
    case Kind::Own:
    case Kind::Borrow: {
      auto a = handle_alias_.find(&t);
      return a != handle_alias_.end() && names.has(a->second.get());
    }
    default: return visible_children(t, names);
  }
}

bool Decoder::visible_children(const ValType& t, const Names& names) const {
  switch (t.kind) {
    case Kind::List:
    case Kind::Option: return visible(*t.element, names);
    case Kind::Record:
      return std::ranges::all_of(t.fields, [&](const Field& f) { return visible(*f.type, names); });
    case Kind::Tuple: return std::ranges::all_of(t.items, [&](const TypeRef& i) { return visible(*i, names); });
    case Kind::Variant:
      return std::ranges::all_of(t.cases, [&](const Case& c) { return !c.type || visible(*c.type, names); });
    case Kind::Result: return (!t.ok || visible(*t.ok, names)) && (!t.err || visible(*t.err, names));
    case Kind::Own:
    case Kind::Borrow: return visible(t, names);
    default: return true;
  }
}

bool Decoder::visible_func(const FuncType& f, const Names& names) const {
  for (const auto& p : f.params) {
    if (!visible(*p.type, names)) return false;
  }
  return !f.result || visible(*f.result, names);
}

bool Decoder::visible_instance(const InstanceType& it, const Names& names) const {
  // An instance type names the types it exports.
  Names inner = names;
  for (const auto& e : it.exports) {
    if (e.desc.sort == Sort::Type) {
      inner.extra.insert(e.desc.type.get());
      if (e.desc.type->value) inner.extra.insert(e.desc.type->value.get());
    }
  }
  for (const auto& e : it.exports) {
    const ExternDesc& d = e.desc;
    if (d.sort == Sort::Type && d.type->kind == DefType::Kind::Value) {
      if (!visible_children(*d.type->value, inner)) return false;
    } else if (!visible_desc(d, inner)) {
      return false;
    }
  }
  return true;
}

bool Decoder::visible_desc(const ExternDesc& d, const Names& names) const {
  switch (d.sort) {
    case Sort::Func: return visible_func(*d.func, names);
    case Sort::Type:
      switch (d.type->kind) {
        case DefType::Kind::Value: return visible(*d.type->value, names);
        case DefType::Kind::Func: return visible_func(*d.type->func, names);
        case DefType::Kind::Instance: return visible_instance(*d.type->instance, names);
        default: return true;
      }
    case Sort::Instance: return visible_instance(*d.instance, names);
    default: return true;
  }
}

void Decoder::name_instance(Scope& scope, const InstanceType& it, bool by_import, uint32_t depth) {
  if (depth > kMaxTypeDepth) return;
  for (const auto& e : it.exports) {
    if (e.desc.sort == Sort::Type) {
      scope.named.emplace(e.desc.type.get(), by_import);
      if (e.desc.type->value) scope.named.emplace(e.desc.type->value.get(), by_import);
    } else if (e.desc.sort == Sort::Instance) {
      name_instance(scope, *e.desc.instance, by_import, depth + 1);
    }
  }
}

bool Decoder::mentions_resource(const ValType& t) const {
  step();
  switch (t.kind) {
    case Kind::Own:
    case Kind::Borrow: return true;
    case Kind::List:
    case Kind::Option: return mentions_resource(*t.element);
    case Kind::Record:
      return std::ranges::any_of(t.fields, [&](const Field& f) { return mentions_resource(*f.type); });
    case Kind::Tuple: return std::ranges::any_of(t.items, [&](const TypeRef& i) { return mentions_resource(*i); });
    case Kind::Variant:
      return std::ranges::any_of(t.cases, [&](const Case& c) { return c.type && mentions_resource(*c.type); });
    case Kind::Result: return (t.ok && mentions_resource(*t.ok)) || (t.err && mentions_resource(*t.err));
    default: return false;
  }
}

bool Decoder::mentions_resource(const DefType& d) const {
  auto desc = [&](const ExternDesc& e) {
    switch (e.sort) {
      case Sort::Func: {
        DefType f;
        f.kind = DefType::Kind::Func;
        f.func = e.func;
        return mentions_resource(f);
      }
      case Sort::Type: return mentions_resource(*e.type);
      case Sort::Instance: {
        DefType i;
        i.kind = DefType::Kind::Instance;
        i.instance = e.instance;
        return mentions_resource(i);
      }
      case Sort::Component: {
        DefType c;
        c.kind = DefType::Kind::Component;
        c.component = e.component;
        return mentions_resource(c);
      }
      default: return false;
    }
  };
  switch (d.kind) {
    case DefType::Kind::Resource: return true;
    case DefType::Kind::Value: return mentions_resource(*d.value);
    case DefType::Kind::Func:
      return std::ranges::any_of(d.func->params, [&](const Field& p) { return mentions_resource(*p.type); }) ||
             (d.func->result && mentions_resource(*d.func->result));
    case DefType::Kind::Instance:
      return std::ranges::any_of(d.instance->exports, [&](const NamedExtern& e) { return desc(e.desc); });
    case DefType::Kind::Component:
      return std::ranges::any_of(d.component->imports, [&](const NamedExtern& e) { return desc(e.desc); }) ||
             std::ranges::any_of(d.component->exports, [&](const NamedExtern& e) { return desc(e.desc); });
  }
  return false;
}

}  // namespace airssys::wasm::cm::detail
