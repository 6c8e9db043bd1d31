/*
** ranks.c — integer GROUP BY columns too wide to pack, read as ranks.
**
** The merge plan packs its inner side's GROUP BY columns into one code of
** at most 62 bits by their ranges.  A column whose range is too wide (an
** int64 id spread over most of its range) is packed by rank instead: the
** sorted distinct values of the column, collected on all threads before the
** scan, and each value read as its position there.  Ranks sort as the
** values do, so the plan's order, groups and codes are unchanged; the
** answer turns ranks back into values (chunk_put).  The distinct values
** must fit in a bound the caller gives (a share of the memory limit);
** past it the build says so and the query takes the hash plan.
**
** Values are held as uint64 with the sign bit flipped, so that unsigned
** order is signed order and a radix sort serves.
*/
#include "ranks.h"
#include "input.h"

#include <stdatomic.h>
#include <stdlib.h>

struct rank_dict {
  uint64_t *v; /* sorted, distinct, sign bit flipped */
  size_t n;
};

static uint64_t flip(int64_t x) { return (uint64_t)x ^ (UINT64_C(1) << 63); }

/* Sorts and deduplicates a[0..n); returns the count left. */
static size_t sort_unique(uint64_t *a, uint64_t *tmp, size_t n) {
  radix_sort_u64(a, tmp, n);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!k || a[i] != a[k - 1]) a[k++] = a[i];
  return k;
}

/* One worker's values: a sorted distinct prefix of `sorted` values, then
** values appended since. */
typedef struct collected {
  uint64_t *v, *tmp;
  size_t n, cap, sorted;
} collected;

typedef struct rank_job {
  const char *name;
  uint64_t max_values;
  atomic_int too_many;
} rank_job;

/* Keeps a worker's values distinct once they have doubled since. */
static int compact(rank_job *j, collected *c, sj_error *err) {
  if (!(c->tmp = realloc(c->tmp, (c->cap ? c->cap : 1) * sizeof *c->tmp))) return sj_fail(err, SJ_ENOMEM, "out of memory");
  c->n = c->sorted = sort_unique(c->v, c->tmp, c->n);
  if (c->sorted > j->max_values) {
    atomic_store(&j->too_many, 1);
    return sj_fail(err, SJ_ENOMEM, "'%s' has more than %llu distinct values", j->name,
                   (unsigned long long)j->max_values);
  }
  return 0;
}

static int rank_row_group(void *ctx, void *state, const pq_reader *r, int rg, sj_error *err) {
  rank_job *j = ctx;
  collected *c = state;
  const char *names[1] = {j->name};
  numcol col;
  int rc = read_columns(r, rg, names, 1, &col, err);
  if (rc) return rc;
  uint64_t rows = col.raw.rows;
  if (c->n + rows > c->cap) {
    size_t cap = c->cap ? c->cap : 4096;
    while (cap < c->n + rows) cap *= 2;
    uint64_t *v = realloc(c->v, cap * sizeof *v);
    if (!v) rc = sj_fail(err, SJ_ENOMEM, "%s: out of memory collecting the distinct values of '%s'", pq_path(r), j->name);
    else {
      c->v = v;
      c->cap = cap;
    }
  }
  for (uint64_t i = 0; i < rows && !rc; i++)
    if (present(&col, i)) c->v[c->n++] = flip(num_i(&col, i));
  pq_column_free(&col.raw);
  if (!rc && c->n > 2 * c->sorted + 65536) rc = compact(j, c, err);
  return rc;
}

int rank_dict_build(const plan *p, side *s, const char *name, uint64_t max_values, rank_dict **out, sj_error *err) {
  *out = NULL;
  rank_job j = {name, max_values, 0};
  void *states;
  int rc = side_visit(p, s, sizeof(collected), rank_row_group, &j, &states, err);
  collected *w = states;
  int nw = w ? sj_pool_threads(p->pool) : 0;
  /* The workers' values, one after the other, made distinct. */
  collected all = {0};
  for (int k = 0; k < nw && !rc; k++) all.cap += w[k].n;
  if (!rc && (!(all.v = malloc((all.cap ? all.cap : 1) * sizeof *all.v)))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  for (int k = 0; k < nw; k++) {
    if (!rc && w[k].n) memcpy(all.v + all.n, w[k].v, w[k].n * sizeof *all.v);
    if (!rc) all.n += w[k].n;
    free(w[k].v);
    free(w[k].tmp);
  }
  free(w);
  if (!rc) rc = compact(&j, &all, err);
  free(all.tmp);
  rank_dict *d = rc ? NULL : malloc(sizeof *d);
  if (!rc && !d) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  if (rc) {
    free(all.v);
    return atomic_load(&j.too_many) ? 0 : rc; /* too many: no dictionary, and no error */
  }
  d->v = all.v;
  d->n = all.n;
  *out = d;
  return 0;
}

int rank_dict_map(const rank_dict *d, pq_column *c, const char *path, sj_error *err) {
  int64_t *ranks = malloc((c->rows ? c->rows : 1) * sizeof *ranks);
  if (!ranks) return sj_fail(err, SJ_ENOMEM, "out of memory");
  const numcol *col = (const numcol *)c;
  for (uint64_t i = 0; i < c->rows; i++) {
    ranks[i] = 0;
    if (!present(col, i)) continue;
    uint64_t x = flip(num_i(col, i));
    size_t lo = 0, hi = d->n; /* the first value >= x */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (d->v[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    if (lo == d->n || d->v[lo] != x) {
      free(ranks);
      return sj_fail(err, SJ_ECORRUPT, "%s: a value, %lld, that was not there when its column was first read "
                     "(did the file change?)", path, (long long)num_i(col, i));
    }
    ranks[i] = (int64_t)lo;
  }
  free(c->values);
  c->values = (uint8_t *)ranks;
  c->type = PQ_INT64;
  c->width = 8;
  return 0;
}

size_t rank_dict_size(const rank_dict *d) { return d->n; }

void rank_dict_free(rank_dict *d) {
  if (!d) return;
  free(d->v);
  free(d);
}

int64_t rank_dict_value(const rank_dict *d, int64_t rank) {
  assert(rank >= 0 && (size_t)rank < d->n);
  return (int64_t)(d->v[rank] ^ (UINT64_C(1) << 63));
}
