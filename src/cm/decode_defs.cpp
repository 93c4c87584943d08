// Decoding and validation of canonical functions, the start function, and
// imports and exports with their names (the rest of the sections are in
// decode.cpp).

#include <fmt/format.h>

#include <algorithm>

#include "decoder.hpp"
#include "flatten.hpp"

namespace airssys::wasm::cm::detail {

namespace {

CanonOptionIndices read_options(Reader& r, uint64_t at) {
  CanonOptionIndices o;
  std::optional<StringEncoding> encoding;
  uint32_t n = r.count("canonical options", 1);
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t oat = r.offset();
    uint8_t b = r.u8();
    switch (b) {
      case 0x00:
      case 0x01:
      case 0x02: {
        auto e = static_cast<StringEncoding>(b);
        if (encoding) {
          invalid(at, fmt::format("canonical encoding option `{}` conflicts with option `{}`",
                                  string_encoding_name(*encoding), string_encoding_name(e)));
        }
        encoding = e;
        break;
      }
      case 0x03:
        if (o.memory) invalid(at, "canonical option `memory` is specified more than once");
        o.memory = r.u32();
        break;
      case 0x04:
        if (o.realloc) invalid(at, "canonical option `realloc` is specified more than once");
        o.realloc = r.u32();
        break;
      case 0x05:
        if (o.post_return) invalid(at, "canonical option `post-return` is specified more than once");
        o.post_return = r.u32();
        break;
      case 0x06: unsupported(oat, "the canonical option `async` is past the MVP (async)");
      case 0x07: unsupported(oat, "the canonical option `callback` is past the MVP (async)");
      default: malformed(oat, fmt::format("invalid leading byte ({:#x}) for canonical option", b));
    }
  }
  if (encoding) o.string_encoding = *encoding;
  return o;
}

const char* builtin_name(uint8_t op) {
  switch (op) {
    case 0x05: return "task.cancel (async)";
    case 0x06: return "subtask.cancel (async)";
    case 0x09: return "task.return (async)";
    case 0x0a: return "context.get (async)";
    case 0x0b: return "context.set (async)";
    case 0x0c: return "thread.yield (async)";
    case 0x0d: return "subtask.drop (async)";
    case 0x0e: return "stream.new (streams)";
    case 0x0f: return "stream.read (streams)";
    case 0x10: return "stream.write (streams)";
    case 0x11: return "stream.cancel-read (streams)";
    case 0x12: return "stream.cancel-write (streams)";
    case 0x13: return "stream.drop-readable (streams)";
    case 0x14: return "stream.drop-writable (streams)";
    case 0x15: return "future.new (futures)";
    case 0x16: return "future.read (futures)";
    case 0x17: return "future.write (futures)";
    case 0x18: return "future.cancel-read (futures)";
    case 0x19: return "future.cancel-write (futures)";
    case 0x1a: return "future.drop-readable (futures)";
    case 0x1b: return "future.drop-writable (futures)";
    case 0x1c: return "error-context.new (error-context)";
    case 0x1d: return "error-context.debug-message (error-context)";
    case 0x1e: return "error-context.drop (error-context)";
    case 0x1f: return "waitable-set.new (async)";
    case 0x20: return "waitable-set.wait (async)";
    case 0x21: return "waitable-set.poll (async)";
    case 0x22: return "waitable-set.drop (async)";
    case 0x23: return "waitable.join (async)";
    case 0x24: return "backpressure.inc (async)";
    case 0x25: return "backpressure.dec (async)";
    case 0x26: return "thread.index (threads)";
    case 0x27: return "thread.new-indirect (threads)";
    case 0x28: return "thread.resume-later (threads)";
    case 0x29: return "thread.suspend (threads)";
    case 0x2a: return "thread.suspend-then-resume (threads)";
    case 0x2b: return "thread.yield-then-resume (threads)";
    case 0x2c: return "thread.suspend-then-promote (threads)";
    case 0x2d: return "thread.yield-then-promote (threads)";
    case 0x40: return "thread.spawn-ref (shared-everything threads)";
    case 0x41: return "thread.spawn-indirect (shared-everything threads)";
    case 0x42: return "thread.available-parallelism (shared-everything threads)";
    default: return nullptr;
  }
}

bool any_memory_data(const std::vector<Field>& params) {
  return std::ranges::any_of(params, [](const Field& f) { return contains_memory_data(*f.type); });
}

}  // namespace

