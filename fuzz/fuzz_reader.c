/*
** fuzz_reader.c — libFuzzer target for the Parquet reader: footer and
** Thrift decoding, page headers, decompression, levels and every value
** decoder.  Each input is treated as a whole file (through a memfd, so the
** reader's real open path, mmap included, is what is fuzzed) and every
** column of every row group is read.  A finding is any sanitizer report or
** crash; errors returned cleanly are the expected outcome for most inputs.
**
** Build and run: make fuzz FUZZ_SECONDS=600 (seeds: the conformance corpus
** and files skewjoin gen writes).
*/
#include "skewjoin.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("fuzz.parquet", 0);
    if (fd < 0) return 0;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) return 0;
  pq_reader *r;
  sj_error err;
  if (pq_open(&r, path, &err)) return 0;
  for (int rg = 0; rg < pq_nrowgroups(r); rg++)
    for (int c = 0; c < pq_ncols(r); c++) {
      pq_column col;
      if (pq_read(r, rg, c, &col, &err) == 0) pq_column_free(&col);
    }
  pq_close(r);
  return 0;
}
