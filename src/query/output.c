/*
** output.c — the answer, chunk by chunk, as CSV or Parquet.
**
** Both plans hand their rows over in chunks (out_chunk), in the answer's
** order.  Encoding a chunk — formatting CSV text or encoding a Parquet row
** group — is the expensive part and runs on the thread that produced it;
** out_write only appends the encoded bytes, in order.  Files are written as
** PATH.tmp and renamed when complete, so an answer appears under its name
** only whole.  Parquet: by-columns and counts INT64 (DELTA_BINARY_PACKED
** when they cannot be NULL), float aggregates DOUBLE, exact integer sums
** INT64 when they fit (else an error pointing to CSV, which prints them
** exactly); columns that may hold NULLs are OPTIONAL.  Integers that stand
** for dates, times, timestamps and decimals keep their annotation (DATE
** and TIME in milliseconds as INT32), and CSV prints them as DuckDB does.
*/
#include "output.h"
#include "../util/store.h"
#include "keys.h"
#include "ranks.h"

#include <stdlib.h>

/* ---------------------------------------------------------------- chunks */

int chunk_init(out_chunk *c, const out_schema *s) {
  memset(c, 0, sizeof *c);
  c->ncols = s->ncols;
  for (int i = 0; i < s->ncols; i++) {
    c->cols[i].kind = s->kinds[i];
    c->nullable[i] = s->nullable[i];
  }
  return 0;
}

void chunk_free(out_chunk *c) {
  for (int i = 0; i < c->ncols; i++) {
    free(c->cols[i].i);
    free(c->cols[i].h);
    free(c->cols[i].d);
    free(c->cols[i].b);
    free(c->cols[i].valid);
  }
  memset(c, 0, sizeof *c);
}

static int grow(void **p, uint64_t n, size_t w) {
  void *q = realloc(*p, (size_t)n * w);
  if (!q) return -1;
  *p = q;
  return 0;
}

int chunk_reserve(out_chunk *c, uint64_t rows) {
  uint64_t want = c->rows + rows;
  if (c->batch && want > c->batch) want = c->batch;
  if (want <= c->cap) return 0;
  uint64_t cap = c->cap ? c->cap : 1024;
  while (cap < want) cap *= 2;
  if (c->batch && cap > c->batch) cap = c->batch;
  for (int i = 0; i < c->ncols; i++) {
    out_col *col = &c->cols[i];
    int bad = col->kind == SJ_COL_DOUBLE  ? grow((void **)&col->d, cap, 8)
            : col->kind == SJ_COL_BYTES   ? grow((void **)&col->b, cap, sizeof *col->b)
            : col->kind == SJ_COL_HUGEINT ? grow((void **)&col->h, cap, 16)
                                          : grow((void **)&col->i, cap, 8);
    if (bad || (c->nullable[i] && grow((void **)&col->valid, cap, 1))) return -1;
  }
  c->cap = cap;
  return 0;
}


int chunk_room(out_chunk *c, sj_error *err) {
  assert(c->rows == c->cap);
  if (!c->batch || c->cap < c->batch)
    return chunk_reserve(c, c->cap ? c->cap : 1) ? sj_fail(err, SJ_ENOMEM, "out of memory for the answer's rows") : 0;
  int rc = c->flush(c->flush_ctx, c, err);
  c->rows = 0;
  return rc;
}

/* ------------------------------------------------------------------- CSV */

static void put_i64(char **at, int64_t v) {
  char buf[24];
  int n = 0;
  uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
  do buf[n++] = (char)('0' + u % 10); while (u /= 10);
  if (v < 0) *(*at)++ = '-';
  while (n) *(*at)++ = buf[--n];
}

/* Row r's bytes of a string column (STRING: a dictionary id's; BYTES: its own). */
static const uint8_t *string_at(const out_schema *schema, int i, const out_col *col, uint64_t r, size_t *n) {
  if (col->kind == SJ_COL_BYTES) {
    *n = (size_t)col->b[r].len;
    return col->b[r].at;
  }
  assert(col->kind == SJ_COL_STRING && i < MAX_BY);
  return key_dict_value(schema->dict[i], col->i[r], n);
}

