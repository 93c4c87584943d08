/* The contract between the airssys-wasm host and a natively compiled module:
 * the layout of a call's stack, the state a call keeps there, and the two
 * tables the host and the module hand each other. Shared by the host (C++)
 * and the module's runtime (C); any change here must change
 * AIRSSYS_NATIVE_ABI, which is part of every cache key.
 */
#ifndef AIRSSYS_NATIVE_H_
#define AIRSSYS_NATIVE_H_

#include <stdint.h>

#include "wasm-rt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AIRSSYS_NATIVE_ABI 8u

/* Native code runs only on fiber stacks of AIRSSYS_STACK_SIZE bytes aligned
 * to their size. The lowest page is a guard, the next holds the call's state
 * (airssys_call_ctx), the stack grows down from the top. Masking the stack
 * pointer therefore finds both the call's state and the room left. */
#define AIRSSYS_STACK_SIZE (8u << 20)
#define AIRSSYS_STACK_PAGE 4096u
#define AIRSSYS_CTX_OFFSET AIRSSYS_STACK_PAGE
/* Guest code traps with "call stack exhausted" when less than this is left;
 * host functions called from the guest run within it. */
#define AIRSSYS_STACK_RESERVE (512u << 10)
#define AIRSSYS_CTX_MAGIC 0x41575343u
/* The most return addresses a trap records for its backtrace. */
#define AIRSSYS_MAX_TRAP_FRAMES 48u
/* The most bytes an exception's values take (a tag's parameters; the
 * native tier refuses tags with more when it compiles). */
#define AIRSSYS_MAX_EXCEPTION_BYTES 256u

typedef struct airssys_call_ctx {
  uint32_t magic;
  int64_t* fuel_cell;         /* the store's fuel cell */
  int32_t trap;               /* the wasm_rt_trap_t that ended the call */
  void* unwind;               /* jmp_buf* of the innermost airssys_enter */
  uint32_t memory_cap_pages;  /* limits applied to what instantiation allocates */
  /* The most elements each table instantiation allocates may hold, in the
   * order it allocates them (the module's own tables, by index). */
  const uint32_t* table_caps;
  uint32_t table_count;
  uint32_t tables_allocated;  /* how many of them instantiation allocated so far */
  wasm_rt_memory_t* memory;   /* the memory instantiation allocated, if any */
  /* Where instantiation records each memory it allocates (the module's own
   * memories, by index), for memory.grow of any memory through the host. */
  wasm_rt_memory_t** memories;
  uint32_t memory_slots;
  uint32_t memories_allocated;
  /* Called by a trap, on the call's stack before it unwinds, to record the
   * return addresses of the frames (innermost first) in trap_frames. */
  void (*on_trap)(struct airssys_call_ctx*);
  const void* unwind_stop;    /* the frames end at this function's (enter) */
  uint32_t trap_frame_count;
  void* trap_frames[AIRSSYS_MAX_TRAP_FRAMES];
  /* Exception handling: the innermost try of the call (a buffer of
   * __builtin_setjmp, NULL outside any), and the exception being thrown or
   * caught, its tag identity and values. */
  void* try_target;
  uint32_t exception_tag;
  uint32_t exception_size;
  uint64_t exception[AIRSSYS_MAX_EXCEPTION_BYTES / 8];
} airssys_call_ctx;

/* In compiled modules on x86-64 the metering's fuel counter lives in r15
 * while native code runs (a GCC global register variable; r15 is
 * callee-saved, so host code called from the module keeps it). It is written
 * back to the store's cell around the fuel function, at a trap and when the
 * call returns. */
#if defined(AIRSSYS_NATIVE_MODULE) && defined(__x86_64__)
#define AIRSSYS_FUEL_REGISTER 1
register uint64_t airssys_fuel __asm__("r15");
#define AIRSSYS_FUEL_SAVE(ctx) (*(ctx)->fuel_cell = (int64_t)airssys_fuel)
#define AIRSSYS_FUEL_LOAD(ctx) (airssys_fuel = (uint64_t)*(ctx)->fuel_cell)
#else
#define AIRSSYS_FUEL_REGISTER 0
#define AIRSSYS_FUEL_SAVE(ctx) ((void)0)
#define AIRSSYS_FUEL_LOAD(ctx) ((void)0)
#endif

static inline uintptr_t airssys_stack_pointer(void) {
  uintptr_t sp;
#if defined(__x86_64__)
  __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
  __asm__ volatile("mov %0, sp" : "=r"(sp));
#else
  sp = (uintptr_t)__builtin_frame_address(0);
#endif
  return sp;
}

static inline airssys_call_ctx* airssys_ctx_of(uintptr_t sp) {
  return (airssys_call_ctx*)((sp & ~(uintptr_t)(AIRSSYS_STACK_SIZE - 1)) + AIRSSYS_CTX_OFFSET);
}

