/*
** order.h — the one comparator of the library: records of 64-bit words
** ordered by some of their words read as int64, ascending, NULLS LAST.
**
** Every sorted thing the engine makes is in this order: the answer (by
** its GROUP BY columns), a table's groups before they spill, the outer
** side's groupings in a tile, the re-sort's records.  They differ only in
** where a record keeps its columns and their NULL flags, which an
** sj_order names: column i of the order is word col[i] of the record, and
** is NULL when bit null_bit[i] of word nulls is set (never when -1).
*/
#ifndef SJ_ORDER_H
#define SJ_ORDER_H

#include <assert.h>
#include <stdint.h>

enum { SJ_ORDER_MAX = 17 }; /* the GROUP BY columns and the join key (plan.h checks) */

typedef struct sj_order {
  int n;                        /* columns compared, first to last */
  int nulls;                    /* the word of NULL flags */
  int col[SJ_ORDER_MAX];        /* column i's word */
  int null_bit[SJ_ORDER_MAX];   /* its flag in word `nulls`, or -1 */
} sj_order;

/* Column i of the order at word `word`, its NULL flag at bit `bit`. */
static inline void sj_order_add(sj_order *o, int word, int bit) {
  assert(o->n < SJ_ORDER_MAX && bit < 64);
  o->col[o->n] = word;
  o->null_bit[o->n] = bit;
  o->n++;
}

/* <0, 0, >0 as record a sorts before, with, after record b. */
static inline int sj_order_cmp(const sj_order *o, const uint64_t *a, const uint64_t *b) {
  uint64_t na = a[o->nulls], nb = b[o->nulls];
  for (int i = 0; i < o->n; i++) {
    if (o->null_bit[i] >= 0) {
      int xa = (int)(na >> o->null_bit[i] & 1), xb = (int)(nb >> o->null_bit[i] & 1);
      if (xa != xb) return xa ? 1 : -1;
      if (xa) continue;
    }
    int64_t x = (int64_t)a[o->col[i]], y = (int64_t)b[o->col[i]];
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

#endif
