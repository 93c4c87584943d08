// Decoding and validation of type definitions: core types (function and
// module types), component value types, function, component, instance and
// resource types, and the declarators of component and instance types.

#include <fmt/format.h>

#include <algorithm>

#include "decoder.hpp"
#include "flatten.hpp"

namespace airssys::wasm::cm::detail {
namespace {

constexpr uint64_t kMaxElemSize = uint64_t{1} << 28;
constexpr uint64_t kMaxPages32 = 65536;

bool primitive_code(uint8_t b) { return b >= 0x73 && b <= 0x7f; }

Kind primitive_kind(uint8_t b) {
  // 0x7f bool, 0x7e s8, ... 0x73 string: the order of Kind.
  return static_cast<Kind>(0x7f - b);
}

engine::ExternLimits limits(Reader& r, bool memory) {
  uint64_t at = r.offset();
  uint8_t flags = r.u8();
  engine::ExternLimits l;
  switch (flags) {
    case 0x00: l.initial = r.u32(); break;
    case 0x01:
      l.initial = r.u32();
      l.max = r.u32();
      break;
    case 0x02:
    case 0x03: unsupported(at, "shared memories are past the MVP (threads)");
    case 0x04:
    case 0x05:
    case 0x06:
    case 0x07:
      unsupported(at, memory ? "64-bit memories are past the MVP (memory64)" : "64-bit tables are past the MVP");
    default: malformed(at, fmt::format("invalid leading byte ({:#x}) for limits", flags));
  }
  if (l.max && *l.max < l.initial) invalid(at, "size minimum must not be greater than maximum");
  if (memory && (l.initial > kMaxPages32 || (l.max && *l.max > kMaxPages32))) {
    invalid(at, "memory size must be at most 65536 pages (4GiB)");
  }
  return l;
}

}  // namespace

engine::ValType Decoder::core_valtype(Reader& r) {
  uint64_t at = r.offset();
  uint8_t b = r.u8();
  switch (b) {
    case 0x7f: return engine::ValType::I32;
    case 0x7e: return engine::ValType::I64;
    case 0x7d: return engine::ValType::F32;
    case 0x7c: return engine::ValType::F64;
    case 0x7b: return engine::ValType::V128;
    case 0x70: return engine::ValType::FuncRef;
    case 0x6f: return engine::ValType::ExternRef;
    case 0x63:
    case 0x64:
    case 0x6e:
    case 0x6d:
    case 0x6c:
    case 0x6b:
    case 0x6a:
    case 0x71:
    case 0x72:
    case 0x73:
    case 0x69: unsupported(at, "core reference types of the GC proposal are past the MVP");
    default: malformed(at, fmt::format("invalid leading byte ({:#x}) for core value type", b));
  }
}

engine::ExternType Decoder::core_externtype(Reader& r, const std::vector<CoreTypeRef>& types) {
  uint64_t at = r.offset();
  uint8_t kind = r.u8();
  engine::ExternType t;
  auto func_type = [&]() {
    uint32_t idx = r.u32();
    if (idx >= types.size()) {
      invalid(at, fmt::format("type index out of bounds: core type {} ({} defined)", idx, types.size()));
    }
    if (types[idx]->is_module) invalid(at, fmt::format("core type {} is not a function type", idx));
    return types[idx]->func;
  };
  switch (kind) {
    case 0x00:
      t.kind = engine::ExternKind::Func;
      t.sig = func_type();
      return t;
    case 0x01: {
      t.kind = engine::ExternKind::Table;
      t.value = core_valtype(r);
      if (t.value != engine::ValType::FuncRef && t.value != engine::ValType::ExternRef) {
        invalid(at, "a table's element type must be a reference type");
      }
      t.limits = limits(r, false);
      return t;
    }
    case 0x02:
      t.kind = engine::ExternKind::Memory;
      t.limits = limits(r, true);
      return t;
    case 0x03: {
      t.kind = engine::ExternKind::Global;
      t.value = core_valtype(r);
      uint64_t mat = r.offset();
      uint8_t m = r.u8();
      if (m > 1) malformed(mat, fmt::format("invalid leading byte ({:#x}) for global mutability", m));
      t.mutable_global = m == 1;
      return t;
    }
    case 0x04: {
      t.kind = engine::ExternKind::Tag;
      uint64_t aat = r.offset();
      if (uint8_t a = r.u8(); a != 0x00) malformed(aat, fmt::format("invalid tag attribute {:#x}", a));
      t.sig = func_type();
      if (!t.sig.results.empty()) invalid(at, "a tag's function type must have no results");
      return t;
    }
    default: malformed(at, fmt::format("invalid leading byte ({:#x}) for core external kind", kind));
  }
}

void Decoder::core_type(Reader& r, Scope& scope, Origin origin, std::vector<CoreTypeRef>* defs) {
  uint64_t at = r.offset();
  uint8_t b = r.u8();
  auto type = std::make_shared<CoreType>();
  if (b == 0x60) {
    uint32_t n = r.count("parameter types", 1);
    for (uint32_t i = 0; i < n; ++i) type->func.params.push_back(core_valtype(r));
    n = r.count("result types", 1);
    for (uint32_t i = 0; i < n; ++i) type->func.results.push_back(core_valtype(r));
  } else if (b == 0x50) {
    type->is_module = true;
    type->module = module_type(r, scope);
  } else if (b == 0x00 || b == 0x4e || b == 0x4f || b == 0x5e || b == 0x5f) {
    unsupported(at, "core types of the GC proposal (rec, sub, struct, array) are past the MVP");
  } else {
    malformed(at, fmt::format("invalid leading byte ({:#x}) for core type", b));
  }
  scope.spaces->core_types.push_back({origin, type});
  if (defs) defs->push_back(type);
}

CoreModuleTypeRef Decoder::module_type(Reader& r, Scope& scope) {
  (void)scope;
  auto mt = std::make_shared<CoreModuleType>();
  std::vector<CoreTypeRef> local;
  std::set<std::pair<std::string, std::string>> import_names;
  std::set<std::string> export_names;
  uint32_t n = r.count("module type declarations", 2);
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t at = r.offset();
    uint8_t tag = r.u8();
    switch (tag) {
      case 0x00: {
        engine::ImportInfo imp;
        imp.module = r.name();
        imp.name = r.name();
        static_cast<engine::ExternType&>(imp) = core_externtype(r, local);
        if (!import_names.emplace(imp.module, imp.name).second) {
          invalid(at, fmt::format("duplicate import name `{}:{}`", imp.module, imp.name));
        }
        mt->imports.push_back(std::move(imp));
        break;
      }
      case 0x01: {
        uint64_t tat = r.offset();
        uint8_t b = r.u8();
        if (b == 0x50) invalid(tat, "a module type cannot define a module type");
        if (b != 0x60) {
          if (b == 0x00 || b == 0x4e || b == 0x4f || b == 0x5e || b == 0x5f) {
            unsupported(tat, "core types of the GC proposal (rec, sub, struct, array) are past the MVP");
          }
          malformed(tat, fmt::format("invalid leading byte ({:#x}) for core type", b));
        }
        auto t = std::make_shared<CoreType>();
        uint32_t np = r.count("parameter types", 1);
        for (uint32_t k = 0; k < np; ++k) t->func.params.push_back(core_valtype(r));
        uint32_t nr = r.count("result types", 1);
        for (uint32_t k = 0; k < nr; ++k) t->func.results.push_back(core_valtype(r));
        local.push_back(t);
        break;
      }
      case 0x02: {
        uint64_t sat = r.offset();
        uint8_t s1 = r.u8();
        if (s1 != 0x10) malformed(sat, fmt::format("invalid leading byte ({:#x}) for outer alias target", s1));
        uint8_t s2 = r.u8();
        if (s2 != 0x01) malformed(sat + 1, fmt::format("invalid leading byte ({:#x}) for outer alias kind", s2));
        uint32_t count = r.u32();
        uint32_t idx = r.u32();
        CoreTypeRef target;
        if (count == 0) {
          if (idx >= local.size()) invalid(at, fmt::format("type index out of bounds: core type {}", idx));
          target = local[idx];
        } else {
          if (count > scopes_.size()) invalid(at, fmt::format("invalid outer alias count of {}", count));
          const Scope& outer = *scopes_[scopes_.size() - count];
          if (idx >= outer.spaces->core_types.size()) {
            invalid(at, fmt::format("type index out of bounds: core type {} of the scope {} out", idx, count));
          }
          target = outer.spaces->core_types[idx].type;
        }
        if (target->is_module) invalid(at, "a module type cannot alias a module type");
        local.push_back(target);
        break;
      }
      case 0x03: {
        engine::ExportInfo e;
        e.name = r.name();
        static_cast<engine::ExternType&>(e) = core_externtype(r, local);
        if (!export_names.insert(e.name).second) invalid(at, fmt::format("export name `{}` already defined", e.name));
        mt->exports.push_back(std::move(e));
        break;
      }
      default: malformed(at, fmt::format("invalid leading byte ({:#x}) for module type declaration", tag));
    }
  }
  return mt;
}

