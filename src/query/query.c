/*
** query.c — the join and its GROUP BY by eager aggregation: planning, the
** hash plan, and the driver that picks a plan and streams its answer out.
**
** SUM and COUNT distribute over the join, so the joined rows are never
** built (Yan & Larson, VLDB 1995):
**
**   1. plan     split the GROUP BY columns and the aggregates between the
**               two sides; check names and types (exit 2 before any work)
**   2. scan     each side is aggregated by (key, its by-columns): morsels
**               (file, row group) are pulled by threads, each into a table
**               of its own; the right side's tables are merged in morsel
**               order, so the result does not depend on the thread count
**   3. join     the left side's morsels, a window at a time, each joined
**               with the right side's partial groups: every pair with the
**               same key adds its product to an answer group of the
**               morsel's (count = cL·cR, sum over the left = sumL·cR, and
**               so on), folded into the answer in morsel order
**   4. finish   the answer's groups sorted by the by-columns (NULLS LAST)
**
** Integer sums are exact (128-bit); float sums are Neumaier-compensated.
** The hash plan above holds the right side's partial groups in memory,
** never the left side's; the answer's groups spill as sorted runs past half
** the memory limit and are merged.  It serves the total and GROUP BY columns
** too wide to pack whose distinct values are too many to rank (ranks.c).
** When the GROUP BY is one side's columns then the other's (the notebook's
** queries), merge.c's plan streams the answer instead and its size does not
** matter; the driver prefers it.
*/
#include "plan.h"
#include "../util/io.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- inputs */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The Parquet files a --left/--right argument names: a file, a directory
** (its *.parquet files), or a glob; sorted, so scans are reproducible. */
static int list_files(const char *arg, const char *what, char ***out, int *n, sj_error *err) {
  *out = NULL;
  *n = 0;
  struct stat st;
  glob_t g;
  memset(&g, 0, sizeof g);
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
    char pat[4096];
    snprintf(pat, sizeof pat, "%s/*.parquet", arg);
    if (glob(pat, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
      globfree(&g);
      return sj_fail(err, SJ_EUSAGE, "--%s %s: no .parquet files in this directory", what, arg);
    }
  } else if (stat(arg, &st) == 0) {
    if (glob(arg, GLOB_NOCHECK, NULL, &g) != 0) return sj_fail(err, SJ_ENOMEM, "out of memory");
  } else if (glob(arg, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
    globfree(&g);
    return sj_fail(err, SJ_EUSAGE, "--%s %s: no such file", what, arg);
  }
  char **list = calloc(g.gl_pathc, sizeof *list);
  if (!list) { globfree(&g); return sj_fail(err, SJ_ENOMEM, "out of memory"); }
  for (size_t i = 0; i < g.gl_pathc; i++) list[i] = strdup(g.gl_pathv[i]);
  qsort(list, g.gl_pathc, sizeof *list, cmp_str);
  *n = (int)g.gl_pathc;
  *out = list;
  globfree(&g);
  return 0;
}

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
static int open_files(plan *p, side *s, char *const *names, int n, sj_error *err) {
  s->files = calloc((size_t)n, sizeof *s->files);
  if (!s->files) return sj_fail(err, SJ_ENOMEM, "out of memory");
  s->nfiles = n;
  open_job job = {s, names};
  return sj_pool_run(p->pool, (size_t)n, open_one, &job, err);
}

/* Opens the files a --left/--right argument names. */
static int open_side(plan *p, side *s, const char *arg, sj_error *err) {
  char **names;
  int n;
  int rc = list_files(arg, s->what, &names, &n, err);
  if (!rc) rc = open_files(p, s, names, n, err);
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

/* Whether two columns' integers mean the same (a DECIMAL's scale, a time's unit). */
static int same_logical(const pq_logical *a, const pq_logical *b) {
  if (a->kind != b->kind) return 0;
  if (a->kind == PQ_LT_DECIMAL) return a->scale == b->scale;
  if (a->kind == PQ_LT_TIME || a->kind == PQ_LT_TIMESTAMP) return a->unit == b->unit && a->utc == b->utc;
  return 1;
}

/* A side's column `name` as its first file has it (find_col checked the others). */
static const pq_column_info *column_info(const side *s, const char *name) {
  return pq_col(s->files[0], pq_find_column(s->files[0], name));
}

/* What the integers of a side's column `name` stand for. */
static pq_logical column_lt(const side *s, const char *name) { return query_column_lt(column_info(s, name)); }

/* The column `name` of a side, checked to exist with one type in all files. */
static int find_col(const side *s, const char *name, pq_type *type, sj_error *err) {
  int c0 = pq_find_column(s->files[0], name);
  if (c0 < 0) return 0;
  *type = query_type(pq_col(s->files[0], c0));
  for (int f = 1; f < s->nfiles; f++) {
    int c = pq_find_column(s->files[f], name);
    if (c < 0) {
      sj_fail(err, SJ_EUSAGE, "%s: column '%s' is missing (the other %s files have it)",
              pq_path(s->files[f]), name, s->what);
      return -1;
    }
    if (query_type(pq_col(s->files[f], c)) != *type) {
      sj_fail(err, SJ_EUSAGE, "%s: column '%s' is %s, but %s in %s", pq_path(s->files[f]), name,
              pq_type_name(pq_col(s->files[f], c)->type), pq_type_name(pq_col(s->files[0], c0)->type),
              pq_path(s->files[0]));
      return -1;
    }
    pq_logical lt = query_column_lt(pq_col(s->files[f], c)), lt0 = query_column_lt(pq_col(s->files[0], c0));
    if (!same_logical(&lt, &lt0)) {
      sj_fail(err, SJ_EUSAGE, "%s: column '%s' is %s, but %s in %s", pq_path(s->files[f]), name,
              pq_col(s->files[f], c)->logical, pq_col(s->files[0], c0)->logical, pq_path(s->files[0]));
      return -1;
    }
  }
  return 1;
}

/* Resolves a column name to a side; 2 = the join key. */
static int resolve(plan *p, const char *name, int *which, pq_type *type, sj_error *err) {
  if (!strcmp(name, p->q->on)) {
    *which = 2;
    return 0;
  }
  pq_type tl, tr;
  int l = find_col(&p->s[0], name, &tl, err);
  int r = find_col(&p->s[1], name, &tr, err);
  if (l < 0 || r < 0) return SJ_EUSAGE;
  if (l && r)
    return sj_fail(err, SJ_EUSAGE, "column '%s' is in both tables (%s and %s); name only one, or the join key",
                   name, pq_path(p->s[0].files[0]), pq_path(p->s[1].files[0]));
  if (!l && !r)
    return sj_fail(err, SJ_EUSAGE, "unknown column '%s' (not in %s nor in %s)", name,
                   pq_path(p->s[0].files[0]), pq_path(p->s[1].files[0]));
  *which = l ? 0 : 1;
  *type = l ? tl : tr;
  return 0;
}

/* Whether a side's column may hold NULLs: OPTIONAL in some file, and a
** chunk that does not state zero nulls. */
static int may_be_null(const side *s, const char *name) {
  for (int f = 0; f < s->nfiles; f++) {
    int c = pq_find_column(s->files[f], name);
    if (c < 0 || !pq_col(s->files[f], c)->optional) continue;
    for (int rg = 0; rg < pq_nrowgroups(s->files[f]); rg++) {
      const pq_stats *st = &pq_chunk(s->files[f], rg, c)->stats;
      if (!st->has_null_count || st->null_count != 0) return 1;
    }
  }
  return 0;
}


/* Splits "a, b,c" into trimmed names. */
static int split_names(const char *list, char out[][64], int max, const char *what, sj_error *err) {
  int n = 0;
  const char *p = list ? list : "";
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    const char *e = p;
    int depth = 0;
    while (*e && (depth || *e != ',')) {
      depth += *e == '(';
      depth -= *e == ')';
      e++;
    }
    const char *t = e;
    while (t > p && t[-1] == ' ') t--;
    if (n == max) {
      sj_fail(err, SJ_EUSAGE, "%s: more than %d entries", what, max);
      return -1;
    }
    if (t - p >= 64) {
      sj_fail(err, SJ_EUSAGE, "%s: '%.*s' is too long", what, (int)(t - p), p);
      return -1;
    }
    memcpy(out[n], p, (size_t)(t - p));
    out[n][t - p] = 0;
    n++;
    p = e;
  }
  return n;
}

/* How well the by-list's sides suit the merge plan: 0 when it applies with
** the right side outer (one side's columns, or the right's then the
** left's), 1 when the left side would be the outer one (aggregated in a
** table), 2 when the sides interleave (the hash plan). */
static int shape_cost(const plan *p) {
  int switches = 0;
  for (int i = 1; i < p->nby; i++) switches += p->by_side[i] != p->by_side[i - 1];
  if (switches > 1) return 2;
  return switches == 1 && p->by_side[0] == 0;
}

/* The join key in --by (by_side 2) holds the same value on both sides of a
** joined row, so it becomes a column of the side that suits the plan best,
** the right side when both do: GROUP BY key, bucket becomes the right
** side's groupings of one key each over the left's runs by bucket, and
** the merge plan streams (and spills) it. */
static void key_sides(plan *p) {
  for (int i = 0; i < p->nby; i++) {
    if (p->by_side[i] != 2) continue;
    p->by_side[i] = 1;
    int right = shape_cost(p);
    p->by_side[i] = 0;
    if (shape_cost(p) >= right) p->by_side[i] = 1;
  }
}

static int plan_query(plan *p, sj_error *err) {
  const sj_query *q = p->q;
  pq_type kt[2];
  for (int s = 0; s < 2; s++) {
    int k = find_col(&p->s[s], q->on, &kt[s], err);
    if (k < 0) return SJ_EUSAGE;
    if (!k) return sj_fail(err, SJ_EUSAGE, "%s: no join key column '%s'", pq_path(p->s[s].files[0]), q->on);
    if (!pq_is_int(kt[s]) && kt[s] != PQ_BYTE_ARRAY)
      return sj_fail(err, SJ_EUSAGE, "%s: join key '%s' is %s; keys are INT32, INT64 or strings (BYTE_ARRAY)",
                     pq_path(p->s[s].files[0]), q->on, pq_type_name(kt[s]));
  }
  if (pq_is_int(kt[0]) != pq_is_int(kt[1]))
    return sj_fail(err, SJ_EUSAGE, "join key '%s' is %s in %s but %s in %s", q->on, pq_type_name(kt[0]),
                   pq_path(p->s[0].files[0]), pq_type_name(kt[1]), pq_path(p->s[1].files[0]));
  pq_logical klt[2] = {column_lt(&p->s[0], q->on), column_lt(&p->s[1], q->on)};
  if (!same_logical(&klt[0], &klt[1])) /* 1.50 and 150 would match, or 1 ms and 1 µs */
    return sj_fail(err, SJ_EUSAGE, "join key '%s' is %s in %s but %s in %s", q->on,
                   column_info(&p->s[0], q->on)->logical, pq_path(p->s[0].files[0]),
                   column_info(&p->s[1], q->on)->logical, pq_path(p->s[1].files[0]));
  int n = split_names(q->by, p->by, MAX_BY, "--by", err);
  if (n < 0) return SJ_EUSAGE;
  p->nby = n;
  for (int i = 0; i < n; i++) {
    pq_type t = PQ_INT64;
    int rc = resolve(p, p->by[i], &p->by_side[i], &t, err);
    if (rc) return rc;
    if (p->by_side[i] == 2) t = kt[0];
    if (!pq_is_int(t) && t != PQ_BYTE_ARRAY)
      return sj_fail(err, SJ_EUSAGE, "--by %s: column of type %s; GROUP BY takes INT32/INT64 and string "
                     "(BYTE_ARRAY) columns", p->by[i], pq_type_name(t));
    for (int j = 0; j < i; j++)
      if (!strcmp(p->by[i], p->by[j])) return sj_fail(err, SJ_EUSAGE, "--by names '%s' twice", p->by[i]);
  }
  key_sides(p);
  for (int i = 0; i < n; i++) {
    side *s = &p->s[p->by_side[i]];
    /* A NULL key matches nothing, so the answer's key is never NULL. */
    p->by_nullable[i] = strcmp(p->by[i], q->on) && may_be_null(s, p->by[i]);
    p->by_lt[i] = strcmp(p->by[i], q->on) ? column_lt(s, p->by[i]) : klt[0];
    memcpy(s->by[s->nby], p->by[i], sizeof s->by[0]); /* both 64 bytes, NUL-terminated */
    s->by_out[s->nby++] = i;
  }
  char aggs[MAX_AGGS][64];
  n = split_names(q->aggs, aggs, MAX_AGGS, "--agg", err);
  if (n < 0) return SJ_EUSAGE;
  if (n == 0) return sj_fail(err, SJ_EUSAGE, "--agg names no aggregate (e.g. 'count(*),sum(value)')");
  p->nagg = n;
  for (int i = 0; i < n; i++) {
    char *a = aggs[i], *open = strchr(a, '('), *close = strrchr(a, ')');
    if (!open || !close || close < open || close[1])
      return sj_fail(err, SJ_EUSAGE, "--agg: '%s' is not FUNC(column)", a);
    *open = 0;
    *close = 0;
    for (char *c = a; *c; c++) *c = (char)tolower((unsigned char)*c);
    char *col = open + 1;
    while (*col == ' ') col++;
    for (char *e = col + strlen(col); e > col && e[-1] == ' ';) *--e = 0;
    int fn = -1;
    if (!strcmp(a, "count")) fn = !strcmp(col, "*") ? F_COUNT_STAR : F_COUNT;
    else if (!strcmp(a, "sum")) fn = F_SUM;
    else if (!strcmp(a, "min")) fn = F_MIN;
    else if (!strcmp(a, "max")) fn = F_MAX;
    else if (!strcmp(a, "avg")) fn = F_AVG;
    if (fn < 0) return sj_fail(err, SJ_EUSAGE, "--agg: unknown function '%s' (count, sum, min, max, avg)", a);
    p->fn[i] = (agg_fn)fn;
    if (fn == F_COUNT_STAR) continue;
    snprintf(p->agg_col[i], sizeof p->agg_col[i], "%s", col);
    pq_type t = PQ_INT64;
    int which, rc = resolve(p, col, &which, &t, err);
    if (rc) return rc;
    if (which == 2) { which = 0; t = kt[0]; }
    if (fn != F_COUNT && !pq_is_num(t))
      return sj_fail(err, SJ_EUSAGE, "--agg %s(%s): column of type %s is not numeric", a, col, pq_type_name(t));
    side *s = &p->s[which];
    p->agg_lt[i] = column_lt(s, col);
    pq_logical_kind k = p->agg_lt[i].kind;
    if ((fn == F_SUM || fn == F_AVG) && (k == PQ_LT_DATE || k == PQ_LT_TIME || k == PQ_LT_TIMESTAMP))
      return sj_fail(err, SJ_EUSAGE, "--agg %s(%s): column of type %s; %s takes numbers (count, min and max take it)",
                     a, col, column_info(s, col)->logical, a);
    p->agg_nullable[i] = may_be_null(s, col);
    p->agg_side[i] = which;
    p->agg_state[i] = s->nstates;
    p->agg_float[i] = t == PQ_FLOAT || t == PQ_DOUBLE;
    s->state_agg[s->nstates] = i;
    s->state_is_float[s->nstates] = p->agg_float[i];
    snprintf(s->state_col[s->nstates], sizeof s->state_col[0], "%s", col);
    s->nstates++;
  }
  return 0;
}

/* ------------------------------------------------------------------ scan */


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

/* The dictionary a string column of a scan is read through: the join key's
** for names[0], a by-column's for the others; NULL (left as bytes: only
** counted) for a string column aggregated with count(c). */
static const key_dict *scan_dict(const plan *p, const char *const *names, int c) {
  if (c == 0) return p->keys;
  for (int i = 0; i < p->nby; i++)
    if (p->by_dict[i] && !strcmp(p->by[i], names[c])) return p->by_dict[i];
  return NULL;
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

/* ------------------------------------------------------------ hash scan */

typedef struct scan_job {
  plan *p;
  side *s;
  morsel *morsels;
  agg_table *tables; /* one per morsel */
} scan_job;

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

/* The direct path: when a morsel's key is one value (as in the generator's
** per-key files) and its by-columns have small ranges and no NULLs, each row
** goes to slot Σ (v − min)·stride of an array; no key is hashed.  Returns 1
** when it applied, 0 to use the hash path, or an SJ_ error code < 0. */
enum { DIRECT_MAX_SLOTS = 1 << 20 };

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

static int scan_morsel(void *ctx, size_t m, int worker, sj_error *err) {
  scan_job *j = ctx;
  side *s = j->s;
  pq_reader *r = s->files[j->morsels[m].file];
  int rg = j->morsels[m].rg;
  agg_table *t = &j->tables[m];
  int need = 1 + s->nby + s->nstates;
  numcol cols[1 + MAX_BY + MAX_AGGS];
  const char *names[1 + MAX_BY + MAX_AGGS];
  names[0] = j->p->q->on;
  for (int i = 0; i < s->nby; i++) names[1 + i] = s->by[i];
  for (int i = 0; i < s->nstates; i++) names[1 + s->nby + i] = s->state_col[i];
  if (agg_table_init(t, 1 + s->nby, s->nstates)) return sj_fail(err, SJ_ENOMEM, "out of memory");
  int rc = read_scan_columns(j->p, r, rg, names, need, cols, err);
  if (rc) return rc;
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
  return rc;
}

/* Aggregates one side by (key, its by-columns) into s->partial. */
int scan_side(plan *p, side *s, sj_error *err) {
  scan_job j = {p, s, NULL, NULL};
  size_t nmorsels;
  int rc = list_morsels(s, &j.morsels, &nmorsels, err);
  if (rc) return rc;
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

/* ------------------------------------------------------------------ join */

static int cmp_by_key(const void *a, const void *b, void *ctx) {
  const agg_table *t = ctx;
  const uint64_t *ra = agg_table_row(t, *(const uint32_t *)a);
  const uint64_t *rb = agg_table_row(t, *(const uint32_t *)b);
  int64_t ka = agg_row_keys(ra)[0], kb = agg_row_keys(rb)[0];
  if (ka != kb) return ka < kb ? -1 : 1;
  uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b; /* stable: insertion order */
  return ia < ib ? -1 : ia > ib;
}

/* Row indexes of a table sorted by its first key column (the join key). */
static uint32_t *sorted_by_join_key(const agg_table *t) {
  uint32_t *ix = malloc((t->nrows ? t->nrows : 1) * sizeof *ix);
  if (!ix) return NULL;
  for (size_t i = 0; i < t->nrows; i++) ix[i] = (uint32_t)i;
  qsort_r(ix, t->nrows, sizeof *ix, cmp_by_key, (void *)t);
  return ix;
}

/* A morsel's part of the hash plan's answer past part_groups: parts are
** folded into the answer in morsel order, so each must fit whole. */
static int over_limit(const plan *p, uint64_t part_groups, sj_error *err) {
  return sj_fail(err, SJ_ENOMEM,
                 "one row group's part of the answer has more than %llu groups, more than the memory limit "
                 "allows for the hash plan, "
                 "which this query needs because the ranges of the %s side's GROUP BY columns need more than 62 "
                 "bits together and their distinct values are too many to number under the memory limit (the "
                 "merge plan, which streams and spills, packs them into one code)",
                 (unsigned long long)part_groups, p->by_side[0] == 0 && p->s[1].nby ? "right" : "left");
}

/* Adds the product of partial groups lr (of lt, the left side's table) and
** rr (of rt, the right side's) to its group in `answer`: count = cL·cR, a
** left aggregate's state repeated cR times, a right one's cL times. */
static int join_pair(const plan *p, agg_table *answer, uint64_t part_groups, const agg_table *lt, uint64_t *lr,
                     const agg_table *rt, uint64_t *rr, sj_error *err) {
  int64_t keys[MAX_BY];
  uint32_t nulls = 0;
  for (int i = 0; i < p->nby; i++) {
    int sd = p->by_side[i];
    const side *s = &p->s[sd];
    const uint64_t *row = sd == 0 ? lr : rr;
    const agg_table *t = sd == 0 ? lt : rt;
    int pos = 0;
    while (s->by_out[pos] != i) pos++;
    keys[i] = agg_row_keys(row)[1 + pos];
    if (agg_row_nulls(t, row) >> pos & 1) { keys[i] = 0; nulls |= 1u << i; }
  }
  uint64_t *g = agg_table_upsert(answer, keys, nulls);
  if (!g || answer->nrows > part_groups) return over_limit(p, part_groups, err);
  int64_t cl = *agg_row_count(lt, lr), cr = *agg_row_count(rt, rr);
  *agg_row_count(answer, g) += cl * cr;
  agg_state *st = agg_row_states(answer, g);
  for (int i = 0; i < p->nagg; i++) {
    if (p->fn[i] == F_COUNT_STAR) continue;
    int sd = p->agg_side[i];
    agg_state *src = agg_row_states(sd == 0 ? lt : rt, sd == 0 ? lr : rr) + p->agg_state[i];
    state_merge(&st[i], src, p->fn[i], p->agg_float[i], sd == 0 ? cr : cl);
  }
  return 0;
}

/* The right side's partial groups by key, for probing: open addressing
** from a key to the first of its rows in ri (the rows sorted by key). */
typedef struct key_index {
  struct { int64_t key; uint64_t at; } *slot; /* at = 1 + position in ri; 0 = empty */
  size_t mask;
} key_index;

static size_t key_slot(int64_t key, size_t mask) {
  return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15u) >> 17) & mask; /* Fibonacci hashing */
}

static int key_index_build(key_index *x, const agg_table *t, const uint32_t *ri) {
  size_t n = 16;
  while (n < 2 * t->nrows) n *= 2;
  x->mask = n - 1;
  if (!(x->slot = calloc(n, sizeof *x->slot))) return -1;
  for (size_t i = 0; i < t->nrows; i++) {
    int64_t key = agg_row_keys(agg_table_row(t, ri[i]))[0];
    if (i && agg_row_keys(agg_table_row(t, ri[i - 1]))[0] == key) continue;
    size_t h = key_slot(key, x->mask);
    while (x->slot[h].at) h = (h + 1) & x->mask;
    x->slot[h].key = key;
    x->slot[h].at = i + 1;
  }
  return 0;
}

/* The position in ri of key's first row; SIZE_MAX when the key is absent. */
static size_t key_index_find(const key_index *x, int64_t key) {
  for (size_t h = key_slot(key, x->mask);; h = (h + 1) & x->mask) {
    if (!x->slot[h].at) return SIZE_MAX;
    if (x->slot[h].key == key) return (size_t)x->slot[h].at - 1;
  }
}

/* --------------------------------------------------------- answer runs */

/* The order of the answer: by-columns ascending, NULLS LAST. */
static int cmp_rows(const agg_table *t, const uint64_t *ra, const uint64_t *rb) {
  uint32_t na = agg_row_nulls(t, ra), nb = agg_row_nulls(t, rb);
  for (int i = 0; i < t->nkeys; i++) {
    int xa = na >> i & 1, xb = nb >> i & 1;
    if (xa != xb) return xa ? 1 : -1;
    if (xa) continue;
    int64_t ka = agg_row_keys(ra)[i], kb = agg_row_keys(rb)[i];
    if (ka != kb) return ka < kb ? -1 : 1;
  }
  return 0;
}

static int cmp_groups(const void *a, const void *b, void *ctx) {
  const agg_table *t = ctx;
  return cmp_rows(t, agg_table_row(t, *(const uint32_t *)a), agg_table_row(t, *(const uint32_t *)b));
}

/* Row indexes of the answer's groups in the answer's order. */
static uint32_t *sorted_groups(agg_table *answer) {
  uint32_t *ix = malloc((answer->nrows ? answer->nrows : 1) * sizeof *ix);
  if (!ix) return NULL;
  for (size_t i = 0; i < answer->nrows; i++) ix[i] = (uint32_t)i;
  qsort_r(ix, answer->nrows, sizeof *ix, cmp_groups, answer);
  return ix;
}

/* When the hash plan's answer groups pass the memory limit, they are
** written, sorted, to a temporary file as a run, and the table starts
** again empty.  The answer is then the merge of the runs, equal groups
** folded in run order: runs are cut after whole morsels, in morsel order,
** so the answer is the same on any thread count. */
typedef struct answer_runs {
  int fd;           /* -1 until the first run */
  uint64_t bytes;   /* written */
  size_t n, cap;
  struct answer_run { uint64_t off, rows; } *run;
} answer_runs;

#define ANSWER_SPILL "the hash plan's spill" /* "... file" in messages */

static int spill_answer(const plan *p, agg_table *answer, answer_runs *runs, sj_error *err) {
  if (runs->fd < 0 && plan_temp_file(p->q->temp_dir, ANSWER_SPILL, &runs->fd, err)) return SJ_EIO;
  if (runs->n == runs->cap) {
    size_t cap = runs->cap ? 2 * runs->cap : 64;
    struct answer_run *r = realloc(runs->run, cap * sizeof *r);
    if (!r) return sj_fail(err, SJ_ENOMEM, "out of memory");
    runs->run = r;
    runs->cap = cap;
  }
  uint32_t *ix = sorted_groups(answer);
  size_t rw = answer->row_words, batch = 4096;
  uint64_t *buf = malloc(batch * rw * 8);
  int rc = ix && buf ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory");
  runs->run[runs->n] = (struct answer_run){runs->bytes, answer->nrows};
  for (size_t at = 0; at < answer->nrows && !rc; at += batch) {
    size_t k = answer->nrows - at < batch ? answer->nrows - at : batch;
    for (size_t i = 0; i < k; i++) memcpy(buf + i * rw, agg_table_row(answer, ix[at + i]), rw * 8);
    rc = plan_pwrite(runs->fd, buf, k * rw * 8, runs->bytes, ANSWER_SPILL, err);
    runs->bytes += k * rw * 8;
  }
  free(buf);
  free(ix);
  if (rc) return rc;
  runs->n++;
  int nkeys = answer->nkeys, nstates = answer->nstates;
  agg_table_free(answer);
  return agg_table_init(answer, nkeys, nstates) ? sj_fail(err, SJ_ENOMEM, "out of memory") : 0;
}

/* The left side streamed: a window of morsels at a time, each aggregated by
** (key, its by-columns) and joined with the right side's partial groups
** into answer groups of its own, which are then folded into the answer in
** morsel order (the same answer, bit for bit, on any thread count).  The
** left side's partial groups are never held whole: memory is the right
** side's, the answer's, and the window's. */
typedef struct stream_job {
  scan_job scan;           /* the window's morsels and their partial tables */
  const agg_table *right;  /* the right side's partial groups */
  const uint32_t *ri;      /* their rows sorted by key */
  const key_index *index;  /* a key's first row in ri */
  agg_table *answers;      /* per morsel of the window */
  uint64_t *pairs, *groups, part_groups;
} stream_job;

static int stream_morsel(void *ctx, size_t i, int worker, sj_error *err) {
  stream_job *j = ctx;
  const plan *p = j->scan.p;
  const agg_table *rt = j->right;
  agg_table *lt = &j->scan.tables[i];
  int rc = scan_morsel(&j->scan, i, worker, err);
  if (!rc && agg_table_init(&j->answers[i], p->nby, p->nagg)) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  j->pairs[i] = 0;
  j->groups[i] = lt->nrows;
  enum { AHEAD = 16 }; /* many distinct keys probe a large index: fetch ahead */
  for (size_t x = 0; x < lt->nrows && !rc; x++) {
    if (x + AHEAD < lt->nrows)
      __builtin_prefetch(&j->index->slot[key_slot(agg_row_keys(agg_table_row(lt, x + AHEAD))[0], j->index->mask)]);
    uint64_t *lr = agg_table_row(lt, x);
    int64_t key = agg_row_keys(lr)[0];
    for (size_t at = key_index_find(j->index, key); at < rt->nrows && !rc; at++) {
      uint64_t *rr = agg_table_row(rt, j->ri[at]);
      if (agg_row_keys(rr)[0] != key) break;
      rc = join_pair(p, &j->answers[i], j->part_groups, lt, lr, rt, rr, err);
      j->pairs[i]++;
    }
  }
  agg_table_free(lt);
  return rc;
}

/* Folds answer group src into dst, a row of the same layout t. */
static void fold_group(const plan *p, const agg_table *t, uint64_t *dst, uint64_t *src) {
  *agg_row_count(t, dst) += *agg_row_count(t, src);
  agg_state *a = agg_row_states(t, dst), *b = agg_row_states(t, src);
  for (int k = 0; k < p->nagg; k++)
    if (p->fn[k] != F_COUNT_STAR) state_merge(&a[k], &b[k], p->fn[k], p->agg_float[k], 1);
}

/* Folds a morsel's answer groups into the answer. */
static int fold_answer(const plan *p, agg_table *answer, const agg_table *part, sj_error *err) {
  for (size_t i = 0; i < part->nrows; i++) {
    uint64_t *src = agg_table_row(part, i);
    uint64_t *dst = agg_table_upsert(answer, agg_row_keys(src), agg_row_nulls(part, src));
    if (!dst) return sj_fail(err, SJ_ENOMEM, "out of memory for the hash plan's answer groups");
    fold_group(p, answer, dst, src);
  }
  return 0;
}

/* The answer's groups end in `answer`, or in runs when they passed
** limit_groups (each morsel's own must fit in part_groups). */
static int stream_left(plan *p, agg_table *answer, answer_runs *runs, uint64_t limit_groups, uint64_t part_groups,
                       uint64_t *pairs, uint64_t *groups, sj_error *err) {
  side *L = &p->s[0];
  const agg_table *rt = &p->s[1].partial;
  *pairs = *groups = 0;
  if (agg_table_init(answer, p->nby, p->nagg)) return sj_fail(err, SJ_ENOMEM, "out of memory");
  size_t nmorsels, window = 4 * (size_t)p->threads;
  morsel *morsels = NULL;
  int rc = list_morsels(L, &morsels, &nmorsels, err);
  uint32_t *ri = rc ? NULL : sorted_by_join_key(rt);
  key_index index = {NULL, 0};
  stream_job j = {{p, L, NULL, calloc(window, sizeof(agg_table))}, rt, ri, &index, calloc(window, sizeof(agg_table)),
                  calloc(window, sizeof(uint64_t)), calloc(window, sizeof(uint64_t)), part_groups};
  if (!rc && (!ri || key_index_build(&index, rt, ri) || !j.scan.tables || !j.answers || !j.pairs || !j.groups))
    rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  for (size_t first = 0; first < nmorsels && !rc; first += window) {
    size_t n = nmorsels - first < window ? nmorsels - first : window;
    j.scan.morsels = morsels + first;
    rc = sj_pool_run(p->pool, n, stream_morsel, &j, err);
    for (size_t i = 0; i < n; i++) {
      if (!rc) rc = fold_answer(p, answer, &j.answers[i], err);
      if (!rc && answer->nrows > limit_groups) rc = spill_answer(p, answer, runs, err);
      *pairs += j.pairs[i];
      *groups += j.groups[i];
      agg_table_free(&j.answers[i]);
      agg_table_free(&j.scan.tables[i]);
    }
  }
  free(j.scan.tables);
  free(j.answers);
  free(j.pairs);
  free(j.groups);
  free(index.slot);
  free(ri);
  free(morsels);
  return rc;
}

/* ---------------------------------------------------------------- finish */

enum { HASH_CHUNK_ROWS = 1 << 18 };

/* The answer's rows, in order, into chunks of HASH_CHUNK_ROWS encoded and
** written as they fill. */
typedef struct answer_writer {
  plan *p;
  const agg_table *layout;
  out_sink *sink;
  out_chunk c;
  pq_scratch *scratch;
  uint64_t rows;
} answer_writer;

static int flush_rows(answer_writer *w, sj_error *err) {
  out_blob b;
  int rc = out_encode(w->sink, &w->c, w->scratch, &b, err);
  if (!rc) rc = out_write(w->sink, &b, err);
  w->c.rows = 0;
  return rc;
}

static int put_row(answer_writer *w, uint64_t *row, sj_error *err) {
  chunk_put(w->p, &w->c, agg_row_keys(row), agg_row_nulls(w->layout, row), *agg_row_count(w->layout, row),
            agg_row_states(w->layout, row));
  w->rows++;
  return w->c.rows == HASH_CHUNK_ROWS ? flush_rows(w, err) : 0;
}

/* The runs merged: a heap of them by their next row (ties by run, so
** equal groups fold in run order), each read `block` rows at a time. */
enum { HASH_RUN_ROWS = 1024 };

typedef struct run_reader {
  const struct answer_run *run;
  uint64_t read, at, have, block; /* rows read from the run; the buffer's next row, its rows and room */
  uint64_t *buf;
} run_reader;

static int run_fill(const answer_runs *runs, run_reader *r, size_t rw, sj_error *err) {
  uint64_t k = r->run->rows - r->read < r->block ? r->run->rows - r->read : r->block;
  r->at = 0;
  r->have = k;
  int rc = plan_pread(runs->fd, r->buf, (size_t)(k * rw * 8), r->run->off + r->read * rw * 8, ANSWER_SPILL, err);
  r->read += k;
  return rc;
}

static int run_less(const agg_table *t, size_t rw, const run_reader *rd, size_t a, size_t b) {
  int c = cmp_rows(t, rd[a].buf + rd[a].at * rw, rd[b].buf + rd[b].at * rw);
  return c < 0 || (c == 0 && a < b);
}

static void heap_down(const agg_table *t, size_t rw, const run_reader *rd, size_t *heap, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    if (l < n && run_less(t, rw, rd, heap[l], heap[m])) m = l;
    if (l + 1 < n && run_less(t, rw, rd, heap[l + 1], heap[m])) m = l + 1;
    if (m == i) return;
    size_t x = heap[i];
    heap[i] = heap[m];
    heap[m] = x;
    i = m;
  }
}

