// A hostile component for the threat suite (tests/security/threat_test.cpp).
// It tries, on command, every way out of its sandbox it is given, and prints
// one line per attempt: "<name> <command> ... = <result>", the result being
// the error code or errno the host answered with. The host decides what
// happens; this component only tries and reports.
//
// Commands (payload of a message from "host"):
//   read PATH | write PATH TEXT          libc fopen within or outside the grants
//   symlink TARGET NAME | link FROM NAME  libc symlink(), link()
//   rawread HEX                          path_open on fd 3 with the exact bytes
//                                        HEX (NUL bytes and all), then a read
//   race DIR N READY GO                  opens DIR, creates READY, waits for GO,
//                                        then N times openat(DIR, "f")
//   ask TARGET TEXT                      a request; the reply arrives at handle_reply
//   send TARGET TEXT | big TARGET BYTES | flood TARGET N
//   publish TOPIC | subscribe FILTER | reply ID
//   kvget HEX | kvset HEX VALUE | kvflood N SIZE
//   grow                                 malloc, then memory.grow, until refused
//   growflood N                          N memory.grow calls past the memory quota
//   spin | recurse                       an endless loop, a deep recursion
//   oob                                  bad pointers and lengths to every host function
//   http METHOD URL [HEADER]             airssys.http_request
//   logs N                               N log lines as fast as possible
// As a deputy (a request from another component), it does what the request
// asks with its own grants and replies with the result line:
//   read PATH | kvset KEY VALUE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airssys.h"

AIRSSYS_DEFINE_ALLOCATOR()

#define WASI_IMPORT(fn) __attribute__((import_module("wasi_snapshot_preview1"), import_name(fn)))

// Raw WASI imports, so that any pointer and length reaches the host unchanged.
WASI_IMPORT("path_open")
int32_t raw_path_open(int32_t fd, int32_t dirflags, int32_t path, int32_t path_len, int32_t oflags,
                      int64_t rights_base, int64_t rights_inheriting, int32_t fdflags,
                      int32_t out_fd);
WASI_IMPORT("fd_read") int32_t raw_fd_read(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nread);
WASI_IMPORT("fd_write")
int32_t raw_fd_write(int32_t fd, int32_t iovs, int32_t iovs_len, int32_t nwritten);
WASI_IMPORT("args_get") int32_t raw_args_get(int32_t argv, int32_t argv_buf);
WASI_IMPORT("environ_get") int32_t raw_environ_get(int32_t environ, int32_t environ_buf);
WASI_IMPORT("random_get") int32_t raw_random_get(int32_t buf, int32_t len);
WASI_IMPORT("clock_time_get")
int32_t raw_clock_time_get(int32_t clock, int64_t precision, int32_t out);
WASI_IMPORT("fd_prestat_dir_name")
int32_t raw_prestat_dir_name(int32_t fd, int32_t path, int32_t path_len);
WASI_IMPORT("poll_oneoff")
int32_t raw_poll_oneoff(int32_t in, int32_t out, int32_t nsubscriptions, int32_t nevents);
WASI_IMPORT("fd_close") int32_t raw_fd_close(int32_t fd);

static char name[80];

static int next_word(const char** p, char* out, size_t cap) {
  while (**p == ' ') ++*p;
  size_t n = 0;
  while (**p && **p != ' ' && n + 1 < cap) out[n++] = *(*p)++;
  out[n] = 0;
  return n > 0;
}

static size_t unhex(const char* hex, char* out, size_t cap) {
  size_t n = 0;
  for (; hex[0] && hex[1] && n < cap; hex += 2) {
    unsigned v = 0;
    sscanf(hex, "%2x", &v);
    out[n++] = (char)v;
  }
  return n;
}

static const char* errno_name(int e) {
  switch (e) {
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ELOOP: return "ELOOP";
    case ENOTDIR: return "ENOTDIR";
    case ENOTCAPABLE: return "ENOTCAPABLE";
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case ENOTSUP: return "ENOTSUP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EILSEQ: return "EILSEQ";
    default: return "other";
  }
}

