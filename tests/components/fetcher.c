// An HTTP client driven by commands from the host, for end-to-end tests of
// airssys.http_request. Every result is printed as one line.
//
// Command (payload of a message from "host"):
//   fetch METHOD URL BUFSIZE TIMEOUT_MS FLAGS [BODY...]
// prints
//   NAME fetch = STATUS headers=H body=B text=BODY-TEXT      (success)
//   NAME fetch error CODE status=S headers=H body=B text=...  (refusal)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()

static char name[80];
static char buf[65536];

static int next_word(const char** p, char* out, size_t cap) {
  while (**p == ' ') ++*p;
  size_t n = 0;
  while (**p && **p != ' ' && n + 1 < cap) out[n++] = *(*p)++;
  out[n] = 0;
  return n > 0;
}

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  (void)config;
  (void)len;
  int32_t n = airssys_self_id(name, sizeof name - 1);
  name[n > 0 ? n : 0] = 0;
  printf("%s init\n", name);
  fflush(stdout);
  return 0;
}

static void fetch(const char* p) {
  char method[16], url[512], size[16], timeout[16], flags[16];
  if (!next_word(&p, method, sizeof method) || !next_word(&p, url, sizeof url) ||
      !next_word(&p, size, sizeof size) || !next_word(&p, timeout, sizeof timeout) ||
      !next_word(&p, flags, sizeof flags)) {
    printf("%s fetch usage\n", name);
    return;
  }
  while (*p == ' ') ++p;
  static const char headers[] = "X-Test: fetcher\nAccept: */*\n";
  uint32_t buf_len = (uint32_t)atoi(size);
  if (buf_len > sizeof buf - 1) buf_len = sizeof buf - 1;
  airssys_http_response response = {0, 0, 0};
  int32_t r = airssys_http_request(
      method, (uint32_t)strlen(method), url, (uint32_t)strlen(url), headers, sizeof headers - 1, p,
      (uint32_t)strlen(p), buf, buf_len, &response, (uint32_t)atoi(flags), (uint32_t)atoi(timeout));
  uint32_t shown = response.headers_len + response.body_len;
  if (shown > buf_len) shown = buf_len;
  if (shown > 200) shown = 200;
  for (uint32_t i = 0; i < shown; ++i) {
    if (buf[i] == '\n') buf[i] = '|';
    if (buf[i] == '\r') buf[i] = '~';
  }
  buf[shown] = 0;
  if (r >= 100) {
    printf("%s fetch = %d headers=%u body=%u text=%s\n", name, r, response.headers_len,
           response.body_len, buf);
  } else {
    printf("%s fetch error %d status=%d headers=%u body=%u text=%s\n", name, r, response.status,
           response.headers_len, response.body_len, r == AIRSSYS_E_BUFFER ? buf : "");
  }
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation_id, const char* sender,
                       uint32_t sender_len, const char* topic, uint32_t topic_len,
                       const uint8_t* payload, uint32_t payload_len) {
  (void)kind;
  (void)correlation_id;
  (void)sender;
  (void)sender_len;
  (void)topic;
  (void)topic_len;
  char command[1024];
  if (payload_len >= sizeof command) payload_len = sizeof command - 1;
  memcpy(command, payload, payload_len);
  command[payload_len] = 0;
  if (strncmp(command, "fetch ", 6) == 0) {
    fetch(command + 6);
  } else {
    printf("%s unknown command\n", name);
  }
  fflush(stdout);
  return 0;
}
