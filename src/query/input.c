/*
** input.c — a query's inputs: the files a side names (a file, a directory
** of them, a glob), opened on all threads; their morsels (file, row group);
** and the columns a scan reads, decoded into int64 or double whatever their
** physical type (unsigned widened, INT96 as nanoseconds, short fixed-length
** decimals as unscaled integers, strings as ids of a dictionary).
*/
#include "input.h"
#include "../util/store.h"

#include <stdlib.h>

/* ---------------------------------------------------------------- inputs */

typedef struct open_job {
  side *s;
  char *const *names;
} open_job;

static int open_one(void *ctx, size_t i, int worker, sj_error *err) {
  open_job *j = ctx;
  return pq_open(&j->s->files[i], j->names[i], err);
}

/* Opens the named files as a side's, on all threads (thousands of footers
** to parse); files[i] stays NULL for a file not opened. */
int side_open_files(plan *p, side *s, char *const *names, int n, sj_error *err) {
  s->files = calloc((size_t)n, sizeof *s->files);
  if (!s->files) return sj_fail(err, SJ_ENOMEM, "out of memory");
  s->nfiles = n;
  open_job job = {s, names};
  return sj_pool_run(p->pool, (size_t)n, open_one, &job, err);
}

/* Opens the files a --left/--right argument names. */
int side_open(plan *p, side *s, const char *arg, sj_error *err) {
  char **names;
  int n;
  int rc = sj_list(arg, ".parquet", &names, &n, err);
  if (rc == SJ_EUSAGE) { /* named as the user gave it: "--left out/df1: no such file" */
    sj_error e = *err;
    return sj_fail(err, rc, "--%s %s", s->what, e.msg);
  }
  if (rc) return rc;
  rc = side_open_files(p, s, names, n, err);
  sj_list_free(names, n);
  return rc;
}

/* ------------------------------------------------------------------ scan */


void side_close_files(side *s) {
  for (int f = 0; f < s->nfiles; f++) {
    if (s->files[f]) pq_close(s->files[f]);
    s->files[f] = NULL;
  }
}

int list_morsels(side *s, morsel **out, size_t *n, sj_error *err) {
  size_t total = 0;
  for (int f = 0; f < s->nfiles; f++) total += (size_t)pq_nrowgroups(s->files[f]);
  morsel *m = malloc((total ? total : 1) * sizeof *m);
  if (!m) return sj_fail(err, SJ_ENOMEM, "out of memory");
  size_t k = 0;
  s->rows_scanned = 0;
  for (int f = 0; f < s->nfiles; f++)
    for (int rg = 0; rg < pq_nrowgroups(s->files[f]); rg++) {
      m[k++] = (morsel){f, rg};
      s->rows_scanned += (uint64_t)pq_rowgroup_rows(s->files[f], rg);
    }
  *out = m;
  *n = total;
  return 0;
}

typedef struct visit_job {
  const side *s;
  const morsel *morsels;
  char *states;
  size_t state_size;
  side_visit_fn visit;
  void *ctx;
} visit_job;

static int visit_morsel(void *ctx, size_t m, int worker, sj_error *err) {
  const visit_job *j = ctx;
  return j->visit(j->ctx, j->states + (size_t)worker * j->state_size, j->s->files[j->morsels[m].file],
                  j->morsels[m].rg, err);
}

int side_visit(const plan *p, side *s, size_t state_size, side_visit_fn visit, void *ctx, void **states,
               sj_error *err) {
  visit_job j = {s, NULL, calloc((size_t)sj_pool_threads(p->pool), state_size), state_size, visit, ctx};
  *states = j.states;
  if (!j.states) return sj_fail(err, SJ_ENOMEM, "out of memory");
  morsel *morsels = NULL;
  size_t n = 0;
  int rc = list_morsels(s, &morsels, &n, err);
  j.morsels = morsels;
  if (!rc) rc = sj_pool_run(p->pool, n, visit_morsel, &j, err);
  free(morsels);
  return rc;
}

/* Puts values, int64 per row, in place of a column's decoded ones. */
static void take_int64(pq_column *c, int64_t *values) {
  free(c->values);
  c->values = (uint8_t *)values;
  c->type = PQ_INT64;
  c->width = 8;
}

