// The wabt interpreter backend of the engine interface.
//
// A module is validated, rewritten for metering (metering.hpp) and decoded
// once into an immutable ModuleDesc; every instantiation copies that
// description into its store with the instance's limits applied. All
// instances of a store share one fuel global and one fuel host function; the
// store's current execution decides what happens when the fuel runs out:
// refill the next slice, suspend the fiber, or trap.

#include <wabt/binary-reader.h>
#include <wabt/binary-writer.h>
#include <wabt/interp/binary-reader-interp.h>
#include <wabt/interp/interp.h>
#include <wabt/ir.h>
#include <wabt/stream.h>
#include <wabt/validator.h>
#include <wabt/wast-lexer.h>
#include <wabt/wast-parser.h>

#include <algorithm>
#include <bit>
#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif
#include <optional>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "airssys/wasm/engine/engine.hpp"
#include "backend_support.hpp"
#include "metering.hpp"
#include "state.hpp"

namespace airssys::wasm::engine {
namespace {

using detail::from_wabt;
using detail::to_wabt;
using detail::kMaxBacktrace;
using detail::FiberSwitch;

namespace wi = wabt::interp;
namespace ctx = boost::context;

// Read access to the frames wabt records in a trap and keeps on a thread;
// explicit instantiation may name private members ([temp.spec.general]/6).
template <auto Member, class Tag>
struct PrivateMember {
  friend constexpr auto member_of(Tag) { return Member; }
};
struct TrapTraceTag {
  friend constexpr auto member_of(TrapTraceTag);
};
struct ThreadFramesTag {
  friend constexpr auto member_of(ThreadFramesTag);
};
template struct PrivateMember<&wi::Trap::trace_, TrapTraceTag>;
template struct PrivateMember<&wi::Thread::frames_, ThreadFramesTag>;
struct StoreObjectsTag {
  friend constexpr auto member_of(StoreObjectsTag);
};
template struct PrivateMember<&wi::Store::objects_, StoreObjectsTag>;

// Whether `ref` names a function of `store`. wabt's Store::Is does not check
// the index against its object list, so a handle the store never issued
// (from an embedder's Value) must be bounded here first.
bool is_function_of(const wi::Store& store, wi::Ref ref) {
  if (ref.index >= (store.*member_of(StoreObjectsTag{})).size()) return false;
  return store.Is<wi::Func>(ref);
}

#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kFiberStackSize = 4 * MiB;  // ASan's redzones make frames larger
#else
constexpr size_t kFiberStackSize = 1 * MiB;
#endif

// Tells ThreadSanitizer about each stack switch: each call's fiber is a TSan
// fiber of its own, and the side that resumes it (any worker thread) is
// re-read at every switch, since a suspended call may resume elsewhere.
#if defined(__SANITIZE_THREAD__)
struct TsanFiber {
  void* fiber = nullptr;
  void* caller = nullptr;
  ~TsanFiber() {
    if (fiber) __tsan_destroy_fiber(fiber);
  }
  void enter() {
    if (!fiber) fiber = __tsan_create_fiber(0);
    caller = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(fiber, 0);
  }
  void leave() { __tsan_switch_to_fiber(caller, 0); }
};
#else
struct TsanFiber {
  void enter() {}
  void leave() {}
};
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

// The stack allocator a fiber is created with: draws from the store's pool and
// records where the stack lives (AddressSanitizer needs its bounds).
struct FiberStack {
  FiberStackPool* pool;
  ctx::stack_context* record;
  ctx::stack_context allocate() {
    *record = pool->take();
    return *record;
  }
  void deallocate(ctx::stack_context& sc) noexcept { pool->give_back(sc); }
};

wabt::Features engine_features() { return wabt::Features{}; }

FuncSig sig_from_wabt(const wi::FuncType& type) {
  return detail::sig_from_wabt(type.params, type.results);
}

ExternKind kind_from_wabt(wabt::ExternalKind kind) {
  switch (kind) {
    case wabt::ExternalKind::Func: return ExternKind::Func;
    case wabt::ExternalKind::Table: return ExternKind::Table;
    case wabt::ExternalKind::Memory: return ExternKind::Memory;
    case wabt::ExternalKind::Global: return ExternKind::Global;
    case wabt::ExternalKind::Tag: return ExternKind::Tag;
  }
  return ExternKind::Func;
}

// What wabt's description of an extern says, in the engine's terms.
ExternType extern_type(const wi::ExternType& type) {
  ExternType out;
  out.kind = kind_from_wabt(type.kind);
  auto limits = [](const wabt::Limits& l) {
    return ExternLimits{l.initial, l.has_max ? std::optional<uint64_t>(l.max) : std::nullopt};
  };
  if (auto* f = wabt::dyn_cast<wi::FuncType>(&type)) {
    out.sig = sig_from_wabt(*f);
  } else if (auto* t = wabt::dyn_cast<wi::TableType>(&type)) {
    out.value = from_wabt(t->element);
    out.limits = limits(t->limits);
  } else if (auto* m = wabt::dyn_cast<wi::MemoryType>(&type)) {
    out.limits = limits(m->limits);
  } else if (auto* g = wabt::dyn_cast<wi::GlobalType>(&type)) {
    out.value = from_wabt(g->type);
    out.mutable_global = g->mut == wi::Mutability::Var;
  } else if (auto* tag = wabt::dyn_cast<wi::TagType>(&type)) {
    for (auto p : tag->signature) out.sig.params.push_back(from_wabt(p));
  }
  return out;
}

std::string describe_import(const wi::ImportType& import) {
  std::string_view kind = wi::GetName(import.type->kind);
  if (auto* f = wabt::dyn_cast<wi::FuncType>(import.type.get())) {
    return fmt::format("'{}'.'{}' ({} {})", import.module, import.name, kind,
                       sig_from_wabt(*f).to_string());
  }
  return fmt::format("'{}'.'{}' ({})", import.module, import.name, kind);
}

// Maps a wabt trap message to its code. The messages are wabt's own.
ErrorCode classify_trap(std::string_view message) {
  struct Prefix {
    std::string_view text;
    ErrorCode code;
  };
  static constexpr Prefix kPrefixes[] = {
      {"unreachable", ErrorCode::TrapUnreachable},
      {"out of bounds memory access", ErrorCode::TrapMemoryOutOfBounds},
      {"out of bounds table access", ErrorCode::TrapTableOutOfBounds},
      {"undefined table index", ErrorCode::TrapTableOutOfBounds},
      {"call stack exhausted", ErrorCode::TrapCallStackExhausted},
      {"integer overflow", ErrorCode::TrapIntegerOverflow},
      {"integer divide by zero", ErrorCode::TrapDivideByZero},
      {"invalid conversion", ErrorCode::TrapInvalidConversion},
      {"indirect call signature mismatch", ErrorCode::TrapIndirectCallMismatch},
      {"uninitialized table element", ErrorCode::TrapUninitializedElement},
      {"uninitialized element", ErrorCode::TrapUninitializedElement},
  };
  for (const auto& p : kPrefixes) {
    if (message.starts_with(p.text)) return p.code;
  }
  return ErrorCode::TrapOther;
}

class StoreState;
class InstanceImpl;
class CallImpl;

class ModuleImpl final : public Module, public std::enable_shared_from_this<ModuleImpl> {
 public:
  std::string name_;
  wi::ModuleDesc desc_;  // the metered module, decoded once
  std::vector<ImportInfo> imports_;
  std::vector<ExportInfo> exports_;
  detail::ExportIndex export_index_;
  std::vector<std::string> func_names_;  // by original function index
  std::vector<std::string> warnings_;    // Module::warnings
  uint32_t fuel_import_index_ = 0;
  uint32_t reserved_func_imports_ = 1;  // fuel function (+ memory_grow)
  std::string state_hazard_;            // why save_state cannot capture an instance
  uint32_t global_imports_ = 0;         // the fuel global included
  std::vector<uint32_t> state_globals_;  // mutable defined globals, by global index

