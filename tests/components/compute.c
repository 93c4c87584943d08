// Pure computation, no imports: the engine's own tests and benchmarks use it.
// The benchmarks also compile it natively, where export_name does not exist.
#include <stdint.h>

#ifdef __wasm__
#define COMPUTE_EXPORT(name) __attribute__((export_name(name)))
#else
#define COMPUTE_EXPORT(name)
#endif

COMPUTE_EXPORT("fib") int32_t fib(int32_t n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

__attribute__((noinline)) static int32_t crash_inner(int32_t v) {
  if (v >= 0) __builtin_trap();
  return v;
}

COMPUTE_EXPORT("crash") int32_t crash(int32_t v) { return crash_inner(v) + 1; }

COMPUTE_EXPORT("sum_to") int64_t sum_to(int64_t n) {
  int64_t s = 0;
  for (int64_t i = 1; i <= n; ++i) s += i;
  return s;
}

COMPUTE_EXPORT("noop") void noop(void) {}
