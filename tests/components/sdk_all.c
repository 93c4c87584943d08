// Calls every function of the C SDK (sdk/c/airssys.h) once, with arguments a
// component may legitimately pass, and prints each result: the SDK test of
// the ABI. Linking it proves every declaration matches the host's signature.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()
AIRSSYS_DEFINE_INBOX(512)

#define SHOW(expr) printf("%s = %lld\n", #expr, (long long)(expr))

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  (void)config;
  (void)len;
  char name[64];
  int32_t n = airssys_self_id(name, sizeof name);
  printf("self_id = %.*s\n", n > 0 ? (int)n : 0, name);
  SHOW(airssys_send("sdk-all", 7, "hi", 2));
  SHOW(airssys_request("sdk-all", 7, "q", 1, 1000) > 0);
  SHOW(airssys_reply(999999, "x", 1));
  SHOW(airssys_subscribe("sdk.*", 5));
  SHOW(airssys_publish("sdk.event", 9, "e", 1));
  SHOW(airssys_unsubscribe("sdk.*", 5));
  SHOW(airssys_kv_set("sdk:k", 5, "value", 5));
  char value[16];
  SHOW(airssys_kv_get("sdk:k", 5, value, sizeof value));
  SHOW(airssys_kv_exists("sdk:k", 5));
  char keys[64];
  SHOW(airssys_kv_list("sdk:", 4, "", 0, keys, sizeof keys));
  SHOW(airssys_kv_usage());
  SHOW(airssys_kv_delete("sdk:k", 5));
  airssys_http_response response;
  char body[64];
  SHOW(airssys_http_request("GET", 3, "http://example.com/", 19, "", 0, "", 0, body, sizeof body,
                            &response, 0, 1000));
  SHOW(airssys_log(AIRSSYS_LOG_INFO, "sdk log line", 12));
  FILE* f = fopen("/etc/passwd", "r");
  printf("fopen(/etc/passwd) = %s errno=%s\n", f ? "opened" : "refused",
         errno == EACCES ? "EACCES" : "other");
  if (f) fclose(f);
  fflush(stdout);
  return 0;
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation, const char* sender, uint32_t sender_len,
                       const char* topic, uint32_t topic_len, const uint8_t* payload,
                       uint32_t payload_len) {
  (void)sender;
  (void)sender_len;
  printf("message kind=%d topic=%.*s payload=%.*s\n", (int)kind, (int)topic_len, topic,
         (int)payload_len, (const char*)payload);
  if (kind == AIRSSYS_MSG_REQUEST) SHOW(airssys_reply(correlation, "answer", 6));
  fflush(stdout);
  return 0;
}

AIRSSYS_EXPORT("airssys_handle_reply")
int32_t handle_reply(int64_t correlation, int32_t status, const uint8_t* payload, uint32_t len) {
  (void)correlation;
  printf("reply status=%d payload=%.*s\n", (int)status, (int)len, (const char*)payload);
  fflush(stdout);
  return 0;
}

AIRSSYS_EXPORT("airssys_shutdown") void shutdown(void) {}
