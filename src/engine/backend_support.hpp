#pragma once
// Pieces both engine backends use: the wabt type mapping, the export index
// and the checks of a call's export and arguments, the range checks of the
// embedder's memory reads and writes, the sizes an instance's tables may
// reach, and the AddressSanitizer notes around a switch between the caller's
// stack and a call's fiber (backend_support.cpp, table_caps in engine.cpp).

#include <boost/container/small_vector.hpp>
#include <cstddef>
#include <cstdint>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <wabt/feature.h>
#include <wabt/type.h>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

namespace airssys::wasm::engine::detail {

// The most guest frames a trap's backtrace lists; the rest are counted.
inline constexpr size_t kMaxBacktrace = 32;

// Finds an export by a string_view name without building a std::string.
struct ExportNameHash {
  using is_transparent = void;
  size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
};

// A module's exports by name: the index in Module::exports().
using ExportIndex = std::unordered_map<std::string, uint32_t, ExportNameHash, std::equal_to<>>;

// What both tiers' modules know of a module besides its code, and the
// Module interface over it.
class ModuleBase : public Module {
 public:
  std::string name_;
  std::vector<ImportInfo> imports_;
  std::vector<ExportInfo> exports_;
  ExportIndex export_index_;
  std::vector<std::string> warnings_;    // Module::warnings
  std::string state_hazard_;             // why save_state cannot capture an instance
  std::vector<std::string> func_names_;  // of the name section, by function index

  std::string_view name() const override { return name_; }
  const std::vector<ImportInfo>& imports() const override { return imports_; }
  const std::vector<ExportInfo>& exports() const override { return exports_; }
  Result<void> state_transferable() const override;
  const std::vector<std::string>& warnings() const override { return warnings_; }

  // "module!name" for function `index` of the module as loaded, or
  // "module!func[N]" when the name section gives it no name: a frame of a
  // trap's backtrace.
  [[nodiscard]] std::string function_frame(uint32_t index) const;
};

// The modules an engine loaded, by a key of their bytes, each held weakly
// (design.md "One module per distinct bytes"). `M` is the tier's module class
// (a ModuleBase, copyable).
template <class M>
class SharedModules {
 public:
  // The module held for `key`, under `name`: the same one, or a copy under
  // another name (errors and backtraces say the name it was loaded under)
  // sharing everything else. Null when none is held.
  std::shared_ptr<const Module> find(const std::string& key, std::string_view name) {
    std::shared_ptr<const M> held;
    {
      std::lock_guard lock(mutex_);
      auto it = modules_.find(key);
      if (it == modules_.end()) return nullptr;
      held = it->second.lock();
      if (!held) {
        modules_.erase(it);
        return nullptr;
      }
    }
    shared_loads_.fetch_add(1, std::memory_order_relaxed);
    if (held->name_ == name) return held;
    auto module = std::make_shared<M>(*held);
    module->name_ = std::string(name);
    return module;
  }
  // Holds `module` for `key` while a module or instance uses it.
  void remember(const std::string& key, const std::shared_ptr<const M>& module) {
    std::lock_guard lock(mutex_);
    std::erase_if(modules_, [](const auto& kv) { return kv.second.expired(); });
    modules_[key] = module;
  }
  uint64_t shared_loads() const { return shared_loads_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<const M>> modules_;
  std::atomic<uint64_t> shared_loads_{0};
};

// What both tiers' suspendable calls keep of their end: its results or its
// error, and whether it has ended.
class CallEnd : public Call {
 public:
  std::span<const Value> results() const override { return {results_.data(), results_.size()}; }

 protected:
  // What resume() answers once the call has ended; nothing while it runs.
  [[nodiscard]] std::optional<Result<State>> ended() const {
    if (!done_) return std::nullopt;
    if (error_) return std::unexpected(*error_);
    return State::Finished;
  }

