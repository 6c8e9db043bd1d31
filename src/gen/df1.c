/*
** df1.c — the large table, drawn, encoded and written as a pipeline.
**
** Work is cut into tasks: one row group of one file each (the layout decides
** where files begin; row groups hold at most GEN_RG_ROWS rows).  A task
** moves through FILLING → READY → ENCODING → ENCODED → written:
**
**   notebook mode   the calling thread is the producer: it draws the numpy
**                   stream in the notebook's order (per key: group1 for all
**                   its rows, ..., then value) into the open tasks and marks
**                   each READY once its last value is drawn; worker threads
**                   encode READY tasks.
**   parallel mode   each worker cuts the next task, fills it from the
**                   counter-based streams, and encodes it.
**
** Either way, whichever thread finishes a task then writes every ENCODED
** task at the head of the queue, in order, so files come out the same
** whatever the thread count.  Memory stays bounded: at most `limit` tasks
** wait past FILLING, and the producer only holds the tasks of the key it is
** drawing (numpy draws a key's columns one after the other, so a key's
** group codes must all exist before its first value).
*/
#include "gen_internal.h"
#include "stream.h"
#include "../pq/writer.h"
#include "../util/pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GEN_RG_ROWS (UINT64_C(1) << 18)

typedef enum { T_FILLING, T_READY, T_ENCODING, T_ENCODED } task_state;

typedef struct gen_task {
  struct gen_task *next;
  uint64_t file;
  int first_in_file, last_in_file;
  uint64_t row0, rows; /* global rows [row0, row0 + rows) */
  size_t nruns;
  pq_run *runs;          /* the key column: (key, rows) */
  uint64_t *run_offset;  /* row number within its key of each run's first row */
  uint16_t *codes[GEN_MAX_GROUPS]; /* group value − 1 */
  double *value;
  pq_rowgroup *encoded;
  task_state state;
} gen_task;

static void task_free(gen_task *t) {
  if (!t) return;
  free(t->runs);
  free(t->run_offset);
  for (int g = 0; g < GEN_MAX_GROUPS; g++) free(t->codes[g]);
  free(t->value);
  pq_rowgroup_free(t->encoded);
  free(t);
}

/* ----------------------------------------------------------------- layout */

uint64_t gen_df1_files(const gen_params *p, uint64_t df1_keys, uint64_t total) {
  switch (p->layout) {
    case GEN_LAYOUT_PER_KEY: return df1_keys;
    case GEN_LAYOUT_ROWS: return total ? (total - 1) / p->rows_per_file + 1 : 1;
    case GEN_LAYOUT_SINGLE: return 1;
  }
  return 0;
}

void gen_df1_path(const gen_params *p, const char *out_dir, uint64_t i, char *buf, size_t n) {
  switch (p->layout) {
    case GEN_LAYOUT_PER_KEY:
      snprintf(buf, n, "%s/df1/key_%05llu.parquet", out_dir, (unsigned long long)i + 1);
      break;
    case GEN_LAYOUT_ROWS:
      snprintf(buf, n, "%s/df1/part_%05llu.parquet", out_dir, (unsigned long long)i);
      break;
    case GEN_LAYOUT_SINGLE: snprintf(buf, n, "%s/df1.parquet", out_dir); break;
  }
}

typedef struct cutter {
  const gen_params *p;
  const uint64_t *key_start; /* [df1_keys + 1]: global row of each key's first row */
  uint64_t df1_keys, total, nfiles;
  uint64_t file, pos;        /* the next task starts at global row pos of file */
  uint64_t key;              /* key index containing pos (monotone cursor) */
} cutter;

static void file_range(const cutter *c, uint64_t f, uint64_t *start, uint64_t *end) {
  switch (c->p->layout) {
    case GEN_LAYOUT_PER_KEY: *start = c->key_start[f]; *end = c->key_start[f + 1]; return;
    case GEN_LAYOUT_ROWS: {
      uint64_t n = c->p->rows_per_file;
      *start = f * n;
      *end = c->total - *start < n ? c->total : *start + n;
      return;
    }
    case GEN_LAYOUT_SINGLE: break;
  }
  *start = 0;
  *end = c->total;
}

