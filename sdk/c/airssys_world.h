/*
 * airssys_world.h - C bindings for the airssys:host@0.3.0 world (wit/host.wit),
 * for components of the WebAssembly Component Model.
 *
 * The world's imports (messaging, kv, http, logging) are declared here with
 * the core signatures the canonical ABI gives them, and wrapped in typed C
 * functions; the world's exports (the handler interface) are defined here
 * and call the functions you write:
 *
 *   const char* airssys_world_init(const char* config, size_t config_len);
 *       Once per start, with the manifest's [config] as JSON. Return NULL,
 *       or the text of an error, which fails the start.      (default: NULL)
 *   void airssys_world_handle_message(const airssys_message_t* message);
 *       Each message, one at a time.                   (default: ignore it)
 *   void airssys_world_handle_reply(uint64_t correlation_id, airssys_error_t error,
 *                                   const uint8_t* payload, size_t payload_len);
 *       The reply to a request (error AIRSSYS_ERROR_NONE) or its refusal
 *       (AIRSSYS_ERROR_TIMEOUT, ...).                     (default: ignore it)
 *   airssys_health_t airssys_world_health(const char** reason);
 *       Healthy, or degraded / unhealthy with a reason.  (default: healthy)
 *   void airssys_world_shutdown(void);
 *       On a clean stop.                                 (default: nothing)
 *
 * Every one of them is optional: define those the component needs. What the
 * handlers receive (config, message, payload) lives until they return: copy
 * what must outlive the call.
 * Strings and lists the host returns (airssys_self_id, airssys_kv_get,
 * airssys_kv_list, airssys_http_fetch) are the caller's, allocated with
 * cabi_realloc (malloc), and freed with the airssys_*_free functions.
 *
 * Build: the core module as a WASI reactor, then the component with the
 * world's type embedded and jco's WASI preview 1 reactor adapter:
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -I<sdk/c> app.c -o app.core.wasm
 *   node tools/jco/embed.mjs --wit wit/host.wit --world component app.core.wasm -o app.embed.wasm
 *   jco new app.embed.wasm --wasi-reactor -o app.wasm
 * or airssys_jco_world(<target> MODULE app.core.wasm OUTPUT app.wasm) in CMake.
 * docs/wit.md describes every function; docs/abi.md the rules both ABIs share.
 *
 * A component uses this header or the core ABI's airssys.h, not both.
 */
#ifndef AIRSSYS_WORLD_H
#define AIRSSYS_WORLD_H

#ifdef AIRSSYS_H
#error "airssys_world.h and airssys.h are two ABIs: a component uses one of them"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#define AIRSSYS__ALIGNED(n) alignas(n)
#define AIRSSYS__STATIC_ASSERT(what, why) static_assert(what, why)
#else
#define AIRSSYS__ALIGNED(n) _Alignas(n)
#define AIRSSYS__STATIC_ASSERT(what, why) _Static_assert(what, why)
#endif

#define AIRSSYS_WORLD_VERSION "0.3.0"

/* ---- values ------------------------------------------------------------ */

/* The cases of airssys:host/types.error, plus AIRSSYS_ERROR_NONE (success). */
typedef enum {
  AIRSSYS_ERROR_NONE = 0,
  AIRSSYS_ERROR_DENIED,      /* a capability, the receiver or the host policy refused */
  AIRSSYS_ERROR_QUOTA,       /* a rate or resource quota refused */
  AIRSSYS_ERROR_TOO_LARGE,   /* a payload or value is over its maximum size */
  AIRSSYS_ERROR_NOT_FOUND,   /* no component by that name */
  AIRSSYS_ERROR_FULL,        /* the target's mailbox is full: back off and retry */
  AIRSSYS_ERROR_INVALID,     /* a malformed name, topic, key, URL, method or header */
  AIRSSYS_ERROR_TIMEOUT,     /* a request or its reply did not complete in time */
  AIRSSYS_ERROR_UNAVAILABLE, /* the target is stopping or failed; no store; no connection */
  AIRSSYS_ERROR_NO_REQUEST,  /* a reply to a correlation id that awaits none */
} airssys_error_t;

