/*
 * pinger - the active side of bench_messaging: on a command from the host it
 * sends probes, requests or a flood of messages to the ponger, or publishes a
 * fan-out to the subscribers, and reports what it measured (bench_protocol.h).
 * Its handlers do nothing else.
 */
#include <string.h>

#include "airssys.h"
#include "bench_guest.h"

static uint64_t samples[BENCH_MAX_SAMPLES];
static uint32_t wanted;  /* probes or requests the current command asked for */
static uint32_t replied; /* replies received so far */
static uint64_t asked_at;

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  (void)config;
  (void)len;
  return 0;
}

static void send_probe(uint32_t index) {
  uint8_t probe[BENCH_PROBE_SIZE];
  probe[0] = BENCH_MSG_PROBE;
  memcpy(probe + 1, &index, 4);
  memcpy(probe + 5, &wanted, 4);
  uint64_t sent_at = bench_now();
  memcpy(probe + 9, &sent_at, 8);
  int32_t r = airssys_send(BENCH_PONGER, BENCH_NAME_LEN, probe, sizeof probe);
  if (r != AIRSSYS_OK) bench_fail(r);
}

static void send_request(void) {
  static const uint8_t ask = BENCH_MSG_ASK;
  asked_at = bench_now();
  int64_t id = airssys_request(BENCH_PONGER, BENCH_NAME_LEN, &ask, 1, 0);
  if (id <= 0) bench_fail(id);
}

static void flood(uint32_t count) {
  static const uint8_t fill = BENCH_MSG_FILL;
  static const uint8_t last = BENCH_MSG_LAST;
  uint64_t retries = 0;
  uint64_t started = bench_now();
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* message = i + 1 == count ? &last : &fill;
    int32_t r;
    while ((r = airssys_send(BENCH_PONGER, BENCH_NAME_LEN, message, 1)) == AIRSSYS_E_FULL) {
      ++retries;
    }
    if (r != AIRSSYS_OK) {
      bench_fail(r);
      return;
    }
  }
  uint64_t record[3] = {started, bench_now(), retries};
  bench_report(BENCH_REC_FLOOD_SENT, record, 3);
}

/* Each publish reaches every subscriber whose mailbox has room; one that has
 * none is not retried (the message is lost to it), so the host compares the
 * sum reached with what it expects. */
static void fan_out(uint32_t count) {
  static const uint8_t fill = BENCH_MSG_FILL;
  static const uint8_t last = BENCH_MSG_LAST;
  uint64_t reached = 0;
  uint64_t started = bench_now();
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* message = i + 1 == count ? &last : &fill;
    int32_t r = airssys_publish(BENCH_TOPIC, BENCH_TOPIC_LEN, message, 1);
    if (r < 0) {
      bench_fail(r);
      return;
    }
    reached += (uint64_t)r;
  }
  uint64_t record[3] = {started, bench_now(), reached};
  bench_report(BENCH_REC_FAN_OUT_SENT, record, 3);
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation_id, const char* sender,
                       uint32_t sender_len, const char* topic, uint32_t topic_len,
                       const uint8_t* payload, uint32_t payload_len) {
  (void)kind;
  (void)correlation_id;
  (void)sender;
  (void)sender_len;
  (void)topic;
  (void)topic_len;
  if (payload_len == 0) return 0;
  if (payload[0] == BENCH_MSG_ACK && payload_len >= 5) {
    uint32_t index;
    memcpy(&index, payload + 1, 4);
    send_probe(index + 1);
    return 0;
  }
  if (payload_len < 5) return 0;
  uint32_t count;
  memcpy(&count, payload + 1, 4);
  uint32_t samples_wanted = count == 0 || count > BENCH_MAX_SAMPLES ? BENCH_MAX_SAMPLES : count;
  switch (payload[0]) {
    case BENCH_CMD_ONE_WAY:
      wanted = samples_wanted;
      send_probe(0);
      break;
    case BENCH_CMD_REQUEST:
      wanted = samples_wanted;
      replied = 0;
      send_request();
      break;
    case BENCH_CMD_FLOOD:
      if (count > 0) flood(count);
      break;
    case BENCH_CMD_FAN_OUT:
      if (count > 0) fan_out(count);
      break;
    default:
      break;
  }
  return 0;
}

AIRSSYS_EXPORT("airssys_handle_reply")
int32_t handle_reply(int64_t correlation_id, int32_t status, const uint8_t* payload,
                     uint32_t payload_len) {
  uint64_t now = bench_now();
  (void)correlation_id;
  (void)payload;
  (void)payload_len;
  if (status != AIRSSYS_OK) {
    bench_fail(status);
    return 0;
  }
  samples[replied++] = now - asked_at;
  if (replied == wanted) {
    bench_report(BENCH_REC_ROUND_TRIP, samples, replied);
  } else {
    send_request();
  }
  return 0;
}