/* A guard-page memory (AIRSSYS_GUARD_PAGES): one reservation of all that a
 * wasm32 access can reach, (u64)address + offset + size (8 GiB and a few
 * bytes), and a wasm page more; only the memory's pages are accessible. */
#define AIRSSYS_GUARD_RESERVE ((8ull << 30) + 65536ull)
/* How far below a faulting instruction's stack pointer the fault handler
 * puts the return address of the call into airssys_memory_fault (past the
 * 128-byte red zone; the trampoline's unwind rules say the same). */
#define AIRSSYS_FAULT_FRAME 136u

/* One value crossing between the host and native code. */
typedef union {
  uint32_t i32;
  uint64_t i64;
  float f32;
  double f64;
  wasm_rt_funcref_t funcref;
  wasm_rt_externref_t externref;
} airssys_slot;

/* Host functions whose types are all numbers are called directly by the
 * compiled code, in one of two ways:
 * - typed (at most one result): R entry(void* call, void** error, args...),
 *   the arguments in registers; a non-NULL *error afterwards is an error the
 *   host hands to raise_error, and the caller traps;
 * - otherwise airssys_host_fn, each value in a 64-bit slot (f32 and f64 by
 *   bit pattern); not 0: the host has recorded an error, the caller traps. */
typedef int (*airssys_host_fn)(void* target, const uint64_t* args, uint64_t* results);

typedef struct airssys_host_api {
  /* Interns a function type: one id per signature in the whole process. */
  uint32_t (*register_func_type)(uint32_t params, uint32_t results, const uint8_t* types);
  /* Calls import `index` of the instance; 0 on success, else the host has
   * recorded an error for the call and the caller traps. */
  int (*call_import)(void* host_instance, uint32_t index, airssys_slot* io);
  /* Records the error a typed host function returned, for the trap that
   * follows. */
  void (*raise_error)(void* host_instance, void* error);
  /* Guard-page objects: a reservation of AIRSSYS_GUARD_RESERVE bytes, all
   * inaccessible, that the host's fault handler knows as a linear memory
   * (NULL when none can be had), and its release. */
  uint8_t* (*reserve_memory)(void);
  void (*release_memory)(uint8_t* base);
} airssys_host_api;

typedef void (*airssys_thunk)(void*, void*);

/* Code of a function the module defines, by its index among them: its own
 * entry (glue 0), and the export glue that calls it (glue 1). */
typedef struct airssys_code_entry {
  const void* address;
  uint32_t function;
  uint32_t glue;
} airssys_code_entry;
typedef void* (*airssys_pointer_fn)(void*);

/* What every compiled module exports, under the symbol "airssys_module". */
typedef struct airssys_module_desc {
  uint32_t abi;
  uint32_t instance_size;
  uint32_t import_count;
  uint32_t export_count;
  /* Sets up the object once after loading; non-zero when it cannot be used
   * (a function type the host could not register). */
  int (*bind)(const airssys_host_api*);
  airssys_thunk instantiate;  /* (instance, imports) */
  void (*free_instance)(void*);
  /* Runs fn(a, b) and returns 0, or the trap that ended it. */
  int (*enter)(airssys_thunk fn, void* a, void* b);
  const airssys_thunk* export_calls;                 /* (instance, io); functions */
  const wasm_rt_function_ptr_t* export_functions;    /* typed entry; functions */
  const airssys_pointer_fn* export_pointers;         /* globals, memories, tables */
  /* Where the functions the module defines begin (the host maps a trap's
   * frames to functions with them); the list ends with a NULL address. */
  const airssys_code_entry* code;
  /* The exception tags the module defines: each instance gets an identity
   * for each (airssys_imports.tags), so that every instantiation defines
   * tags of its own. */
  uint32_t tag_count;
} airssys_module_desc;

/* The imports a compiled module's instance sees: its own address first, so a
 * pointer to the instance's field holding it leads to it too. */
typedef struct airssys_imports {
  struct airssys_imports* self;
  void* host_instance;
  /* The identities of the exception tags the instance defines, by index
   * among them (an imported tag's item points at its exporter's). */
  uint32_t* tags;
  /* By import index. A function of another instance: its typed entry and
   * the instance it closes over. A host function whose types are all
   * numbers: instance NULL, an airssys_host_fn and its target, and when the
   * host has one, the typed entry and its call (others go through
   * airssys_host_api.call_import). A global, memory or table: where it
   * lives. */
  struct {
    void* pointer;
    void* instance;
    void* host;
    void* typed;
    void* call;
  } items[];
} airssys_imports;

#ifdef __cplusplus
}
#endif

#endif /* AIRSSYS_NATIVE_H_ */
