#pragma once
// The component decoder's inner parts, shared by decode.cpp (sections),
// decode_types.cpp (type definitions) and typecheck.cpp (type equality,
// subtyping, substitution and external visibility).
//
// A failure deep inside the decoder is thrown as a Failure and caught once,
// in decode_component, which turns it into the Error it returns: no
// exception leaves the layer.

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "airssys/wasm/cm/ast.hpp"
#include "airssys/wasm/core/error.hpp"
#include "names.hpp"

namespace airssys::wasm::cm::detail {

// Bounds on what hostile input can make the decoder build.
inline constexpr size_t kMaxNesting = 100;        // components and component/instance types
inline constexpr uint32_t kMaxTypeDepth = 100;    // a type inside a type inside ...
inline constexpr uint64_t kMaxTypeSize = 100000;  // nodes of one type, shared parts counted each time
inline constexpr uint64_t kMaxWork = 20'000'000;  // type nodes visited by checks, in one decode

struct Failure {
  ErrorCode code;
  std::string message;
};

[[noreturn]] void fail(ErrorCode code, uint64_t offset, std::string message);
[[noreturn]] inline void malformed(uint64_t offset, std::string message) {
  fail(ErrorCode::MalformedComponent, offset, std::move(message));
}
[[noreturn]] inline void invalid(uint64_t offset, std::string message) {
  fail(ErrorCode::InvalidComponent, offset, std::move(message));
}
[[noreturn]] inline void unsupported(uint64_t offset, std::string feature) {
  fail(ErrorCode::UnsupportedFeature, offset, std::move(feature));
}

[[nodiscard]] bool valid_utf8(std::string_view s);

// Only core modules of the core sorts cross component boundaries.
[[nodiscard]] inline bool is_exportable(Sort s) { return !is_core(s) || s == Sort::CoreModule; }
[[nodiscard]] inline bool is_resource(const ExternDesc& d) {
  return d.sort == Sort::Type && d.type->kind == DefType::Kind::Resource;
}
// Every resource id the externs' types mention.
void collect_resources(const std::vector<NamedExtern>& externs, std::set<uint64_t>& out);
// "[i32, i64]"
[[nodiscard]] inline std::string sig_list(const std::vector<engine::ValType>& types) {
  std::string out = "[";
  for (size_t i = 0; i < types.size(); ++i) {
    if (i) out += ", ";
    out += engine::val_type_name(types[i]);
  }
  return out + "]";
}

// Reads the binary format's primitives from a span whose first byte lies at
// `base` in the whole component binary.
class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, uint64_t base) : bytes_(bytes), base_(base) {}

  [[nodiscard]] uint64_t offset() const { return base_ + pos_; }
  [[nodiscard]] bool at_end() const { return pos_ >= bytes_.size(); }
  [[nodiscard]] size_t remaining() const { return bytes_.size() - pos_; }

  uint8_t u8();
  uint8_t peek();
  uint32_t u32();
  int64_t s33();
  std::string name();  // len:u32 then that many bytes of UTF-8
  std::span<const uint8_t> take(size_t n);
  Reader sub(size_t n);
  // A vector's length, refused when even `min_item_bytes` per item would
  // not fit in what is left: no allocation is sized by an unchecked count.
  uint32_t count(const char* what, size_t min_item_bytes = 1);

 private:
  std::span<const uint8_t> bytes_;
  uint64_t base_;
  size_t pos_ = 0;
};

// A scope: a component definition, or a component or instance type being
// declared. Outer aliases count scopes outward.
struct Scope {
  enum class Kind : uint8_t { Component, ComponentType, InstanceType };
  Kind kind = Kind::Component;
  Component* component = nullptr;  // Component scopes
  IndexSpaces own_spaces;          // type scopes
  IndexSpaces* spaces = nullptr;

