// A component that attacks the host and its neighbours, to show each attack
// contained. Sent "attack", it tries, in order:
//   1. to read /etc/passwd              (no filesystem grant: refused)
//   2. to message the ledger            (no messaging grant: refused)
//   3. to flood messages                (its message rate quota: refused past it)
//   4. to grow its memory without end   (its memory quota: malloc fails)
//   5. to loop forever                  (its CPU-time quota: throttled, never ends
//                                        its neighbours' share)
// and reports what happened after each one. Every refusal is also in the
// host's audit log.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()
AIRSSYS_DEFINE_INBOX(64)

static void attack(void) {
  FILE* f = fopen("/etc/passwd", "r");
  printf("hostile: 1. read /etc/passwd: %s\n", f ? "READ IT" : strerror(errno));
  if (f) fclose(f);

  int32_t r = airssys_send("ledger", 6, "order 666 widget 100", 20);
  printf("hostile: 2. message the ledger: %s (%s)\n", r == AIRSSYS_OK ? "SENT" : "refused",
         airssys_status_name(r));

  int ok = 0, refused = 0;
  for (int i = 0; i < 5000; ++i) {
    if (airssys_send("hostile", 7, "x", 1) == AIRSSYS_OK) {
      ++ok;
    } else {
      ++refused;
    }
  }
  printf("hostile: 3. flood of 5000 messages: %d sent, %d refused by the rate quota\n", ok,
         refused);

  size_t mib = 0;
  for (;;) {
    char* volatile block = malloc(1 << 20);
    if (!block) break;
    block[0] = 1;  // used, so the allocation is real
    ++mib;
  }
  printf("hostile: 4. grow memory without end: stopped at %zu MiB\n", mib);

  printf("hostile: 5. loop forever\n");
  fflush(stdout);
  for (volatile unsigned long n = 0;; ++n) {
  }
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation, const char* sender, uint32_t sender_len,
                       const char* topic, uint32_t topic_len, const uint8_t* payload,
                       uint32_t payload_len) {
  (void)kind;
  (void)correlation;
  (void)topic;
  (void)topic_len;
  if (sender_len == 4 && !memcmp(sender, "host", 4) && payload_len == 6 &&
      !memcmp(payload, "attack", 6)) {
    attack();
  }
  return 0;  // its own flood arrives here too, and is ignored
}