static int merge_runs_out(const answer_runs *runs, answer_writer *w, sj_error *err) {
  const agg_table *t = w->layout;
  size_t rw = t->row_words, n = 0;
  /* the buffers share half the memory limit: up to HASH_RUN_ROWS rows a run, at least one */
  uint64_t block = w->p->memory_limit / 2 / (runs->n * rw * 8);
  block = block < 1 ? 1 : block > HASH_RUN_ROWS ? HASH_RUN_ROWS : block;
  run_reader *rd = calloc(runs->n, sizeof *rd);
  size_t *heap = malloc(runs->n * sizeof *heap);
  uint64_t *acc = malloc(rw * 8);
  int rc = rd && heap && acc ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory merging the hash plan's runs");
  for (size_t i = 0; i < runs->n && !rc; i++) {
    rd[i].run = &runs->run[i];
    rd[i].block = block;
    if (!(rd[i].buf = malloc(block * rw * 8))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    if (!rc) rc = run_fill(runs, &rd[i], rw, err);
    if (!rc && rd[i].have) heap[n++] = i;
  }
  for (size_t i = n; i-- > 0 && !rc;) heap_down(t, rw, rd, heap, n, i);
  int have_acc = 0;
  while (n && !rc) {
    run_reader *r = &rd[heap[0]];
    uint64_t *row = r->buf + r->at * rw;
    if (have_acc && cmp_rows(t, acc, row) == 0) {
      fold_group(w->p, t, acc, row);
    } else {
      if (have_acc) rc = put_row(w, acc, err);
      memcpy(acc, row, rw * 8);
      have_acc = 1;
    }
    if (++r->at == r->have && r->read < r->run->rows && !rc) rc = run_fill(runs, r, rw, err);
    if (r->at == r->have) heap[0] = heap[--n];
    heap_down(t, rw, rd, heap, n, 0);
  }
  if (have_acc && !rc) rc = put_row(w, acc, err);
  for (size_t i = 0; rd && i < runs->n; i++) free(rd[i].buf);
  free(rd);
  free(heap);
  free(acc);
  return rc;
}

/* Writes the answer's groups, sorted, in chunks: from the table, or the
** table spilled as the last run and all runs merged. */
static int write_answer(plan *p, agg_table *answer, answer_runs *runs, const out_schema *schema, out_sink *sink,
                        uint64_t *rows_out, sj_error *err) {
  /* No GROUP BY: one row even when nothing joined, as SQL has it. */
  if (p->nby == 0 && answer->nrows == 0 && runs->n == 0) {
    int64_t none = 0;
    if (!agg_table_upsert(answer, &none, 0)) return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  answer_writer w = {p, answer, sink, {0}, pq_scratch_new(), 0};
  chunk_init(&w.c, schema);
  int rc = w.scratch && !chunk_reserve(&w.c, HASH_CHUNK_ROWS) ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory");
  if (!rc && runs->n) {
    if (answer->nrows) rc = spill_answer(p, answer, runs, err);
    if (!rc) rc = merge_runs_out(runs, &w, err);
  } else if (!rc) {
    uint32_t *ix = sorted_groups(answer);
    if (!ix) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    for (size_t i = 0; ix && i < answer->nrows && !rc; i++) rc = put_row(&w, agg_table_row(answer, ix[i]), err);
    free(ix);
  }
  if (!rc && w.c.rows) rc = flush_rows(&w, err);
  *rows_out = w.rows;
  chunk_free(&w.c);
  pq_scratch_free(w.scratch);
  return rc;
}

void side_grouping(const plan *p, const side *s, char *buf, size_t n) {
  size_t at = (size_t)snprintf(buf, n, "%s", p->q->on);
  for (int i = 0; i < s->nby && at < n; i++) at += (size_t)snprintf(buf + at, n - at, ", %s", s->by[i]);
}

double seconds_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* The hash plan: the right side's partial groups in a table, the left side
** streamed against them into a table of the answer's groups (spilled as
** sorted runs past half the memory limit), sorted or merged, written. */
static int hash_run(plan *p, out_sink *sink, const out_schema *schema, plan_report *rep, sj_error *err) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  agg_table answer;
  memset(&answer, 0, sizeof answer);
  answer_runs runs = {-1, 0, 0, 0, NULL};
  uint64_t pairs = 0, left_groups = 0;
  double t_right = 0, t_left = 0;
  int rc = scan_side(p, &p->s[1], err);
  if (!rc) {
    t_right = seconds_since(&t0);
    size_t group_bytes = (((size_t)p->nby + 4) & ~(size_t)1) * 8 + 32 * (size_t)p->nagg + 8;
    /* half the limit for the answer's table, the rest for the window's own (at least 2^16 groups each) */
    uint64_t limit_groups = p->memory_limit / 2 / group_bytes, window = 4 * (uint64_t)p->threads;
    uint64_t part_groups = limit_groups / window > 1 << 16 ? limit_groups / window : 1 << 16;
    rc = stream_left(p, &answer, &runs, limit_groups, part_groups, &pairs, &left_groups, err);
    t_left = seconds_since(&t0) - t_right;
  }
  if (!rc) rc = write_answer(p, &answer, &runs, schema, sink, &rep->rows_out, err);
  if (!rc) {
    side *L = &p->s[0], *R = &p->s[1];
    char lg[1200], rg[1200], spilled[160] = "";
    if (runs.n)
      snprintf(spilled, sizeof spilled, "; spilled past the memory limit as %zu sorted run%s (%.1f MB), merged",
               runs.n, runs.n == 1 ? "" : "s", (double)runs.bytes / 1e6);
    side_grouping(p, L, lg, sizeof lg);
    side_grouping(p, R, rg, sizeof rg);
    snprintf(rep->text, sizeof rep->text,
             "plan: hash (GROUP BY pushed below the join on both sides; the answer's groups in a table)\n"
             "  right  %d files, %llu rows scanned -> %zu partial groups by (%s), held\n"
             "  left   %d files, %llu rows scanned -> %llu partial groups by (%s), row group by row group, "
             "streamed against them\n"
             "  join   %llu pairs of partial groups on %s -> %llu answer groups%s\n"
             "  time   right %.3f s, left and join %.3f s, total %.3f s on %d threads\n",
             R->nfiles, (unsigned long long)R->rows_scanned, R->partial.nrows, rg, L->nfiles,
             (unsigned long long)L->rows_scanned, (unsigned long long)left_groups, lg, (unsigned long long)pairs,
             p->q->on, (unsigned long long)rep->rows_out, spilled, t_right, t_left, seconds_since(&t0), p->threads);
  }
  if (runs.fd >= 0) close(runs.fd);
  free(runs.run);
  agg_table_free(&answer);
  return rc;
}

