// Never ends on its own: the host must stop it.
#include <stdio.h>

int main(void) {
  puts("spinning");
  fflush(stdout);
  volatile unsigned long n = 0;
  for (;;) ++n;
}
