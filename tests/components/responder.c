// Answers requests and logs what it is asked, for `airssys-wasm request` and
// `logs`: a request "P" is logged (airssys.log, info) as "request from S: P"
// and answered "echo:P"; a request starting with "silent" is logged and left
// unanswered; a message sent to it is logged as "message from S: P" and, when
// it reads "print TEXT", TEXT goes to stdout as well.
#include <stdio.h>
#include <string.h>

#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()

static void log_line(const char* what, const char* sender, uint32_t sender_len,
                     const uint8_t* payload, uint32_t payload_len) {
  char line[512];
  int n = snprintf(line, sizeof line, "%s from %.*s: %.*s", what, (int)sender_len, sender,
                   (int)payload_len, (const char*)payload);
  if (n > (int)sizeof line - 1) n = (int)sizeof line - 1;
  airssys_log(AIRSSYS_LOG_INFO, line, (uint32_t)n);
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation, const char* sender, uint32_t sender_len,
                       const char* topic, uint32_t topic_len, const uint8_t* payload,
                       uint32_t payload_len) {
  (void)topic;
  (void)topic_len;
  if (kind == AIRSSYS_MSG_REQUEST) {
    log_line("request", sender, sender_len, payload, payload_len);
    if (payload_len >= 6 && !memcmp(payload, "silent", 6)) return 0;
    char answer[600];
    int n = snprintf(answer, sizeof answer, "echo:%.*s", (int)payload_len, (const char*)payload);
    if (n > (int)sizeof answer - 1) n = (int)sizeof answer - 1;
    airssys_reply(correlation, answer, (uint32_t)n);
    return 0;
  }
  log_line("message", sender, sender_len, payload, payload_len);
  if (payload_len > 6 && !memcmp(payload, "print ", 6)) {
    printf("%.*s\n", (int)payload_len - 6, (const char*)payload + 6);
    fflush(stdout);
  }
  return 0;
}
