/*
** output.h — the answer on its way out (output.c): rows gathered in chunks,
** chunks encoded on any thread and written in order to a sink (a CSV or
** Parquet file written atomically, CSV on a stream, or sort.c's sorting
** sink), by the ordered pipeline on the query's pool.
*/
#ifndef QUERY_OUTPUT_H
#define QUERY_OUTPUT_H

#include "plan.h"
#include "ranks.h"

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
  /* A piece of out_pipeline with a batch: the chunk grows to `batch` rows
  ** at most, and chunk_room hands its rows on (flush) when it is full. */
  uint64_t batch;
  int (*flush)(void *ctx, struct out_chunk *c, sj_error *err);
  void *flush_ctx;
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
/* Room for `rows` more rows, or up to the batch where the chunk has one. */
int chunk_reserve(out_chunk *c, uint64_t rows);
/* A full chunk (rows == cap): grown towards its batch, or at its batch
** flushed and emptied. */
int chunk_room(out_chunk *c, sj_error *err);
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


/* Where the answer goes.  A sink takes chunks encoded on any thread
** (encode, one scratch per thread: it appends the chunk's rows to the blob,
** and `last` says the blob is whole — a piece may come in several chunks),
** the encoded blobs in the answer's order on one thread (write, which frees
** the blob), then close — with a line for
** --explain in `explain` when the sink has one to say (explain may be NULL)
** — or abort.  out_open makes the file and stream sinks: a CSV or Parquet
** file written atomically, or CSV on a stream; sort.c's out_open_sorted
** makes one that sorts the rows and hands them on to another sink. */
typedef struct out_sink out_sink;
typedef struct out_blob { char *text; size_t len; pq_rowgroup *rg; } out_blob;

typedef struct out_sink_ops {
  int (*encode)(out_sink *s, const out_chunk *c, int last, pq_scratch *scratch, out_blob *b, sj_error *err);
  int (*write)(out_sink *s, out_blob *b, sj_error *err);
  int (*close)(out_sink *s, char *explain, size_t n, sj_error *err); /* frees s */
  void (*abort)(out_sink *s);                                         /* frees s */
} out_sink_ops;

struct out_sink {
  const out_sink_ops *ops;
  const out_schema *schema; /* of the chunks it takes */
};

int out_open(out_sink **s, const char *path, FILE *stream, const out_schema *schema, sj_error *err);
int out_encode(out_sink *s, const out_chunk *c, int last, pq_scratch *scratch, out_blob *b, sj_error *err);
int out_write(out_sink *s, out_blob *b, sj_error *err);
/* Moves more's bytes onto the end of b's (text blobs). */
int out_blob_append(out_blob *b, out_blob *more, sj_error *err);
void out_blob_free(out_blob *b);
int out_close(out_sink *s, char *explain, size_t n, sj_error *err);
void out_abort(out_sink *s); /* NULL: nothing */

/* Pieces of an answer made on many threads and written in order: fill(ctx,
** state, t, chunk) puts piece t's rows in the (emptied) chunk, on any
** thread, with that thread's state (from state_new; NULL is an error);
** the chunk is encoded there, and the pieces are written in order, one at a
** time (sj_pool_ordered), with at most 2·threads + 2 in flight.  With a
** batch, the chunk holds that many rows at most and fill makes room with
** chunk_room: a piece is encoded batch by batch (a batch of PQ_PAGE_ROWS
** gives the same bytes as one chunk would), so that only its encoded bytes
** grow with it.  progress may be NULL. */
typedef struct out_pipeline {
  out_sink *sink;
  const out_schema *schema;
  sj_pool *pool;
  size_t npieces;
  uint64_t batch; /* 0: a piece's rows in one chunk */
  void *ctx;
  void *(*state_new)(void *ctx);
  void (*state_free)(void *state);
  int (*fill)(void *ctx, void *state, size_t piece, out_chunk *c, sj_error *err);
  void (*progress)(void *ctx, uint64_t done, uint64_t total);
  void *progress_ctx;
} out_pipeline;

int out_pipeline_run(const out_pipeline *pl, uint64_t *rows_out, sj_error *err);

#endif
