// Keeps its whole state in linear memory: counts numbered messages from the
// host and checks that each arrives once and in order, for the tests of
// tier-up (a running component moving to native code between two messages).
//
// Payloads: a decimal sequence number (0, 1, 2, ...), or "report", which
// prints "<name> report received=N gaps=G sum=S", or "trap".
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()

static char name[80];
static long long expected;  // the next sequence number
static long long received;
static long long gaps;      // numbers that came out of order, twice, or not at all
static unsigned long long sum;
static char history[64];  // the last numbers seen, as text: state that is not a scalar

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  (void)config;
  (void)len;
  int32_t n = airssys_self_id(name, sizeof name - 1);
  name[n > 0 ? n : 0] = 0;
  printf("%s ready\n", name);
  fflush(stdout);
  return 0;
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation, const char* sender, uint32_t sender_len,
                       const char* topic, uint32_t topic_len, const uint8_t* payload,
                       uint32_t payload_len) {
  (void)kind;
  (void)correlation;
  (void)sender;
  (void)sender_len;
  (void)topic;
  (void)topic_len;
  char text[32];
  uint32_t n = payload_len < sizeof text - 1 ? payload_len : sizeof text - 1;
  memcpy(text, payload, n);
  text[n] = 0;
  if (strcmp(text, "report") == 0) {
    printf("%s report received=%lld gaps=%lld sum=%llu last=%.16s\n", name, received, gaps, sum,
           history);
    fflush(stdout);
    return 0;
  }
  if (strcmp(text, "trap") == 0) __builtin_trap();
  long long seq = atoll(text);
  if (seq != expected) ++gaps;
  expected = seq + 1;
  ++received;
  sum += (unsigned long long)seq;
  char next[sizeof history];
  snprintf(next, sizeof next, "%lld,%s", seq, history);
  memcpy(history, next, sizeof history);
  return 0;
}
