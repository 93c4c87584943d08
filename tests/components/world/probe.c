/* A component of the airssys:host world that calls every import function
 * of the world on command and answers each request with the result, one
 * line: "ok VALUE" or "error NAME".
 *
 * Commands (the payload of a request; words separated by one space, "-" is
 * the empty word):
 *   self                         self-id
 *   get KEY | set KEY VALUE | delete KEY | exists KEY | usage
 *   list PREFIX AFTER LIMIT      the keys, joined by ','
 *   log LEVEL TEXT               LEVEL 0 (trace) .. 4 (error)
 *   send TARGET TEXT | publish TOPIC TEXT | subscribe FILTER | unsubscribe FILTER
 *   request TARGET TEXT TIMEOUT_MS      the correlation id
 *   reply ID TEXT                a reply to any correlation id
 *   fetch METHOD PATH [BODY]     to the "url" of the init config, with the
 *                                header x-probe: yes; answers "ok STATUS
 *                                x-answer=VALUE BODY"
 * A reply or timeout of a request it made is logged at info level:
 * "reply ID ok PAYLOAD" or "reply ID error NAME". init fails when the config
 * holds "fail"; health is degraded with the number of commands run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airssys_world.h"

static char base_url[256];
static unsigned long commands;
static char answer[4096];
static char reason[64];

const char* airssys_world_init(const char* config, size_t config_len) {
  (void)config_len;
  if (strstr(config, "fail")) return "the config asks this start to fail";
  /* {"url": "http://..."}: the text between the quotes after "url". */
  const char* url = strstr(config, "\"url\"");
  if (url && (url = strchr(url + 5, '"'))) {
    const char* end = strchr(++url, '"');
    size_t n = end ? (size_t)(end - url) : 0;
    if (n < sizeof base_url) {
      memcpy(base_url, url, n);
      base_url[n] = 0;
    }
  }
  return NULL;
}

/* The next word of *p into out ("-" is the empty word); 0 at the end. */
static int word(const char** p, char* out, size_t cap) {
  while (**p == ' ') ++*p;
  size_t n = 0;
  while (**p && **p != ' ' && n + 1 < cap) out[n++] = *(*p)++;
  out[n] = 0;
  if (n == 1 && out[0] == '-') out[0] = 0;
  return n > 0;
}

/* The rest of the line after one space. */
static const char* rest(const char* p) { return *p == ' ' ? p + 1 : p; }

static void say(const char* format, const char* a, const char* b) {
  snprintf(answer, sizeof answer, format, a, b);
}

static void result(airssys_error_t e, const char* value) {
  if (e == AIRSSYS_ERROR_NONE) {
    say("ok %s", value, "");
  } else {
    say("error %s", airssys_error_name(e), "");
  }
}

