/*
** query.c — the join and its GROUP BY by eager aggregation.
**
** SUM and COUNT distribute over the join, so the joined rows are never
** built (Yan & Larson, VLDB 1995):
**
**   1. plan     split the GROUP BY columns and the aggregates between the
**               two sides; check names and types (exit 2 before any work)
**   2. scan     each side is aggregated by (key, its by-columns): morsels
**               (file, row group) are pulled by threads, each into a table
**               of its own; tables are then merged in morsel order, so the
**               result does not depend on the thread count
**   3. join     both partials sorted by key; every pair of partial groups
**               with the same key adds its product to the answer's group:
**               count = cL·cR, sum over the left = sumL·cR, and so on
**   4. finish   the answer's groups sorted by the by-columns (NULLS LAST)
**
** Integer sums are exact (128-bit); float sums are Neumaier-compensated.
** This plan holds the answer's groups in memory, bounded by the memory
** limit: answers as large as the join (the notebook's QN) need the
** streaming merge plan, which is not built yet and is refused with a
** message saying so.
*/
#include "agg.h"

#include <ctype.h>
#include <dirent.h>
#include <glob.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { MAX_BY = 16, MAX_AGGS = 16 };
typedef enum { F_COUNT_STAR, F_COUNT, F_SUM, F_MIN, F_MAX, F_AVG } agg_fn;
static const char *fn_names[] = {"count", "count", "sum", "min", "max", "avg"};

/* A column of one side, as every file of that side has it. */
typedef struct colref {
  int side;      /* 0 left, 1 right */
  char name[64];
  pq_type type;
} colref;

typedef struct side {
  const char *what; /* "left" or "right" */
  pq_reader **files;
  int nfiles;
  int key;                  /* its column index in each file is looked up by name */
  int nby;                  /* by-columns held by this side (after the key) */
  char by[MAX_BY][64];
  int by_out[MAX_BY];       /* position in the answer's by-list */
  int nstates;
  int state_agg[MAX_AGGS];  /* which aggregate each state serves */
  char state_col[MAX_AGGS][64];
  int state_is_float[MAX_AGGS];
  agg_table partial;        /* (key, by…) → count, states */
  uint64_t rows_scanned;
} side;

typedef struct plan {
  const sj_query *q;
  side s[2];
  int nby;
  char by[MAX_BY][64];
  int by_side[MAX_BY]; /* 0/1, or 2 for the join key */
  int nagg;
  agg_fn fn[MAX_AGGS];
  char agg_col[MAX_AGGS][64];
  int agg_side[MAX_AGGS];
  int agg_state[MAX_AGGS]; /* index into its side's states */
  int agg_float[MAX_AGGS];
  int threads;
} plan;

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