/* "ok", "denied", "quota", "too-large", "not-found", "full", "invalid",
 * "timeout", "unavailable", "no-request" (the WIT names); "?" otherwise. */
static inline const char* airssys_error_name(airssys_error_t error) {
  static const char* const names[] = {"ok",      "denied",      "quota",     "too-large",
                                      "not-found", "full",      "invalid",   "timeout",
                                      "unavailable", "no-request"};
  return (unsigned)error < sizeof names / sizeof names[0] ? names[error] : "?";
}

/* Text the caller passes: not NUL-terminated, `len` bytes. */
typedef struct {
  const char* ptr;
  size_t len;
} airssys_str_t;
#define AIRSSYS_STR(literal) ((airssys_str_t){(literal), sizeof(literal) - 1})
static inline airssys_str_t airssys_str(const char* s) {
  airssys_str_t out = {s, strlen(s)};
  return out;
}

/* What the host returns, owned by the caller. */
typedef struct {
  char* ptr;
  size_t len;
} airssys_string_t;
typedef struct {
  uint8_t* ptr;
  size_t len;
} airssys_bytes_t;
typedef struct {
  airssys_string_t* ptr;
  size_t len;
} airssys_string_list_t;

/* Lists the canonical ABI hands over may be empty without an allocation. */
static inline void airssys_string_free(airssys_string_t* s) {
  if (s->len) free(s->ptr);
  s->ptr = NULL;
  s->len = 0;
}
static inline void airssys_bytes_free(airssys_bytes_t* b) {
  if (b->len) free(b->ptr);
  b->ptr = NULL;
  b->len = 0;
}
static inline void airssys_string_list_free(airssys_string_list_t* list) {
  for (size_t i = 0; i < list->len; ++i) airssys_string_free(&list->ptr[i]);
  if (list->len) free(list->ptr);
  list->ptr = NULL;
  list->len = 0;
}

/* ---- the raw imports: the canonical ABI's core signatures ------------- */

#define AIRSSYS__IMPORT(iface, name) \
  __attribute__((import_module("airssys:host/" iface "@" AIRSSYS_WORLD_VERSION), import_name(name)))

AIRSSYS__IMPORT("messaging", "self-id") void airssys__self_id(void* ret);
AIRSSYS__IMPORT("messaging", "send")
void airssys__send(const char* target, size_t target_len, const void* payload, size_t payload_len,
                   void* ret);
AIRSSYS__IMPORT("messaging", "request")
void airssys__request(const char* target, size_t target_len, const void* payload,
                      size_t payload_len, uint32_t timeout_ms, void* ret);
AIRSSYS__IMPORT("messaging", "reply")
void airssys__reply(uint64_t correlation_id, const void* payload, size_t payload_len, void* ret);
AIRSSYS__IMPORT("messaging", "publish")
void airssys__publish(const char* topic, size_t topic_len, const void* payload,
                      size_t payload_len, void* ret);
AIRSSYS__IMPORT("messaging", "subscribe")
void airssys__subscribe(const char* filter, size_t filter_len, void* ret);
AIRSSYS__IMPORT("messaging", "unsubscribe")
void airssys__unsubscribe(const char* filter, size_t filter_len, void* ret);

AIRSSYS__IMPORT("kv", "get") void airssys__kv_get(const char* key, size_t key_len, void* ret);
AIRSSYS__IMPORT("kv", "set")
void airssys__kv_set(const char* key, size_t key_len, const void* value, size_t value_len,
                     void* ret);
AIRSSYS__IMPORT("kv", "delete") void airssys__kv_delete(const char* key, size_t key_len, void* ret);
AIRSSYS__IMPORT("kv", "exists") void airssys__kv_exists(const char* key, size_t key_len, void* ret);
AIRSSYS__IMPORT("kv", "list")
void airssys__kv_list(const char* prefix, size_t prefix_len, const char* after, size_t after_len,
                      uint32_t limit, void* ret);