// "ok:<content>" or the errno's name, into out.
static void read_path(const char* path, char* out, size_t cap) {
  FILE* f = fopen(path, "r");
  if (!f) {
    snprintf(out, cap, "%s", errno_name(errno));
    return;
  }
  char buffer[128];
  size_t n = fread(buffer, 1, sizeof buffer - 1, f);
  fclose(f);
  buffer[n] = 0;
  snprintf(out, cap, "ok:%s", buffer);
}

static void raw_read(const char* hex) {
  static char path[512];
  size_t len = unhex(hex, path, sizeof path);
  int32_t fd = -1;
  // lookup flags 1: follow symlinks; rights: fd_read (2)
  int32_t r = raw_path_open(3, 1, (int32_t)(uintptr_t)path, (int32_t)len, 0, 2, 0, 0,
                            (int32_t)(uintptr_t)&fd);
  if (r != 0) {
    printf("%s rawread %s = %s\n", name, hex, errno_name(r));
    return;
  }
  char buffer[128];
  ssize_t n = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  buffer[n > 0 ? n : 0] = 0;
  printf("%s rawread %s = ok:%s\n", name, hex, buffer);
}

// Opens DIR, says so by creating READY, waits (at most 20 s) until GO
// exists, then opens "f" through DIR `count` times.
static void race(const char* dir, int count, const char* ready, const char* go) {
  int d = open(dir, O_RDONLY | O_DIRECTORY);
  if (d < 0) {
    printf("%s race = %s\n", name, errno_name(errno));
    return;
  }
  FILE* f = fopen(ready, "w");
  if (f) fclose(f);
  for (int i = 0; i < 2000 && access(go, F_OK) != 0; ++i) usleep(10000);
  int ok = 0, denied = 0, missing = 0, other = 0;
  for (int i = 0; i < count; ++i) {
    int fd = openat(d, "f", O_RDONLY);
    if (fd >= 0) {
      char buffer[16];
      ssize_t n = read(fd, buffer, sizeof buffer);
      close(fd);
      if (n == 4 && memcmp(buffer, "data", 4) == 0) {
        ++ok;
      } else {
        ++other;
      }
    } else if (errno == EACCES) {
      ++denied;
    } else if (errno == ENOENT) {
      ++missing;
    } else {
      ++other;
    }
  }
  close(d);
  printf("%s race ok=%d denied=%d missing=%d other=%d\n", name, ok, denied, missing, other);
}

// malloc until it fails, then memory.grow until it is refused.
static void grow(void) {
  static void* blocks[1024];
  long mallocs = 0;
  while (mallocs < 1024 && (blocks[mallocs] = malloc(1 << 20)) != NULL) ++mallocs;
  long pages = 0;
  long r;
  while ((r = __builtin_wasm_memory_grow(0, 1)) != -1) ++pages;
  printf("%s grow mallocs=%ld pages=%ld refused=%ld size=%lu\n", name, mallocs, pages, r,
         (unsigned long)__builtin_wasm_memory_size(0));
  while (mallocs > 0) free(blocks[--mallocs]);  // room again for the next message
}

// memory.grow past the memory quota, `count` times: every refusal is one
// the host audits.
static void growflood(long count) {
  long refused = 0;
  for (long i = 0; i < count; ++i) {
    if (__builtin_wasm_memory_grow(0, 4096) == (size_t)-1) ++refused;  // 256 MiB more
  }
  printf("%s growflood refused=%ld\n", name, refused);
}

static int (*volatile recurse_next)(int);
static int recurse(int depth) { return recurse_next(depth + 1) + 1; }

