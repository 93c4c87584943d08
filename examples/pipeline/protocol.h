// The order format the three pipeline components share:
//   "order <id> <item> <quantity>"   e.g. "order 7 widget 3"
#ifndef PIPELINE_PROTOCOL_H
#define PIPELINE_PROTOCOL_H

#include <stdio.h>
#include <string.h>

struct order {
  int id;
  char item[32];
  int quantity;
};

// 1 when `text` (not NUL-terminated, `len` bytes) is a well-formed order.
static inline int parse_order(const char* text, size_t len, struct order* out) {
  char copy[128];
  if (len >= sizeof copy) return 0;
  memcpy(copy, text, len);
  copy[len] = 0;
  char extra;
  return sscanf(copy, "order %d %31s %d %c", &out->id, out->item, &out->quantity, &extra) == 3;
}

#endif
