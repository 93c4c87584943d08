// Answers "is this order valid?" requests: a known item and a quantity from
// 1 to 100.
#include <stdio.h>
#include <string.h>

#include "../protocol.h"
#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()
AIRSSYS_DEFINE_INBOX(256)

static const char* const kItems[] = {"widget", "gadget", "gizmo"};

static const char* check(const struct order* o) {
  int known = 0;
  for (size_t i = 0; i < sizeof kItems / sizeof kItems[0]; ++i) {
    if (!strcmp(o->item, kItems[i])) known = 1;
  }
  if (!known) return "rejected: unknown item";
  if (o->quantity < 1 || o->quantity > 100) return "rejected: quantity must be 1 to 100";
  return "ok";
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation, const char* sender, uint32_t sender_len,
                       const char* topic, uint32_t topic_len, const uint8_t* payload,
                       uint32_t payload_len) {
  (void)topic;
  (void)topic_len;
  if (kind != 1) return 0;  // only requests expect an answer
  struct order o;
  const char* verdict = parse_order((const char*)payload, payload_len, &o)
                            ? check(&o)
                            : "rejected: not an order";
  int32_t r = airssys_reply(correlation, verdict, (uint32_t)strlen(verdict));
  if (r == AIRSSYS_OK) {
    printf("validator: %.*s asked about order %d, answered: %s\n", (int)sender_len, sender, o.id,
           verdict);
  } else {
    printf("validator: %.*s asked about order %d, answer not delivered: %s\n", (int)sender_len,
           sender, o.id, airssys_status_name(r));
  }
  return 0;
}
