/*
** fuzz_partial.c — libFuzzer target for SJPART partials, the bytes the
** distributed plan's tasks hand each other (src/query/dist.c documents them
** as untrusted).  An input is an sj_dist_info followed by one partial, so
** that seeds are real (fuzz/seed_partials.py writes them) and the fuzzer
** mutates the layout too.  The partial goes through the decoders every task
** runs: combine (decode, check, merge, encode) and split (the run table and
** frames, copied without decompressing), then the combined output is read
** back: it must be accepted.  Any crash, leak, sanitizer report or a
** combined partial that its own decoder refuses is a finding.
*/
#include "skewjoin.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sj_dist_info info;
  if (size < sizeof info) return 0;
  memcpy(&info, data, sizeof info);
  sj_bytes part = {(uint8_t *)data + sizeof info, size - sizeof info};
  sj_error err;
  sj_bytes out = {0};
  if (!sj_dist_combine(&info, &part, 1, &out, &err)) {
    sj_bytes again = {0};
    if (sj_dist_combine(&info, &out, 1, &again, &err)) abort(); /* our own output refused */
    sj_bytes_free(&again);
  }
  sj_bytes_free(&out);
  int64_t keys[4] = {1, 2, 3, 7000};
  sj_dist_want want = {keys, 4, 0, 1};
  sj_bytes cut = {0};
  if (!sj_dist_split(&info, &part, 1, &want, 1, &cut, &err)) sj_bytes_free(&cut);
  return 0;
}