void Decoder::canon(Reader& r, Scope& scope) {
  Component& comp = *scope.component;
  IndexSpaces& sp = *scope.spaces;
  uint64_t at = r.offset();
  uint8_t op = r.u8();
  auto index = static_cast<uint32_t>(comp.canons.size());
  Origin origin{DefKind::Canon, index};
  Canon c;
  using engine::ValType;
  auto check_options = [&](const CanonOptionIndices& o) {
    if (o.memory && *o.memory >= sp.core_memories.size()) {
      invalid(at, fmt::format("unknown memory {}: memory index out of bounds ({} defined)", *o.memory,
                              sp.core_memories.size()));
    }
    if (o.realloc) {
      if (*o.realloc >= sp.core_funcs.size()) {
        invalid(at, fmt::format("unknown core func {}: func index out of bounds", *o.realloc));
      }
      engine::FuncSig want{{ValType::I32, ValType::I32, ValType::I32, ValType::I32}, {ValType::I32}};
      if (sp.core_funcs[*o.realloc].type != want) {
        invalid(at, fmt::format("canonical option `realloc` uses a core function with an incorrect signature "
                                "{}: expected {}",
                                sp.core_funcs[*o.realloc].type.to_string(), want.to_string()));
      }
      if (!o.memory) invalid(at, "canonical option `realloc` requires `memory` to also be specified");
    }
    if (o.post_return && *o.post_return >= sp.core_funcs.size()) {
      invalid(at, fmt::format("unknown core func {}: func index out of bounds", *o.post_return));
    }
  };
  switch (op) {
    case 0x00: {
      uint64_t bat = r.offset();
      if (uint8_t b = r.u8(); b != 0x00) {
        malformed(bat, fmt::format("invalid leading byte ({:#x}) for canonical function lift", b));
      }
      c.kind = Canon::Kind::Lift;
      c.func = r.u32();
      c.options = read_options(r, at);
      c.type_index = r.u32();
      check_options(c.options);
      if (c.func >= sp.core_funcs.size()) {
        invalid(at, fmt::format("unknown core func {}: func index out of bounds ({} defined)", c.func,
                                sp.core_funcs.size()));
      }
      if (c.type_index >= sp.types.size()) {
        invalid(at, fmt::format("unknown type {}: type index out of bounds", c.type_index));
      }
      const DefType& dt = *sp.types[c.type_index].type;
      if (dt.kind != DefType::Kind::Func) {
        invalid(at, fmt::format("type index {} is not a function type", c.type_index));
      }
      c.type = dt.func;
      FlatFunc flat = flatten_functype(*c.type, FlatContext::Lift);
      const engine::FuncSig& core = sp.core_funcs[c.func].type;
      if (core.params != flat.sig.params) {
        invalid(at, fmt::format("lowered parameter types `{}` do not match parameter types `{}` of core func {}",
                                sig_list(flat.sig.params), sig_list(core.params), c.func));
      }
      if (core.results != flat.sig.results) {
        invalid(at, fmt::format("lowered result types `{}` do not match result types `{}` of core func {}",
                                sig_list(flat.sig.results), sig_list(core.results), c.func));
      }
      bool params_data = any_memory_data(c.type->params) || flat.params_in_memory;
      bool result_data = (c.type->result && contains_memory_data(*c.type->result)) || flat.results_in_memory;
      if ((params_data || result_data) && !c.options.memory) {
        invalid(at, "canonical option `memory` is required: the function passes lists or strings or spills to "
                    "memory");
      }
      if (params_data && !c.options.realloc) {
        invalid(at, "canonical option `realloc` is required: the parameters hold lists or strings or spill "
                    "to memory");
      }
      if (c.options.post_return) {
        engine::FuncSig want{flat.sig.results, {}};
        if (sp.core_funcs[*c.options.post_return].type != want) {
          invalid(at, fmt::format("canonical option `post-return` uses a core function with an incorrect "
                                  "signature {}: expected {}",
                                  sp.core_funcs[*c.options.post_return].type.to_string(), want.to_string()));
        }
      }
      c.core_sig = core;
      sp.funcs.push_back({origin, c.type});
      break;
    }
    case 0x01: {
      uint64_t bat = r.offset();
      if (uint8_t b = r.u8(); b != 0x00) {
        malformed(bat, fmt::format("invalid leading byte ({:#x}) for canonical function lower", b));
      }
      c.kind = Canon::Kind::Lower;
      c.func = r.u32();
      c.options = read_options(r, at);
      check_options(c.options);
      if (c.options.post_return) invalid(at, "canonical option `post-return` cannot be specified for lowerings");
      if (c.func >= sp.funcs.size()) {
        invalid(at, fmt::format("unknown func {}: func index out of bounds ({} defined)", c.func,
                                sp.funcs.size()));
      }
      c.type = sp.funcs[c.func].type;
      FlatFunc flat = flatten_functype(*c.type, FlatContext::Lower);
      bool params_data = any_memory_data(c.type->params) || flat.params_in_memory;
      bool result_data = c.type->result && contains_memory_data(*c.type->result);
      if ((params_data || result_data || flat.results_in_memory) && !c.options.memory) {
        invalid(at, "canonical option `memory` is required: the function passes lists or strings or spills to "
                    "memory");
      }
      if (result_data && !c.options.realloc) {
        invalid(at, "canonical option `realloc` is required: the result holds lists or strings");
      }
      c.core_sig = flat.sig;
      sp.core_funcs.push_back({origin, c.core_sig});
      break;
    }
    case 0x02:
    case 0x03:
    case 0x04: {
      c.kind = op == 0x02 ? Canon::Kind::ResourceNew : op == 0x03 ? Canon::Kind::ResourceDrop
                                                                  : Canon::Kind::ResourceRep;
      c.type_index = r.u32();
      if (c.type_index >= sp.types.size()) {
        invalid(at, fmt::format("unknown type {}: type index out of bounds", c.type_index));
      }
      const DefType& dt = *sp.types[c.type_index].type;
      if (dt.kind != DefType::Kind::Resource) {
        invalid(at, fmt::format("type index {} is not a resource type", c.type_index));
      }
      c.resource = dt.resource;
      if (op != 0x03 && !scope.defined_resources.contains(c.resource)) {
        invalid(at, fmt::format("resource.{} needs a resource type defined in this component, type {} is not",
                                op == 0x02 ? "new" : "rep", c.type_index));
      }
      c.core_sig = op == 0x03 ? engine::FuncSig{{ValType::I32}, {}}
                              : engine::FuncSig{{ValType::I32}, {ValType::I32}};
      sp.core_funcs.push_back({origin, c.core_sig});
      break;
    }
    default:
      if (const char* name = builtin_name(op)) {
        unsupported(at, fmt::format("the canonical built-in {} is past the MVP", name));
      }
      malformed(at, fmt::format("invalid leading byte ({:#x}) for canonical function", op));
  }
  comp.canons.push_back(std::move(c));
  comp.items.push_back(Item{DefKind::Canon, index, at});
}

