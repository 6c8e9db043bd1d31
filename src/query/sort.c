/*
** sort.c — the answer put back into the order the user's GROUP BY names.
**
** The merge plan streams GROUP BY one side's columns then the other's.  A
** by-list that interleaves the sides (group1, df2_group, bucket) is run as
** the same columns reordered (df2_group, group1, bucket) and its answer
** rows handed to the sink made here, which sorts them by the user's order
** and writes them, in the user's column order, to the final sink.  Answer
** rows are distinct in their by-values, so sorting is all there is to do:
** no folding, and the order is total, whatever the threads or the runs.
**
** Rows are kept as fixed-width records in the final column order: a word
** of NULL bits (bit j = column j), then a word per column (two for 128-bit
** sums).  Past `budget` bytes of records the buffer is sorted and put to
** the external sorter (extsort.h) as a run; at the end the sorter merges
** the runs.  The last merge, or the sort in memory, hands the answer out
** in chunks that out_pipeline encodes on all threads.  Memory: the budget
** (records and their sort keys, or the runs' blocks), plus the chunks in
** flight.
*/
#include "sort.h"
#include "layout.h"
#include "../util/extsort.h"

#include <pthread.h>
#include <stdlib.h>

#define SORT_FILE "the sort's" /* "... file" in messages */
enum { SORT_CHUNK_ROWS = 1 << 18 };

typedef struct out_sorter {
  out_sink base; /* the sink it is (its ops below) */
  out_sink *final;
  const out_schema *fs; /* the final sink's schema */
  int ncols, nby;
  int pos[MAX_BY + MAX_AGGS];  /* engine column c is final column pos[c] */
  int slot[MAX_BY + MAX_AGGS]; /* final column j: word of the record */
  size_t rw;                   /* words per record */
  uint64_t *buf;               /* records in memory */
  size_t n, cap, budget_records;
  uint64_t budget;
  budget *mem;
  const char *temp_dir;
  const sj_stop *stop;
  sj_pool *pool;
  void (*progress)(void *ctx, uint64_t done, uint64_t total);
  void *progress_ctx;
  sj_order order;  /* the records' by-columns */
  sj_extsort *runs; /* NULL until the first spill */
  uint64_t rows;
  double seconds;
} out_sorter;

/* The record buffer's capacity, told to the budget. */
static void set_cap(out_sorter *s, size_t cap) {
  if (s->mem) budget_hold(s->mem, MEM_SORT, ((int64_t)cap - (int64_t)s->cap) * (int64_t)s->rw * 8);
  s->cap = cap;
}

/* ------------------------------------------------------------- records */

static int cmp_index(const void *x, const void *y, void *ctx) {
  const out_sorter *s = ctx;
  return sj_order_cmp(&s->order, s->buf + (size_t)*(const uint32_t *)x * s->rw, s->buf + (size_t)*(const uint32_t *)y * s->rw);
}

/* Engine chunk c as records, in out->text (any thread). */
static int sort_encode(out_sink *base, const out_chunk *c, int last, pq_scratch *scratch, out_blob *out, sj_error *err) {
  (void)scratch;
  (void)last;
  const out_sorter *s = (const out_sorter *)base;
  size_t bytes = (size_t)c->rows * s->rw * 8;
  if (!bytes) return 0;
  char *text = realloc(out->text, out->len + bytes); /* appended to the piece's records */
  if (!text) return sj_fail(err, SJ_ENOMEM, "out of memory sorting the answer");
  out->text = text;
  uint64_t *rec = (uint64_t *)(text + out->len);
  for (uint64_t r = 0; r < c->rows; r++) {
    uint64_t *e = rec + (size_t)r * s->rw;
    e[0] = 0;
    for (int k = 0; k < s->ncols; k++) {
      const out_col *col = &c->cols[k];
      int j = s->pos[k];
      if (c->nullable[k] && !col->valid[r]) e[0] |= (uint64_t)1 << j;
      if (col->kind == SJ_COL_HUGEINT) memcpy(e + s->slot[j], &col->h[r], 16);
      else if (col->kind == SJ_COL_DOUBLE) memcpy(e + s->slot[j], &col->d[r], 8);
      else memcpy(e + s->slot[j], &col->i[r], 8);
    }
  }
  out->len += bytes;
  return 0;
}