AIRSSYS__IMPORT("kv", "usage") uint64_t airssys__kv_usage(void);

AIRSSYS__IMPORT("http", "fetch")
void airssys__http_fetch(const char* method, size_t method_len, const char* url, size_t url_len,
                         const void* headers, size_t headers_len, const void* body,
                         size_t body_len, uint32_t timeout_ms, void* ret);

AIRSSYS__IMPORT("logging", "log")
void airssys__log(int32_t level, const char* message, size_t message_len, void* ret);

/* result<_, error>: the discriminant at 0, the error's case at 1. */
static inline airssys_error_t airssys__unit_result(const uint8_t* ret) {
  return ret[0] ? (airssys_error_t)(ret[1] + 1) : AIRSSYS_ERROR_NONE;
}

/* ---- airssys:host/messaging -------------------------------------------- */

/* This component's name. */
static inline void airssys_self_id(airssys_string_t* out) {
  AIRSSYS__ALIGNED(4) uint8_t ret[8];
  airssys__self_id(ret);
  memcpy(&out->ptr, ret, 4);
  memcpy(&out->len, ret + 4, 4);
}

/* Fire and forget; needs messaging.send for `target`. */
static inline airssys_error_t airssys_send(const char* target, size_t target_len,
                                           const void* payload, size_t payload_len) {
  AIRSSYS__ALIGNED(4) uint8_t ret[2];
  airssys__send(target, target_len, payload, payload_len, ret);
  return airssys__unit_result(ret);
}

/* Like airssys_send; the reply, or a timeout after `timeout_ms` (0: 30 s),
 * arrives at airssys_world_handle_reply with the id in *correlation_id. */
static inline airssys_error_t airssys_request(const char* target, size_t target_len,
                                              const void* payload, size_t payload_len,
                                              uint32_t timeout_ms, uint64_t* correlation_id) {
  AIRSSYS__ALIGNED(8) uint8_t ret[16];
  airssys__request(target, target_len, payload, payload_len, timeout_ms, ret);
  if (ret[0]) return (airssys_error_t)(ret[8] + 1);
  memcpy(correlation_id, ret + 8, 8);
  return AIRSSYS_ERROR_NONE;
}

/* Answers a request this component received; once per request. */
static inline airssys_error_t airssys_reply(uint64_t correlation_id, const void* payload,
                                            size_t payload_len) {
  AIRSSYS__ALIGNED(4) uint8_t ret[2];
  airssys__reply(correlation_id, payload, payload_len, ret);
  return airssys__unit_result(ret);
}

/* To every subscriber of a matching filter; *reached (may be NULL) counts them. */
static inline airssys_error_t airssys_publish(const char* topic, size_t topic_len,
                                              const void* payload, size_t payload_len,
                                              uint32_t* reached) {
  AIRSSYS__ALIGNED(4) uint8_t ret[8];
  airssys__publish(topic, topic_len, payload, payload_len, ret);
  if (ret[0]) return (airssys_error_t)(ret[4] + 1);
  if (reached) memcpy(reached, ret + 4, 4);
  return AIRSSYS_ERROR_NONE;
}

static inline airssys_error_t airssys_subscribe(const char* filter, size_t filter_len) {
  AIRSSYS__ALIGNED(4) uint8_t ret[2];
  airssys__subscribe(filter, filter_len, ret);
  return airssys__unit_result(ret);
}

static inline airssys_error_t airssys_unsubscribe(const char* filter, size_t filter_len) {
  AIRSSYS__ALIGNED(4) uint8_t ret[2];
  airssys__unsubscribe(filter, filter_len, ret);
  return airssys__unit_result(ret);
}

/* ---- airssys:host/kv ---------------------------------------------------- */

/* *found tells whether the key exists; its value is in *out (free it with
 * airssys_bytes_free) when it does. */
