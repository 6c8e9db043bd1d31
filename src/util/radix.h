/*
** radix.h — the one radix sort of the library: pairs of a 64-bit key and
** what it belongs to (a row of a morsel; a cursor and an entry of it; a
** record of the re-sort), sorted stably by the key's low bits; and plain
** 64-bit keys (the distinct values ranks are made of).
*/
#ifndef SJ_RADIX_H
#define SJ_RADIX_H

#include <stddef.h>
#include <stdint.h>

typedef struct radix_pair {
  uint64_t k;
  uint32_t a, b;
} radix_pair;

/* LSD radix sort of keys below 2^bits, stable (a merge's ties keep
** cursor order: a fixed fold order); a byte all pairs share is skipped.
** Returns the array that holds the result (a or tmp). */
radix_pair *radix_sort(radix_pair *a, radix_pair *tmp, size_t n, int bits);

/* LSD radix sort of plain keys a[0..n), using tmp of n; the result is in a. */
void radix_sort_u64(uint64_t *a, uint64_t *tmp, size_t n);

/* Bits to tell `values` values apart. */
static inline int radix_bits(uint64_t values) {
  int b = 0;
  while (b < 64 && (values - 1) >> b) b++;
  return b;
}

#endif
