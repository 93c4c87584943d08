/*
 * airssys.h - the C SDK for airssys-wasm components.
 *
 * Components are ordinary wasm32-wasi programs. Standard WASI preview 1
 * covers arguments, environment ([config.env] of the manifest), clocks and
 * sleeps, random numbers, stdout/stderr, and files (fopen, readdir, rename,
 * ...) beneath the directories the filesystem grants are rooted in; a path
 * outside the grants fails with EACCES.
 * The host module "airssys" adds messaging between components and
 * key-value state; see docs/abi.md for every import and export, their
 * meaning and error codes.
 *
 * A component that takes part in messaging has no main(): it is built as a
 * reactor and exports the functions below that it needs;
 * AIRSSYS_DEFINE_ALLOCATOR() provides the two memory exports the host uses
 * to hand over payloads. Build it with
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -I<prefix>/include/airssys/sdk
 *     echo.c -o component.wasm
 * (without -mexec-model=reactor the link fails: undefined symbol: main), or
 * with airssys_add_component() of the installed CMake package; docs/abi.md,
 * "Building a component", has a first component.
 */
#ifndef AIRSSYS_H
#define AIRSSYS_H

#include <stdint.h>

/* The ABI version this header describes. */
#define AIRSSYS_ABI_VERSION_MAJOR 0
#define AIRSSYS_ABI_VERSION_MINOR 2

/* Marks a function as an export of the component under `name`. */
#define AIRSSYS_EXPORT(name) __attribute__((export_name(name)))
#define AIRSSYS_IMPORT(name) __attribute__((import_module("airssys"), import_name(name)))

/* One table of error codes for the whole ABI (negative; 0 is success). */
enum {
  AIRSSYS_OK = 0,
  AIRSSYS_E_DENIED = -1,      /* a capability, the receiver or the host policy refused */
  AIRSSYS_E_QUOTA = -2,       /* a rate or resource quota refused */
  AIRSSYS_E_TOO_LARGE = -3,   /* a payload or value is over its maximum size */
  AIRSSYS_E_NOT_FOUND = -4,   /* no such component or key */
  AIRSSYS_E_FULL = -5,        /* the target's mailbox is full: back off and retry */
  AIRSSYS_E_INVALID = -6,     /* a malformed argument (name, topic, key, pointer, length) */
  AIRSSYS_E_TIMEOUT = -7,     /* the reply did not arrive in time */
  AIRSSYS_E_BUFFER = -8,      /* the caller's buffer is too small */
  AIRSSYS_E_UNAVAILABLE = -9, /* the target is stopping, stopped or failed; no key-value store */
  AIRSSYS_E_NO_REQUEST = -10, /* reply to a correlation id that awaits none */
};

/* The name of a status for messages and logs: "ok", "denied", "quota", ...;
 * "error" for a code outside the table. A positive status (a count, a
 * length, a correlation id) is "ok". */
static inline const char* airssys_status_name(int64_t status) {
  static const char* const names[] = {"ok",      "denied",   "quota",       "too large",
                                      "not found", "full",   "invalid",     "timeout",
                                      "buffer too small", "unavailable", "no request"};
  if (status >= 0) return names[0];
  if (status < AIRSSYS_E_NO_REQUEST) return "error";
  return names[-status];
}

/* Message kinds handed to airssys_handle_message. */
enum { AIRSSYS_MSG_SEND = 0, AIRSSYS_MSG_REQUEST = 1, AIRSSYS_MSG_PUBLISH = 2 };

/* --- imports: what a component may ask of the host ----------------------- */

/* Writes this component's name; returns its length, or AIRSSYS_E_BUFFER. */
AIRSSYS_IMPORT("self_id") int32_t airssys_self_id(char* buf, uint32_t buf_len);
/* Fire and forget. Needs messaging.send for `target`; `target` must admit the sender. */
AIRSSYS_IMPORT("send")
int32_t airssys_send(const char* target, uint32_t target_len, const void* payload,
                     uint32_t payload_len);
