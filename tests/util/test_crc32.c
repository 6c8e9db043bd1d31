/*
** test_crc32.c — sj_crc32 (src/util/crc32.h) against zlib's crc32, the
** definition Parquet's PageHeader.crc names: the standard check value, every
** length from 0 to 1100 at every alignment of 16 (the folding path takes
** 64 bytes and up, in blocks of 16, the rest goes to zlib), long buffers of
** random bytes and buffers of one repeated byte.
*/
#include "check.h"
#include "util/crc32.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t zlib_of(const uint8_t *p, size_t n) { return (uint32_t)crc32(0, p, (uInt)n); }

int main(void) {
  CHECK(sj_crc32("123456789", 9) == 0xCBF43926u, "the check value of CRC-32: %08x", sj_crc32("123456789", 9));
  CHECK(sj_crc32("", 0) == 0, "the CRC of nothing is 0");

  size_t big = (size_t)8 << 20;
  uint8_t *buf = malloc(big + 16);
  uint64_t s = 0x9E3779B97F4A7C15u;
  for (size_t i = 0; i < big + 16; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    buf[i] = (uint8_t)s;
  }
  int bad = 0;
  for (size_t off = 0; off < 16; off++)
    for (size_t n = 0; n <= 1100; n++)
      if (sj_crc32(buf + off, n) != zlib_of(buf + off, n)) {
        if (!bad++) CHECK(0, "length %zu at offset %zu: %08x, zlib %08x", n, off, sj_crc32(buf + off, n), zlib_of(buf + off, n));
      }
  CHECK(!bad, "every length 0..1100 at every offset 0..15 equals zlib (%d differ)", bad);
  size_t lens[] = {4096, 65536 + 5, 1 << 20, big - 3, big};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++)
    CHECK(sj_crc32(buf + 1, lens[i]) == zlib_of(buf + 1, lens[i]), "%zu random bytes equal zlib", lens[i]);
  for (int v = 0; v < 256; v += 85) {
    memset(buf, v, 4096);
    CHECK(sj_crc32(buf, 4096) == zlib_of(buf, 4096), "4096 bytes of %02x equal zlib", v);
  }
  free(buf);
  return check_summary("crc32");
}