void Decoder::start(Reader& r, Scope& scope) {
  Component& comp = *scope.component;
  IndexSpaces& sp = *scope.spaces;
  uint64_t at = r.offset();
  uint32_t f = r.u32();
  uint32_t args = r.count("start arguments", 1);
  if (args != 0) unsupported(at, "start functions taking values are past the MVP (values)");
  uint32_t results = r.u32();
  if (results != 0) unsupported(at, "start functions returning values are past the MVP (values)");
  if (comp.start) invalid(at, "more than one start function");
  if (f >= sp.funcs.size()) invalid(at, fmt::format("unknown func {}: func index out of bounds", f));
  const FuncType& ft = *sp.funcs[f].type;
  if (!ft.params.empty() || ft.result) {
    invalid(at, fmt::format("start function {} has type {}: expected func() with no result", f, ft.to_string()));
  }
  comp.start = Start{f};
  comp.items.push_back(Item{DefKind::Start, 0, at});
}

std::string Decoder::name_attributes(Reader& r) {
  uint64_t at = r.offset();
  uint8_t b = r.u8();
  if (b == 0x00 || b == 0x01) return r.name();
  if (b != 0x02) malformed(at, fmt::format("invalid leading byte ({:#x}) for component name", b));
  std::string name = r.name();
  uint32_t n = r.count("name attributes", 2);
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t aat = r.offset();
    uint8_t k = r.u8();
    if (k > 0x02) malformed(aat, fmt::format("invalid leading byte ({:#x}) for name option", k));
    (void)r.name();
  }
  if (n > 0) {
    unsupported(at, "import and export attributes (implements, versionsuffix, external-id) are past the MVP");
  }
  return name;
}

