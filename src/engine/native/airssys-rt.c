/* The airssys-wasm implementation of the wasm2c runtime interface
 * (wasm-rt.h), built into every natively compiled module. It keeps no state
 * of its own beyond the host's function table: a trap unwinds to the call's
 * own entry point, found through the call's stack (airssys-native.h). */
#define AIRSSYS_NATIVE_MODULE 1
#include <stdarg.h>
#include <sys/mman.h>

#include "airssys-native.h"

#define AIRSSYS_PAGE_BYTES 65536u
#define AIRSSYS_MAX_PAGES 65535u /* the size must fit wasm_rt_memory_t's 32 bits */

const airssys_host_api* airssys_host;
/* Set when something the object needs at bind time could not be had; bind
 * runs outside any call, where there is nothing to trap to. */
int airssys_bind_failed;

void wasm_rt_init(void) {}
bool wasm_rt_is_initialized(void) { return true; }
void wasm_rt_free(void) {}

WASM_RT_NO_RETURN void wasm_rt_trap(wasm_rt_trap_t code) {
  airssys_call_ctx* ctx = airssys_ctx_of(airssys_stack_pointer());
  if (ctx->magic != AIRSSYS_CTX_MAGIC || !ctx->unwind) abort(); /* not on a call's stack */
  AIRSSYS_FUEL_SAVE(ctx);
  ctx->trap = (int32_t)code;
  if (ctx->on_trap) ctx->on_trap(ctx);
  __builtin_longjmp((void**)ctx->unwind, 1);
}

/* Runs fn(a, b) with the fuel in its register; the caller's value of that
 * register is restored on the way out, after a trap too.
 *
 * The unwinding uses the compiler's own __builtin_setjmp/__builtin_longjmp,
 * not the C library's: a call may trap in a later slice, resumed on another
 * thread than the one its entry ran on, and a sanitizer runtime that
 * intercepts longjmp (ThreadSanitizer) looks for the buffer among the
 * current thread's and aborts. The builtins save only what the jump needs
 * (frame, stack, resume address; the compiler keeps every other register of
 * this function in its frame), and r15, a global register variable the
 * compiler leaves alone, is put back by hand. */
int airssys_enter(airssys_thunk fn, void* a, void* b) {
  airssys_call_ctx* ctx = airssys_ctx_of(airssys_stack_pointer());
  if (ctx->magic != AIRSSYS_CTX_MAGIC || ctx->unwind) abort();
#if AIRSSYS_FUEL_REGISTER
  volatile uint64_t caller_r15 = airssys_fuel;
#endif
  void* env[5];
  if (__builtin_setjmp(env)) {
    ctx = airssys_ctx_of(airssys_stack_pointer());
#if AIRSSYS_FUEL_REGISTER
    airssys_fuel = caller_r15;
#endif
    ctx->unwind = NULL;
    return ctx->trap ? ctx->trap : WASM_RT_TRAP_HOST;
  }
  ctx->unwind = &env;
  AIRSSYS_FUEL_LOAD(ctx);
  fn(a, b);
  AIRSSYS_FUEL_SAVE(ctx);
#if AIRSSYS_FUEL_REGISTER
  airssys_fuel = caller_r15;
#endif
  ctx->unwind = NULL;
  return 0;
}

/* Exception handling. The exception lives in the call's state; a throw
 * jumps to the innermost try of the call, whose code compares the tag and
 * restores the try outside it; with no try left it is an uncaught
 * exception, a trap. The fuel stays in its register across the jump. The
 * generated code reads tags from the instance (the host gives them), so no
 * tag is registered here. */
uint32_t wasm_rt_register_tag(uint32_t size) {
  (void)size;
  return 0;
}

void wasm_rt_load_exception(uint32_t tag, uint32_t size, const void* values) {
  airssys_call_ctx* ctx = airssys_ctx_of(airssys_stack_pointer());
  if (size > AIRSSYS_MAX_EXCEPTION_BYTES) wasm_rt_trap(WASM_RT_TRAP_RESOURCE);
  ctx->exception_tag = tag;
  ctx->exception_size = size;
  if (size) memcpy(ctx->exception, values, size);
}

WASM_RT_NO_RETURN void wasm_rt_throw(void) {
  airssys_call_ctx* ctx = airssys_ctx_of(airssys_stack_pointer());
  if (!ctx->try_target) wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
  __builtin_longjmp((void**)ctx->try_target, 1);
}

WASM_RT_UNWIND_TARGET* wasm_rt_get_unwind_target(void) {
  return (WASM_RT_UNWIND_TARGET*)airssys_ctx_of(airssys_stack_pointer())->try_target;
}

void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET* target) {
  airssys_ctx_of(airssys_stack_pointer())->try_target = target;
}

uint32_t wasm_rt_exception_tag(void) {
  return airssys_ctx_of(airssys_stack_pointer())->exception_tag;
}

uint32_t wasm_rt_exception_size(void) {
  return airssys_ctx_of(airssys_stack_pointer())->exception_size;
}

