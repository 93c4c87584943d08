// The native backend of the engine interface.
//
// A module is validated and described exactly as the interpreter does it,
// rewritten by the same metering pass, and compiled to a shared object
// (native_codegen.hpp) that is loaded from verified bytes. Native code runs
// only on fiber stacks aligned to their size: the runtime inside the object
// finds the running call's state by masking the stack pointer, so a trap
// unwinds to its own call on whatever thread the call runs (airssys-native.h).
// Fuel works as in the interpreter: one fuel cell per store, which the
// metered code decrements, and an imported function that refills the next
// slice, suspends the fiber, or ends the call with the out-of-fuel trap.
// This file holds the instances and their calls (native_backend.hpp).

// GCC 12 reads boost::container::small_vector's move of a trivially copyable
// element type as a memcpy of unbounded size from the inline buffer
// (-Wstringop-overread); the size it copies is the vector's own.
#pragma GCC diagnostic ignored "-Wstringop-overread"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "airssys-native.h"
#include "airssys/wasm/engine/engine.hpp"
#include "backend_support.hpp"
#include "native_backend.hpp"
#include "metering.hpp"
#include "state.hpp"

namespace airssys::wasm::engine::native {

Value from_slot(StoreState& state, ValType type, const airssys_slot& s) {
  switch (type) {
    case ValType::I32: return Value::i32(static_cast<int32_t>(s.i32));
    case ValType::I64: return Value::i64(static_cast<int64_t>(s.i64));
    case ValType::F32: return Value::f32_bits(std::bit_cast<uint32_t>(s.f32));
    case ValType::F64: return Value::f64_bits(std::bit_cast<uint64_t>(s.f64));
    case ValType::FuncRef:
      if (!s.funcref.func) return Value::funcref(RefValue{});
      return Value::funcref(RefValue{false, state.funcref_handle(s.funcref)});
    case ValType::ExternRef:
      if (!s.externref) return Value::externref(RefValue{});
      return Value::externref(RefValue{false, reinterpret_cast<uint64_t>(s.externref) - 1});
    case ValType::V128: break;
  }
  return Value::i32(0);
}

airssys_slot to_slot(StoreState& state, const Value& v) {
  airssys_slot s{};
  switch (v.type()) {
    case ValType::I32: s.i32 = static_cast<uint32_t>(v.as_i32()); break;
    case ValType::I64: s.i64 = static_cast<uint64_t>(v.as_i64()); break;
    case ValType::F32: s.f32 = std::bit_cast<float>(v.f32_bits()); break;
    case ValType::F64: s.f64 = std::bit_cast<double>(v.f64_bits()); break;
    case ValType::FuncRef: {
      auto r = v.as_ref();
      s.funcref = wasm_rt_funcref_null_value;
      if (!r.is_null && r.handle >= 1 && r.handle <= state.funcrefs.size()) {
        s.funcref = state.funcrefs[r.handle - 1];
      }
      break;
    }
    case ValType::ExternRef: {
      auto r = v.as_ref();
      s.externref = r.is_null ? nullptr : reinterpret_cast<void*>(r.handle + 1);
      break;
    }
    case ValType::V128: break;
  }
  return s;
}

namespace {

static_assert(std::is_trivially_destructible_v<Value> && std::is_trivially_copyable_v<Value>);

// Room for N values, constructed only as far as used.
template <size_t N>
class ValueBuffer {
 public:
  ValueBuffer() {}
  std::span<Value> take(size_t count, std::vector<Value>& heap) {
    if (count > N) {
      heap.resize(count);
      return heap;
    }
    return std::span<Value>(values_, count);
  }