void Decoder::check_name(uint64_t at, std::set<std::string>& keys, std::map<std::string, const DefType*>& resources,
                         const std::string& name, const ExternDesc& desc, bool is_import, ExternName& parsed) {
  const char* what = is_import ? "import" : "export";
  if (std::string err = parse_extern_name(name, parsed); !err.empty()) {
    invalid(at, fmt::format("{} name `{}` is not a valid extern name: {}", what, name, err));
  }
  if (!keys.insert(parsed.key).second) {
    invalid(at, fmt::format("{} name `{}` conflicts with previous name", what, name));
  }
  bool is_resource = desc.sort == Sort::Type && desc.type->kind == DefType::Kind::Resource;
  if (parsed.kind == ExternName::Kind::Label && is_resource) resources[parsed.key] = desc.type.get();
  if (parsed.kind == ExternName::Kind::Label || parsed.kind == ExternName::Kind::Interface) return;
  if (desc.sort != Sort::Func) invalid(at, fmt::format("`{}` is not a func", name));
  const FuncType& ft = *desc.func;
  // The function's shape first, then the resource it names.
  auto own_shape = [](const TypeRef& t) {
    return t && (t->kind == Kind::Own || (t->kind == Kind::Result && t->ok && t->ok->kind == Kind::Own));
  };
  if (parsed.kind == ExternName::Kind::Constructor) {
    if (!ft.result) invalid(at, fmt::format("constructor `{}` should return one value", name));
    if (!own_shape(ft.result)) {
      invalid(at, fmt::format("function `{}` should return `(own $T)` or `(result (own $T))`", name));
    }
  } else if (parsed.kind == ExternName::Kind::Method) {
    if (ft.params.empty()) invalid(at, fmt::format("method `{}` should have at least one argument", name));
    if (ft.params[0].name != "self") {
      invalid(at, fmt::format("method `{}` should have a first argument called `self`", name));
    }
    if (ft.params[0].type->kind != Kind::Borrow) {
      invalid(at, fmt::format("method `{}` should take a first argument of `(borrow $T)`", name));
    }
  }
  auto it = resources.find(label_key(parsed.resource));
  if (it == resources.end()) {
    invalid(at, fmt::format("{}resource name `{}` of `{}` is not known in this context",
                            parsed.kind == ExternName::Kind::Static ? "static " : "", parsed.resource, name));
  }
  const DefType* resource = it->second;
  // A handle of the named resource: made from that very import or export.
  auto of_resource = [&](const TypeRef& t) {
    auto a = handle_alias_.find(t.get());
    return a != handle_alias_.end() && a->second.get() == resource;
  };
  auto unnamed = [&]() {
    invalid(at, fmt::format("resource used in function `{}` does not have a name in this context: expected the "
                            "resource `{}` as named here",
                            name, parsed.resource));
  };
  auto is_own = [&](const TypeRef& t) {
    if (!t || t->kind != Kind::Own) return false;
    if (t->resource == resource->resource && !of_resource(t)) unnamed();
    return t->resource == resource->resource;
  };
  switch (parsed.kind) {
    case ExternName::Kind::Constructor: {
      const TypeRef& res = ft.result;
      bool ok = is_own(res) || (res && res->kind == Kind::Result && is_own(res->ok));
      if (!ok) {
        invalid(at, fmt::format("function `{}` should return `(own $T)` or `(result (own $T))` where $T is "
                                "the resource `{}`: does not match expected resource name",
                                name, parsed.resource));
      }
      break;
    }
    case ExternName::Kind::Method: {
      if (ft.params.empty()) invalid(at, fmt::format("method `{}` should have at least one argument", name));
      if (ft.params[0].name != "self") {
        invalid(at, fmt::format("method `{}` should have a first argument called `self`", name));
      }
      const TypeRef& t = ft.params[0].type;
      if (t->kind == Kind::Borrow && t->resource == resource->resource && !of_resource(t)) unnamed();
      if (!(t->kind == Kind::Borrow && t->resource == resource->resource)) {
        invalid(at, fmt::format("method `{}` should take a first argument of `(borrow $T)` where $T is the "
                                "resource `{}`",
                                name, parsed.resource));
      }
      break;
    }
    default: break;
  }
}