  std::string_view name() const override { return name_; }
  const std::vector<ImportInfo>& imports() const override { return imports_; }
  const std::vector<ExportInfo>& exports() const override { return exports_; }
  Result<void> state_transferable() const override {
    if (state_hazard_.empty()) return {};
    return make_error(ErrorCode::StateNotTransferable,
                      fmt::format("module '{}': its state cannot be moved to another instance: {}",
                                  name_, state_hazard_));
  }
  const std::vector<std::string>& warnings() const override { return warnings_; }

  // "module!name" for a function index of the metered module.
  std::string frame_name(uint32_t metered_index) const {
    uint32_t original = metered_index >= fuel_import_index_ + reserved_func_imports_
                            ? metered_index - reserved_func_imports_
                            : metered_index;
    if (original < func_names_.size() && !func_names_[original].empty()) {
      return fmt::format("{}!{}", name_, func_names_[original]);
    }
    return fmt::format("{}!func[{}]", name_, original);
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
  wi::HostFunc::Ptr grow_func;
  ExecState* active = nullptr;
  InstanceImpl* instantiating = nullptr;
  std::optional<Error> pending;  // a typed error raised inside the guest's call
  std::unique_ptr<wi::Thread> sync_thread;
  // Interpreter threads of finished suspendable calls, kept for the next one:
  // a thread reserves its value and call stacks when it is made.
  std::vector<std::unique_ptr<wi::Thread>> idle_threads;
  FiberStackPool stacks;

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
  wabt::Result on_memory_grow(wi::Thread& thread, const wi::Values& params, wi::Values& results);

  wabt::Result raise(wi::Thread& thread, Error error, wi::Trap::Ptr* out_trap);

  InstanceImpl* instance_of(wi::Instance* instance) const;

  std::vector<std::string> backtrace(const std::vector<wi::Frame>& frames) const;

  Error take_error(const wi::Trap::Ptr& trap);
};

class HostCallImpl final : public HostCall {
 public:
  HostCallImpl(wi::Memory* memory, void* user_data) : memory_(memory), user_data_(user_data) {}

  Result<std::span<uint8_t>> memory(uint64_t offset, uint64_t length) override {
    uint64_t size = memory_ ? memory_->ByteSize() : 0;
    if (offset > size || length > size - offset) {
      return make_error(ErrorCode::TrapMemoryOutOfBounds,
                        fmt::format("host call: guest range [{}, {}+{}) is outside memory of {} bytes",
                                    offset, offset, length, size));
    }
    return std::span<uint8_t>(memory_->UnsafeData() + offset, length);
  }
  uint64_t memory_size() const override { return memory_ ? memory_->ByteSize() : 0; }
  void* user_data() const override { return user_data_; }