static inline airssys_error_t airssys_kv_get(const char* key, size_t key_len, airssys_bytes_t* out,
                                             bool* found) {
  AIRSSYS__ALIGNED(4) uint8_t ret[16];
  airssys__kv_get(key, key_len, ret);
  out->ptr = NULL;
  out->len = 0;
  *found = false;
  if (ret[0]) return (airssys_error_t)(ret[4] + 1);
  if (ret[4]) {
    *found = true;
    memcpy(&out->ptr, ret + 8, 4);
    memcpy(&out->len, ret + 12, 4);
  }
  return AIRSSYS_ERROR_NONE;
}

static inline airssys_error_t airssys_kv_set(const char* key, size_t key_len, const void* value,
                                             size_t value_len) {
  AIRSSYS__ALIGNED(4) uint8_t ret[2];
  airssys__kv_set(key, key_len, value, value_len, ret);
  return airssys__unit_result(ret);
}

/* *existed (may be NULL) tells whether the key existed and is now removed. */
static inline airssys_error_t airssys_kv_delete(const char* key, size_t key_len, bool* existed) {
  AIRSSYS__ALIGNED(4) uint8_t ret[2];
  airssys__kv_delete(key, key_len, ret);
  if (ret[0]) return (airssys_error_t)(ret[1] + 1);
  if (existed) *existed = ret[1] != 0;
  return AIRSSYS_ERROR_NONE;
}

static inline airssys_error_t airssys_kv_exists(const char* key, size_t key_len, bool* exists) {
  AIRSSYS__ALIGNED(4) uint8_t ret[2];
  airssys__kv_exists(key, key_len, ret);
  if (ret[0]) return (airssys_error_t)(ret[1] + 1);
  *exists = ret[1] != 0;
  return AIRSSYS_ERROR_NONE;
}

/* Up to `limit` (at most 1000) keys that start with `prefix` and sort after
 * `after` (empty: from the first); an empty list means there are no more.
 * Free it with airssys_string_list_free. */
static inline airssys_error_t airssys_kv_list(const char* prefix, size_t prefix_len,
                                              const char* after, size_t after_len, uint32_t limit,
                                              airssys_string_list_t* out) {
  AIRSSYS__ALIGNED(4) uint8_t ret[12];
  airssys__kv_list(prefix, prefix_len, after, after_len, limit, ret);
  out->ptr = NULL;
  out->len = 0;
  if (ret[0]) return (airssys_error_t)(ret[4] + 1);
  memcpy(&out->ptr, ret + 4, 4);
  memcpy(&out->len, ret + 8, 4);
  return AIRSSYS_ERROR_NONE;
}

/* The bytes this component's keys and values take (0 without a store). */
static inline uint64_t airssys_kv_usage(void) { return airssys__kv_usage(); }

/* ---- airssys:host/http -------------------------------------------------- */

/* A request header, as the caller passes it. */
typedef struct {
  airssys_str_t name;
  airssys_str_t value;
} airssys_http_header_t;

/* A response header, owned by the caller. */
typedef struct {
  airssys_string_t name;
  airssys_string_t value;
} airssys_header_t;

typedef struct {
  airssys_str_t method; /* "GET", "POST", ...: 1-16 upper-case letters */
  airssys_str_t url;    /* an absolute http:// or https:// URL */
  const airssys_http_header_t* headers;
  size_t headers_len;
  const uint8_t* body;
  size_t body_len;
  uint32_t timeout_ms; /* the whole call, redirects included; 0: 30 s, at most 60 s */
} airssys_http_request_t;

typedef struct {
  uint16_t status;
  airssys_header_t* headers;
  size_t headers_len;
  airssys_bytes_t body;
} airssys_http_response_t;

static inline void airssys_http_response_free(airssys_http_response_t* response) {
  for (size_t i = 0; i < response->headers_len; ++i) {
    airssys_string_free(&response->headers[i].name);
    airssys_string_free(&response->headers[i].value);
  }
  if (response->headers_len) free(response->headers);
  response->headers = NULL;
  response->headers_len = 0;
  airssys_bytes_free(&response->body);
}

