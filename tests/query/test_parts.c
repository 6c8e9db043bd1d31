/*
** test_parts.c — the engine's small parts, each against an independent
** truth:
**   radix_sort   (src/util/radix.h) equals a stable insertion sort, for
**                random keys of every width 0..64 and with many ties, and
**                radix_sort_u64 equals it for plain keys;
**   varints      (src/util/buf.h) round-trip every width, and a varint that
**                ends early or runs past 64 bits is refused, not wrapped;
**   code packing (merge_layout_pack, src/query/layout.c): codes of packed
**                tuples sort as the tuples do, NULLs last, and domains that
**                need more than 62 bits together are refused;
**   state_merge  (src/query/agg.h) folds exactly and reports a count or
**                sum past int64 / 128 bits instead of wrapping;
**   the budget   (src/query/budget.h): the shares of a limit, the sort's
**                quarter carved off the rest, kept ranks taken off it (at
**                most half at a time), and the peak a share held.
*/
#include "check.h"
#include "query/agg.h"
#include "query/budget.h"
#include "query/layout.h"
#include "util/buf.h"
#include "util/radix.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 88172645463325252ull;
static uint64_t next_u64(void) { /* xorshift64 */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void test_radix(void) {
  enum { N = 3000 };
  static radix_pair a[N], tmp[N], want[N];
  int bad_order = 0, bad_stable = 0;
  for (int bits = 0; bits <= 64; bits++) {
    uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
    for (size_t i = 0; i < N; i++) {
      uint64_t k = next_u64() & mask; /* keys fit in `bits`: radix_sort's contract */
      if (i % 3 == 0) k &= 0xff;     /* ties, and bytes all keys share */
      a[i] = (radix_pair){k, (uint32_t)i, 0};
    }
    /* the truth: a stable insertion sort by the low bits */
    memcpy(want, a, sizeof a);
    for (size_t i = 1; i < N; i++) {
      radix_pair x = want[i];
      size_t j = i;
      while (j > 0 && (want[j - 1].k & mask) > (x.k & mask)) want[j] = want[j - 1], j--;
      want[j] = x;
    }
    radix_pair *got = radix_sort(a, tmp, N, bits);
    for (size_t i = 0; i < N; i++) {
      if ((got[i].k & mask) != (want[i].k & mask)) bad_order++;
      else if (got[i].a != want[i].a) bad_stable++;
    }
  }
  CHECK(!bad_order, "radix_sort orders by the low bits (%d out of place)", bad_order);
  CHECK(!bad_stable, "radix_sort keeps ties in their order (%d moved)", bad_stable);
  /* plain keys: the same sort, every byte used */
  static uint64_t u[N], utmp[N], uwant[N];
  int bad_u64 = 0;
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < N; i++) u[i] = round == 1 ? next_u64() & 0xff00ff : next_u64() >> (i % 64);
    for (size_t i = 0; i < N; i++) {
      uint64_t x = u[i];
      size_t j = i;
      while (j > 0 && uwant[j - 1] > x) uwant[j] = uwant[j - 1], j--;
      uwant[j] = x;
    }
    radix_sort_u64(u, utmp, N);
    bad_u64 += memcmp(u, uwant, sizeof u) != 0;
  }
  CHECK(!bad_u64, "radix_sort_u64 sorts 64-bit keys (%d rounds wrong)", bad_u64);
  CHECK(radix_bits(1) == 0 && radix_bits(2) == 1 && radix_bits(257) == 9 && radix_bits(0) == 64,
        "radix_bits: bits to tell values apart");
}