/* Returns a correlation id (> 0); the reply, or AIRSSYS_E_TIMEOUT after
 * timeout_ms (0: 30 s), arrives at airssys_handle_reply. */
AIRSSYS_IMPORT("request")
int64_t airssys_request(const char* target, uint32_t target_len, const void* payload,
                        uint32_t payload_len, uint32_t timeout_ms);
/* Answers a request received by airssys_handle_message (kind AIRSSYS_MSG_REQUEST). */
AIRSSYS_IMPORT("reply")
int32_t airssys_reply(int64_t correlation_id, const void* payload, uint32_t payload_len);
/* Returns the number of subscribers reached. Needs messaging.publish for `topic`. */
AIRSSYS_IMPORT("publish")
int32_t airssys_publish(const char* topic, uint32_t topic_len, const void* payload,
                        uint32_t payload_len);
/* Topic filters with `*` (one level) and `#` (the rest). Needs messaging.subscribe. */
AIRSSYS_IMPORT("subscribe") int32_t airssys_subscribe(const char* filter, uint32_t filter_len);
AIRSSYS_IMPORT("unsubscribe") int32_t airssys_unsubscribe(const char* filter, uint32_t filter_len);

/* Key-value state, in this component's own namespace. Keys are ':'-separated,
 * non-empty segments of printable ASCII other than space and '*', at most
 * 1024 bytes; values are bytes, at most 1 MiB. Keys are checked against the
 * storage.read / storage.write / storage.delete grants; key and value bytes
 * count against the storage quota (AIRSSYS_E_QUOTA). */

/* Copies the value into buf and returns its length; AIRSSYS_E_NOT_FOUND when
 * the key is absent; AIRSSYS_E_BUFFER (nothing copied) when buf_len is
 * non-zero and smaller than the value. buf_len 0 only returns the length. */
AIRSSYS_IMPORT("kv_get")
int64_t airssys_kv_get(const char* key, uint32_t key_len, void* buf, uint32_t buf_len);
/* Inserts or replaces. Needs storage.write. */
AIRSSYS_IMPORT("kv_set")
int32_t airssys_kv_set(const char* key, uint32_t key_len, const void* value, uint32_t value_len);
/* 1 when the key existed and was removed, 0 when it did not exist. Needs storage.delete. */
AIRSSYS_IMPORT("kv_delete") int32_t airssys_kv_delete(const char* key, uint32_t key_len);
/* 1 or 0. Needs storage.read. */
AIRSSYS_IMPORT("kv_exists") int32_t airssys_kv_exists(const char* key, uint32_t key_len);
/* Writes the keys that start with `prefix` and sort after `after` (after_len
 * 0: from the first) into buf, ascending, each followed by a NUL byte, as many
 * whole keys as fit (at most 1000); returns how many. 0 means there are no
 * more; AIRSSYS_E_BUFFER when not even the first fits. Continue with `after`
 * set to the last key returned. Needs storage.read on every key below the
 * prefix's last ':' ("orders:*" for the prefix "orders:4"). */
AIRSSYS_IMPORT("kv_list")
int64_t airssys_kv_list(const char* prefix, uint32_t prefix_len, const char* after,
                        uint32_t after_len, char* buf, uint32_t buf_len);
/* The bytes this component's keys and values take (what the storage quota counts). */
AIRSSYS_IMPORT("kv_usage") int64_t airssys_kv_usage(void);

/* --- outbound HTTP -------------------------------------------------------- */

/* Written by airssys_http_request: the final status and the full lengths of
 * the response headers (0 without AIRSSYS_HTTP_HEADERS) and body, also when
 * the buffer was too small. */
typedef struct airssys_http_response {
  int32_t status;
  uint32_t headers_len;
  uint32_t body_len;
} airssys_http_response;

