/*
** scan.c — a side aggregated by (key, its by-columns): morsels are pulled
** by the pool's workers, each into a table of its own (or, when a row
** group's key is one value, an array indexed by the by-columns' small
** ranges), and the tables merged in morsel order, so the result does not
** depend on the thread count.  The hash plan's right side and the merge
** plan's outer side are scanned so.
*/
#include "scan.h"
#include "keys.h"

#include <stdlib.h>

/* The direct path: when a morsel's key is one value (as in the generator's
** per-key files) and its by-columns have small ranges and no NULLs, each row
** goes to slot Σ (v − min)·stride of an array; no key is hashed.  Returns 1
** when it applied, 0 to use the hash path, or an SJ_ error code < 0. */
enum { DIRECT_MAX_SLOTS = 1 << 20 };

/* The dictionary a string column of a scan is read through: the join key's
** for names[0], a by-column's for the others; NULL (left as bytes: only
** counted) for a string column aggregated with count(c). */
static const key_dict *scan_dict(const plan *p, const char *const *names, int c) {
  if (c == 0) return p->keys;
  for (int i = 0; i < p->nby; i++)
    if (p->by_dict[i] && !strcmp(p->by[i], names[c])) return p->by_dict[i];
  return NULL;
}

int scan_columns(const plan *p, const side *s, const char **names) {
  names[0] = p->q->on;
  for (int i = 0; i < s->nby; i++) names[1 + i] = s->by[i];
  for (int i = 0; i < s->nstates; i++) names[1 + s->nby + i] = s->state_col[i];
  return 1 + s->nby + s->nstates;
}

uint64_t scan_morsel_bytes(const plan *p, const side *s, const pq_reader *r, int rg) {
  const char *names[1 + MAX_BY + MAX_AGGS];
  int n = scan_columns(p, s, names);
  /* per row beyond the columns: two radix pairs, and an entry of a run or
  ** a row of a table (key, by-columns, count, states) */
  uint64_t bytes = (uint64_t)pq_rowgroup_rows(r, rg) * (32 + 8 * (2 + (uint64_t)s->nby + 4 * (uint64_t)s->nstates));
  for (int c = 0; c < n; c++) {
    uint64_t more = pq_read_bytes(r, rg, pq_find_column(r, names[c]));
    bytes = more > UINT64_MAX - bytes ? UINT64_MAX : bytes + more;
  }
  return bytes;
}

/* A row group is scanned whole: one that needs more than the memory limit
** is refused — but a limit under SCAN_FLOOR (a tiny limit that only asks
** for everything to spill) lets row groups of up to SCAN_FLOOR through, one
** at a time. */
#define SCAN_FLOOR ((uint64_t)64 << 20)

int scan_check_morsels(plan *p, const side *s, const morsel *m, size_t n, sj_error *err) {
  budget_share(p->mem, MEM_SCAN);
  uint64_t most = p->mem->limit > SCAN_FLOOR ? p->mem->limit : SCAN_FLOOR;
  for (size_t i = 0; i < n; i++) {
    const pq_reader *r = s->files[m[i].file];
    uint64_t bytes = scan_morsel_bytes(p, s, r, m[i].rg);
    if (bytes > most)
      return sj_fail(err, SJ_ENOMEM, "%s: row group %d holds %lld rows, which take about %.0f MB to scan: more "
                     "than the %.0f MB a row group may take under this memory limit (give at least --memory-limit "
                     "%.0fM)", pq_path(r), m[i].rg, (long long)pq_rowgroup_rows(r, m[i].rg), (double)bytes / 1048576.0,
                     (double)most / 1048576.0, (double)bytes / 1048576.0 + 1);
  }
  return 0;
}

int read_scan_columns(const plan *p, const pq_reader *r, int rg, const char *const *names, int n, numcol *cols,
                      sj_error *err) {
  int rc = read_columns(r, rg, names, n, cols, err);
  for (int c = 0; c < n && !rc; c++) {
    const key_dict *d = cols[c].raw.type == PQ_BYTE_ARRAY ? scan_dict(p, names, c) : NULL;
    if (d) rc = key_dict_map(d, &cols[c].raw, err);
  }
  if (rc)
    for (int k = 0; k < n; k++) pq_column_free(&cols[k].raw);
  return rc;
}

