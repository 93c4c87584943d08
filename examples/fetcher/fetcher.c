#define _GNU_SOURCE  // memmem
// Fetches the URL it is sent (or the one in its [config]) with GET and prints
// the status and the first line of the body. Its manifest grants one host and
// port; anything else is refused by the host, redirects included.
#include <stdio.h>
#include <string.h>

#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()
AIRSSYS_DEFINE_INBOX(512)

static char default_url[256];
static char body[4096];

static void fetch(const char* url, size_t url_len) {
  airssys_http_response response;
  int32_t status = airssys_http_request("GET", 3, url, (uint32_t)url_len, "", 0, "", 0, body,
                                        sizeof body - 1, &response, 0, 5000);
  if (status < 0) {
    printf("fetcher: GET %.*s refused or failed: %s\n", (int)url_len, url,
           airssys_status_name(status));
    return;
  }
  size_t n = response.body_len < sizeof body - 1 ? response.body_len : sizeof body - 1;
  body[n] = 0;
  char* newline = strchr(body, '\n');
  if (newline) *newline = 0;
  printf("fetcher: GET %.*s -> %d, %u bytes: %s\n", (int)url_len, url, status,
         response.body_len, body);
}

// The configuration is JSON: {"url": "http://..."}; the URL is taken as the
// text between the quotes after "url".
AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  const char* key = memmem(config, len, "\"url\"", 5);
  if (key) {
    const char* start = memchr(key + 5, '"', (size_t)(config + len - key - 5));
    const char* end = start ? memchr(start + 1, '"', (size_t)(config + len - start - 1)) : NULL;
    if (start && end && (size_t)(end - start - 1) < sizeof default_url) {
      memcpy(default_url, start + 1, (size_t)(end - start - 1));
    }
  }
  printf("fetcher: ready%s%s\n", default_url[0] ? ", default URL " : "", default_url);
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
  if (payload_len == 0 || (payload_len == 5 && !memcmp(payload, "fetch", 5))) {
    if (default_url[0]) fetch(default_url, strlen(default_url));
    return 0;
  }
  fetch((const char*)payload, payload_len);
  return 0;
}
