/* A hostile component of the airssys:host world: on command it floods the
 * host past its quotas and passes what the host must refuse, and answers
 * each request with what it got back, by error name:
 *   "ok=N quota=M ..." for floods, one name per attempt otherwise.
 *
 * Commands (the payload of a request):
 *   flood-log N              N log lines at once
 *   flood-kv N SIZE          N keys flood:I of SIZE bytes each
 *   flood-send N TARGET      N messages
 *   flood-fetch N URL        N GETs of URL
 *   oversize TARGET SIZE     one message of SIZE bytes
 *   bad-keys                 get/set/delete/exists/list with malformed keys
 *   bad-names                send/publish/subscribe with malformed names
 *   fetch URL                one GET (an ungranted host)
 *   bad-headers URL          fetches with headers the host writes itself
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airssys_world.h"

static char answer[4096];
static size_t at;

static void add(const char* text) {
  at += (size_t)snprintf(answer + at, sizeof answer - at, "%s%s", at ? " " : "", text);
  if (at >= sizeof answer) at = sizeof answer - 1;
}

/* Counts of each outcome of a flood, by error name. */
static unsigned counts[AIRSSYS_ERROR_NO_REQUEST + 1];

static void count(airssys_error_t e) {
  if ((unsigned)e <= AIRSSYS_ERROR_NO_REQUEST) ++counts[e];
}

static void report_counts(void) {
  char item[64];
  for (unsigned e = 0; e <= AIRSSYS_ERROR_NO_REQUEST; ++e) {
    if (!counts[e]) continue;
    snprintf(item, sizeof item, "%s=%u", airssys_error_name((airssys_error_t)e), counts[e]);
    add(item);
    counts[e] = 0;
  }
}

static int word(const char** p, char* out, size_t cap) {
  while (**p == ' ') ++*p;
  size_t n = 0;
  while (**p && **p != ' ' && n + 1 < cap) out[n++] = *(*p)++;
  out[n] = 0;
  return n > 0;
}

static airssys_error_t get(const char* url) {
  airssys_http_request_t request = {AIRSSYS_STR("GET"), airssys_str(url), NULL, 0, NULL, 0, 5000};
  airssys_http_response_t response;
  airssys_error_t e = airssys_http_fetch(&request, &response);
  airssys_http_response_free(&response);
  return e;
}

static void run(const char* line) {
  char verb[32], a[512], b[64];
  const char* p = line;
  word(&p, verb, sizeof verb);
  at = 0;
  answer[0] = 0;
  if (!strcmp(verb, "flood-log")) {
    word(&p, b, sizeof b);
    static const char text[] = "a line of a flood";
    for (long i = atol(b); i > 0; --i) count(airssys_log(AIRSSYS_LOG_INFO, text, sizeof text - 1));
    report_counts();
  } else if (!strcmp(verb, "flood-kv")) {
    word(&p, a, sizeof a);
    word(&p, b, sizeof b);
    size_t size = (size_t)atol(b);
    char* value = malloc(size ? size : 1);
    memset(value, 'v', size);
    for (long i = 0; i < atol(a); ++i) {
      char key[32];
      int n = snprintf(key, sizeof key, "flood:%ld", i);
      count(airssys_kv_set(key, (size_t)n, value, size));
    }
    free(value);
    report_counts();
  } else if (!strcmp(verb, "flood-send")) {
    word(&p, b, sizeof b);
    word(&p, a, sizeof a);
    for (long i = atol(b); i > 0; --i) count(airssys_send(a, strlen(a), "x", 1));
    report_counts();
  } else if (!strcmp(verb, "flood-fetch")) {
    word(&p, b, sizeof b);
    word(&p, a, sizeof a);
    for (long i = atol(b); i > 0; --i) count(get(a));
    report_counts();
  } else if (!strcmp(verb, "oversize")) {
    word(&p, a, sizeof a);
    word(&p, b, sizeof b);
    size_t size = (size_t)atol(b);
    char* payload = calloc(size ? size : 1, 1);
    add(airssys_error_name(airssys_send(a, strlen(a), payload, size)));
    add(airssys_error_name(airssys_publish("topic", 5, payload, size, NULL)));
    add(airssys_error_name(airssys_reply(1, payload, size)));
    free(payload);
  } else if (!strcmp(verb, "bad-keys")) {
    static const char* const keys[] = {"", "a::b", ":a", "a:", "a*b", "a b", "\xc3\xa9t\xc3\xa9"};
    bool flag;
    airssys_bytes_t value;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; ++i) {
      const char* k = keys[i];
      add(airssys_error_name(airssys_kv_get(k, strlen(k), &value, &flag)));
      add(airssys_error_name(airssys_kv_set(k, strlen(k), "v", 1)));
      add(airssys_error_name(airssys_kv_delete(k, strlen(k), &flag)));
      add(airssys_error_name(airssys_kv_exists(k, strlen(k), &flag)));
    }
    char* long_key = malloc(2000);
    memset(long_key, 'k', 2000);
    add(airssys_error_name(airssys_kv_set(long_key, 2000, "v", 1)));
    free(long_key);
    airssys_string_list_t keys_out;
    add(airssys_error_name(airssys_kv_list("a*", 2, "", 0, 10, &keys_out)));
    airssys_string_list_free(&keys_out);
  } else if (!strcmp(verb, "bad-names")) {
    static const char* const names[] = {"", "bad name\x01", "\xc3\xa9t\xc3\xa9"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
      const char* n = names[i];
      add(airssys_error_name(airssys_send(n, strlen(n), "x", 1)));
      add(airssys_error_name(airssys_publish(n, strlen(n), "x", 1, NULL)));
      add(airssys_error_name(airssys_subscribe(n, strlen(n))));
    }
    char long_name[100];
    memset(long_name, 'n', sizeof long_name);
    add(airssys_error_name(airssys_send(long_name, sizeof long_name, "x", 1)));
  } else if (!strcmp(verb, "fetch")) {
    word(&p, a, sizeof a);
    add(airssys_error_name(get(a)));
  } else if (!strcmp(verb, "bad-headers")) {
    word(&p, a, sizeof a);
    static const char* const names[] = {"Host", "content-length", "Transfer-Encoding", "bad name",
                                        "x-ok"};
    static const char* const values[] = {"evil", "1", "chunked", "v", "split\r\nHost: evil"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
      airssys_http_header_t header = {airssys_str(names[i]), airssys_str(values[i])};
      airssys_http_request_t request = {AIRSSYS_STR("GET"), airssys_str(a), &header, 1, NULL, 0,
                                        5000};
      airssys_http_response_t response;
      add(airssys_error_name(airssys_http_fetch(&request, &response)));
      airssys_http_response_free(&response);
    }
    airssys_http_request_t lower = {AIRSSYS_STR("get"), airssys_str(a), NULL, 0, NULL, 0, 5000};
    airssys_http_response_t response;
    add(airssys_error_name(airssys_http_fetch(&lower, &response)));
    airssys_http_response_free(&response);
  } else {
    add("unknown");
  }
}

void airssys_world_handle_message(const airssys_message_t* message) {
  char line[1024];
  size_t n = message->payload_len < sizeof line - 1 ? message->payload_len : sizeof line - 1;
  memcpy(line, message->payload, n);
  line[n] = 0;
  run(line);
  if (message->kind == AIRSSYS_MESSAGE_REQUEST) {
    airssys_reply(message->correlation_id, answer, strlen(answer));
  }
}
