#pragma once
// A decoded and validated component (Component Model binary format,
// synchronous MVP), as a tree that instantiation walks.
//
// A Component holds two views of the same definitions:
//
//   * `items`: every definition of every section, in binary order. Each item
//     names a kind (DefKind) and an index into the vector of that kind
//     (`modules`, `core_instances`, `core_types`, `components`, `instances`,
//     `aliases`, `types`, `canons`, `imports`, `exports`, `start`). Walking
//     `items` in order and appending to the index spaces reproduces them.
//   * `spaces`: the index spaces, resolved. `spaces.funcs[3]` is component
//     function 3: its origin (which item made it) and its type. A definition
//     that adds to an index space is found there without re-walking.
//
// Types are resolved: every type reference the binary made by index is
// replaced by the type itself (TypeRef, FuncTypeRef, ...), so two entries
// with equal types compare equal whatever index they were written with. The
// index as written is kept where instantiation needs it (canon options,
// instantiate arguments, alias targets).
//
// Resource types are numbered by the decoder: each resource type the decode
// meets gets an id, unique in the whole decoded tree (nested components
// included). ValType::resource of an own/borrow type holds that id, and
// `Component::resources` says, for each id the component introduces, where
// the resource comes from, so that instantiation can bind each id to a
// resource type of the running instance.
//
// Value definitions and values in start functions (🪙) are refused as
// UnsupportedFeature, so no component here has values: a start function
// takes no arguments and returns nothing.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "airssys/wasm/cm/types.hpp"
#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::cm {

// The sorts of the binary's `sort` and `core:sort`, flattened.
enum class Sort : uint8_t {
  CoreFunc,
  CoreTable,
  CoreMemory,
  CoreGlobal,
  CoreTag,
  CoreType,
  CoreModule,
  CoreInstance,
  Func,
  Value,
  Type,
  Component,
  Instance,
};
// "core func", "core memory", "func", "instance", ...
[[nodiscard]] const char* sort_name(Sort sort);
[[nodiscard]] constexpr bool is_core(Sort sort) { return sort <= Sort::CoreInstance; }

struct SortIdx {
  Sort sort = Sort::Func;
  uint32_t index = 0;
};

// Which kind of definition made an item or an index-space entry; the index
// is into the Component vector of that kind.
enum class DefKind : uint8_t {
  Module,        // modules: a core module section
  CoreInstance,  // core_instances
  CoreType,      // core_types
  Component,     // components: a nested component section
  Instance,      // instances
  Alias,         // aliases
  Type,          // types
  Canon,         // canons
  Start,         // start (index 0)
  Import,        // imports
  Export,        // exports: an export is a new index aliasing its target
};
[[nodiscard]] const char* def_kind_name(DefKind kind);

struct Origin {
  DefKind kind = DefKind::Import;
  uint32_t index = 0;
};

// ---------------------------------------------------------------- core types

// A core module's type: its imports and exports with their core types.
struct CoreModuleType {
  std::vector<engine::ImportInfo> imports;
  std::vector<engine::ExportInfo> exports;
};
using CoreModuleTypeRef = std::shared_ptr<const CoreModuleType>;

// A core instance's type: its exports (from the module it instantiates, or
// the inline exports it gathers).
struct CoreInstanceType {
  std::vector<engine::ExportInfo> exports;
  [[nodiscard]] const engine::ExportInfo* find(std::string_view name) const;
};
using CoreInstanceTypeRef = std::shared_ptr<const CoreInstanceType>;

// An entry of the core type index space: a function type or a module type.
struct CoreType {
  bool is_module = false;
  engine::FuncSig func;      // !is_module
  CoreModuleTypeRef module;  // is_module
};
using CoreTypeRef = std::shared_ptr<const CoreType>;

// ------------------------------------------------------------ component types

using FuncTypeRef = std::shared_ptr<const FuncType>;
struct ComponentType;
struct InstanceType;
using ComponentTypeRef = std::shared_ptr<const ComponentType>;
using InstanceTypeRef = std::shared_ptr<const InstanceType>;

