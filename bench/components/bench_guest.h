/*
 * bench_guest.h - what the two benchmark components share: their memory
 * exports, the clock, and the records they write to stdout for the host
 * (bench_protocol.h).
 */
#ifndef BENCH_GUEST_H
#define BENCH_GUEST_H

#include <stdint.h>
#include <wasi/api.h>

#include "airssys.h"
#include "bench_protocol.h"

/* The memory exports. By default the SDK's, on wasi-libc's malloc. Built with
 * -DBENCH_RECEIVE_BUFFER, a component hands out one static buffer instead (the
 * host delivers one message at a time: alloc, handler, dealloc) and falls back
 * to malloc only for a larger or a second buffer. */
#ifdef BENCH_RECEIVE_BUFFER
#include <stdlib.h>

static uint8_t bench_receive_buffer[4096];
static int bench_receive_buffer_taken;

AIRSSYS_EXPORT("airssys_alloc") void* airssys_alloc(uint32_t size) {
  if (!bench_receive_buffer_taken && size <= sizeof bench_receive_buffer) {
    bench_receive_buffer_taken = 1;
    return bench_receive_buffer;
  }
  return malloc(size ? size : 1);
}

AIRSSYS_EXPORT("airssys_dealloc") void airssys_dealloc(void* ptr, uint32_t size) {
  (void)size;
  if (ptr == bench_receive_buffer) {
    bench_receive_buffer_taken = 0;
  } else {
    free(ptr);
  }
}
#else
AIRSSYS_DEFINE_ALLOCATOR()
#endif

/* The WASI monotonic clock, in ns. */
static inline uint64_t bench_now(void) {
  __wasi_timestamp_t t = 0;
  (void)__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t);
  return t;
}

/* One record on stdout, written by a single fd_write. */
static inline void bench_report(uint32_t kind, const uint64_t* values, uint32_t count) {
  struct bench_record_header header = {kind, count};
  __wasi_ciovec_t iov[2] = {{(const uint8_t*)&header, sizeof header},
                            {(const uint8_t*)values, count * sizeof *values}};
  __wasi_size_t written = 0;
  (void)__wasi_fd_write(1, iov, 2, &written);
}

/* Tells the host that an ABI call failed, with its result code. */
static inline void bench_fail(int64_t code) {
  uint64_t value = (uint64_t)code;
  bench_report(BENCH_REC_ERROR, &value, 1);
}

#endif /* BENCH_GUEST_H */
