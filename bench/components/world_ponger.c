/*
 * world_ponger - ponger.c against the airssys world (sdk/c/airssys_world.h):
 * the passive side of bench_world (bench_protocol.h). Ignores fill messages,
 * answers requests with an empty reply, acknowledges probes and records their
 * one-way latency, exactly as ponger.c does through the core ABI.
 */
#include <string.h>

#include "airssys_world.h"
#include "bench_wasi.h"

static uint64_t samples[BENCH_MAX_SAMPLES];

static void probe(uint64_t arrived, const uint8_t* payload) {
  uint32_t index, count;
  uint64_t sent_at;
  memcpy(&index, payload + 1, 4);
  memcpy(&count, payload + 5, 4);
  memcpy(&sent_at, payload + 9, 8);
  if (index >= BENCH_MAX_SAMPLES || count > BENCH_MAX_SAMPLES) return;
  samples[index] = arrived - sent_at;
  if (index + 1 >= count) {
    bench_report(BENCH_REC_ONE_WAY, samples, count);
    return;
  }
  uint8_t ack[5];
  ack[0] = BENCH_MSG_ACK;
  memcpy(ack + 1, &index, 4);
  airssys_error_t r = airssys_send(BENCH_PINGER, BENCH_NAME_LEN, ack, sizeof ack);
  if (r != AIRSSYS_ERROR_NONE) bench_fail(r);
}

void airssys_world_handle_message(const airssys_message_t* message) {
  if (message->kind == AIRSSYS_MESSAGE_REQUEST) {
    airssys_error_t r = airssys_reply(message->correlation_id, NULL, 0);
    if (r != AIRSSYS_ERROR_NONE) bench_fail(r);
    return;
  }
  const uint8_t* payload = message->payload;
  size_t payload_len = message->payload_len;
  if (payload_len == 0 || payload[0] == BENCH_MSG_FILL) return;
  uint64_t arrived = bench_now();
  if (payload[0] == BENCH_MSG_LAST) {
    bench_report(BENCH_REC_FLOOD_END, &arrived, 1);
  } else if (payload[0] == BENCH_MSG_PROBE && payload_len >= BENCH_PROBE_SIZE) {
    probe(arrived, payload);
  }
}
