/*
** encoding.c — RLE/bit-packing hybrid and DELTA_BINARY_PACKED encoders.
**
** These run once per value of every dictionary or delta column, so they are
** written as straight loops over a 64-bit accumulator, with the buffer
** space reserved once per call rather than per byte.
*/
#include "encoding.h"

#include <assert.h>

int enc_bit_width(uint64_t max_value) {
  return max_value ? 64 - __builtin_clzll(max_value) : 0;
}

void enc_bitpack_u16(const uint16_t *v, size_t n, int width, sj_buf *out) {
  assert(width >= 0 && width <= 16);
  size_t padded = (n + 7) & ~(size_t)7;
  size_t bytes = padded / 8 * (size_t)width;
  if (width == 0 || sj_buf_reserve(out, bytes + 8)) return;
  uint8_t *p = out->data + out->len;
  uint64_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    acc |= (uint64_t)v[i] << bits;
    bits += width;
    if (bits >= 32) {
      uint32_t w = (uint32_t)acc;
      memcpy(p, &w, 4);
      p += 4;
      acc >>= 32;
      bits -= 32;
    }
  }
  /* Padding values are zero, so the tail is just the accumulator's bytes. */
  uint8_t *end = out->data + out->len + bytes;
  while (p < end) {
    *p++ = (uint8_t)acc;
    acc >>= 8;
  }
  out->len += bytes;
}

void enc_bitpack_u64(const uint64_t *v, size_t n, int width, sj_buf *out) {
  assert(width >= 0 && width <= 64);
  size_t bytes = (n * (size_t)width + 7) / 8;
  if (width == 0 || sj_buf_reserve(out, bytes + 16)) return;
  uint8_t *p = out->data + out->len;
  memset(p, 0, bytes + 16);
  size_t bitpos = 0;
  for (size_t i = 0; i < n; i++, bitpos += (size_t)width) {
    uint64_t x = width == 64 ? v[i] : v[i] & ((UINT64_C(1) << width) - 1);
    size_t byte = bitpos >> 3;
    int shift = (int)(bitpos & 7);
    /* Up to 64+7 bits: spread over at most 9 bytes. */
    unsigned __int128 wide = (unsigned __int128)x << shift;
    for (int k = 0; k < 9 && (k * 8) < width + shift; k++)
      p[byte + (size_t)k] |= (uint8_t)(wide >> (8 * k));
  }
  out->len += bytes;
}

/* Bytes of the value in an RLE run: the bit width rounded up to bytes. */
static void put_rle_run(sj_buf *out, uint64_t count, uint32_t value, int width) {
  sj_buf_uvarint(out, count << 1);
  for (int b = 0; b < (width + 7) / 8; b++) sj_buf_byte(out, (uint8_t)(value >> (8 * b)));
}

void enc_hybrid_codes(const uint16_t *codes, size_t n, int width, sj_buf *out) {
  if (n == 0) return;
  size_t runs = 1;
  for (size_t i = 1; i < n; i++) runs += codes[i] != codes[i - 1];
  size_t packed_bytes = (n + 7) / 8 * (size_t)width + 5;
  size_t rle_bytes = runs * (size_t)(3 + (width + 7) / 8);
  if (rle_bytes < packed_bytes) {
    size_t start = 0;
    for (size_t i = 1; i <= n; i++) {
      if (i == n || codes[i] != codes[start]) {
        put_rle_run(out, i - start, codes[start], width);
        start = i;
      }
    }
    return;
  }
  sj_buf_uvarint(out, ((uint64_t)((n + 7) / 8) << 1) | 1);
  enc_bitpack_u16(codes, n, width, out);
}

void enc_hybrid_runs(const uint64_t *counts, size_t nruns, uint32_t first_code,
                     int width, sj_buf *out) {
  for (size_t i = 0; i < nruns; i++)
    if (counts[i]) put_rle_run(out, counts[i], first_code + (uint32_t)i, width);
}

enum { DELTA_BLOCK = 128, DELTA_MINIBLOCKS = 4, DELTA_MINI = DELTA_BLOCK / DELTA_MINIBLOCKS };

void enc_delta_i64(const int64_t *v, size_t n, sj_buf *out) {
  sj_buf_uvarint(out, DELTA_BLOCK);
  sj_buf_uvarint(out, DELTA_MINIBLOCKS);
  sj_buf_uvarint(out, n);
  sj_buf_uvarint(out, sj_zigzag64(n ? v[0] : 0));
  uint64_t deltas[DELTA_BLOCK];
  for (size_t pos = 1; pos < n; pos += DELTA_BLOCK) {
    size_t count = n - pos < DELTA_BLOCK ? n - pos : DELTA_BLOCK;
    /* Deltas wrap in two's complement, as the format specifies. */
    int64_t min_delta = INT64_MAX;
    for (size_t i = 0; i < count; i++) {
      int64_t d = (int64_t)((uint64_t)v[pos + i] - (uint64_t)v[pos + i - 1]);
      deltas[i] = (uint64_t)d;
      if (d < min_delta) min_delta = d;
    }
    for (size_t i = 0; i < count; i++) deltas[i] -= (uint64_t)min_delta;
    sj_buf_uvarint(out, sj_zigzag64(min_delta));
    size_t minis = (count + DELTA_MINI - 1) / DELTA_MINI;
    int widths[DELTA_MINIBLOCKS] = {0};
    for (size_t m = 0; m < minis; m++) {
      uint64_t any = 0;
      size_t end = (m + 1) * DELTA_MINI < count ? (m + 1) * DELTA_MINI : count;
      for (size_t i = m * DELTA_MINI; i < end; i++) any |= deltas[i];
      widths[m] = enc_bit_width(any);
    }
    for (int m = 0; m < DELTA_MINIBLOCKS; m++) sj_buf_byte(out, (uint8_t)widths[m]);
    /* A partial last miniblock is padded to 32 values; unused miniblocks of
    ** the last block have no body at all. */
    for (size_t i = count; i < minis * DELTA_MINI; i++) deltas[i] = 0;
    for (size_t m = 0; m < minis; m++)
      enc_bitpack_u64(deltas + m * DELTA_MINI, DELTA_MINI, widths[m], out);
  }
}
