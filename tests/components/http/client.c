/* A wasi:http 0.2.0 client (client.wit): `fetch` builds an outgoing-request
 * with its headers, writes its body through the outgoing-body's
 * output-stream, sends it with outgoing-handler.handle, waits on the future
 * and reads the incoming-response: its status, headers and body through
 * the incoming-body's input-stream. The imports are declared by hand after
 * the canonical ABI's flattening: more than one flat result comes back
 * through a pointer the caller passes last. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_TYPES "wasi:http/types@0.2.0"
#define IMPORT(module, name) __attribute__((import_module(module), import_name(name)))

typedef uint32_t handle_t;

/* ---- wasi:http/types ---- */
IMPORT(HTTP_TYPES, "[constructor]fields") handle_t fields_new(void);
IMPORT(HTTP_TYPES, "[method]fields.append")
void fields_append(handle_t self, const char* name, size_t name_len, const uint8_t* value,
                   size_t value_len, uint8_t* ret);
IMPORT(HTTP_TYPES, "[method]fields.entries") void fields_entries(handle_t self, uint8_t* ret);
IMPORT(HTTP_TYPES, "[resource-drop]fields") void fields_drop(handle_t self);
IMPORT(HTTP_TYPES, "[constructor]outgoing-request") handle_t request_new(handle_t headers);
IMPORT(HTTP_TYPES, "[method]outgoing-request.body") void request_body(handle_t self, uint8_t* ret);
IMPORT(HTTP_TYPES, "[method]outgoing-request.set-method")
int32_t request_set_method(handle_t self, int32_t tag, const char* other, size_t other_len);
IMPORT(HTTP_TYPES, "[method]outgoing-request.set-scheme")
int32_t request_set_scheme(handle_t self, int32_t is_some, int32_t tag, const char* other,
                           size_t other_len);
IMPORT(HTTP_TYPES, "[method]outgoing-request.set-authority")
int32_t request_set_authority(handle_t self, int32_t is_some, const char* s, size_t len);
IMPORT(HTTP_TYPES, "[method]outgoing-request.set-path-with-query")
int32_t request_set_path(handle_t self, int32_t is_some, const char* s, size_t len);
IMPORT(HTTP_TYPES, "[constructor]request-options") handle_t options_new(void);
IMPORT(HTTP_TYPES, "[method]request-options.set-first-byte-timeout")
int32_t options_set_first_byte(handle_t self, int32_t is_some, uint64_t ns);
IMPORT(HTTP_TYPES, "[method]request-options.set-between-bytes-timeout")
int32_t options_set_between_bytes(handle_t self, int32_t is_some, uint64_t ns);
IMPORT(HTTP_TYPES, "[method]outgoing-body.write") void body_write(handle_t self, uint8_t* ret);
IMPORT(HTTP_TYPES, "[static]outgoing-body.finish")
void body_finish(handle_t self, int32_t has_trailers, handle_t trailers, uint8_t* ret);
IMPORT(HTTP_TYPES, "[method]future-incoming-response.subscribe")
handle_t future_subscribe(handle_t self);
IMPORT(HTTP_TYPES, "[method]future-incoming-response.get")
void future_get(handle_t self, uint8_t* ret);
IMPORT(HTTP_TYPES, "[resource-drop]future-incoming-response") void future_drop(handle_t self);
IMPORT(HTTP_TYPES, "[method]incoming-response.status") int32_t response_status(handle_t self);
IMPORT(HTTP_TYPES, "[method]incoming-response.headers") handle_t response_headers(handle_t self);
IMPORT(HTTP_TYPES, "[method]incoming-response.consume")
void response_consume(handle_t self, uint8_t* ret);
IMPORT(HTTP_TYPES, "[resource-drop]incoming-response") void response_drop(handle_t self);
IMPORT(HTTP_TYPES, "[method]incoming-body.stream")
void incoming_stream(handle_t self, uint8_t* ret);
IMPORT(HTTP_TYPES, "[static]incoming-body.finish") handle_t incoming_finish(handle_t self);
IMPORT(HTTP_TYPES, "[resource-drop]future-trailers") void trailers_drop(handle_t self);