 private:
  wi::Memory* memory_;
  void* user_data_;
};

class InstanceImpl final : public Instance, public std::enable_shared_from_this<InstanceImpl> {
 public:
  InstanceImpl(std::shared_ptr<StoreState> state, std::shared_ptr<const ModuleImpl> module,
               void* user_data)
      : state_(std::move(state)), module_(std::move(module)), user_data_(user_data) {}
  InstanceImpl(std::shared_ptr<StoreState> state, std::shared_ptr<const ModuleImpl> module,
               void* user_data, MemoryGrowHook on_grow)
      : state_(std::move(state)),
        module_(std::move(module)),
        user_data_(user_data),
        on_grow_(std::move(on_grow)) {}

  const Module& module() const override { return *module_; }
  using Instance::call;
  using Instance::start_call;
  Result<ExportHandle> resolve(std::string_view export_name) const override;
  Result<std::vector<Value>> call(ExportHandle export_handle, std::span<const Value> args,
                                  const CallOptions& options) override;
  Result<std::unique_ptr<Call>> start_call(ExportHandle export_handle,
                                           std::span<const Value> args,
                                           const CallOptions& options) override;
  Result<Value> global(std::string_view export_name) const override;
  uint64_t memory_bytes() const override { return memory_ ? memory_->ByteSize() : 0; }
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
  wi::Instance::Ptr instance_;
  wi::Memory* memory_ = nullptr;
  uint64_t fuel_used_ = 0;
  int suspended_calls_ = 0;  // calls between two slices: their frames live here
};

wi::Value to_interp(StoreState& state, const Value& v) {
  switch (v.type()) {
    case ValType::I32: return wi::Value::Make(static_cast<wi::u32>(v.as_i32()));
    case ValType::I64: return wi::Value::Make(static_cast<wi::u64>(v.as_i64()));
    case ValType::F32: return wi::Value::Make(std::bit_cast<wi::f32>(v.f32_bits()));
    case ValType::F64: return wi::Value::Make(std::bit_cast<wi::f64>(v.f64_bits()));
    case ValType::V128: {
      ::v128 raw;
      auto bytes = v.as_v128();
      std::memcpy(&raw, bytes.bytes.data(), sizeof raw);
      return wi::Value::Make(raw);
    }
    case ValType::FuncRef: {
      auto r = v.as_ref();
      if (r.is_null) return wi::Value::Make(wi::Ref::Null);
      wi::Ref ref(static_cast<size_t>(r.handle));
      return wi::Value::Make(is_function_of(state.store, ref) ? ref : wi::Ref::Null);
    }
    case ValType::ExternRef: {
      auto r = v.as_ref();
      if (r.is_null) return wi::Value::Make(wi::Ref::Null);
      auto foreign = wi::Foreign::New(state.store, reinterpret_cast<void*>(r.handle));
      return wi::Value::Make(foreign.ref());
    }
  }
  return wi::Value::Make(wi::u32{0});
}

Value from_interp(StoreState& state, wabt::Type type, const wi::Value& v) {
  switch (type) {
    case wabt::Type::I32: return Value::i32(static_cast<int32_t>(v.Get<wi::u32>()));
    case wabt::Type::I64: return Value::i64(static_cast<int64_t>(v.Get<wi::u64>()));
    case wabt::Type::F32: return Value::f32_bits(std::bit_cast<uint32_t>(v.Get<wi::f32>()));
    case wabt::Type::F64: return Value::f64_bits(std::bit_cast<uint64_t>(v.Get<wi::f64>()));
    case wabt::Type::V128: {
      V128 out;
      auto raw = v.Get<::v128>();
      std::memcpy(out.bytes.data(), &raw, sizeof raw);
      return Value::v128(out);
    }
    case wabt::Type::FuncRef: {
      auto ref = v.Get<wi::Ref>();
      return Value::funcref(ref == wi::Ref::Null ? RefValue{} : RefValue{false, ref.index});
    }
    default: {
      auto ref = v.Get<wi::Ref>();
      if (ref == wi::Ref::Null) return Value::externref(RefValue{});
      if (state.store.Is<wi::Foreign>(ref)) {
        auto foreign = state.store.UnsafeGet<wi::Foreign>(ref);
        return Value::externref(RefValue{false, reinterpret_cast<uint64_t>(foreign->ptr())});
      }
      return Value::externref(RefValue{false, ref.index});
    }
  }
}

StoreState::StoreState() {
  fuel_global = wi::Global::New(store, wi::GlobalType(wabt::Type::I64, wi::Mutability::Var),
                                wi::Value::Make(wi::s64{0}));
  fuel_func = wi::HostFunc::New(
      store, wi::FuncType({}, {}),
      [this](wi::Thread& thread, const wi::Values&, wi::Values&, wi::Trap::Ptr* out_trap) {
        return on_fuel_exhausted(thread, out_trap);
      });
  grow_func = wi::HostFunc::New(
      store, wi::FuncType({wabt::Type::I32}, {wabt::Type::I32}),
      [this](wi::Thread& thread, const wi::Values& params, wi::Values& results,
             wi::Trap::Ptr*) { return on_memory_grow(thread, params, results); });
}

// memory.grow of memory 0, exactly as the instruction does it, then the
// embedder's hook with the outcome.
wabt::Result StoreState::on_memory_grow(wi::Thread& thread, const wi::Values& params,
                                        wi::Values& results) {
  wi::Instance* caller = thread.GetCallerInstance();
  results.resize(1);
  if (!caller || caller->memories().empty()) {
    results[0] = wi::Value::Make(wi::s32{-1});
    return wabt::Result::Ok;
  }
  auto memory = store.UnsafeGet<wi::Memory>(caller->memories()[0]);
  const uint64_t old_pages = memory->PageSize();
  const uint32_t delta = params[0].Get<wi::u32>();
  const bool granted = wabt::Succeeded(memory->Grow(delta));
  results[0] = granted ? wi::Value::Make(static_cast<wi::u32>(old_pages))
                       : wi::Value::Make(wi::s32{-1});
  InstanceImpl* owner = instance_of(caller);
  if (owner && owner->on_grow_) {
    const auto& limits = memory->type().limits;
    MemoryGrowEvent event;
    event.old_bytes = old_pages * kWasmPageSize;
    event.requested_bytes = (old_pages + delta) * kWasmPageSize;
    event.limit_bytes = (limits.has_max ? limits.max : uint64_t{65536}) * kWasmPageSize;
    event.granted = granted;
    owner->on_grow_(event);
  }
  return wabt::Result::Ok;
}

InstanceImpl* StoreState::instance_of(wi::Instance* instance) const {
  if (instance && instance->host_info()) return static_cast<InstanceImpl*>(instance->host_info());
  return instantiating;
}

std::vector<std::string> StoreState::backtrace(const std::vector<wi::Frame>& frames) const {
  std::vector<std::string> out;
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    if (!it->inst) continue;  // a host function's own frame
    if (out.size() == kMaxBacktrace) {
      out.push_back(fmt::format("... {} more frames", frames.rend() - it));
      break;
    }
    const auto& funcs = it->inst->funcs();
    auto pos = std::find(funcs.begin(), funcs.end(), it->func);
    InstanceImpl* owner = instance_of(it->inst);
    if (pos == funcs.end() || !owner) {
      out.push_back("<unknown function>");
      continue;
    }
    out.push_back(owner->module_->frame_name(static_cast<uint32_t>(pos - funcs.begin())));
  }
  return out;
}

wabt::Result StoreState::raise(wi::Thread& thread, Error error, wi::Trap::Ptr* out_trap) {
  if (error.backtrace.empty()) error.backtrace = backtrace(thread.*member_of(ThreadFramesTag{}));
  *out_trap = wi::Trap::New(store, error.message);
  pending = std::move(error);
  return wabt::Result::Error;
}

Error StoreState::take_error(const wi::Trap::Ptr& trap) {
  if (pending) {
    Error e = std::move(*pending);
    pending.reset();
    return e;
  }
  if (!trap) return Error{ErrorCode::InternalError, "call failed without a trap", {}, 0};
  std::string message = trap->message();
  Error e{classify_trap(message), message, {}, 0};
  e.backtrace = backtrace(trap.get()->*member_of(TrapTraceTag{}));
  return e;
}

class CallImpl final : public Call {
 public:
  CallImpl(std::shared_ptr<InstanceImpl> instance, wi::Func::Ptr func, wi::Values params,
           const CallOptions& options)
      : instance_(std::move(instance)), func_(std::move(func)), params_(std::move(params)) {
    exec_.budget = options.fuel;
    exec_.slice = std::max<uint64_t>(options.slice, 1);
    exec_.fiber = this;
  }

