/*
** plan.h — what the query module's files share: the plan (which columns and
** aggregates each side holds), value access on decoded columns, aggregate
** states, and the answer's output (chunks of rows, written in order).
**
**   query.c   planning, the hash plan (answer groups in a table), the driver
**   merge.c   the streaming merge plan (answers as large as the join)
**   output.c  answer chunks as CSV or Parquet, encoded on any thread and
**             written in order
**   sort.c    the answer re-sorted into the by-list's order, when the plan
**             ran the columns in another
**   keys.c    string columns as ids; ranks.c: integer columns too wide to
**             pack, as ranks
*/
#ifndef QUERY_PLAN_H
#define QUERY_PLAN_H

#include "agg.h"
#include "../util/pool.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { MAX_BY = 16, MAX_AGGS = 16 };
typedef enum { F_COUNT_STAR, F_COUNT, F_SUM, F_MIN, F_MAX, F_AVG } agg_fn;

typedef struct side {
  const char *what; /* "left" or "right" */
  pq_reader **files;
  int nfiles;
  int nby;                  /* by-columns held by this side */
  char by[MAX_BY][64];
  int by_out[MAX_BY];       /* position in the answer's by-list */
  int nstates;
  int state_agg[MAX_AGGS];  /* which aggregate each state serves */
  char state_col[MAX_AGGS][64];
  int state_is_float[MAX_AGGS];
  agg_table partial;        /* hash plan: (key, by…) → count, states */
  uint64_t rows_scanned;
} side;

typedef struct key_dict key_dict;
typedef struct rank_dict rank_dict;

typedef struct plan {
  const sj_query *q;
  key_dict *keys; /* string join keys: their ids; NULL for integer keys */
  side s[2];
  int nby;
  char by[MAX_BY][64];
  int by_side[MAX_BY]; /* 0/1; the join key is put on one side (key_sides) */
  /* String by-columns, read as ids in byte order: their dictionaries (the
  ** join key's is `keys`, shared), from plan_strings; NULL for integers. */
  key_dict *by_dict[MAX_BY];
  int by_nullable[MAX_BY];
  /* Integer by-columns of the merge plan's inner side whose files state no
  ** bounds: by_bounded[i] = 1 when [by_lo, by_hi] holds column i's values,
  ** from a pass over them (merge_domains) or from the distributed plan. */
  int by_bounded[MAX_BY];
  int64_t by_lo[MAX_BY], by_hi[MAX_BY];
  /* Inner integer by-columns too wide to pack: read as ranks of their
  ** distinct values (ranks.c, from merge_domains); NULL for the others. */
  rank_dict *by_rank[MAX_BY];
  uint32_t scanned; /* bit i: by-column i's domain came from its values */
  double domain_seconds, rank_seconds;
  int nagg;
  agg_fn fn[MAX_AGGS];
  char agg_col[MAX_AGGS][64];
  int agg_side[MAX_AGGS];
  int agg_state[MAX_AGGS]; /* index into its side's states */
  int agg_float[MAX_AGGS];
  int agg_nullable[MAX_AGGS]; /* its input column may hold NULLs */
  /* What the columns' integers stand for (DATE, TIME, TIMESTAMP, DECIMAL):
  ** a by-column's, an aggregate's input column's. */
  pq_logical by_lt[MAX_BY], agg_lt[MAX_AGGS];
  int threads;
  sj_pool *pool;  /* the query's workers, from plan_open to plan_close */
  uint64_t memory_limit;
} plan;

/* ------------------------------------------------------ decoded columns */