static int encode_csv(const out_schema *schema, const out_chunk *c, out_blob *b, sj_error *err) {
  out_blob more = {0};
  FILE *f = open_memstream(&more.text, &more.len);
  if (!f) return sj_fail(err, SJ_ENOMEM, "out of memory");
  char line[64];
  for (uint64_t r = 0; r < c->rows; r++) {
    for (int i = 0; i < c->ncols; i++) {
      const out_col *col = &c->cols[i];
      if (i) putc(',', f);
      if (col->valid && !col->valid[r]) continue;
      char *at = line;
      switch (col->kind) {
        case SJ_COL_INT:
          if (schema->lt[i].kind != PQ_LT_NONE) { sj_csv_logical(f, col->i[r], &schema->lt[i]); break; }
          put_i64(&at, col->i[r]);
          fwrite(line, 1, (size_t)(at - line), f);
          break;
        case SJ_COL_HUGEINT: sj_csv_logical(f, col->h[r], &schema->lt[i]); break;
        case SJ_COL_DOUBLE: sj_csv_double(f, col->d[r]); break;
        case SJ_COL_STRING:
        case SJ_COL_BYTES: {
          size_t n;
          const uint8_t *v = string_at(schema, i, col, r, &n);
          sj_csv_text(f, (const char *)v, n);
          break;
        }
      }
    }
    putc('\n', f);
  }
  int bad = ferror(f);
  if (fclose(f) || bad) {
    out_blob_free(&more);
    return sj_fail(err, SJ_ENOMEM, "out of memory formatting the answer");
  }
  return out_blob_append(b, &more, err);
}

/* --------------------------------------------------------------- the sink */

/* A file or stream sink: a CSV or Parquet file through the store (written
** as NAME.tmp, renamed when complete), or CSV on a stream. */
typedef struct file_sink {
  out_sink base;
  FILE *stream;   /* CSV to a stream */
  sj_output *csv; /* CSV to a file */
  char *path;
  pq_file *pq;
  pq_column_spec specs[MAX_BY + MAX_AGGS];
} file_sink;

/* A chunk's string column i as bytes and offsets for the writer. */
static int gather_strings(const out_schema *schema, int i, const out_col *col, uint64_t rows, uint8_t **bytes,
                          uint64_t **offsets) {
  uint64_t total = 0;
  size_t n;
  for (uint64_t r = 0; r < rows; r++)
    if (!col->valid || col->valid[r]) {
      string_at(schema, i, col, r, &n);
      total += n;
    }
  *bytes = malloc(total ? total : 1);
  *offsets = malloc((rows + 1) * sizeof **offsets);
  if (!*bytes || !*offsets) return -1;
  (*offsets)[0] = 0;
  for (uint64_t r = 0, at = 0; r < rows; r++) {
    if (!col->valid || col->valid[r]) {
      const uint8_t *v = string_at(schema, i, col, r, &n);
      if (n) memcpy(*bytes + at, v, n); /* an empty value may have no bytes at all */
      at += n;
    }
    (*offsets)[r + 1] = at;
  }
  return 0;
}

static int encode_parquet(file_sink *s, const out_chunk *c, int last, pq_scratch *scratch, out_blob *b, sj_error *err) {
  pq_vector vecs[MAX_BY + MAX_AGGS];
  int64_t *narrowed[MAX_BY + MAX_AGGS] = {0};
  uint8_t *bytes[MAX_BY + MAX_AGGS] = {0};
  uint64_t *offsets[MAX_BY + MAX_AGGS] = {0};
  int rc = 0;
  for (int i = 0; i < c->ncols && !rc; i++) {
    const out_col *col = &c->cols[i];
    if (col->kind == SJ_COL_STRING || col->kind == SJ_COL_BYTES) {
      if (gather_strings(s->base.schema, i, col, c->rows, &bytes[i], &offsets[i])) {
        rc = sj_fail(err, SJ_ENOMEM, "out of memory");
        break;
      }
      vecs[i] = (pq_vector){.kind = PQ_VEC_BYTES, .bytes = bytes[i], .offsets = offsets[i], .valid = col->valid};
      continue;
    }
    if (col->kind == SJ_COL_HUGEINT) { /* exact sums: written as INT64 when they fit */
      if (!(narrowed[i] = malloc((c->rows ? c->rows : 1) * 8))) { rc = sj_fail(err, SJ_ENOMEM, "out of memory"); break; }
      /* a DECIMAL(18, s) holds less than 10^18 units */
      __int128 most = s->base.schema->lt[i].kind == PQ_LT_DECIMAL ? (__int128)999999999999999999 : INT64_MAX;
      for (uint64_t r = 0; r < c->rows && !rc; r++) {
        if ((!col->valid || col->valid[r]) && (col->h[r] > most || col->h[r] < -most - (most == INT64_MAX)))
          rc = sj_fail(err, SJ_EUSAGE, "%s: %s exceeds %s; write CSV (--out x.csv) for exact 128-bit sums",
                       s->path, s->base.schema->names[i], most == INT64_MAX ? "64 bits" : "18 decimal digits");
        narrowed[i][r] = (int64_t)col->h[r];
      }
    }
    vecs[i] = col->kind == SJ_COL_DOUBLE ? (pq_vector){.kind = PQ_VEC_F64, .f64 = col->d}
                                         : (pq_vector){.kind = PQ_VEC_I64, .i64 = narrowed[i] ? narrowed[i] : col->i};
    vecs[i].valid = col->valid;
  }
  if (!rc && last && !b->rg) { /* the piece in one chunk */
    rc = pq_rowgroup_encode(s->specs, c->ncols, vecs, c->rows, scratch, &b->rg, err);
  } else if (!rc) {
    if (!b->rg) rc = pq_rowgroup_begin(c->ncols, &b->rg, err);
    if (!rc && c->rows) rc = pq_rowgroup_add(s->specs, c->ncols, vecs, c->rows, scratch, b->rg, err);
    if (!rc && last) rc = pq_rowgroup_end(b->rg, err);
  }
  for (int i = 0; i < c->ncols; i++) {
    free(narrowed[i]);
    free(bytes[i]);
    free(offsets[i]);
  }
  return rc;
}

