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

/* The memory exports: the SDK's allocator on wasi-libc's malloc; built with
 * -DBENCH_RECEIVE_BUFFER, also the SDK's inbox, so a message that fits is
 * delivered with one guest call instead of three (alloc, handler, dealloc). */
AIRSSYS_DEFINE_ALLOCATOR()
#ifdef BENCH_RECEIVE_BUFFER
AIRSSYS_DEFINE_INBOX(4096)
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