 private:
  union {
    Value values_[N];
  };
};

}  // namespace

uint64_t NativeInstance::defined_pages() const {
  uint64_t pages = 0;
  for (size_t k = memory_imports_; k < memories_.size(); ++k) {
    if (memories_[k]) pages += memories_[k]->pages;
  }
  return pages;
}

// memory.grow of memory `index` (the metering rewrite routes it here), exactly
// as the instruction does it, within the limit all the instance's own
// memories share, then the embedder's hook with the outcome, as the
// interpreter does.
int NativeInstance::grow_memory(uint32_t index, airssys_slot* io) {
  wasm_rt_memory_t* memory = index < memories_.size() ? memories_[index] : nullptr;
  const uint32_t delta = io[0].i32;
  if (!memory) {
    io[0].i32 = UINT32_MAX;
    return 0;
  }
  const uint64_t old_pages = memory->pages;
  const bool allowed = detail::grow_allowed(grow_gate_, index >= memory_imports_, old_pages,
                                            defined_pages(), delta, page_cap_);
  const uint32_t result = allowed ? module_->grow()(memory, delta) : UINT32_MAX;
  io[0].i32 = result;
  if (on_grow_) {
    MemoryGrowEvent event;
    event.old_bytes = old_pages * kWasmPageSize;
    event.requested_bytes = (old_pages + delta) * kWasmPageSize;
    event.limit_bytes = uint64_t{memory->max_pages} * kWasmPageSize;
    event.granted = result != UINT32_MAX;
    on_grow_(event);
  }
  return 0;
}

// Calls a HostFn with Values made by `arg(i, type)` and hands each result to
// `result(i, value)`; 0, or 1 with the error recorded for the trap that
// follows. Shared by the indexed dispatch and the direct call of a HostFn of
// numbers, which differ only in how values are stored.
template <class Arg, class Out>
int invoke_host_fn(StoreState& state, ImportTarget& target, Arg arg, Out result) {
  const FuncSig& sig = target.sig;
  // Values for the common small signatures live in uninitialized storage:
  // constructing a full array of them per call cost more than the call.
  ValueBuffer<16> arg_buffer;
  ValueBuffer<8> result_buffer;
  std::vector<Value> arg_heap;
  std::vector<Value> result_heap;
  std::span<Value> args = arg_buffer.take(sig.params.size(), arg_heap);
  std::span<Value> out = result_buffer.take(sig.results.size(), result_heap);
  for (size_t i = 0; i < sig.params.size(); ++i) new (&args[i]) Value(arg(i, sig.params[i]));
  for (size_t i = 0; i < sig.results.size(); ++i) new (&out[i]) Value(Value::zero(sig.results[i]));
  auto outcome = target.fn(target.call, args, out);
  if (!outcome) {
    state.pending = std::move(outcome).error();
    return 1;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].type() != sig.results[i]) {
      state.pending =
          Error::of(ErrorCode::InternalError, "host function returned a value of the wrong type");
      return 1;
    }
    result(i, out[i]);
  }
  return 0;
}

int NativeInstance::dispatch(uint32_t index, airssys_slot* io) {
  StoreState& state = *state_;
  try {
    if (index >= targets_.size()) {
      state.pending = Error::of(ErrorCode::InternalError, "call of an unknown import");
      return 1;
    }
    ImportTarget& target = targets_[index];
    if (target.kind == ImportTarget::Kind::Fuel) return state.on_fuel_exhausted() ? 0 : 1;
    if (target.kind == ImportTarget::Kind::MemoryGrow) return grow_memory(0, io);
    if (target.kind == ImportTarget::Kind::MemoryGrowAt) return grow_memory(io[1].i32, io);
    if (target.kind != ImportTarget::Kind::Host) {
      state.pending = Error::of(ErrorCode::InternalError, "import is not a host function");
      return 1;
    }
    return invoke_host_fn(
        state, target, [&](size_t i, ValType type) { return from_slot(state, type, io[i]); },
        [&](size_t i, const Value& v) { io[i] = to_slot(state, v); });
  } catch (const std::exception& e) {
    state.pending =
        Error::of(ErrorCode::InternalError, fmt::format("host function threw: {}", e.what()));
    return 1;
  } catch (...) {
    state.pending = Error::of(ErrorCode::InternalError, "host function threw");
    return 1;
  }
}

