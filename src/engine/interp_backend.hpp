#pragma once
// The interpreter tier's classes, private to the engine: a loaded module
// (interp_module.cpp), a store's state, its instances and their calls
// (interp_backend.cpp), and the store that links and instantiates
// (interp_store.cpp).

#include <wabt/interp/interp.h>

#include <algorithm>
#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "airssys/wasm/engine/engine.hpp"
#include "backend_support.hpp"

namespace airssys::wasm::engine::interp {

using detail::from_wabt;
using detail::to_wabt;
using detail::kMaxBacktrace;
using detail::FiberSwitch;

namespace wi = wabt::interp;
namespace ctx = boost::context;

#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kFiberStackSize = 4 * MiB;  // ASan's redzones make frames larger
#else
constexpr size_t kFiberStackSize = 1 * MiB;
#endif

// Guarded fiber stacks, kept for reuse: mapping a fresh stack per call costs
// far more than the call itself. Used by one store, hence one thread at a time.
class FiberStackPool {
 public:
  static constexpr size_t kMaxIdle = 4;
  ~FiberStackPool() {
    for (auto& sc : idle_) allocator_.deallocate(sc);
  }
  ctx::stack_context take() {
    if (idle_.empty()) return allocator_.allocate();
    ctx::stack_context sc = idle_.back();
    idle_.pop_back();
    return sc;
  }
  void give_back(ctx::stack_context& sc) noexcept {
    if (idle_.size() < kMaxIdle) {
      idle_.push_back(sc);
    } else {
      allocator_.deallocate(sc);
    }
  }

 private:
  ctx::protected_fixedsize_stack allocator_{kFiberStackSize};
  std::vector<ctx::stack_context> idle_;
};

using detail::engine_features;

// Whether `ref` names a function of `store`. wabt's Store::Is does not check
// the index against its object list, so a handle the store never issued
// (from an embedder's Value) must be bounded here first.
bool is_function_of(const wi::Store& store, wi::Ref ref);

// The module's description in the engine's terms (interp_module.cpp).
FuncSig sig_from_wabt(const wi::FuncType& type);
ExternType extern_type(const wi::ExternType& type);
// "'module'.'name' (func (i32) -> (i32))", for the errors of linking.
std::string describe_import(const wi::ImportType& import);

class StoreState;
class InstanceImpl;
class CallImpl;

class ModuleImpl final : public detail::ModuleBase,
                         public std::enable_shared_from_this<ModuleImpl> {
 public:
  // The metered module, decoded once and shared by every module the engine
  // loads from the same bytes.
  std::shared_ptr<const wi::ModuleDesc> desc_;
  uint32_t fuel_import_index_ = 0;
  uint32_t reserved_func_imports_ = 1;  // fuel function (+ memory_grow)
  uint32_t global_imports_ = 0;         // the fuel global included
  std::vector<uint32_t> state_globals_;  // mutable defined globals, by global index

  // "module!name" for a function index of the metered module.
  std::string frame_name(uint32_t metered_index) const {
    uint32_t original = metered_index >= fuel_import_index_ + reserved_func_imports_
                            ? metered_index - reserved_func_imports_
                            : metered_index;
    return function_frame(original);
  }
};

struct ExecState {
  uint64_t budget = kUnlimitedFuel;
  uint64_t slice = 100'000;
  uint64_t used = 0;
  int64_t slice_set = 0;
  CallImpl* fiber = nullptr;
  bool cancel = false;
};

class StoreState {
 public:
  wi::Store store{engine_features()};
  wi::Global::Ptr fuel_global;
  wi::HostFunc::Ptr fuel_func;
  wi::HostFunc::Ptr grow_func;     // memory.grow of memory 0
  wi::HostFunc::Ptr grow_at_func;  // memory.grow of another memory (its index passed)
  ExecState* active = nullptr;
  InstanceImpl* instantiating = nullptr;
  std::optional<Error> pending;  // a typed error raised inside the guest's call
  std::unique_ptr<wi::Thread> sync_thread;
  // Interpreter threads of finished suspendable calls, kept for the next one:
  // a thread reserves its value and call stacks when it is made.
  std::vector<std::unique_ptr<wi::Thread>> idle_threads;
  FiberStackPool stacks;
  uint32_t nested = 0;  // nested calls (HostCall::call) running now

  // An interpreter thread with no frames: an idle one, or a new one.
  std::unique_ptr<wi::Thread> take_thread() {
    if (idle_threads.empty()) return std::make_unique<wi::Thread>(store);
    auto thread = std::move(idle_threads.back());
    idle_threads.pop_back();
    return thread;
  }
  // A thread whose call returned normally (a trap may leave frames behind).
  void give_back(std::unique_ptr<wi::Thread> thread) {
    if (idle_threads.size() < 2) idle_threads.push_back(std::move(thread));
  }

  StoreState();

  int64_t fuel_left() const { return fuel_global->Get().Get<int64_t>(); }

  void start_slice(ExecState& exec) {
    uint64_t remaining =
        exec.budget == kUnlimitedFuel ? kUnlimitedFuel : exec.budget - std::min(exec.used, exec.budget);
    uint64_t next = std::min<uint64_t>({exec.slice, remaining, uint64_t{INT64_MAX}});
    exec.slice_set = static_cast<int64_t>(std::max<uint64_t>(next, 1));
    fuel_global->UnsafeSet(wi::Value::Make(static_cast<wi::s64>(exec.slice_set)));
  }

  void account(ExecState& exec) {
    exec.used += static_cast<uint64_t>(exec.slice_set - fuel_left());
    exec.slice_set = fuel_left();
  }

