/*
** extsort.c — the external sorter (extsort.h): runs appended to one
** unlinked file through a staging buffer, merged by a heap of readers that
** each hold a block of their run.
*/
#include "extsort.h"
#include "io.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

enum { BLOCK_BYTES = 1 << 16, MAX_FAN_IN = 4096, STAGE_BYTES = 1 << 20, STOP_EVERY = 1 << 16 };

typedef struct run {
  uint64_t off, n; /* records [off, off + n·rw) words of the file */
} run;

/* A run being merged: a block of its records in memory. */
typedef struct reader {
  run r;
  uint64_t next;       /* records read so far */
  uint64_t *block;
  size_t at, len;      /* the block's next record, its records */
} reader;

/* Runs merged: a heap of readers, smallest record on top, ties to the
** reader of the earlier run. */
typedef struct merge {
  reader *rd;
  size_t *heap;
  size_t n, k;
} merge;

struct sj_extsort {
  size_t rw;
  sj_order order;
  const char *temp_dir, *what;
  const sj_stop *stop;
  size_t fan_in, block_records;
  int fd; /* -1 until the first run */
  uint64_t end; /* the file's end, in words */
  run *runs;    /* in the order they were put */
  size_t nruns, runs_cap;
  uint64_t *stage; /* the run being written */
  size_t staged, stage_cap;
  run cur;
  size_t runs_put;
  uint64_t bytes;
  int passes;
  merge last;
  int started, popped;
};

static int oom(const sj_extsort *x, sj_error *err) { return sj_fail(err, SJ_ENOMEM, "out of memory sorting in %s file", x->what); }

int sj_extsort_new(sj_extsort **out, size_t record_words, const sj_order *order, const char *temp_dir,
                   const char *what, uint64_t memory, const sj_stop *stop, sj_error *err) {
  assert(record_words > 0 && (size_t)order->nulls < record_words);
  *out = NULL;
  sj_extsort *x = calloc(1, sizeof *x);
  if (!x) return sj_fail(err, SJ_ENOMEM, "out of memory");
  x->rw = record_words;
  x->order = *order;
  x->temp_dir = temp_dir;
  x->what = what;
  x->stop = stop;
  x->fd = -1;
  uint64_t fan_in = memory / BLOCK_BYTES;
  x->fan_in = fan_in < 2 ? 2 : fan_in > MAX_FAN_IN ? MAX_FAN_IN : (size_t)fan_in;
  uint64_t block = memory / x->fan_in / (record_words * 8);
  x->block_records = block < 1 ? 1 : block > (1u << 30) ? (size_t)1 << 30 : (size_t)block;
  *out = x;
  return 0;
}

/* ---------------------------------------------------------------- runs */

static int flush_stage(sj_extsort *x, sj_error *err) {
  int rc = sj_temp_write(x->fd, x->stage, x->staged * x->rw * 8, (x->cur.off + x->cur.n * x->rw) * 8, x->what, err);
  x->cur.n += x->staged;
  x->staged = 0;
  return rc;
}

int sj_extsort_put(sj_extsort *x, const uint64_t *record, sj_error *err) {
  assert(!x->started);
  if (!x->stage) {
    if (x->fd < 0 && sj_temp_open(x->temp_dir, x->what, &x->fd, err)) return SJ_EIO;
    x->stage_cap = STAGE_BYTES / (x->rw * 8) + 1;
    if (!(x->stage = malloc(x->stage_cap * x->rw * 8))) return oom(x, err);
  }
  if (x->staged == 0 && x->cur.n == 0) x->cur.off = x->end;
  memcpy(x->stage + x->staged * x->rw, record, x->rw * 8);
  return ++x->staged == x->stage_cap ? flush_stage(x, err) : 0;
}

/* Ends the run being written: it is x->cur, the file grows past it. */
static run take_run(sj_extsort *x) {
  run r = x->cur;
  x->end += r.n * x->rw;
  x->cur = (run){x->end, 0};
  return r;
}

int sj_extsort_end_run(sj_extsort *x, sj_error *err) {
  int rc = x->staged ? flush_stage(x, err) : 0;
  if (rc || x->cur.n == 0) return rc;
  if (x->nruns == x->runs_cap) {
    size_t cap = x->runs_cap ? 2 * x->runs_cap : 64;
    run *r = realloc(x->runs, cap * sizeof *r);
    if (!r) return oom(x, err);
    x->runs = r;
    x->runs_cap = cap;
  }
  x->runs_put++;
  x->bytes += x->cur.n * x->rw * 8;
  x->runs[x->nruns++] = take_run(x);
  return 0;
}

/* ----------------------------------------------------------- the merge */

static int fill(sj_extsort *x, reader *r, sj_error *err) {
  uint64_t left = r->r.n - r->next;
  r->len = left < x->block_records ? (size_t)left : x->block_records;
  r->at = 0;
  int rc = sj_temp_read(x->fd, r->block, r->len * x->rw * 8, (r->r.off + r->next * x->rw) * 8, x->what, err);
  r->next += r->len;
  return rc;
}