Value from_raw(ValType type, uint64_t raw) {
  switch (type) {
    case ValType::I32: return Value::i32(static_cast<int32_t>(static_cast<uint32_t>(raw)));
    case ValType::I64: return Value::i64(static_cast<int64_t>(raw));
    case ValType::F32: return Value::f32_bits(static_cast<uint32_t>(raw));
    case ValType::F64: return Value::f64_bits(raw);
    default: return Value::zero(type);
  }
}

uint64_t to_raw(const Value& v) {
  switch (v.type()) {
    case ValType::I32: return static_cast<uint32_t>(v.as_i32());
    case ValType::I64: return static_cast<uint64_t>(v.as_i64());
    case ValType::F32: return v.f32_bits();
    case ValType::F64: return v.f64_bits();
    default: return 0;
  }
}

// The compiled code's direct call of a host function given as a HostFn
// whose types are all numbers (airssys_host_fn): Values made from the raw
// slots. It ends as dispatch does: an error is recorded for the trap that
// follows.
int call_host_values(void* t, const uint64_t* raw_args, uint64_t* raw_results) {
  auto& target = *static_cast<ImportTarget*>(t);
  NativeInstance& instance = *target.owner;
  StoreState& state = *instance.state_;
  try {
    return invoke_host_fn(
        state, target, [&](size_t i, ValType type) { return from_raw(type, raw_args[i]); },
        [&](size_t i, const Value& v) { raw_results[i] = to_raw(v); });
  } catch (const std::exception& e) {
    state.pending =
        Error::of(ErrorCode::InternalError, fmt::format("host function threw: {}", e.what()));
    return 1;
  } catch (...) {
    state.pending = Error::of(ErrorCode::InternalError, "host function threw");
    return 1;
  }
}

void raise_error(void* host_instance, void* error) {
  std::unique_ptr<Error> e(static_cast<Error*>(error));
  static_cast<NativeInstance*>(host_instance)->state_->pending = std::move(*e);
}

wasm_rt_memory_t* NativeHostCall::current() const {
  if (owner_->memory_ || !instantiating_) return owner_->memory_;
  // Its start function runs: the memory this instantiation has allocated,
  // which only the running call's state knows yet.
  return airssys_ctx_of(airssys_stack_pointer())->memory;
}

void* NativeHostCall::user_data() const { return owner_->user_data_; }

int call_import(void* host_instance, uint32_t index, airssys_slot* io) {
  return static_cast<NativeInstance*>(host_instance)->dispatch(index, io);
}

Error NativeInstance::trap_error(int trap, std::span<const uintptr_t> frames) {
  StoreState& state = *state_;
  Error e = Error::of(ErrorCode::InternalError, "the call ended without a recorded error");
  if (trap == WASM_RT_TRAP_HOST) {
    if (state.pending) e = std::move(*state.pending);
  } else {
    e = Error::of(trap_code(trap), trap_message(trap));
  }
  state.pending.reset();
  if (e.backtrace.empty()) e.backtrace = module_->backtrace(frames);
  return e;
}

Result<ExportHandle> NativeInstance::resolve(std::string_view export_name) const {
  auto k = detail::function_export(module_->name_, module_->export_index_, module_->exports_,
                                   export_name);
  if (!k) return std::unexpected(k.error());
  return ExportHandle{id(), *k};
}

Result<SlotVector> NativeInstance::prepare(ExportHandle handle, std::span<const Value> args,
                                           uint32_t* index, bool check) {
  auto k = export_index(handle);
  if (!k) return std::unexpected(k.error());
  // The guest's exports come first in the plan, in the order of
  // Module::exports(); the host's own (the start function, the mutable
  // globals) follow and are never called by handle.
  if (*k >= module_->plan_.guest_exports ||
      module_->plan_.exports[*k].kind != ExternKind::Func) {
    return make_error(ErrorCode::InvalidHandle,
                      fmt::format("module '{}' has no function export at index {}",
                                  module_->name_, *k));
  }
  if (check) AIRSSYS_TRY(detail::check_args(module_->exports_[*k], args));
  const FuncSig& sig = module_->plan_.exports[*k].sig;
  // Slots the arguments do not fill are the callee's to write.
  SlotVector io(std::max<size_t>({1, sig.params.size(), sig.results.size()}),
                boost::container::default_init);
  for (size_t i = 0; i < args.size(); ++i) io[i] = to_slot(*state_, args[i]);
  *index = *k;
  return io;
}

