/*
** agg.h — group tables: tuples of int64 (with a null mask) mapped to
** aggregate states, the one data structure every step of a query uses
** (each side's partials, and the answer).
**
** An aggregate state is 32 bytes whatever the function, so a group's
** states sit in one row of the table:
**   n      non-null inputs seen (count, and the denominator of avg)
**   isum   exact integer sum (128-bit), or min/max of integers
**   fsum   Neumaier-compensated float sum (s + c), or min/max of floats
** Combining is deterministic: callers feed rows and merge tables in a fixed
** order, so results do not depend on the thread count.
*/
#ifndef QUERY_AGG_H
#define QUERY_AGG_H

#include "column.h"

typedef struct agg_state {
  int64_t n;
  int64_t pad;
  union {
    __int128 isum;
    struct { double s, c; } f;
    int64_t i;   /* min/max of integers */
  } v;
} agg_state;

/* The table: open addressing on a flat array of rows, each
** [hash][null mask][keys × nkeys][count][states × nstates]. */
typedef struct agg_table {
  int nkeys, nstates;
  size_t states_at;  /* word offset of the states: even, for __int128 alignment */
  size_t row_words;  /* uint64 words per row (even) */
  uint64_t *rows;    /* nrows rows, in insertion order */
  size_t nrows, cap_rows;
  uint32_t *slots;   /* index + 1 into rows, 0 = empty */
  size_t nslots;
} agg_table;

int agg_table_init(agg_table *t, int nkeys, int nstates);
void agg_table_free(agg_table *t);

/* The row for (keys, nulls), inserted with zero count and states if new;
** NULL when out of memory or past 2^32−1 groups. */
uint64_t *agg_table_upsert(agg_table *t, const int64_t *keys, uint32_t nulls);

static inline uint32_t agg_row_nulls(const agg_table *t, const uint64_t *row) { (void)t; return (uint32_t)row[1]; }
static inline const int64_t *agg_row_keys(const uint64_t *row) { return (const int64_t *)(row + 2); }
static inline int64_t *agg_row_count(const agg_table *t, uint64_t *row) { return (int64_t *)(row + 2 + t->nkeys); }
static inline agg_state *agg_row_states(const agg_table *t, uint64_t *row) {
  return (agg_state *)(row + t->states_at);
}
static inline uint64_t *agg_table_row(const agg_table *t, size_t i) { return t->rows + i * t->row_words; }

/* Neumaier's compensated addition. */
static inline void agg_fadd(agg_state *s, double x) {
  double t = s->v.f.s + x;
  if (__builtin_fabs(s->v.f.s) >= __builtin_fabs(x)) s->v.f.c += (s->v.f.s - t) + x;
  else s->v.f.c += (x - t) + s->v.f.s;
  s->v.f.s = t;
}

/* The aggregate functions. */
typedef enum { F_COUNT_STAR, F_COUNT, F_SUM, F_MIN, F_MAX, F_AVG } agg_fn;

/* Folds one input value into a state. */
static inline void state_add(agg_state *st, agg_fn fn, int is_float, const numcol *c, uint64_t i) {
  if (!present(c, i)) return;
  st->n++;
  switch (fn) {
    case F_SUM:
    case F_AVG:
      if (is_float) agg_fadd(st, num_f(c, i));
      else st->v.isum += num_i(c, i);
      break;
    case F_MIN:
      if (is_float) { double x = num_f(c, i); if (st->n == 1 || x < st->v.f.s) st->v.f.s = x; }
      else { int64_t x = num_i(c, i); if (st->n == 1 || x < st->v.i) st->v.i = x; }
      break;
    case F_MAX:
      if (is_float) { double x = num_f(c, i); if (st->n == 1 || x > st->v.f.s) st->v.f.s = x; }
      else { int64_t x = num_i(c, i); if (st->n == 1 || x > st->v.i) st->v.i = x; }
      break;
    default: break;
  }
}

/* Folds state b, repeated `times` times (the other side's row count), into
** a.  Returns nonzero when a count or an integer sum passes its type's
** range (int64, __int128): impossible for rows read from files, possible for
** partials (SJPART) that lie; the caller turns it into an error. */
static inline int state_merge(agg_state *a, const agg_state *b, agg_fn fn, int is_float, int64_t times) {
  if (b->n == 0 || times == 0) return 0;
  int first = a->n == 0, over = 0;
  int64_t n;
  over |= __builtin_mul_overflow(b->n, times, &n);
  over |= __builtin_add_overflow(a->n, n, &a->n);
  switch (fn) {
    case F_SUM:
    case F_AVG:
      if (is_float) {
        agg_fadd(a, b->v.f.s * (double)times);
        if (b->v.f.c != 0) agg_fadd(a, b->v.f.c * (double)times); /* most partials are exact */
      } else {
        __int128 x;
        over |= __builtin_mul_overflow(b->v.isum, (__int128)times, &x);
        over |= __builtin_add_overflow(a->v.isum, x, &a->v.isum);
      }
      break;
    case F_MIN:
      if (is_float) { if (first || b->v.f.s < a->v.f.s) a->v.f.s = b->v.f.s; }
      else if (first || b->v.i < a->v.i) a->v.i = b->v.i;
      break;
    case F_MAX:
      if (is_float) { if (first || b->v.f.s > a->v.f.s) a->v.f.s = b->v.f.s; }
      else if (first || b->v.i > a->v.i) a->v.i = b->v.i;
      break;
    default: break;
  }
  return over;
}

/* Folds rows [0, rows) of column c into one state. */
void fold_all(agg_state *st, agg_fn fn, int is_float, const numcol *c, uint64_t rows);

#endif
