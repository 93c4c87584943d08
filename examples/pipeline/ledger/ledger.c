// Subscribes to accepted orders and keeps a running total per item in its
// key-value state ("ledger:<item>"), which survives restarts.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../protocol.h"
#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()
AIRSSYS_DEFINE_INBOX(256)

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  (void)config;
  (void)len;
  int32_t r = airssys_subscribe("orders.accepted", 15);
  printf("ledger: subscribed to orders.accepted: %s\n", airssys_status_name(r));
  return r == AIRSSYS_OK ? 0 : 1;
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation, const char* sender, uint32_t sender_len,
                       const char* topic, uint32_t topic_len, const uint8_t* payload,
                       uint32_t payload_len) {
  (void)correlation;
  (void)sender;
  (void)sender_len;
  struct order o;
  if (kind != 2 || !parse_order((const char*)payload, payload_len, &o)) return 0;
  char key[64], value[32];
  int key_len = snprintf(key, sizeof key, "ledger:%s", o.item);
  long total = 0;
  int64_t n = airssys_kv_get(key, (uint32_t)key_len, value, sizeof value - 1);
  if (n >= 0) {
    value[n] = 0;
    total = atol(value);
  }
  total += o.quantity;
  int value_len = snprintf(value, sizeof value, "%ld", total);
  int32_t r = airssys_kv_set(key, (uint32_t)key_len, value, (uint32_t)value_len);
  printf("ledger: order %d on %.*s: %s total now %ld (stored: %s)\n", o.id, (int)topic_len, topic,
         o.item, total, airssys_status_name(r));
  return 0;
}