/* One request under network.connect; any status is a response (free it
 * with airssys_http_response_free). */
static inline airssys_error_t airssys_http_fetch(const airssys_http_request_t* request,
                                                 airssys_http_response_t* out) {
  /* The headers' layout is the canonical ABI's list<tuple<string, string>>. */
  AIRSSYS__STATIC_ASSERT(sizeof(airssys_http_header_t) == 16, "a header is two strings of 8 bytes");
  AIRSSYS__ALIGNED(4) uint8_t ret[24];
  airssys__http_fetch(request->method.ptr, request->method.len, request->url.ptr,
                      request->url.len, request->headers, request->headers_len, request->body,
                      request->body_len, request->timeout_ms, ret);
  memset(out, 0, sizeof *out);
  if (ret[0]) return (airssys_error_t)(ret[4] + 1);
  uint16_t status;
  memcpy(&status, ret + 4, 2);
  out->status = status;
  memcpy(&out->headers, ret + 8, 4);
  memcpy(&out->headers_len, ret + 12, 4);
  memcpy(&out->body.ptr, ret + 16, 4);
  memcpy(&out->body.len, ret + 20, 4);
  return AIRSSYS_ERROR_NONE;
}

/* ---- airssys:host/logging ----------------------------------------------- */

typedef enum {
  AIRSSYS_LOG_TRACE = 0,
  AIRSSYS_LOG_DEBUG,
  AIRSSYS_LOG_INFO,
  AIRSSYS_LOG_WARN,
  AIRSSYS_LOG_ERROR,
} airssys_log_level_t;

/* AIRSSYS_ERROR_QUOTA when the log's rate limit drops the line. */
static inline airssys_error_t airssys_log(airssys_log_level_t level, const char* message,
                                          size_t message_len) {
  AIRSSYS__ALIGNED(4) uint8_t ret[2];
  airssys__log((int32_t)level, message, message_len, ret);
  return airssys__unit_result(ret);
}

/* ---- airssys:host/handler: what the component defines -------------------- */

typedef enum {
  AIRSSYS_MESSAGE_SEND = 0, /* no answer expected */
  AIRSSYS_MESSAGE_REQUEST,  /* answer with airssys_reply(correlation_id, ...) */
  AIRSSYS_MESSAGE_PUBLISH,  /* published to a topic this component subscribed to */
} airssys_message_kind_t;

typedef struct {
  airssys_message_kind_t kind;
  uint64_t correlation_id; /* of a request; 0 otherwise */
  const char* sender;      /* the sending component, or "host"; NUL-terminated */
  size_t sender_len;
  const char* topic; /* of a published message, NUL-terminated; NULL otherwise */
  size_t topic_len;
  const uint8_t* payload;
  size_t payload_len;
} airssys_message_t;

typedef enum {
  AIRSSYS_HEALTHY = 0,
  AIRSSYS_DEGRADED,  /* working, with a reason worth a look */
  AIRSSYS_UNHEALTHY, /* the host restarts the component */
} airssys_health_t;

/* The handlers (see the top of this file); each is optional. */
extern const char* airssys_world_init(const char* config, size_t config_len)
    __attribute__((weak));
extern void airssys_world_handle_message(const airssys_message_t* message) __attribute__((weak));
extern void airssys_world_handle_reply(uint64_t correlation_id, airssys_error_t error,
                                       const uint8_t* payload, size_t payload_len)
    __attribute__((weak));
extern airssys_health_t airssys_world_health(const char** reason) __attribute__((weak));
extern void airssys_world_shutdown(void) __attribute__((weak));

/* ---- the exports: the canonical ABI's core signatures -------------------- */
/* Defined weak, so that every file of a component may include this header. */

#define AIRSSYS__EXPORT(name) __attribute__((weak, export_name(name)))
#define AIRSSYS__HANDLER(name) "airssys:host/handler@" AIRSSYS_WORLD_VERSION "#" name

