// Exercises the minimal WASI surface: args, environment, clocks, random,
// stdout and stderr, fdstat, and that /etc/passwd cannot be opened.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char** argv) {
  printf("argc=%d\n", argc);
  for (int i = 0; i < argc; ++i) printf("argv[%d]=%s\n", i, argv[i]);
  extern char** environ;
  int envc = 0;
  for (char** e = environ; e && *e; ++e) ++envc;
  printf("envc=%d\n", envc);

  struct timespec a, b;
  clock_gettime(CLOCK_REALTIME, &a);
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("realtime_ok=%d monotonic_ok=%d\n", a.tv_sec > 1600000000, b.tv_sec >= 0);

  unsigned char r1[16] = {0}, r2[16] = {0};
  arc4random_buf(r1, sizeof r1);
  arc4random_buf(r2, sizeof r2);
  printf("random_differs=%d\n", memcmp(r1, r2, sizeof r1) != 0);

  int fd = open("/etc/passwd", O_RDONLY);
  printf("open_passwd=%d\n", fd);

  fprintf(stderr, "to stderr\n");
  fflush(stdout);
  return 0;
}