static void oob(void) {
  // A range past the end of memory, one whose end wraps in 32 bits, and a
  // huge length from the start of memory.
  const uint32_t P[] = {0xFFFFFFF0u, 0xFFFFFF00u, 0u};
  const uint32_t L[] = {0x100u, 0x200u, 0x7FFFFFFFu};
  for (int i = 0; i < 3; ++i) {
    char* p = (char*)(uintptr_t)P[i];
    uint32_t l = L[i];
    airssys_http_response* resp = (airssys_http_response*)(uintptr_t)P[i];
    printf("%s oob %d self_id = %d\n", name, i, airssys_self_id(p, l));
    printf("%s oob %d send = %d\n", name, i, airssys_send(p, l, p, l));
    printf("%s oob %d send-payload = %d\n", name, i, airssys_send("keeper", 6, p, l));
    printf("%s oob %d request = %lld\n", name, i, (long long)airssys_request(p, l, p, l, 10));
    printf("%s oob %d reply = %d\n", name, i, airssys_reply(1, p, l));
    printf("%s oob %d publish = %d\n", name, i, airssys_publish(p, l, p, l));
    printf("%s oob %d subscribe = %d\n", name, i, airssys_subscribe(p, l));
    printf("%s oob %d unsubscribe = %d\n", name, i, airssys_unsubscribe(p, l));
    printf("%s oob %d log = %d\n", name, i, airssys_log(2, p, l));
    printf("%s oob %d kv_get = %lld\n", name, i, (long long)airssys_kv_get(p, l, p, l));
    printf("%s oob %d kv_get-buf = %lld\n", name, i,
           (long long)airssys_kv_get("counter:value", 13, p, l));
    printf("%s oob %d kv_set = %d\n", name, i, airssys_kv_set(p, l, p, l));
    printf("%s oob %d kv_set-value = %d\n", name, i, airssys_kv_set("counter:value", 13, p, l));
    printf("%s oob %d kv_delete = %d\n", name, i, airssys_kv_delete(p, l));
    printf("%s oob %d kv_exists = %d\n", name, i, airssys_kv_exists(p, l));
    printf("%s oob %d kv_list = %lld\n", name, i, (long long)airssys_kv_list(p, l, p, l, p, l));
    printf("%s oob %d http = %d\n", name, i,
           airssys_http_request(p, l, p, l, p, l, p, l, p, l, resp, 0, 10));
    printf("%s oob %d http-response = %d\n", name, i,
           airssys_http_request("GET", 3, "http://127.0.0.1:9/", 19, "", 0, "", 0, p, l, resp,
                                0, 10));
    int32_t ip = (int32_t)P[i];
    printf("%s oob %d path_open = %d\n", name, i, raw_path_open(3, 0, ip, (int32_t)l, 0, 2, 0, 0, ip));
    printf("%s oob %d random_get = %d\n", name, i, raw_random_get(ip, (int32_t)l));
    printf("%s oob %d prestat_dir_name = %d\n", name, i, raw_prestat_dir_name(3, ip, (int32_t)l));
    fflush(stdout);
    if (i == 2) continue;  // the rest take no length: only the ranges past the end
    printf("%s oob %d fd_read = %d\n", name, i, raw_fd_read(0, ip, 4, ip));
    printf("%s oob %d fd_write = %d\n", name, i, raw_fd_write(1, ip, 4, ip));
    printf("%s oob %d args_get = %d\n", name, i, raw_args_get(ip, ip));
    printf("%s oob %d environ_get = %d\n", name, i, raw_environ_get(ip, ip));
    printf("%s oob %d clock_time_get = %d\n", name, i, raw_clock_time_get(0, 0, ip));
    printf("%s oob %d poll_oneoff = %d\n", name, i, raw_poll_oneoff(ip, ip, 4, ip));
    fflush(stdout);
  }
  printf("%s oob done\n", name);
}

static void http(const char* p) {
  char method[16], url[512];
  if (!next_word(&p, method, sizeof method) || !next_word(&p, url, sizeof url)) return;
  while (*p == ' ') ++p;
  char headers[256];
  snprintf(headers, sizeof headers, "%s", p);
  for (char* c = headers; *c; ++c) {
    if (*c == '|') *c = '\n';
  }
  static char buf[4096];
  airssys_http_response response = {0, 0, 0};
  int32_t r = airssys_http_request(method, strlen(method), url, strlen(url), headers,
                                   strlen(headers), "", 0, buf, sizeof buf, &response, 0, 5000);
  printf("%s http %s = %d\n", name, url, r);
}

AIRSSYS_EXPORT("airssys_init") int32_t init(const char* config, uint32_t len) {
  (void)config;
  (void)len;
  int32_t n = airssys_self_id(name, sizeof name - 1);
  name[n > 0 ? n : 0] = 0;
  recurse_next = recurse;
  printf("%s init\n", name);
  fflush(stdout);
  return 0;
}