  wabt::Result on_fuel_exhausted(wi::Thread& thread, wi::Trap::Ptr* out_trap);
  wabt::Result on_memory_grow(wi::Thread& thread, uint32_t memory_index, uint32_t delta,
                              wi::Values& results);

  wabt::Result raise(wi::Thread& thread, Error error, wi::Trap::Ptr* out_trap);

  InstanceImpl* instance_of(wi::Instance* instance) const;

  std::vector<std::string> backtrace(const std::vector<wi::Frame>& frames) const;

  Error take_error(const wi::Trap::Ptr& trap);
};

class HostCallImpl final : public HostCall {
 public:
  HostCallImpl(StoreState* state, wi::Memory* memory, void* user_data)
      : state_(state), memory_(memory), user_data_(user_data) {}

  Result<std::span<uint8_t>> memory(uint64_t offset, uint64_t length) override {
    return detail::guest_range(memory_ ? memory_->UnsafeData() : nullptr, memory_size(), offset,
                               length);
  }
  uint64_t memory_size() const override { return memory_ ? memory_->ByteSize() : 0; }
  void* user_data() const override { return user_data_; }
  Result<std::vector<Value>> call(Instance& instance, ExportHandle handle,
                                  std::span<const Value> args) override;
  Result<void> call_into(Instance& instance, ExportHandle handle, std::span<const Value> args,
                         std::span<Value> results) override;

 private:
  StoreState* state_;
  wi::Memory* memory_;
  void* user_data_;
};

class InstanceImpl final : public Instance, public std::enable_shared_from_this<InstanceImpl> {
 public:
  InstanceImpl(std::shared_ptr<StoreState> state, std::shared_ptr<const ModuleImpl> module,
               void* user_data)
      : state_(std::move(state)), module_(std::move(module)), user_data_(user_data) {}
  InstanceImpl(std::shared_ptr<StoreState> state, std::shared_ptr<const ModuleImpl> module,
               void* user_data, MemoryGrowHook on_grow, MemoryGrowGate grow_gate = {})
      : state_(std::move(state)),
        module_(std::move(module)),
        user_data_(user_data),
        on_grow_(std::move(on_grow)),
        grow_gate_(std::move(grow_gate)) {}

  const Module& module() const override { return *module_; }
  using Instance::call;
  using Instance::start_call;
  Result<ExportHandle> resolve(std::string_view export_name) const override;
  Result<std::vector<Value>> call(ExportHandle export_handle, std::span<const Value> args,
                                  const CallOptions& options) override;
  Result<std::unique_ptr<Call>> start_call(ExportHandle export_handle,
                                           std::span<const Value> args,
                                           const CallOptions& options) override;
  Result<std::unique_ptr<Call>> start_call(ExportHandle export_handle, ArgumentLowerer lower,
                                           const CallOptions& options) override;
  Result<Value> global(std::string_view export_name) const override;
  Result<std::shared_ptr<const MemoryView>> memory_view(std::string_view export_name) const override;
  // HostCall::call of an export of this instance, inside the store's running call.
  Result<std::vector<Value>> call_nested(ExportHandle handle, std::span<const Value> args);
  uint64_t memory_bytes() const override { return memory_ ? memory_->ByteSize() : 0; }
  uint64_t defined_memory_bytes() const override {
    return instance_ ? defined_pages(*instance_) * kWasmPageSize : 0;
  }
  // The pages of all the memories `instance` (this instance's wabt instance,
  // during instantiation too) defines.
  uint64_t defined_pages(const wi::Instance& instance) const;
  uint64_t fuel_used() const override { return fuel_used_; }
  Result<InstanceState> save_state() const override;
  Result<void> restore_state(const InstanceState& saved, uint64_t page_cap);

  Result<void> write_memory(uint64_t offset, std::span<const uint8_t> bytes) override {
    return detail::write_memory_at(memory_data(), memory_bytes(), offset, bytes);
  }
  Result<std::vector<uint8_t>> read_memory(uint64_t offset, uint64_t length) const override {
    return detail::read_memory_at(memory_data(), memory_bytes(), offset, length);
  }
  uint8_t* memory_data() const { return memory_ ? memory_->UnsafeData() : nullptr; }

  // The instance's export `name`, of any kind.
  std::optional<wi::Ref> export_ref(std::string_view name) const {
    auto it = module_->export_index_.find(name);
    if (it == module_->export_index_.end()) return std::nullopt;
    return instance_->exports()[it->second];
  }

  Result<wi::Func::Ptr> prepare(ExportHandle handle, std::span<const Value> args,
                                wi::Values* params);
  Result<std::vector<Value>> convert_results(const wi::Func& func, const wi::Values& raw) const;

  std::shared_ptr<StoreState> state_;
  std::shared_ptr<const ModuleImpl> module_;
  void* user_data_;
  MemoryGrowHook on_grow_;
  MemoryGrowGate grow_gate_;
  wi::Instance::Ptr instance_;
  wi::Memory* memory_ = nullptr;
  uint32_t memory_imports_ = 0;  // memories the module imports: indices below are not its own
  uint64_t page_cap_ = 0;        // the pages all its own memories may hold together
  uint64_t fuel_used_ = 0;
  int suspended_calls_ = 0;  // calls between two slices: their frames live here
};

// An engine value in the interpreter's terms, and back.
wi::Value to_interp(StoreState& state, const Value& v);
Value from_interp(StoreState& state, wabt::Type type, const wi::Value& v);

// A store of the interpreter tier (interp_store.cpp).
std::unique_ptr<Store> new_store();

}  // namespace airssys::wasm::engine::interp