// An entry of the type index space.
struct DefType {
  enum class Kind : uint8_t { Value, Func, Component, Instance, Resource };
  Kind kind = Kind::Value;
  TypeRef value;               // Value: a defined value type
  FuncTypeRef func;            // Func
  ComponentTypeRef component;  // Component
  InstanceTypeRef instance;    // Instance
  uint64_t resource = 0;       // Resource: the resource id
};
using DefTypeRef = std::shared_ptr<const DefType>;

// What an import or export is (the binary's externdesc, resolved). `sort`
// is CoreModule, Func, Value, Type, Component or Instance; the member of
// that sort holds the type. A Type import or export bounded `(eq i)` holds
// type i; one bounded `(sub resource)` holds a Resource DefType with a fresh
// resource id.
struct ExternDesc {
  Sort sort = Sort::Func;
  CoreModuleTypeRef core_module;
  FuncTypeRef func;
  DefTypeRef type;
  ComponentTypeRef component;
  InstanceTypeRef instance;
};

struct NamedExtern {
  std::string name;
  ExternDesc desc;
};

// An instance type: its exports in declaration order. `resources` are the
// resource ids its `(sub resource)` exports introduce (abstract: each
// import or instantiation that gives an instance of this type gives them
// fresh ids, recorded in Component::resources).
struct InstanceType {
  std::vector<NamedExtern> exports;
  std::vector<uint64_t> resources;
  [[nodiscard]] const NamedExtern* find(std::string_view name) const;
};

// A component type: its imports and exports. `imported_resources` are
// bound by its imports (instantiation substitutes the arguments' resources
// for them), `exported_resources` by its exports (fresh for each
// instantiation).
struct ComponentType {
  std::vector<NamedExtern> imports;
  std::vector<NamedExtern> exports;
  std::vector<uint64_t> imported_resources;
  std::vector<uint64_t> exported_resources;
};

// Where a resource id of a component comes from.
struct ResourceOrigin {
  enum class Kind : uint8_t {
    Defined,   // a resource type definition: spaces.types[index] (its TypeDef, with
               // rep and dtor, is types[spaces.types[index].origin.index])
    Import,    // imports[index], then down `path` through instance exports
    Instance,  // component instance spaces.instances[index], down `path`
    Export,    // exports[index], ascribed `(sub resource)`: the resource its target is
  };
  uint64_t id = 0;
  Kind kind = Kind::Defined;
  uint32_t index = 0;
  std::vector<std::string> path;  // export names, outermost first; empty: the import itself
};

// ---------------------------------------------------------------- definitions

// A core module section: its bytes (owned) and the module the engine loaded
// from them to validate it (and to read its imports and exports).
struct CoreModuleDef {
  std::vector<uint8_t> bytes;
  std::shared_ptr<const engine::Module> module;
  uint64_t offset = 0;  // of the module's first byte in the component binary
};

struct CoreInstantiateArg {
  std::string name;       // the module name the module imports from
  uint32_t instance = 0;  // core instance index
};
struct CoreInlineExport {
  std::string name;
  Sort sort = Sort::CoreFunc;  // a core sort
  uint32_t index = 0;
};
// `(core instance (instantiate module args))` or `(core instance exports)`.
struct CoreInstanceDef {
  bool instantiate = true;
  uint32_t module = 0;                     // instantiate: core module index
  std::vector<CoreInstantiateArg> args;    // instantiate
  std::vector<CoreInlineExport> exports;   // !instantiate
};

struct InstantiateArg {
  std::string name;  // the import name of the instantiated component
  SortIdx target;
};
struct InlineExport {
  std::string name;
  SortIdx target;
};
// `(instance (instantiate component args))` or `(instance exports)`.
struct InstanceDef {
  bool instantiate = true;
  uint32_t component = 0;               // instantiate: component index
  std::vector<InstantiateArg> args;     // instantiate
  std::vector<InlineExport> exports;    // !instantiate
};

struct Alias {
  enum class Kind : uint8_t {
    InstanceExport,      // export `name` of component instance `instance`
    CoreInstanceExport,  // export `name` of core instance `instance`
    Outer,               // definition `index` of sort `sort`, `count` scopes out
  };
  Kind kind = Kind::InstanceExport;
  Sort sort = Sort::Func;
  uint32_t instance = 0;
  std::string name;
  uint32_t count = 0;
  uint32_t index = 0;
};