  std::vector<NamedExtern> imports;
  std::vector<NamedExtern> exports;
  std::set<std::string> import_keys;
  std::set<std::string> export_keys;
  // Resource names: label key -> the resource entry of that type import or
  // export (what `[constructor]r`, `[method]r.m` and `[static]r.m` refer to).
  std::map<std::string, const DefType*> import_resources;
  std::map<std::string, const DefType*> export_resources;
  // Resource ids bound by this scope's imports (with nested instance
  // types) and exports, and (components) defined here.
  std::vector<uint64_t> imported_resources;
  std::vector<uint64_t> exported_resources;
  std::set<uint64_t> defined_resources;
  // The types with an external name in this scope (Explainer.md: External
  // Visibility of Types): value type nodes and resource entries that an
  // import or export named, or that were aliased out of an imported or
  // exported instance. The value: named by an import (imports may only
  // use those).
  std::unordered_map<const void*, bool> named;
};

// Pushes a scope for as long as it lives.
struct ScopeGuard {
  std::vector<Scope*>& scopes;
  ScopeGuard(std::vector<Scope*>& s, Scope* scope) : scopes(s) { scopes.push_back(scope); }
  ~ScopeGuard() { scopes.pop_back(); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
};

// A substitution: resource ids to resource ids, and type nodes to the nodes
// that replace them (type arguments of an instantiation, and the copies a
// substitution made, so that a shared node is copied once).
struct Subst {
  std::unordered_map<uint64_t, uint64_t> ids;
  mutable std::unordered_map<const void*, std::shared_ptr<const void>> memo;
  [[nodiscard]] bool empty() const { return ids.empty() && memo.empty(); }
  [[nodiscard]] uint64_t resolve(uint64_t id) const {
    auto it = ids.find(id);
    return it == ids.end() ? id : it->second;
  }
};

// The names a visibility check may use: the scope's, plus those an instance
// type gives its own exports.
struct Names {
  const Scope* scope = nullptr;
  bool for_import = false;
  std::unordered_set<const void*> extra;
  [[nodiscard]] bool has(const void* p) const {
    if (extra.contains(p)) return true;
    auto it = scope->named.find(p);
    return it != scope->named.end() && (!for_import || it->second);
  }
};

class Decoder {
 public:
  explicit Decoder(engine::Engine& engine) : engine_(engine) {}

  std::shared_ptr<Component> component(Reader& r, std::string name);

  // ---- decode.cpp
  void section(Reader& r, uint8_t id, Scope& scope);
  void core_module(Reader& r, Scope& scope);
  void core_instance(Reader& r, Scope& scope);
  void instance(Reader& r, Scope& scope);
  void alias(Reader& r, Scope& scope, bool declarator);
  void canon(Reader& r, Scope& scope);
  void start(Reader& r, Scope& scope);
  void import(Reader& r, Scope& scope, bool declarator);
  void export_(Reader& r, Scope& scope);
  void export_decl(Reader& r, Scope& scope);
  std::string name_attributes(Reader& r);
  Sort sort(Reader& r);
  Sort core_sort(Reader& r);
  ExternDesc desc_of(uint64_t offset, Scope& scope, SortIdx target);
  void add_entry(Scope& scope, const ExternDesc& desc, Origin origin);
  ExternDesc name_type(uint64_t at, Scope& scope, ExternDesc desc, bool fresh, bool is_import,
                       const std::string& name);
  // Checks an import or export name: valid, strongly unique among `keys`,
  // and an annotated one against the resources named in `resources`
  // (updated when the name is a resource's).
  void check_name(uint64_t offset, std::set<std::string>& keys, std::map<std::string, const DefType*>& resources,
                  const std::string& name, const ExternDesc& desc, bool is_import, ExternName& parsed);

  // ---- decode_types.cpp
  void core_type(Reader& r, Scope& scope, Origin origin, std::vector<CoreTypeRef>* defs);
  CoreModuleTypeRef module_type(Reader& r, Scope& scope);
  engine::ValType core_valtype(Reader& r);
  engine::ExternType core_externtype(Reader& r, const std::vector<CoreTypeRef>& types);
  DefTypeRef deftype(Reader& r, Scope& scope, TypeDef* def);
  TypeRef valtype(Reader& r, Scope& scope);
  TypeRef defvaltype(Reader& r, Scope& scope, uint8_t code);
  FuncTypeRef functype(Reader& r, Scope& scope);
  ComponentTypeRef component_type(Reader& r, Scope& scope);
  InstanceTypeRef instance_type(Reader& r, Scope& scope);
  void declarators(Reader& r, Scope& inner, bool component_type);
  // `fresh` (when given) says whether the desc is a `(sub resource)` bound
  // that made a fresh resource id.
  ExternDesc externdesc(Reader& r, Scope& scope, bool* fresh = nullptr);
  std::string label(Reader& r, const char* what);