static int file_encode(out_sink *base, const out_chunk *c, int last, pq_scratch *scratch, out_blob *b, sj_error *err) {
  file_sink *s = (file_sink *)base;
  if (!c->rows && !b->rg) return 0;
  return s->pq ? encode_parquet(s, c, last, scratch, b, err) : encode_csv(base->schema, c, b, err);
}

static int file_write(out_sink *base, out_blob *b, sj_error *err) {
  file_sink *s = (file_sink *)base;
  int rc = 0;
  if (b->rg) rc = pq_file_append(s->pq, b->rg, err);
  else if (s->csv) rc = sj_output_write(s->csv, b->text, b->len, err);
  else if (b->len && fwrite(b->text, 1, b->len, s->stream) != b->len)
    rc = sj_fail(err, SJ_EIO, "writing the answer to its stream failed: %s", strerror(errno));
  out_blob_free(b);
  return rc;
}

static void file_free(file_sink *s) {
  free(s->path);
  free(s);
}

static int file_close(out_sink *base, char *explain, size_t n, sj_error *err) {
  (void)explain;
  (void)n;
  file_sink *s = (file_sink *)base;
  int rc = 0;
  if (s->pq) {
    rc = pq_file_close(s->pq, NULL, err);
  } else if (s->csv) {
    rc = sj_output_commit(s->csv, err);
  } else if (fflush(s->stream) != 0 || ferror(s->stream)) {
    rc = sj_fail(err, SJ_EIO, "writing the answer to stdout failed: %s", strerror(errno));
  }
  file_free(s);
  return rc;
}

static void file_abort(out_sink *base) {
  file_sink *s = (file_sink *)base;
  if (s->pq) pq_file_abort(s->pq);
  sj_output_abort(s->csv);
  file_free(s);
}

static const out_sink_ops file_ops = {file_encode, file_write, file_close, file_abort};

/* The CSV header, written as any chunk's text is. */
static int header_csv(file_sink *s, sj_error *err) {
  const out_schema *schema = s->base.schema;
  out_blob b = {0};
  FILE *f = open_memstream(&b.text, &b.len);
  if (!f) return sj_fail(err, SJ_ENOMEM, "out of memory");
  for (int c = 0; c < schema->ncols; c++) {
    if (c) putc(',', f);
    sj_csv_text(f, schema->names[c], strlen(schema->names[c]));
  }
  putc('\n', f);
  if (fclose(f) != 0) {
    out_blob_free(&b);
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  }
  return file_write(&s->base, &b, err);
}

