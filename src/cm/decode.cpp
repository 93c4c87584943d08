// Decoding and validation of component binaries: the preamble, the
// sections and the definitions that are not types (those are in
// decode_types.cpp; type checking is in typecheck.cpp).

#include "airssys/wasm/cm/decode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <new>

#include "decoder.hpp"
#include "flatten.hpp"

namespace airssys::wasm::cm {
namespace detail {

void fail(ErrorCode code, uint64_t offset, std::string message) {
  throw Failure{code, fmt::format("{:#x}: {}", offset, message)};
}

// ------------------------------------------------------------------- Reader

uint8_t Reader::u8() {
  if (at_end()) malformed(offset(), "unexpected end-of-file: expected one more byte");
  return bytes_[pos_++];
}

uint8_t Reader::peek() {
  if (at_end()) malformed(offset(), "unexpected end-of-file: expected one more byte");
  return bytes_[pos_];
}

uint32_t Reader::u32() {
  uint64_t start = offset();
  uint32_t result = 0;
  for (int i = 0; i < 5; ++i) {
    uint8_t b = u8();
    if (i == 4 && (b & 0xF0) != 0) malformed(start, "integer too large: a u32 LEB128 has at most 32 bits");
    result |= static_cast<uint32_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) return result;
  }
  malformed(start, "integer representation too long: a u32 LEB128 has at most 5 bytes");
}

int64_t Reader::s33() {
  uint64_t start = offset();
  int64_t result = 0;
  int shift = 0;
  for (int i = 0; i < 5; ++i) {
    uint8_t b = u8();
    result |= static_cast<int64_t>(b & 0x7F) << shift;
    shift += 7;
    if ((b & 0x80) == 0) {
      if (i == 4 && (b & 0x70) != 0 && (b & 0x70) != 0x70) {
        malformed(start, "integer too large: an s33 LEB128 has at most 33 bits");
      }
      if (shift < 64 && (b & 0x40) != 0) result |= -(static_cast<int64_t>(1) << shift);
      return result;
    }
  }
  malformed(start, "integer representation too long: an s33 LEB128 has at most 5 bytes");
}

std::span<const uint8_t> Reader::take(size_t n) {
  if (n > remaining()) {
    malformed(offset(), fmt::format("unexpected end-of-file: expected {} bytes, {} left", n, remaining()));
  }
  auto out = bytes_.subspan(pos_, n);
  pos_ += n;
  return out;
}

Reader Reader::sub(size_t n) {
  uint64_t at = offset();
  auto bytes = take(n);
  return Reader(bytes, at);
}

std::string Reader::name() {
  uint64_t at = offset();
  uint32_t len = u32();
  auto bytes = take(len);
  std::string s(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (!is_valid_utf8(s)) malformed(at, "malformed UTF-8 encoding: a name must be valid UTF-8");
  return s;
}

uint32_t Reader::count(const char* what, size_t min_item_bytes) {
  uint64_t at = offset();
  uint32_t n = u32();
  if (static_cast<uint64_t>(n) * std::max<size_t>(min_item_bytes, 1) > remaining()) {
    malformed(at, fmt::format("unexpected end-of-file: {} {} cannot fit in the {} bytes left", n, what,
                              remaining()));
  }
  return n;
}

// ------------------------------------------------------------------ sections

std::shared_ptr<Component> Decoder::component(Reader& r, std::string name) {
  uint64_t start = r.offset();
  if (scopes_.size() >= kMaxNesting) {
    invalid(start, fmt::format("components and component or instance types nested deeper than {} levels",
                               kMaxNesting));
  }
  if (r.remaining() < 8) malformed(start, "unexpected end-of-file: expected the 8-byte component preamble");
  auto pre = r.take(8);
  if (pre[0] != 0x00 || pre[1] != 0x61 || pre[2] != 0x73 || pre[3] != 0x6d) {
    malformed(start, "magic header not detected: expected \\0asm");
  }
  if (!(pre[4] == 0x0d && pre[5] == 0x00 && pre[6] == 0x01 && pre[7] == 0x00)) {
    if (pre[6] == 0x00 && pre[7] == 0x00) {
      malformed(start + 4, "expected a version header for a component (0d 00 01 00), found a core module's");
    }
    malformed(start + 4, fmt::format("unknown binary version {:02x} {:02x} {:02x} {:02x}: expected 0d 00 01 00",
                                     pre[4], pre[5], pre[6], pre[7]));
  }
  auto comp = std::make_shared<Component>();
  comp->name = std::move(name);
  Scope scope;
  scope.kind = Scope::Kind::Component;
  scope.component = comp.get();
  scope.spaces = &comp->spaces;
  ScopeGuard guard(scopes_, &scope);
  while (!r.at_end()) {
    uint64_t at = r.offset();
    section_offset_ = at;
    uint8_t id = r.u8();
    uint32_t size = r.u32();
    if (size > r.remaining()) {
      malformed(at, fmt::format("unexpected end-of-file: section size {} exceeds the {} bytes left", size,
                                r.remaining()));
    }
    Reader s = r.sub(size);
    section(s, id, scope);
    if (!s.at_end()) {
      malformed(s.offset(), fmt::format("section {} has {} bytes left past its contents", id, s.remaining()));
    }
  }
  comp->type.imports = scope.imports;
  comp->type.exports = scope.exports;
  comp->type.imported_resources = scope.imported_resources;
  std::set<uint64_t> in_exports;
  collect_resources(scope.exports, in_exports);
  std::set<uint64_t> imported(scope.imported_resources.begin(), scope.imported_resources.end());
  for (uint64_t id : in_exports) {
    if (!imported.contains(id)) comp->type.exported_resources.push_back(id);
  }
  return comp;
}

void Decoder::section(Reader& r, uint8_t id, Scope& scope) {
  Component& comp = *scope.component;
  switch (id) {
    case 0: {  // custom: a name, then anything
      (void)r.name();
      (void)r.take(r.remaining());
      return;
    }
    case 1: core_module(r, scope); return;
    case 2: {
      uint32_t n = r.count("core instances", 2);
      for (uint32_t i = 0; i < n; ++i) core_instance(r, scope);
      return;
    }
    case 3: {
      uint32_t n = r.count("core types", 1);
      for (uint32_t i = 0; i < n; ++i) {
        uint64_t at = r.offset();
        auto index = static_cast<uint32_t>(comp.core_types.size());
        core_type(r, scope, Origin{DefKind::CoreType, index}, &comp.core_types);
        comp.items.push_back(Item{DefKind::CoreType, index, at});
      }
      return;
    }
    case 4: {
      uint64_t at = r.offset();
      auto index = static_cast<uint32_t>(comp.components.size());
      auto child = component(r, fmt::format("{}/{}", comp.name, index));
      comp.spaces.components.push_back(
          {Origin{DefKind::Component, index}, std::make_shared<const ComponentType>(child->type)});
      comp.components.push_back(std::move(child));
      comp.items.push_back(Item{DefKind::Component, index, at});
      return;
    }
    case 5: {
      uint32_t n = r.count("instances", 2);
      for (uint32_t i = 0; i < n; ++i) instance(r, scope);
      return;
    }
    case 6: {
      uint32_t n = r.count("aliases", 3);
      for (uint32_t i = 0; i < n; ++i) alias(r, scope, false);
      return;
    }
    case 7: {
      uint32_t n = r.count("types", 1);
      for (uint32_t i = 0; i < n; ++i) {
        uint64_t at = r.offset();
        auto index = static_cast<uint32_t>(comp.types.size());
        TypeDef def;
        def.type = deftype(r, scope, &def);
        comp.spaces.types.push_back({Origin{DefKind::Type, index}, def.type});
        comp.types.push_back(std::move(def));
        comp.items.push_back(Item{DefKind::Type, index, at});
      }
      return;
    }
    case 8: {
      uint32_t n = r.count("canonical functions", 1);
      for (uint32_t i = 0; i < n; ++i) canon(r, scope);
      return;
    }
    case 9: start(r, scope); return;
    case 10: {
      uint32_t n = r.count("imports", 3);
      for (uint32_t i = 0; i < n; ++i) import(r, scope, false);
      return;
    }
    case 11: {
      uint32_t n = r.count("exports", 4);
      for (uint32_t i = 0; i < n; ++i) export_(r, scope);
      return;
    }
    case 12: unsupported(r.offset(), "value definitions (value section 12) are past the MVP");
    default: malformed(r.offset() - 1, fmt::format("malformed section id {}: expected 0 to 11", id));
  }
}

void Decoder::core_module(Reader& r, Scope& scope) {
  Component& comp = *scope.component;
  uint64_t at = r.offset();
  auto bytes = r.take(r.remaining());
  if (bytes.size() < 8 || bytes[0] != 0x00 || bytes[1] != 0x61 || bytes[2] != 0x73 || bytes[3] != 0x6d) {
    malformed(at, "core module: magic header not detected: expected \\0asm");
  }
  if (!(bytes[4] == 0x01 && bytes[5] == 0x00 && bytes[6] == 0x00 && bytes[7] == 0x00)) {
    malformed(at + 4, "expected a version header for a module (01 00 00 00)");
  }
  auto index = static_cast<uint32_t>(comp.modules.size());
  CoreModuleDef def;
  def.bytes.assign(bytes.begin(), bytes.end());
  def.offset = at;
  auto loaded = engine_.load(def.bytes, fmt::format("{}/module {}", comp.name, index));
  if (!loaded) {
    const Error& e = loaded.error();
    // A module the native tier cannot compile (past a compile bound, or the
    // compiler failed) is not an invalid component: the code says so, and a
    // caller may load the component on the interpreter instead.
    ErrorCode code = e.code == ErrorCode::CompileLimit || e.code == ErrorCode::CompileFailed
                         ? e.code
                     : e.category() == ErrorCategory::Decode ? ErrorCode::MalformedComponent
                                                             : ErrorCode::InvalidComponent;
    fail(code, at, fmt::format("core module {}: {}", index, e.message));
  }
  def.module = *loaded;
  std::set<std::pair<std::string, std::string>> import_names;
  for (const auto& imp : def.module->imports()) {
    if (!import_names.emplace(imp.module, imp.name).second) {
      invalid(at, fmt::format("core module {}: duplicate import name `{}:{}`", index, imp.module, imp.name));
    }
  }
  auto type = std::make_shared<CoreModuleType>();
  type->imports = def.module->imports();
  type->exports = def.module->exports();
  comp.spaces.core_modules.push_back({Origin{DefKind::Module, index}, type});
  comp.modules.push_back(std::move(def));
  comp.items.push_back(Item{DefKind::Module, index, at});
}

Sort Decoder::core_sort(Reader& r) {
  uint64_t at = r.offset();
  uint8_t b = r.u8();
  switch (b) {
    case 0x00: return Sort::CoreFunc;
    case 0x01: return Sort::CoreTable;
    case 0x02: return Sort::CoreMemory;
    case 0x03: return Sort::CoreGlobal;
    case 0x04: return Sort::CoreTag;
    case 0x10: return Sort::CoreType;
    case 0x11: return Sort::CoreModule;
    case 0x12: return Sort::CoreInstance;
    default: malformed(at, fmt::format("invalid leading byte ({:#x}) for core sort", b));
  }
}

Sort Decoder::sort(Reader& r) {
  uint64_t at = r.offset();
  uint8_t b = r.u8();
  switch (b) {
    case 0x00: return core_sort(r);
    case 0x01: return Sort::Func;
    case 0x02: return Sort::Value;
    case 0x03: return Sort::Type;
    case 0x04: return Sort::Component;
    case 0x05: return Sort::Instance;
    default: malformed(at, fmt::format("invalid leading byte ({:#x}) for sort", b));
  }
}

namespace {

engine::ExternKind core_kind(Sort s) {
  switch (s) {
    case Sort::CoreTable: return engine::ExternKind::Table;
    case Sort::CoreMemory: return engine::ExternKind::Memory;
    case Sort::CoreGlobal: return engine::ExternKind::Global;
    case Sort::CoreTag: return engine::ExternKind::Tag;
    default: return engine::ExternKind::Func;
  }
}

const char* core_kind_name(engine::ExternKind k) {
  switch (k) {
    case engine::ExternKind::Func: return "func";
    case engine::ExternKind::Table: return "table";
    case engine::ExternKind::Memory: return "memory";
    case engine::ExternKind::Global: return "global";
    case engine::ExternKind::Tag: return "tag";
  }
  return "?";
}

// The core item `index` of a core sort (func, table, memory, global, tag).
engine::ExternType core_item(uint64_t at, const IndexSpaces& spaces, Sort s, uint32_t index) {
  size_t n = spaces.size(s);
  if (index >= n) {
    invalid(at, fmt::format("unknown {} {}: {} index out of bounds ({} defined)", sort_name(s), index,
                            core_kind_name(core_kind(s)), n));
  }
  engine::ExternType t;
  switch (s) {
    case Sort::CoreFunc:
      t.kind = engine::ExternKind::Func;
      t.sig = spaces.core_funcs[index].type;
      return t;
    case Sort::CoreTable: return spaces.core_tables[index].type;
    case Sort::CoreMemory: return spaces.core_memories[index].type;
    case Sort::CoreGlobal: return spaces.core_globals[index].type;
    case Sort::CoreTag: return spaces.core_tags[index].type;
    default: invalid(at, fmt::format("{} cannot be used here", sort_name(s)));
  }
}

void push_core(IndexSpaces& spaces, const engine::ExternType& t, Origin origin) {
  switch (t.kind) {
    case engine::ExternKind::Func: spaces.core_funcs.push_back({origin, t.sig}); return;
    case engine::ExternKind::Table: spaces.core_tables.push_back({origin, t}); return;
    case engine::ExternKind::Memory: spaces.core_memories.push_back({origin, t}); return;
    case engine::ExternKind::Global: spaces.core_globals.push_back({origin, t}); return;
    case engine::ExternKind::Tag: spaces.core_tags.push_back({origin, t}); return;
  }
}

}  // namespace

void Decoder::core_instance(Reader& r, Scope& scope) {
  Component& comp = *scope.component;
  IndexSpaces& sp = *scope.spaces;
  uint64_t at = r.offset();
  uint8_t tag = r.u8();
  auto index = static_cast<uint32_t>(comp.core_instances.size());
  CoreInstanceDef def;
  auto type = std::make_shared<CoreInstanceType>();
  if (tag == 0x00) {
    def.instantiate = true;
    def.module = r.u32();
    uint32_t n = r.count("instantiation arguments", 3);
    for (uint32_t i = 0; i < n; ++i) {
      CoreInstantiateArg arg;
      arg.name = r.name();
      uint64_t kat = r.offset();
      uint8_t kind = r.u8();
      if (kind != 0x12) {
        malformed(kat, fmt::format("invalid leading byte ({:#x}) for instantiation arg kind: expected 0x12 "
                                   "(core instance)",
                                   kind));
      }
      arg.instance = r.u32();
      def.args.push_back(std::move(arg));
    }
    if (def.module >= sp.core_modules.size()) {
      invalid(at, fmt::format("unknown module {}: module index out of bounds ({} defined)", def.module,
                              sp.core_modules.size()));
    }
    std::set<std::string> seen;
    for (const auto& arg : def.args) {
      if (!seen.insert(arg.name).second) {
        invalid(at, fmt::format("duplicate module instantiation argument named `{}`", arg.name));
      }
      if (arg.instance >= sp.core_instances.size()) {
        invalid(at, fmt::format("unknown core instance {}: instance index out of bounds ({} defined)",
                                arg.instance, sp.core_instances.size()));
      }
    }
    const CoreModuleType& mt = *sp.core_modules[def.module].type;
    for (const auto& imp : mt.imports) {
      auto arg = std::ranges::find_if(def.args, [&](const CoreInstantiateArg& a) { return a.name == imp.module; });
      if (arg == def.args.end()) {
        invalid(at, fmt::format("missing module instantiation argument named `{}` (module {} imports `{}` `{}`)",
                                imp.module, def.module, imp.module, imp.name));
      }
      const CoreInstanceType& it = *sp.core_instances[arg->instance].type;
      const engine::ExportInfo* e = it.find(imp.name);
      if (!e) {
        invalid(at, fmt::format("module instantiation argument `{}` does not export an item named `{}`",
                                imp.module, imp.name));
      }
      std::string why;
      if (!sub_core_extern(*e, imp, why)) {
        invalid(at, fmt::format("type mismatch for export `{}` of module instantiation argument `{}`: {}",
                                imp.name, imp.module, why));
      }
    }
    type->exports = mt.exports;
  } else if (tag == 0x01) {
    def.instantiate = false;
    uint32_t n = r.count("inline exports", 3);
    std::set<std::string> seen;
    for (uint32_t i = 0; i < n; ++i) {
      CoreInlineExport e;
      e.name = r.name();
      e.sort = core_sort(r);
      e.index = r.u32();
      if (!seen.insert(e.name).second) invalid(at, fmt::format("export name `{}` already defined", e.name));
      engine::ExportInfo info;
      static_cast<engine::ExternType&>(info) = core_item(at, sp, e.sort, e.index);
      info.name = e.name;
      type->exports.push_back(std::move(info));
      def.exports.push_back(std::move(e));
    }
  } else {
    malformed(at, fmt::format("invalid leading byte ({:#x}) for core instance", tag));
  }
  sp.core_instances.push_back({Origin{DefKind::CoreInstance, index}, type});
  comp.core_instances.push_back(std::move(def));
  comp.items.push_back(Item{DefKind::CoreInstance, index, at});
}

ExternDesc Decoder::desc_of(uint64_t at, Scope& scope, SortIdx target) {
  IndexSpaces& sp = *scope.spaces;
  if (target.sort == Sort::Value) unsupported(at, "values (the value sort) are past the MVP");
  size_t n = sp.size(target.sort);
  if (target.index >= n) {
    invalid(at, fmt::format("unknown {} {}: index out of bounds ({} defined)", sort_name(target.sort),
                            target.index, n));
  }
  ExternDesc d;
  d.sort = target.sort;
  switch (target.sort) {
    case Sort::Func: d.func = sp.funcs[target.index].type; break;
    case Sort::Type: d.type = sp.types[target.index].type; break;
    case Sort::Component: d.component = sp.components[target.index].type; break;
    case Sort::Instance: d.instance = sp.instances[target.index].type; break;
    case Sort::CoreModule: d.core_module = sp.core_modules[target.index].type; break;
    default:
      invalid(at, fmt::format("{} {} cannot be used here: only core modules cross component boundaries",
                              sort_name(target.sort), target.index));
  }
  return d;
}

void Decoder::add_entry(Scope& scope, const ExternDesc& d, Origin origin) {
  IndexSpaces& sp = *scope.spaces;
  switch (d.sort) {
    case Sort::Func: sp.funcs.push_back({origin, d.func}); return;
    case Sort::Type: sp.types.push_back({origin, d.type}); return;
    case Sort::Component: sp.components.push_back({origin, d.component}); return;
    case Sort::Instance: sp.instances.push_back({origin, d.instance}); return;
    case Sort::CoreModule: sp.core_modules.push_back({origin, d.core_module}); return;
    default: return;
  }
}

void Decoder::instance(Reader& r, Scope& scope) {
  Component& comp = *scope.component;
  IndexSpaces& sp = *scope.spaces;
  uint64_t at = r.offset();
  uint8_t tag = r.u8();
  auto index = static_cast<uint32_t>(comp.instances.size());
  auto space_index = static_cast<uint32_t>(sp.instances.size());
  InstanceDef def;
  auto type = std::make_shared<InstanceType>();
  if (tag == 0x00) {
    def.instantiate = true;
    def.component = r.u32();
    uint32_t n = r.count("instantiation arguments", 3);
    for (uint32_t i = 0; i < n; ++i) {
      InstantiateArg arg;
      arg.name = r.name();
      arg.target.sort = sort(r);
      arg.target.index = r.u32();
      def.args.push_back(std::move(arg));
    }
    if (def.component >= sp.components.size()) {
      invalid(at, fmt::format("unknown component {}: component index out of bounds ({} defined)",
                              def.component, sp.components.size()));
    }
    std::set<std::string> seen;
    std::vector<ExternDesc> descs;
    for (const auto& arg : def.args) {
      if (!seen.insert(label_key(arg.name)).second) {
        invalid(at, fmt::format("instantiation argument `{}` conflicts with previous argument `{}`", arg.name,
                                arg.name));
      }
      descs.push_back(desc_of(at, scope, arg.target));
    }
    const ComponentType& ct = *sp.components[def.component].type;
    Subst s;
    std::unordered_set<uint64_t> bindable(ct.imported_resources.begin(), ct.imported_resources.end());
    for (const auto& imp : ct.imports) {
      size_t k = 0;
      while (k < def.args.size() && def.args[k].name != imp.name) ++k;
      if (k == def.args.size()) {
        invalid(at, fmt::format("missing import named `{}` in the instantiation of component {}", imp.name,
                                def.component));
      }
      std::string why;
      if (!sub_extern(descs[k], imp.desc, s, bindable, why)) {
        invalid(at, fmt::format("type mismatch in import `{}`: {}", imp.name, why));
      }
    }
    freshen(ct.exported_resources, s);
    for (const auto& e : ct.exports) type->exports.push_back({e.name, subst_desc(e.desc, s)});
    std::map<uint64_t, std::vector<std::string>> paths;
    std::vector<std::string> path;
    resource_paths(type, path, paths);
    for (uint64_t old : ct.exported_resources) {
      uint64_t id = s.ids.at(old);
      ResourceOrigin o{id, ResourceOrigin::Kind::Instance, space_index, {}};
      if (auto p = paths.find(id); p != paths.end()) o.path = p->second;
      comp.resources.push_back(std::move(o));
    }
  } else if (tag == 0x01) {
    def.instantiate = false;
    uint32_t n = r.count("inline exports", 4);
    std::set<std::string> keys;
    std::map<std::string, const DefType*> resources;
    for (uint32_t i = 0; i < n; ++i) {
      InlineExport e;
      e.name = name_attributes(r);
      e.target.sort = sort(r);
      e.target.index = r.u32();
      if (!is_exportable(e.target.sort)) {
        invalid(at, fmt::format("{} cannot be exported from an instance", sort_name(e.target.sort)));
      }
      // A bag of exports names nothing by itself: only exporting (or
      // importing) the instance gives its types external names. A resource
      // export is a new entry for the resource, which annotated names in
      // the bag refer to.
      ExternDesc d = desc_of(at, scope, e.target);
      if (is_resource(d)) d.type = keep_def(*d.type, at);
      ExternName parsed;
      check_name(at, keys, resources, e.name, d, false, parsed);
      type->exports.push_back({e.name, std::move(d)});
      def.exports.push_back(std::move(e));
    }
  } else {
    malformed(at, fmt::format("invalid leading byte ({:#x}) for instance", tag));
  }
  sp.instances.push_back({Origin{DefKind::Instance, index}, type});
  comp.instances.push_back(std::move(def));
  comp.items.push_back(Item{DefKind::Instance, index, at});
}

void Decoder::alias(Reader& r, Scope& scope, bool declarator) {
  IndexSpaces& sp = *scope.spaces;
  uint64_t at = r.offset();
  Alias a;
  a.sort = sort(r);
  uint64_t tat = r.offset();
  uint8_t target = r.u8();
  Origin origin{DefKind::Alias,
                scope.component ? static_cast<uint32_t>(scope.component->aliases.size()) : 0};
  switch (target) {
    case 0x00: {
      a.kind = Alias::Kind::InstanceExport;
      a.instance = r.u32();
      a.name = r.name();
      if (declarator && a.sort != Sort::Type && a.sort != Sort::Instance) {
        invalid(at, fmt::format("export alias declarators may only refer to types or instances, not {}",
                                sort_name(a.sort)));
      }
      if (a.sort == Sort::Value) unsupported(at, "values (the value sort) are past the MVP");
      if (a.instance >= sp.instances.size()) {
        invalid(at, fmt::format("unknown instance {}: instance index out of bounds ({} defined)", a.instance,
                                sp.instances.size()));
      }
      const NamedExtern* e = sp.instances[a.instance].type->find(a.name);
      if (!e) invalid(at, fmt::format("instance {} has no export named `{}`", a.instance, a.name));
      if (e->desc.sort != a.sort) {
        invalid(at, fmt::format("export `{}` of instance {} is a {}, not a {}", a.name, a.instance,
                                sort_name(e->desc.sort), sort_name(a.sort)));
      }
      add_entry(scope, e->desc, origin);
      break;
    }
    case 0x01: {
      a.kind = Alias::Kind::CoreInstanceExport;
      a.instance = r.u32();
      a.name = r.name();
      if (declarator) invalid(at, "core export aliases are not allowed in component or instance types");
      if (a.sort != Sort::CoreFunc && a.sort != Sort::CoreTable && a.sort != Sort::CoreMemory &&
          a.sort != Sort::CoreGlobal && a.sort != Sort::CoreTag) {
        invalid(at, fmt::format("core export aliases cannot be of sort {}", sort_name(a.sort)));
      }
      if (a.instance >= sp.core_instances.size()) {
        invalid(at, fmt::format("unknown core instance {}: instance index out of bounds ({} defined)",
                                a.instance, sp.core_instances.size()));
      }
      const engine::ExportInfo* e = sp.core_instances[a.instance].type->find(a.name);
      if (!e) invalid(at, fmt::format("core instance {} has no export named `{}`", a.instance, a.name));
      if (e->kind != core_kind(a.sort)) {
        invalid(at, fmt::format("export `{}` for core instance {} is not a {}", a.name, a.instance,
                                core_kind_name(core_kind(a.sort))));
      }
      push_core(sp, *e, origin);
      break;
    }
    case 0x02: {
      a.kind = Alias::Kind::Outer;
      a.count = r.u32();
      a.index = r.u32();
      if (a.sort != Sort::CoreModule && a.sort != Sort::CoreType && a.sort != Sort::Type &&
          a.sort != Sort::Component) {
        malformed(at, fmt::format("invalid leading byte for component outer alias kind: {} cannot be "
                                  "aliased from an outer scope",
                                  sort_name(a.sort)));
      }
      if (declarator && (a.sort == Sort::CoreModule || a.sort == Sort::Component)) {
        invalid(at, fmt::format("outer alias declarators may only refer to types, not {}", sort_name(a.sort)));
      }
      if (a.count >= scopes_.size()) {
        invalid(at, fmt::format("invalid outer alias count of {}: only {} enclosing scopes", a.count,
                                scopes_.size() - 1));
      }
      Scope& outer = *scopes_[scopes_.size() - 1 - a.count];
      size_t n = outer.spaces->size(a.sort);
      if (a.index >= n) {
        invalid(at, fmt::format("{} index {} out of bounds in the scope {} out ({} defined)", sort_name(a.sort),
                                a.index, a.count, n));
      }
      bool crosses_component = false;
      for (size_t k = scopes_.size() - a.count; k < scopes_.size(); ++k) {
        if (scopes_[k]->kind == Scope::Kind::Component) crosses_component = true;
      }
      switch (a.sort) {
        case Sort::Type: {
          const DefTypeRef& t = outer.spaces->types[a.index].type;
          if (crosses_component && mentions_resource(*t)) {
            invalid(at, fmt::format("type {} transitively refers to resources and cannot be aliased across "
                                    "a component boundary",
                                    a.index));
          }
          sp.types.push_back({origin, t});
          break;
        }
        case Sort::CoreType: {
          const CoreTypeRef& t = outer.spaces->core_types[a.index].type;
          sp.core_types.push_back({origin, t});
          break;
        }
        case Sort::CoreModule:
          sp.core_modules.push_back({origin, outer.spaces->core_modules[a.index].type});
          break;
        case Sort::Component: sp.components.push_back({origin, outer.spaces->components[a.index].type}); break;
        default: break;
      }
      break;
    }
    default: malformed(tat, fmt::format("invalid leading byte ({:#x}) for alias", target));
  }
  if (scope.component) {
    scope.component->items.push_back(Item{DefKind::Alias, origin.index, at});
    scope.component->aliases.push_back(std::move(a));
  }
}

}  // namespace detail

bool is_component(std::span<const uint8_t> bytes) {
  static constexpr uint8_t kPreamble[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  return bytes.size() >= sizeof kPreamble && std::equal(std::begin(kPreamble), std::end(kPreamble), bytes.begin());
}

Result<std::shared_ptr<const Component>> decode_component(std::span<const uint8_t> bytes, std::string_view name,
                                                          engine::Engine& core_engine) {
  try {
    detail::Decoder decoder(core_engine);
    detail::Reader reader(bytes, 0);
    std::shared_ptr<const Component> out = decoder.component(reader, std::string(name));
    return out;
  } catch (const detail::Failure& f) {
    return make_error(f.code, fmt::format("{}: {}", name, f.message));
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::InvalidComponent,
                      fmt::format("{}: out of memory while decoding the component", name));
  }
}

}  // namespace airssys::wasm::cm