Result<std::vector<Value>> NativeInstance::call(ExportHandle export_handle,
                                                std::span<const Value> args,
                                                const CallOptions& options) {
  StoreState& state = *state_;
  if (state.active) return detail::reentrant_call();
  uint32_t index = 0;
  auto io = prepare(export_handle, args, &index);
  if (!io) return std::unexpected(io.error());
  AIRSSYS_TRY(run_export(index, io->data(), options.fuel, options.slice));
  const auto& results = module_->plan_.exports[index].sig.results;
  std::vector<Value> out;
  out.reserve(results.size());
  for (size_t i = 0; i < results.size(); ++i) out.push_back(from_slot(state, results[i], (*io)[i]));
  return out;
}

Result<std::vector<Value>> NativeHostCall::call(Instance& instance, ExportHandle handle,
                                                std::span<const Value> args) {
  auto* target = dynamic_cast<NativeInstance*>(&instance);
  if (!target || !owner_ || target->state_ != owner_->state_) {
    return detail::nested_call_elsewhere();
  }
  return target->call_nested(handle, args);
}

Result<void> NativeHostCall::call_into(Instance& instance, ExportHandle handle,
                                       std::span<const Value> args, std::span<Value> results) {
  auto* target = dynamic_cast<NativeInstance*>(&instance);
  if (!target || !owner_ || target->state_ != owner_->state_) {
    return detail::nested_call_elsewhere();
  }
  return target->call_nested(handle, args, results);
}

// A nested call runs on a fiber of its own, like every call of this tier,
// within the running call's fuel and without suspending: the fiber of a
// suspendable call is set aside while it runs.
Result<std::vector<Value>> NativeInstance::call_nested(ExportHandle handle,
                                                       std::span<const Value> args) {
  SlotVector io;
  AIRSSYS_TRY_ASSIGN(uint32_t index, run_nested(handle, args, io));
  const auto& results = module_->plan_.exports[index].sig.results;
  std::vector<Value> out;
  out.reserve(results.size());
  for (size_t i = 0; i < results.size(); ++i) out.push_back(from_slot(*state_, results[i], io[i]));
  return out;
}

Result<void> NativeInstance::call_nested(ExportHandle handle, std::span<const Value> args,
                                         std::span<Value> results) {
  SlotVector io;
  AIRSSYS_TRY_ASSIGN(uint32_t index, run_nested(handle, args, io));
  const auto& types = module_->plan_.exports[index].sig.results;
  if (types.size() != results.size()) {
    return detail::nested_results_mismatch(types.size(), results.size());
  }
  for (size_t i = 0; i < types.size(); ++i) results[i] = from_slot(*state_, types[i], io[i]);
  return {};
}

Result<uint32_t> NativeInstance::run_nested(ExportHandle handle, std::span<const Value> args,
                                            SlotVector& io) {
  StoreState& state = *state_;
  ExecState* exec = state.active;
  if (!exec) return detail::nested_call_outside_call();
  if (state.nested >= kMaxNestedCalls) return detail::nested_calls_too_deep();
  uint32_t index = 0;
  AIRSSYS_TRY_ASSIGN(io, prepare(handle, args, &index));
  if (exec->lowering) {
    // The running call lowers its arguments on its own stack, outside any
    // guest code: the callee runs right there. Calls it makes in turn (from
    // a host function of its own) take fibers of their own.
    exec->lowering = false;
    ++state.nested;
    std::vector<uintptr_t> frames;
    const int trap = run_on_stack(index, io.data(), frames);
    --state.nested;
    exec->lowering = true;
    if (trap) return std::unexpected(trap_error(trap, frames));
    return index;
  }
  NativeRun* fiber = std::exchange(exec->fiber, nullptr);
  ++state.nested;
  NativeRun run(state, {&module_->desc(), module_->desc().export_calls[index], raw_, io.data()});
  run.switch_in();
  --state.nested;
  exec->fiber = fiber;
  if (run.trap()) return std::unexpected(trap_error(run.trap(), run.trap_frames()));
  return index;
}

