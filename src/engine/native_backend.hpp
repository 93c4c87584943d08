#pragma once
// The native tier's classes, private to the engine: the loaded object
// (native_object.cpp), the module, a store's state, the fiber a call runs on
// (native_run.cpp), the instances and their calls (native_backend.cpp), the
// store that links and instantiates (native_store.cpp), and the engine
// (native_engine.cpp).

#include <sys/mman.h>

#include <boost/container/small_vector.hpp>
#include <boost/context/fiber.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "airssys-native.h"
#include "airssys/wasm/engine/engine.hpp"
#include "backend_support.hpp"
#include "native_codegen.hpp"
#include "native_frames.hpp"

namespace airssys::wasm::engine::native {

using detail::kMaxBacktrace;
using detail::FiberSwitch;

namespace ctx = boost::context;
namespace fs = std::filesystem;

constexpr size_t kStackSize = AIRSSYS_STACK_SIZE;
constexpr size_t kPage = AIRSSYS_STACK_PAGE;
constexpr uint32_t kMaxPages = 65535;  // the runtime's 32-bit memory size

// A call's argument and result slots: inline for the common signatures, so a
// call allocates none.
using SlotVector = boost::container::small_vector<airssys_slot, 8>;

// Stacks of kStackSize bytes aligned to kStackSize: guard page, call state
// page, then the stack proper. Kept for reuse by one store.
class StackPool {
 public:
  static constexpr size_t kMaxIdle = 4;
  ~StackPool() {
    for (char* base : idle_) ::munmap(base, kStackSize);
  }
  char* take() {
    if (!idle_.empty()) {
      char* base = idle_.back();
      idle_.pop_back();
      return base;
    }
    void* raw = ::mmap(nullptr, 2 * kStackSize, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    auto start = reinterpret_cast<uintptr_t>(raw);
    uintptr_t base = (start + kStackSize - 1) & ~(uintptr_t{kStackSize} - 1);
    if (base > start) ::munmap(raw, base - start);
    uintptr_t end = start + 2 * kStackSize;
    if (end > base + kStackSize) ::munmap(reinterpret_cast<void*>(base + kStackSize), end - base - kStackSize);
    ::mprotect(reinterpret_cast<void*>(base), kPage, PROT_NONE);
    return reinterpret_cast<char*>(base);
  }
  void give_back(char* base) noexcept {
    if (idle_.size() < kMaxIdle) {
      idle_.push_back(base);
    } else {
      ::munmap(base, kStackSize);
    }
  }

 private:
  std::vector<char*> idle_;
};

// A compiled module loaded from verified bytes.
class LoadedObject {
 public:
  ~LoadedObject();
  // The bytes were verified against their recorded hash; they are written
  // to a fresh file of the private cache directory, loaded from there and the
  // file removed again. A name of its own per load: the dynamic loader hands
  // back an object already loaded under the same name.
  static Result<std::shared_ptr<LoadedObject>> load(const std::vector<uint8_t>& bytes,
                                                    const detail::NativePlan& plan,
                                                    const fs::path& dir, std::string_view name,
                                                    bool guard_pages);
  const airssys_module_desc& desc() const { return *desc_; }
  // Built for guard-page memories (its loads and stores unchecked).
  bool guard_pages() const { return code_handle_.has_value(); }
  const detail::NativeFrames& frames() const { return frames_; }
  using GrowFn = uint32_t (*)(wasm_rt_memory_t*, uint32_t);
  GrowFn grow() const { return grow_; }