  // ---- typecheck.cpp
  // Structural equality with resource ids read through `s` on both sides;
  // on mismatch, `why` says where.
  bool eq_val(const ValType& a, const ValType& b, const Subst& s, std::string& why);
  bool eq_func(const FuncType& a, const FuncType& b, const Subst& s, std::string& why);
  bool eq_deftype(const DefType& a, const DefType& b, Subst& s,
                  std::unordered_set<uint64_t>& bindable, std::string& why);
  // Whether `actual` may be given where `expected` is wanted; binds the
  // expected side's abstract resources in `bindable` to the actual ones.
  bool sub_extern(const ExternDesc& actual, const ExternDesc& expected, Subst& s,
                  std::unordered_set<uint64_t>& bindable, std::string& why);
  bool sub_instance(const InstanceType& a, const InstanceType& b, Subst& s,
                    std::unordered_set<uint64_t>& bindable, std::string& why);
  bool sub_component(const ComponentType& a, const ComponentType& b, Subst& s,
                     std::unordered_set<uint64_t>& bindable, std::string& why);
  static bool sub_core_extern(const engine::ExternType& actual, const engine::ExternType& expected,
                              std::string& why);
  bool sub_core_module(const CoreModuleType& a, const CoreModuleType& b, std::string& why);

  TypeRef subst_val(const TypeRef& t, const Subst& s);
  FuncTypeRef subst_func(const FuncTypeRef& f, const Subst& s);
  DefTypeRef subst_def(const DefTypeRef& d, const Subst& s);
  InstanceTypeRef subst_instance(const InstanceTypeRef& i, const Subst& s);
  ComponentTypeRef subst_component(const ComponentTypeRef& c, const Subst& s);
  ExternDesc subst_desc(const ExternDesc& d, const Subst& s);
  // Fresh ids for `ids`, recorded in `s`.
  void freshen(const std::vector<uint64_t>& ids, Subst& s);

  bool visible(const ValType& t, const Names& names) const;
  bool visible_children(const ValType& t, const Names& names) const;
  bool visible_func(const FuncType& f, const Names& names) const;
  bool visible_instance(const InstanceType& it, const Names& names) const;
  bool visible_desc(const ExternDesc& d, const Names& names) const;
  // Names the types an instance exports in `scope` (deep).
  void name_instance(Scope& scope, const InstanceType& it, bool by_import, uint32_t depth = 0);
  bool mentions_resource(const DefType& d) const;
  bool mentions_resource(const ValType& t) const;

  // Registers a type built by the decoder: its depth and size, checked
  // against the bounds.
  TypeRef keep(ValType t, uint64_t offset);
  DefTypeRef keep_def(DefType d, uint64_t offset);
  uint32_t depth_of(const void* p) const;
  uint64_t size_of(const void* p) const;
  void note(const void* p, uint32_t depth, uint64_t size, uint64_t offset);
  void resource_paths(const InstanceTypeRef& it, std::vector<std::string>& path,
                      std::map<uint64_t, std::vector<std::string>>& out);

  uint64_t new_resource() { return next_resource_++; }
  // Counts one step of a type walk; past kMaxWork the decode stops, so that
  // many checks of one large shared type cannot take unbounded time.
  void step() const {
    if (++work_ > kMaxWork) {
      invalid(section_offset_, fmt::format("validation takes more than {} steps: too complex a component",
                                           kMaxWork));
    }
  }

  engine::Engine& engine_;
  std::vector<Scope*> scopes_;
  mutable uint64_t work_ = 0;
  uint64_t section_offset_ = 0;
  uint64_t next_resource_ = 1;
  // Own and borrow nodes -> the resource entry (type index) they were made
  // from: a handle is visible where that entry has a name.
  std::unordered_map<const ValType*, DefTypeRef> handle_alias_;
  std::vector<std::shared_ptr<const void>> kept_;
  std::unordered_map<const void*, std::pair<uint32_t, uint64_t>> info_;
};

}  // namespace airssys::wasm::cm::detail