static void run(const char* line) {
  char verb[32], a[2048], b[256], c[64];
  const char* p = line;
  word(&p, verb, sizeof verb);
  char number[32];
  if (!strcmp(verb, "self")) {
    airssys_string_t name;
    airssys_self_id(&name);
    snprintf(answer, sizeof answer, "ok %.*s", (int)name.len, name.ptr);
    airssys_string_free(&name);
  } else if (!strcmp(verb, "get")) {
    word(&p, a, sizeof a);
    airssys_bytes_t value;
    bool found;
    airssys_error_t e = airssys_kv_get(a, strlen(a), &value, &found);
    if (e == AIRSSYS_ERROR_NONE && !found) {
      say("ok absent", "", "");
    } else if (e == AIRSSYS_ERROR_NONE) {
      snprintf(answer, sizeof answer, "ok %.*s", (int)value.len, (const char*)value.ptr);
    } else {
      result(e, "");
    }
    airssys_bytes_free(&value);
  } else if (!strcmp(verb, "set")) {
    word(&p, a, sizeof a);
    const char* value = rest(p);
    result(airssys_kv_set(a, strlen(a), value, strlen(value)), "");
  } else if (!strcmp(verb, "delete")) {
    word(&p, a, sizeof a);
    bool existed = false;
    airssys_error_t e = airssys_kv_delete(a, strlen(a), &existed);
    result(e, existed ? "true" : "false");
  } else if (!strcmp(verb, "exists")) {
    word(&p, a, sizeof a);
    bool exists = false;
    airssys_error_t e = airssys_kv_exists(a, strlen(a), &exists);
    result(e, exists ? "true" : "false");
  } else if (!strcmp(verb, "usage")) {
    snprintf(number, sizeof number, "%llu", (unsigned long long)airssys_kv_usage());
    result(AIRSSYS_ERROR_NONE, number);
  } else if (!strcmp(verb, "list")) {
    word(&p, a, sizeof a);
    word(&p, b, sizeof b);
    word(&p, c, sizeof c);
    airssys_string_list_t keys;
    airssys_error_t e = airssys_kv_list(a, strlen(a), b, strlen(b), (uint32_t)atol(c), &keys);
    if (e != AIRSSYS_ERROR_NONE) {
      result(e, "");
    } else {
      size_t at = (size_t)snprintf(answer, sizeof answer, "ok ");
      for (size_t i = 0; i < keys.len && at < sizeof answer; ++i) {
        at += (size_t)snprintf(answer + at, sizeof answer - at, "%s%.*s", i ? "," : "",
                               (int)keys.ptr[i].len, keys.ptr[i].ptr);
      }
    }
    airssys_string_list_free(&keys);
  } else if (!strcmp(verb, "log")) {
    word(&p, c, sizeof c);
    const char* text = rest(p);
    result(airssys_log((airssys_log_level_t)atoi(c), text, strlen(text)), "");
  } else if (!strcmp(verb, "send") || !strcmp(verb, "publish")) {
    word(&p, a, sizeof a);
    const char* text = rest(p);
    if (verb[0] == 's') {
      result(airssys_send(a, strlen(a), text, strlen(text)), "");
    } else {
      uint32_t reached = 0;
      airssys_error_t e = airssys_publish(a, strlen(a), text, strlen(text), &reached);
      snprintf(number, sizeof number, "%u", (unsigned)reached);
      result(e, number);
    }
  } else if (!strcmp(verb, "subscribe") || !strcmp(verb, "unsubscribe")) {
    word(&p, a, sizeof a);
    result(verb[0] == 's' ? airssys_subscribe(a, strlen(a)) : airssys_unsubscribe(a, strlen(a)),
           "");
  } else if (!strcmp(verb, "request")) {
    word(&p, a, sizeof a);
    word(&p, b, sizeof b);
    word(&p, c, sizeof c);
    uint64_t id = 0;
    airssys_error_t e = airssys_request(a, strlen(a), b, strlen(b), (uint32_t)atol(c), &id);
    snprintf(number, sizeof number, "%llu", (unsigned long long)id);
    result(e, number);
  } else if (!strcmp(verb, "reply")) {
    word(&p, c, sizeof c);
    const char* text = rest(p);
    result(airssys_reply(strtoull(c, NULL, 10), text, strlen(text)), "");
  } else if (!strcmp(verb, "fetch")) {
    word(&p, c, sizeof c);
    word(&p, a, sizeof a);
    const char* body = rest(p);
    char url[2400];
    snprintf(url, sizeof url, "%s%s", base_url, a);
    airssys_http_header_t headers[] = {{AIRSSYS_STR("x-probe"), AIRSSYS_STR("yes")}};
    airssys_http_request_t request = {airssys_str(c), airssys_str(url), headers, 1,
                                      (const uint8_t*)body, strlen(body), 10000};
    airssys_http_response_t response;
    airssys_error_t e = airssys_http_fetch(&request, &response);
    if (e != AIRSSYS_ERROR_NONE) {
      result(e, "");
    } else {
      const char* header = "";
      int header_len = 0;
      for (size_t i = 0; i < response.headers_len; ++i) {
        if (response.headers[i].name.len == 8 &&
            !strncasecmp(response.headers[i].name.ptr, "x-answer", 8)) {
          header = response.headers[i].value.ptr;
          header_len = (int)response.headers[i].value.len;
        }
      }
      snprintf(answer, sizeof answer, "ok %u x-answer=%.*s %.*s", (unsigned)response.status,
               header_len, header, (int)response.body.len, (const char*)response.body.ptr);
    }
    airssys_http_response_free(&response);
  } else {
    say("error unknown command %s", verb, "");
  }
}

void airssys_world_handle_message(const airssys_message_t* message) {
  char line[4096];
  size_t n = message->payload_len < sizeof line - 1 ? message->payload_len : sizeof line - 1;
  memcpy(line, message->payload, n);
  line[n] = 0;
  ++commands;
  run(line);
  if (message->kind == AIRSSYS_MESSAGE_REQUEST) {
    airssys_reply(message->correlation_id, answer, strlen(answer));
  }
}

void airssys_world_handle_reply(uint64_t id, airssys_error_t error, const uint8_t* payload,
                                size_t payload_len) {
  char line[512];
  int n = error == AIRSSYS_ERROR_NONE
              ? snprintf(line, sizeof line, "reply %llu ok %.*s", (unsigned long long)id,
                         (int)payload_len, (const char*)payload)
              : snprintf(line, sizeof line, "reply %llu error %s", (unsigned long long)id,
                         airssys_error_name(error));
  airssys_log(AIRSSYS_LOG_INFO, line, (size_t)n);
}

airssys_health_t airssys_world_health(const char** why) {
  snprintf(reason, sizeof reason, "%lu commands", commands);
  *why = reason;
  return commands ? AIRSSYS_DEGRADED : AIRSSYS_HEALTHY;
}

void airssys_world_shutdown(void) {
  static const char bye[] = "shutting down";
  airssys_log(AIRSSYS_LOG_INFO, bye, sizeof bye - 1);
}
