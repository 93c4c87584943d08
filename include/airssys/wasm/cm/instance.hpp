#pragma once
// A running component: the whole instance graph of a decoded component
// (nested components included) instantiated over the engine's core
// instances, and its exported functions called with component values.
//
// Example:
//   auto core = engine::Engine::interpreter();
//   auto component = cm::decode_component(bytes, "app.wasm", *core);
//   cm::HostInstance imports;                    // what the host provides
//   auto instance = cm::ComponentInstance::instantiate(*component, *core, imports);
//   auto results = (*instance)->call("greet", std::vector{cm::Val::string("world")});
//
// Every core module of the component is instantiated in one engine store
// on the engine the component was decoded with (that engine's tier), so one
// fuel budget covers a call wherever it goes in the graph; lifted and
// lowered functions between core instances run the canonical ABI
// (canonical.hpp). Threading: one thread at a time, like an engine store.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/cm/ast.hpp"
#include "airssys/wasm/cm/canonical.hpp"
#include "airssys/wasm/cm/types.hpp"
#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::cm {

// A function the host provides for a component's import. It gets the
// arguments lifted into values and returns the results, which are lowered
// into the caller. An error traps the calling component with it.
using HostFn = std::function<Result<std::vector<Val>>(std::span<const Val> args)>;

// A host function that lifts its arguments and lowers its results itself
// (cm/typed.hpp makes them from C++ signatures): it gets the core arguments
// of the lowered function as flatten_functype(type, Lower) has them (the
// return pointer last when the results spill) and the caller's options and
// instance, and returns the core results. Used when a component's core code
// calls it through `canon lower`; the HostFn beside it serves the callers
// that pass values.
using RawHostFn = std::function<Result<std::vector<engine::Value>>(
    LiftLowerContext& cx, std::span<const engine::Value> args)>;

// What the host provides for a component's imports: functions, resource
// types and nested instances, by name. The root is the namespace of the
// component's own imports ("wasi:cli/stdout@0.2.0" names an instance in it,
// "log" a function). Resource types are defined in the linker's
// ResourceTypes, so that handles of them mean the same in every component
// instantiated against it.
class HostInstance {
 public:
  struct Item {
    Sort sort = Sort::Func;  // Func, Type (a resource) or Instance
    std::shared_ptr<const FuncType> type;
    HostFn fn;
    RawHostFn raw;  // none: lowered calls lift into values and call fn
    const ResourceType* resource = nullptr;
    std::shared_ptr<HostInstance> instance;
  };

  HostInstance();
  explicit HostInstance(std::shared_ptr<ResourceTypes> resources);

  // Later definitions of a name replace earlier ones.
  void define_func(std::string name, FuncType type, HostFn fn);
  // A function with both ways in: `raw` for lowered calls, `fn` for values.
  // Both must do the same (cm/typed.hpp's define_typed makes such pairs).
  void define_raw_func(std::string name, FuncType type, RawHostFn raw, HostFn fn);
  // A resource type of the host; `dtor` runs when the last own handle of one
  // of its resources is dropped. Returns the type (its id is what own<> and
  // borrow<> types of host functions name).
  const ResourceType& define_resource(std::string name, Destructor dtor = {});
  // A type export naming a type defined elsewhere: a resource type of this
  // linker (an interface that `use`s another's resource exports the very
  // same type), or, with none, a value type whose definition is the one the
  // importing component's type gives (an enum or record an interface exports).
  void define_type(std::string name, const ResourceType* resource = nullptr);
  // A nested instance; it shares this one's resource types.
  HostInstance& define_instance(std::string name);

  // The item of that name; for a versioned name ("wasi:io/streams@0.2.3")
  // without an exact match, the item of the highest semver-compatible version
  // of the same name (same major version; same minor one under 0.x).
  [[nodiscard]] const Item* find(std::string_view name) const;
  [[nodiscard]] const std::vector<std::pair<std::string, Item>>& items() const { return items_; }
  [[nodiscard]] const std::shared_ptr<ResourceTypes>& resource_types() const { return resources_; }

 private:
  Item& slot(std::string name);
  std::shared_ptr<ResourceTypes> resources_;
  std::vector<std::pair<std::string, Item>> items_;
};