/* The records' by-values packed into one code as the merge plan packs its
** inner columns (merge_layout_pack: each column's range, here the buffer's,
** NULL as the value after its largest, the first column in the high bits),
** so codes sort as s->order does: then the buffer sorts by radix.
** Returns the code's bits, or -1 when they do not fit. */
static int pack_keys(const out_sorter *s, radix_pair *pairs) {
  merge_layout lay;
  memset(&lay, 0, sizeof lay);
  lay.ncols = s->nby;
  int seen[MAX_BY] = {0}, nulls[MAX_BY] = {0};
  for (size_t i = 0; i < s->n; i++) {
    const uint64_t *e = s->buf + i * s->rw;
    for (int j = 0; j < s->nby; j++) {
      if (e[0] >> j & 1) { nulls[j] = 1; continue; }
      int64_t v = (int64_t)e[s->slot[j]];
      if (!seen[j] || v < lay.lo[j]) lay.lo[j] = v;
      if (!seen[j] || v > lay.hi[j]) lay.hi[j] = v;
      seen[j] = 1;
    }
  }
  if (!merge_layout_pack(&lay, nulls)) return -1;
  for (size_t i = 0; i < s->n; i++) {
    const uint64_t *e = s->buf + i * s->rw;
    uint64_t k = 0;
    for (int j = 0; j < s->nby; j++)
      k |= (e[0] >> j & 1 ? lay.null_code[j] : (uint64_t)e[s->slot[j]] - (uint64_t)lay.lo[j]) << lay.shift[j];
    pairs[i] = (radix_pair){k, (uint32_t)i, 0};
  }
  return lay.bits;
}

/* The buffer's order: pairs whose .a are record indexes, sorted; NULL when
** out of memory.  Free it. */
static radix_pair *sort_order(out_sorter *s, radix_pair **block) {
  radix_pair *pairs = malloc((s->n ? s->n : 1) * 2 * sizeof *pairs);
  *block = pairs;
  if (!pairs) return NULL;
  int bits = pack_keys(s, pairs);
  if (bits >= 0) return radix_sort(pairs, pairs + s->n, s->n, bits);
  uint32_t *ix = (uint32_t *)(pairs + s->n); /* wide keys: compare the records */
  for (size_t i = 0; i < s->n; i++) ix[i] = (uint32_t)i;
  qsort_r(ix, s->n, sizeof *ix, cmp_index, s);
  for (size_t i = 0; i < s->n; i++) pairs[i].a = ix[i];
  return pairs;
}

/* Sorts the buffer into a new run of the sorter and empties it. */
static int spill_buffer(out_sorter *s, sj_error *err) {
  int rc = s->runs ? 0 : sj_extsort_new(&s->runs, s->rw, &s->order, s->temp_dir, SORT_FILE, s->budget, s->stop, err);
  if (rc) return rc;
  radix_pair *block, *order = sort_order(s, &block);
  if (!order) rc = sj_fail(err, SJ_ENOMEM, "out of memory sorting the answer");
  for (size_t i = 0; i < s->n && !rc; i++) rc = sj_extsort_put(s->runs, s->buf + (size_t)order[i].a * s->rw, err);
  if (!rc) rc = sj_extsort_end_run(s->runs, err);
  free(block);
  s->n = 0;
  return rc;
}

/* ------------------------------------------------------ the final write */

/* Appends record e to chunk c (which has room) in the final schema. */
static void put_record(const out_sorter *s, out_chunk *c, const uint64_t *e) {
  uint64_t r = c->rows++;
  for (int j = 0; j < s->ncols; j++) {
    out_col *col = &c->cols[j];
    if (col->kind == SJ_COL_HUGEINT) memcpy(&col->h[r], e + s->slot[j], 16);
    else if (col->kind == SJ_COL_DOUBLE) memcpy(&col->d[r], e + s->slot[j], 8);
    else memcpy(&col->i[r], e + s->slot[j], 8);
    set_valid(c, j, r, (int)(e[0] >> j & 1));
  }
}