std::string Decoder::label(Reader& r, const char* what) {
  uint64_t at = r.offset();
  std::string s = r.name();
  if (s.empty()) invalid(at, fmt::format("{} name cannot be empty", what));
  if (!is_label(s)) invalid(at, fmt::format("{} name `{}` is not in kebab case", what, s));
  return s;
}

TypeRef Decoder::valtype(Reader& r, Scope& scope) {
  uint64_t at = r.offset();
  uint8_t b = r.peek();
  if (primitive_code(b)) {
    r.u8();
    return primitive(primitive_kind(b));
  }
  if (b == 0x64) unsupported(at, "the error-context type is past the MVP (error-context)");
  int64_t idx = r.s33();
  if (idx < 0) malformed(at, fmt::format("invalid leading byte ({:#x}) for value type", b));
  const auto& types = scope.spaces->types;
  if (static_cast<uint64_t>(idx) >= types.size()) {
    invalid(at, fmt::format("type index out of bounds: type {} ({} defined)", idx, types.size()));
  }
  const DefType& d = *types[static_cast<size_t>(idx)].type;
  if (d.kind != DefType::Kind::Value) invalid(at, fmt::format("type index {} is not a defined type", idx));
  return d.value;
}

TypeRef Decoder::defvaltype(Reader& r, Scope& scope, uint8_t code) {
  uint64_t at = r.offset() - 1;
  if (primitive_code(code)) return primitive(primitive_kind(code));
  ValType t;
  auto unique = [&](std::set<std::string>& keys, const std::string& name, const char* what) {
    auto [it, inserted] = keys.insert(label_key(name));
    if (!inserted) invalid(at, fmt::format("{} name `{}` conflicts with previous {} name", what, name, what));
  };
  auto optional_valtype = [&]() -> TypeRef {
    uint64_t oat = r.offset();
    uint8_t b = r.u8();
    if (b == 0x00) return nullptr;
    if (b != 0x01) malformed(oat, fmt::format("invalid leading byte ({:#x}) for optional value type", b));
    return valtype(r, scope);
  };
  auto resource_index = [&]() {
    uint64_t iat = r.offset();
    uint32_t idx = r.u32();
    const auto& types = scope.spaces->types;
    if (idx >= types.size()) invalid(iat, fmt::format("type index out of bounds: type {}", idx));
    const DefType& d = *types[idx].type;
    if (d.kind != DefType::Kind::Resource) invalid(iat, fmt::format("type index {} is not a resource type", idx));
    return types[idx].type;
  };
  DefTypeRef handle_of;
  switch (code) {
    case 0x72: {
      t.kind = Kind::Record;
      uint32_t n = r.count("record fields", 2);
      if (n == 0) invalid(at, "record type must have at least one field");
      std::set<std::string> keys;
      for (uint32_t i = 0; i < n; ++i) {
        std::string name = label(r, "record field");
        unique(keys, name, "record field");
        t.fields.push_back({std::move(name), valtype(r, scope)});
      }
      break;
    }
    case 0x71: {
      t.kind = Kind::Variant;
      uint32_t n = r.count("variant cases", 3);
      if (n == 0) invalid(at, "variant type must have at least one case");
      std::set<std::string> keys;
      for (uint32_t i = 0; i < n; ++i) {
        std::string name = label(r, "variant case");
        unique(keys, name, "variant case");
        TypeRef payload = optional_valtype();
        uint64_t zat = r.offset();
        if (uint8_t z = r.u8(); z != 0x00) {
          malformed(zat, fmt::format("invalid leading byte ({:#x}) for zero byte required after a variant case", z));
        }
        t.cases.push_back({std::move(name), std::move(payload)});
      }
      break;
    }
    case 0x70:
      t.kind = Kind::List;
      t.element = valtype(r, scope);
      break;
    case 0x67: unsupported(at, "fixed-length lists are past the MVP");
    case 0x6f: {
      t.kind = Kind::Tuple;
      uint32_t n = r.count("tuple types", 1);
      if (n == 0) invalid(at, "tuple type must have at least one type");
      for (uint32_t i = 0; i < n; ++i) t.items.push_back(valtype(r, scope));
      break;
    }
    case 0x6e:
    case 0x6d: {
      bool flags = code == 0x6e;
      t.kind = flags ? Kind::Flags : Kind::Enum;
      uint32_t n = r.count(flags ? "flags" : "enum cases", 1);
      if (n == 0) invalid(at, flags ? "flags must have at least one entry" : "enum type must have at least one variant");
      if (flags && n > kMaxFlags) invalid(at, fmt::format("cannot have more than {} flags, found {}", kMaxFlags, n));
      std::set<std::string> keys;
      for (uint32_t i = 0; i < n; ++i) {
        std::string name = label(r, flags ? "flag" : "enum tag");
        unique(keys, name, flags ? "flag" : "enum tag");
        t.labels.push_back(std::move(name));
      }
      break;
    }
    case 0x6b:
      t.kind = Kind::Option;
      t.element = valtype(r, scope);
      break;
    case 0x6a:
      t.kind = Kind::Result;
      t.ok = optional_valtype();
      t.err = optional_valtype();
      break;
    case 0x69:
    case 0x68: {
      t.kind = code == 0x69 ? Kind::Own : Kind::Borrow;
      handle_of = resource_index();
      t.resource = handle_of->resource;
      break;
    }
    case 0x66: unsupported(at, "the stream type is past the MVP (streams)");
    case 0x65: unsupported(at, "the future type is past the MVP (futures)");
    case 0x64: unsupported(at, "the error-context type is past the MVP (error-context)");
    case 0x63: unsupported(at, "the map type is past the MVP (map)");
    default: malformed(at, fmt::format("invalid leading byte ({:#x}) for component defined type", code));
  }
  TypeRef out = keep(std::move(t), at);
  if (handle_of) handle_alias_[out.get()] = handle_of;
  if (elem_size_saturated(*out) >= kMaxElemSize) {
    invalid(at, fmt::format("type {} exceeds maximum byte size: its elements take {} bytes, at most 2^28 allowed",
                            kind_name(out->kind), elem_size_saturated(*out)));
  }
  return out;
}