  // Inline for the usual one or two results: a call allocates none for them.
  boost::container::small_vector<Value, 2> results_;
  std::optional<Error> error_;
  bool done_ = false;
};

// The WebAssembly features both tiers accept, everywhere the toolkit reads,
// validates, rewrites or translates a module: wabt's defaults (the finished
// proposals up to reference types and bulk memory), multi-memory, and
// exception handling (in the toolkit's legacy form, which the standard form
// is translated to first: exceptions.hpp).
[[nodiscard]] inline wabt::Features engine_features() {
  wabt::Features features;
  features.enable_multi_memory();
  features.enable_exceptions();
  return features;
}

// The engine's value type of a wabt type (the reference types wabt has
// besides funcref count as externref), and back.
[[nodiscard]] ValType from_wabt(wabt::Type type);
[[nodiscard]] wabt::Type to_wabt(ValType type);
// The signature of wabt's parameter and result type lists.
[[nodiscard]] FuncSig sig_from_wabt(std::span<const wabt::Type> params,
                                    std::span<const wabt::Type> results);

// The index of the function export `name` of `module` (its `exports`, found
// through `index`); MissingExport when there is none or it is no function.
[[nodiscard]] Result<uint32_t> function_export(std::string_view module, const ExportIndex& index,
                                               std::span<const ExportInfo> exports,
                                               std::string_view name);
// The same for a global export.
[[nodiscard]] Result<uint32_t> global_export(std::string_view module, const ExportIndex& index,
                                             std::span<const ExportInfo> exports,
                                             std::string_view name);

// Whether `args` match the parameters of the function export `target`
// (SignatureMismatch naming both otherwise): the check before every call.
[[nodiscard]] Result<void> check_args(const ExportInfo& target, std::span<const Value> args);

// CallInProgress: a call while another runs on the same store, a suspended
// call resumed from inside another one, an instantiation during a call.
[[nodiscard]] std::unexpected<Error> reentrant_call();
// The refusals of HostCall::call and Instance::memory_view.
[[nodiscard]] std::unexpected<Error> nested_call_elsewhere();
[[nodiscard]] std::unexpected<Error> nested_call_outside_call();
[[nodiscard]] std::unexpected<Error> nested_calls_too_deep();
// HostCall::call_into with room for `room` results of an export that
// returns `returned`.
[[nodiscard]] std::unexpected<Error> nested_results_mismatch(size_t returned, size_t room);
[[nodiscard]] Error no_memory_export(std::string_view module, std::string_view name);
// An import bound to an instance (by module name, or by Linker::define_export
// when `aliased`) that the instance does not export.
[[nodiscard]] std::string export_not_found(std::string_view import, std::string_view module,
                                           bool aliased, std::string_view export_name);
[[nodiscard]] std::unexpected<Error> resume_inside_call();
// LimitExceeded: the module's memories up to `index` (which starts at
// `initial` pages) start at `total` pages together, over the instance's
// memory limit of `limit_bytes`.
[[nodiscard]] std::unexpected<Error> memories_over_limit(std::string_view module, size_t index,
                                                         uint64_t initial, uint64_t total,
                                                         uint64_t limit_bytes);
[[nodiscard]] std::unexpected<Error> instantiate_during_call();

// `module` as the tier's own module class `T`; InvalidArgument when another
// engine backend loaded it.
template <class T>
[[nodiscard]] Result<const T*> own_module(const Module& module) {
  auto* own = dynamic_cast<const T*>(&module);
  if (!own) {
    return make_error(ErrorCode::InvalidArgument, "module was loaded by another engine backend");
  }
  return own;
}

// Whether a memory.grow of `delta` pages may go ahead, before the memory's
// own maximum (which the instance's limit lowers) decides: for a memory the
// instance defines, when all the memories it defines (`defined_pages` now)
// stay within `page_cap` and the embedder's gate agrees to their new total;
// for an imported memory (`memory_pages` now), when the gate agrees to its
// new size (its owner's limits bound it).
[[nodiscard]] bool grow_allowed(const MemoryGrowGate& gate, bool defined, uint64_t memory_pages,
                                uint64_t defined_pages, uint64_t delta, uint64_t page_cap);

// The embedder's reads and writes of an instance's memory (`data`, `size`
// bytes): TrapMemoryOutOfBounds, with nothing copied, when any byte of
// [offset, offset + length) lies outside it (64-bit arithmetic).
[[nodiscard]] Result<void> write_memory_at(uint8_t* data, uint64_t size, uint64_t offset,
                                           std::span<const uint8_t> bytes);
// A host function's view of its caller's memory: the bytes of [offset,
// offset + length), or TrapMemoryOutOfBounds when any lies outside it.
[[nodiscard]] Result<std::span<uint8_t>> guest_range(uint8_t* data, uint64_t size,
                                                     uint64_t offset, uint64_t length);
[[nodiscard]] Result<std::vector<uint8_t>> read_memory_at(uint8_t* data, uint64_t size,
                                                          uint64_t offset, uint64_t length);

// The most elements each of an instance's own (not imported) tables may hold,
// in the order given (`tables`: their initial sizes and maximums), so that all
// of them together stay within what `limits` allows (InstanceLimits): the
// room the initial sizes leave is shared out equally among the tables that
// may grow, up to each one's own maximum; what a table cannot take goes to
// the others. LimitExceeded, naming `module`, when the initial sizes alone are
// over it. Both tiers apply the result before they allocate any table.
[[nodiscard]] Result<std::vector<uint32_t>> table_caps(std::string_view module,
                                                       std::span<const ExternLimits> tables,
                                                       const InstanceLimits& limits);

#if defined(__SANITIZE_ADDRESS__)
// Tells AddressSanitizer about each stack switch, so it tracks the right stack.
struct FiberSwitch {
  static void start(void** fake_stack, const void* bottom, size_t size) {
    __sanitizer_start_switch_fiber(fake_stack, bottom, size);
  }
  static void finish(void* fake_stack, const void** bottom, size_t* size) {
    __sanitizer_finish_switch_fiber(fake_stack, bottom, size);
  }
};
#else
struct FiberSwitch {
  static void start(void**, const void*, size_t) {}
  static void finish(void*, const void**, size_t*) {}
};
#endif

}  // namespace airssys::wasm::engine::detail
