// The pipeline's entry: takes orders from the host, asks the validator about
// each one (request/reply), and publishes the accepted ones on
// "orders.accepted" for whoever subscribed (the ledger).
#include <stdio.h>
#include <string.h>

#include "../protocol.h"
#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()
AIRSSYS_DEFINE_INBOX(256)

// Orders waiting for the validator's answer, by correlation id.
#define MAX_PENDING 64
static struct {
  int64_t correlation;
  char text[128];
  size_t len;
} pending[MAX_PENDING];

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  (void)config;
  (void)len;
  printf("orders: ready\n");
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
  struct order o;
  if (!parse_order((const char*)payload, payload_len, &o)) {
    printf("orders: ignored a message from %.*s that is not an order\n", (int)sender_len, sender);
    return 0;
  }
  // The validator answers one request after the other: 10 s leave room for
  // a queue of orders before a slow one (in JavaScript on the interpreter,
  // some 150 ms a request on an idle machine, several times that on a busy one).
  int64_t id = airssys_request("validator", 9, payload, payload_len, 10000);
  if (id <= 0) {
    printf("orders: order %d could not be sent for validation: %s\n", o.id,
           airssys_status_name(id));
    return 0;
  }
  for (int i = 0; i < MAX_PENDING; ++i) {
    if (pending[i].correlation == 0) {
      pending[i].correlation = id;
      memcpy(pending[i].text, payload, payload_len);
      pending[i].len = payload_len;
      break;
    }
  }
  printf("orders: order %d (%d x %s) sent for validation\n", o.id, o.quantity, o.item);
  return 0;
}

AIRSSYS_EXPORT("airssys_handle_reply")
int32_t handle_reply(int64_t correlation, int32_t status, const uint8_t* payload,
                     uint32_t payload_len) {
  for (int i = 0; i < MAX_PENDING; ++i) {
    if (pending[i].correlation != correlation) continue;
    pending[i].correlation = 0;
    struct order o;
    parse_order(pending[i].text, pending[i].len, &o);
    if (status != AIRSSYS_OK) {
      printf("orders: order %d: no answer from the validator: %s\n", o.id,
             airssys_status_name(status));
    } else if (payload_len >= 2 && !memcmp(payload, "ok", 2)) {
      int32_t r = airssys_publish("orders.accepted", 15, pending[i].text, pending[i].len);
      if (r >= 0) {
        printf("orders: order %d accepted, published to %d subscriber(s)\n", o.id, r);
      } else {
        printf("orders: order %d accepted, not published: %s\n", o.id, airssys_status_name(r));
      }
    } else {
      printf("orders: order %d %.*s\n", o.id, (int)payload_len, (const char*)payload);
    }
    return 0;
  }
  return 0;
}