// The call's state on this stack keeps the running call's: only where a trap
// unwinds to, and what it records, change for the callee, and are put back.
// Its fuel is the store's, as for any nested call.
int NativeInstance::run_on_stack(uint32_t index, airssys_slot* io,
                                 std::vector<uintptr_t>& frames) {
  airssys_call_ctx* ctx = airssys_ctx_of(airssys_stack_pointer());
  const airssys_module_desc& desc = module_->desc();
  const void* stop = std::exchange(ctx->unwind_stop, reinterpret_cast<const void*>(desc.enter));
  ctx->trap = 0;
  ctx->trap_frame_count = 0;
  const int trap = desc.enter(desc.export_calls[index], raw_, io);
  if (trap) {
    const uint32_t count = std::min(ctx->trap_frame_count, AIRSSYS_MAX_TRAP_FRAMES);
    for (uint32_t k = 0; k < count; ++k) {
      frames.push_back(reinterpret_cast<uintptr_t>(ctx->trap_frames[k]));
    }
  }
  ctx->unwind_stop = stop;
  ctx->trap = 0;
  ctx->trap_frame_count = 0;
  return trap;
}

namespace {
class NativeMemoryView final : public MemoryView {
 public:
  NativeMemoryView(std::shared_ptr<const NativeInstance> owner, wasm_rt_memory_t* memory)
      : owner_(std::move(owner)), memory_(memory) {}
  std::span<uint8_t> bytes() const override {
    return {memory_->data, static_cast<size_t>(memory_->size)};
  }

 private:
  std::shared_ptr<const NativeInstance> owner_;
  wasm_rt_memory_t* memory_;
};
}  // namespace

Result<std::shared_ptr<const MemoryView>> NativeInstance::memory_view(
    std::string_view export_name) const {
  auto it = module_->export_index_.find(export_name);
  if (it == module_->export_index_.end() || it->second >= module_->plan_.guest_exports ||
      module_->plan_.exports[it->second].kind != ExternKind::Memory) {
    return std::unexpected(detail::no_memory_export(module_->name_, export_name));
  }
  auto* memory = static_cast<wasm_rt_memory_t*>(module_->desc().export_pointers[it->second](raw_));
  return std::make_shared<NativeMemoryView>(shared_from_this(), memory);
}

Result<void> NativeInstance::run_export(uint32_t index, airssys_slot* io, uint64_t fuel,
                                        uint64_t slice) {
  StoreState& state = *state_;
  ExecState exec;
  exec.budget = fuel;
  exec.slice = std::max<uint64_t>(slice, 1);
  state.active = &exec;
  state.start_slice(exec);
  NativeRun run(state, {&module_->desc(), module_->desc().export_calls[index], raw_, io});
  run.switch_in();
  state.account(exec);
  state.active = nullptr;
  fuel_used_ += exec.used;
  if (run.trap()) return std::unexpected(trap_error(run.trap(), run.trap_frames()));
  return {};
}

// A cell of a global by its plan export, as a slot of its type.
airssys_slot read_cell(const void* cell, ValType type) {
  airssys_slot s{};
  switch (type) {
    case ValType::I32: std::memcpy(&s.i32, cell, 4); break;
    case ValType::I64: std::memcpy(&s.i64, cell, 8); break;
    case ValType::F32: std::memcpy(&s.f32, cell, 4); break;
    case ValType::F64: std::memcpy(&s.f64, cell, 8); break;
    case ValType::FuncRef: std::memcpy(&s.funcref, cell, sizeof s.funcref); break;
    case ValType::ExternRef: std::memcpy(&s.externref, cell, sizeof s.externref); break;
    case ValType::V128: break;
  }
  return s;
}

