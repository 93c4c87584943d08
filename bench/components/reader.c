/*
 * reader - the component of bench_files: reads the file named by its first
 * argument from start to end with read(2) in chunks of 64 KiB (or of the size
 * given as its second argument) and prints the number of bytes read, or
 * "error <errno>" when the file cannot be opened or read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define READER_MAX_CHUNK (1024 * 1024)

static unsigned char buffer[READER_MAX_CHUNK];

int main(int argc, char** argv) {
  if (argc < 2) {
    printf("usage: reader FILE [CHUNK]\n");
    return 2;
  }
  size_t chunk = 64 * 1024;
  if (argc > 2) {
    long wanted = atol(argv[2]);
    if (wanted <= 0 || wanted > READER_MAX_CHUNK) {
      printf("error chunk\n");
      return 2;
    }
    chunk = (size_t)wanted;
  }
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) {
    printf("error %d\n", errno);
    return 1;
  }
  long long total = 0;
  for (;;) {
    ssize_t n = read(fd, buffer, chunk);
    if (n < 0) {
      int e = errno;
      close(fd);
      printf("error %d\n", e);
      return 1;
    }
    if (n == 0) break;
    total += n;
  }
  close(fd);
  printf("%lld\n", total);
  return 0;
}