static int scan_direct(scan_job *j, const numcol *cols, uint64_t rows, agg_table *t, sj_error *err) {
  side *s = j->s;
  int nby = s->nby, ns = s->nstates;
  if (rows == 0 || cols[0].raw.valid) return 0;
  int64_t key = num_i(&cols[0], 0);
  for (uint64_t i = 1; i < rows; i++)
    if (num_i(&cols[0], i) != key) return 0;
  int64_t lo[MAX_BY], stride[MAX_BY];
  uint64_t slots = 1;
  for (int b = nby - 1; b >= 0; b--) {
    const numcol *c = &cols[1 + b];
    if (c->raw.valid) return 0;
    int64_t mn = num_i(c, 0), mx = mn;
    for (uint64_t i = 1; i < rows; i++) {
      int64_t v = num_i(c, i);
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
    }
    uint64_t range = (uint64_t)mx - (uint64_t)mn + 1;
    if (range == 0 || range > DIRECT_MAX_SLOTS || slots * range > DIRECT_MAX_SLOTS ||
        slots * range > (rows > 4096 ? rows : 4096))
      return 0;
    lo[b] = mn;
    stride[b] = (int64_t)slots;
    slots *= range;
  }
  int64_t *count = calloc(slots, sizeof *count);
  agg_state *st = ns ? calloc(slots * (uint64_t)ns, sizeof *st) : NULL;
  if (!count || (ns && !st)) {
    free(count);
    free(st);
    sj_fail(err, SJ_ENOMEM, "out of memory aggregating the %s side", s->what);
    return -SJ_ENOMEM;
  }
  /* Slots first, then one pass per aggregate: no per-value dispatch. */
  uint32_t *slot_of = nby ? malloc(rows * sizeof *slot_of) : NULL;
  if (nby && !slot_of) {
    free(count);
    free(st);
    sj_fail(err, SJ_ENOMEM, "out of memory aggregating the %s side", s->what);
    return -SJ_ENOMEM;
  }
  if (nby) {
    for (uint64_t i = 0; i < rows; i++) {
      int64_t slot = 0;
      for (int b = 0; b < nby; b++) slot += (num_i(&cols[1 + b], i) - lo[b]) * stride[b];
      slot_of[i] = (uint32_t)slot;
      count[slot]++;
    }
  } else {
    count[0] = (int64_t)rows;
  }
  for (int k = 0; k < ns; k++) {
    const numcol *c = &cols[1 + nby + k];
    agg_fn fn = j->p->fn[s->state_agg[k]];
    if (!nby) {
      fold_all(&st[k], fn, s->state_is_float[k], c, rows);
      continue;
    }
    if ((fn == F_SUM || fn == F_AVG) && c->raw.type == PQ_DOUBLE && !c->raw.valid) {
      const double *v = (const double *)c->raw.values;
      for (uint64_t i = 0; i < rows; i++) {
        agg_state *a = &st[(uint64_t)(nby ? slot_of[i] : 0) * (uint64_t)ns + (uint64_t)k];
        a->n++;
        agg_fadd(a, v[i]);
      }
      continue;
    }
    for (uint64_t i = 0; i < rows; i++)
      state_add(&st[(uint64_t)(nby ? slot_of[i] : 0) * (uint64_t)ns + (uint64_t)k], fn, s->state_is_float[k], c, i);
  }
  free(slot_of);
  int64_t keys[1 + MAX_BY];
  keys[0] = key;
  int rc = 1;
  for (uint64_t slot = 0; slot < slots && rc == 1; slot++) {
    if (!count[slot]) continue;
    uint64_t rest = slot; /* column 0 has the largest stride */
    for (int b = 0; b < nby; b++) {
      keys[1 + b] = lo[b] + (int64_t)(rest / (uint64_t)stride[b]);
      rest %= (uint64_t)stride[b];
    }
    uint64_t *row = agg_table_upsert(t, keys, 0);
    if (!row) {
      sj_fail(err, SJ_ENOMEM, "out of memory aggregating the %s side", s->what);
      rc = -SJ_ENOMEM;
      break;
    }
    *agg_row_count(t, row) = count[slot];
    if (ns) memcpy(agg_row_states(t, row), st + slot * (uint64_t)ns, (size_t)ns * sizeof *st);
  }
  free(count);
  free(st);
  return rc;
}