/* The answer's chunks go through out_pipeline, encoded on all threads.
** In memory, chunk t is records [t·CHUNK, (t+1)·CHUNK) of the order; from
** runs, the chunks are popped off the heap in turn (a thread waits for the
** chunk before its own), and encoded while the next is merged. */
typedef struct final_job {
  out_sorter *s;
  const radix_pair *order; /* in memory */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t turn;
  int failed;
} final_job;

static void *final_state(void *ctx) { return ctx; }
static void final_state_free(void *state) { (void)state; }

static int fill_sorted(void *ctx, void *state, size_t t, out_chunk *c, sj_error *err) {
  (void)state;
  final_job *j = ctx;
  out_sorter *s = j->s;
  size_t lo = t * SORT_CHUNK_ROWS, hi = lo + SORT_CHUNK_ROWS < s->n ? lo + SORT_CHUNK_ROWS : s->n;
  if (chunk_reserve(c, hi - lo)) return sj_fail(err, SJ_ENOMEM, "out of memory writing the answer");
  for (size_t i = lo; i < hi; i++) put_record(s, c, s->buf + (size_t)j->order[i].a * s->rw);
  return 0;
}

static int fill_merged(void *ctx, void *state, size_t t, out_chunk *c, sj_error *err) {
  (void)state;
  final_job *j = ctx;
  out_sorter *s = j->s;
  /* A failed chunk still takes its turn, or chunk t + 1 would wait for it. */
  int rc = chunk_reserve(c, SORT_CHUNK_ROWS) ? sj_fail(err, SJ_ENOMEM, "out of memory writing the answer") : 0;
  pthread_mutex_lock(&j->mu);
  /* The window makes every chunk it hands out, so chunk t - 1 comes. */
  while (!j->failed && j->turn != t) pthread_cond_wait(&j->cv, &j->mu);
  if (!rc && j->failed) rc = sj_fail(err, SJ_EIO, "sorting the answer failed"); /* the chunk before failed */
  const uint64_t *e;
  while (!rc && c->rows < SORT_CHUNK_ROWS && !(rc = sj_extsort_next(s->runs, &e, err)) && e) put_record(s, c, e);
  if (rc) j->failed = 1;
  j->turn = t + 1;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  return rc;
}

/* Writes the answer, in memory (no runs) or merged from the runs. */
static int write_final(out_sorter *s, sj_error *err) {
  final_job j;
  memset(&j, 0, sizeof j);
  j.s = s;
  radix_pair *block = NULL;
  int rc = 0;
  if (!s->runs && !(j.order = sort_order(s, &block))) rc = sj_fail(err, SJ_ENOMEM, "out of memory sorting the answer");
  pthread_mutex_init(&j.mu, NULL);
  pthread_cond_init(&j.cv, NULL);
  size_t pieces = (size_t)((s->rows + SORT_CHUNK_ROWS - 1) / SORT_CHUNK_ROWS);
  out_pipeline pl = {s->final, s->fs, s->pool, pieces, 0, &j, final_state, final_state_free,
                     s->runs ? fill_merged : fill_sorted, s->progress, s->progress_ctx};
  uint64_t rows = 0;
  if (!rc) rc = out_pipeline_run(&pl, &rows, err);
  assert(rc || rows == s->rows);
  pthread_cond_destroy(&j.cv);
  pthread_mutex_destroy(&j.mu);
  free(block);
  return rc;
}

/* ---------------------------------------------------------------- the sink */

/* Takes a blob of records from sort_encode (the calling thread, in order). */
static int sort_add(out_sink *base, out_blob *b, sj_error *err) {
  out_sorter *s = (out_sorter *)base;
  double t0 = sj_clock();
  size_t k = b->len / (s->rw * 8);
  int rc = 0;
  if (s->n + k > s->cap) {
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < s->n + k) cap *= 2;
    if (cap > s->budget_records) cap = s->n + k > s->budget_records ? s->n + k : s->budget_records;
    uint64_t *nb = realloc(s->buf, cap * s->rw * 8);
    if (!nb) rc = sj_fail(err, SJ_ENOMEM, "out of memory sorting the answer");
    else s->buf = nb, set_cap(s, cap);
  }
  if (!rc && k) {
    memcpy(s->buf + s->n * s->rw, b->text, k * s->rw * 8);
    s->n += k;
    s->rows += k;
  }
  out_blob_free(b);
  if (!rc && s->n >= s->budget_records) {
    rc = spill_buffer(s, err);
    if (!rc && s->cap > s->budget_records) { /* a chunk larger than the budget grew it: give it back */
      free(s->buf);
      s->buf = NULL;
      set_cap(s, 0);
    }
  }
  s->seconds += (sj_clock() - t0);
  return rc;
}

