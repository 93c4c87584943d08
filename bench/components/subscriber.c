/*
 * subscriber - one of the many receivers of bench_messaging's fan-out
 * (bench_protocol.h): subscribes to BENCH_TOPIC in its airssys_init, counts
 * the messages published on it and, on LAST, reports when LAST arrived and
 * how many it received since the previous LAST.
 */
#include "airssys.h"
#include "bench_guest.h"

static uint64_t received;

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  (void)config;
  (void)len;
  int32_t r = airssys_subscribe(BENCH_TOPIC, BENCH_TOPIC_LEN);
  if (r != AIRSSYS_OK) bench_fail(r);
  return r;
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation_id, const char* sender,
                       uint32_t sender_len, const char* topic, uint32_t topic_len,
                       const uint8_t* payload, uint32_t payload_len) {
  (void)correlation_id;
  (void)sender;
  (void)sender_len;
  (void)topic;
  (void)topic_len;
  if (kind != AIRSSYS_MSG_PUBLISH) return 0;
  ++received;
  if (payload_len > 0 && payload[0] == BENCH_MSG_LAST) {
    uint64_t record[2] = {bench_now(), received};
    received = 0;
    bench_report(BENCH_REC_FAN_OUT_END, record, 2);
  }
  return 0;
}