int out_open(out_sink **out, const char *path, FILE *stream, const out_schema *schema, sj_error *err) {
  *out = NULL;
  file_sink *s = calloc(1, sizeof *s);
  if (!s) return sj_fail(err, SJ_ENOMEM, "out of memory");
  s->base = (out_sink){&file_ops, schema};
  size_t n = path ? strlen(path) : 0;
  int rc = 0;
  if (!path) {
    s->stream = stream;
  } else if (n > 8 && !strcmp(path + n - 8, ".parquet")) {
    for (int c = 0; c < schema->ncols; c++) {
      int dbl = schema->kinds[c] == SJ_COL_DOUBLE;
      int str = schema->kinds[c] == SJ_COL_STRING || schema->kinds[c] == SJ_COL_BYTES;
      const pq_logical *lt = &schema->lt[c];
      /* DATE and TIME in milliseconds are INT32 by the format's rules (PLAIN, as the writer has them) */
      int narrow = lt->kind == PQ_LT_DATE || (lt->kind == PQ_LT_TIME && lt->unit == PQ_UNIT_MILLIS);
      pq_type type = dbl ? PQ_DOUBLE : str ? PQ_BYTE_ARRAY : narrow ? PQ_INT32 : PQ_INT64;
      s->specs[c] = (pq_column_spec){schema->names[c], type,
                                     dbl || str || narrow || schema->nullable[c] ? PQ_ENC_PLAIN : PQ_ENC_DELTA,
                                     dbl ? PQ_CODEC_NONE : PQ_CODEC_ZSTD, schema->nullable[c], *lt};
    }
    if (!(s->path = strdup(path))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    if (!rc) rc = pq_file_open(&s->pq, path, s->specs, schema->ncols, err);
  } else if (n > 4 && !strcmp(path + n - 4, ".csv")) {
    rc = sj_output_create(&s->csv, path, err);
  } else {
    rc = sj_fail(err, SJ_EUSAGE, "--out %s: the name must end in .csv or .parquet", path);
  }
  if (!rc && !s->pq) rc = header_csv(s, err);
  if (rc) {
    file_abort(&s->base);
    return rc;
  }
  *out = &s->base;
  return 0;
}

/* ------------------------------------------------------------ every sink */

int out_encode(out_sink *s, const out_chunk *c, int last, pq_scratch *scratch, out_blob *b, sj_error *err) {
  if (c->bad_null)
    return sj_fail(err, SJ_ECORRUPT, "a NULL in the answer's column %s, which the input files' statistics "
                   "say cannot be NULL", s->schema->names[c->bad_null - 1]);
  return s->ops->encode(s, c, last, scratch, b, err);
}

int out_blob_append(out_blob *b, out_blob *more, sj_error *err) {
  if (!b->text) {
    *b = *more;
    memset(more, 0, sizeof *more);
    return 0;
  }
  char *t = realloc(b->text, b->len + more->len);
  if (t) {
    memcpy(t + b->len, more->text, more->len);
    b->text = t;
    b->len += more->len;
  }
  out_blob_free(more);
  return t ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory for the answer's rows");
}

void out_blob_free(out_blob *b) {
  free(b->text);
  if (b->rg) pq_rowgroup_free(b->rg);
  memset(b, 0, sizeof *b);
}

int out_write(out_sink *s, out_blob *b, sj_error *err) { return s->ops->write(s, b, err); }

int out_close(out_sink *s, char *explain, size_t n, sj_error *err) {
  if (explain && n) explain[0] = 0;
  return s->ops->close(s, explain, n, err);
}

void out_abort(out_sink *s) {
  if (s) s->ops->abort(s);
}

/* ------------------------------------------------------------ answer rows */

/* The precision of a DECIMAL the answer writes as INT64 (a sum: DuckDB's
** is DECIMAL(38, s); ours holds what fits in 18 digits, else refuses). */
enum { DECIMAL_DIGITS = 18 };

void plan_schema(const plan *p, out_schema *s) {
  memset(s, 0, sizeof *s);
  s->ncols = p->nby + p->nagg;
  for (int c = 0; c < s->ncols; c++) {
    int a = c - p->nby;
    if (c < p->nby) {
      plan_column_name(p, c, s->names[c], sizeof s->names[c]);
      s->kinds[c] = p->by_dict[c] ? SJ_COL_STRING : SJ_COL_INT;
      s->dict[c] = p->by_dict[c];
      s->nullable[c] = p->by_nullable[c];
      s->lt[c] = p->by_lt[c];
      continue;
    }
    plan_column_name(p, c, s->names[c], sizeof s->names[c]);
    int floaty = p->fn[a] == F_AVG || (p->agg_float[a] && p->fn[a] != F_COUNT);
    int huge = p->fn[a] == F_SUM && !p->agg_float[a];
    s->kinds[c] = floaty ? SJ_COL_DOUBLE : huge ? SJ_COL_HUGEINT : SJ_COL_INT;
    /* min and max keep their column's meaning, a sum its decimal scale */
    if (p->fn[a] == F_MIN || p->fn[a] == F_MAX) s->lt[c] = p->agg_lt[a];
    if (p->fn[a] == F_SUM && p->agg_lt[a].kind == PQ_LT_DECIMAL)
      s->lt[c] = (pq_logical){PQ_LT_DECIMAL, PQ_UNIT_MILLIS, 0, p->agg_lt[a].scale, DECIMAL_DIGITS};
    /* sum/min/max/avg of no value is NULL: inputs with NULLs, or no GROUP BY
    ** over an empty join */
    s->nullable[c] = p->fn[a] != F_COUNT_STAR && p->fn[a] != F_COUNT && (p->agg_nullable[a] || p->nby == 0);
  }
}


/* -------------------------------------------------------------- pipeline */

typedef struct piece {
  uint64_t rows;
  out_blob blob;
} piece;

typedef struct pipe_job pipe_job;

typedef struct worker_state { /* what one worker fills and encodes with */
  int ready;
  out_chunk chunk;
  pq_scratch *scratch;
  void *state;
  pipe_job *job;
  piece *piece; /* being filled */
} worker_state;

struct pipe_job {
  const out_pipeline *pl;
  piece *pieces;
  worker_state *workers;
  uint64_t rows;
};

/* The chunk's rows onto its piece's blob: a batch, or the piece's last rows. */
static int pipe_encode(worker_state *w, int last, sj_error *err) {
  w->piece->rows += w->chunk.rows;
  return out_encode(w->job->pl->sink, &w->chunk, last, w->scratch, &w->piece->blob, err);
}

static int pipe_flush(void *ctx, out_chunk *c, sj_error *err) {
  (void)c;
  return pipe_encode(ctx, 0, err);
}

static int pipe_make(void *ctx, size_t t, int worker, sj_error *err) {
  pipe_job *j = ctx;
  const out_pipeline *pl = j->pl;
  worker_state *w = &j->workers[worker];
  if (!w->ready) {
    w->ready = 1;
    chunk_init(&w->chunk, pl->schema);
    w->chunk.batch = pl->batch;
    w->chunk.flush = pipe_flush;
    w->chunk.flush_ctx = w;
    w->scratch = pq_scratch_new();
    w->state = pl->state_new(pl->ctx);
    w->job = j;
  }
  if (!w->scratch || !w->state) return sj_fail(err, SJ_ENOMEM, "out of memory");
  w->chunk.rows = 0;
  w->piece = &j->pieces[t];
  int rc = pl->fill(pl->ctx, w->state, t, &w->chunk, err);
  if (!rc) rc = pipe_encode(w, 1, err);
  return rc;
}

static int pipe_write(void *ctx, size_t t, sj_error *err) {
  pipe_job *j = ctx;
  const out_pipeline *pl = j->pl;
  int rc = out_write(pl->sink, &j->pieces[t].blob, err);
  j->rows += j->pieces[t].rows;
  if (pl->progress) pl->progress(pl->progress_ctx, t + 1, pl->npieces);
  return rc;
}

int out_pipeline_run(const out_pipeline *pl, uint64_t *rows_out, sj_error *err) {
  *rows_out = 0;
  int nworkers = sj_pool_threads(pl->pool);
  pipe_job j = {pl, calloc(pl->npieces ? pl->npieces : 1, sizeof *j.pieces), calloc((size_t)nworkers, sizeof *j.workers), 0};
  int rc = j.pieces && j.workers ? 0 : sj_fail(err, SJ_ENOMEM, "out of memory");
  sj_window w = {&j, pipe_make, pipe_write};
  if (!rc) rc = sj_pool_ordered(pl->pool, pl->npieces, &w, err);
  *rows_out = j.rows;
  for (int i = 0; j.workers && i < nworkers; i++) {
    worker_state *ws = &j.workers[i];
    if (!ws->ready) continue;
    if (ws->state) pl->state_free(ws->state);
    chunk_free(&ws->chunk);
    pq_scratch_free(ws->scratch);
  }
  for (size_t t = 0; j.pieces && t < pl->npieces; t++) out_blob_free(&j.pieces[t].blob);
  free(j.pieces);
  free(j.workers);
  return rc;
}
