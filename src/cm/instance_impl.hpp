#pragma once
// What a running component is made of (private to the cm layer): the
// execution state of its calls, the run-time items of its index spaces, one
// frame per component instance, and ComponentInstance::Impl, which
// instantiate.cpp builds and component_call.cpp calls.

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "airssys/wasm/cm/instance.hpp"

namespace airssys::wasm::cm {
namespace rt {

using engine::FuncSig;
using engine::Value;

using engine::FuncSig;
using engine::Value;

// ------------------------------------------------------------ execution

// Where the graph's calls stand: inside a host function of the engine (then
// calls into core code are nested calls of that host call) or not (then they
// are calls of their own, within what is left of the budget).
struct Exec {
  engine::Store* store = nullptr;
  engine::HostCall* host_call = nullptr;
  engine::CallOptions options;
  uint64_t budget_used = 0;  // by the calls of the current component call
  uint64_t fuel_used = 0;    // by the whole graph since it was made
  bool sliced_call = false;  // a ComponentCall is unfinished
};

// A core function the graph made itself: a lowered function or a resource
// built-in.
using CoreFn = std::function<Result<std::vector<Value>>(std::span<const Value>)>;

// An entry of a core index space: an export of a core instance, or (for
// functions) a core function of the graph's own.
struct CoreItem {
  engine::ExternKind kind = engine::ExternKind::Func;
  std::shared_ptr<engine::Instance> instance;
  std::string name;  // the export of `instance`
  FuncSig sig;       // functions
  std::shared_ptr<const CoreFn> host;  // the graph's own functions
};

struct CoreInstance {
  std::shared_ptr<engine::Instance> instance;  // an instantiated module, or
  std::vector<std::pair<std::string, CoreItem>> exports;  // inline exports
};

struct Func {
  FuncType type;  // resource ids of the run time
  ComponentFunction fn;
  // A host function that lifts and lowers itself: what `canon lower` calls.
  RawHostFn raw;
  // A `canon lift` of a core instance's export: what start_call runs in
  // slices. None for the others (host functions, the graph's own).
  std::shared_ptr<const LiftedFunction> lifted;
  std::shared_ptr<engine::Instance> core_instance;
  engine::ExportHandle core_export{};
};

struct RtType {
  DefTypeRef def;
  const ResourceType* resource = nullptr;  // a resource type
};

struct Frame;

struct RtComponent {
  std::shared_ptr<const Component> def;
  Frame* outer = nullptr;  // where it was defined (outer aliases resolve there)
};

struct RtInstance;

struct RtItem {
  Sort sort = Sort::Func;
  std::shared_ptr<const Func> func;
  std::shared_ptr<const RtInstance> instance;
  RtType type;
  RtComponent component;
  std::shared_ptr<const engine::Module> module;
};

struct RtInstance {
  std::vector<std::pair<std::string, RtItem>> exports;
  const RtItem* find(std::string_view name) const {
    for (const auto& [n, item] : exports) {
      if (n == name) return &item;
    }
    return nullptr;
  }
};

// A guest memory of the canonical ABI over an exported core memory.
class CoreMemory final : public GuestMemory {
 public:
  explicit CoreMemory(std::shared_ptr<const engine::MemoryView> view) : view_(std::move(view)) {}
  std::span<uint8_t> bytes() override { return view_->bytes(); }

 private:
  std::shared_ptr<const engine::MemoryView> view_;
};

struct Frame {
  const Component* def = nullptr;
  Frame* outer = nullptr;
  std::unique_ptr<InstanceState> state;
  std::unordered_map<uint64_t, const ResourceType*> resources;  // decode id -> run time
  std::unordered_map<const ValType*, TypeRef> mapped;           // types with ids replaced

  std::vector<CoreItem> core_funcs, core_tables, core_memories, core_globals, core_tags;
  std::vector<std::shared_ptr<const engine::Module>> core_modules;
  std::vector<std::shared_ptr<const CoreInstance>> core_instances;
  std::vector<std::shared_ptr<const Func>> funcs;
  std::vector<RtType> types;
  std::vector<RtComponent> components;
  std::vector<std::shared_ptr<const RtInstance>> instances;

  std::vector<std::pair<std::string, RtItem>> args;  // what its imports are given
  std::shared_ptr<RtInstance> exports = std::make_shared<RtInstance>();
  std::vector<std::unique_ptr<CoreMemory>> memories;  // of its canon options

  const ResourceType* resource(uint64_t id) const {
    for (const Frame* f = this; f; f = f->outer) {
      auto it = f->resources.find(id);
      if (it != f->resources.end()) return it->second;
    }
    return nullptr;
  }
};

}  // namespace rt

struct ComponentInstance::Impl {
  using CoreFn = rt::CoreFn;
  using CoreItem = rt::CoreItem;
  using Exec = rt::Exec;
  using Frame = rt::Frame;
  using Func = rt::Func;
  using RtItem = rt::RtItem;
  using Value = engine::Value;
  std::shared_ptr<const Component> component;
  std::unique_ptr<engine::Store> store;
  std::shared_ptr<ResourceTypes> resource_types;
  ComponentOptions options;
  Exec exec;
  std::vector<std::unique_ptr<Frame>> frames;
  std::vector<ExportedFunc> functions;
  std::vector<std::shared_ptr<const Func>> function_impls;

  // The bytes of the memories the component's core instances define (an
  // imported memory is its exporter's), `except` one of them.
  uint64_t memory_bytes(const engine::Instance* except) const;
  // The index of the exported function `name`, when `args` fit its type.
  Result<size_t> callable(std::string_view name, std::span<const Val> args) const;
  Result<std::vector<Value>> call_core(engine::Instance& instance, engine::ExportHandle handle,
                                       std::span<const Value> args);
  CoreFn core_function(const CoreItem& item);
  Result<TypeRef> map_type(Frame& frame, const TypeRef& type);
  Result<FuncType> map_func(Frame& frame, const FuncType& type);
  Result<CanonOptions> canon_options(Frame& frame, const CanonOptionIndices& indices,
                                     bool* has_post_return);
  engine::HostFunction host_function(std::string module, std::string name, const CoreItem& item);

  Result<void> run(Frame& frame);
  Result<void> bind_resources(Frame& frame, ResourceOrigin::Kind kind, uint32_t index,
                              const RtItem* root);
  Result<RtItem> item_of(Frame& frame, SortIdx target);
  Result<void> push(Frame& frame, const RtItem& item);
  Result<void> core_instance(Frame& frame, const CoreInstanceDef& def);
  Result<void> instance(Frame& frame, const InstanceDef& def);
  Result<void> alias(Frame& frame, const Alias& a);
  Result<void> canon(Frame& frame, const Canon& c);
  Result<void> import(Frame& frame, const Import& imp, uint32_t index);
  Result<void> check_host_item(Frame& frame, const std::string& name, const ExternDesc& desc,
                               const RtItem& given);
};

}  // namespace airssys::wasm::cm