// A type section entry. A resource type definition has DefType::Kind
// Resource and `rep` (always i32 in the MVP) and an optional destructor.
struct TypeDef {
  DefTypeRef type;
  engine::ValType rep = engine::ValType::I32;  // resources
  std::optional<uint32_t> dtor;                // resources: core func index
};

// The canonopts of a lift or lower as written: indices into the core index
// spaces (canonical.hpp's CanonOptions is what they resolve to at run time).
struct CanonOptionIndices {
  StringEncoding string_encoding = StringEncoding::Utf8;
  std::optional<uint32_t> memory;       // core memory index
  std::optional<uint32_t> realloc;      // core func index
  std::optional<uint32_t> post_return;  // core func index
};

struct Canon {
  enum class Kind : uint8_t { Lift, Lower, ResourceNew, ResourceDrop, ResourceRep };
  Kind kind = Kind::Lift;
  // Lift: the core func lifted; Lower: the component func lowered.
  uint32_t func = 0;
  // Lift: the function type's index as written; resource.*: the resource
  // type's index as written.
  uint32_t type_index = 0;
  CanonOptionIndices options;  // Lift, Lower
  FuncTypeRef type;      // Lift, Lower: the component function type
  uint64_t resource = 0; // resource.*: the resource id
  // The core function type: what Lift takes (the lifted core func's type),
  // what Lower, resource.new/drop/rep produce.
  engine::FuncSig core_sig;
};

// `(start f)`. Values are refused, so no arguments and no results.
struct Start {
  uint32_t func = 0;
};

struct Import {
  std::string name;     // as written: "wasi:io/streams@0.2.0", "run", "[method]r.m"
  std::string version;  // the version of an interface name, "" if none ("0.2.0")
  ExternDesc desc;
};

struct Export {
  std::string name;
  std::string version;
  SortIdx target;
  ExternDesc desc;  // the target's type, or the ascribed type when given
  bool ascribed = false;
};

// ----------------------------------------------------------------- index spaces

template <class T>
struct Entry {
  Origin origin;
  T type;
};

struct IndexSpaces {
  std::vector<Entry<engine::FuncSig>> core_funcs;
  std::vector<Entry<engine::ExternType>> core_tables;
  std::vector<Entry<engine::ExternType>> core_memories;
  std::vector<Entry<engine::ExternType>> core_globals;
  std::vector<Entry<engine::ExternType>> core_tags;
  std::vector<Entry<CoreTypeRef>> core_types;
  std::vector<Entry<CoreModuleTypeRef>> core_modules;
  std::vector<Entry<CoreInstanceTypeRef>> core_instances;
  std::vector<Entry<FuncTypeRef>> funcs;
  std::vector<Entry<DefTypeRef>> types;
  std::vector<Entry<ComponentTypeRef>> components;
  std::vector<Entry<InstanceTypeRef>> instances;
  // No `values`: value definitions are refused (see the header comment).

  // How many entries the index space of `sort` holds (0 for Value).
  [[nodiscard]] size_t size(Sort sort) const;
};

struct Item {
  DefKind kind = DefKind::Import;
  uint32_t index = 0;
  uint64_t offset = 0;  // of the definition in the component binary
};

struct Component {
  std::string name;  // as given to decode_component; nested: "<parent>/<index>"
  std::vector<Item> items;

  std::vector<CoreModuleDef> modules;
  std::vector<CoreInstanceDef> core_instances;
  std::vector<CoreTypeRef> core_types;
  std::vector<std::shared_ptr<const Component>> components;
  std::vector<InstanceDef> instances;
  std::vector<Alias> aliases;
  std::vector<TypeDef> types;
  std::vector<Canon> canons;
  std::optional<Start> start;
  std::vector<Import> imports;
  std::vector<Export> exports;

  IndexSpaces spaces;
  std::vector<ResourceOrigin> resources;  // the resource ids this component introduces
  ComponentType type;                     // what the component imports and exports
};

}  // namespace airssys::wasm::cm
