// The native-tier benchmark's three kernels, compiled to wasm (a reactor with
// no imports but bench.inc) and natively into bench_native from this file.
#include <stdint.h>

#ifdef __wasm__
#define KERNEL_EXPORT(name) __attribute__((export_name(name)))
__attribute__((import_module("bench"), import_name("inc"))) int32_t bench_inc(int32_t v);
#else
#define KERNEL_EXPORT(name)
int32_t bench_inc(int32_t v);  // defined by the benchmark
#endif

// Call-bound: recursion.
KERNEL_EXPORT("k_fib") int32_t k_fib(int32_t n) { return n < 2 ? n : k_fib(n - 1) + k_fib(n - 2); }

// Memory-bound: sorts n pseudo-random 32-bit integers (n at most 1 Mi) with a
// bottom-up merge sort between two arrays, and returns a checksum of the result.
#define KERNEL_MAX (1 << 20)
static uint32_t data_a[KERNEL_MAX];
static uint32_t data_b[KERNEL_MAX];

KERNEL_EXPORT("k_sort") uint32_t k_sort(int32_t n) {
  if (n < 0 || n > KERNEL_MAX) return 0;
  uint32_t x = 2463534242u;
  for (int32_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    data_a[i] = x;
  }
  uint32_t* from = data_a;
  uint32_t* to = data_b;
  for (int32_t width = 1; width < n; width *= 2) {
    for (int32_t lo = 0; lo < n; lo += 2 * width) {
      int32_t mid = lo + width < n ? lo + width : n;
      int32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
      int32_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) to[k++] = from[i] <= from[j] ? from[i++] : from[j++];
      while (i < mid) to[k++] = from[i++];
      while (j < hi) to[k++] = from[j++];
    }
    uint32_t* t = from;
    from = to;
    to = t;
  }
  uint32_t sum = 0;
  for (int32_t i = 0; i < n; ++i) sum = sum * 31u + from[i];
  return sum;
}

// Host-call-bound: n calls of the host function bench.inc.
KERNEL_EXPORT("k_calls") int32_t k_calls(int32_t n) {
  int32_t acc = 0;
  for (int32_t i = 0; i < n; ++i) acc = bench_inc(acc);
  return acc;
}
