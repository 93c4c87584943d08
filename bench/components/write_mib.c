// A WASI command that writes 1 MiB to stdout as a program prints a log: one
// 64-byte line at a time through stdio (write_mib.h has the lines), which
// hands the host a write each time its buffer fills.
#include <stdio.h>

#include "write_mib.h"

int main(void) {
  char line[WRITE_MIB_LINE_SIZE];
  for (unsigned i = 0; i < WRITE_MIB_LINES; ++i) {
    write_mib_line(i, line);
    if (fwrite(line, 1, sizeof line, stdout) != sizeof line) return 1;
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