static void command(const char* text) {
  const char* p = text;
  char verb[32], a[2400], b[300];
  next_word(&p, verb, sizeof verb);
  while (*p == ' ') ++p;
  if (!strcmp(verb, "read")) {
    char result[200];
    read_path(p, result, sizeof result);
    printf("%s read %s = %s\n", name, p, result);
  } else if (!strcmp(verb, "write")) {
    next_word(&p, a, sizeof a);
    while (*p == ' ') ++p;
    FILE* f = fopen(a, "w");
    if (!f) {
      printf("%s write %s = %s\n", name, a, errno_name(errno));
    } else {
      fputs(p, f);
      fclose(f);
      printf("%s write %s = ok\n", name, a);
    }
  } else if (!strcmp(verb, "symlink") || !strcmp(verb, "link")) {
    next_word(&p, a, sizeof a);
    next_word(&p, b, sizeof b);
    int r = verb[0] == 's' ? symlink(a, b) : link(a, b);
    printf("%s %s %s = %s\n", name, verb, b, r == 0 ? "ok" : errno_name(errno));
  } else if (!strcmp(verb, "rawread")) {
    raw_read(p);
  } else if (!strcmp(verb, "race")) {
    char ready[300], go[300];
    next_word(&p, a, sizeof a);
    next_word(&p, b, sizeof b);
    next_word(&p, ready, sizeof ready);
    next_word(&p, go, sizeof go);
    race(a, atoi(b), ready, go);
  } else if (!strcmp(verb, "ask")) {
    next_word(&p, a, sizeof a);
    while (*p == ' ') ++p;
    long long id = airssys_request(a, strlen(a), p, strlen(p), 5000);
    printf("%s ask %s = %s\n", name, a, id > 0 ? "sent" : "refused");
  } else if (!strcmp(verb, "send")) {
    next_word(&p, a, sizeof a);
    while (*p == ' ') ++p;
    printf("%s send %s = %d\n", name, a, airssys_send(a, strlen(a), p, strlen(p)));
  } else if (!strcmp(verb, "big")) {
    next_word(&p, a, sizeof a);
    next_word(&p, b, sizeof b);
    size_t size = (size_t)atol(b);
    char* data = calloc(size ? size : 1, 1);
    printf("%s big %s %zu = %d\n", name, a, size, airssys_send(a, strlen(a), data, size));
    free(data);
  } else if (!strcmp(verb, "flood")) {
    next_word(&p, a, sizeof a);
    next_word(&p, b, sizeof b);
    int n = atoi(b), ok = 0, quota = 0, full = 0, other = 0;
    for (int i = 0; i < n; ++i) {
      int r = airssys_send(a, strlen(a), "noop", 4);
      if (r == AIRSSYS_OK) ++ok;
      else if (r == AIRSSYS_E_QUOTA) ++quota;
      else if (r == AIRSSYS_E_FULL) ++full;
      else ++other;
    }
    printf("%s flood ok=%d quota=%d full=%d other=%d\n", name, ok, quota, full, other);
  } else if (!strcmp(verb, "publish")) {
    next_word(&p, a, sizeof a);
    printf("%s publish %s = %d\n", name, a, airssys_publish(a, strlen(a), "x", 1));
  } else if (!strcmp(verb, "subscribe")) {
    next_word(&p, a, sizeof a);
    printf("%s subscribe %s = %d\n", name, a, airssys_subscribe(a, strlen(a)));
  } else if (!strcmp(verb, "reply")) {
    next_word(&p, a, sizeof a);
    printf("%s reply %s = %d\n", name, a, airssys_reply(atoll(a), "forged", 6));
  } else if (!strcmp(verb, "kvget")) {
    char key[1200], buf[64];
    size_t len = unhex(p, key, sizeof key);
    int64_t n = airssys_kv_get(key, (uint32_t)len, buf, sizeof buf);
    if (n >= 0) {
      printf("%s kvget %s = ok:%.*s\n", name, p, (int)n, buf);
    } else {
      printf("%s kvget %s = %lld\n", name, p, (long long)n);
    }
  } else if (!strcmp(verb, "kvset")) {
    next_word(&p, a, sizeof a);
    while (*p == ' ') ++p;
    char key[1200];
    size_t len = unhex(a, key, sizeof key);
    printf("%s kvset %s = %d\n", name, a, airssys_kv_set(key, (uint32_t)len, p, strlen(p)));
  } else if (!strcmp(verb, "kvflood")) {
    next_word(&p, a, sizeof a);
    next_word(&p, b, sizeof b);
    int n = atoi(a), ok = 0, quota = 0, other = 0;
    size_t size = (size_t)atol(b);
    char* value = malloc(size ? size : 1);
    memset(value, 'f', size);
    for (int i = 0; i < n; ++i) {
      char key[32];
      int len = snprintf(key, sizeof key, "junk:%d", i);
      int32_t r = airssys_kv_set(key, (uint32_t)len, value, (uint32_t)size);
      if (r == AIRSSYS_OK) ++ok;
      else if (r == AIRSSYS_E_QUOTA) ++quota;
      else ++other;
    }
    free(value);
    printf("%s kvflood ok=%d quota=%d other=%d usage=%lld\n", name, ok, quota, other,
           (long long)airssys_kv_usage());
  } else if (!strcmp(verb, "grow")) {
    grow();
  } else if (!strcmp(verb, "growflood")) {
    growflood(atol(p));
  } else if (!strcmp(verb, "spin")) {
    printf("%s spinning\n", name);
    fflush(stdout);
    for (volatile unsigned long i = 0;; ++i) {
    }
  } else if (!strcmp(verb, "recurse")) {
    printf("%s recursing\n", name);
    fflush(stdout);
    printf("%s recursed %d\n", name, recurse(0));
  } else if (!strcmp(verb, "oob")) {
    oob();
  } else if (!strcmp(verb, "http")) {
    http(p);
  } else if (!strcmp(verb, "logs")) {
    next_word(&p, a, sizeof a);
    int n = atoi(a), ok = 0, dropped = 0;
    for (int i = 0; i < n; ++i) {
      if (airssys_log(AIRSSYS_LOG_INFO, "flood", 5) == AIRSSYS_OK) ++ok;
      else ++dropped;
    }
    printf("%s logs ok=%d dropped=%d\n", name, ok, dropped);
  } else {
    printf("%s unknown command %s\n", name, verb);
  }
}