void* wasm_rt_exception(void) { return airssys_ctx_of(airssys_stack_pointer())->exception; }

const char* wasm_rt_strerror(wasm_rt_trap_t trap) {
  switch (trap) {
    case WASM_RT_TRAP_NONE: return "no trap";
    case WASM_RT_TRAP_OOB: return "out of bounds memory access";
    case WASM_RT_TRAP_INT_OVERFLOW: return "integer overflow";
    case WASM_RT_TRAP_DIV_BY_ZERO: return "integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION: return "invalid conversion to integer";
    case WASM_RT_TRAP_UNREACHABLE: return "unreachable executed";
    case WASM_RT_TRAP_CALL_INDIRECT: return "indirect call failed";
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return "uncaught exception";
    case WASM_RT_TRAP_EXHAUSTION: return "call stack exhausted";
    case WASM_RT_TRAP_TABLE_OOB: return "out of bounds table access";
    case WASM_RT_TRAP_UNINIT_ELEM: return "uninitialized table element";
    case WASM_RT_TRAP_SIG_MISMATCH: return "indirect call signature mismatch";
    case WASM_RT_TRAP_HOST: return "host error";
    case WASM_RT_TRAP_RESOURCE: return "out of memory";
  }
  return "trap";
}

/* A module may declare a function type of any length the validator accepts:
 * the types go to the host in one buffer, on the stack when short, else from
 * the heap, and a type the heap cannot hold ends the instantiation with a
 * resource trap, never the process. */
uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  uint8_t small[64];
  uint64_t count = (uint64_t)params + results;
  uint8_t* types = small;
  if (count > sizeof small) {
    types = count <= SIZE_MAX ? (uint8_t*)malloc((size_t)count) : NULL;
    if (!types) {
      airssys_bind_failed = 1;
      return 0;
    }
  }
  va_list args;
  va_start(args, results);
  for (uint64_t i = 0; i < count; ++i) types[i] = (uint8_t)va_arg(args, int);
  va_end(args);
  uint32_t id = airssys_host->register_func_type(params, results, types);
  if (types != small) free(types);
  if (id == 0) airssys_bind_failed = 1;
  return id;
}

#if AIRSSYS_GUARD_PAGES
/* Where the host's fault handler resumes a thread whose load or store of
 * linear memory hit the inaccessible part of a reservation: the trap an
 * explicit check raises, with the fuel still in its register.
 *
 * The handler leaves the faulting function's stack as it was, red zone
 * included: it lowers the stack pointer by AIRSSYS_FAULT_FRAME bytes and
 * puts there the faulting instruction's address plus one, as the return
 * address of a call from it. The unwind rules below say so (the frame's
 * CFA is the faulting function's stack pointer, its return address
 * AIRSSYS_FAULT_FRAME below), so the trap's frames begin in the faulting
 * function, described as at the faulting instruction. The trampoline aligns the
 * stack for the C it calls. */
__attribute__((visibility("hidden"), noreturn, used)) void airssys_trap_oob(void) {
  wasm_rt_trap(WASM_RT_TRAP_OOB);
}
#if !defined(__x86_64__)
#error "guard-page memories need x86-64"
#endif
__asm__(
    ".text\n"
    ".globl airssys_memory_fault\n"
    ".type airssys_memory_fault, @function\n"
    "airssys_memory_fault:\n"
    ".cfi_startproc\n"
    ".cfi_def_cfa %rsp, 136\n"
    ".cfi_offset %rip, -136\n"
    "  pushq %rbp\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %rbp, -144\n"
    "  movq %rsp, %rbp\n"
    ".cfi_def_cfa_register %rbp\n"
    "  andq $-16, %rsp\n"
    "  call airssys_trap_oob\n"
    "  ud2\n"
    ".cfi_endproc\n"
    ".size airssys_memory_fault, .-airssys_memory_fault\n");
#endif

/* Linear memory is one reservation of its maximum size (with guard pages:
 * of all a wasm32 access can reach, from the host); growing makes more of it
 * accessible, so the data never moves. */
void wasm_rt_allocate_memory(wasm_rt_memory_t* memory, uint32_t initial_pages,
                             uint32_t max_pages) {
  airssys_call_ctx* ctx = airssys_ctx_of(airssys_stack_pointer());
  uint32_t cap = ctx->memory_cap_pages < AIRSSYS_MAX_PAGES ? ctx->memory_cap_pages
                                                           : AIRSSYS_MAX_PAGES;
  if (max_pages > cap) max_pages = cap;
  if (initial_pages > max_pages) wasm_rt_trap(WASM_RT_TRAP_RESOURCE); /* refused before */
  memory->data = NULL;
  memory->pages = 0;
  memory->size = 0;
  memory->max_pages = max_pages;
#if AIRSSYS_GUARD_PAGES
  memory->data = airssys_host->reserve_memory();
  if (!memory->data) wasm_rt_trap(WASM_RT_TRAP_RESOURCE);
#else
  size_t reserve = (size_t)max_pages * AIRSSYS_PAGE_BYTES;
  if (reserve) {
    void* base = mmap(NULL, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) wasm_rt_trap(WASM_RT_TRAP_RESOURCE);
    memory->data = (uint8_t*)base;
  }
#endif
  if (!ctx->memory) ctx->memory = memory;
  if (ctx->memories_allocated < ctx->memory_slots) {
    ctx->memories[ctx->memories_allocated++] = memory;
  }
  if (initial_pages && wasm_rt_grow_memory(memory, initial_pages) == UINT32_MAX) {
    wasm_rt_trap(WASM_RT_TRAP_RESOURCE);
  }
}