FuncTypeRef Decoder::functype(Reader& r, Scope& scope) {
  uint64_t at = r.offset() - 1;
  auto f = std::make_shared<FuncType>();
  uint32_t n = r.count("function parameters", 2);
  std::set<std::string> keys;
  uint32_t depth = 0;
  uint64_t size = 1;
  for (uint32_t i = 0; i < n; ++i) {
    std::string name = label(r, "function parameter");
    if (!keys.insert(label_key(name)).second) {
      invalid(at, fmt::format("function parameter name `{}` conflicts with previous parameter name", name));
    }
    TypeRef t = valtype(r, scope);
    depth = std::max(depth, depth_of(t.get()));
    size += size_of(t.get());
    f->params.push_back({std::move(name), std::move(t)});
  }
  uint64_t rat = r.offset();
  uint8_t b = r.u8();
  if (b == 0x00) {
    f->result = valtype(r, scope);
    depth = std::max(depth, depth_of(f->result.get()));
    size += size_of(f->result.get());
    if (contains_borrow(*f->result)) invalid(rat, "function result cannot contain a `borrow` type");
  } else if (b == 0x01) {
    uint64_t zat = r.offset();
    if (uint8_t z = r.u8(); z != 0x00) {
      malformed(zat, fmt::format("invalid leading byte ({:#x}) for number of results", z));
    }
  } else {
    malformed(rat, fmt::format("invalid leading byte ({:#x}) for component function results", b));
  }
  note(f.get(), depth + 1, size, at);
  kept_.push_back(f);
  return f;
}

