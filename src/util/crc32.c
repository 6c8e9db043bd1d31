/*
** crc32.c — CRC-32 of a page (crc32.h).
**
** zlib's crc32 (Debian 12's 1.2.13: ~5 GB/s here) costed Q1 at s=0.1 a
** fifth of its CPU time, as every page is summed once more on read.  Where
** the CPU has PCLMULQDQ the bulk is folded with carry-less multiplies
** instead (Gopal et al., "Fast CRC Computation for Generic Polynomials
** Using PCLMULQDQ", Intel 2009): four 128-bit lanes fold 64 bytes a step,
** the lanes fold into one, 128 bits reduce to 64 and then to the 32-bit CRC
** by Barrett reduction.  The constants are x^n mod P for the distances the
** folds span, bit-reflected (P = 0x104C11DB7; tests/util/test_crc32.c
** recomputes them and checks every length against zlib).  The tail below
** 16 bytes goes to zlib.
*/
#include "crc32.h"

#include <zlib.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Reflected x^n mod P, shifted left once: fold by 512 bits (n = 544, 480),
** by 128 (160, 96), 64 -> 32 (64); then P' and mu = x^64 / P for Barrett. */
#define K1 0x154442bd4ULL
#define K2 0x1c6e41596ULL
#define K3 0x1751997d0ULL
#define K4 0x0ccaa009eULL
#define K5 0x163cd6124ULL
#define POLY 0x1db710641ULL
#define MU 0x1f7011641ULL

/* With AVX-512's VPCLMULQDQ, four 512-bit registers (sixteen lanes) fold
** 256 bytes a step, then into one register: the four lanes fold() goes on
** with.  Consumes the first 64 bytes and then 256 at a time; len >= 320. */
#define K2080 0x11542778aULL
#define K2016 0x1322d1430ULL

__attribute__((target("avx512f,vpclmulqdq"))) static void fold_wide(uint32_t crc, const uint8_t **pp, size_t *plen,
                                                                      __m128i x[4]) {
  const uint8_t *p = *pp;
  size_t len = *plen;
  __m512i z0 = _mm512_loadu_si512(p), z1 = _mm512_loadu_si512(p + 64);
  __m512i z2 = _mm512_loadu_si512(p + 128), z3 = _mm512_loadu_si512(p + 192);
  z0 = _mm512_xor_si512(z0, _mm512_castsi128_si512(_mm_cvtsi32_si128((int)~crc)));
  __m512i k = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)K2016, (long long)K2080));
  p += 256;
  len -= 256;
  for (; len >= 256; p += 256, len -= 256) {
    z0 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z0, k, 0x00), _mm512_clmulepi64_epi128(z0, k, 0x11),
                                   _mm512_loadu_si512(p), 0x96);
    z1 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z1, k, 0x00), _mm512_clmulepi64_epi128(z1, k, 0x11),
                                   _mm512_loadu_si512(p + 64), 0x96);
    z2 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z2, k, 0x00), _mm512_clmulepi64_epi128(z2, k, 0x11),
                                   _mm512_loadu_si512(p + 128), 0x96);
    z3 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z3, k, 0x00), _mm512_clmulepi64_epi128(z3, k, 0x11),
                                   _mm512_loadu_si512(p + 192), 0x96);
  }
  /* four registers into one: each fold spans 512 bits (0x96: a ^ b ^ c) */
  k = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)K2, (long long)K1));
  __m512i next[3] = {z1, z2, z3};
  for (int i = 0; i < 3; i++)
    z0 = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(z0, k, 0x00), _mm512_clmulepi64_epi128(z0, k, 0x11),
                                   next[i], 0x96);
  x[0] = _mm512_extracti32x4_epi32(z0, 0);
  x[1] = _mm512_extracti32x4_epi32(z0, 1);
  x[2] = _mm512_extracti32x4_epi32(z0, 2);
  x[3] = _mm512_extracti32x4_epi32(z0, 3);
  *pp = p;
  *plen = len;
}

static int has_wide(void);