int plan_temp_file(const char *dir, const char *what, int *fd, sj_error *err) {
  if (!dir) dir = getenv("TMPDIR");
  if (!dir || !*dir) dir = "/tmp";
  char path[4096];
  snprintf(path, sizeof path, "%s/skewjoin-runs-XXXXXX", dir);
  *fd = mkstemp(path);
  if (*fd < 0) return sj_fail(err, SJ_EIO, "%s: cannot create %s file: %s", path, what, strerror(errno));
  unlink(path);
  return 0;
}

int plan_pwrite(int fd, const void *data, size_t len, uint64_t off, const char *what, sj_error *err) {
  for (size_t done = 0; done < len;) {
    ssize_t put = pwrite(fd, (const char *)data + done, len - done, (off_t)(off + done));
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return sj_fail(err, SJ_EIO, "writing %s file failed: %s", what, strerror(put < 0 ? errno : EIO));
    done += (size_t)put;
  }
  return 0;
}

int plan_pread(int fd, void *data, size_t len, uint64_t off, const char *what, sj_error *err) {
  int rc = sj_pread_all(fd, data, len, off);
  if (rc) return sj_fail(err, SJ_EIO, "reading %s file failed: %s", what, rc < 0 ? strerror(errno) : "short file");
  return 0;
}

