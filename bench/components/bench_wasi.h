/*
 * bench_wasi.h - what every benchmark component in C shares, whichever ABI it
 * is written against (airssys.h or airssys_world.h): the clock, and the records
 * it writes to stdout for the host (bench_protocol.h), both through WASI.
 */
#ifndef BENCH_WASI_H
#define BENCH_WASI_H

#include <stdint.h>
#include <wasi/api.h>

#include "bench_protocol.h"

/* The WASI monotonic clock, in ns. */
static inline uint64_t bench_now(void) {
  __wasi_timestamp_t t = 0;
  (void)__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t);
  return t;
}

/* One record on stdout. A write may take less than it was given (WASI
 * preview 1 adapters write the first buffer of several only): the rest follows. */
static inline void bench_report(uint32_t kind, const uint64_t* values, uint32_t count) {
  struct bench_record_header header = {kind, count};
  __wasi_ciovec_t iov[2] = {{(const uint8_t*)&header, sizeof header},
                            {(const uint8_t*)values, count * sizeof *values}};
  __wasi_ciovec_t* next = iov;
  size_t left = 2;
  while (left > 0) {
    __wasi_size_t written = 0;
    if (__wasi_fd_write(1, next, left, &written) != 0) return;
    while (left > 0 && written >= next->buf_len) {
      written -= next->buf_len;
      ++next;
      --left;
    }
    if (left > 0) {
      next->buf += written;
      next->buf_len -= written;
    }
  }
}

/* Tells the host that an ABI call failed, with its result code. */
static inline void bench_fail(int64_t code) {
  uint64_t value = (uint64_t)code;
  bench_report(BENCH_REC_ERROR, &value, 1);
}

#endif /* BENCH_WASI_H */
