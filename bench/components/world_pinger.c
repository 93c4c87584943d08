/*
 * world_pinger - pinger.c against the airssys world (sdk/c/airssys_world.h):
 * the active side of bench_world. On a command from the host it sends probes,
 * requests or a flood of messages to the ponger and reports what it measured
 * (bench_protocol.h), exactly as pinger.c does through the core ABI.
 */
#include <string.h>

#include "airssys_world.h"
#include "bench_wasi.h"

static uint64_t samples[BENCH_MAX_SAMPLES];
static uint32_t wanted;  /* probes or requests the current command asked for */
static uint32_t replied; /* replies received so far */
static uint64_t asked_at;

static void send_probe(uint32_t index) {
  uint8_t probe[BENCH_PROBE_SIZE];
  probe[0] = BENCH_MSG_PROBE;
  memcpy(probe + 1, &index, 4);
  memcpy(probe + 5, &wanted, 4);
  uint64_t sent_at = bench_now();
  memcpy(probe + 9, &sent_at, 8);
  airssys_error_t r = airssys_send(BENCH_PONGER, BENCH_NAME_LEN, probe, sizeof probe);
  if (r != AIRSSYS_ERROR_NONE) bench_fail(r);
}

static void send_request(void) {
  static const uint8_t ask = BENCH_MSG_ASK;
  uint64_t id = 0;
  asked_at = bench_now();
  airssys_error_t r = airssys_request(BENCH_PONGER, BENCH_NAME_LEN, &ask, 1, 0, &id);
  if (r != AIRSSYS_ERROR_NONE) bench_fail(r);
}

static void flood(uint32_t count) {
  static const uint8_t fill = BENCH_MSG_FILL;
  static const uint8_t last = BENCH_MSG_LAST;
  uint64_t retries = 0;
  uint64_t started = bench_now();
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* message = i + 1 == count ? &last : &fill;
    airssys_error_t r;
    while ((r = airssys_send(BENCH_PONGER, BENCH_NAME_LEN, message, 1)) == AIRSSYS_ERROR_FULL) {
      ++retries;
    }
    if (r != AIRSSYS_ERROR_NONE) {
      bench_fail(r);
      return;
    }
  }
  uint64_t record[3] = {started, bench_now(), retries};
  bench_report(BENCH_REC_FLOOD_SENT, record, 3);
}

void airssys_world_handle_message(const airssys_message_t* message) {
  const uint8_t* payload = message->payload;
  size_t payload_len = message->payload_len;
  if (payload_len == 0) return;
  if (payload[0] == BENCH_MSG_ACK && payload_len >= 5) {
    uint32_t index;
    memcpy(&index, payload + 1, 4);
    send_probe(index + 1);
    return;
  }
  if (payload_len < 5) return;
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
    default:
      break;
  }
}

void airssys_world_handle_reply(uint64_t correlation_id, airssys_error_t error,
                                const uint8_t* payload, size_t payload_len) {
  uint64_t now = bench_now();
  (void)correlation_id;
  (void)payload;
  (void)payload_len;
  if (error != AIRSSYS_ERROR_NONE) {
    bench_fail(error);
    return;
  }
  samples[replied++] = now - asked_at;
  if (replied == wanted) {
    bench_report(BENCH_REC_ROUND_TRIP, samples, replied);
  } else {
    send_request();
  }
}
