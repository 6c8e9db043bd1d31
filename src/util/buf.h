/*
** buf.h — a growable byte buffer, the one container the encoders write to.
**
** Growth failures are sticky: after one, `failed` is set, further writes are
** dropped, and the owner checks `failed` once at the end instead of after
** every byte.  That keeps the encoders' inner loops free of error paths.
*/
#ifndef SJ_BUF_H
#define SJ_BUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct sj_buf {
  uint8_t *data;
  size_t len, cap;
  int failed;
} sj_buf;

/* Makes room for `extra` more bytes; returns 0, or -1 (and sets failed). */
static inline int sj_buf_reserve(sj_buf *b, size_t extra) {
  if (b->failed) return -1;
  if (extra <= b->cap - b->len) return 0;
  size_t need = b->len + extra;
  if (need < b->len) { b->failed = 1; return -1; }
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) { cap = need; break; }
    cap *= 2;
  }
  uint8_t *d = realloc(b->data, cap);
  if (!d) { b->failed = 1; return -1; }
  b->data = d;
  b->cap = cap;
  return 0;
}

static inline void sj_buf_put(sj_buf *b, const void *p, size_t n) {
  if (n == 0 || sj_buf_reserve(b, n)) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static inline void sj_buf_byte(sj_buf *b, uint8_t v) {
  if (sj_buf_reserve(b, 1)) return;
  b->data[b->len++] = v;
}

static inline void sj_buf_le32(sj_buf *b, uint32_t v) {
  uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  sj_buf_put(b, t, 4);
}

/* Unsigned LEB128, as Thrift's compact protocol, Parquet's RLE and delta
** headers and SJPART partials use: the one varint of the library.
** sj_uvarint_put writes at most 10 bytes at o and returns their end;
** sj_uvarint_get reads one from [*p, end) and advances *p: 0, or
** SJ_VARINT_SHORT when it runs past end, SJ_VARINT_WIDE past 64 bits. */
enum { SJ_VARINT_SHORT = -1, SJ_VARINT_WIDE = -2 };

static inline uint8_t *sj_uvarint_put(uint8_t *o, uint64_t v) {
  while (v >= 0x80) {
    *o++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *o++ = (uint8_t)v;
  return o;
}

static inline int sj_uvarint_get(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0;; shift += 7) {
    if (*p >= end) return SJ_VARINT_SHORT;
    uint8_t b = *(*p)++;
    if (shift == 63 && b > 1) return SJ_VARINT_WIDE;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
}

static inline void sj_buf_uvarint(sj_buf *b, uint64_t v) {
  uint8_t t[10];
  sj_buf_put(b, t, (size_t)(sj_uvarint_put(t, v) - t));
}

static inline uint64_t sj_zigzag64(int64_t v) {
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline void sj_buf_reset(sj_buf *b) { b->len = 0; b->failed = 0; }
static inline void sj_buf_free(sj_buf *b) { free(b->data); memset(b, 0, sizeof *b); }

#endif