DefTypeRef Decoder::deftype(Reader& r, Scope& scope, TypeDef* def) {
  uint64_t at = r.offset();
  uint8_t b = r.u8();
  DefType d;
  switch (b) {
    case 0x40:
      d.kind = DefType::Kind::Func;
      d.func = functype(r, scope);
      break;
    case 0x43: unsupported(at, "async function types are past the MVP (async)");
    case 0x41:
      d.kind = DefType::Kind::Component;
      d.component = component_type(r, scope);
      break;
    case 0x42:
      d.kind = DefType::Kind::Instance;
      d.instance = instance_type(r, scope);
      break;
    case 0x3f: {
      if (scope.kind != Scope::Kind::Component) {
        invalid(at, "resources can only be defined within a concrete component, not in a component or instance "
                    "type");
      }
      uint64_t rat = r.offset();
      uint8_t rep = r.u8();
      if (rep == 0x7e) unsupported(rat, "64-bit resource representations are past the MVP");
      if (rep != 0x7f) invalid(rat, fmt::format("resource representation must be i32, found {:#x}", rep));
      std::optional<uint32_t> dtor;
      uint64_t dat = r.offset();
      uint8_t has = r.u8();
      if (has == 0x01) {
        dtor = r.u32();
      } else if (has != 0x00) {
        malformed(dat, fmt::format("invalid leading byte ({:#x}) for optional destructor", has));
      }
      if (dtor) {
        const auto& funcs = scope.spaces->core_funcs;
        if (*dtor >= funcs.size()) invalid(dat, fmt::format("unknown core func {}: func index out of bounds", *dtor));
        engine::FuncSig want{{engine::ValType::I32}, {}};
        if (funcs[*dtor].type != want) {
          invalid(dat, fmt::format("resource destructor core func {} has type {}: expected {}", *dtor,
                                   funcs[*dtor].type.to_string(), want.to_string()));
        }
      }
      d.kind = DefType::Kind::Resource;
      d.resource = new_resource();
      scope.defined_resources.insert(d.resource);
      if (scope.component) {
        scope.component->resources.push_back(
            {d.resource, ResourceOrigin::Kind::Defined, static_cast<uint32_t>(scope.spaces->types.size()), {}});
      }
      if (def) def->dtor = dtor;
      break;
    }
    default:
      d.kind = DefType::Kind::Value;
      d.value = defvaltype(r, scope, b);
      break;
  }
  return keep_def(std::move(d), at);
}