__attribute__((target("pclmul,sse4.1"))) static uint32_t fold(uint32_t crc, const uint8_t *p, size_t len) {
  /* len >= 64, a multiple of 16; crc is zlib's state, not inverted */
  __m128i x1, x2, x3, x4;
  if (len >= 320 && has_wide()) {
    __m128i x[4];
    fold_wide(crc, &p, &len, x);
    x1 = x[0], x2 = x[1], x3 = x[2], x4 = x[3];
  } else {
    x1 = _mm_loadu_si128((const __m128i *)p), x2 = _mm_loadu_si128((const __m128i *)(p + 16));
    x3 = _mm_loadu_si128((const __m128i *)(p + 32)), x4 = _mm_loadu_si128((const __m128i *)(p + 48));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)~crc));
    p += 64;
    len -= 64;
  }
  __m128i k = _mm_set_epi64x((long long)K2, (long long)K1);
  for (; len >= 64; p += 64, len -= 64) {
    __m128i l1 = _mm_clmulepi64_si128(x1, k, 0x00), l2 = _mm_clmulepi64_si128(x2, k, 0x00);
    __m128i l3 = _mm_clmulepi64_si128(x3, k, 0x00), l4 = _mm_clmulepi64_si128(x4, k, 0x00);
    x1 = _mm_clmulepi64_si128(x1, k, 0x11);
    x2 = _mm_clmulepi64_si128(x2, k, 0x11);
    x3 = _mm_clmulepi64_si128(x3, k, 0x11);
    x4 = _mm_clmulepi64_si128(x4, k, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, l1), _mm_loadu_si128((const __m128i *)p));
    x2 = _mm_xor_si128(_mm_xor_si128(x2, l2), _mm_loadu_si128((const __m128i *)(p + 16)));
    x3 = _mm_xor_si128(_mm_xor_si128(x3, l3), _mm_loadu_si128((const __m128i *)(p + 32)));
    x4 = _mm_xor_si128(_mm_xor_si128(x4, l4), _mm_loadu_si128((const __m128i *)(p + 48)));
  }
  /* four lanes into one, then the remaining 16-byte blocks */
  k = _mm_set_epi64x((long long)K4, (long long)K3);
  __m128i next[3] = {x2, x3, x4};
  for (int i = 0; i < 3; i++) {
    __m128i lo = _mm_clmulepi64_si128(x1, k, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k, 0x11), lo), next[i]);
  }
  for (; len >= 16; p += 16, len -= 16) {
    __m128i lo = _mm_clmulepi64_si128(x1, k, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k, 0x11), lo), _mm_loadu_si128((const __m128i *)p));
  }
  /* 128 bits to 64, 64 to 32 */
  __m128i mask = _mm_setr_epi32(~0, 0, ~0, 0);
  x2 = _mm_clmulepi64_si128(x1, k, 0x10);
  x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
  k = _mm_set_epi64x(0, (long long)K5);
  x2 = _mm_srli_si128(x1, 4);
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask), k, 0x00), x2);
  /* Barrett reduction */
  k = _mm_set_epi64x((long long)MU, (long long)POLY);
  x2 = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask), k, 0x10), mask);
  x2 = _mm_clmulepi64_si128(x2, k, 0x00);
  x1 = _mm_xor_si128(x1, x2);
  return ~(uint32_t)_mm_extract_epi32(x1, 1);
}

/* A race only computes the same answer twice. */
static int has_pclmul(void) {
  static int known = -1;
  if (known < 0) known = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  return known;
}

static int has_wide(void) {
  static int known = -1;
  if (known < 0) known = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq");
  return known;
}
#endif

static uint32_t zlib_crc(uint32_t crc, const uint8_t *p, size_t len) {
  while (len > 0) { /* zlib takes uInt lengths */
    uInt n = len > 1u << 30 ? 1u << 30 : (uInt)len;
    crc = (uint32_t)crc32(crc, p, n);
    p += n;
    len -= n;
  }
  return crc;
}

uint32_t sj_crc32(const void *data, size_t len) {
  const uint8_t *p = data;
  uint32_t crc = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  if (len >= 64 && has_pclmul()) {
    size_t bulk = len & ~(size_t)15;
    crc = fold(crc, p, bulk);
    p += bulk;
    len -= bulk;
  }
#endif
  return zlib_crc(crc, p, len);
}