ExternDesc Decoder::name_type(uint64_t at, Scope& scope, ExternDesc desc, bool fresh, bool is_import,
                              const std::string& name) {
  const char* what = is_import ? "import" : "export";
  // Instance types check visibility once they are imported or exported.
  bool check = scope.kind != Scope::Kind::InstanceType;
  Names names{&scope, is_import, {}};
  if (desc.sort != Sort::Type) {
    if (check && !visible_desc(desc, names)) {
      invalid(at, fmt::format("{} not valid to be used as {}: a type it uses has no name here ({} `{}`)",
                              sort_name(desc.sort), what, what, name));
    }
    if (desc.sort == Sort::Instance) name_instance(scope, *desc.instance, is_import);
    return desc;
  }
  if (fresh) {
    scope.named.emplace(desc.type.get(), is_import);
    return desc;
  }
  // The import or export names the type: a new node with an external name.
  DefType copy = *desc.type;
  if (copy.kind == DefType::Kind::Value) {
    if (check && !visible_children(*copy.value, names)) {
      invalid(at, fmt::format("type not valid to be used as {}: a type inside {} `{}` has no name here", what,
                              what, name));
    }
    TypeRef original = copy.value;
    copy.value = keep(*original, at);
    if (auto a = handle_alias_.find(original.get()); a != handle_alias_.end()) {
      handle_alias_[copy.value.get()] = a->second;
    }
  } else if (copy.kind != DefType::Kind::Resource && check && !visible_desc(desc, names)) {
    invalid(at, fmt::format("type not valid to be used as {}: a type inside {} `{}` has no name here", what, what,
                            name));
  }
  desc.type = keep_def(std::move(copy), at);
  scope.named.emplace(desc.type.get(), is_import);
  if (desc.type->value) scope.named.emplace(desc.type->value.get(), is_import);
  if (desc.type->kind == DefType::Kind::Instance) name_instance(scope, *desc.type->instance, is_import);
  return desc;
}

void Decoder::import(Reader& r, Scope& scope, bool declarator) {
  uint64_t at = r.offset();
  std::string name = name_attributes(r);
  bool fresh_resource = false;
  ExternDesc desc = externdesc(r, scope, &fresh_resource);
  auto import_index = static_cast<uint32_t>(scope.imports.size());
  // Fresh resources: a `(sub resource)` bound, and those of an instance type.
  std::vector<std::pair<uint64_t, std::vector<std::string>>> fresh;
  if (desc.sort == Sort::Instance && !desc.instance->resources.empty()) {
    Subst s;
    freshen(desc.instance->resources, s);
    desc = subst_desc(desc, s);
    std::map<uint64_t, std::vector<std::string>> paths;
    std::vector<std::string> path;
    resource_paths(desc.instance, path, paths);
    for (uint64_t id : desc.instance->resources) {
      auto p = paths.find(id);
      fresh.emplace_back(id, p == paths.end() ? std::vector<std::string>{} : p->second);
    }
  } else if (fresh_resource) {
    fresh.emplace_back(desc.type->resource, std::vector<std::string>{});
  }
  for (const auto& f : fresh) scope.imported_resources.push_back(f.first);
  desc = name_type(at, scope, std::move(desc), fresh_resource, true, name);
  ExternName parsed;
  check_name(at, scope.import_keys, scope.import_resources, name, desc, true, parsed);
  Origin origin{DefKind::Import, import_index};
  add_entry(scope, desc, origin);
  scope.imports.push_back({name, desc});
  if (!declarator && scope.component) {
    Component& comp = *scope.component;
    for (auto& f : fresh) {
      comp.resources.push_back({f.first, ResourceOrigin::Kind::Import, import_index, std::move(f.second)});
    }
    comp.imports.push_back(Import{name, parsed.version, desc});
    comp.items.push_back(Item{DefKind::Import, import_index, at});
  }
}

