/*
 * bench_guest.h - what the core-ABI benchmark components share: their
 * memory exports, and (bench_wasi.h) the clock and the records they write to
 * stdout for the host (bench_protocol.h).
 */
#ifndef BENCH_GUEST_H
#define BENCH_GUEST_H

#include <stdint.h>

#include "airssys.h"
#include "bench_wasi.h"

/* The memory exports: the SDK's allocator on wasi-libc's malloc; built with
 * -DBENCH_RECEIVE_BUFFER, also the SDK's inbox, so a message that fits is
 * delivered with one guest call instead of three (alloc, handler, dealloc). */
AIRSSYS_DEFINE_ALLOCATOR()
#ifdef BENCH_RECEIVE_BUFFER
AIRSSYS_DEFINE_INBOX(4096)
#endif

#endif /* BENCH_GUEST_H */