static int less(const sj_extsort *x, const merge *m, size_t a, size_t b) {
  const reader *ra = &m->rd[a], *rb = &m->rd[b];
  int c = sj_order_cmp(&x->order, ra->block + ra->at * x->rw, rb->block + rb->at * x->rw);
  return c < 0 || (c == 0 && a < b);
}

static void sift_down(const sj_extsort *x, merge *m, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, s = i;
    if (l < m->n && less(x, m, m->heap[l], m->heap[s])) s = l;
    if (l + 1 < m->n && less(x, m, m->heap[l + 1], m->heap[s])) s = l + 1;
    if (s == i) return;
    size_t t = m->heap[i];
    m->heap[i] = m->heap[s];
    m->heap[s] = t;
    i = s;
  }
}

static void merge_free(merge *m) {
  for (size_t i = 0; m->rd && i < m->k; i++) free(m->rd[i].block);
  free(m->rd);
  free(m->heap);
  memset(m, 0, sizeof *m);
}

/* Starts merging runs [first, first + k). */
static int merge_open(sj_extsort *x, merge *m, size_t first, size_t k, sj_error *err) {
  memset(m, 0, sizeof *m);
  m->k = k;
  m->rd = calloc(k ? k : 1, sizeof *m->rd);
  m->heap = calloc(k ? k : 1, sizeof *m->heap);
  int rc = m->rd && m->heap ? 0 : oom(x, err);
  for (size_t i = 0; i < k && !rc; i++) {
    m->rd[i].r = x->runs[first + i];
    if (!(m->rd[i].block = malloc(x->block_records * x->rw * 8))) rc = oom(x, err);
    else rc = fill(x, &m->rd[i], err);
    if (!rc && m->rd[i].len) m->heap[m->n++] = i;
  }
  for (size_t i = m->n / 2; !rc && i-- > 0;) sift_down(x, m, i);
  if (rc) merge_free(m);
  return rc;
}

static const uint64_t *merge_top(const sj_extsort *x, const merge *m) {
  const reader *r = m->n ? &m->rd[m->heap[0]] : NULL;
  return r ? r->block + r->at * x->rw : NULL;
}

static int merge_pop(sj_extsort *x, merge *m, sj_error *err) {
  reader *top = &m->rd[m->heap[0]];
  int rc = 0;
  if (++top->at == top->len) {
    if (top->next < top->r.n) rc = fill(x, top, err);
    else m->heap[0] = m->heap[--m->n];
  }
  if (m->n) sift_down(x, m, 0);
  return rc;
}

/* Merges runs [first, first + k) into one new run, *out. */
static int merge_pass(sj_extsort *x, size_t first, size_t k, run *out, sj_error *err) {
  merge m;
  int rc = merge_open(x, &m, first, k, err);
  if (rc) return rc;
  const uint64_t *e;
  for (uint64_t done = 0; !rc && (e = merge_top(x, &m)); done++) {
    if (done % STOP_EVERY == 0 && sj_stop_requested(x->stop)) rc = sj_fail(err, SJ_EINTR, "interrupted");
    if (!rc) rc = sj_extsort_put(x, e, err);
    if (!rc) rc = merge_pop(x, &m, err);
  }
  merge_free(&m);
  if (!rc && x->staged) rc = flush_stage(x, err);
  if (rc) return rc;
  for (size_t i = first; i < first + k; i++) /* not read again: give the disk space back where the system can */
    (void)fallocate(x->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(x->runs[i].off * 8),
                    (off_t)(x->runs[i].n * x->rw * 8));
  *out = take_run(x);
  return 0;
}

int sj_extsort_merge(sj_extsort *x, sj_error *err) {
  assert(!x->started && x->staged == 0 && x->cur.n == 0);
  int rc = 0;
  while (!rc && x->nruns > x->fan_in) { /* a pass: every fan_in consecutive runs into one, in their place */
    size_t n = 0;
    for (size_t first = 0; !rc && first < x->nruns; first += x->fan_in, n++) {
      size_t k = x->nruns - first < x->fan_in ? x->nruns - first : x->fan_in;
      run merged = x->runs[first];
      if (k > 1) rc = merge_pass(x, first, k, &merged, err);
      x->runs[n] = merged; /* n <= first: the runs still to merge are after it */
    }
    x->nruns = n;
    x->passes++;
  }
  free(x->stage);
  x->stage = NULL;
  if (!rc) rc = merge_open(x, &x->last, 0, x->nruns, err);
  x->started = 1;
  x->passes++;
  return rc;
}

int sj_extsort_next(sj_extsort *x, const uint64_t **record, sj_error *err) {
  assert(x->started);
  *record = NULL;
  if (x->popped) {
    int rc = merge_pop(x, &x->last, err);
    if (rc) return rc;
  }
  *record = merge_top(x, &x->last);
  x->popped = *record != NULL;
  return 0;
}

void sj_extsort_free(sj_extsort *x) {
  if (!x) return;
  merge_free(&x->last);
  if (x->fd >= 0) close(x->fd);
  free(x->stage);
  free(x->runs);
  free(x);
}

size_t sj_extsort_runs(const sj_extsort *x) { return x->runs_put; }
uint64_t sj_extsort_bytes(const sj_extsort *x) { return x->bytes; }
int sj_extsort_passes(const sj_extsort *x) { return x->passes; }
