/*
** agg.c — the group table: open addressing over a flat row array.
**
** Rows stay in insertion order (slots only index them), so walking a table
** is deterministic and merging tables in a fixed order gives results that
** do not depend on the thread count.
*/
#include "agg.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_keys(const int64_t *k, int n, uint32_t nulls) {
  uint64_t h = 0x9e3779b97f4a7c15u ^ nulls;
  for (int i = 0; i < n; i++) {
    h ^= (uint64_t)k[i];
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 31;
  }
  h *= 0x94d049bb133111ebu;
  return h ^ (h >> 29);
}

int agg_table_init(agg_table *t, int nkeys, int nstates) {
  memset(t, 0, sizeof *t);
  t->nkeys = nkeys;
  t->nstates = nstates;
  t->states_at = ((size_t)nkeys + 3 + 1) & ~(size_t)1;
  t->row_words = t->states_at + 4 * (size_t)nstates;
  t->nslots = 64;
  t->slots = calloc(t->nslots, sizeof *t->slots);
  return t->slots ? 0 : -1;
}

void agg_table_free(agg_table *t) {
  free(t->rows);
  free(t->slots);
  memset(t, 0, sizeof *t);
}

static int grow_slots(agg_table *t) {
  size_t n = t->nslots * 2;
  uint32_t *s = calloc(n, sizeof *s);
  if (!s) return -1;
  for (size_t i = 0; i < t->nrows; i++) {
    size_t j = agg_table_row(t, i)[0] & (n - 1);
    while (s[j]) j = (j + 1) & (n - 1);
    s[j] = (uint32_t)(i + 1);
  }
  free(t->slots);
  t->slots = s;
  t->nslots = n;
  return 0;
}

uint64_t *agg_table_upsert(agg_table *t, const int64_t *keys, uint32_t nulls) {
  uint64_t h = hash_keys(keys, t->nkeys, nulls);
  size_t mask = t->nslots - 1, j = h & mask;
  for (uint32_t s; (s = t->slots[j]); j = (j + 1) & mask) {
    uint64_t *row = agg_table_row(t, s - 1);
    if (row[0] == h && (uint32_t)row[1] == nulls && !memcmp(row + 2, keys, (size_t)t->nkeys * 8)) return row;
  }
  if (t->nrows >= UINT32_MAX - 1) return NULL;
  if (t->nrows == t->cap_rows) {
    size_t cap = t->cap_rows ? 2 * t->cap_rows : 256;
    uint64_t *r = realloc(t->rows, cap * t->row_words * 8);
    if (!r) return NULL;
    t->rows = r;
    t->cap_rows = cap;
  }
  uint64_t *row = agg_table_row(t, t->nrows);
  memset(row, 0, t->row_words * 8);
  row[0] = h;
  row[1] = nulls;
  memcpy(row + 2, keys, (size_t)t->nkeys * 8);
  t->slots[j] = (uint32_t)(++t->nrows);
  if (t->nrows * 2 > t->nslots && grow_slots(t)) return NULL;
  return row;
}

void fold_all(agg_state *st, agg_fn fn, int is_float, const numcol *c, uint64_t rows) {
  if ((fn == F_SUM || fn == F_AVG) && c->raw.type == PQ_DOUBLE && !c->raw.valid) {
    /* Four compensated lanes in registers, folded in a fixed order (a single
    ** chain would wait on every addition). */
    const double *v = (const double *)c->raw.values;
    double sum[4] = {0, 0, 0, 0}, comp[4] = {0, 0, 0, 0};
    uint64_t i = 0;
    for (; i + 4 <= rows; i += 4)
      for (int l = 0; l < 4; l++) {
        double x = v[i + (uint64_t)l], tot = sum[l] + x;
        comp[l] += __builtin_fabs(sum[l]) >= __builtin_fabs(x) ? (sum[l] - tot) + x : (x - tot) + sum[l];
        sum[l] = tot;
      }
    for (; i < rows; i++) agg_fadd(st, v[i]);
    for (int l = 0; l < 4; l++) {
      agg_fadd(st, sum[l]);
      agg_fadd(st, comp[l]);
    }
    st->n += (int64_t)rows;
    return;
  }
  for (uint64_t i = 0; i < rows; i++) state_add(st, fn, is_float, c, i);
}
