// The wabt interpreter backend of the engine interface.
//
// A module is validated, rewritten for metering (metering.hpp) and decoded
// once into an immutable ModuleDesc; every instantiation copies that
// description into its store with the instance's limits applied. All
// instances of a store share one fuel global and one fuel host function; the
// store's current execution decides what happens when the fuel runs out:
// refill the next slice, suspend the fiber, or trap. This file holds a
// store's state, its instances and their calls (interp_backend.hpp).

#include <wabt/interp/interp.h>

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
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "airssys/wasm/engine/engine.hpp"
#include "backend_support.hpp"
#include "interp_backend.hpp"
#include "state.hpp"

namespace airssys::wasm::engine::interp {
namespace {

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
      {"uncaught exception", ErrorCode::TrapUncaughtException},
  };
  for (const auto& p : kPrefixes) {
    if (message.starts_with(p.text)) return p.code;
  }
  return ErrorCode::TrapOther;
}

}  // namespace

bool is_function_of(const wi::Store& store, wi::Ref ref) {
  if (ref.index >= (store.*member_of(StoreObjectsTag{})).size()) return false;
  return store.Is<wi::Func>(ref);
}

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
             wi::Trap::Ptr*) {
        return on_memory_grow(thread, 0, params[0].Get<wi::u32>(), results);
      });
  grow_at_func = wi::HostFunc::New(
      store, wi::FuncType({wabt::Type::I32, wabt::Type::I32}, {wabt::Type::I32}),
      [this](wi::Thread& thread, const wi::Values& params, wi::Values& results,
             wi::Trap::Ptr*) {
        return on_memory_grow(thread, params[1].Get<wi::u32>(), params[0].Get<wi::u32>(),
                              results);
      });
}

uint64_t InstanceImpl::defined_pages(const wi::Instance& instance) const {
  uint64_t pages = 0;
  const auto& memories = instance.memories();
  for (size_t k = memory_imports_; k < memories.size(); ++k) {
    pages += state_->store.UnsafeGet<wi::Memory>(memories[k])->PageSize();
  }
  return pages;
}

// memory.grow of memory `memory_index`, exactly as the instruction does it,
// within the limit all the instance's own memories share, then the
// embedder's hook with the outcome.
wabt::Result StoreState::on_memory_grow(wi::Thread& thread, uint32_t memory_index,
                                        uint32_t delta, wi::Values& results) {
  wi::Instance* caller = thread.GetCallerInstance();
  results.resize(1);
  if (!caller || memory_index >= caller->memories().size()) {
    results[0] = wi::Value::Make(wi::s32{-1});
    return wabt::Result::Ok;
  }
  auto memory = store.UnsafeGet<wi::Memory>(caller->memories()[memory_index]);
  const uint64_t old_pages = memory->PageSize();
  InstanceImpl* owner = instance_of(caller);
  const bool allowed =
      !owner || detail::grow_allowed(owner->grow_gate_, memory_index >= owner->memory_imports_,
                                     old_pages, owner->defined_pages(*caller), delta,
                                     owner->page_cap_);
  const bool granted = allowed && wabt::Succeeded(memory->Grow(delta));
  results[0] = granted ? wi::Value::Make(static_cast<wi::u32>(old_pages))
                       : wi::Value::Make(wi::s32{-1});
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
  if (!trap) return Error::of(ErrorCode::InternalError, "call failed without a trap");
  std::string message = trap->message();
  Error e = Error::of(classify_trap(message), message);
  e.backtrace = backtrace(trap.get()->*member_of(TrapTraceTag{}));
  return e;
}

class CallImpl final : public detail::CallEnd {
 public:
  CallImpl(std::shared_ptr<InstanceImpl> instance, wi::Func::Ptr func, wi::Values params,
           const CallOptions& options)
      : instance_(std::move(instance)), func_(std::move(func)), params_(std::move(params)) {
    exec_.budget = options.fuel;
    exec_.slice = std::max<uint64_t>(options.slice, 1);
    exec_.fiber = this;
  }
  // The arguments come from `lower`, run on the fiber when the call begins.
  CallImpl(std::shared_ptr<InstanceImpl> instance, wi::Func::Ptr func, ExportHandle handle,
           Instance::ArgumentLowerer lower, const CallOptions& options)
      : CallImpl(std::move(instance), std::move(func), {}, options) {
    handle_ = handle;
    lower_ = std::move(lower);
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
    if (auto end = ended()) return *end;
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
    return *ended();
  }

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

  // The arguments lowered inside the call: its nested calls are the
  // interpreter's nested calls (a thread of their own each, never
  // suspended: no fiber while `lower` runs), then checked.
  Result<void> lower_args() {
    auto& state = *instance_->state_;
    HostCallImpl call(&state, instance_->memory_, instance_->user_data_);
    std::vector<Value> args;
    Result<void> lowered;
    exec_.fiber = nullptr;
    try {
      lowered = lower_(call, args);
    } catch (const std::exception& e) {
      lowered = make_error(ErrorCode::InternalError,
                           fmt::format("lowering the arguments threw: {}", e.what()));
    } catch (...) {
      lowered = make_error(ErrorCode::InternalError, "lowering the arguments threw");
    }
    exec_.fiber = this;
    AIRSSYS_TRY(lowered);
    AIRSSYS_TRY(instance_->prepare(handle_, args, &params_));
    return {};
  }