/* The arguments of the next handler call (a message's sender, topic and
 * payload, a reply's payload, the configuration) are lowered by the host
 * through cabi_realloc before the handler runs, and live until it returns.
 * They are served from a buffer of this header's own, reused once the
 * handler returns: no malloc and no free per message. A larger argument, and
 * everything the host returns to a running handler (airssys_kv_get, ...),
 * comes from malloc. AIRSSYS_WORLD_ARGUMENT_BYTES sets the buffer's size. */
#ifndef AIRSSYS_WORLD_ARGUMENT_BYTES
#define AIRSSYS_WORLD_ARGUMENT_BYTES 16384
#endif
#define AIRSSYS__SHARED __attribute__((weak))
AIRSSYS__SHARED AIRSSYS__ALIGNED(8) uint8_t airssys__arguments[AIRSSYS_WORLD_ARGUMENT_BYTES];
AIRSSYS__SHARED size_t airssys__arguments_used = 0;
AIRSSYS__SHARED bool airssys__in_handler = false;

static inline bool airssys__is_argument(const void* p) {
  return (const uint8_t*)p >= airssys__arguments &&
         (const uint8_t*)p < airssys__arguments + sizeof airssys__arguments;
}
static inline void airssys__release(void* p) {
  if (!airssys__is_argument(p)) free(p);
}
static inline void airssys__handler_begins(void) { airssys__in_handler = true; }
static inline void airssys__handler_ends(void) {
  airssys__arguments_used = 0;
  airssys__in_handler = false;
}

/* The allocator the host lowers strings and lists through. */
AIRSSYS__EXPORT("cabi_realloc")
void* cabi_realloc(void* ptr, size_t old_size, size_t align, size_t new_size) {
  if (new_size == 0) {
    if (old_size) airssys__release(ptr);
    return (void*)align; /* no allocation: the free functions skip empty lists */
  }
  size_t keep = old_size < new_size ? old_size : new_size;
  if (!airssys__in_handler && (!old_size || airssys__is_argument(ptr))) {
    size_t at = (airssys__arguments_used + align - 1) & ~(align - 1);
    /* One byte more: a NUL after the block, so that a string is terminated. */
    if (at <= sizeof airssys__arguments && new_size < sizeof airssys__arguments - at) {
      uint8_t* out = airssys__arguments + at;
      if (old_size) memmove(out, ptr, keep);
      out[new_size] = 0;
      airssys__arguments_used = at + new_size + 1;
      return out;
    }
    if (old_size) { /* an argument grown past the buffer */
      void* out = malloc(new_size);
      if (!out) abort();
      memcpy(out, ptr, keep);
      return out;
    }
  }
  void* out = realloc(old_size ? ptr : NULL, new_size);
  if (!out) abort();
  return out;
}

/* A string the host allocated, NUL-terminated: in place when it is an
 * argument in the buffer (cabi_realloc left a NUL after it), else copied. */
static inline char* airssys__terminated(char* ptr, size_t len) {
  if (len && airssys__is_argument(ptr)) return ptr;
  char* out = (char*)malloc(len + 1);
  if (!out) abort();
  if (len) memcpy(out, ptr, len);
  out[len] = 0;
  if (len) airssys__release(ptr);
  return out;
}

/* A result's or a variant's string written for the host, and freed by the
 * post-return function once the host has read it. */
static inline void airssys__return_text(uint8_t* area, const char* text) {
  size_t len = text ? strlen(text) : 0;
  char* copy = NULL;
  if (len) {
    copy = (char*)malloc(len);
    if (!copy) abort();
    memcpy(copy, text, len);
  }
  memcpy(area + 4, &copy, 4);
  memcpy(area + 8, &len, 4);
}

static inline void airssys__free_returned_text(uint8_t* area) {
  char* ptr;
  size_t len;
  memcpy(&ptr, area + 4, 4);
  memcpy(&len, area + 8, 4);
  if (len) free(ptr);
}