/* A by-list that interleaves the sides (group1, df2_group, bucket) is run
** as the same columns with the right side's first (df2_group, group1,
** bucket), which the merge plan streams, and its answer re-sorted (sort.c).
** Reorders p's by-list so, each side's columns kept in their order, and
** sets user_pos[i] to the user's position of column i (aggregates keep
** theirs); 0 when the list does not interleave.  Before plan_strings. */
static int plan_right_first(plan *p, int *user_pos) {
  if (shape_cost(p) < 2) return 0;
  char by[MAX_BY][64];
  int by_side[MAX_BY], by_nullable[MAX_BY], new_pos[MAX_BY], n = 0;
  for (int pass = 1; pass >= 0; pass--)
    for (int i = 0; i < p->nby; i++) {
      if (p->by_side[i] != pass) continue;
      assert(!p->by_dict[i]);
      memcpy(by[n], p->by[i], sizeof by[n]);
      by_side[n] = p->by_side[i];
      by_nullable[n] = p->by_nullable[i];
      user_pos[n] = i;
      new_pos[i] = n++;
    }
  assert(n == p->nby);
  memcpy(p->by, by, sizeof by);
  memcpy(p->by_side, by_side, sizeof by_side);
  memcpy(p->by_nullable, by_nullable, sizeof by_nullable);
  for (int sd = 0; sd < 2; sd++)
    for (int j = 0; j < p->s[sd].nby; j++) p->s[sd].by_out[j] = new_pos[p->s[sd].by_out[j]];
  for (int a = 0; a < p->nagg; a++) user_pos[p->nby + a] = p->nby + a;
  return 1;
}

