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

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    char32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
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
  if (!valid_utf8(s)) malformed(at, "malformed UTF-8 encoding: a name must be valid UTF-8");
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

namespace {

struct ScopeGuard {
  std::vector<Scope*>& scopes;
  ScopeGuard(std::vector<Scope*>& s, Scope* scope) : scopes(s) { scopes.push_back(scope); }
  ~ScopeGuard() { scopes.pop_back(); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
};

std::string sig_list(const std::vector<engine::ValType>& types) {
  std::string out = "[";
  for (size_t i = 0; i < types.size(); ++i) {
    if (i) out += ", ";
    out += engine::val_type_name(types[i]);
  }
  return out + "]";
}

bool is_exportable(Sort s) { return !is_core(s) || s == Sort::CoreModule; }

bool is_resource(const ExternDesc& d) { return d.sort == Sort::Type && d.type->kind == DefType::Kind::Resource; }

void collect_val(const ValType& t, std::set<uint64_t>& out, uint32_t depth) {
  if (depth > kMaxTypeDepth + 1) return;
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
  if (depth > kMaxTypeDepth + 1) return;
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
  for (const auto& e : scope.exports) collect_desc(e.desc, in_exports, 0);
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
    ErrorCode code = e.category() == ErrorCategory::Decode ? ErrorCode::MalformedComponent
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
          if (declarator && t->is_module && false) break;
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

namespace {

CanonOptions read_options(Reader& r, uint64_t at) {
  CanonOptions o;
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
  auto check_options = [&](const CanonOptions& o) {
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
  const FuncType& ft = *desc.func;
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