 private:
  void* handle_ = nullptr;
  const airssys_module_desc* desc_ = nullptr;
  GrowFn grow_ = nullptr;
  detail::NativeFrames frames_;
  std::optional<size_t> code_handle_;  // its code in the fault handler's registry
};

class NativeModule final : public detail::ModuleBase,
                           public std::enable_shared_from_this<NativeModule> {
 public:
  detail::NativePlan plan_;
  std::shared_ptr<LoadedObject> object_;
  uint32_t func_imports_ = 0;  // the guest's: defined functions follow them

  // "module!name" (or "module!func[N]") for each return address of a trap
  // that lies in a function the module defines, innermost first. Functions
  // the C compiler inlined into their callers have no frame of their own.
  std::vector<std::string> backtrace(std::span<const uintptr_t> frames) const {
    std::vector<std::string> out;
    std::optional<uint32_t> inner;  // the function of the frame listed last
    for (size_t k = 0; k < frames.size(); ++k) {
      // A return address may follow the last instruction of a function whose
      // final call never returns (a trap): look one byte back.
      auto frame = object_->frames().function_at(frames[k] - 1);
      if (!frame) continue;
      // The export glue is its function's own frame, unless that is listed.
      if (frame->glue && inner == frame->function) continue;
      inner = frame->function;
      if (out.size() == kMaxBacktrace) {
        out.push_back(fmt::format("... {} more frames", frames.size() - k));
        break;
      }
      out.push_back(function_frame(func_imports_ + frame->function));
    }
    return out;
  }

  const airssys_module_desc& desc() const { return object_->desc(); }
  LoadedObject::GrowFn grow() const { return object_->grow(); }
};

class NativeRun;

struct ExecState {
  uint64_t budget = kUnlimitedFuel;
  uint64_t slice = 100'000;
  uint64_t used = 0;
  int64_t slice_set = 0;
  NativeRun* fiber = nullptr;  // set for a suspendable call
  bool cancel = false;
  // The call's arguments are being lowered on its stack, before its export
  // runs (NativeRun::Entry::prologue): nested calls run on that stack.
  bool lowering = false;
};

class StoreState {
 public:
  int64_t fuel = 0;  // the metered code's fuel global, shared by the store's instances
  ExecState* active = nullptr;
  uint32_t nested = 0;  // nested calls (HostCall::call) running now
  std::optional<Error> pending;  // a typed error raised inside the guest's call
  StackPool stacks;
  std::vector<wasm_rt_funcref_t> funcrefs;  // funcref handles given to the host

  void start_slice(ExecState& exec) {
    uint64_t remaining = exec.budget == kUnlimitedFuel
                             ? kUnlimitedFuel
                             : exec.budget - std::min(exec.used, exec.budget);
    uint64_t next = std::min<uint64_t>({exec.slice, remaining, uint64_t{INT64_MAX}});
    exec.slice_set = static_cast<int64_t>(std::max<uint64_t>(next, 1));
    fuel = exec.slice_set;
  }
  void account(ExecState& exec) {
    exec.used += static_cast<uint64_t>(exec.slice_set - fuel);
    exec.slice_set = fuel;
  }
  // False when the call must end; `pending` then says why.
  bool on_fuel_exhausted();

  uint64_t funcref_handle(const wasm_rt_funcref_t& ref) {
    for (size_t i = 0; i < funcrefs.size(); ++i) {
      const auto& r = funcrefs[i];
      if (r.func == ref.func && r.module_instance == ref.module_instance &&
          r.func_type == ref.func_type) {
        return i + 1;
      }
    }
    funcrefs.push_back(ref);
    return funcrefs.size();
  }
};
// An engine value of `type` in the compiled code's slot, and back.
Value from_slot(StoreState& state, ValType type, const airssys_slot& s);
airssys_slot to_slot(StoreState& state, const Value& v);

// A trap's code and message (native_run.cpp).
ErrorCode trap_code(int trap);
const char* trap_message(int trap);

// Native code running on one fiber: an export call, or an instantiation.
class NativeRun {
 public:
  struct Entry {
    const airssys_module_desc* desc;
    airssys_thunk fn;
    void* a;
    void* b;
    uint32_t memory_cap_pages = 0;
    // Instantiation: the most each of the module's own tables may hold.
    std::span<const uint32_t> table_caps = {};
    // Instantiation: where each of the module's own memories goes once
    // allocated, by index.
    std::span<wasm_rt_memory_t*> memories = {};
    // Run on the fiber before fn: host code that may call guest functions
    // (NativeInstance::call_nested) on this stack; not 0 ends the run with
    // that trap (WASM_RT_TRAP_HOST: the error is the store's pending one).
    int (*prologue)(void*) = nullptr;
    void* prologue_arg = nullptr;
  };