/* ---- wasi:http/outgoing-handler ---- */
IMPORT("wasi:http/outgoing-handler@0.2.0", "handle")
void handler_handle(handle_t request, int32_t has_options, handle_t options, uint8_t* ret);

/* ---- wasi:io ---- */
IMPORT("wasi:io/poll@0.2.0", "[method]pollable.block") void pollable_block(handle_t self);
IMPORT("wasi:io/poll@0.2.0", "[resource-drop]pollable") void pollable_drop(handle_t self);
IMPORT("wasi:io/streams@0.2.0", "[method]input-stream.blocking-read")
void input_read(handle_t self, uint64_t len, uint8_t* ret);
IMPORT("wasi:io/streams@0.2.0", "[resource-drop]input-stream") void input_drop(handle_t self);
IMPORT("wasi:io/streams@0.2.0", "[method]output-stream.blocking-write-and-flush")
void output_write(handle_t self, const uint8_t* data, size_t len, uint8_t* ret);
IMPORT("wasi:io/streams@0.2.0", "[resource-drop]output-stream") void output_drop(handle_t self);
IMPORT("wasi:io/error@0.2.0", "[resource-drop]error") void error_drop(handle_t self);

/* The canonical ABI's allocator: lists and strings the host passes in. */
__attribute__((export_name("cabi_realloc"))) void* cabi_realloc(void* ptr, size_t old_size,
                                                                size_t align, size_t new_size) {
  (void)old_size;
  (void)align; /* malloc aligns to 16 */
  return realloc(ptr, new_size == 0 ? 1 : new_size);
}

static const char* const kErrorCodes[] = {"DNS-timeout",
                                          "DNS-error",
                                          "destination-not-found",
                                          "destination-unavailable",
                                          "destination-IP-prohibited",
                                          "destination-IP-unroutable",
                                          "connection-refused",
                                          "connection-terminated",
                                          "connection-timeout",
                                          "connection-read-timeout",
                                          "connection-write-timeout",
                                          "connection-limit-reached",
                                          "TLS-protocol-error",
                                          "TLS-certificate-error",
                                          "TLS-alert-received",
                                          "HTTP-request-denied",
                                          "HTTP-request-length-required",
                                          "HTTP-request-body-size",
                                          "HTTP-request-method-invalid",
                                          "HTTP-request-URI-invalid",
                                          "HTTP-request-URI-too-long",
                                          "HTTP-request-header-section-size",
                                          "HTTP-request-header-size",
                                          "HTTP-request-trailer-section-size",
                                          "HTTP-request-trailer-size",
                                          "HTTP-response-incomplete",
                                          "HTTP-response-header-section-size",
                                          "HTTP-response-header-size",
                                          "HTTP-response-body-size",
                                          "HTTP-response-trailer-section-size",
                                          "HTTP-response-trailer-size",
                                          "HTTP-response-transfer-coding",
                                          "HTTP-response-content-coding",
                                          "HTTP-response-timeout",
                                          "HTTP-upgrade-failed",
                                          "HTTP-protocol-error",
                                          "loop-detected",
                                          "configuration-error",
                                          "internal-error"};

/* The answer being written. */
static char* out;
static size_t out_len, out_cap;

static void put(const void* data, size_t len) {
  if (out_len + len > out_cap) {
    out_cap = (out_len + len) * 2 + 64;
    out = realloc(out, out_cap);
  }
  memcpy(out + out_len, data, len);
  out_len += len;
}

static void put_str(const char* s) {
  put(s, strlen(s));
}

static void put_num(unsigned long long v) {
  char digits[24];
  int n = snprintf(digits, sizeof digits, "%llu", v);
  put(digits, (size_t)n);
}