void Decoder::export_(Reader& r, Scope& scope) {
  Component& comp = *scope.component;
  uint64_t at = r.offset();
  Export e;
  e.name = name_attributes(r);
  e.target.sort = sort(r);
  e.target.index = r.u32();
  uint64_t oat = r.offset();
  uint8_t has = r.u8();
  std::optional<ExternDesc> ascribed;
  bool ascribed_fresh = false;
  if (has == 0x01) {
    ascribed = externdesc(r, scope, &ascribed_fresh);
  } else if (has != 0x00) {
    malformed(oat, fmt::format("invalid leading byte ({:#x}) for optional component export type", has));
  }
  if (!is_exportable(e.target.sort)) {
    invalid(at, fmt::format("{} cannot be exported: only core modules cross component boundaries",
                            sort_name(e.target.sort)));
  }
  ExternDesc desc = desc_of(at, scope, e.target);
  if (ascribed) {
    Subst s;
    std::unordered_set<uint64_t> bindable;
    if (is_resource(*ascribed)) bindable.insert(ascribed->type->resource);
    std::string why;
    if (!sub_extern(desc, *ascribed, s, bindable, why)) {
      invalid(at, fmt::format("ascribed type of export `{}` is not compatible with the type of {} {}: {}", e.name,
                              sort_name(e.target.sort), e.target.index, why));
    }
    // A `(sub resource)` ascription makes the export a resource of its own
    // as seen from outside, unequal to other exports of the same resource.
    desc = ascribed_fresh ? *ascribed : subst_desc(*ascribed, s);
    e.ascribed = true;
  }
  auto index = static_cast<uint32_t>(comp.exports.size());
  if (ascribed_fresh) {
    comp.resources.push_back({desc.type->resource, ResourceOrigin::Kind::Export, index, {}});
  }
  desc = name_type(at, scope, std::move(desc), ascribed_fresh, false, e.name);
  ExternName parsed;
  check_name(at, scope.export_keys, scope.export_resources, e.name, desc, false, parsed);
  e.version = parsed.version;
  e.desc = desc;
  add_entry(scope, desc, Origin{DefKind::Export, index});
  scope.exports.push_back({e.name, desc});
  comp.exports.push_back(std::move(e));
  comp.items.push_back(Item{DefKind::Export, index, at});
}

void Decoder::export_decl(Reader& r, Scope& scope) {
  uint64_t at = r.offset();
  std::string name = name_attributes(r);
  bool fresh_resource = false;
  ExternDesc desc = externdesc(r, scope, &fresh_resource);
  if (desc.sort == Sort::Instance && !desc.instance->resources.empty()) {
    Subst s;
    freshen(desc.instance->resources, s);
    desc = subst_desc(desc, s);
    for (uint64_t id : desc.instance->resources) scope.exported_resources.push_back(id);
  } else if (fresh_resource) {
    scope.exported_resources.push_back(desc.type->resource);
  }
  desc = name_type(at, scope, std::move(desc), fresh_resource, false, name);
  ExternName parsed;
  check_name(at, scope.export_keys, scope.export_resources, name, desc, false, parsed);
  add_entry(scope, desc, Origin{DefKind::Export, static_cast<uint32_t>(scope.exports.size())});
  scope.exports.push_back({name, desc});
}

}  // namespace airssys::wasm::cm::detail