  void run() {
    auto& state = *instance_->state_;
    if (lower_) {
      if (auto lowered = lower_args(); !lowered) {
        state.account(exec_);
        instance_->fuel_used_ += exec_.used;
        error_ = std::move(lowered).error();
        done_ = true;
        return;
      }
    }
    std::unique_ptr<wi::Thread> thread = state.take_thread();
    wi::Trap::Ptr trap;
    wi::Values raw;
    auto result = func_->Call(*thread, params_, raw, &trap);
    if (!wabt::Failed(result)) state.give_back(std::move(thread));
    state.account(exec_);
    instance_->fuel_used_ += exec_.used;
    if (wabt::Failed(result)) {
      error_ = state.take_error(trap);
    } else {
      auto converted = instance_->convert_results(*func_, raw);
      if (converted) {
        results_.assign(converted->begin(), converted->end());
      } else {
        error_ = converted.error();
      }
    }
    done_ = true;
  }

  std::shared_ptr<InstanceImpl> instance_;
  wi::Func::Ptr func_;
  wi::Values params_;
  ExportHandle handle_{};
  Instance::ArgumentLowerer lower_;
  ExecState exec_;
  ctx::fiber fiber_;
  ctx::fiber caller_;
  ctx::stack_context stack_;
  TsanFiber tsan_;
  const void* caller_bottom_ = nullptr;
  size_t caller_size_ = 0;
  bool started_ = false;
  bool suspended_ = false;
};

wabt::Result StoreState::on_fuel_exhausted(wi::Thread& thread, wi::Trap::Ptr* out_trap) {
  ExecState* exec = active;
  if (!exec) {
    return raise(thread,
                 Error::of(ErrorCode::InternalError, "fuel ran out with no execution on record"),
                 out_trap);
  }
  account(*exec);
  if (exec->budget != kUnlimitedFuel && exec->used >= exec->budget) {
    return raise(thread,
                 Error::of(ErrorCode::TrapOutOfFuel,
                           fmt::format("out of fuel: the call used its budget of {} instructions",
                                       exec->budget)),
                 out_trap);
  }
  if (exec->fiber) {
    exec->fiber->suspend();
    if (exec->cancel) {
      return raise(thread, Error::of(ErrorCode::CallCancelled, "call cancelled"), out_trap);
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

Result<std::unique_ptr<Call>> InstanceImpl::start_call(ExportHandle export_handle,
                                                       ArgumentLowerer lower,
                                                       const CallOptions& options) {
  auto index = export_index(export_handle);
  if (!index) return std::unexpected(index.error());
  const wi::Ref ref = instance_->exports()[*index];
  if (!state_->store.Is<wi::Func>(ref)) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("export '{}' of module '{}' is not a function in its instance",
                                  module_->exports_[*index].name, module_->name_));
  }
  return std::make_unique<CallImpl>(shared_from_this(), state_->store.UnsafeGet<wi::Func>(ref),
                                    export_handle, std::move(lower), options);
}

Result<std::vector<Value>> HostCallImpl::call(Instance& instance, ExportHandle handle,
                                              std::span<const Value> args) {
  auto* impl = dynamic_cast<InstanceImpl*>(&instance);
  if (!impl || impl->state_.get() != state_) return detail::nested_call_elsewhere();
  return impl->call_nested(handle, args);
}

Result<void> HostCallImpl::call_into(Instance& instance, ExportHandle handle,
                                     std::span<const Value> args, std::span<Value> results) {
  AIRSSYS_TRY_ASSIGN(auto values, call(instance, handle, args));
  if (values.size() != results.size()) {
    return detail::nested_results_mismatch(values.size(), results.size());
  }
  std::copy(values.begin(), values.end(), results.begin());
  return {};
}

// A nested call runs on an interpreter thread of its own (a wabt thread runs
// until its frame stack is empty, so the caller's thread cannot take a second
// call), within the running call's fuel and without suspending: the fiber of
// a suspendable call is set aside while it runs.
Result<std::vector<Value>> InstanceImpl::call_nested(ExportHandle handle,
                                                     std::span<const Value> args) {
  auto& state = *state_;
  ExecState* exec = state.active;
  if (!exec) return detail::nested_call_outside_call();
  if (state.nested >= kMaxNestedCalls) return detail::nested_calls_too_deep();
  wi::Values params;
  auto func = prepare(handle, args, &params);
  if (!func) return std::unexpected(func.error());
  CallImpl* fiber = std::exchange(exec->fiber, nullptr);
  ++state.nested;
  std::unique_ptr<wi::Thread> thread = state.take_thread();
  wi::Trap::Ptr trap;
  wi::Values raw;
  auto result = (*func)->Call(*thread, params, raw, &trap);
  --state.nested;
  exec->fiber = fiber;
  if (wabt::Failed(result)) return std::unexpected(state.take_error(trap));
  state.give_back(std::move(thread));
  return convert_results(**func, raw);
}

namespace {
class InterpMemoryView final : public MemoryView {
 public:
  InterpMemoryView(std::shared_ptr<const InstanceImpl> owner, wi::Memory::Ptr memory)
      : owner_(std::move(owner)), memory_(std::move(memory)) {}
  std::span<uint8_t> bytes() const override {
    return {memory_->UnsafeData(), static_cast<size_t>(memory_->ByteSize())};
  }

 private:
  std::shared_ptr<const InstanceImpl> owner_;
  wi::Memory::Ptr memory_;
};
}  // namespace

Result<std::shared_ptr<const MemoryView>> InstanceImpl::memory_view(
    std::string_view export_name) const {
  auto ref = export_ref(export_name);
  if (!ref || !state_->store.Is<wi::Memory>(*ref)) {
    return std::unexpected(detail::no_memory_export(module_->name_, export_name));
  }
  return std::make_shared<InterpMemoryView>(shared_from_this(),
                                            state_->store.UnsafeGet<wi::Memory>(*ref));
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
  AIRSSYS_TRY(module_->state_transferable());
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

}  // namespace airssys::wasm::engine::interp