int scan_morsel(void *ctx, size_t m, int worker, sj_error *err) {
  scan_job *j = ctx;
  side *s = j->s;
  pq_reader *r = s->files[j->morsels[m].file];
  int rg = j->morsels[m].rg;
  agg_table *t = &j->tables[m];
  numcol cols[1 + MAX_BY + MAX_AGGS];
  const char *names[1 + MAX_BY + MAX_AGGS];
  int need = scan_columns(j->p, s, names);
  if (agg_table_init(t, 1 + s->nby, s->nstates)) return sj_fail(err, SJ_ENOMEM, "out of memory");
  uint64_t held = scan_morsel_bytes(j->p, s, r, rg);
  budget_wait(j->p->mem, MEM_SCAN, held);
  int rc = read_scan_columns(j->p, r, rg, names, need, cols, err);
  if (rc) {
    budget_give(j->p->mem, MEM_SCAN, held);
    return rc;
  }
  uint64_t rows = (uint64_t)pq_rowgroup_rows(r, rg);
  int64_t keys[1 + MAX_BY];
  if (!rc) {
    int d = scan_direct(j, cols, rows, t, err);
    if (d < 0) rc = -d;
    if (d == 1) rows = 0; /* done */
  }
  for (uint64_t i = 0; i < rows && !rc; i++) {
    if (!present(&cols[0], i)) continue; /* a NULL key matches nothing */
    uint32_t nulls = 0;
    keys[0] = num_i(&cols[0], i);
    for (int b = 0; b < s->nby; b++) {
      if (present(&cols[1 + b], i)) keys[1 + b] = num_i(&cols[1 + b], i);
      else { keys[1 + b] = 0; nulls |= 1u << b; }
    }
    uint64_t *row = agg_table_upsert(t, keys, nulls);
    if (!row) { rc = sj_fail(err, SJ_ENOMEM, "out of memory aggregating the %s side", s->what); break; }
    (*agg_row_count(t, row))++;
    agg_state *st = agg_row_states(t, row);
    for (int k = 0; k < s->nstates; k++)
      state_add(&st[k], j->p->fn[s->state_agg[k]], s->state_is_float[k], &cols[1 + s->nby + k], i);
  }
  for (int c = 0; c < need; c++) pq_column_free(&cols[c].raw);
  budget_give(j->p->mem, MEM_SCAN, held);
  return rc;
}

/* Aggregates one side by (key, its by-columns) into s->partial. */
int scan_side(plan *p, side *s, sj_error *err) {
  scan_job j = {p, s, NULL, NULL};
  size_t nmorsels;
  int rc = list_morsels(s, &j.morsels, &nmorsels, err);
  if (!rc) rc = scan_check_morsels(p, s, j.morsels, nmorsels, err);
  if (rc) {
    free(j.morsels);
    return rc;
  }
  j.tables = calloc(nmorsels ? nmorsels : 1, sizeof *j.tables);
  if (!j.tables) { free(j.morsels); return sj_fail(err, SJ_ENOMEM, "out of memory"); }
  rc = sj_pool_run(p->pool, nmorsels, scan_morsel, &j, err);
  /* Merge in morsel order: the same answer, bit for bit, on any thread count. */
  if (!rc && agg_table_init(&s->partial, 1 + s->nby, s->nstates)) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  for (size_t m = 0; m < nmorsels; m++) {
    agg_table *t = &j.tables[m];
    for (size_t i = 0; i < t->nrows && !rc; i++) {
      uint64_t *src = agg_table_row(t, i);
      uint64_t *dst = agg_table_upsert(&s->partial, agg_row_keys(src), agg_row_nulls(t, src));
      if (!dst) { rc = sj_fail(err, SJ_ENOMEM, "out of memory merging the %s side", s->what); break; }
      *agg_row_count(&s->partial, dst) += *agg_row_count(t, src);
      agg_state *a = agg_row_states(&s->partial, dst), *b = agg_row_states(t, src);
      for (int st = 0; st < s->nstates; st++)
        state_merge(&a[st], &b[st], p->fn[s->state_agg[st]], s->state_is_float[st], 1);
    }
    agg_table_free(t);
  }
  free(j.morsels);
  free(j.tables);
  return rc;
}

