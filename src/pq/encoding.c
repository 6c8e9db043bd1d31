/*
** encoding.c — the RLE/bit-packing hybrid and DELTA_BINARY_PACKED, both
** ways (encoding.h).
**
** The encoders run once per value of every dictionary or delta column, so
** they are written as straight loops over a 64-bit accumulator, with the
** buffer space reserved once per call rather than per byte.  The decoders
** read untrusted pages: nothing is used before it is checked against the
** bytes that remain.
*/
#include "encoding.h"

#include <assert.h>
#include <string.h>

int enc_bit_width(uint64_t max_value) {
  return max_value ? 64 - __builtin_clzll(max_value) : 0;
}

/* Packs groups of 8 values of a compile-time width W: 8·W bits = W bytes,
** assembled in a 128-bit word so the compiler unrolls each group. */
static inline void pack8_groups(const uint16_t *v, size_t groups, const int W, uint8_t *p) {
  for (size_t g = 0; g < groups; g++, v += 8, p += W) {
    unsigned __int128 acc = 0;
    for (int i = 0; i < 8; i++) acc |= (unsigned __int128)v[i] << (W * i);
    memcpy(p, &acc, (size_t)W); /* little endian: the low W bytes */
  }
}

void enc_bitpack_u16(const uint16_t *v, size_t n, int width, sj_buf *out) {
  assert(width >= 0 && width <= 16);
  size_t groups = (n + 7) / 8, bytes = groups * (size_t)width;
  if (width == 0 || sj_buf_reserve(out, bytes + 16)) return;
  uint8_t *p = out->data + out->len;
  size_t full = n / 8;
  switch (width) {
#define PACK_CASE(W) case W: pack8_groups(v, full, W, p); break;
    PACK_CASE(1) PACK_CASE(2) PACK_CASE(3) PACK_CASE(4) PACK_CASE(5) PACK_CASE(6)
    PACK_CASE(7) PACK_CASE(8) PACK_CASE(9) PACK_CASE(10) PACK_CASE(11) PACK_CASE(12)
    PACK_CASE(13) PACK_CASE(14) PACK_CASE(15) PACK_CASE(16)
#undef PACK_CASE
  }
  if (full < groups) { /* the last group, padded with zero values */
    uint16_t last[8] = {0};
    memcpy(last, v + full * 8, (n - full * 8) * sizeof *v);
    unsigned __int128 acc = 0;
    for (int i = 0; i < 8; i++) acc |= (unsigned __int128)last[i] << (width * i);
    memcpy(p + full * (size_t)width, &acc, (size_t)width);
  }
  out->len += bytes;
}

void enc_bitpack_u64(const uint64_t *v, size_t n, int width, sj_buf *out) {
  assert(width >= 0 && width <= 64);
  size_t bytes = (n * (size_t)width + 7) / 8;
  if (width == 0 || sj_buf_reserve(out, bytes + 8)) return;
  uint8_t *p = out->data + out->len;
  uint64_t mask = width == 64 ? ~UINT64_C(0) : (UINT64_C(1) << width) - 1, acc = 0;
  int filled = 0; /* bits of acc in use, < 64 */
  for (size_t i = 0; i < n; i++) {
    uint64_t x = v[i] & mask;
    acc |= x << filled;
    if (filled + width >= 64) { /* a full word: out, little endian, and the rest of x kept */
      memcpy(p, &acc, 8);
      p += 8;
      acc = filled ? x >> (64 - filled) : 0;
      filled += width - 64;
    } else {
      filled += width;
    }
  }
  memcpy(p, &acc, 8); /* the last bits; the bytes past them are reserved, not counted */
  out->len += bytes;
}

/* Bytes of the value in an RLE run: the bit width rounded up to bytes. */
static void put_rle_run(sj_buf *out, uint64_t count, uint32_t value, int width) {
  sj_buf_uvarint(out, count << 1);
  for (int b = 0; b < (width + 7) / 8; b++) sj_buf_byte(out, (uint8_t)(value >> (8 * b)));
}