static void test_varint(void) {
  int bad = 0;
  for (int w = 0; w <= 64; w++) {
    uint64_t v = w == 64 ? ~0ull : w ? (1ull << w) - 1 : 0, got = 1;
    uint8_t buf[10], *end = sj_uvarint_put(buf, v);
    const uint8_t *p = buf;
    if (sj_uvarint_get(&p, end, &got) || got != v || p != end) bad++;
    p = buf;
    if (end - buf > 1 && sj_uvarint_get(&p, end - 1, &got) != SJ_VARINT_SHORT) bad++;
  }
  CHECK(!bad, "varints round-trip, and one cut short is refused (%d bad)", bad);
  const uint8_t wide[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
  const uint8_t *p = wide;
  uint64_t v;
  CHECK(sj_uvarint_get(&p, wide + 10, &v) == SJ_VARINT_WIDE, "a varint past 64 bits is refused");
  sj_buf b = {0};
  sj_buf_uvarint(&b, 300);
  CHECK(b.len == 2 && b.data[0] == 0xac && b.data[1] == 0x02, "300 is ac 02 (LEB128)");
  sj_buf_free(&b);
}

/* The code of a tuple as the merge plan packs it (merge.h's layout). */
static uint64_t pack(const merge_layout *lay, const int64_t *v, const int *null) {
  uint64_t code = 0;
  for (int j = 0; j < lay->ncols; j++)
    code |= (null[j] ? lay->null_code[j] : (uint64_t)(v[j] - lay->lo[j])) << lay->shift[j];
  return code;
}

/* Tuple order: column by column, NULLs last. */
static int cmp_tuple(int n, const int64_t *a, const int *an, const int64_t *b, const int *bn) {
  for (int j = 0; j < n; j++) {
    if (an[j] != bn[j]) return an[j] ? 1 : -1;
    if (!an[j] && a[j] != b[j]) return a[j] < b[j] ? -1 : 1;
  }
  return 0;
}

static void test_packing(void) {
  merge_layout lay;
  memset(&lay, 0, sizeof lay);
  lay.ncols = 3;
  int64_t lo[3] = {-5, 1, 1000}, hi[3] = {5, 40000, 1000};
  int nullable[3] = {1, 0, 1};
  memcpy(lay.lo, lo, sizeof lo);
  memcpy(lay.hi, hi, sizeof hi);
  CHECK(merge_layout_pack(&lay, nullable), "three small domains pack");
  CHECK(lay.bits == 4 + 16 + 1 && lay.shift[0] == 17 && lay.shift[2] == 0,
        "widths 4, 16, 1 (NULL as one more value), the first column highest: %d bits", lay.bits);
  int bad = 0;
  for (int t = 0; t < 20000; t++) {
    int64_t a[3], b[3];
    int an[3], bn[3];
    for (int j = 0; j < 3; j++) {
      a[j] = lo[j] + (int64_t)(next_u64() % (uint64_t)(hi[j] - lo[j] + 1));
      b[j] = t % 2 ? a[j] : lo[j] + (int64_t)(next_u64() % (uint64_t)(hi[j] - lo[j] + 1));
      an[j] = nullable[j] && next_u64() % 4 == 0;
      bn[j] = nullable[j] && next_u64() % 4 == 0;
    }
    int want = cmp_tuple(3, a, an, b, bn);
    uint64_t ca = pack(&lay, a, an), cb = pack(&lay, b, bn);
    int got = ca < cb ? -1 : ca > cb;
    if (got != want || ca >> lay.bits) bad++;
  }
  CHECK(!bad, "codes sort as their tuples, NULLs last (%d of 20000 wrong)", bad);
  lay.ncols = 2;
  lay.lo[0] = 0, lay.hi[0] = (int64_t)1 << 40;
  lay.lo[1] = 0, lay.hi[1] = (int64_t)1 << 30;
  int none[2] = {0, 0};
  CHECK(!merge_layout_pack(&lay, none), "41 + 31 bits do not pack into %d", MAX_CODE_BITS);
  lay.ncols = 1;
  lay.lo[0] = INT64_MIN, lay.hi[0] = INT64_MAX;
  CHECK(!merge_layout_pack(&lay, none), "the whole int64 range does not pack");
}

static void test_budget(void) {
  budget b;
  budget_init(&b, 256 << 20);
  CHECK(b.limit == 256 << 20 && budget_share(&b, MEM_RUNS) == 128 << 20, "runs: half of 256M");
  CHECK(budget_carve(&b, MEM_SORT) == 64 << 20 && b.rest == 192 << 20, "sort: a quarter, carved off the rest");
  CHECK(budget_share(&b, MEM_RUNS) == 96 << 20 && budget_share(&b, MEM_READS) == 48 << 20 &&
            budget_share(&b, MEM_COMBINE) == 3 << 20 && budget_share(&b, MEM_RANKS) == 6 << 20,
        "runs, reads, combine, ranks: 1/2, 1/4, 1/64, 1/32 of the rest");
  budget_keep(&b, MEM_RANKS, 10 << 20);
  CHECK(b.rest == 182 << 20, "kept ranks come off the rest");
  budget_keep(&b, MEM_RANKS, 100 << 20);
  CHECK(b.rest == 91 << 20, "kept ranks take at most half of the rest");
  budget_hold(&b, MEM_READS, 5 << 20);
  budget_hold(&b, MEM_READS, 7 << 20);
  budget_hold(&b, MEM_READS, -(12 << 20));
  budget_hold(&b, MEM_READS, 3 << 20);
  CHECK(atomic_load(&b.peak[MEM_READS]) == 12 << 20 && atomic_load(&b.held[MEM_READS]) == 3 << 20,
        "a share's peak and what it holds now");
  char text[400];
  budget_explain(&b, text, sizeof text);
  CHECK(strstr(text, "memory 256.0 MB: sort 64.0 MB") && strstr(text, "reads 48.0 MB (held at most 12.0 MB)"),
        "--explain's line: %s", text);
  budget_init(&b, 0);
  CHECK(b.limit > 0 && b.rest == b.limit, "no limit given: half of RAM");
}

/* state_merge: exact folds, and a count or integer sum past its type's
** range reported (as partials that lie would make them), never wrapped. */
static void test_state_merge(void) {
  agg_state a = {0}, b = {0};
  b.n = 3;
  b.v.isum = -7;
  CHECK(state_merge(&a, &b, F_SUM, 0, 5) == 0 && a.n == 15 && a.v.isum == -35, "sum of 3 values x5: n 15, sum -35");
  agg_state big = {0};
  big.n = INT64_MAX / 2 + 1;
  big.v.isum = 1;
  agg_state acc = {0};
  CHECK(state_merge(&acc, &big, F_COUNT, 0, 2) != 0, "a count of 2^62 times 2 passes int64: reported");
  agg_state huge = {0};
  huge.n = 1;
  huge.v.isum = (__int128)1 << 120;
  agg_state acc2 = {0};
  CHECK(state_merge(&acc2, &huge, F_SUM, 0, 1 << 10) != 0, "a sum of 2^120 times 2^10 passes 128 bits: reported");
  agg_state acc3 = {0};
  acc3.n = INT64_MAX;
  agg_state one = {0};
  one.n = 1;
  CHECK(state_merge(&acc3, &one, F_MIN, 0, 1) != 0, "INT64_MAX values and one more: reported");
  agg_state f = {0}, fb = {0};
  fb.n = INT64_MAX / 4;
  fb.v.f.s = 1e300;
  CHECK(state_merge(&f, &fb, F_SUM, 1, 2) == 0, "a float sum does not overflow (it becomes inf): not reported");
}

int main(void) {
  test_state_merge();
  test_radix();
  test_varint();
  test_packing();
  test_budget();
  return check_summary("engine parts");
}