  ~CallImpl() override {
    note_suspended(false);
    if (started_ && !done_) {
      // The fuel host function sees the cancel flag and traps; the guest's
      // frames unwind normally and the fiber ends.
      exec_.cancel = true;
      auto& state = *instance_->state_;
      state.active = &exec_;
      switch_in();
      state.active = nullptr;
      state.pending.reset();
    }
  }

  Result<State> resume() override {
    if (done_) {
      if (error_) return std::unexpected(*error_);
      return State::Finished;
    }
    auto& state = *instance_->state_;
    if (state.active) return detail::resume_inside_call();
    state.active = &exec_;
    if (!started_) {
      started_ = true;
      state.start_slice(exec_);
      fiber_ = ctx::fiber(std::allocator_arg, FiberStack{&state.stacks, &stack_},
                          [this](ctx::fiber&& caller) {
                            FiberSwitch::finish(nullptr, &caller_bottom_, &caller_size_);
                            caller_ = std::move(caller);
                            run();
                            FiberSwitch::start(nullptr, caller_bottom_, caller_size_);
                            tsan_.leave();
                            return std::move(caller_);
                          });
    }
    switch_in();
    state.active = nullptr;
    note_suspended(!done_);
    if (!done_) return State::Suspended;
    if (error_) return std::unexpected(*error_);
    return State::Finished;
  }

  std::span<const Value> results() const override { return results_; }
  uint64_t fuel_used() const override { return exec_.used; }
  void set_slice(uint64_t slice) override { exec_.slice = std::max<uint64_t>(slice, 1); }

  // Called on the fiber by the fuel host function at the end of a slice.
  void suspend() {
    void* fake_stack = nullptr;
    FiberSwitch::start(&fake_stack, caller_bottom_, caller_size_);
    tsan_.leave();
    caller_ = std::move(caller_).resume();
    FiberSwitch::finish(fake_stack, &caller_bottom_, &caller_size_);
  }

 private:
  // Keeps the instance's count of calls suspended between slices.
  void note_suspended(bool suspended) {
    if (suspended == suspended_) return;
    instance_->suspended_calls_ += suspended ? 1 : -1;
    suspended_ = suspended;
  }