int plan_by_is_string(const plan *p, int i) {
  const pq_reader *r = p->s[p->by_side[i]].files[0];
  return pq_col(r, pq_find_column(r, p->by[i]))->type == PQ_BYTE_ARRAY;
}

int plan_strings(plan *p, sj_error *err) {
  int rc = 0;
  for (int i = 0; i < p->nby && !rc; i++) {
    if (!plan_by_is_string(p, i)) continue;
    if (!strcmp(p->by[i], p->q->on)) p->by_dict[i] = p->keys;
    else rc = key_dict_build(p, &p->s[p->by_side[i]], p->by[i], &p->by_dict[i], err);
  }
  return rc;
}

int plan_open(plan *p, const sj_query *q, char *const *left_files, int nleft, sj_error *err) {
  memset(p, 0, sizeof *p);
  p->q = q;
  p->s[0].what = "left";
  p->s[1].what = "right";
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  p->threads = q->threads > 0 ? q->threads : (int)(cores > 0 ? cores : 1);
  int rc = sj_pool_new(&p->pool, p->threads, q->stop, err);
  if (rc) return rc;
  p->memory_limit = q->memory_limit;
  if (!p->memory_limit) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    p->memory_limit = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 2 : (uint64_t)4 << 30;
  }
  rc = !q->on || !*q->on ? sj_fail(err, SJ_EUSAGE, "--on names no join key") : 0;
  if (!rc && left_files) {
    if (nleft <= 0) return sj_fail(err, SJ_EUSAGE, "no left files");
    rc = open_files(p, &p->s[0], left_files, nleft, err);
  } else if (!rc) {
    rc = open_side(p, &p->s[0], q->left, err);
  }
  if (!rc) rc = open_side(p, &p->s[1], q->right, err);
  if (!rc) rc = plan_query(p, err);
  /* String join keys: ids from the right side's keys (the small side). */
  const pq_reader *r = rc ? NULL : p->s[1].files[0];
  if (r && pq_col(r, pq_find_column(r, q->on))->type == PQ_BYTE_ARRAY)
    rc = key_dict_build(p, &p->s[1], q->on, &p->keys, err);
  return rc;
}