/* An unsigned integer column as int64 values: UINT32 widened (zero-extended),
** UINT64 checked to hold no value above INT64_MAX, which the plans cannot
** represent. */
static int read_unsigned(const pq_reader *r, int rg, const char *name, pq_column *c, sj_error *err) {
  if (c->type == PQ_INT64) {
    for (uint64_t i = 0; i < c->rows; i++) {
      uint64_t v;
      memcpy(&v, c->values + 8 * i, 8);
      if (v >> 63 && (!c->valid || c->valid[i]))
        return sj_fail(err, SJ_EUSAGE, "%s: row group %d: column '%s' holds %llu, an unsigned value above the "
                       "int64 range, which queries do not take", pq_path(r), rg, name, (unsigned long long)v);
    }
    return 0;
  }
  if (c->type != PQ_INT32) return 0;
  int64_t *wide = malloc((c->rows ? c->rows : 1) * sizeof *wide);
  if (!wide) return sj_fail(err, SJ_ENOMEM, "out of memory");
  for (uint64_t i = 0; i < c->rows; i++) {
    uint32_t v;
    memcpy(&v, c->values + 4 * i, 4);
    wide[i] = v;
  }
  take_int64(c, wide);
  return 0;
}

/* An INT96 column (nanoseconds of the day, then the Julian day, little
** endian) as int64 nanoseconds since 1970; a value outside the int64 range
** (before 1677 or after 2262) is refused, naming file and column. */
static int read_int96(const pq_reader *r, int rg, const char *name, pq_column *c, sj_error *err) {
  enum { UNIX_EPOCH_JULIAN_DAY = 2440588 };
  const int64_t ns_per_day = 86400 * (int64_t)1000000000;
  int64_t *ns = malloc((c->rows ? c->rows : 1) * sizeof *ns);
  if (!ns) return sj_fail(err, SJ_ENOMEM, "out of memory");
  for (uint64_t i = 0; i < c->rows; i++) {
    int64_t of_day;
    uint32_t julian;
    memcpy(&of_day, c->values + 12 * i, 8);
    memcpy(&julian, c->values + 12 * i + 8, 4);
    int64_t day = (int64_t)julian - UNIX_EPOCH_JULIAN_DAY, v;
    if (c->valid && !c->valid[i]) { ns[i] = 0; continue; } /* a NULL's bytes are zeros */
    if (__builtin_mul_overflow(day, ns_per_day, &v) || __builtin_add_overflow(v, of_day, &v)) {
      free(ns);
      return sj_fail(err, SJ_EUSAGE, "%s: row group %d: column '%s' holds an INT96 timestamp outside 1677..2262 "
                     "(Julian day %u), which int64 nanoseconds do not reach", pq_path(r), rg, name, julian);
    }
    ns[i] = v;
  }
  take_int64(c, ns);
  return 0;
}

/* A DECIMAL in FIXED_LEN_BYTE_ARRAY of at most 8 bytes (big-endian two's
** complement) as its int64 unscaled values. */
static int read_fixed_decimal(pq_column *c, sj_error *err) {
  int w = c->width;
  assert(w >= 1 && w <= 8);
  int64_t *v = malloc((c->rows ? c->rows : 1) * sizeof *v);
  if (!v) return sj_fail(err, SJ_ENOMEM, "out of memory");
  for (uint64_t i = 0; i < c->rows; i++) {
    const uint8_t *b = c->values + (size_t)w * i;
    uint64_t u = b[0] & 0x80 ? UINT64_MAX : 0; /* the sign, extended */
    for (int k = 0; k < w; k++) u = u << 8 | b[k];
    v[i] = (int64_t)u;
  }
  take_int64(c, v);
  return 0;
}

int read_columns(const pq_reader *r, int rg, const char *const *names, int n, numcol *cols, sj_error *err) {
  memset(cols, 0, (size_t)n * sizeof *cols);
  for (int c = 0; c < n; c++) {
    int col = pq_find_column(r, names[c]);
    int rc = pq_read(r, rg, col, &cols[c].raw, err);
    if (!rc && pq_col(r, col)->is_unsigned) rc = read_unsigned(r, rg, names[c], &cols[c].raw, err);
    if (!rc && cols[c].raw.type == PQ_INT96) rc = read_int96(r, rg, names[c], &cols[c].raw, err);
    if (!rc && cols[c].raw.type == PQ_FIXED_LEN_BYTE_ARRAY && query_type(pq_col(r, col)) == PQ_INT64)
      rc = read_fixed_decimal(&cols[c].raw, err);
    if (rc) {
      pq_column_free(&cols[c].raw);
      for (int k = 0; k < c; k++) pq_column_free(&cols[k].raw);
      return rc;
    }
  }
  return 0;
}