  void switch_in() {
    void* fake_stack = nullptr;
    FiberSwitch::start(&fake_stack, static_cast<char*>(stack_.sp) - stack_.size, stack_.size);
    tsan_.enter();
    fiber_ = std::move(fiber_).resume();
    FiberSwitch::finish(fake_stack, nullptr, nullptr);
  }

  void run() {
    auto& state = *instance_->state_;
    std::unique_ptr<wi::Thread> thread;
    if (state.idle_threads.empty()) {
      thread = std::make_unique<wi::Thread>(state.store);
    } else {
      thread = std::move(state.idle_threads.back());
      state.idle_threads.pop_back();
    }
    wi::Trap::Ptr trap;
    wi::Values raw;
    auto result = func_->Call(*thread, params_, raw, &trap);
    // A trap may leave frames behind: only a clean thread is kept.
    if (!wabt::Failed(result) && state.idle_threads.size() < 2) {
      state.idle_threads.push_back(std::move(thread));
    }
    state.account(exec_);
    instance_->fuel_used_ += exec_.used;
    if (wabt::Failed(result)) {
      error_ = state.take_error(trap);
    } else {
      auto converted = instance_->convert_results(*func_, raw);
      if (converted) {
        results_ = std::move(*converted);
      } else {
        error_ = converted.error();
      }
    }
    done_ = true;
  }

  std::shared_ptr<InstanceImpl> instance_;
  wi::Func::Ptr func_;
  wi::Values params_;
  std::vector<Value> results_;
  std::optional<Error> error_;
  ExecState exec_;
  ctx::fiber fiber_;
  ctx::fiber caller_;
  ctx::stack_context stack_;
  TsanFiber tsan_;
  const void* caller_bottom_ = nullptr;
  size_t caller_size_ = 0;
  bool started_ = false;
  bool suspended_ = false;
  bool done_ = false;
};

wabt::Result StoreState::on_fuel_exhausted(wi::Thread& thread, wi::Trap::Ptr* out_trap) {
  ExecState* exec = active;
  if (!exec) {
    return raise(thread,
                 Error{ErrorCode::InternalError, "fuel ran out with no execution on record", {}, 0},
                 out_trap);
  }
  account(*exec);
  if (exec->budget != kUnlimitedFuel && exec->used >= exec->budget) {
    return raise(thread,
                 Error{ErrorCode::TrapOutOfFuel,
                       fmt::format("out of fuel: the call used its budget of {} instructions",
                                   exec->budget),
                       {},
                       0},
                 out_trap);
  }
  if (exec->fiber) {
    exec->fiber->suspend();
    if (exec->cancel) {
      return raise(thread, Error{ErrorCode::CallCancelled, "call cancelled", {}, 0}, out_trap);
    }
  }
  start_slice(*exec);
  return wabt::Result::Ok;
}

Result<ExportHandle> InstanceImpl::resolve(std::string_view export_name) const {
  auto k = detail::function_export(module_->name_, module_->export_index_, module_->exports_,
                                   export_name);
  if (!k) return std::unexpected(k.error());
  return ExportHandle{id(), *k};
}

Result<wi::Func::Ptr> InstanceImpl::prepare(ExportHandle handle, std::span<const Value> args,
                                            wi::Values* params) {
  auto index = export_index(handle);
  if (!index) return std::unexpected(index.error());
  const std::string& name = module_->exports_[*index].name;
  const wi::Ref ref = instance_->exports()[*index];
  if (!state_->store.Is<wi::Func>(ref)) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("export '{}' of module '{}' is not a function in its instance",
                                  name, module_->name_));
  }
  auto func = state_->store.UnsafeGet<wi::Func>(ref);
  AIRSSYS_TRY(detail::check_args(module_->exports_[*index], args));
  params->clear();
  params->reserve(args.size());
  for (const auto& a : args) params->push_back(to_interp(*state_, a));
  return func;
}

Result<std::vector<Value>> InstanceImpl::convert_results(const wi::Func& func,
                                                         const wi::Values& raw) const {
  const auto& types = func.type().results;
  if (raw.size() != types.size()) {
    return make_error(ErrorCode::InternalError, "result count differs from the function type");
  }
  std::vector<Value> out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) out.push_back(from_interp(*state_, types[i], raw[i]));
  return out;
}

Result<std::vector<Value>> InstanceImpl::call(ExportHandle export_handle,
                                              std::span<const Value> args,
                                              const CallOptions& options) {
  auto& state = *state_;
  if (state.active) return detail::reentrant_call();
  wi::Values params;
  auto func = prepare(export_handle, args, &params);
  if (!func) return std::unexpected(func.error());

  ExecState exec;
  exec.budget = options.fuel;
  exec.slice = std::max<uint64_t>(options.slice, 1);
  state.active = &exec;
  state.start_slice(exec);
  if (!state.sync_thread) state.sync_thread = std::make_unique<wi::Thread>(state.store);
  wi::Trap::Ptr trap;
  wi::Values raw;
  auto result = (*func)->Call(*state.sync_thread, params, raw, &trap);
  state.account(exec);
  state.active = nullptr;
  fuel_used_ += exec.used;
  if (wabt::Failed(result)) {
    state.sync_thread.reset();  // a trap may leave frames behind
    return std::unexpected(state.take_error(trap));
  }
  return convert_results(**func, raw);
}