static int cutter_more(const cutter *c) { return c->file < c->nfiles; }

/* Cuts the next task; fills its key runs; allocates its columns unless the
** worker does (parallel mode allocates at fill time, same sizes). */
static gen_task *cutter_next(cutter *c, int ngroups) {
  uint64_t fs, fe;
  file_range(c, c->file, &fs, &fe);
  if (c->pos < fs) c->pos = fs;
  gen_task *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->file = c->file;
  t->row0 = c->pos;
  t->rows = fe - c->pos < GEN_RG_ROWS ? fe - c->pos : GEN_RG_ROWS;
  t->first_in_file = c->pos == fs;
  t->last_in_file = c->pos + t->rows == fe;
  uint64_t a = t->row0, b = t->row0 + t->rows;
  if (t->rows) {
    while (c->key_start[c->key + 1] <= a) c->key++;
    size_t n = 0;
    for (uint64_t k = c->key; k < c->df1_keys && c->key_start[k] < b; k++) n++;
    t->runs = malloc(n * sizeof *t->runs);
    t->run_offset = malloc(n * sizeof *t->run_offset);
    if (!t->runs || !t->run_offset) { task_free(t); return NULL; }
    for (uint64_t k = c->key; k < c->df1_keys && c->key_start[k] < b; k++) {
      uint64_t lo = a > c->key_start[k] ? a : c->key_start[k];
      uint64_t hi = b < c->key_start[k + 1] ? b : c->key_start[k + 1];
      if (hi <= lo) continue;
      t->runs[t->nruns] = (pq_run){(int64_t)k + 1, hi - lo};
      t->run_offset[t->nruns++] = lo - c->key_start[k];
    }
    for (int g = 0; g < ngroups; g++)
      if (!(t->codes[g] = malloc(t->rows * sizeof(uint16_t)))) { task_free(t); return NULL; }
  }
  c->pos += t->rows;
  if (t->last_in_file) c->file++;
  return t;
}

/* --------------------------------------------------------------- pipeline */

typedef struct pipeline {
  const gen_params *p;
  const char *dir;
  int ncols;
  pq_column_spec specs[GEN_MAX_GROUPS + 3];
  char names[GEN_MAX_GROUPS][24];
  int64_t *dict[GEN_MAX_GROUPS]; /* 1..bound-1 */

  pthread_mutex_t mu;
  pthread_cond_t cv;
  cutter cut;
  gen_task *head, *tail; /* every task not yet written, in order */
  gen_task *to_encode;   /* the first task no encoder has taken */
  uint64_t waiting;      /* tasks past FILLING not yet written */
  uint64_t limit;
  const sj_stop *stop;
  np_rng *rng;  /* notebook mode: the stream the producer draws */
  int nworkers; /* threads besides the producer */
  int producer_done;
  int writing;
  int failed;
  sj_error err;

  /* Touched only by the thread that holds `writing`. */
  pq_file *file;
  uint64_t files_done, rows_done, bytes;
  gen_progress_fn progress;
  void *progress_ctx;
} pipeline;

static void fail_locked(pipeline *pl, const sj_error *e) {
  if (!pl->failed) {
    pl->failed = 1;
    pl->err = *e;
  }
  pthread_cond_broadcast(&pl->cv);
}

static void fail(pipeline *pl, const sj_error *e) {
  pthread_mutex_lock(&pl->mu);
  fail_locked(pl, e);
  pthread_mutex_unlock(&pl->mu);
}

static void append_locked(pipeline *pl, gen_task *t) {
  if (pl->tail) pl->tail->next = t;
  else pl->head = t;
  pl->tail = t;
  if (!pl->to_encode) pl->to_encode = t;
}

