// The native tier's fiber runs: native code on a stack of its own, aligned to
// its size so that the runtime finds the call's state by masking the stack
// pointer; the trap's frames recorded before it unwinds; the fuel running out
// between slices.

#include <unwind.h>

#include <algorithm>
#include <boost/context/fiber.hpp>

#include <fmt/format.h>

#include "airssys-native.h"
#include "airssys/wasm/engine/engine.hpp"
#include "backend_support.hpp"
#include "native_backend.hpp"
#include "native_guard.hpp"
#include "state.hpp"

namespace airssys::wasm::engine::native {
namespace {

struct PooledStack {
  StackPool* pool;
  char** base_out;
  ctx::stack_context allocate() {
    char* base = pool->take();
    *base_out = base;
    ctx::stack_context sc;
    sc.sp = base + kStackSize;
    sc.size = kStackSize - 2 * kPage;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) noexcept {
    pool->give_back(static_cast<char*>(sc.sp) - kStackSize);
  }
};

// A trap's frames, recorded on the call's stack before it unwinds: the
// return addresses from the trap up to the call's entry (unwind_stop),
// through the unwind tables the C compiler writes for the object.
_Unwind_Reason_Code record_trap_frame(_Unwind_Context* context, void* arg) {
  auto* ctx = static_cast<airssys_call_ctx*>(arg);
  const uintptr_t ip = _Unwind_GetIP(context);
  if (ip == 0) return _URC_END_OF_STACK;
  if (_Unwind_FindEnclosingFunction(reinterpret_cast<void*>(ip)) == ctx->unwind_stop) {
    return _URC_END_OF_STACK;
  }
  if (ctx->trap_frame_count == AIRSSYS_MAX_TRAP_FRAMES) return _URC_END_OF_STACK;
  ctx->trap_frames[ctx->trap_frame_count++] = reinterpret_cast<void*>(ip);
  return _URC_NO_REASON;
}

void record_trap_frames(airssys_call_ctx* ctx) {
  ctx->trap_frame_count = 0;
  _Unwind_Backtrace(record_trap_frame, ctx);
}

}  // namespace

ErrorCode trap_code(int trap) {
  switch (trap) {
    case WASM_RT_TRAP_OOB: return ErrorCode::TrapMemoryOutOfBounds;
    case WASM_RT_TRAP_INT_OVERFLOW: return ErrorCode::TrapIntegerOverflow;
    case WASM_RT_TRAP_DIV_BY_ZERO: return ErrorCode::TrapDivideByZero;
    case WASM_RT_TRAP_INVALID_CONVERSION: return ErrorCode::TrapInvalidConversion;
    case WASM_RT_TRAP_UNREACHABLE: return ErrorCode::TrapUnreachable;
    case WASM_RT_TRAP_CALL_INDIRECT: return ErrorCode::TrapIndirectCallMismatch;
    case WASM_RT_TRAP_EXHAUSTION: return ErrorCode::TrapCallStackExhausted;
    case WASM_RT_TRAP_TABLE_OOB: return ErrorCode::TrapTableOutOfBounds;
    case WASM_RT_TRAP_UNINIT_ELEM: return ErrorCode::TrapUninitializedElement;
    case WASM_RT_TRAP_SIG_MISMATCH: return ErrorCode::TrapIndirectCallMismatch;
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return ErrorCode::TrapUncaughtException;
    default: return ErrorCode::TrapOther;
  }
}

const char* trap_message(int trap) {
  switch (trap) {
    case WASM_RT_TRAP_OOB: return "out of bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW: return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO: return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE: return "unreachable executed";
    case WASM_RT_TRAP_CALL_INDIRECT: return "indirect call signature mismatch";
    case WASM_RT_TRAP_EXHAUSTION: return "call stack exhausted";
    case WASM_RT_TRAP_TABLE_OOB: return "out of bounds table access";
    case WASM_RT_TRAP_UNINIT_ELEM: return "uninitialized table element";
    case WASM_RT_TRAP_SIG_MISMATCH: return "indirect call signature mismatch";
    case WASM_RT_TRAP_RESOURCE: return "memory for the instance could not be allocated";
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return "uncaught exception";
    default: return "trap";
  }
}

void NativeRun::switch_in() {
  if (!started_) {
    started_ = true;
    fiber_ = ctx::fiber(std::allocator_arg, PooledStack{&state_.stacks, &base_},
                        [this](ctx::fiber&& caller) {
                          FiberSwitch::finish(nullptr, &caller_bottom_, &caller_size_);
                          caller_ = std::move(caller);
                          body();
                          FiberSwitch::start(nullptr, caller_bottom_, caller_size_);
                          return std::move(caller_);
                        });
  }
  // A fault of guard-page code is handled on this thread's own signal stack.
  ensure_alt_stack();
  void* fake_stack = nullptr;
  FiberSwitch::start(&fake_stack, base_ + 2 * kPage, kStackSize - 2 * kPage);
  fiber_ = std::move(fiber_).resume();
  FiberSwitch::finish(fake_stack, nullptr, nullptr);
}

void NativeRun::suspend() {
  void* fake_stack = nullptr;
  FiberSwitch::start(&fake_stack, caller_bottom_, caller_size_);
  caller_ = std::move(caller_).resume();
  FiberSwitch::finish(fake_stack, &caller_bottom_, &caller_size_);
}

void NativeRun::body() {
  auto* call_ctx = reinterpret_cast<airssys_call_ctx*>(base_ + AIRSSYS_CTX_OFFSET);
  // Every field but the trap's frames and the exception's bytes, which their
  // counts guard: zeroing those too cost every call a 700-byte memset.
  call_ctx->trap = 0;
  call_ctx->unwind = nullptr;
  call_ctx->tables_allocated = 0;
  call_ctx->memory = nullptr;
  call_ctx->memories_allocated = 0;
  call_ctx->trap_frame_count = 0;
  call_ctx->try_target = nullptr;
  call_ctx->exception_tag = 0;
  call_ctx->exception_size = 0;
  call_ctx->magic = AIRSSYS_CTX_MAGIC;
  call_ctx->fuel_cell = &state_.fuel;
  call_ctx->memory_cap_pages = entry_.memory_cap_pages;
  call_ctx->table_caps = entry_.table_caps.data();
  call_ctx->table_count = static_cast<uint32_t>(entry_.table_caps.size());
  call_ctx->memories = entry_.memories.data();
  call_ctx->memory_slots = static_cast<uint32_t>(entry_.memories.size());
  call_ctx->on_trap = record_trap_frames;
  call_ctx->unwind_stop = reinterpret_cast<const void*>(entry_.desc->enter);
  if (entry_.prologue) {
    trap_ = entry_.prologue(entry_.prologue_arg);
    call_ctx->trap = 0;
    call_ctx->trap_frame_count = 0;
    call_ctx->unwind_stop = reinterpret_cast<const void*>(entry_.desc->enter);
  }
  if (!trap_) trap_ = entry_.desc->enter(entry_.fn, entry_.a, entry_.b);
  if (trap_) {
    const uint32_t count = std::min(call_ctx->trap_frame_count, AIRSSYS_MAX_TRAP_FRAMES);
    for (uint32_t k = 0; k < count; ++k) {
      trap_frames_.push_back(reinterpret_cast<uintptr_t>(call_ctx->trap_frames[k]));
    }
  }
  memory_ = call_ctx->memory;
  call_ctx->magic = 0;
  done_ = true;
}

bool StoreState::on_fuel_exhausted() {
  ExecState* exec = active;
  if (!exec) {
    pending = Error::of(ErrorCode::InternalError, "fuel ran out with no execution on record");
    return false;
  }
  account(*exec);
  if (exec->budget != kUnlimitedFuel && exec->used >= exec->budget) {
    pending = Error::of(
        ErrorCode::TrapOutOfFuel,
        fmt::format("out of fuel: the call used its budget of {} instructions", exec->budget));
    return false;
  }
  if (exec->fiber) {
    exec->fiber->suspend();
    if (exec->cancel) {
      pending = Error::of(ErrorCode::CallCancelled, "call cancelled");
      return false;
    }
  }
  start_slice(*exec);
  return true;
}

}  // namespace airssys::wasm::engine::native