Result<std::unique_ptr<Call>> InstanceImpl::start_call(ExportHandle export_handle,
                                                       std::span<const Value> args,
                                                       const CallOptions& options) {
  wi::Values params;
  auto func = prepare(export_handle, args, &params);
  if (!func) return std::unexpected(func.error());
  return std::make_unique<CallImpl>(shared_from_this(), std::move(*func), std::move(params),
                                    options);
}

Result<Value> InstanceImpl::global(std::string_view export_name) const {
  auto k = detail::global_export(module_->name_, module_->export_index_, module_->exports_,
                                 export_name);
  if (!k) return std::unexpected(k.error());
  const wi::Ref ref = instance_->exports()[*k];
  if (!state_->store.Is<wi::Global>(ref)) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("export '{}' of module '{}' is not a global in its instance",
                                  export_name, module_->name_));
  }
  auto g = state_->store.UnsafeGet<wi::Global>(ref);
  return from_interp(*state_, g->type().type, g->Get());
}

Result<InstanceState> InstanceImpl::save_state() const {
  if (auto ok = module_->state_transferable(); !ok) return std::unexpected(ok.error());
  if (state_->active || suspended_calls_ > 0) {
    return make_error(ErrorCode::CallInProgress, "cannot save an instance's state during a call");
  }
  InstanceState saved;
  if (memory_) saved.memory.assign(memory_->UnsafeData(), memory_->UnsafeData() + memory_->ByteSize());
  const auto& globals = instance_->globals();
  for (uint32_t index : module_->state_globals_) {
    auto g = state_->store.UnsafeGet<wi::Global>(globals[index]);
    saved.globals.push_back(from_interp(*state_, g->type().type, g->Get()));
  }
  return saved;
}

// The other half of save_state, right after an instantiation that skipped
// the start function: the memory grows to the saved size, then both the
// memory and the mutable globals take the saved values.
Result<void> InstanceImpl::restore_state(const InstanceState& saved, uint64_t page_cap) {
  const auto& wanted = module_->state_globals_;
  auto grow = detail::check_saved_state(saved, module_->name_, wanted.size(), memory_ != nullptr,
                                        memory_bytes());
  if (!grow) return std::unexpected(grow.error());
  const auto& globals = instance_->globals();
  for (size_t i = 0; i < wanted.size(); ++i) {
    auto g = state_->store.UnsafeGet<wi::Global>(globals[wanted[i]]);
    if (to_wabt(saved.globals[i].type()) != g->type().type) {
      return make_error(ErrorCode::StateNotTransferable,
                        fmt::format("module '{}': saved global {} is of another type",
                                    module_->name_, wanted[i]));
    }
  }
  if (*grow > 0 && (saved.memory.size() / kWasmPageSize > page_cap ||
                    wabt::Failed(memory_->Grow(static_cast<uint32_t>(*grow))))) {
    return std::unexpected(detail::saved_memory_over_limit(module_->name_, saved.memory.size()));
  }
  if (!saved.memory.empty()) {
    std::memcpy(memory_->UnsafeData(), saved.memory.data(), saved.memory.size());
  }
  for (size_t i = 0; i < wanted.size(); ++i) {
    auto g = state_->store.UnsafeGet<wi::Global>(globals[wanted[i]]);
    g->UnsafeSet(to_interp(*state_, saved.globals[i]));
  }
  return {};
}

class StoreImpl final : public Store {
 public:
  StoreImpl() : state_(std::make_shared<StoreState>()) {}

  Result<std::shared_ptr<Instance>> instantiate(const Module& module, const Linker& linker,
                                                const InstanceOptions& options) override;

 private:
  Result<wi::Ref> resolve(const wi::ImportType& import, const Linker& linker);
  std::shared_ptr<StoreState> state_;
};