/* Parallel mode: every value a pure function of (seed, key, row, column). */
static int fill_parallel(const pipeline *pl, gen_task *t, sj_error *err) {
  const gen_params *p = pl->p;
  if (t->rows && !(t->value = malloc(t->rows * sizeof(double))))
    return sj_fail(err, SJ_ENOMEM, "out of memory");
  uint64_t at = 0, stride = (uint64_t)p->ngroups + 1;
  for (size_t r = 0; r < t->nruns; r++) {
    uint64_t s = cs_stream(p->seed, CS_TABLE_DF1, (uint64_t)t->runs[r].value);
    for (uint64_t i = 0; i < t->runs[r].count; i++, at++) {
      uint64_t base = (t->run_offset[r] + i) * stride;
      for (int g = 0; g < p->ngroups; g++)
        t->codes[g][at] = (uint16_t)cs_below(cs_at(s, base + (uint64_t)g), p->group_bounds[g] - 1);
      t->value[at] = cs_unit(cs_at(s, base + (uint64_t)p->ngroups));
    }
  }
  return 0;
}

static int encode_task(const pipeline *pl, gen_task *t, pq_scratch *s, int64_t *bucket,
                       sj_error *err) {
  if (t->rows == 0) return 0;
  const gen_params *p = pl->p;
  uint64_t at = 0;
  for (size_t r = 0; r < t->nruns; r++) {
    uint64_t b = t->run_offset[r] % p->buckets;
    for (uint64_t i = 0; i < t->runs[r].count; i++) {
      bucket[at++] = (int64_t)b + 1; /* np.resize(arange(1, buckets+1), n) */
      if (++b == p->buckets) b = 0;
    }
  }
  pq_vector v[GEN_MAX_GROUPS + 3];
  memset(v, 0, sizeof v);
  v[0] = (pq_vector){.kind = PQ_VEC_RUNS, .runs = t->runs, .run_count = t->nruns};
  v[1] = (pq_vector){.kind = PQ_VEC_I64, .i64 = bucket};
  for (int g = 0; g < p->ngroups; g++)
    v[2 + g] = (pq_vector){.kind = PQ_VEC_CODES, .codes = t->codes[g], .dict = pl->dict[g],
                           .dict_len = p->group_bounds[g] - 1};
  v[2 + p->ngroups] = (pq_vector){.kind = PQ_VEC_F64, .f64 = t->value};
  return pq_rowgroup_encode(pl->specs, pl->ncols, v, t->rows, s, &t->encoded, err);
}

static int write_task(pipeline *pl, gen_task *t, sj_error *err) {
  int rc = 0;
  if (t->first_in_file) {
    char path[4096];
    gen_df1_path(pl->p, pl->dir, t->file, path, sizeof path);
    if ((rc = pq_file_open(&pl->file, path, pl->specs, pl->ncols, err))) return rc;
    pq_file_defer_sync(pl->file); /* gen_run syncs once, then marks the dataset complete */
  }
  if (t->rows && (rc = pq_file_append(pl->file, t->encoded, err))) return rc;
  if (t->last_in_file) {
    uint64_t bytes = 0;
    pq_file *f = pl->file;
    pl->file = NULL;
    if ((rc = pq_file_close(f, &bytes, err))) return rc;
    pl->files_done++;
    pl->bytes += bytes;
  }
  pl->rows_done += t->rows;
  if (pl->progress) pl->progress(pl->progress_ctx, pl->rows_done, pl->cut.total);
  return 0;
}

/* Writes every ENCODED task at the head of the queue.  Called with the lock
** held; drops it around the writes. */
static void write_ready_locked(pipeline *pl) {
  while (!pl->failed && !pl->writing && pl->head && pl->head->state == T_ENCODED) {
    gen_task *t = pl->head;
    pl->writing = 1;
    pthread_mutex_unlock(&pl->mu);
    sj_error e;
    int rc = sj_stop_requested(pl->stop) ? sj_fail(&e, SJ_EINTR, "interrupted") : write_task(pl, t, &e);
    pthread_mutex_lock(&pl->mu);
    pl->writing = 0;
    if (rc) { fail_locked(pl, &e); break; }
    pl->head = t->next;
    if (!pl->head) pl->tail = NULL;
    pl->waiting--;
    task_free(t);
    pthread_cond_broadcast(&pl->cv);
  }
}