/* flags of airssys_http_request */
#define AIRSSYS_HTTP_HEADERS 1u /* write the response headers ("Name: value\n") before the body */

/* One HTTP(S) request. `headers` are "Name: value" lines separated by '\n'
 * (Host, Content-Length and Transfer-Encoding are the host's). Returns the
 * status (>= 100) of the final response, after redirects to granted hosts;
 * `buf` gets [headers] + body. AIRSSYS_E_BUFFER when they do not fit: `buf`
 * holds the first buf_len bytes and `response` the full lengths. Needs
 * network.connect for the URL's host:port and every redirect target.
 * timeout_ms 0 means 30 s; at most 60 s. */
AIRSSYS_IMPORT("http_request")
int32_t airssys_http_request(const char* method, uint32_t method_len, const char* url,
                             uint32_t url_len, const char* headers, uint32_t headers_len,
                             const void* body, uint32_t body_len, void* buf, uint32_t buf_len,
                             airssys_http_response* response, uint32_t flags,
                             uint32_t timeout_ms);

/* Log levels for airssys_log. */
enum {
  AIRSSYS_LOG_TRACE = 0,
  AIRSSYS_LOG_DEBUG = 1,
  AIRSSYS_LOG_INFO = 2,
  AIRSSYS_LOG_WARN = 3,
  AIRSSYS_LOG_ERROR = 4,
};
/* One line to the component's log, tagged with its name; AIRSSYS_E_QUOTA when
 * the per-component rate limit dropped it. stdout and stderr go to the same
 * log, line by line, under the same limit. */
AIRSSYS_IMPORT("log") int32_t airssys_log(int32_t level, const char* text, uint32_t len);

/* --- exports: what the host calls (define the ones you need) -------------
 *
 *   int32_t airssys_init(const char* config_json, uint32_t len);   0 = ready
 *   int32_t airssys_handle_message(int32_t kind, int64_t correlation_id,
 *                                  const char* sender, uint32_t sender_len,
 *                                  const char* topic, uint32_t topic_len,
 *                                  const uint8_t* payload, uint32_t payload_len);
 *   int32_t airssys_handle_reply(int64_t correlation_id, int32_t status,
 *                                const uint8_t* payload, uint32_t payload_len);
 *   void    airssys_shutdown(void);
 *   void*   airssys_alloc(uint32_t size);           (AIRSSYS_DEFINE_ALLOCATOR)
 *   void    airssys_dealloc(void* ptr, uint32_t size);
 *
 * The buffers passed to init and the handlers live until the call returns.
 */

/* A receive buffer of `bytes` owned by the component: a message that fits is
 * written there and handed to airssys_handle_message directly, without the
 * airssys_alloc / airssys_dealloc calls (one guest call per message). Larger
 * messages still use the allocator. The buffer is overwritten by the next
 * message: copy what must outlive the handler. */
#define AIRSSYS_DEFINE_INBOX(bytes)                                                  \
  static uint8_t airssys_inbox_buffer_[(bytes)] __attribute__((aligned(16)));      \
  AIRSSYS_EXPORT("airssys_inbox") uint64_t airssys_inbox(void) {                    \
    return ((uint64_t)(uintptr_t)airssys_inbox_buffer_ << 32) | (uint64_t)(bytes); \
  }

#define AIRSSYS_DEFINE_ALLOCATOR()                                                  \
  extern void* malloc(unsigned long);                                               \
  extern void free(void*);                                                          \
  AIRSSYS_EXPORT("airssys_alloc") void* airssys_alloc(uint32_t size) {              \
    return malloc(size ? size : 1);                                                 \
  }                                                                                 \
  AIRSSYS_EXPORT("airssys_dealloc") void airssys_dealloc(void* ptr, uint32_t size) { \
    (void)size;                                                                     \
    free(ptr);                                                                      \
  }

#endif /* AIRSSYS_H */
