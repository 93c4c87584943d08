/* The output of write_mib.c: 1 MiB on stdout, WRITE_MIB_LINES lines of
   WRITE_MIB_LINE_SIZE bytes. Line i is i in 8 decimal digits, a space, 54
   lowercase letters beginning at 'a' + i % 26, and a newline; the benchmark
   that runs it (bench/component_run_bench.cpp) builds the same bytes to check
   every run's output. */
#ifndef WRITE_MIB_H
#define WRITE_MIB_H

#define WRITE_MIB_LINES 16384
#define WRITE_MIB_LINE_SIZE 64
#define WRITE_MIB_LETTERS (WRITE_MIB_LINE_SIZE - 10)

/* Line `i` into `line` (WRITE_MIB_LINE_SIZE bytes, no terminating zero). */
static inline void write_mib_line(unsigned i, char* line) {
  unsigned n = i;
  for (int d = 7; d >= 0; --d) {
    line[d] = (char)('0' + n % 10);
    n /= 10;
  }
  line[8] = ' ';
  for (unsigned j = 0; j < WRITE_MIB_LETTERS; ++j) line[9 + j] = (char)('a' + (i + j) % 26);
  line[WRITE_MIB_LINE_SIZE - 1] = '\n';
}

#endif