/* Takes the next task to encode, or NULL when there is none (yet, if
** `wait` is 0; ever, if 1).  Called with the lock held. */
static gen_task *take_locked(pipeline *pl, int wait) {
  for (;;) {
    if (pl->failed) return NULL;
    if (pl->p->rng == GEN_RNG_PARALLEL) {
      if (!cutter_more(&pl->cut)) return NULL;
      if (pl->waiting < pl->limit) {
        gen_task *t = cutter_next(&pl->cut, 0);
        if (!t) {
          sj_error e;
          sj_fail(&e, SJ_ENOMEM, "out of memory");
          fail_locked(pl, &e);
          return NULL;
        }
        append_locked(pl, t);
        pl->to_encode = NULL;
        pl->waiting++;
        return t;
      }
    } else {
      gen_task *t = pl->to_encode;
      if (t && t->state == T_READY) {
        pl->to_encode = t->next;
        return t;
      }
      if (!t && pl->producer_done) return NULL;
    }
    if (!wait) return NULL;
    pthread_cond_wait(&pl->cv, &pl->mu);
  }
}

typedef struct worker_scratch {
  pq_scratch *pq;
  int64_t *bucket;
} worker_scratch;

static int scratch_init(worker_scratch *w) {
  w->pq = pq_scratch_new();
  w->bucket = malloc(GEN_RG_ROWS * sizeof(int64_t));
  return w->pq && w->bucket ? 0 : -1;
}

static void scratch_done(worker_scratch *w) {
  pq_scratch_free(w->pq);
  free(w->bucket);
}

/* Fills (parallel mode), encodes and writes task t, which the caller has
** taken.  Called with the lock held; returns with it held. */
static void process_locked(pipeline *pl, gen_task *t, worker_scratch *w) {
  t->state = T_ENCODING;
  pthread_mutex_unlock(&pl->mu);
  sj_error e;
  int rc = 0;
  if (pl->p->rng == GEN_RNG_PARALLEL) {
    for (int g = 0; g < pl->p->ngroups && !rc; g++)
      if (t->rows && !(t->codes[g] = malloc(t->rows * sizeof(uint16_t))))
        rc = sj_fail(&e, SJ_ENOMEM, "out of memory");
    if (!rc) rc = fill_parallel(pl, t, &e);
  }
  if (!rc) rc = encode_task(pl, t, w->pq, w->bucket, &e);
  /* The raw columns are not needed once encoded: free them early. */
  for (int g = 0; g < GEN_MAX_GROUPS; g++) { free(t->codes[g]); t->codes[g] = NULL; }
  free(t->value);
  t->value = NULL;
  pthread_mutex_lock(&pl->mu);
  if (rc) {
    fail_locked(pl, &e);
    return;
  }
  t->state = T_ENCODED;
  write_ready_locked(pl);
}

/* A worker thread's loop: encode and write tasks until none is left. */
static void work(pipeline *pl, worker_scratch *w) {
  pthread_mutex_lock(&pl->mu);
  gen_task *t;
  while ((t = take_locked(pl, 1))) process_locked(pl, t, w);
  pthread_mutex_unlock(&pl->mu);
}

/* A pool task: one worker's loop. */
static int worker_main(void *ctx, size_t i, int worker, sj_error *err) {
  (void)i;
  (void)worker;
  (void)err; /* failures go to the pipeline, which every thread watches */
  pipeline *pl = ctx;
  worker_scratch w;
  if (scratch_init(&w)) {
    sj_error e;
    sj_fail(&e, SJ_ENOMEM, "out of memory");
    fail(pl, &e);
  } else {
    work(pl, &w);
  }
  scratch_done(&w);
  return 0;
}

/* ------------------------------------------------------ notebook producer */