  NativeRun(StoreState& state, Entry entry) : state_(state), entry_(entry) {}
  NativeRun(const NativeRun&) = delete;
  NativeRun& operator=(const NativeRun&) = delete;

  // Runs until the code finishes or suspends.
  void switch_in();

  // Called on the fiber, at the end of a slice.
  void suspend();

  bool started() const { return started_; }
  bool done() const { return done_; }
  int trap() const { return trap_; }
  // The return addresses a trap recorded, innermost first.
  std::span<const uintptr_t> trap_frames() const { return trap_frames_; }
  wasm_rt_memory_t* allocated_memory() const { return memory_; }

 private:
  void body();

  StoreState& state_;
  Entry entry_;
  ctx::fiber fiber_;
  ctx::fiber caller_;
  char* base_ = nullptr;
  const void* caller_bottom_ = nullptr;
  size_t caller_size_ = 0;
  bool started_ = false;
  bool done_ = false;
  int trap_ = 0;
  std::vector<uintptr_t> trap_frames_;
  wasm_rt_memory_t* memory_ = nullptr;
};


class NativeInstance;

// What a host function sees of its caller: the calling instance's memory at
// the time of the call (during instantiation, the memory it is allocating,
// which the running call's state knows) and its user data. One per import,
// made at instantiation; used only on the call's stack.
class NativeHostCall final : public HostCall {
 public:
  explicit NativeHostCall(NativeInstance* owner = nullptr) : owner_(owner) {}
  Result<std::span<uint8_t>> memory(uint64_t offset, uint64_t length) override {
    wasm_rt_memory_t* memory = current();
    return detail::guest_range(memory ? memory->data : nullptr, memory ? memory->size : 0, offset,
                               length);
  }
  uint64_t memory_size() const override {
    wasm_rt_memory_t* memory = current();
    return memory ? memory->size : 0;
  }
  void* user_data() const override;
  Result<std::vector<Value>> call(Instance& instance, ExportHandle handle,
                                  std::span<const Value> args) override;
  Result<void> call_into(Instance& instance, ExportHandle handle, std::span<const Value> args,
                         std::span<Value> results) override;
  // While the owner's own instantiation runs (its start function).
  void set_instantiating(bool on) { instantiating_ = on; }

