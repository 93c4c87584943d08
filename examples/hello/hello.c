// The smallest useful component: a WASI command that greets and reports its arguments.
#include <stdio.h>

int main(int argc, char** argv) {
  printf("Hello from a WebAssembly component!\n");
  for (int i = 1; i < argc; ++i) printf("  argument %d: %s\n", i, argv[i]);
  return 0;
}
