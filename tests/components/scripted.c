// A component driven by commands from the host, for end-to-end messaging
// tests. Every command and every message it receives is reported on stdout
// as one line, so a test can follow what happened.
//
// Commands (payload of a message from "host"):
//   send T TEXT | request T TIMEOUT_MS TEXT | publish TOPIC TEXT
//   subscribe FILTER | flood T N | big T BYTES | spin | trap | whoami
//   grow MIB (allocate up to MIB MiB in 64 KiB steps) | burn N (N million loop turns)
//   burnk N (N thousand loop turns)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()
// Small messages arrive in this buffer (one guest call each); larger ones,
// like the `big` tests, go through the allocator.
AIRSSYS_DEFINE_INBOX(256)

static char name[80];
static int last_log_ok, last_log_dropped;

static int next_word(const char** p, char* out, size_t cap) {
  while (**p == ' ') ++*p;
  size_t n = 0;
  while (**p && **p != ' ' && n + 1 < cap) out[n++] = *(*p)++;
  out[n] = 0;
  return n > 0;
}

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  int32_t n = airssys_self_id(name, sizeof name - 1);
  name[n > 0 ? n : 0] = 0;
  printf("%s init %.*s\n", name, (int)len, config);
  fflush(stdout);
  return 0;
}

static void command(const char* text) {
  const char* p = text;
  char verb[32], a[300], b[300];
  next_word(&p, verb, sizeof verb);
  while (*p == ' ') ++p;
  if (!strcmp(verb, "send")) {
    next_word(&p, a, sizeof a);
    while (*p == ' ') ++p;
    printf("%s send %s = %d\n", name, a, airssys_send(a, strlen(a), p, strlen(p)));
  } else if (!strcmp(verb, "request")) {
    next_word(&p, a, sizeof a);
    next_word(&p, b, sizeof b);
    while (*p == ' ') ++p;
    long long id = airssys_request(a, strlen(a), p, strlen(p), (uint32_t)atoi(b));
    printf("%s request %s = %s\n", name, a, id > 0 ? "ok" : "refused");
    if (id <= 0) printf("%s request error %lld\n", name, id);
  } else if (!strcmp(verb, "publish")) {
    next_word(&p, a, sizeof a);
    while (*p == ' ') ++p;
    printf("%s publish %s = %d\n", name, a, airssys_publish(a, strlen(a), p, strlen(p)));
  } else if (!strcmp(verb, "subscribe")) {
    next_word(&p, a, sizeof a);
    printf("%s subscribe %s = %d\n", name, a, airssys_subscribe(a, strlen(a)));
  } else if (!strcmp(verb, "flood")) {
    next_word(&p, a, sizeof a);
    next_word(&p, b, sizeof b);
    int n = atoi(b), ok = 0, quota = 0, full = 0, other = 0;
    for (int i = 0; i < n; ++i) {
      int r = airssys_send(a, strlen(a), "x", 1);
      if (r == AIRSSYS_OK) ++ok;
      else if (r == AIRSSYS_E_QUOTA) ++quota;
      else if (r == AIRSSYS_E_FULL) ++full;
      else ++other;
    }
    printf("%s flood ok=%d quota=%d full=%d other=%d\n", name, ok, quota, full, other);
  } else if (!strcmp(verb, "big")) {
    next_word(&p, a, sizeof a);
    next_word(&p, b, sizeof b);
    size_t size = (size_t)atol(b);
    char* data = calloc(size ? size : 1, 1);
    printf("%s big %s %zu = %d\n", name, a, size, airssys_send(a, strlen(a), data, size));
    free(data);
  } else if (!strcmp(verb, "grow")) {
    next_word(&p, a, sizeof a);
    long want = atol(a) * 16, got = 0;
    for (; got < want; ++got) {
      char* volatile block = malloc(64 * 1024);  // used, so it cannot be elided
      if (!block) break;
      block[0] = 1;
    }
    printf("%s grow kib=%ld refused=%d pages=%lu\n", name, got * 64, got < want ? 1 : 0,
           (unsigned long)__builtin_wasm_memory_size(0));
  } else if (!strcmp(verb, "burn") || !strcmp(verb, "burnk")) {
    next_word(&p, a, sizeof a);
    unsigned long n = (unsigned long)atol(a) * (verb[4] ? 1000ul : 1000000ul);
    volatile unsigned long acc = 0;
    for (unsigned long i = 0; i < n; ++i) acc += i;
    printf("%s burned %s (%lu)\n", name, a, (unsigned long)acc & 1);
  } else if (!strcmp(verb, "spin")) {
    printf("%s spinning\n", name);
    fflush(stdout);
    for (volatile unsigned long i = 0;; ++i) {
    }
  } else if (!strcmp(verb, "trap")) {
    printf("%s trapping\n", name);
    fflush(stdout);
    __builtin_trap();
  } else if (!strcmp(verb, "logs")) {
    next_word(&p, a, sizeof a);
    int n = atoi(a), ok = 0, dropped = 0;
    for (int i = 0; i < n; ++i) {
      char line[64];
      int len = snprintf(line, sizeof line, "log line %d", i);
      if (airssys_log(AIRSSYS_LOG_INFO, line, (uint32_t)len) == AIRSSYS_OK) ++ok;
      else ++dropped;
    }
    char summary[80];
    int len = snprintf(summary, sizeof summary, "logs ok=%d dropped=%d", ok, dropped);
    airssys_log(AIRSSYS_LOG_WARN, summary, (uint32_t)len);
    last_log_ok = ok;
    last_log_dropped = dropped;
  } else if (!strcmp(verb, "logsummary")) {
    printf("%s logs ok=%d dropped=%d\n", name, last_log_ok, last_log_dropped);
  } else if (!strcmp(verb, "whoami")) {
    char small[2];
    printf("%s whoami %s small=%d\n", name, name, airssys_self_id(small, sizeof small));
  } else {
    printf("%s unknown command %s\n", name, verb);
  }
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation, const char* sender, uint32_t sender_len,
                       const char* topic, uint32_t topic_len, const uint8_t* payload,
                       uint32_t payload_len) {
  if (sender_len == 4 && !memcmp(sender, "host", 4)) {
    char* text = malloc(payload_len + 1);
    memcpy(text, payload, payload_len);
    text[payload_len] = 0;
    command(text);
    free(text);
  } else if (kind == AIRSSYS_MSG_REQUEST) {
    printf("%s got request from %.*s: %.*s\n", name, (int)sender_len, sender, (int)payload_len,
           (const char*)payload);
    char answer[300];
    int n = snprintf(answer, sizeof answer, "echo:%.*s", (int)payload_len, (const char*)payload);
    printf("%s reply = %d\n", name, airssys_reply(correlation, answer, (uint32_t)n));
  } else if (kind == AIRSSYS_MSG_PUBLISH) {
    printf("%s got publish %.*s from %.*s: %.*s\n", name, (int)topic_len, topic, (int)sender_len,
           sender, (int)payload_len, (const char*)payload);
  } else {
    if (payload_len > 64) {
      printf("%s got %u bytes from %.*s\n", name, payload_len, (int)sender_len, sender);
    } else {
      printf("%s got send from %.*s: %.*s\n", name, (int)sender_len, sender, (int)payload_len,
             (const char*)payload);
    }
  }
  fflush(stdout);
  return 0;
}

AIRSSYS_EXPORT("airssys_handle_reply")
int32_t handle_reply(int64_t correlation, int32_t status, const uint8_t* payload, uint32_t len) {
  (void)correlation;
  printf("%s reply status=%d: %.*s\n", name, status, (int)len, (const char*)payload);
  fflush(stdout);
  return 0;
}

AIRSSYS_EXPORT("airssys_shutdown") void shutdown(void) {
  printf("%s shutdown\n", name);
  fflush(stdout);
}