// A request from another component: done with this component's own grants.
static void deputy(int64_t correlation, const char* text) {
  const char* p = text;
  char verb[32], a[300], answer[300];
  next_word(&p, verb, sizeof verb);
  while (*p == ' ') ++p;
  if (!strcmp(verb, "read")) {
    read_path(p, answer, sizeof answer);
  } else if (!strcmp(verb, "kvset")) {
    next_word(&p, a, sizeof a);
    while (*p == ' ') ++p;
    snprintf(answer, sizeof answer, "%d", airssys_kv_set(a, strlen(a), p, strlen(p)));
  } else {
    snprintf(answer, sizeof answer, "unknown");
  }
  printf("%s deputy %s = %s\n", name, text, answer);
  airssys_reply(correlation, answer, strlen(answer));
}

AIRSSYS_EXPORT("airssys_handle_message")
int32_t handle_message(int32_t kind, int64_t correlation, const char* sender, uint32_t sender_len,
                       const char* topic, uint32_t topic_len, const uint8_t* payload,
                       uint32_t payload_len) {
  char* text = malloc(payload_len + 1);
  memcpy(text, payload, payload_len);
  text[payload_len] = 0;
  if (sender_len == 4 && !memcmp(sender, "host", 4)) {
    command(text);
  } else if (kind == AIRSSYS_MSG_REQUEST) {
    deputy(correlation, text);
  } else {
    printf("%s got %s from %.*s%s%.*s\n", name, kind == AIRSSYS_MSG_PUBLISH ? "publish" : "send",
           (int)sender_len, sender, topic_len ? " on " : "", (int)topic_len, topic);
  }
  free(text);
  fflush(stdout);
  return 0;
}

AIRSSYS_EXPORT("airssys_handle_reply")
int32_t handle_reply(int64_t correlation, int32_t status, const uint8_t* payload, uint32_t len) {
  (void)correlation;
  printf("%s reply status=%d: %.*s\n", name, status, (int)len, (const char*)payload);
  fflush(stdout);
  return 0;
}
