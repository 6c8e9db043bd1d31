/*
** numpy_rng.h — numpy's legacy RandomState stream, bit for bit.
**
** The notebook seeds numpy's global RandomState and draws from it; to write
** the same data we reproduce MT19937 (seeded by init_genrand) and the exact
** legacy algorithms numpy layers on it: random() (53-bit doubles), expon
** (−log(1−u)·scale + loc), randint (masked rejection on 32-bit draws) and
** the Fisher–Yates shuffle behind choice(replace=False).
**
** The generator is sequential by nature, so it is built for one thread to
** drain fast: 624 tempered outputs are produced at a time and consumers
** read them from an array.
*/
#ifndef GEN_NUMPY_RNG_H
#define GEN_NUMPY_RNG_H

#include <stddef.h>
#include <stdint.h>

#define NP_MT_N 624

typedef struct np_rng {
  uint32_t mt[NP_MT_N];  /* the MT19937 state */
  uint32_t out[NP_MT_N]; /* tempered outputs of the last twist */
  int pos;               /* next unread output; NP_MT_N = refill first */
} np_rng;

void np_seed(np_rng *r, uint32_t seed);
/* Twists the state and tempers NP_MT_N fresh outputs; pos = 0. */
void np_refill(np_rng *r);

static inline uint32_t np_next32(np_rng *r) {
  if (r->pos == NP_MT_N) np_refill(r);
  return r->out[r->pos++];
}

/* numpy's random(): ((a >> 5)·2^26 + (b >> 6)) / 2^53. */
static inline double np_next_double(np_rng *r) {
  uint32_t a = np_next32(r) >> 5, b = np_next32(r) >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

/* scipy.stats.expon.rvs(loc, scale) on the legacy stream. */
double np_expon(np_rng *r, double loc, double scale);

/* randint(lo, lo + range + 1, n) minus lo: n values v in [0, range], each
** the first 32-bit draw whose masked value is <= range.  range <= 65535. */
void np_randint_offsets(np_rng *r, uint32_t range, uint16_t *out, size_t n);
/* Consumes exactly the draws np_randint_offsets would, storing nothing. */
void np_randint_skip(np_rng *r, uint32_t range, uint64_t n);

/* random(n). */
void np_random_fill(np_rng *r, double *out, size_t n);

/* numpy's legacy shuffle of x[0..n): for i from n−1 down to 1, swap x[i]
** with x[j], j uniform in [0, i] by masked rejection on 32-bit draws (numpy's
** random_interval; it switches to 64-bit draws above 2^32−1, which our key
** counts never reach).  choice(a, k, replace=False) is the first k. */
void np_shuffle_prefix(np_rng *r, uint32_t *x, uint32_t n);

#endif