Result<wi::Ref> StoreImpl::resolve(const wi::ImportType& import, const Linker& linker) {
  auto& store = state_->store;
  if (import.module == kReservedModule) {
    if (import.name == detail::kFuelGlobalName) return state_->fuel_global.ref();
    if (import.name == detail::kMemoryGrowName) return state_->grow_func.ref();
    return state_->fuel_func.ref();
  }
  if (const Instance* provider = linker.find_instance(import.module)) {
    auto* impl = dynamic_cast<const InstanceImpl*>(provider);
    if (!impl || impl->state_ != state_) {
      return make_error(ErrorCode::UnknownImport,
                        fmt::format("import {}: the instance registered as '{}' belongs to "
                                    "another store",
                                    describe_import(import), import.module));
    }
    // A name the instance does not export may still be a host function
    // defined under the same module name (the spec tests' "spectest").
    if (auto ref = impl->export_ref(import.name)) {
      auto ext = store.UnsafeGet<wi::Extern>(*ref);
      wi::Trap::Ptr trap;
      if (wabt::Failed(ext->Match(store, import, &trap))) {
        return make_error(ErrorCode::IncompatibleImport,
                          fmt::format("import {}: {}", describe_import(import),
                                      trap ? trap->message() : "type mismatch"));
      }
      return *ref;
    }
    if (!linker.find_function(import.module, import.name)) {
      return make_error(ErrorCode::UnknownImport,
                        fmt::format("import {}: module '{}' exports nothing by that name",
                                    describe_import(import), import.module));
    }
  }
  const HostFunction* host = linker.find_function(import.module, import.name);
  auto* wanted = wabt::dyn_cast<wi::FuncType>(import.type.get());
  if (!host || !wanted) {
    return make_error(ErrorCode::UnknownImport,
                      fmt::format("import {} is not provided by the host", describe_import(import)));
  }
  FuncSig wanted_sig = sig_from_wabt(*wanted);
  if (wanted_sig != host->sig) {
    return make_error(ErrorCode::IncompatibleImport,
                      fmt::format("import {}: the host function has type {}",
                                  describe_import(import), host->sig.to_string()));
  }
  StoreState* state = state_.get();
  auto func = wi::HostFunc::New(
      store, *wanted,
      [state, fn = host->fn, sig = host->sig](wi::Thread& thread, const wi::Values& params,
                                              wi::Values& results,
                                              wi::Trap::Ptr* out_trap) -> wabt::Result {
        std::array<Value, 16> arg_buffer;
        std::vector<Value> arg_heap;
        std::span<Value> args;
        if (params.size() <= arg_buffer.size()) {
          args = std::span<Value>(arg_buffer.data(), params.size());
        } else {
          arg_heap.resize(params.size());
          args = arg_heap;
        }
        for (size_t i = 0; i < params.size(); ++i) {
          args[i] = from_interp(*state, to_wabt(sig.params[i]), params[i]);
        }
        std::array<Value, 8> result_buffer;
        std::vector<Value> result_heap;
        std::span<Value> out;
        if (sig.results.size() <= result_buffer.size()) {
          out = std::span<Value>(result_buffer.data(), sig.results.size());
        } else {
          result_heap.resize(sig.results.size());
          out = result_heap;
        }
        for (size_t i = 0; i < sig.results.size(); ++i) out[i] = Value::zero(sig.results[i]);

        InstanceImpl* caller = state->instance_of(thread.GetCallerInstance());
        wi::Memory* memory = caller ? caller->memory_ : nullptr;
        if (!memory && thread.GetCallerInstance() &&
            !thread.GetCallerInstance()->memories().empty()) {
          memory = state->store.UnsafeGet<wi::Memory>(thread.GetCallerInstance()->memories()[0])
                       .get();
        }
        HostCallImpl call(memory, caller ? caller->user_data_ : nullptr);
        auto outcome = fn(call, args, out);
        if (!outcome) return state->raise(thread, std::move(outcome).error(), out_trap);
        results.resize(out.size());
        for (size_t i = 0; i < out.size(); ++i) {
          if (out[i].type() != sig.results[i]) {
            return state->raise(thread,
                                Error{ErrorCode::InternalError,
                                      "host function returned a value of the wrong type",
                                      {},
                                      0},
                                out_trap);
          }
          results[i] = to_interp(*state, out[i]);
        }
        return wabt::Result::Ok;
      });
  return func.ref();
}

Result<std::shared_ptr<Instance>> StoreImpl::instantiate(const Module& module,
                                                         const Linker& linker,
                                                         const InstanceOptions& options) {
  auto* impl_module = dynamic_cast<const ModuleImpl*>(&module);
  if (!impl_module) {
    return make_error(ErrorCode::InvalidArgument, "module was loaded by another engine backend");
  }
  auto& state = *state_;
  if (state.active) {
    return make_error(ErrorCode::CallInProgress, "cannot instantiate while a call is running");
  }

  wi::ModuleDesc desc = impl_module->desc_;
  const uint64_t page_cap = options.limits.max_memory_bytes / kWasmPageSize;
  for (size_t i = 0; i < desc.memories.size(); ++i) {
    auto& limits = desc.memories[i].type.limits;
    if (limits.initial > page_cap) {
      return make_error(
          ErrorCode::LimitExceeded,
          fmt::format("module '{}': memory {} starts at {} pages ({}), over the instance's "
                      "memory limit of {}",
                      impl_module->name_, i, limits.initial,
                      format_byte_size(limits.initial * kWasmPageSize),
                      format_byte_size(options.limits.max_memory_bytes)));
    }
    uint64_t max = limits.has_max ? limits.max : 65536;
    if (page_cap < max) {
      limits.max = page_cap;
      limits.has_max = true;
    }
  }
  // Tables count against the memory limit: each gets its share of the
  // instance's table budget as its maximum, so that table.grow past it
  // returns -1, and tables over the budget are refused before wabt allocates
  // them.
  std::vector<ExternLimits> tables;
  tables.reserve(desc.tables.size());
  for (const auto& table : desc.tables) {
    const auto& limits = table.type.limits;
    tables.push_back({limits.initial, limits.has_max ? std::optional(limits.max) : std::nullopt});
  }
  auto caps = detail::table_caps(impl_module->name_, tables, options.limits);
  if (!caps) return std::unexpected(caps.error());
  for (size_t i = 0; i < desc.tables.size(); ++i) {
    auto& limits = desc.tables[i].type.limits;
    if (!limits.has_max || (*caps)[i] < limits.max) {
      limits.max = (*caps)[i];
      limits.has_max = true;
    }
  }

  // A restored instance continues where its state was saved: the start
  // function ran there already.
  if (options.restore) desc.starts.clear();
  auto wmodule = wi::Module::New(state.store, std::move(desc));
  wi::RefVec imports;
  for (const auto& import : wmodule->import_types()) {
    auto ref = resolve(import, linker);
    if (!ref) return std::unexpected(ref.error());
    imports.push_back(*ref);
  }

  auto instance = std::make_shared<InstanceImpl>(state_, impl_module->shared_from_this(),
                                                 options.user_data, options.on_memory_grow);
  ExecState exec;
  exec.budget = options.start_fuel;
  state.active = &exec;
  state.instantiating = instance.get();
  state.start_slice(exec);
  wi::Trap::Ptr trap;
  auto winstance = wi::Instance::Instantiate(state.store, wmodule.ref(), imports, &trap);
  state.account(exec);
  state.active = nullptr;
  instance->fuel_used_ += exec.used;
  if (!winstance) {
    Error e = state.take_error(trap);  // names frames through `instantiating`
    state.instantiating = nullptr;
    e.message = fmt::format("instantiating '{}': {}", impl_module->name_, e.message);
    return std::unexpected(std::move(e));
  }
  state.instantiating = nullptr;
  winstance->set_host_info(instance.get());
  if (!winstance->memories().empty()) {
    instance->memory_ = state.store.UnsafeGet<wi::Memory>(winstance->memories()[0]).get();
  }
  instance->instance_ = std::move(winstance);
  if (options.restore) {
    if (auto ok = instance->restore_state(*options.restore, page_cap); !ok) {
      return std::unexpected(ok.error());
    }
  }
  return instance;
}

