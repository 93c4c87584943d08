// A counter kept in the component's key-value state: every message adds one
// (or the number it carries) to "counter:value" and prints the new total.
// The total survives restarts of the component and of the host.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()
AIRSSYS_DEFINE_INBOX(64)

static const char kKey[] = "counter:value";

static long load(void) {
  char value[32];
  int64_t n = airssys_kv_get(kKey, sizeof kKey - 1, value, sizeof value - 1);
  if (n < 0) return 0;  // AIRSSYS_E_NOT_FOUND: the first run
  value[n] = 0;
  return atol(value);
}

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  (void)config;
  (void)len;
  printf("counter: starting at %ld\n", load());
  return 0;
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation, const char* sender, uint32_t sender_len,
                       const char* topic, uint32_t topic_len, const uint8_t* payload,
                       uint32_t payload_len) {
  (void)kind;
  (void)correlation;
  (void)topic;
  (void)topic_len;
  char text[32] = {0};
  memcpy(text, payload, payload_len < sizeof text - 1 ? payload_len : sizeof text - 1);
  long step = atol(text);
  long total = load() + (step != 0 ? step : 1);
  char value[32];
  int n = snprintf(value, sizeof value, "%ld", total);
  int32_t r = airssys_kv_set(kKey, sizeof kKey - 1, value, (uint32_t)n);
  printf("counter: %.*s added %ld, total %ld (stored: %s)\n", (int)sender_len, sender,
         step != 0 ? step : 1, total, airssys_status_name(r));
  return 0;
}