/* Marks READY every task that ends at or before row `upto`, in order.  When
** the queue is full (or there is no worker at all) the producer encodes
** READY tasks itself rather than sleeping: with two cores, drawing alone
** would leave one of them half idle. */
static gen_task *release(pipeline *pl, gen_task *open, uint64_t upto, int nworkers,
                         worker_scratch *self) {
  while (open && open->row0 + open->rows <= upto) {
    pthread_mutex_lock(&pl->mu);
    open->state = T_READY;
    pl->waiting++;
    gen_task *next = open->next; /* read under the lock: a worker may free open */
    pthread_cond_broadcast(&pl->cv);
    while (!pl->failed && (pl->waiting >= pl->limit || nworkers == 0)) {
      gen_task *t = take_locked(pl, 0);
      if (t) process_locked(pl, t, self);
      else if (nworkers == 0) break;
      else pthread_cond_wait(&pl->cv, &pl->mu);
    }
    pthread_mutex_unlock(&pl->mu);
    open = next;
  }
  return open;
}

static int produce_notebook(pipeline *pl, np_rng *rng, int nworkers,
                            worker_scratch *self, sj_error *err) {
  const gen_params *p = pl->p;
  cutter *c = &pl->cut;
  gen_task *open = NULL; /* the oldest task still FILLING */
  for (uint64_t k = 0; k <= c->df1_keys; k++) {
    uint64_t s = k < c->df1_keys ? c->key_start[k] : c->total;
    uint64_t e = k < c->df1_keys ? c->key_start[k + 1] : c->total;
    /* Cut every task that starts by the end of this key, empty files
    ** included; one starting exactly at the end is merely cut early. */
    for (;;) {
      pthread_mutex_lock(&pl->mu);
      int more = cutter_more(c) && c->pos <= e && !pl->failed;
      gen_task *t = more ? cutter_next(c, p->ngroups) : NULL;
      if (t) append_locked(pl, t);
      int failed = pl->failed;
      pthread_mutex_unlock(&pl->mu);
      if (failed) return 0;
      if (!more) break;
      if (!t) return sj_fail(err, SJ_ENOMEM, "out of memory");
      if (!open) open = t;
    }
    if (k == c->df1_keys) break;
    if (sj_stop_requested(pl->stop)) return sj_fail(err, SJ_EINTR, "interrupted");
    /* group1..groupN over the key's rows, then value, as the notebook draws. */
    for (int g = 0; g <= p->ngroups; g++) {
      for (gen_task *t = open; t && t->row0 < e; t = t->next) {
        uint64_t lo = s > t->row0 ? s : t->row0;
        uint64_t hi = e < t->row0 + t->rows ? e : t->row0 + t->rows;
        if (hi <= lo) continue;
        if (g < p->ngroups) {
          np_randint_offsets(rng, p->group_bounds[g] - 2, t->codes[g] + (lo - t->row0), hi - lo);
        } else {
          if (!t->value && !(t->value = malloc(t->rows * sizeof(double))))
            return sj_fail(err, SJ_ENOMEM, "out of memory");
          np_random_fill(rng, t->value + (lo - t->row0), hi - lo);
        }
      }
    }
    open = release(pl, open, e, nworkers, self);
  }
  release(pl, open, c->total, nworkers, self);
  return 0;
}

/* Notebook mode's calling thread: draws, then tells the workers it is done. */
static int produce_beside(void *ctx, sj_error *err) {
  pipeline *pl = ctx;
  worker_scratch self = {0};
  int rc = scratch_init(&self) ? sj_fail(err, SJ_ENOMEM, "out of memory") : 0;
  if (!rc) rc = produce_notebook(pl, pl->rng, pl->nworkers, &self, err);
  if (rc) fail(pl, err);
  scratch_done(&self);
  pthread_mutex_lock(&pl->mu);
  pl->producer_done = 1;
  pthread_cond_broadcast(&pl->cv);
  pthread_mutex_unlock(&pl->mu);
  return rc;
}

/* ------------------------------------------------------------------ entry */