/* A column as int64 or double, whatever its physical integer/float type. */
typedef struct numcol {
  pq_column raw;
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

/* Folds state b, repeated `times` times (the other side's row count), into a. */
static inline void state_merge(agg_state *a, const agg_state *b, agg_fn fn, int is_float, int64_t times) {
  if (b->n == 0 || times == 0) return;
  int first = a->n == 0;
  a->n += b->n * times;
  switch (fn) {
    case F_SUM:
    case F_AVG:
      if (is_float) {
        agg_fadd(a, b->v.f.s * (double)times);
        if (b->v.f.c != 0) agg_fadd(a, b->v.f.c * (double)times); /* most partials are exact */
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

static inline int pq_is_int(pq_type t) { return t == PQ_INT32 || t == PQ_INT64; }

/* The type a query reads a column as: its physical type, but INT64 for the
** legacy INT96 timestamp (Impala, Spark) and for a DECIMAL of up to 18
** digits in FIXED_LEN_BYTE_ARRAY (pyarrow's), which read_columns turns into
** int64 nanoseconds and unscaled integers. */
static inline pq_type query_type(const pq_column_info *ci) {
  if (ci->type == PQ_INT96) return PQ_INT64;
  if (ci->type == PQ_FIXED_LEN_BYTE_ARRAY && ci->lt.kind == PQ_LT_DECIMAL && ci->type_length <= 8) return PQ_INT64;
  return ci->type;
}

/* What a column's integers stand for in a query: its annotation, and for
** INT96 a TIMESTAMP in nanoseconds (not UTC-adjusted, as DuckDB and Spark
** read it). */
static inline pq_logical query_column_lt(const pq_column_info *ci) {
  if (ci->type == PQ_INT96) return (pq_logical){PQ_LT_TIMESTAMP, PQ_UNIT_NANOS, 0, 0, 0};
  return ci->lt;
}
static inline int pq_is_num(pq_type t) { return pq_is_int(t) || t == PQ_FLOAT || t == PQ_DOUBLE; }

/* An INT32/INT64 statistics bound (PLAIN bytes) as int64; 0 for other
** types or a bound of the wrong length. */
static inline int stat_bound(const uint8_t *v, size_t len, pq_type t, int64_t *out) {
  if (t == PQ_INT32 && len == 4) { int32_t x; memcpy(&x, v, 4); *out = x; return 1; }
  if (t == PQ_INT64 && len == 8) { memcpy(out, v, 8); return 1; }
  return 0;
}

/* Folds rows [0, rows) of column c into one state. */
void fold_all(agg_state *st, agg_fn fn, int is_float, const numcol *c, uint64_t rows);

/* Reads the named columns of one row group; on failure frees what it read.
** For a scan: names[0] is the join key, read as int64 (string keys as ids). */
int read_columns(const pq_reader *r, int rg, const char *const *names, int n, numcol *cols, sj_error *err);
int read_scan_columns(const plan *p, const pq_reader *r, int rg, const char *const *names, int n, numcol *cols,
                      sj_error *err);

/* Strings as ids (keys.c): the distinct values of side s's column `name`,
** numbered in byte order (read on all threads); a BYTE_ARRAY column read as
** those ids (a value the dictionary lacks becomes NULL); an id's bytes. */
int key_dict_build(const plan *p, side *s, const char *name, key_dict **out, sj_error *err);
int key_dict_map(const key_dict *d, pq_column *c, sj_error *err);
size_t key_dict_size(const key_dict *d);
const uint8_t *key_dict_value(const key_dict *d, int64_t id, size_t *len);
void key_dict_free(key_dict *d);

/* Integer columns as ranks (ranks.c): the sorted distinct values of side
** s's column `name`, read on all threads; *out stays NULL, with no error,
** when they number more than max_values.  rank_dict_map turns an integer
** column into its values' ranks (a value it lacks is an error naming path). */
int rank_dict_build(const plan *p, side *s, const char *name, uint64_t max_values, rank_dict **out, sj_error *err);
int rank_dict_map(const rank_dict *d, pq_column *c, const char *path, sj_error *err);
size_t rank_dict_size(const rank_dict *d);
int64_t rank_dict_value(const rank_dict *d, int64_t rank);
void rank_dict_free(rank_dict *d);

/* Aggregates one side by (key, its by-columns) into s->partial (the hash
** plan's right side, and the outer side of the merge plan). */
int scan_side(plan *p, side *s, sj_error *err);

/* Every (file, row group) of a side, in file order: the scan's morsels;
** s->rows_scanned becomes their rows (the same count for every pass). */
typedef struct morsel { int file, rg; } morsel;
int list_morsels(side *s, morsel **out, size_t *n, sj_error *err);


/* ------------------------------------------------------------- output */

/* Rows of the answer, column by column: by-columns, then aggregates. */
/* A row's bytes in a SJ_COL_BYTES column: they belong to whoever filled the
** chunk and stay put until the chunk is encoded. */
typedef struct out_bytes {
  const uint8_t *at;
  uint64_t len;
} out_bytes;

typedef struct out_col {
  sj_col_kind kind;
  int64_t *i;
  __int128 *h;
  double *d;
  out_bytes *b;
  uint8_t *valid; /* nullable columns: 1 = present */
} out_col;

typedef struct out_chunk {
  int ncols;
  uint64_t rows, cap;
  out_col cols[MAX_BY + MAX_AGGS];
  int nullable[MAX_BY + MAX_AGGS];
  int bad_null; /* 1 + a non-nullable column that got a NULL; 0 */
} out_chunk;

/* The answer's columns: names, kinds and whether they may hold NULLs. */
typedef struct out_schema {
  int ncols;
  char names[MAX_BY + MAX_AGGS][96];
  sj_col_kind kinds[MAX_BY + MAX_AGGS];
  int nullable[MAX_BY + MAX_AGGS];
  const key_dict *dict[MAX_BY]; /* SJ_COL_STRING: the ids' strings */
  pq_logical lt[MAX_BY + MAX_AGGS]; /* integer columns: what they stand for (a DATE, a DECIMAL…) */
} out_schema;

void plan_schema(const plan *p, out_schema *s);
int chunk_init(out_chunk *c, const out_schema *s);
int chunk_reserve(out_chunk *c, uint64_t rows);
void chunk_free(out_chunk *c);
/* Row r of column i is NULL when `null`; a NULL where the schema has none
** is remembered and refused when the chunk is encoded. */
static inline void set_valid(out_chunk *c, int i, uint64_t r, int null) {
  if (c->nullable[i]) c->cols[i].valid[r] = (uint8_t)!null;
  else if (null && !c->bad_null) c->bad_null = i + 1;
}

/* 10^scale for an aggregate over a DECIMAL column (its integers are units
** of 10^-scale), else 1. */
static inline double plan_decimal_unit(const plan *p, int a) {
  double unit = 1;
  if (p->agg_lt[a].kind == PQ_LT_DECIMAL)
    for (int i = 0; i < p->agg_lt[a].scale; i++) unit *= 10;
  return unit;
}

/* Appends one answer row: by-values (nulls: bit i = by-column i is NULL),
** the joined row count and one state per aggregate.  The chunk has room.
** Inline: the merge plan calls it once per answer row. */
static inline void chunk_put(const plan *p, out_chunk *c, const int64_t *by, uint32_t nulls, int64_t count, const agg_state *st) {
  assert(c->rows < c->cap);
  uint64_t r = c->rows++;
  for (int i = 0; i < p->nby; i++) {
    int null = nulls >> i & 1;
    c->cols[i].i[r] = p->by_rank[i] && !null ? rank_dict_value(p->by_rank[i], by[i]) : by[i];
    set_valid(c, i, r, null);
  }
  for (int a = 0; a < p->nagg; a++) {
    out_col *col = &c->cols[p->nby + a];
    const agg_state *s = &st[a];
    int null = 0;
    switch (p->fn[a]) {
      case F_COUNT_STAR: col->i[r] = count; break;
      case F_COUNT: col->i[r] = s->n; break;
      case F_SUM:
        null = s->n == 0;
        if (col->kind == SJ_COL_HUGEINT) col->h[r] = s->v.isum;
        else col->d[r] = s->v.f.s + s->v.f.c;
        break;
      case F_AVG:
        null = s->n == 0;
        col->d[r] = null ? 0
                  : p->agg_float[a] ? (s->v.f.s + s->v.f.c) / (double)s->n
                                    : (double)s->v.isum / (double)s->n / plan_decimal_unit(p, a);
        break;
      default: /* min, max */
        null = s->n == 0;
        if (col->kind == SJ_COL_DOUBLE) col->d[r] = s->v.f.s;
        else col->i[r] = s->v.i;
    }
    set_valid(c, p->nby + a, r, null);
  }
}


/* Where the answer goes: a CSV or Parquet file written atomically, or CSV
** on a stream.  out_encode may run on any thread (one scratch per thread);
** out_write takes the encoded chunks in the answer's order. */
typedef struct out_sink out_sink;
typedef struct out_blob { char *text; size_t len; pq_rowgroup *rg; } out_blob;

int out_open(out_sink **s, const char *path, FILE *stream, const out_schema *schema, sj_error *err);
int out_encode(out_sink *s, const out_chunk *c, pq_scratch *scratch, out_blob *b, sj_error *err);
int out_write(out_sink *s, out_blob *b, sj_error *err); /* frees the blob */
void out_blob_free(out_blob *b);
int out_close(out_sink *s, sj_error *err);
void out_abort(out_sink *s);

/* Pieces of an answer made on many threads and written in order: fill(ctx,
** state, t, chunk) puts piece t's rows in the (emptied) chunk, on any
** thread, with that thread's state (from state_new; NULL is an error);
** the chunk is encoded there, and the calling thread writes the pieces in
** order, with at most 2·threads + 2 in flight.  progress may be NULL. */
typedef struct out_pipeline {
  out_sink *sink;
  const out_schema *schema;
  sj_pool *pool;
  size_t npieces;
  void *ctx;
  void *(*state_new)(void *ctx);
  void (*state_free)(void *state);
  int (*fill)(void *ctx, void *state, size_t piece, out_chunk *c, sj_error *err);
  void (*progress)(void *ctx, uint64_t done, uint64_t total);
  void *progress_ctx;
} out_pipeline;

int out_pipeline_run(const out_pipeline *pl, uint64_t *rows_out, sj_error *err);

/* A sink that sorts (sort.c): the plan hands it chunks of the engine's
** schema (column c is the final schema's column pos[c]) in the engine's
** order; out_close_sorted writes them to `final` sorted by the final
** schema's first nby columns, holding up to b->bytes of rows and
** spilling sorted runs to a temporary file beyond, and puts an
** --explain line in explain.  out_abort frees it (final stays open). */
typedef struct sort_budget {
  uint64_t bytes;       /* of rows held in memory */
  const char *temp_dir; /* NULL: $TMPDIR, else /tmp */
  sj_pool *pool;        /* encoding the answer */
  void (*progress)(void *ctx, uint64_t done, uint64_t total); /* may be NULL */
  void *progress_ctx;
} sort_budget;
int out_open_sorted(out_sink **s, out_sink *final, const out_schema *engine, const out_schema *fs, const int *pos,
                    int nby, const sort_budget *b, sj_error *err);
int out_close_sorted(out_sink *s, char *explain, size_t n, sj_error *err);

typedef struct out_sorter out_sorter;
int sort_open(out_sorter **s, out_sink *final, const out_schema *fs, const int *pos, int nby, const sort_budget *b,
              sj_error *err);
int sort_encode(const out_sorter *s, const out_chunk *c, out_blob *b, sj_error *err);
int sort_add(out_sorter *s, out_blob *b, sj_error *err); /* frees the blob */
int sort_finish(out_sorter *s, char *explain, size_t n, sj_error *err); /* frees s */
void sort_free(out_sorter *s);

/* What the radix sorts sort: a key and what it belongs to (a row of a
** morsel; a cursor and an entry of it; a record). */
typedef struct sort_pair {
  uint64_t k;
  uint32_t a, b;
} sort_pair;

/* LSD radix sort on the low `bits` bits of k, stable (a merge's ties keep
** cursor order: a fixed fold order); a byte all pairs share is skipped.
** Returns the array that holds the result (a or tmp). */
sort_pair *sort_radix(sort_pair *a, sort_pair *tmp, size_t n, int bits);

static inline int bits_for(uint64_t values) { /* bits to tell `values` values apart */
  int b = 0;
  while (b < 64 && (values - 1) >> b) b++;
  return b;
}

/* A temporary file in dir (NULL: $TMPDIR, else /tmp), unlinked at once so
** that it disappears with the process, whatever happens; `what` names its
** use in the error message. */
int plan_temp_file(const char *dir, const char *what, int *fd, sj_error *err);
/* All of len bytes at off, retried past interruptions and short counts. */
int plan_pwrite(int fd, const void *data, size_t len, uint64_t off, const char *what, sj_error *err);
int plan_pread(int fd, void *data, size_t len, uint64_t off, const char *what, sj_error *err);

/* ------------------------------------------------------------- plans */

/* Opens both sides and plans q (names, types, which side holds what);
** left_files, when not NULL, replaces q->left.  plan_close frees it all,
** also after a failure. */
int plan_open(plan *p, const sj_query *q, char *const *left_files, int nleft, sj_error *err);
void plan_close(plan *p);

/* Whether by-column i holds strings; plan_strings reads those columns'
** values into p->by_dict (a pass over each; the join key's are p->keys),
** which the plans need and a usage check does not. */
int plan_by_is_string(const plan *p, int i);
int plan_strings(plan *p, sj_error *err);

double seconds_since(const struct timespec *t0);
/* "key, a, b": a side's partial grouping, for --explain. */
void side_grouping(const plan *p, const side *s, char *buf, size_t n);

/* Statistics of the run, for --explain. */
typedef struct plan_report {
  uint64_t rows_out;
  char text[4096];
} plan_report;

/* 1 when the merge plan applies: the by-list is one side's columns then the
** other's (either may be empty; the join key counts as either), and the inner
** side's columns pack into 62 bits by their domains (statistics, else
** merge_domains). */
int merge_applies(const plan *p);
/* The merge plan's inner by-columns that no statistics bound: their domains
** (and whether they hold NULLs) from one parallel pass over their values, so
** that the plan applies to files written without statistics; then, while
** the domains are too wide to pack and `ranks` is set, the widest integer
** column is read as ranks (p->by_rank).  A no-op for other plans; after
** plan_strings. */
int merge_domains(plan *p, int ranks, sj_error *err);
int merge_run(plan *p, out_sink *sink, const out_schema *schema, plan_report *rep, sj_error *err);

/* --materialize: the joined rows themselves, written to path (materialize.c). */
int materialize_run(plan *p, const char *path, plan_report *rep, sj_error *err);

#endif