void enc_hybrid_codes(const uint16_t *codes, size_t n, int width, sj_buf *out) {
  if (n == 0) return;
  /* RLE wins only with few runs: count them, but stop as soon as there are
  ** too many for RLE to be smaller (random codes stop within a few %). */
  size_t packed_bytes = (n + 7) / 8 * (size_t)width + 5;
  size_t run_bytes = (size_t)(3 + (width + 7) / 8);
  size_t max_runs = packed_bytes / run_bytes, runs = 1;
  for (size_t i = 1; i < n && runs <= max_runs; i++) runs += codes[i] != codes[i - 1];
  if (runs <= max_runs) {
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

/* ------------------------------------------- RLE/bit-packed hybrid, decoding */

void hybrid_init(hybrid_reader *h, const uint8_t *p, size_t n, int width) {
  memset(h, 0, sizeof *h);
  h->p = p;
  h->end = p + n;
  h->width = width;
}

/* Decodes n values into out (uint32).  Returns 0 or -1 if the data ends
** early or is malformed.  Bit-packed values are read as one 8-byte load
** where 8 bytes remain in the buffer, byte by byte at its very end. */
int hybrid_get(hybrid_reader *h, uint32_t *out, uint64_t n) {
  uint64_t k = 0;
  while (k < n) {
    if (h->rle_left) {
      uint64_t take = h->rle_left < n - k ? h->rle_left : n - k;
      for (uint64_t i = 0; i < take; i++) out[k + i] = h->rle_value;
      k += take;
      h->rle_left -= take;
      continue;
    }
    if (h->packed_left) {
      uint64_t take = h->packed_left < n - k ? h->packed_left : n - k;
      const int w = h->width;
      const uint32_t mask = w == 32 ? 0xffffffffu : (1u << w) - 1;
      const size_t avail = (size_t)(h->end - h->pp);
      for (uint64_t i = 0; i < take; i++, h->bitpos += (size_t)w) {
        size_t byte = h->bitpos >> 3;
        uint64_t word = 0;
        if (byte + 8 <= avail) memcpy(&word, h->pp + byte, 8);
        else for (size_t b = 0; b < 8 && byte + b < avail; b++) word |= (uint64_t)h->pp[byte + b] << (8 * b);
        out[k + i] = (uint32_t)(word >> (h->bitpos & 7)) & mask;
      }
      k += take;
      h->packed_left -= take;
      continue;
    }
    uint64_t header;
    if (h->p >= h->end || sj_uvarint_get(&h->p, h->end, &header)) return -1;
    if (header & 1) {
      uint64_t groups = header >> 1;
      if (groups == 0) return -1;
      if (h->width == 0) { /* zero-width values: all zero, no bytes */
        h->rle_left = groups * 8;
        h->rle_value = 0;
        continue;
      }
      uint64_t left = (uint64_t)(h->end - h->p);
      /* Writers may end the last run early: keep only the groups present. */
      if (groups > left / (uint64_t)h->width) groups = left / (uint64_t)h->width;
      if (groups == 0) return -1;
      h->packed_left = groups * 8;
      h->pp = h->p;
      h->bitpos = 0;
      h->p += groups * (uint64_t)h->width;
    } else {
      uint64_t count = header >> 1;
      int nb = (h->width + 7) / 8;
      if (count == 0 || (uint64_t)(h->end - h->p) < (uint64_t)nb) return -1;
      uint32_t v = 0;
      for (int b = 0; b < nb; b++) v |= (uint32_t)h->p[b] << (8 * b);
      h->p += nb;
      if (h->width < 32 && (v >> h->width)) return -1;
      h->rle_value = v;
      h->rle_left = count;
    }
  }
  return 0;
}

/* ------------------------------------------ DELTA_BINARY_PACKED, decoding */

int delta_init(delta_reader *d, const uint8_t *p, const uint8_t *end) {
  memset(d, 0, sizeof *d);
  d->p = p;
  d->end = end;
  uint64_t first;
  if (sj_uvarint_get(&d->p, end, &d->block) || sj_uvarint_get(&d->p, end, &d->minis) ||
      sj_uvarint_get(&d->p, end, &d->total) || sj_uvarint_get(&d->p, end, &first))
    return -1;
  if (d->block == 0 || d->block % 128 || d->minis == 0 || d->block % d->minis ||
      d->block > (1 << 20) || (d->block / d->minis) % 32)
    return -1;
  d->per_mini = d->block / d->minis;
  d->last = (int64_t)(first >> 1) ^ -(int64_t)(first & 1);
  return 0;
}

/* Decodes the next n values (n <= total - produced). */
int delta_get(delta_reader *d, int64_t *out, uint64_t n) {
  uint64_t k = 0;
  if (n > d->total - d->produced) return -1;
  if (n && d->produced == 0) {
    out[k++] = d->last;
    d->produced = 1;
  }
  while (k < n) {
    uint64_t zz;
    if (sj_uvarint_get(&d->p, d->end, &zz)) return -1;
    int64_t min_delta = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
    if ((uint64_t)(d->end - d->p) < d->minis) return -1;
    const uint8_t *widths = d->p;
    d->p += d->minis;
    for (uint64_t m = 0; m < d->minis && d->produced < d->total; m++) {
      int w = widths[m];
      if (w > 64) return -1;
      uint64_t bytes = d->per_mini * (uint64_t)w / 8;
      if ((uint64_t)(d->end - d->p) < bytes) {
        /* The last miniblock may be cut short when it holds fewer values. */
        uint64_t need = ((d->total - d->produced) * (uint64_t)w + 7) / 8;
        if ((uint64_t)(d->end - d->p) < need) return -1;
        bytes = (uint64_t)(d->end - d->p);
      }
      for (uint64_t i = 0; i < d->per_mini && d->produced < d->total; i++) {
        uint64_t v = 0;
        size_t bit = (size_t)(i * (uint64_t)w);
        for (int b = 0; b < w; b++, bit++) /* simple and safe: delta pages are small */
          v |= (uint64_t)((d->p[bit >> 3] >> (bit & 7)) & 1) << b;
        d->last = (int64_t)((uint64_t)d->last + (uint64_t)min_delta + v);
        d->produced++;
        if (k < n) out[k++] = d->last;
        else return -1; /* asked for fewer than a miniblock decodes: not how we call it */
      }
      d->p += bytes;
    }
  }
  return 0;
}