/* Visible to the host too: memory.grow of any memory reaches the host first
 * (to report it) and grows through this very function. */
__attribute__((visibility("default"))) uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* memory,
                                                                     uint32_t delta) {
  uint32_t old = memory->pages;
  if (delta == 0) return old;
  if ((uint64_t)old + delta > memory->max_pages) return UINT32_MAX;
  if (mprotect(memory->data + (size_t)old * AIRSSYS_PAGE_BYTES,
               (size_t)delta * AIRSSYS_PAGE_BYTES, PROT_READ | PROT_WRITE) != 0) {
    return UINT32_MAX;
  }
  memory->pages = old + delta;
  memory->size = memory->pages * AIRSSYS_PAGE_BYTES;
  return old;
}

void wasm_rt_free_memory(wasm_rt_memory_t* memory) {
#if AIRSSYS_GUARD_PAGES
  if (memory->data) airssys_host->release_memory(memory->data);
#else
  if (memory->data) munmap(memory->data, (size_t)memory->max_pages * AIRSSYS_PAGE_BYTES);
#endif
  memory->data = NULL;
  memory->pages = memory->size = 0;
}

/* The maximum of the next table instantiation allocates: its own, lowered to
 * the share of the instance's table budget the host gave it (tables count
 * against the memory limit). A table the host gave no share, or one larger
 * than its share, is refused (the host refuses those before, so this only
 * fails closed). */
static uint32_t table_max(uint32_t elements, uint32_t max_elements) {
  airssys_call_ctx* ctx = airssys_ctx_of(airssys_stack_pointer());
  if (!ctx->table_caps || ctx->tables_allocated >= ctx->table_count) {
    wasm_rt_trap(WASM_RT_TRAP_RESOURCE);
  }
  uint32_t cap = ctx->table_caps[ctx->tables_allocated++];
  uint32_t max = max_elements < cap ? max_elements : cap;
  if (elements > max) wasm_rt_trap(WASM_RT_TRAP_RESOURCE);
  return max;
}

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t* table, uint32_t elements,
                                    uint32_t max_elements) {
  table->max_size = table_max(elements, max_elements);
  table->size = elements;
  table->data = NULL;
  if (elements) {
    table->data = (wasm_rt_funcref_t*)calloc(elements, sizeof(wasm_rt_funcref_t));
    if (!table->data) wasm_rt_trap(WASM_RT_TRAP_RESOURCE);
  }
}

void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t* table) {
  free(table->data);
  table->data = NULL;
  table->size = 0;
}

void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t* table, uint32_t elements,
                                      uint32_t max_elements) {
  table->max_size = table_max(elements, max_elements);
  table->size = elements;
  table->data = NULL;
  if (elements) {
    table->data = (wasm_rt_externref_t*)calloc(elements, sizeof(wasm_rt_externref_t));
    if (!table->data) wasm_rt_trap(WASM_RT_TRAP_RESOURCE);
  }
}

void wasm_rt_free_externref_table(wasm_rt_externref_table_t* table) {
  free(table->data);
  table->data = NULL;
  table->size = 0;
}

uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t* table, uint32_t delta,
                                    wasm_rt_funcref_t init) {
  uint32_t old = table->size;
  if ((uint64_t)old + delta > table->max_size) return UINT32_MAX;
  if (delta == 0) return old;
  wasm_rt_funcref_t* data =
      (wasm_rt_funcref_t*)realloc(table->data, ((size_t)old + delta) * sizeof *data);
  if (!data) return UINT32_MAX;
  for (uint32_t i = old; i < old + delta; ++i) data[i] = init;
  table->data = data;
  table->size = old + delta;
  return old;
}

uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t* table, uint32_t delta,
                                      wasm_rt_externref_t init) {
  uint32_t old = table->size;
  if ((uint64_t)old + delta > table->max_size) return UINT32_MAX;
  if (delta == 0) return old;
  wasm_rt_externref_t* data =
      (wasm_rt_externref_t*)realloc(table->data, ((size_t)old + delta) * sizeof *data);
  if (!data) return UINT32_MAX;
  for (uint32_t i = old; i < old + delta; ++i) data[i] = init;
  table->data = data;
  table->size = old + delta;
  return old;
}
