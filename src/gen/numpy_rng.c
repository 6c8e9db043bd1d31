/*
** numpy_rng.c — MT19937 and numpy's legacy distributions, exactly.
**
** The twist is split into its three index ranges so each loop reads only
** words it does not write, which lets the compiler vectorise it; tempering
** is a separate pass over the new state.  Results are bit-identical to the
** textbook one-word-at-a-time genrand_int32.
**
** Floating point: this file is compiled with -ffp-contract=off (see the
** Makefile), because a fused multiply-add in expon would change the last
** bit and so, after truncation, an occasional row count.
*/
#include "numpy_rng.h"

#include <stdlib.h>

#include <immintrin.h>
#include <stdatomic.h>
#include <math.h>

enum { MT_M = 397 };
#define MT_UPPER 0x80000000u
#define MT_LOWER 0x7fffffffu
#define MT_MATRIX 0x9908b0dfu

void np_seed(np_rng *r, uint32_t seed) {
  for (int i = 0; i < NP_MT_N; i++) {
    r->mt[i] = seed;
    seed = 1812433253u * (seed ^ (seed >> 30)) + (uint32_t)i + 1;
  }
  r->pos = NP_MT_N;
}

static inline uint32_t twist(uint32_t cur, uint32_t next, uint32_t far) {
  uint32_t y = (cur & MT_UPPER) | (next & MT_LOWER);
  return far ^ (y >> 1) ^ ((0u - (y & 1u)) & MT_MATRIX);
}

/* Hot: one call per 624 draws.  Cloned for AVX2 where the CPU has it (the
** twist and tempering loops vectorise 8 words wide); same results either way.
** Static, behind np_refill: gcc 12 exports a global clone's dispatcher
** whatever -fvisibility says. */
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3")))
static void refill(np_rng *r) {
  uint32_t *mt = r->mt;
  int i;
  for (i = 0; i < NP_MT_N - MT_M; i++) mt[i] = twist(mt[i], mt[i + 1], mt[i + MT_M]);
  for (; i < NP_MT_N - 1; i++) mt[i] = twist(mt[i], mt[i + 1], mt[i + MT_M - NP_MT_N]);
  mt[NP_MT_N - 1] = twist(mt[NP_MT_N - 1], mt[0], mt[MT_M - 1]);
  for (i = 0; i < NP_MT_N; i++) {
    uint32_t y = mt[i];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    r->out[i] = y;
  }
  r->pos = 0;
}

void np_refill(np_rng *r) { refill(r); }

double np_expon(np_rng *r, double loc, double scale) {
  double e = -log(1.0 - np_next_double(r));
  return e * scale + loc;
}

/* The smallest all-ones mask covering max. */
static uint64_t mask_for(uint64_t max) {
  uint64_t m = max;
  m |= m >> 1; m |= m >> 2; m |= m >> 4; m |= m >> 8; m |= m >> 16; m |= m >> 32;
  return m;
}

/* The accepted draws of src[*pos..NP_MT_N) appended to out[*k..n), 16 at a
** time with AVX-512's compress-store, while at least 16 slots remain. */
__attribute__((target("avx512f")))
static void randint_avx512(const uint32_t *src, int *pos, uint32_t range, uint32_t mask,
                           uint16_t *out, size_t *k, size_t n) {
  const __m512i vmask = _mm512_set1_epi32((int)mask), vrange = _mm512_set1_epi32((int)range);
  int p = *pos;
  size_t kk = *k;
  while (p + 16 <= NP_MT_N && n - kk >= 16) {
    __m512i v = _mm512_and_si512(_mm512_loadu_si512(src + p), vmask);
    __mmask16 ok = _mm512_cmple_epu32_mask(v, vrange);
    __m256i packed = _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(ok, v));
    _mm256_storeu_si256((__m256i *)(out + kk), packed);
    kk += (size_t)__builtin_popcount(ok);
    p += 16;
  }
  *pos = p;
  *k = kk;
}

void np_randint_offsets(np_rng *r, uint32_t range, uint16_t *out, size_t n) {
  if (range == 0) { /* numpy returns `low` without drawing */
    for (size_t k = 0; k < n; k++) out[k] = 0;
    return;
  }
  /* SKEWJOIN_NO_SIMD=1 forces the portable path (the tests run both). */
  static atomic_int simd = -1;
  int use_avx512 = atomic_load_explicit(&simd, memory_order_relaxed);
  if (use_avx512 < 0) {
    use_avx512 = __builtin_cpu_supports("avx512f") && !getenv("SKEWJOIN_NO_SIMD");
    atomic_store_explicit(&simd, use_avx512, memory_order_relaxed);
  }
  uint32_t mask = (uint32_t)mask_for(range);
  size_t k = 0;
  while (k < n) {
    if (r->pos == NP_MT_N) np_refill(r);
    if (use_avx512) randint_avx512(r->out, &r->pos, range, mask, out, &k, n);
    const uint32_t *src = r->out;
    int p = r->pos;
    /* Branch-free compaction: every draw is stored, only accepted ones advance. */
    while (p < NP_MT_N && k < n) {
      uint32_t v = src[p++] & mask;
      out[k] = (uint16_t)v;
      k += v <= range;
    }
    r->pos = p;
  }
}

void np_randint_skip(np_rng *r, uint32_t range, uint64_t n) {
  if (range == 0) return;
  uint32_t mask = (uint32_t)mask_for(range);
  uint64_t k = 0;
  while (k < n) {
    if (r->pos == NP_MT_N) np_refill(r);
    int p = r->pos;
    while (p < NP_MT_N && k < n) k += (r->out[p++] & mask) <= range;
    r->pos = p;
  }
}

void np_random_fill(np_rng *r, double *out, size_t n) {
  size_t k = 0;
  while (k < n) {
    if (r->pos >= NP_MT_N - 1) { /* a double needs two draws, maybe across a refill */
      out[k++] = np_next_double(r);
      continue;
    }
    const uint32_t *src = r->out;
    int p = r->pos;
    size_t pairs = (size_t)(NP_MT_N - p) / 2;
    if (pairs > n - k) pairs = n - k;
    for (size_t j = 0; j < pairs; j++, p += 2)
      out[k + j] = ((src[p] >> 5) * 67108864.0 + (src[p + 1] >> 6)) / 9007199254740992.0;
    k += pairs;
    r->pos = p;
  }
}

void np_shuffle_prefix(np_rng *r, uint32_t *x, uint32_t n) {
  if (n < 2) return;
  /* Two passes: first every swap partner j[i] (a rejection loop on
  ** registers only), then the swaps.  Fused, each draw would wait for the
  ** previous swap's stores; split, both loops run at full speed. */
  enum { CHUNK = 4096 };
  uint32_t partner[CHUNK];
  uint32_t i = n - 1, mask = (uint32_t)mask_for(i);
  while (i >= 1) {
    uint32_t top = i, count = i < CHUNK ? i : CHUNK;
    uint32_t stop = i - count; /* this chunk handles i = top .. stop+1 */
    while (i > stop) {
      if (r->pos == NP_MT_N) np_refill(r);
      uint32_t j = r->out[r->pos++] & mask;
      uint32_t accept = j <= i;
      partner[top - i] = j; /* overwritten until accepted */
      i -= accept;
      mask = i <= mask >> 1 ? mask >> 1 : mask;
    }
    for (uint32_t k = 0; k < count; k++) {
      uint32_t a = top - k, b = partner[k], t = x[a];
      x[a] = x[b];
      x[b] = t;
    }
  }
}
