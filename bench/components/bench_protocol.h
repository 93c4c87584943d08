/*
 * bench_protocol.h - what bench_messaging and its components, pinger.c,
 * ponger.c and subscriber.c, say to each other. Shared by the C components and
 * the C++ host.
 *
 * The host drives the pinger with commands; the pinger talks to the ponger;
 * both report measurements to the host as binary records on stdout, timed with
 * the WASI monotonic clock (the host's CLOCK_MONOTONIC).
 */
#ifndef BENCH_PROTOCOL_H
#define BENCH_PROTOCOL_H

#include <stdint.h>

#define BENCH_PINGER "pinger"
#define BENCH_PONGER "ponger"
#define BENCH_NAME_LEN 6 /* both names have six characters */

/* The topic of the fan-out: the pinger publishes on it, every subscriber
 * (subscriber.c) subscribes to it in its airssys_init. */
#define BENCH_TOPIC "bench.fanout"
#define BENCH_TOPIC_LEN 12

/* The most samples one command may ask for. */
#define BENCH_MAX_SAMPLES 2048

/* A command from the host to the pinger: the command byte, then the count as a
 * little-endian uint32 (5 bytes).
 *   ONE_WAY n  n probes, one at a time: pinger sends PROBE, ponger acknowledges
 *   REQUEST n  n requests, one at a time, each answered by an empty reply
 *   FLOOD n    n one-way messages as fast as the pinger can send them, the last
 *              one LAST
 *   FAN_OUT n  n messages published on BENCH_TOPIC as fast as the pinger can
 *              publish them, the last one LAST; every subscriber gets each */
enum {
  BENCH_CMD_ONE_WAY = 'L',
  BENCH_CMD_REQUEST = 'R',
  BENCH_CMD_FLOOD = 'T',
  BENCH_CMD_FAN_OUT = 'F'
};

/* The first byte of a message between the two components.
 *   PROBE  pinger -> ponger: index (uint32), count (uint32), send time (uint64);
 *          17 bytes, little-endian, unaligned
 *   ACK    ponger -> pinger: the probe's index (uint32)
 *   FILL   pinger -> ponger or subscribers: nothing to do
 *   LAST   pinger -> ponger or subscribers: the last message of a flood or a
 *          fan-out
 *   ASK    pinger -> ponger: the payload of a request */
enum {
  BENCH_MSG_PROBE = 'P',
  BENCH_MSG_ACK = 'A',
  BENCH_MSG_FILL = 'x',
  BENCH_MSG_LAST = 'E',
  BENCH_MSG_ASK = 'Q'
};
#define BENCH_PROBE_SIZE 17

/* A record on stdout: this header, then `count` uint64 values.
 *   ONE_WAY      (ponger) one-way latency of every probe, ns
 *   ROUND_TRIP   (pinger) request-to-reply time of every request, ns
 *   FLOOD_SENT   (pinger) time of the first send, time after the last send,
 *                sends refused with AIRSSYS_E_FULL and retried
 *   FLOOD_END    (ponger) time the LAST message arrived
 *   FAN_OUT_SENT (pinger) time of the first publish, time after the last
 *                publish, the sum of the subscribers each publish reached
 *   FAN_OUT_END  (subscriber) time the LAST message arrived, the messages
 *                published on the topic it received since the previous LAST
 *                (LAST included)
 *   ERROR        (any) the failing ABI call's result code, as int64 */
enum {
  BENCH_REC_ONE_WAY = 1,
  BENCH_REC_ROUND_TRIP = 2,
  BENCH_REC_FLOOD_SENT = 3,
  BENCH_REC_FLOOD_END = 4,
  BENCH_REC_ERROR = 5,
  BENCH_REC_FAN_OUT_SENT = 6,
  BENCH_REC_FAN_OUT_END = 7
};

struct bench_record_header {
  uint32_t kind;
  uint32_t count;
};

#endif /* BENCH_PROTOCOL_H */