Result<InstanceState> NativeInstance::save_state() const {
  AIRSSYS_TRY(module_->state_transferable());
  if (state_->active || suspended_calls_ > 0) {
    return make_error(ErrorCode::CallInProgress, "cannot save an instance's state during a call");
  }
  InstanceState saved;
  if (memory_) saved.memory.assign(memory_->data, memory_->data + memory_->size);
  for (uint32_t k : module_->plan_.state_globals) {
    const ValType type = module_->plan_.exports[k].type;
    saved.globals.push_back(
        from_slot(*state_, type, read_cell(module_->desc().export_pointers[k](raw_), type)));
  }
  return saved;
}

// The other half of save_state, right after an instantiation that skipped
// the start function (see NativeStore::instantiate).
Result<void> NativeInstance::restore_state(const InstanceState& saved) {
  const auto& plan = module_->plan_;
  auto grow = detail::check_saved_state(saved, module_->name_, plan.state_globals.size(),
                                        memory_ != nullptr, memory_bytes());
  if (!grow) return std::unexpected(grow.error());
  for (size_t i = 0; i < saved.globals.size(); ++i) {
    const ValType type = plan.exports[plan.state_globals[i]].type;
    if (saved.globals[i].type() != type || type == ValType::FuncRef ||
        type == ValType::ExternRef || type == ValType::V128) {
      return make_error(ErrorCode::StateNotTransferable,
                        fmt::format("module '{}': saved global {} is of another type",
                                    module_->name_, i));
    }
  }
  if (*grow > 0 &&
      (*grow > UINT32_MAX || module_->grow()(memory_, static_cast<uint32_t>(*grow)) == UINT32_MAX)) {
    return std::unexpected(detail::saved_memory_over_limit(module_->name_, saved.memory.size()));
  }
  if (!saved.memory.empty()) std::memcpy(memory_->data, saved.memory.data(), saved.memory.size());
  for (size_t i = 0; i < saved.globals.size(); ++i) {
    const uint32_t k = plan.state_globals[i];
    airssys_slot s = to_slot(*state_, saved.globals[i]);
    void* cell = module_->desc().export_pointers[k](raw_);
    switch (plan.exports[k].type) {
      case ValType::I32: std::memcpy(cell, &s.i32, 4); break;
      case ValType::I64: std::memcpy(cell, &s.i64, 8); break;
      case ValType::F32: std::memcpy(cell, &s.f32, 4); break;
      case ValType::F64: std::memcpy(cell, &s.f64, 8); break;
      default: break;  // refused above
    }
  }
  return {};
}

class NativeCall final : public detail::CallEnd {
 public:
  NativeCall(std::shared_ptr<NativeInstance> instance, uint32_t index,
             SlotVector io, const CallOptions& options, Instance::ArgumentLowerer lower = {})
      : instance_(std::move(instance)),
        index_(index),
        io_(std::move(io)),
        lower_(std::move(lower)),
        host_call_(instance_.get()),
        run_(*instance_->state_, entry()) {
    exec_.budget = options.fuel;
    exec_.slice = std::max<uint64_t>(options.slice, 1);
    exec_.fiber = &run_;
  }

  ~NativeCall() override {
    note_suspended(false);
    if (run_.started() && !done_) {
      // The fuel function sees the cancel flag and ends the call; its frames
      // unwind and the fiber finishes.
      exec_.cancel = true;
      auto& state = *instance_->state_;
      state.active = &exec_;
      run_.switch_in();
      state.active = nullptr;
      state.pending.reset();
    }
  }