/* An error-code at `at` (discriminant, payload 8 bytes further on). */
static void put_error(const uint8_t* at) {
  uint8_t tag = at[0];
  const char* name = tag < sizeof kErrorCodes / sizeof kErrorCodes[0] ? kErrorCodes[tag] : "?";
  put_str("error ");
  put_str(name);
  if (tag == 17 || tag == 28) { /* HTTP-request/response-body-size(option<u64>) */
    if (at[8]) {
      put_str(" ");
      put_num(*(const uint64_t*)(at + 16));
    }
  } else if (tag == 38 && at[8]) { /* internal-error(option<string>) */
    put_str(" ");
    put((const char*)(uintptr_t) * (const uint32_t*)(at + 12), *(const uint32_t*)(at + 16));
  }
  put("\n", 1);
}

static uint32_t u32_at(const uint8_t* p) {
  return *(const uint32_t*)p;
}

struct list {
  uint8_t* ptr;
  size_t len;
};
struct string {
  char* ptr;
  size_t len;
};
struct header {
  struct string name, value;
};

static int set_method(handle_t request, const char* m, size_t len) {
  static const char* const kKnown[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                       "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (int i = 0; i < 9; ++i) {
    if (strlen(kKnown[i]) == len && memcmp(kKnown[i], m, len) == 0) {
      return request_set_method(request, i, 0, 0);
    }
  }
  return request_set_method(request, 9, m, len);
}

static uint64_t ret_space[16];

/* The answer as a string: a pointer to {ptr, len}. */
static uint32_t answer[2];

/* The export of the world `client`; the command calls it from main. */
#ifdef CLIENT_COMMAND
#define FETCH_EXPORT
#else
#define FETCH_EXPORT __attribute__((export_name("fetch")))
#endif