static void sort_free(out_sorter *s) {
  if (!s) return;
  sj_extsort_free(s->runs);
  set_cap(s, 0);
  free(s->buf);
  free(s);
}

static int sort_close(out_sink *base, char *explain, size_t n, sj_error *err) {
  out_sorter *s = (out_sorter *)base;
  double t0 = sj_clock();
  int rc = 0;
  if (s->runs) {
    if (s->n) rc = spill_buffer(s, err);
    free(s->buf);
    s->buf = NULL;
    set_cap(s, 0);
    if (!rc) rc = sj_extsort_merge(s->runs, err);
  }
  if (!rc) rc = write_final(s, err);
  s->seconds += (sj_clock() - t0);
  if (!rc && explain) {
    char by[1200];
    size_t at = 0;
    by[0] = 0;
    for (int j = 0; j < s->nby && at < sizeof by; j++)
      at += (size_t)snprintf(by + at, sizeof by - at, "%s%s", j ? ", " : "", s->fs->names[j]);
    if (!s->runs)
      snprintf(explain, n, "  sort   %llu answer rows re-sorted by (%s) in memory, %.3f s\n",
               (unsigned long long)s->rows, by, s->seconds);
    else
      snprintf(explain, n,
               "  sort   %llu answer rows re-sorted by (%s): %zu sorted runs (%.1f MB, in a temporary file, "
               "removed) merged in %d pass%s, %.3f s\n",
               (unsigned long long)s->rows, by, sj_extsort_runs(s->runs), (double)sj_extsort_bytes(s->runs) / 1e6,
               sj_extsort_passes(s->runs), sj_extsort_passes(s->runs) > 1 ? "es" : "", s->seconds);
  }
  sort_free(s);
  return rc;
}

static void sort_abort(out_sink *base) { sort_free((out_sorter *)base); }

static const out_sink_ops sort_ops = {sort_encode, sort_add, sort_close, sort_abort};

int out_open_sorted(out_sink **out, out_sink *final, const out_schema *engine, const out_schema *fs, const int *pos,
                    int nby, const sort_budget *b, sj_error *err) {
  *out = NULL;
  out_sorter *s = calloc(1, sizeof *s);
  if (!s) return sj_fail(err, SJ_ENOMEM, "out of memory");
  s->base = (out_sink){&sort_ops, engine};
  s->final = final;
  s->fs = fs;
  s->ncols = fs->ncols;
  s->nby = nby;
  s->temp_dir = b->temp_dir;
  s->stop = b->stop;
  s->pool = b->pool;
  s->progress = b->progress;
  s->progress_ctx = b->progress_ctx;
  s->rw = 1;
  for (int j = 0; j < fs->ncols; j++) {
    assert(fs->kinds[j] != SJ_COL_BYTES); /* records hold values, not pointers into pages */
    s->slot[j] = (int)s->rw;
    s->rw += fs->kinds[j] == SJ_COL_HUGEINT ? 2 : 1;
  }
  for (int j = 0; j < nby; j++) sj_order_add(&s->order, s->slot[j], j); /* NULL flags in word 0 */
  for (int c = 0; c < fs->ncols; c++) s->pos[c] = pos[c];
  s->budget = b->bytes;
  s->mem = b->mem;
  s->budget_records = (size_t)(b->bytes / (s->rw * 8 + 2 * sizeof(radix_pair))); /* a record and its sort pairs */
  if (s->budget_records < 1) s->budget_records = 1;
  if (s->budget_records > (size_t)1 << 31) s->budget_records = (size_t)1 << 31; /* indexes are 32-bit */
  *out = &s->base;
  return 0;
}