  Result<State> resume() override {
    if (auto end = ended()) return *end;
    auto& state = *instance_->state_;
    if (state.active) return detail::resume_inside_call();
    state.active = &exec_;
    if (!run_.started()) state.start_slice(exec_);
    run_.switch_in();
    state.active = nullptr;
    note_suspended(!run_.done());
    if (!run_.done()) return State::Suspended;
    done_ = true;
    state.account(exec_);
    instance_->fuel_used_ += exec_.used;
    if (run_.trap()) {
      error_ = instance_->trap_error(run_.trap(), run_.trap_frames());
      return std::unexpected(*error_);
    }
    const auto& types = instance_->module_->plan_.exports[index_].sig.results;
    for (size_t i = 0; i < types.size(); ++i) {
      results_.push_back(from_slot(state, types[i], io_[i]));
    }
    return State::Finished;
  }

  uint64_t fuel_used() const override { return exec_.used; }
  void set_slice(uint64_t slice) override { exec_.slice = std::max<uint64_t>(slice, 1); }

 private:
  NativeRun::Entry entry() {
    const auto& desc = instance_->module_->desc();
    NativeRun::Entry e{&desc, desc.export_calls[index_], instance_->raw_, io_.data()};
    if (lower_) {
      e.prologue = [](void* self) { return static_cast<NativeCall*>(self)->lower_args(); };
      e.prologue_arg = this;
    }
    return e;
  }

  // The prologue: the arguments lowered on the call's stack, its nested
  // calls never suspended (no fiber while it runs), then checked and put in
  // the io slots the export reads.
  int lower_args() {
    auto& state = *instance_->state_;
    std::vector<Value> args;
    Result<void> lowered;
    exec_.lowering = true;
    exec_.fiber = nullptr;
    try {
      lowered = lower_(host_call_, args);
    } catch (const std::exception& e) {
      lowered = make_error(ErrorCode::InternalError,
                           fmt::format("lowering the arguments threw: {}", e.what()));
    } catch (...) {
      lowered = make_error(ErrorCode::InternalError, "lowering the arguments threw");
    }
    exec_.fiber = &run_;
    exec_.lowering = false;
    if (lowered) lowered = detail::check_args(instance_->module_->exports_[index_], args);
    if (!lowered) {
      state.pending = std::move(lowered).error();
      return WASM_RT_TRAP_HOST;
    }
    for (size_t i = 0; i < args.size(); ++i) io_[i] = to_slot(state, args[i]);
    return 0;
  }

  std::shared_ptr<NativeInstance> instance_;
  uint32_t index_;
  SlotVector io_;
  Instance::ArgumentLowerer lower_;
  NativeHostCall host_call_;
  ExecState exec_;
  NativeRun run_;
  bool suspended_ = false;

  // Keeps the instance's count of calls suspended between slices.
  void note_suspended(bool suspended) {
    if (suspended == suspended_) return;
    instance_->suspended_calls_ += suspended ? 1 : -1;
    suspended_ = suspended;
  }
};

Result<std::unique_ptr<Call>> NativeInstance::start_call(ExportHandle export_handle,
                                                         std::span<const Value> args,
                                                         const CallOptions& options) {
  uint32_t index = 0;
  auto io = prepare(export_handle, args, &index);
  if (!io) return std::unexpected(io.error());
  return std::make_unique<NativeCall>(shared_from_this(), index, std::move(*io), options);
}

Result<std::unique_ptr<Call>> NativeInstance::start_call(ExportHandle export_handle,
                                                         ArgumentLowerer lower,
                                                         const CallOptions& options) {
  uint32_t index = 0;
  auto io = prepare(export_handle, {}, &index, false);
  if (!io) return std::unexpected(io.error());
  return std::make_unique<NativeCall>(shared_from_this(), index, std::move(*io), options,
                                      std::move(lower));
}

Result<Value> NativeInstance::global(std::string_view export_name) const {
  auto k = detail::global_export(module_->name_, module_->export_index_, module_->exports_,
                                 export_name);
  if (!k) return std::unexpected(k.error());
  ValType type = module_->plan_.exports[*k].type;
  return from_slot(*state_, type, read_cell(module_->desc().export_pointers[*k](raw_), type));
}

}  // namespace airssys::wasm::engine::native