/* init: func(config: string) -> result<_, string> */
AIRSSYS__EXPORT(AIRSSYS__HANDLER("init"))
uint8_t* airssys__export_init(char* config, size_t config_len) {
  AIRSSYS__ALIGNED(4) static uint8_t area[12];
  airssys__handler_begins();
  char* text = airssys__terminated(config, config_len);
  const char* error = airssys_world_init ? airssys_world_init(text, config_len) : NULL;
  area[0] = error != NULL;
  if (error) airssys__return_text(area, error);
  airssys__release(text);
  airssys__handler_ends();
  return area;
}

AIRSSYS__EXPORT("cabi_post_" AIRSSYS__HANDLER("init"))
void airssys__post_init(uint8_t* area) {
  if (area[0]) airssys__free_returned_text(area);
}

/* handle-message: func(message: message), the record flattened. */
AIRSSYS__EXPORT(AIRSSYS__HANDLER("handle-message"))
void airssys__export_handle_message(int32_t kind, uint64_t correlation_id, char* sender,
                                    size_t sender_len, int32_t has_topic, char* topic,
                                    size_t topic_len, uint8_t* payload, size_t payload_len) {
  airssys_message_t m;
  airssys__handler_begins();
  m.kind = (airssys_message_kind_t)kind;
  m.correlation_id = correlation_id;
  m.sender = airssys__terminated(sender, sender_len);
  m.sender_len = sender_len;
  m.topic = has_topic ? airssys__terminated(topic, topic_len) : NULL;
  m.topic_len = has_topic ? topic_len : 0;
  m.payload = payload;
  m.payload_len = payload_len;
  if (airssys_world_handle_message) airssys_world_handle_message(&m);
  airssys__release((void*)m.sender);
  if (m.topic) airssys__release((void*)m.topic);
  if (payload_len) airssys__release(payload);
  airssys__handler_ends();
}

/* handle-reply: func(correlation-id: u64, reply: result<list<u8>, error>) */
AIRSSYS__EXPORT(AIRSSYS__HANDLER("handle-reply"))
void airssys__export_handle_reply(uint64_t correlation_id, int32_t is_error, int32_t a,
                                  int32_t b) {
  uint8_t* payload = is_error ? NULL : (uint8_t*)(uintptr_t)a;
  size_t payload_len = is_error ? 0 : (size_t)b;
  airssys__handler_begins();
  airssys_error_t error = is_error ? (airssys_error_t)(a + 1) : AIRSSYS_ERROR_NONE;
  if (airssys_world_handle_reply) {
    airssys_world_handle_reply(correlation_id, error, payload, payload_len);
  }
  if (payload_len) airssys__release(payload);
  airssys__handler_ends();
}

/* health: func() -> health-status */
AIRSSYS__EXPORT(AIRSSYS__HANDLER("health"))
uint8_t* airssys__export_health(void) {
  AIRSSYS__ALIGNED(4) static uint8_t area[12];
  const char* reason = NULL;
  airssys__handler_begins();
  airssys_health_t status = airssys_world_health ? airssys_world_health(&reason) : AIRSSYS_HEALTHY;
  if (status != AIRSSYS_DEGRADED && status != AIRSSYS_UNHEALTHY) status = AIRSSYS_HEALTHY;
  area[0] = (uint8_t)status;
  if (status != AIRSSYS_HEALTHY) airssys__return_text(area, reason);
  airssys__handler_ends();
  return area;
}

AIRSSYS__EXPORT("cabi_post_" AIRSSYS__HANDLER("health"))
void airssys__post_health(uint8_t* area) {
  if (area[0]) airssys__free_returned_text(area);
}

/* shutdown: func() */
AIRSSYS__EXPORT(AIRSSYS__HANDLER("shutdown"))
void airssys__export_shutdown(void) {
  airssys__handler_begins();
  if (airssys_world_shutdown) airssys_world_shutdown();
  airssys__handler_ends();
}

#ifdef __cplusplus
}
#endif

#endif /* AIRSSYS_WORLD_H */