int gen_write_df1(const gen_params *p, np_rng *rng, const uint64_t *rows, uint64_t df1_keys,
                  const char *dir, gen_progress_fn progress, void *progress_ctx, const sj_stop *stop,
                  gen_report *report, uint64_t *files_done, sj_error *err) {
  pipeline *pl = calloc(1, sizeof *pl);
  uint64_t *key_start = malloc((df1_keys + 1) * sizeof *key_start);
  int rc = 0;
  if (!pl || !key_start) { free(pl); free(key_start); return sj_fail(err, SJ_ENOMEM, "out of memory"); }
  key_start[0] = 0;
  for (uint64_t k = 0; k < df1_keys; k++) key_start[k + 1] = key_start[k] + rows[k];
  uint64_t total = key_start[df1_keys];

  pl->p = p;
  pl->dir = dir;
  pl->progress = progress;
  pl->progress_ctx = progress_ctx;
  pl->stop = stop;
  pl->rng = rng;
  pl->cut = (cutter){.p = p, .key_start = key_start, .df1_keys = df1_keys, .total = total,
                     .nfiles = gen_df1_files(p, df1_keys, total)};
  pl->specs[0] = (pq_column_spec){"key", PQ_INT64, PQ_ENC_DICTIONARY, p->codec, 0, {0}};
  pl->specs[1] = (pq_column_spec){"bucket", PQ_INT64, PQ_ENC_DELTA, p->codec, 0, {0}};
  for (int g = 0; g < p->ngroups; g++) {
    snprintf(pl->names[g], sizeof pl->names[g], "group%d", g + 1);
    pl->specs[2 + g] = (pq_column_spec){pl->names[g], PQ_INT64, PQ_ENC_DICTIONARY, p->codec, 0, {0}};
    uint32_t n = p->group_bounds[g] - 1;
    if (!(pl->dict[g] = malloc(n * sizeof(int64_t)))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n && pl->dict[g]; i++) pl->dict[g][i] = (int64_t)i + 1;
  }
  /* Random doubles do not compress (measured: zstd saves under 4%, see the
  ** README), so value is always stored plain and uncompressed. */
  pl->specs[2 + p->ngroups] = (pq_column_spec){"value", PQ_DOUBLE, PQ_ENC_PLAIN, PQ_CODEC_NONE, 0, {0}};
  pl->ncols = p->ngroups + 3;

  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int threads = p->threads ? p->threads : (int)(cores > 0 ? cores : 1);
  /* Notebook mode: this thread draws, the others encode and write. */
  int nworkers = p->rng == GEN_RNG_NOTEBOOK ? threads - 1 : threads;
  sj_pool *pool = NULL;
  if (!rc && nworkers > 0 && !(rc = sj_pool_new(&pool, nworkers, stop, err))) nworkers = sj_pool_threads(pool);
  pl->limit = 2 * (uint64_t)(nworkers > 0 ? nworkers : 1) + 2;
  pthread_mutex_init(&pl->mu, NULL);
  pthread_cond_init(&pl->cv, NULL);
  pl->nworkers = nworkers;
  if (!rc && pool)
    rc = sj_pool_run_beside(pool, (size_t)nworkers, worker_main, pl,
                            p->rng == GEN_RNG_NOTEBOOK ? produce_beside : NULL, err);
  else if (!rc)
    rc = produce_beside(pl, err);
  sj_pool_free(pool);

  if (pl->failed && !rc) {
    *err = pl->err;
    rc = pl->err.code ? pl->err.code : SJ_EIO;
  }
  if (!rc && pl->head) rc = sj_fail(err, SJ_EIO, "internal error: tasks left unwritten");
  pq_file_abort(pl->file);
  while (pl->head) {
    gen_task *t = pl->head;
    pl->head = t->next;
    task_free(t);
  }
  report->df1_rows += pl->rows_done;
  report->df1_files += pl->files_done;
  report->bytes += pl->bytes;
  *files_done = pl->files_done;
  for (int g = 0; g < GEN_MAX_GROUPS; g++) free(pl->dict[g]);
  pthread_mutex_destroy(&pl->mu);
  pthread_cond_destroy(&pl->cv);
  free(pl);
  free(key_start);
  return rc;
}
