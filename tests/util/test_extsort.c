/*
** test_extsort.c — the external sorter (src/util/extsort.h) and the order
** it sorts by (src/util/order.h), against a stable sort in memory of the
** same records:
**   - runs of random records with many ties and NULLs come out merged in
**     the order's order, equal records in the order of their runs, whether
**     all runs merge at once or over several passes (counted);
**   - empty runs are no runs; no runs at all is an empty answer;
**   - a stop request fails a pass with SJ_EINTR;
**   - sj_order_cmp: NULLS LAST, signed, columns in the order's order, a
**     column without a NULL flag.
*/
#include "check.h"
#include "util/extsort.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 2463534242ull;
static uint64_t next_u64(void) { /* xorshift64 */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* A record: [NULL flags][a][b][tag], ordered by b then a (b first: the
** order need not follow the words), each with a NULL flag. */
enum { RW = 4 };

static sj_order test_order(void) {
  sj_order o = {.nulls = 0};
  sj_order_add(&o, 2, 1);
  sj_order_add(&o, 1, 0);
  return o;
}

static const sj_order *sort_ctx;
static int cmp_stable(const void *x, const void *y) {
  const uint64_t *a = x, *b = y;
  int c = sj_order_cmp(sort_ctx, a, b);
  return c ? c : (a[3] > b[3]) - (a[3] < b[3]); /* the tag: run, then place in it */
}

static void random_record(uint64_t *e, uint64_t tag) {
  uint64_t r = next_u64();
  e[0] = (r & 7) == 0 ? 1 : 0;                 /* a NULL one time in 8 */
  e[0] |= (r >> 3 & 7) == 0 ? 2 : 0;           /* b too */
  e[1] = (uint64_t)((int64_t)(r >> 8 & 7) - 3); /* few values, signed: many ties */
  e[2] = (uint64_t)((int64_t)(r >> 16 & 3) - 1);
  if (e[0] & 1) e[1] = r >> 32;                /* a NULL's word is not looked at */
  if (e[0] & 2) e[2] = r >> 40;
  e[3] = tag;
}

/* Sorts nruns runs of random lengths under `memory`; checks the merge
** against qsort of them all with the tag as the last key. */
static void check_merge(int nruns, uint64_t memory, int want_passes) {
  sj_order o = test_order();
  sort_ctx = &o;
  size_t cap = 0, total = 0;
  uint64_t *all = NULL;
  sj_extsort *x;
  sj_error err = {0};
  CHECK(sj_extsort_new(&x, RW, &o, NULL, "the test's", memory, NULL, &err) == 0, "new: %s", err.msg);
  for (int r = 0; r < nruns; r++) {
    size_t n = r % 4 == 3 ? 0 : (size_t)(next_u64() % 3000); /* some runs empty */
    if (total + n > cap) {
      cap = 2 * (total + n);
      all = realloc(all, cap * RW * 8);
    }
    uint64_t *run = all + total * RW;
    for (size_t i = 0; i < n; i++) random_record(run + i * RW, (uint64_t)r << 32 | i);
    qsort(run, n, RW * 8, cmp_stable);
    for (size_t i = 0; i < n; i++) sj_extsort_put(x, run + i * RW, &err);
    CHECK(sj_extsort_end_run(x, &err) == 0, "end_run: %s", err.msg);
    total += n;
  }
  qsort(all, total, RW * 8, cmp_stable);
  CHECK(sj_extsort_merge(x, &err) == 0, "merge: %s", err.msg);
  size_t got = 0, wrong = 0;
  const uint64_t *e;
  while (sj_extsort_next(x, &e, &err) == 0 && e) {
    if (got >= total || e[3] != all[got * RW + 3]) wrong++;
    got++;
  }
  CHECK(got == total && wrong == 0, "%d runs under %llu bytes: %zu records of %zu, %zu out of place", nruns,
        (unsigned long long)memory, got, total, wrong);
  int nonempty = nruns - nruns / 4;
  CHECK(sj_extsort_runs(x) == (size_t)nonempty, "%zu runs counted, %d put", sj_extsort_runs(x), nonempty);
  CHECK(want_passes == 0 || sj_extsort_passes(x) == want_passes, "%d runs under %llu bytes: %d passes, want %d",
        nruns, (unsigned long long)memory, sj_extsort_passes(x), want_passes);
  CHECK(sj_extsort_next(x, &e, &err) == 0 && e == NULL, "the end stays the end");
  sj_extsort_free(x);
  free(all);
}

static void test_stop(void) {
  sj_order o = test_order();
  sj_stop *stop = sj_stop_new();
  sj_extsort *x;
  sj_error err = {0};
  sj_extsort_new(&x, RW, &o, NULL, "the test's", 1, stop, &err);
  uint64_t e[RW] = {0};
  for (int r = 0; r < 5; r++) {
    sj_extsort_put(x, e, &err);
    sj_extsort_end_run(x, &err);
  }
  sj_stop_request(stop);
  CHECK(sj_extsort_merge(x, &err) == SJ_EINTR, "a stopped pass fails with SJ_EINTR, got: %s", err.msg);
  sj_extsort_free(x);
  sj_stop_free(stop);
}

static void test_nothing(void) {
  sj_order o = test_order();
  sj_extsort *x;
  sj_error err = {0};
  sj_extsort_new(&x, RW, &o, NULL, "the test's", 1 << 20, NULL, &err);
  const uint64_t *e = (const uint64_t *)&err;
  CHECK(sj_extsort_merge(x, &err) == 0 && sj_extsort_next(x, &e, &err) == 0 && e == NULL, "no runs: nothing");
  sj_extsort_free(x);
}

static void test_order_cmp(void) {
  sj_order o = {.nulls = 0};
  sj_order_add(&o, 1, 3);
  sj_order_add(&o, 2, -1);
  uint64_t a[3] = {0, (uint64_t)-5, 1}, b[3] = {0, 4, 0}, n[3] = {8, 0, 0};
  CHECK(sj_order_cmp(&o, a, b) < 0, "signed: -5 before 4");
  CHECK(sj_order_cmp(&o, b, n) < 0 && sj_order_cmp(&o, n, a) > 0, "NULLS LAST");
  uint64_t n2[3] = {8, 77, 1};
  CHECK(sj_order_cmp(&o, n, n2) < 0, "two NULLs: the next column decides, the NULL's word is not read");
  uint64_t a2[3] = {0, (uint64_t)-5, 0};
  CHECK(sj_order_cmp(&o, a2, a) < 0 && sj_order_cmp(&o, a, a) == 0, "the second column after the first");
}

int main(void) {
  test_order_cmp();
  check_merge(1, 1 << 20, 1);
  check_merge(7, 1 << 20, 1);     /* 16 blocks: one merge */
  check_merge(9, 1, 3);           /* two at a time: 7 runs → 4 → 2, then the last merge */
  check_merge(40, 3 << 16, 4);    /* three at a time: 30 → 10 → 4 → 2, then the last */
  check_merge(64, 1 << 16, 0);
  test_nothing();
  test_stop();
  return check_summary("extsort");
}
