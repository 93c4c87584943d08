/* A component of the airssys:host world whose allocator turns against the
 * host once it has started: its init config names what cabi_realloc does
 * from then on (bad_alloc_realloc.c), when the host lowers a message into
 * it. "trap": unreachable; "loop": a loop that never ends; anything else:
 * it allocates, and each message is logged as it arrives. */
#include <stdio.h>
#include <string.h>

#include "airssys_world.h"

int bad_alloc_mode = 0; /* 0 allocates, 1 traps, 2 loops */

const char* airssys_world_init(const char* config, size_t config_len) {
  (void)config_len;
  if (strstr(config, "trap")) bad_alloc_mode = 1;
  if (strstr(config, "loop")) bad_alloc_mode = 2;
  return NULL;
}

void airssys_world_handle_message(const airssys_message_t* message) {
  char line[96];
  snprintf(line, sizeof line, "got %zu bytes from %s", message->payload_len, message->sender);
  airssys_log(AIRSSYS_LOG_INFO, line, strlen(line));
}