class InterpEngine final : public Engine {
 public:
  Result<std::shared_ptr<const Module>> load(std::span<const uint8_t> bytes,
                                             std::string_view name) override;
  Result<std::shared_ptr<const Module>> load_wat(std::string_view text,
                                                 std::string_view name) override;
  std::unique_ptr<Store> new_store() override { return std::make_unique<StoreImpl>(); }
  Tier tier() const override { return Tier::Interp; }

 private:
  Result<std::shared_ptr<const Module>> load_checked(std::span<const uint8_t> bytes,
                                                     std::string_view name);
  wabt::Features features_ = engine_features();
};

std::string binary_errors(std::string_view name, const wabt::Errors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{}:{:#x}: {}", name, e.loc.offset, e.message);
  }
  return out;
}

Result<std::shared_ptr<const Module>> InterpEngine::load(std::span<const uint8_t> bytes,
                                                         std::string_view name) {
  // wabt reports problems as errors, but a third-party decoder that throws on
  // hostile bytes must not end the host: refuse the module instead.
  try {
    return load_checked(bytes, name);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::MalformedModule,
                      fmt::format("{}: the module could not be decoded ({})", name, e.what()));
  }
}

Result<std::shared_ptr<const Module>> InterpEngine::load_checked(std::span<const uint8_t> bytes,
                                                                 std::string_view name) {
  auto module = std::make_shared<ModuleImpl>();
  module->name_ = std::string(name);
  detail::ModuleNotes notes;
  if (auto ok = detail::check_well_formed(bytes, features_, &notes); !ok) {
    return make_error(ok.error().code, fmt::format("{}:{}", name, ok.error().message));
  }
  module->func_names_ = std::move(notes.func_names);
  module->warnings_ = std::move(notes.warnings);
  wabt::Errors errors;
  wabt::ReadBinaryOptions options(features_, nullptr, /*read_debug_names=*/false,
                                  /*stop_on_first_error=*/true,
                                  /*fail_on_custom_section_error=*/false);
  wi::ModuleDesc original;
  if (wabt::Failed(wi::ReadBinaryInterp(name, bytes.data(), bytes.size(), options, &errors,
                                        &original))) {
    return make_error(ErrorCode::InvalidModule, binary_errors(name, errors));
  }
  for (const auto& import : original.imports) {
    const auto& t = import.type;
    if (t.module == kReservedModule) {
      return make_error(ErrorCode::ReservedImport,
                        fmt::format("{}: import {} uses the module name reserved by the engine",
                                    name, describe_import(t)));
    }
    module->imports_.push_back(ImportInfo{extern_type(*t.type), t.module, t.name});
  }

  auto metered = detail::add_metering(bytes, features_);
  if (!metered) return std::unexpected(metered.error());
  module->fuel_import_index_ = metered->fuel_import_index;
  module->reserved_func_imports_ = metered->reserved_func_imports;
  module->state_hazard_ = std::move(metered->state_hazard);
  if (wabt::Failed(wi::ReadBinaryInterp(name, metered->bytes.data(), metered->bytes.size(),
                                        options, &errors, &module->desc_))) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("metered module failed validation: {}",
                                  binary_errors(name, errors)));
  }
  for (const auto& import : module->desc_.imports) {
    if (import.type.type->kind == wabt::ExternalKind::Global) ++module->global_imports_;
  }
  for (uint32_t i = 0; i < module->desc_.globals.size(); ++i) {
    if (module->desc_.globals[i].type.mut == wi::Mutability::Var) {
      module->state_globals_.push_back(module->global_imports_ + i);
    }
  }
  for (uint32_t i = 0; i < module->desc_.exports.size(); ++i) {
    const auto& t = module->desc_.exports[i].type;
    module->exports_.push_back(ExportInfo{extern_type(*t.type), t.name});
    module->export_index_.emplace(t.name, i);
  }
  return module;
}

Result<std::shared_ptr<const Module>> InterpEngine::load_wat(std::string_view text,
                                                             std::string_view name) {
  auto bytes = detail::wat_to_binary(text, name, features_);
  if (!bytes) return std::unexpected(bytes.error());
  return load(*bytes, name);
}

}  // namespace

std::unique_ptr<Engine> Engine::interpreter() { return std::make_unique<InterpEngine>(); }

}  // namespace airssys::wasm::engine