static int open_side(side *s, const char *arg, sj_error *err) {
  char **names;
  int n;
  int rc = list_files(arg, s->what, &names, &n, err);
  if (rc) return rc;
  s->files = calloc((size_t)n, sizeof *s->files);
  if (!s->files) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  for (int i = 0; i < n && !rc; i++) {
    rc = pq_open(&s->files[i], names[i], err);
    if (!rc) s->nfiles = i + 1;
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

/* The column `name` of a side, checked to exist with one type in all files. */
static int find_col(const side *s, const char *name, pq_type *type, sj_error *err) {
  int c0 = pq_find_column(s->files[0], name);
  if (c0 < 0) return 0;
  *type = pq_col(s->files[0], c0)->type;
  for (int f = 1; f < s->nfiles; f++) {
    int c = pq_find_column(s->files[f], name);
    if (c < 0) {
      sj_fail(err, SJ_EUSAGE, "%s: column '%s' is missing (the other %s files have it)",
              pq_path(s->files[f]), name, s->what);
      return -1;
    }
    if (pq_col(s->files[f], c)->type != *type) {
      sj_fail(err, SJ_EUSAGE, "%s: column '%s' is %s, but %s in %s", pq_path(s->files[f]), name,
              pq_type_name(pq_col(s->files[f], c)->type), pq_type_name(*type), pq_path(s->files[0]));
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

static int is_int(pq_type t) { return t == PQ_INT32 || t == PQ_INT64; }
static int is_num(pq_type t) { return is_int(t) || t == PQ_FLOAT || t == PQ_DOUBLE; }

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

static int plan_query(plan *p, sj_error *err) {
  const sj_query *q = p->q;
  pq_type kt[2];
  for (int s = 0; s < 2; s++) {
    int k = find_col(&p->s[s], q->on, &kt[s], err);
    if (k < 0) return SJ_EUSAGE;
    if (!k) return sj_fail(err, SJ_EUSAGE, "%s: no join key column '%s'", pq_path(p->s[s].files[0]), q->on);
    if (!is_int(kt[s]))
      return sj_fail(err, SJ_EUSAGE, "%s: join key '%s' is %s; this version joins on INT32/INT64 keys",
                     pq_path(p->s[s].files[0]), q->on, pq_type_name(kt[s]));
  }
  int n = split_names(q->by, p->by, MAX_BY, "--by", err);
  if (n < 0) return SJ_EUSAGE;
  p->nby = n;
  for (int i = 0; i < n; i++) {
    pq_type t = PQ_INT64;
    int rc = resolve(p, p->by[i], &p->by_side[i], &t, err);
    if (rc) return rc;
    if (!is_int(t))
      return sj_fail(err, SJ_EUSAGE, "--by %s: column of type %s; this version groups by INT32/INT64 columns",
                     p->by[i], pq_type_name(t));
    for (int j = 0; j < i; j++)
      if (!strcmp(p->by[i], p->by[j])) return sj_fail(err, SJ_EUSAGE, "--by names '%s' twice", p->by[i]);
    if (p->by_side[i] < 2) {
      side *s = &p->s[p->by_side[i]];
      memcpy(s->by[s->nby], p->by[i], sizeof s->by[0]); /* both 64 bytes, NUL-terminated */
      s->by_out[s->nby++] = i;
    }
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
    if (fn != F_COUNT && !is_num(t))
      return sj_fail(err, SJ_EUSAGE, "--agg %s(%s): column of type %s is not numeric", a, col, pq_type_name(t));
    side *s = &p->s[which];
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

/* A column as int64 or double, whatever its physical integer/float type. */
typedef struct numcol {
  pq_column raw;
  int is_float;
} numcol;

static inline int64_t num_i(const numcol *c, uint64_t i) {
  if (c->raw.type == PQ_INT32) { int32_t v; memcpy(&v, c->raw.values + 4 * i, 4); return v; }
  int64_t v;
  memcpy(&v, c->raw.values + 8 * i, 8);
  return v;
}

static inline double num_f(const numcol *c, uint64_t i) {
  if (c->raw.type == PQ_FLOAT) { float v; memcpy(&v, c->raw.values + 4 * i, 4); return v; }
  if (c->raw.type == PQ_DOUBLE) { double v; memcpy(&v, c->raw.values + 8 * i, 8); return v; }
  return (double)num_i(c, i);
}

static inline int present(const numcol *c, uint64_t i) { return !c->raw.valid || c->raw.valid[i]; }

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

/* Folds state b, repeated `times` times, into a. */
static void state_merge(agg_state *a, const agg_state *b, agg_fn fn, int is_float, int64_t times) {
  if (b->n == 0 || times == 0) return;
  int first = a->n == 0;
  a->n += b->n * times;
  switch (fn) {
    case F_SUM:
    case F_AVG:
      if (is_float) {
        agg_fadd(a, b->v.f.s * (double)times);
        agg_fadd(a, b->v.f.c * (double)times);
      } else {
        a->v.isum += b->v.isum * times;
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
}

typedef struct scan_job {
  plan *p;
  side *s;
  int (*morsels)[2];
  size_t nmorsels;
  agg_table *tables; /* one per morsel */
  atomic_size_t next;
  atomic_int failed;
  sj_error err;
  pthread_mutex_t mu;
} scan_job;

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
    if ((fn == F_SUM || fn == F_AVG) && c->raw.type == PQ_DOUBLE && !c->raw.valid && !nby) {
      /* One group: four compensated lanes in registers, folded in a fixed
      ** order (a single chain would wait on every addition). */
      const double *v = (const double *)c->raw.values;
      double sum[4] = {0, 0, 0, 0}, comp[4] = {0, 0, 0, 0};
      uint64_t i = 0;
      for (; i + 4 <= rows; i += 4)
        for (int l = 0; l < 4; l++) {
          double x = v[i + (uint64_t)l], tot = sum[l] + x;
          comp[l] += __builtin_fabs(sum[l]) >= __builtin_fabs(x) ? (sum[l] - tot) + x : (x - tot) + sum[l];
          sum[l] = tot;
        }
      agg_state *a = &st[k];
      for (; i < rows; i++) agg_fadd(a, v[i]);
      for (int l = 0; l < 4; l++) {
        agg_fadd(a, sum[l]);
        agg_fadd(a, comp[l]);
      }
      a->n += (int64_t)rows;
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

static int scan_morsel(scan_job *j, int f, int rg, agg_table *t, sj_error *err) {
  side *s = j->s;
  pq_reader *r = s->files[f];
  int need = 1 + s->nby + s->nstates;
  numcol cols[1 + MAX_BY + MAX_AGGS];
  memset(cols, 0, sizeof cols);
  const char *names[1 + MAX_BY + MAX_AGGS];
  names[0] = j->p->q->on;
  for (int i = 0; i < s->nby; i++) names[1 + i] = s->by[i];
  for (int i = 0; i < s->nstates; i++) names[1 + s->nby + i] = s->state_col[i];
  int rc = agg_table_init(t, 1 + s->nby, s->nstates) ? sj_fail(err, SJ_ENOMEM, "out of memory") : 0;
  for (int c = 0; c < need && !rc; c++) {
    int idx = pq_find_column(r, names[c]);
    rc = pq_read(r, rg, idx, &cols[c].raw, err);
    cols[c].is_float = cols[c].raw.type == PQ_FLOAT || cols[c].raw.type == PQ_DOUBLE;
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
  return rc;
}

static void *scan_worker(void *arg) {
  scan_job *j = arg;
  size_t m;
  while (!atomic_load(&j->failed) && (m = atomic_fetch_add(&j->next, 1)) < j->nmorsels) {
    sj_error e;
    if (sj_stop_requested()) sj_fail(&e, SJ_EINTR, "interrupted");
    else if (!scan_morsel(j, j->morsels[m][0], j->morsels[m][1], &j->tables[m], &e)) continue;
    pthread_mutex_lock(&j->mu);
    if (!atomic_load(&j->failed)) j->err = e;
    atomic_store(&j->failed, 1);
    pthread_mutex_unlock(&j->mu);
  }
  return NULL;
}

/* Aggregates one side by (key, its by-columns) into s->partial. */
static int scan_side(plan *p, side *s, sj_error *err) {
  scan_job j;
  memset(&j, 0, sizeof j);
  j.p = p;
  j.s = s;
  for (int f = 0; f < s->nfiles; f++) j.nmorsels += (size_t)pq_nrowgroups(s->files[f]);
  j.morsels = malloc((j.nmorsels ? j.nmorsels : 1) * sizeof *j.morsels);
  j.tables = calloc(j.nmorsels ? j.nmorsels : 1, sizeof *j.tables);
  if (!j.morsels || !j.tables) { free(j.morsels); free(j.tables); return sj_fail(err, SJ_ENOMEM, "out of memory"); }
  size_t k = 0;
  for (int f = 0; f < s->nfiles; f++) {
    for (int rg = 0; rg < pq_nrowgroups(s->files[f]); rg++) {
      j.morsels[k][0] = f;
      j.morsels[k++][1] = rg;
      s->rows_scanned += (uint64_t)pq_rowgroup_rows(s->files[f], rg);
    }
  }
  pthread_mutex_init(&j.mu, NULL);
  int nt = p->threads < (int)j.nmorsels ? p->threads : (int)j.nmorsels;
  pthread_t tid[256];
  int started = 0;
  for (; started < nt && started < 256; started++)
    if (pthread_create(&tid[started], NULL, scan_worker, &j)) break;
  if (started == 0) scan_worker(&j);
  for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
  pthread_mutex_destroy(&j.mu);
  int rc = 0;
  if (atomic_load(&j.failed)) {
    *err = j.err;
    rc = err->code ? err->code : SJ_EIO;
  }
  /* Merge in morsel order: the same answer, bit for bit, on any thread count. */
  if (!rc && agg_table_init(&s->partial, 1 + s->nby, s->nstates)) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  for (size_t m = 0; m < j.nmorsels; m++) {
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

static int join_partials(plan *p, agg_table *answer, uint64_t limit_groups, uint64_t *pairs, sj_error *err) {
  side *L = &p->s[0], *R = &p->s[1];
  if (agg_table_init(answer, p->nby, p->nagg)) return sj_fail(err, SJ_ENOMEM, "out of memory");
  uint32_t *li = sorted_by_join_key(&L->partial), *ri = sorted_by_join_key(&R->partial);
  int rc = li && ri ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory");
  size_t a = 0, b = 0;
  int64_t keys[MAX_BY];
  *pairs = 0;
  while (!rc && a < L->partial.nrows && b < R->partial.nrows) {
    int64_t ka = agg_row_keys(agg_table_row(&L->partial, li[a]))[0];
    int64_t kb = agg_row_keys(agg_table_row(&R->partial, ri[b]))[0];
    if (ka < kb) { a++; continue; }
    if (kb < ka) { b++; continue; }
    size_t a_end = a, b_end = b;
    while (a_end < L->partial.nrows && agg_row_keys(agg_table_row(&L->partial, li[a_end]))[0] == ka) a_end++;
    while (b_end < R->partial.nrows && agg_row_keys(agg_table_row(&R->partial, ri[b_end]))[0] == ka) b_end++;
    for (size_t x = a; x < a_end && !rc; x++) {
      uint64_t *lr = agg_table_row(&L->partial, li[x]);
      int64_t cl = *agg_row_count(&L->partial, lr);
      for (size_t y = b; y < b_end && !rc; y++) {
        uint64_t *rr = agg_table_row(&R->partial, ri[y]);
        int64_t cr = *agg_row_count(&R->partial, rr);
        uint32_t nulls = 0;
        for (int i = 0; i < p->nby; i++) {
          int sd = p->by_side[i];
          if (sd == 2) { keys[i] = ka; continue; }
          const side *s = &p->s[sd];
          const uint64_t *row = sd == 0 ? lr : rr;
          const agg_table *t = sd == 0 ? &L->partial : &R->partial;
          int pos = 0;
          while (s->by_out[pos] != i) pos++;
          keys[i] = agg_row_keys(row)[1 + pos];
          if (agg_row_nulls(t, row) >> pos & 1) { keys[i] = 0; nulls |= 1u << i; }
        }
        uint64_t *g = agg_table_upsert(answer, keys, nulls);
        if (!g || answer->nrows > limit_groups) {
          rc = sj_fail(err, g ? SJ_ENOMEM : SJ_ENOMEM,
                       "the answer has more than %llu groups, more than the memory limit allows for "
                       "this plan; answers as large as the join (like the notebook's QN) need the "
                       "streaming merge plan, which this version does not have yet",
                       (unsigned long long)limit_groups);
          break;
        }
        (*pairs)++;
        *agg_row_count(answer, g) += cl * cr;
        agg_state *st = agg_row_states(answer, g);
        for (int i = 0; i < p->nagg; i++) {
          if (p->fn[i] == F_COUNT_STAR) continue;
          int sd = p->agg_side[i];
          const agg_table *t = sd == 0 ? &L->partial : &R->partial;
          agg_state *src = agg_row_states(t, sd == 0 ? lr : rr) + p->agg_state[i];
          state_merge(&st[i], src, p->fn[i], p->agg_float[i], sd == 0 ? cr : cl);
        }
      }
    }
    a = a_end;
    b = b_end;
  }
  free(li);
  free(ri);
  return rc;
}

/* ---------------------------------------------------------------- finish */

static int cmp_groups(const void *a, const void *b, void *ctx) {
  const agg_table *order_table = ctx;
  const uint64_t *ra = agg_table_row(order_table, *(const uint32_t *)a);
  const uint64_t *rb = agg_table_row(order_table, *(const uint32_t *)b);
  uint32_t na = agg_row_nulls(order_table, ra), nb = agg_row_nulls(order_table, rb);
  for (int i = 0; i < order_table->nkeys; i++) {
    int xa = na >> i & 1, xb = nb >> i & 1;
    if (xa != xb) return xa ? 1 : -1; /* NULLS LAST */
    if (xa) continue;
    int64_t ka = agg_row_keys(ra)[i], kb = agg_row_keys(rb)[i];
    if (ka != kb) return ka < kb ? -1 : 1;
  }
  return 0;
}

static int build_result(plan *p, agg_table *answer, sj_result *out, sj_error *err) {
  uint64_t rows = answer->nrows;
  /* No GROUP BY: one row even when nothing joined, as SQL has it. */
  if (p->nby == 0 && rows == 0) {
    int64_t none = 0;
    if (!agg_table_upsert(answer, &none, 0)) return sj_fail(err, SJ_ENOMEM, "out of memory");
    rows = 1;
  }
  uint32_t *ix = malloc((rows ? rows : 1) * sizeof *ix);
  out->ncols = p->nby + p->nagg;
  out->rows = rows;
  out->cols = calloc((size_t)out->ncols, sizeof *out->cols);
  if (!ix || !out->cols) { free(ix); return sj_fail(err, SJ_ENOMEM, "out of memory"); }
  for (uint64_t i = 0; i < rows; i++) ix[i] = (uint32_t)i;
  qsort_r(ix, rows, sizeof *ix, cmp_groups, answer);
  int rc = 0;
  for (int c = 0; c < out->ncols && !rc; c++) {
    sj_result_col *col = &out->cols[c];
    int is_by = c < p->nby, a = c - p->nby;
    if (is_by) snprintf(col->name, sizeof col->name, "%s", p->by[c]);
    else if (p->fn[a] == F_COUNT_STAR) snprintf(col->name, sizeof col->name, "count");
    else snprintf(col->name, sizeof col->name, "%s_%s", fn_names[p->fn[a]], p->agg_col[a]);
    int floaty = !is_by && (p->fn[a] == F_AVG || (p->agg_float[a] && p->fn[a] != F_COUNT));
    int huge = !is_by && p->fn[a] == F_SUM && !p->agg_float[a];
    col->kind = floaty ? SJ_COL_DOUBLE : huge ? SJ_COL_HUGEINT : SJ_COL_INT;
    size_t w = col->kind == SJ_COL_HUGEINT ? 16 : 8;
    void *mem = malloc((rows ? rows : 1) * w);
    if (col->kind == SJ_COL_DOUBLE) col->d = mem;
    else if (col->kind == SJ_COL_HUGEINT) col->h = mem;
    else col->i = mem;
    if (!mem) { rc = sj_fail(err, SJ_ENOMEM, "out of memory"); break; }
    for (uint64_t r = 0; r < rows; r++) {
      uint64_t *row = agg_table_row(answer, ix[r]);
      int null = 0;
      if (is_by) {
        null = agg_row_nulls(answer, row) >> c & 1;
        col->i[r] = agg_row_keys(row)[c];
      } else if (p->fn[a] == F_COUNT_STAR) {
        col->i[r] = *agg_row_count(answer, row);
      } else {
        agg_state *st = agg_row_states(answer, row) + a;
        switch (p->fn[a]) {
          case F_COUNT: col->i[r] = st->n; break;
          case F_SUM:
            null = st->n == 0;
            if (huge) col->h[r] = st->v.isum;
            else col->d[r] = st->v.f.s + st->v.f.c;
            break;
          case F_AVG:
            null = st->n == 0;
            col->d[r] = null ? 0
                      : p->agg_float[a] ? (st->v.f.s + st->v.f.c) / (double)st->n
                                        : (double)st->v.isum / (double)st->n;
            break;
          default: /* min, max */
            null = st->n == 0;
            if (floaty) col->d[r] = st->v.f.s;
            else col->i[r] = st->v.i;
        }
      }
      if (null) {
        if (!col->valid) { /* the first null: every row so far was present */
          if (!(col->valid = malloc(rows))) { rc = sj_fail(err, SJ_ENOMEM, "out of memory"); break; }
          memset(col->valid, 1, rows);
        }
        col->valid[r] = 0;
      }
    }
  }
  free(ix);
  return rc;
}

void sj_result_free(sj_result *r) {
  if (!r) return;
  for (int c = 0; c < r->ncols; c++) {
    free(r->cols[c].i);
    free(r->cols[c].h);
    free(r->cols[c].d);
    free(r->cols[c].valid);
  }
  free(r->cols);
  memset(r, 0, sizeof *r);
}

/* "key, a, b": a side's partial grouping, for the plan. */
static void side_grouping(const plan *p, const side *s, char *buf, size_t n) {
  size_t at = (size_t)snprintf(buf, n, "%s", p->q->on);
  for (int i = 0; i < s->nby && at < n; i++) at += (size_t)snprintf(buf + at, n - at, ", %s", s->by[i]);
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) * 1e-9;
}

int sj_query_run(const sj_query *q, sj_result *out, sj_error *err) {
  memset(out, 0, sizeof *out);
  plan *p = calloc(1, sizeof *p);
  if (!p) return sj_fail(err, SJ_ENOMEM, "out of memory");
  p->q = q;
  p->s[0].what = "left";
  p->s[1].what = "right";
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  p->threads = q->threads > 0 ? q->threads : (int)(cores > 0 ? cores : 1);
  uint64_t limit = q->memory_limit;
  if (!limit) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    limit = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 2 : (uint64_t)4 << 30;
  }
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = !q->on || !*q->on ? sj_fail(err, SJ_EUSAGE, "--on names no join key") : 0;
  if (!rc) rc = open_side(&p->s[0], q->left, err);
  if (!rc) rc = open_side(&p->s[1], q->right, err);
  if (!rc) rc = plan_query(p, err);
  double t_scan = 0, t_join = 0;
  agg_table answer;
  memset(&answer, 0, sizeof answer);
  uint64_t pairs = 0;
  if (!rc) rc = scan_side(p, &p->s[0], err);
  if (!rc) rc = scan_side(p, &p->s[1], err);
  if (!rc) {
    t_scan = seconds_since(&t0);
    size_t group_bytes = (((size_t)p->nby + 4) & ~(size_t)1) * 8 + 32 * (size_t)p->nagg + 8;
    rc = join_partials(p, &answer, limit / group_bytes, &pairs, err);
    t_join = seconds_since(&t0) - t_scan;
  }
  if (!rc) rc = build_result(p, &answer, out, err);
  if (!rc) {
    side *L = &p->s[0], *R = &p->s[1];
    char lg[1200], rg[1200];
    side_grouping(p, L, lg, sizeof lg);
    side_grouping(p, R, rg, sizeof rg);
    snprintf(out->plan, sizeof out->plan,
             "plan: eager aggregation (GROUP BY pushed below the join on both sides)\n"
             "  left   %d files, %llu rows scanned -> %zu partial groups by (%s)\n"
             "  right  %d files, %llu rows scanned -> %zu partial groups by (%s)\n"
             "  join   %llu pairs of partial groups on %s -> %llu answer groups\n"
             "  time   scan %.3f s, join + sort %.3f s, total %.3f s on %d threads\n",
             L->nfiles, (unsigned long long)L->rows_scanned, L->partial.nrows, lg, R->nfiles,
             (unsigned long long)R->rows_scanned, R->partial.nrows, rg, (unsigned long long)pairs, q->on,
             (unsigned long long)out->rows, t_scan, t_join, seconds_since(&t0), p->threads);
  }
  agg_table_free(&answer);
  for (int s = 0; s < 2; s++) {
    agg_table_free(&p->s[s].partial);
    for (int f = 0; f < p->s[s].nfiles; f++) pq_close(p->s[s].files[f]);
    free(p->s[s].files);
  }
  free(p);
  if (rc) sj_result_free(out);
  return rc;
}
