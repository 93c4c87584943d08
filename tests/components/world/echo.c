/* A component of the airssys:host world that answers every request with its
 * payload, logs the size and the byte sum of every other message, and counts
 * the messages it was sent in its health reason. */
#include <stdio.h>

#include "airssys_world.h"

static unsigned long received;
static char reason[64];

void airssys_world_handle_message(const airssys_message_t* message) {
  ++received;
  if (message->kind == AIRSSYS_MESSAGE_REQUEST) {
    airssys_error_t e = airssys_reply(message->correlation_id, message->payload, message->payload_len);
    if (e != AIRSSYS_ERROR_NONE) {
      char line[80];
      int n = snprintf(line, sizeof line, "reply: %s", airssys_error_name(e));
      airssys_log(AIRSSYS_LOG_WARN, line, (size_t)n);
    }
  } else {
    unsigned long sum = 0;
    for (size_t i = 0; i < message->payload_len; ++i) sum += message->payload[i];
    char line[96];
    int n = snprintf(line, sizeof line, "got %zu bytes from %s, sum %lu", message->payload_len,
                     message->sender, sum);
    airssys_log(AIRSSYS_LOG_INFO, line, (size_t)n);
  }
}

airssys_health_t airssys_world_health(const char** why) {
  snprintf(reason, sizeof reason, "%lu messages", received);
  *why = reason;
  return AIRSSYS_DEGRADED;
}