 private:
  wasm_rt_memory_t* current() const;
  NativeInstance* owner_;
  bool instantiating_ = false;
};

struct ImportTarget {
  enum class Kind : uint8_t { Fuel, MemoryGrow, MemoryGrowAt, Host, Other } kind = Kind::Other;
  HostFn fn;
  FuncSig sig;
  NativeInstance* owner = nullptr;  // host functions
  NativeHostCall call;
};

// Exception tag identities (native_store.cpp): one never held by a live
// instance (0 is none), given to each tag an instantiation defines, and given
// back when the instance goes; LimitExceeded when all 2^32 - 1 are held.
Result<uint32_t> take_tag_identity();
void give_back_tag_identities(std::span<const uint32_t> tags);

class NativeInstance final : public Instance, public std::enable_shared_from_this<NativeInstance> {
 public:
  NativeInstance(std::shared_ptr<StoreState> state, std::shared_ptr<const NativeModule> module,
                 void* user_data, MemoryGrowHook on_grow = {}, MemoryGrowGate grow_gate = {})
      : state_(std::move(state)),
        module_(std::move(module)),
        user_data_(user_data),
        on_grow_(std::move(on_grow)),
        grow_gate_(std::move(grow_gate)) {}
  ~NativeInstance() override {
    give_back_tag_identities(tags_);
    if (raw_) {
      module_->desc().free_instance(raw_);
      std::free(raw_);
    }
    std::free(imports_);
  }

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
  Result<void> call_nested(ExportHandle handle, std::span<const Value> args,
                           std::span<Value> results);
  // Prepares and runs a nested call; the export's index in the plan, its
  // results in `io`.
  Result<uint32_t> run_nested(ExportHandle handle, std::span<const Value> args, SlotVector& io);
  // Export `index` (its io slots prepared) run on the stack of the running
  // call, while that call lowers its arguments (ExecState::lowering).
  int run_on_stack(uint32_t index, airssys_slot* io, std::vector<uintptr_t>& frames);
  uint64_t memory_bytes() const override { return memory_ ? memory_->size : 0; }
  uint64_t defined_memory_bytes() const override { return defined_pages() * kWasmPageSize; }
  uint64_t defined_pages() const;
  uint64_t fuel_used() const override { return fuel_used_; }
  Result<InstanceState> save_state() const override;
  Result<void> restore_state(const InstanceState& saved);
  // Runs export `index` (its io slots prepared) to completion within `fuel`.
  Result<void> run_export(uint32_t index, airssys_slot* io, uint64_t fuel, uint64_t slice);

  Result<void> write_memory(uint64_t offset, std::span<const uint8_t> bytes) override {
    return detail::write_memory_at(memory_data(), memory_bytes(), offset, bytes);
  }
  Result<std::vector<uint8_t>> read_memory(uint64_t offset, uint64_t length) const override {
    return detail::read_memory_at(memory_data(), memory_bytes(), offset, length);
  }
  uint8_t* memory_data() const { return memory_ ? memory_->data : nullptr; }

  // The io slots for a call of the export `handle` names with `args`, checked
  // (unless !check: arguments that come later); its index in the plan in
  // *index.
  Result<SlotVector> prepare(ExportHandle handle, std::span<const Value> args, uint32_t* index,
                             bool check = true);
  Error trap_error(int trap, std::span<const uintptr_t> frames);

  // Called by the compiled code for an import that the host provides.
  int dispatch(uint32_t index, airssys_slot* io);
  // memory.grow of memory `index` (its delta in io[0], the result there).
  int grow_memory(uint32_t index, airssys_slot* io);

  std::shared_ptr<StoreState> state_;
  std::shared_ptr<const NativeModule> module_;
  void* user_data_;
  MemoryGrowHook on_grow_;
  MemoryGrowGate grow_gate_;
  void* raw_ = nullptr;
  airssys_imports* imports_ = nullptr;
  std::vector<ImportTarget> targets_;
  std::vector<std::shared_ptr<const Instance>> providers_;  // kept alive: we point into them
  wasm_rt_memory_t* memory_ = nullptr;
  // Every memory by index: the imported ones, then the instance's own (set
  // by instantiation as it allocates them).
  std::vector<wasm_rt_memory_t*> memories_;
  std::vector<uint32_t> tags_;  // the identities of the tags the instance defines
  uint32_t memory_imports_ = 0;
  uint64_t page_cap_ = 0;  // the pages all its own memories may hold together
  uint64_t fuel_used_ = 0;
  int suspended_calls_ = 0;  // calls between two slices: their frames live here
};

// The host API the compiled code calls (native_backend.cpp): an import the
// host provides, by index; a typed error raised for the trap that follows;
// a HostFn of numbers called directly.
int call_import(void* host_instance, uint32_t index, airssys_slot* io);
void raise_error(void* host_instance, void* error);
int call_host_values(void* t, const uint64_t* raw_args, uint64_t* raw_results);

// A store of the native tier (native_store.cpp).
std::unique_ptr<Store> new_store();

}  // namespace airssys::wasm::engine::native
