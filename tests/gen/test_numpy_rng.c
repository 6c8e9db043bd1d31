/*
** test_numpy_rng.c — the numpy-exact stream against numpy's own outputs.
**
** Every expected number below was printed by numpy 1.24 (Debian 12's
** python3-numpy) from np.random.seed(N) and the named call; the row counts
** are the generator spec's reference figures.
*/
#include "check.h"
#include "gen/gen_internal.h"

#include <string.h>

static void test_mt19937(void) {
  np_rng r;
  np_seed(&r, 5489); /* np.random.seed(5489); randint(0, 2**32, 2, dtype=uint64) */
  CHECK(np_next32(&r) == 3499211612u, "MT19937 first output for seed 5489");
  CHECK(np_next32(&r) == 581869302u, "MT19937 second output for seed 5489");
  /* Across many refills the batch twist must equal one-at-a-time genrand. */
  np_seed(&r, 42);
  uint32_t x = 0;
  for (int i = 0; i < 624 * 5 + 7; i++) x ^= np_next32(&r);
  np_rng ref;
  np_seed(&ref, 42);
  uint32_t y = 0;
  for (int i = 0; i < 624 * 5 + 7; i++) y ^= np_next32(&ref);
  CHECK(x == y, "MT19937 determinism");
}

static void test_legacy_draws(void) {
  np_rng r;
  np_seed(&r, 42);
  double d[3];
  np_random_fill(&r, d, 3); /* random(3) */
  CHECK(d[0] == 0.3745401188473625 && d[1] == 0.9507143064099162 && d[2] == 0.7319939418114051,
        "random(3) = %.17g %.17g %.17g", d[0], d[1], d[2]);
  uint16_t v[8];
  np_randint_offsets(&r, 8, v, 8); /* randint(1, 10, 8) */
  const int want[8] = {5, 7, 3, 7, 8, 5, 4, 8};
  int ok = 1;
  for (int i = 0; i < 8; i++) ok &= v[i] + 1 == want[i];
  CHECK(ok, "randint(1, 10, 8)");
  np_randint_offsets(&r, 65534, v, 4); /* randint(1, 65536, 4) */
  CHECK(v[0] + 1 == 16024 && v[1] + 1 == 41091 && v[2] + 1 == 1686 && v[3] + 1 == 64821,
        "randint(1, 65536, 4) = %d %d %d %d", v[0] + 1, v[1] + 1, v[2] + 1, v[3] + 1);
  /* permutation(10): the legacy shuffle from the top down. */
  uint32_t p[10];
  for (int i = 0; i < 10; i++) p[i] = (uint32_t)i;
  np_shuffle_prefix(&r, p, 10);
  const uint32_t perm[10] = {4, 2, 0, 8, 9, 6, 5, 3, 7, 1};
  CHECK(memcmp(p, perm, sizeof p) == 0, "permutation(10)");
  double e0 = np_expon(&r, 0, 1), e1 = np_expon(&r, 0, 1);
  CHECK(e0 == 0.3627537294604771 && e1 == 0.7439278308608545, "standard_exponential(2)");
}

static void test_skip_matches_draw(void) {
  /* Skipping must consume exactly the draws that drawing does. */
  np_rng a, b;
  np_seed(&a, 7);
  np_seed(&b, 7);
  static uint16_t buf[5000];
  np_randint_offsets(&a, 28, buf, 5000);
  np_randint_skip(&b, 28, 5000);
  CHECK(np_next32(&a) == np_next32(&b), "randint skip stays in step");
  np_randint_offsets(&a, 0, buf, 10); /* bound 2: numpy draws nothing */
  np_randint_skip(&b, 0, 10);
  CHECK(np_next32(&a) == np_next32(&b), "randint with one value draws nothing");
}

/* The vectorised randint must equal the definition, draw for draw: the
** first 32-bit draw whose masked value is <= range, over long arrays. */
static void test_randint_long(void) {
  static uint16_t got[100003];
  const uint32_t ranges[] = {8, 18, 28, 38, 299, 65534};
  for (size_t t = 0; t < sizeof ranges / sizeof *ranges; t++) {
    uint32_t range = ranges[t], mask = 1;
    while (mask < range) mask = mask << 1 | 1;
    np_rng a, b;
    np_seed(&a, 99 + (uint32_t)t);
    np_seed(&b, 99 + (uint32_t)t);
    np_randint_offsets(&a, range, got, 100003);
    int ok = 1;
    for (size_t i = 0; i < 100003 && ok; i++) {
      uint32_t v;
      while ((v = np_next32(&b) & mask) > range) {}
      ok = got[i] == v;
    }
    CHECK(ok && np_next32(&a) == np_next32(&b), "randint over 100003 values, range %u", range);
  }
}

static void test_reference_plan(void) {
  gen_params p;
  gen_params_default(&p);
  gen_plan plan;
  sj_error err;
  CHECK(gen_plan_make(&p, 0, &plan, &err) == 0, "plan at s=1");
  CHECK(plan.df1_rows == 3992769124u && plan.max_key_rows == 59560113u && plan.keys == 7000,
        "s=1 figures: %llu rows, largest %llu", (unsigned long long)plan.df1_rows,
        (unsigned long long)plan.max_key_rows);
  const uint64_t *r = plan.rows_per_key;
  CHECK(r[0] == 58877 && r[1] == 376801 && r[2] == 164917, "first three keys at s=1");
  CHECK(r[6997] == 20898262 && r[6998] == 4484061 && r[6999] == 8973887, "last three keys at s=1");
  gen_plan_free(&plan);
  p.scale = 0.1;
  CHECK(gen_plan_make(&p, 0, &plan, &err) == 0 && plan.df1_rows == 399273788u &&
            plan.max_key_rows == 5956011u, "s=0.1 figures");
  gen_plan_free(&plan);
}

static void test_minor_fraction(void) {
  CHECK(gen_minor_fraction(0.95) == .05, "1 - 0.95 gives the notebook's .05");
  CHECK(gen_minor_fraction(0.99) == .01, "1 - 0.99 gives the notebook's .01");
  CHECK(gen_minor_fraction(1.0) == 0.0 && gen_minor_fraction(0.0) == 1.0, "edge fractions");
}

int main(void) {
  test_mt19937();
  test_legacy_draws();
  test_skip_matches_draw();
  test_randint_long();
  test_reference_plan();
  test_minor_fraction();
  return check_summary("numpy_rng");
}