ComponentTypeRef Decoder::component_type(Reader& r, Scope& scope) {
  (void)scope;
  uint64_t at = r.offset() - 1;
  if (scopes_.size() >= kMaxNesting) {
    invalid(at, fmt::format("components and component or instance types nested deeper than {} levels", kMaxNesting));
  }
  Scope inner;
  inner.kind = Scope::Kind::ComponentType;
  inner.spaces = &inner.own_spaces;
  {
    ScopeGuard guard(scopes_, &inner);
    declarators(r, inner, true);
  }
  auto ct = std::make_shared<ComponentType>();
  ct->imports = std::move(inner.imports);
  ct->exports = std::move(inner.exports);
  ct->imported_resources = std::move(inner.imported_resources);
  ct->exported_resources = std::move(inner.exported_resources);
  uint32_t depth = 0;
  uint64_t size = 1;
  auto add = [&](const ExternDesc& d) {
    const void* p = d.func ? static_cast<const void*>(d.func.get())
                    : d.type ? static_cast<const void*>(d.type.get())
                    : d.instance ? static_cast<const void*>(d.instance.get())
                    : d.component ? static_cast<const void*>(d.component.get())
                                  : nullptr;
    if (!p) return;
    depth = std::max(depth, depth_of(p));
    size += size_of(p);
  };
  for (const auto& e : ct->imports) add(e.desc);
  for (const auto& e : ct->exports) add(e.desc);
  note(ct.get(), depth + 1, size, at);
  kept_.push_back(ct);
  return ct;
}

InstanceTypeRef Decoder::instance_type(Reader& r, Scope& scope) {
  (void)scope;
  uint64_t at = r.offset() - 1;
  if (scopes_.size() >= kMaxNesting) {
    invalid(at, fmt::format("components and component or instance types nested deeper than {} levels", kMaxNesting));
  }
  Scope inner;
  inner.kind = Scope::Kind::InstanceType;
  inner.spaces = &inner.own_spaces;
  {
    ScopeGuard guard(scopes_, &inner);
    declarators(r, inner, false);
  }
  auto it = std::make_shared<InstanceType>();
  it->exports = std::move(inner.exports);
  it->resources = std::move(inner.exported_resources);
  uint32_t depth = 0;
  uint64_t size = 1;
  for (const auto& e : it->exports) {
    const ExternDesc& d = e.desc;
    const void* p = d.func ? static_cast<const void*>(d.func.get())
                    : d.type ? static_cast<const void*>(d.type.get())
                    : d.instance ? static_cast<const void*>(d.instance.get())
                    : d.component ? static_cast<const void*>(d.component.get())
                                  : nullptr;
    if (!p) continue;
    depth = std::max(depth, depth_of(p));
    size += size_of(p);
  }
  note(it.get(), depth + 1, size, at);
  kept_.push_back(it);
  return it;
}

