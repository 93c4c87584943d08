/* A WASI command: the program the component tool wraps with the official
 * preview1 adapter to make test material (make.sh). */
#include <stdio.h>

int main(void) {
  puts("hello from a component");
  return 0;
}