// Whether an import or export named `wanted` ("airssys:host/kv@0.3.1") is
// served by `served` ("airssys:host/kv@0.3.0"): the same name and a
// semver-compatible version (the same major version; the same minor one
// under 0.x). Names without a version must be equal.
[[nodiscard]] bool semver_compatible(std::string_view wanted, std::string_view served);

struct ComponentOptions {
  // The limits of the component's core instances: the tables of each, and
  // max_memory_bytes for all their memories together (one budget: a
  // memory.grow past what the others leave returns -1).
  engine::InstanceLimits limits;
  // Fuel that instantiation (every core start function and the component's
  // start function together) may burn.
  uint64_t start_fuel = 1'000'000'000;
  void* user_data = nullptr;  // handed to the host functions of core instances
  // Each memory.grow of a core instance's memory (InstanceOptions::on_memory_grow).
  engine::MemoryGrowHook on_memory_grow;
};

// An exported function of a running component.
struct ExportedFunc {
  std::string name;  // "run", or "wasi:cli/run@0.2.0#run" inside an exported instance
  FuncType type;
};

// A call of an exported function that runs in fuel slices, as an engine
// call does (engine::Call): each resume() runs one slice of the core function
// behind the export and returns Suspended or Finished; values() then holds
// the results, and results() is empty (they are component values, not core
// ones). Lowering the arguments (before the first slice) and lifting the
// results with post-return (after the last) run whole, within the call's
// fuel; so does a call that reaches another core instance of the component
// (a lowered import that leads to a lifted export), inside the slice that
// makes it. An export that is not a core function lifted by the component
// itself runs whole in the first resume(). Destroying an unfinished call
// cancels it and leaves the component's instances, which take calls again.
class ComponentCall : public engine::Call {
 public:
  [[nodiscard]] virtual const std::vector<Val>& values() const = 0;
};

class ComponentInstance {
 public:
  ComponentInstance(const ComponentInstance&) = delete;
  ComponentInstance& operator=(const ComponentInstance&) = delete;
  ~ComponentInstance();

  // Instantiates `component` (decoded with `core_engine`) against the host's
  // `imports`. An import the host does not provide is UnknownImport naming
  // it; one of another kind is IncompatibleImport. A trap of a start
  // function fails the instantiation with that trap.
  [[nodiscard]] static Result<std::unique_ptr<ComponentInstance>> instantiate(
      std::shared_ptr<const Component> component, engine::Engine& core_engine,
      const HostInstance& imports, const ComponentOptions& options = {});

  // The exported functions, the ones of exported instances included (named
  // "instance#func"), in export order.
  [[nodiscard]] const std::vector<ExportedFunc>& functions() const;
  [[nodiscard]] const ExportedFunc* function(std::string_view name) const;

  // Calls the exported function `name` (as functions() names it) with
  // `args`, which must be values of its parameter types (InvalidArgument
  // otherwise), within `options.fuel` for the whole call wherever it goes.
  // Returns its results (none or one).
  [[nodiscard]] Result<std::vector<Val>> call(std::string_view name, std::span<const Val> args,
                                              const engine::CallOptions& options = {});

  // Like call(), as a call that runs in slices of `options.slice`
  // instructions (ComponentCall). While it is unfinished, other calls of
  // this instance are refused (CallInProgress).
  [[nodiscard]] Result<std::unique_ptr<ComponentCall>> start_call(
      std::string_view name, std::span<const Val> args, const engine::CallOptions& options = {});

  // The position of exported function `name` in functions(), for the calls
  // by position; MissingExport when there is none.
  [[nodiscard]] Result<size_t> function_index(std::string_view name) const;

  // Like start_call, for the function at `index` in functions(), with the
  // arguments lowered by `lower` (typed values, cm/typed.hpp) rather than
  // passed as Vals: the caller resolves the name once and lowers without
  // building values. The function must be a core function the component
  // lifts itself, with at most 16 flat parameters (InvalidArgument
  // otherwise).
  [[nodiscard]] Result<std::unique_ptr<ComponentCall>> start_call(
      size_t index, FlatLowerer lower, const engine::CallOptions& options = {});

  // The bytes of all the linear memories of the component's core instances.
  [[nodiscard]] uint64_t memory_bytes() const;

  // Fuel burned by all the component's core instances since it was made.
  [[nodiscard]] uint64_t fuel_used() const;

  struct Impl;

 private:
  explicit ComponentInstance(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace airssys::wasm::cm