void Decoder::declarators(Reader& r, Scope& inner, bool component_type) {
  uint32_t n = r.count("declarations", 2);
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t at = r.offset();
    uint8_t tag = r.u8();
    switch (tag) {
      case 0x00: core_type(r, inner, Origin{DefKind::CoreType, 0}, nullptr); break;
      case 0x01: {
        DefTypeRef t = deftype(r, inner, nullptr);
        inner.spaces->types.push_back({Origin{DefKind::Type, 0}, t});
        break;
      }
      case 0x02: alias(r, inner, true); break;
      case 0x03:
        if (!component_type) {
          malformed(at, fmt::format("invalid leading byte ({:#x}) for instance type declaration", tag));
        }
        import(r, inner, true);
        break;
      case 0x04: export_decl(r, inner); break;
      default:
        malformed(at, fmt::format("invalid leading byte ({:#x}) for component or instance type declaration", tag));
    }
  }
}

ExternDesc Decoder::externdesc(Reader& r, Scope& scope, bool* fresh) {
  uint64_t at = r.offset();
  uint8_t b = r.u8();
  ExternDesc d;
  const auto& types = scope.spaces->types;
  auto type_at = [&](uint32_t idx) -> const DefTypeRef& {
    if (idx >= types.size()) invalid(at, fmt::format("type index out of bounds: type {} ({} defined)", idx, types.size()));
    return types[idx].type;
  };
  switch (b) {
    case 0x00: {
      uint64_t sat = r.offset();
      if (uint8_t s = r.u8(); s != 0x11) {
        malformed(sat, fmt::format("invalid leading byte ({:#x}) for core sort of an external type: expected 0x11", s));
      }
      uint32_t idx = r.u32();
      const auto& core = scope.spaces->core_types;
      if (idx >= core.size()) invalid(at, fmt::format("core type index out of bounds: core type {}", idx));
      if (!core[idx].type->is_module) invalid(at, fmt::format("core type index {} is not a module type", idx));
      d.sort = Sort::CoreModule;
      d.core_module = core[idx].type->module;
      return d;
    }
    case 0x01: {
      uint32_t idx = r.u32();
      const DefTypeRef& t = type_at(idx);
      if (t->kind != DefType::Kind::Func) invalid(at, fmt::format("type index {} is not a function type", idx));
      d.sort = Sort::Func;
      d.func = t->func;
      return d;
    }
    case 0x02: unsupported(at, "value imports and exports are past the MVP (values)");
    case 0x03: {
      uint64_t bat = r.offset();
      uint8_t bound = r.u8();
      d.sort = Sort::Type;
      if (bound == 0x00) {
        d.type = type_at(r.u32());
      } else if (bound == 0x01) {
        DefType res;
        res.kind = DefType::Kind::Resource;
        res.resource = new_resource();
        d.type = keep_def(std::move(res), at);
        if (fresh) *fresh = true;
      } else {
        malformed(bat, fmt::format("invalid leading byte ({:#x}) for type bound", bound));
      }
      return d;
    }
    case 0x04: {
      uint32_t idx = r.u32();
      const DefTypeRef& t = type_at(idx);
      if (t->kind != DefType::Kind::Component) invalid(at, fmt::format("type index {} is not a component type", idx));
      d.sort = Sort::Component;
      d.component = t->component;
      return d;
    }
    case 0x05: {
      uint32_t idx = r.u32();
      const DefTypeRef& t = type_at(idx);
      if (t->kind != DefType::Kind::Instance) invalid(at, fmt::format("type index {} is not an instance type", idx));
      d.sort = Sort::Instance;
      d.instance = t->instance;
      return d;
    }
    default: malformed(at, fmt::format("invalid leading byte ({:#x}) for component external kind", b));
  }
}

}  // namespace airssys::wasm::cm::detail
