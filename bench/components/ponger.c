/*
 * ponger - the passive side of bench_messaging (bench_protocol.h): ignores
 * fill messages, answers requests with an empty reply, acknowledges probes and
 * records their one-way latency. It is also the component the spawn benchmark
 * starts.
 */
#include <string.h>

#include "airssys.h"
#include "bench_guest.h"

static uint64_t samples[BENCH_MAX_SAMPLES];

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  (void)config;
  (void)len;
  return 0;
}

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
  int32_t r = airssys_send(BENCH_PINGER, BENCH_NAME_LEN, ack, sizeof ack);
  if (r != AIRSSYS_OK) bench_fail(r);
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation_id, const char* sender,
                       uint32_t sender_len, const char* topic, uint32_t topic_len,
                       const uint8_t* payload, uint32_t payload_len) {
  (void)sender;
  (void)sender_len;
  (void)topic;
  (void)topic_len;
  if (kind == AIRSSYS_MSG_REQUEST) {
    int32_t r = airssys_reply(correlation_id, 0, 0);
    if (r != AIRSSYS_OK) bench_fail(r);
    return 0;
  }
  if (payload_len == 0 || payload[0] == BENCH_MSG_FILL) return 0;
  uint64_t arrived = bench_now();
  if (payload[0] == BENCH_MSG_LAST) {
    bench_report(BENCH_REC_FLOOD_END, &arrived, 1);
  } else if (payload[0] == BENCH_MSG_PROBE && payload_len >= BENCH_PROBE_SIZE) {
    probe(arrived, payload);
  }
  return 0;
}