void plan_close(plan *p) {
  for (int i = 0; i < p->nby; i++) {
    if (p->by_dict[i] != p->keys) key_dict_free(p->by_dict[i]);
    rank_dict_free(p->by_rank[i]);
  }
  key_dict_free(p->keys);
  for (int s = 0; s < 2; s++) {
    agg_table_free(&p->s[s].partial);
    for (int f = 0; f < p->s[s].nfiles; f++)
      if (p->s[s].files[f]) pq_close(p->s[s].files[f]);
    free(p->s[s].files);
  }
  sj_pool_free(p->pool);
  memset(p, 0, sizeof *p);
}

int sj_query_run(const sj_query *q, sj_query_report *report, sj_error *err) {
  memset(report, 0, sizeof *report);
  plan *p = calloc(1, sizeof *p);
  if (!p) return sj_fail(err, SJ_ENOMEM, "out of memory");
  int user_pos[MAX_BY + MAX_AGGS];
  int rc = plan_open(p, q, NULL, 0, err), resort = !rc && !q->materialize && plan_right_first(p, user_pos);
  if (!rc) rc = plan_strings(p, err);
  if (!rc && !q->materialize) rc = merge_domains(p, 1, err);
  out_schema *schema = calloc(2, sizeof *schema), *final = schema ? schema + 1 : NULL;
  plan_report *rep = calloc(1, sizeof *rep);
  out_sink *sink = NULL, *sorting = NULL;
  char sorted[1600] = "";
  if (!rc && (!schema || !rep)) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  if (!rc && q->materialize) {
    rc = materialize_run(p, q->materialize, rep, err);
  } else if (!rc) {
    plan_schema(p, schema);
    *final = *schema;
    if (resort) /* the user's column order */
      for (int c = 0; c < schema->ncols; c++) {
        int j = user_pos[c];
        memcpy(final->names[j], schema->names[c], sizeof final->names[j]);
        final->kinds[j] = schema->kinds[c];
        final->nullable[j] = schema->nullable[c];
        final->lt[j] = schema->lt[c];
        if (c < p->nby) final->dict[j] = schema->dict[c];
      }
    rc = out_open(&sink, q->out, q->csv ? q->csv : stdout, final, err);
    if (!rc && resort) { /* a quarter of the memory limit for sorting, the rest for the plan */
      sort_budget b = {p->memory_limit / 4, q->temp_dir, p->pool, q->progress, q->progress_ctx};
      p->memory_limit -= b.bytes;
      rc = out_open_sorted(&sorting, sink, schema, final, user_pos, p->nby, &b, err);
    }
    out_sink *to = sorting ? sorting : sink;
    if (!rc) rc = merge_applies(p) ? merge_run(p, to, schema, rep, err) : hash_run(p, to, schema, rep, err);
    if (sorting) {
      if (rc) out_abort(sorting);
      else rc = out_close_sorted(sorting, sorted, sizeof sorted, err);
    }
    if (sink) {
      if (rc) out_abort(sink);
      else rc = out_close(sink, err);
    }
  }
  if (!rc) {
    report->rows = rep->rows_out;
    snprintf(report->plan, sizeof report->plan, "%s", rep->text);
    size_t used = strlen(report->plan), more = strlen(sorted); /* the sort's line, when it fits */
    if (used + more < sizeof report->plan) memcpy(report->plan + used, sorted, more + 1);
  }
  free(schema);
  free(rep);
  plan_close(p);
  free(p);
  return rc;
}