FETCH_EXPORT uint32_t* fetch(
    char* method, size_t method_len, char* scheme, size_t scheme_len, char* authority,
    size_t authority_len, char* path, size_t path_len, struct header* headers, size_t headers_len,
    uint8_t* body, size_t body_len, uint64_t first_byte_timeout_ms,
    uint64_t between_bytes_timeout_ms) {
  uint8_t* ret = (uint8_t*)ret_space;
  out = NULL;
  out_len = out_cap = 0;

  handle_t fields = fields_new();
  for (size_t i = 0; i < headers_len; ++i) {
    fields_append(fields, headers[i].name.ptr, headers[i].name.len,
                  (const uint8_t*)headers[i].value.ptr, headers[i].value.len, ret);
    if (ret[0] != 0) {
      put_str("header-error ");
      put_num(ret[1]);
      put_str("\n");
      goto done;
    }
  }
  handle_t request = request_new(fields);
  if (set_method(request, method, method_len) != 0) {
    put_str("set-method refused\n");
    goto done;
  }
  int https = scheme_len == 5 && memcmp(scheme, "https", 5) == 0;
  if (request_set_scheme(request, 1, https ? 1 : 0, 0, 0) != 0 ||
      request_set_authority(request, 1, authority, authority_len) != 0 ||
      request_set_path(request, 1, path, path_len) != 0) {
    put_str("request refused\n");
    goto done;
  }

  /* The body goes out through its output-stream, in pieces of at most 4096 bytes. */
  request_body(request, ret);
  if (ret[0] != 0) {
    put_str("body refused\n");
    goto done;
  }
  handle_t outgoing = u32_at(ret + 4);

  handle_t options = options_new();
  if (first_byte_timeout_ms != 0) {
    options_set_first_byte(options, 1, first_byte_timeout_ms * 1000000ull);
  }
  if (between_bytes_timeout_ms != 0) {
    options_set_between_bytes(options, 1, between_bytes_timeout_ms * 1000000ull);
  }
  handler_handle(request, 1, options, ret);
  if (ret[0] != 0) {
    put_error(ret + 8);
    goto done;
  }
  handle_t future = u32_at(ret + 8);

  body_write(outgoing, ret);
  if (ret[0] != 0) {
    put_str("write refused\n");
    goto done;
  }
  handle_t stream = u32_at(ret + 4);
  for (size_t at = 0; at < body_len;) {
    size_t n = body_len - at < 4096 ? body_len - at : 4096;
    output_write(stream, body + at, n, ret);
    if (ret[0] != 0) {
      if (ret[4] == 0) error_drop(u32_at(ret + 8));
      put_str("write failed at ");
      put_num(at);
      put_str("\n");
      break;
    }
    at += n;
  }
  output_drop(stream);
  body_finish(outgoing, 0, 0, ret);
  if (ret[0] != 0) {
    put("finish ", 7);
    put_error(ret + 8);
  }

  /* Wait for the response: get() answers none until it is ready. */
  for (;;) {
    future_get(future, ret);
    if (ret[0] != 0) break;
    handle_t pollable = future_subscribe(future);
    pollable_block(pollable);
    pollable_drop(pollable);
  }
  future_drop(future);
  /* option(some) at 0, result at 8 (ok), result at 16 (ok: own at 24; err: error-code at 24). */
  if (ret[8] != 0) {
    put_str("get refused\n");
    goto done;
  }
  if (ret[16] != 0) {
    put_error(ret + 24);
    goto done;
  }
  handle_t response = u32_at(ret + 24);
  put_str("status ");
  put_num((uint32_t)response_status(response));
  put_str("\n");

  handle_t response_fields = response_headers(response);
  fields_entries(response_fields, ret);
  struct {
    struct string name;
    struct list value;
  }* entries = (void*)(uintptr_t)u32_at(ret);
  size_t count = u32_at(ret + 4);
  for (size_t i = 0; i < count; ++i) {
    put(entries[i].name.ptr, entries[i].name.len);
    put_str(": ");
    put(entries[i].value.ptr, entries[i].value.len);
    put("\n", 1);
    free(entries[i].name.ptr);
    free(entries[i].value.ptr);
  }
  free(entries);
  fields_drop(response_fields);

  response_consume(response, ret);
  if (ret[0] != 0) {
    put_str("consume refused\n");
    goto done;
  }
  handle_t incoming = u32_at(ret + 4);
  incoming_stream(incoming, ret);
  if (ret[0] != 0) {
    put_str("stream refused\n");
    goto done;
  }
  handle_t input = u32_at(ret + 4);
  char* received = NULL;
  size_t received_len = 0;
  for (;;) {
    input_read(input, 65536, ret);
    if (ret[0] != 0) { /* closed, or failed */
      if (ret[4] == 0) {
        error_drop(u32_at(ret + 8));
        put_str("read failed\n");
      }
      break;
    }
    uint8_t* data = (uint8_t*)(uintptr_t)u32_at(ret + 4);
    size_t n = u32_at(ret + 8);
    received = realloc(received, received_len + n + 1);
    memcpy(received + received_len, data, n);
    received_len += n;
    free(data);
  }
  input_drop(input);
  trailers_drop(incoming_finish(incoming));
  response_drop(response);
  put_str("body ");
  put_num(received_len);
  put_str("\n");
  put(received, received_len);
  free(received);

done:
  answer[0] = (uint32_t)(uintptr_t)out;
  answer[1] = (uint32_t)out_len;
  free(method);
  free(scheme);
  free(authority);
  free(path);
  for (size_t i = 0; i < headers_len; ++i) {
    free(headers[i].name.ptr);
    free(headers[i].value.ptr);
  }
  free(headers);
  free(body);
  return answer;
}

#ifdef CLIENT_COMMAND
static char* copy(const char* s) {
  size_t n = strlen(s);
  char* c = malloc(n + 1);
  memcpy(c, s, n + 1);
  return c;
}

/* get AUTHORITY PATH: the answer of fetch for a GET, on stdout. */
int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: get AUTHORITY PATH\n");
    return 2;
  }
  uint32_t* a = fetch(copy("GET"), 3, copy("http"), 4, copy(argv[1]), strlen(argv[1]),
                      copy(argv[2]), strlen(argv[2]), malloc(1), 0, malloc(1), 0, 0, 0);
  fwrite((const char*)(uintptr_t)a[0], 1, a[1], stdout);
  return 0;
}
#else
__attribute__((export_name("cabi_post_fetch"))) void cabi_post_fetch(uint32_t* ret) {
  (void)ret;
  free(out);
  out = NULL;
}
#endif
