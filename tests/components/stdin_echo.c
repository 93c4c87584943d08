// Reads its standard input to the end and reports it: "stdin N bytes: TEXT"
// (the text with each newline shown as '|'), then its environment variables
// named as arguments: "NAME=value" or "NAME unset".
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char** argv) {
  char buffer[65536];
  size_t total = 0;
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buffer + total, sizeof buffer - 1 - total);
    if (n < 0) {
      printf("stdin error\n");
      return 1;
    }
    if (n == 0 || total + (size_t)n >= sizeof buffer - 1) {
      total += (size_t)n;
      break;
    }
    total += (size_t)n;
  }
  buffer[total] = 0;
  for (size_t i = 0; i < total; ++i) {
    if (buffer[i] == '\n') buffer[i] = '|';
  }
  printf("stdin %zu bytes: %s\n", total, buffer);
  for (int i = 1; i < argc; ++i) {
    const char* value = getenv(argv[i]);
    if (value) {
      printf("%s=%s\n", argv[i], value);
    } else {
      printf("%s unset\n", argv[i]);
    }
  }
  return 0;
}
