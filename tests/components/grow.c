// Allocates until the host refuses more memory, then reports and exits cleanly.
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  size_t total = 0;
  for (;;) {
    char* volatile p = malloc(1 << 20);
    if (!p) break;
    p[0] = 1;  // used, so the allocation cannot be optimized away
    total += 1 << 20;
  }
  printf("allocated %zu MiB before malloc failed\n", total >> 20);
  return 0;
}
