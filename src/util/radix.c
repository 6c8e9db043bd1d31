/*
** radix.c — LSD radix sort of key/payload pairs and of plain keys (radix.h): a byte at a
** time, every digit's histogram counted in one pass over the keys.
*/
#include "radix.h"

#include <assert.h>
#include <string.h>

radix_pair *radix_sort(radix_pair *a, radix_pair *tmp, size_t n, int bits) {
  assert(bits >= 0 && bits <= 64);
  int digits = (bits + 7) / 8;
  if (!n || !digits) return a;
  size_t count[8][256];
  memset(count, 0, (size_t)digits * sizeof count[0]);
  for (size_t i = 0; i < n; i++) {
    uint64_t k = a[i].k;
    for (int d = 0; d < digits; d++) count[d][k >> (8 * d) & 255]++;
  }
  for (int d = 0; d < digits; d++) {
    int shift = 8 * d;
    size_t *c = count[d];
    if (c[a[0].k >> shift & 255] == n) continue;
    for (size_t at = 0, x = 0; x < 256; x++) {
      size_t here = c[x];
      c[x] = at;
      at += here;
    }
    for (size_t i = 0; i < n; i++) tmp[c[a[i].k >> shift & 255]++] = a[i];
    radix_pair *t = a;
    a = tmp;
    tmp = t;
  }
  return a;
}

void radix_sort_u64(uint64_t *a, uint64_t *tmp, size_t n) {
  if (!n) return;
  size_t count[8][256] = {{0}};
  for (size_t i = 0; i < n; i++)
    for (int d = 0; d < 8; d++) count[d][a[i] >> (8 * d) & 255]++;
  uint64_t *src = a, *dst = tmp;
  for (int d = 0; d < 8; d++) {
    int shift = 8 * d;
    size_t *c = count[d];
    if (c[src[0] >> shift & 255] == n) continue;
    for (size_t at = 0, x = 0; x < 256; x++) {
      size_t here = c[x];
      c[x] = at;
      at += here;
    }
    for (size_t i = 0; i < n; i++) dst[c[src[i] >> shift & 255]++] = src[i];
    uint64_t *t = src;
    src = dst;
    dst = t;
  }
  if (src != a) memcpy(a, src, n * sizeof *a);
}
