// A key-value counter driven by commands from the host, for end-to-end tests
// of the airssys kv_* functions. Every result is printed as one line.
//
// Commands (payload of a message from "host"):
//   tick                 increments counter:value and prints the new value
//   set K V | get K | getsmall K | del K | exists K | list PREFIX | usage
//   flood PREFIX N SIZE  writes N values of SIZE bytes, counting refusals
//   peek                 tries to reach the key counter:value of "beta"
//   version              prints the version it was built as (COUNTER_VERSION)
//   trap
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()

#ifndef COUNTER_VERSION
#define COUNTER_VERSION 1
#endif

static const char kCounter[] = "counter:value";
static char name[80];

static int next_word(const char** p, char* out, size_t cap) {
  while (**p == ' ') ++*p;
  size_t n = 0;
  while (**p && **p != ' ' && n + 1 < cap) out[n++] = *(*p)++;
  out[n] = 0;
  return n > 0;
}

// The counter's value, 0 when unset, or a negative error code.
static long long read_counter(void) {
  char buf[32];
  int64_t n = airssys_kv_get(kCounter, sizeof kCounter - 1, buf, sizeof buf - 1);
  if (n == AIRSSYS_E_NOT_FOUND) return 0;
  if (n < 0) return n;
  buf[n] = 0;
  return atoll(buf);
}

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  (void)config;
  (void)len;
  int32_t n = airssys_self_id(name, sizeof name - 1);
  name[n > 0 ? n : 0] = 0;
  printf("%s init count=%lld\n", name, read_counter());
  fflush(stdout);
  return 0;
}

static void tick(void) {
  long long value = read_counter();
  if (value < 0) {
    printf("%s tick error %lld\n", name, value);
    return;
  }
  char text[32];
  int len = snprintf(text, sizeof text, "%lld", value + 1);
  int32_t r = airssys_kv_set(kCounter, sizeof kCounter - 1, text, (uint32_t)len);
  if (r == AIRSSYS_OK) {
    printf("%s tick = %lld\n", name, value + 1);
  } else {
    printf("%s tick error %d\n", name, r);
  }
}

// Pages through the keys with a small buffer, so that the cursor is used.
static void list(const char* prefix) {
  char buf[24];
  char after[1025];
  uint32_t after_len = 0;
  char line[4096];
  size_t used = 0;
  line[0] = 0;
  for (;;) {
    int64_t n = airssys_kv_list(prefix, strlen(prefix), after, after_len, buf, sizeof buf);
    if (n < 0) {
      printf("%s list %s error %lld\n", name, prefix, (long long)n);
      return;
    }
    if (n == 0) break;
    const char* key = buf;
    for (int64_t i = 0; i < n; ++i) {
      size_t len = strlen(key);
      if (used + len + 2 < sizeof line) {
        used += (size_t)snprintf(line + used, sizeof line - used, "%s%s", used ? "," : "", key);
      }
      after_len = (uint32_t)len;
      memcpy(after, key, len);
      key += len + 1;
    }
  }
  printf("%s list %s = %s\n", name, prefix, line);
}

static void flood(const char* prefix, int count, size_t size) {
  char* value = malloc(size ? size : 1);
  memset(value, 'f', size);
  int ok = 0, quota = 0, other = 0;
  for (int i = 0; i < count; ++i) {
    char key[300];
    int len = snprintf(key, sizeof key, "%s:%d", prefix, i);
    int32_t r = airssys_kv_set(key, (uint32_t)len, value, (uint32_t)size);
    if (r == AIRSSYS_OK) {
      ++ok;
    } else if (r == AIRSSYS_E_QUOTA) {
      ++quota;
    } else {
      ++other;
    }
  }
  free(value);
  printf("%s flood ok=%d quota=%d other=%d usage=%lld\n", name, ok, quota, other,
         (long long)airssys_kv_usage());
}

// Spellings that might reach another component's key if namespaces were
// joined as strings; each is only a key of this component, or invalid.
static void peek(void) {
  static const struct {
    const char* key;
    uint32_t len;
  } kAttempts[] = {
      {"beta:counter:value", 18},
      {"beta/counter:value", 18},
      {"../beta:counter:value", 21},
      {"beta\0counter:value", 18},
      {"/beta/counter:value", 19},
      {"*", 1},
      {"beta:*", 6},
      {"counter:value\0beta", 18},
  };
  for (size_t i = 0; i < sizeof kAttempts / sizeof kAttempts[0]; ++i) {
    char buf[64];
    int64_t n = airssys_kv_get(kAttempts[i].key, kAttempts[i].len, buf, sizeof buf);
    if (n >= 0) {
      printf("%s peek %zu = %.*s\n", name, i, (int)n, buf);
    } else {
      printf("%s peek %zu error %lld\n", name, i, (long long)n);
    }
  }
}

static void command(const char* text) {
  const char* p = text;
  char verb[32], a[1100], b[64], c[64];
  next_word(&p, verb, sizeof verb);
  while (*p == ' ') ++p;
  if (!strcmp(verb, "tick")) {
    tick();
  } else if (!strcmp(verb, "set")) {
    next_word(&p, a, sizeof a);
    while (*p == ' ') ++p;
    printf("%s set %s = %d\n", name, a, airssys_kv_set(a, strlen(a), p, strlen(p)));
  } else if (!strcmp(verb, "get")) {
    next_word(&p, a, sizeof a);
    char value[256];
    int64_t n = airssys_kv_get(a, strlen(a), value, sizeof value);
    if (n >= 0) {
      printf("%s get %s = %.*s\n", name, a, (int)n, value);
    } else {
      printf("%s get %s error %lld\n", name, a, (long long)n);
    }
  } else if (!strcmp(verb, "getsmall")) {
    next_word(&p, a, sizeof a);
    char small[2];
    int64_t r = airssys_kv_get(a, strlen(a), small, sizeof small);
    int64_t len = airssys_kv_get(a, strlen(a), small, 0);
    printf("%s getsmall %s = %lld len=%lld\n", name, a, (long long)r, (long long)len);
  } else if (!strcmp(verb, "del")) {
    next_word(&p, a, sizeof a);
    printf("%s del %s = %d\n", name, a, airssys_kv_delete(a, strlen(a)));
  } else if (!strcmp(verb, "exists")) {
    next_word(&p, a, sizeof a);
    printf("%s exists %s = %d\n", name, a, airssys_kv_exists(a, strlen(a)));
  } else if (!strcmp(verb, "list")) {
    if (!next_word(&p, a, sizeof a)) a[0] = 0;
    list(a);
  } else if (!strcmp(verb, "usage")) {
    printf("%s usage = %lld\n", name, (long long)airssys_kv_usage());
  } else if (!strcmp(verb, "flood")) {
    next_word(&p, a, sizeof a);
    next_word(&p, b, sizeof b);
    next_word(&p, c, sizeof c);
    flood(a, atoi(b), (size_t)atol(c));
  } else if (!strcmp(verb, "version")) {
    printf("%s version %d\n", name, COUNTER_VERSION);
  } else if (!strcmp(verb, "peek")) {
    peek();
  } else if (!strcmp(verb, "trap")) {
    printf("%s trapping\n", name);
    fflush(stdout);
    __builtin_trap();
  } else {
    printf("%s unknown command %s\n", name, verb);
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
  if (sender_len == 4 && !memcmp(sender, "host", 4)) {
    char* text = malloc(payload_len + 1);
    memcpy(text, payload, payload_len);
    text[payload_len] = 0;
    command(text);
    free(text);
  } else {
    tick();
  }
  fflush(stdout);
  return 0;
}
