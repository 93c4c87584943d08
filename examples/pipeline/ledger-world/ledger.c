// The pipeline's ledger as a component of the airssys world (wit/host.wit),
// written against sdk/c/airssys_world.h: it subscribes to accepted orders and
// keeps a running total per item in its key-value state ("ledger:<item>"),
// as the core-ABI ledger does. It does not know, and need not know, in which
// language or ABI the orders and the validator are written.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../protocol.h"
#include "airssys_world.h"

static unsigned long booked;
static char reason[64];

static void say(airssys_log_level_t level, const char* text) {
  (void)airssys_log(level, text, strlen(text));
}

const char* airssys_world_init(const char* config, size_t config_len) {
  (void)config;
  (void)config_len;
  airssys_error_t e = airssys_subscribe("orders.accepted", 15);
  char line[96];
  snprintf(line, sizeof line, "ledger: subscribed to orders.accepted: %s", airssys_error_name(e));
  say(AIRSSYS_LOG_INFO, line);
  return e == AIRSSYS_ERROR_NONE ? NULL : "cannot subscribe to orders.accepted";
}

void airssys_world_handle_message(const airssys_message_t* message) {
  struct order o;
  if (message->kind != AIRSSYS_MESSAGE_PUBLISH ||
      !parse_order((const char*)message->payload, message->payload_len, &o)) {
    return;
  }
  char key[64], value[32], line[160];
  int key_len = snprintf(key, sizeof key, "ledger:%s", o.item);
  long total = 0;
  airssys_bytes_t stored;
  bool found = false;
  if (airssys_kv_get(key, (size_t)key_len, &stored, &found) == AIRSSYS_ERROR_NONE && found) {
    size_t n = stored.len < sizeof value - 1 ? stored.len : sizeof value - 1;
    memcpy(value, stored.ptr, n);
    value[n] = 0;
    total = atol(value);
    airssys_bytes_free(&stored);
  }
  total += o.quantity;
  int value_len = snprintf(value, sizeof value, "%ld", total);
  airssys_error_t e = airssys_kv_set(key, (size_t)key_len, value, (size_t)value_len);
  if (e == AIRSSYS_ERROR_NONE) ++booked;
  snprintf(line, sizeof line, "ledger: order %d on %.*s: %s total now %ld (stored: %s)", o.id,
           (int)message->topic_len, message->topic, o.item, total, airssys_error_name(e));
  say(AIRSSYS_LOG_INFO, line);
}

airssys_health_t airssys_world_health(const char** why) {
  snprintf(reason, sizeof reason, "%lu orders booked", booked);
  *why = reason;
  return AIRSSYS_HEALTHY;
}
