/*
** df1.c — the large table, drawn, encoded and written on the pool's ordered
** window (sj_pool_ordered).
**
** Work is cut into tasks: one row group of one file each (the layout decides
** where files begin; row groups hold at most GEN_RG_ROWS rows).  Task t is
** item t of the window: make(t) runs on any worker, write(t) on the calling
** thread in task order, so files come out the same whatever the thread count.
**
** make(t) first waits for its turn: tasks are cut in order, and in notebook
** mode drawn in order, by one worker at a time.
**   notebook mode   the turn's holder draws every key that starts in its task
**                   from the numpy stream in the notebook's order (per key:
**                   group1 for all its rows, ..., then value).  A key that runs
**                   past the task is drawn whole into the tasks that follow,
**                   cut ahead for it: numpy draws a key's columns one after
**                   the other, so its group codes must all exist before its
**                   first value.
**   parallel mode   every value is a pure function of (seed, key, row,
**                   column): the turn only cuts, and filling runs beside the
**                   other workers'.
** Then it passes the turn on and encodes its task while the next worker
** draws.  Memory stays bounded by the window (2·threads + 2 tasks ahead of
** the writer) plus the tasks of one key drawn ahead.
*/
#include "gen_internal.h"
#include "stream.h"
#include "../pq/writer.h"
#include "../util/pool.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_RG_ROWS (UINT64_C(1) << 18)

typedef struct gen_task {
  uint64_t file;
  int first_in_file, last_in_file;
  uint64_t row0, rows; /* global rows [row0, row0 + rows) */
  size_t nruns;
  pq_run *runs;          /* the key column: (key, rows) */
  uint64_t *run_offset;  /* row number within its key of each run's first row */
  uint16_t *codes[GEN_MAX_GROUPS]; /* group value − 1 */
  double *value;
  pq_rowgroup *encoded;
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

/* Cuts the next task and fills its key runs; allocates the codes of
** `ngroups` groups (notebook mode, for the turn to draw into; parallel mode
** passes 0 and allocates when it fills). */
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

/* ------------------------------------------------------------------- job */

typedef struct worker_scratch {
  int ready;
  pq_scratch *pq;
  int64_t *bucket;
} worker_scratch;

typedef struct df1_job {
  const gen_params *p;
  const char *dir;
  int ncols;
  pq_column_spec specs[GEN_MAX_GROUPS + 3];
  char names[GEN_MAX_GROUPS][24];
  int64_t *dict[GEN_MAX_GROUPS]; /* 1..bound-1 */
  worker_scratch *workers;       /* one per worker of the pool */
  const sj_stop *stop;

  /* The turn: only the holder of turn t touches cut, rng, drawn and the
  ** tasks not yet cut's slots; tasks[t] is then the made task's until it is
  ** written. */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t turn;     /* the task whose make may cut and draw now */
  int broken;      /* a turn failed: later tasks are not cut or drawn */
  cutter cut;
  size_t ncut;     /* tasks cut: tasks[0, ncut) */
  uint64_t drawn;  /* notebook mode: keys drawn, in order */
  np_rng *rng;     /* notebook mode: the stream, continued */
  gen_task **tasks;
  size_t ntasks;

  /* The writer's: one write at a time, in task order. */
  pq_file *file;
  uint64_t files_done, rows_done, bytes;
  gen_progress_fn progress;
  void *progress_ctx;
} df1_job;

/* The number of tasks the cutter will cut: every file's rows in row groups,
** an empty file as one task. */
static size_t count_tasks(const cutter *c) {
  size_t n = 0;
  for (uint64_t f = 0; f < c->nfiles; f++) {
    uint64_t s, e;
    file_range(c, f, &s, &e);
    n += e > s ? (size_t)((e - s - 1) / GEN_RG_ROWS + 1) : 1;
  }
  return n;
}

static int cut_one(df1_job *j, sj_error *err) {
  assert(j->ncut < j->ntasks && cutter_more(&j->cut));
  gen_task *t = cutter_next(&j->cut, j->p->rng == GEN_RNG_NOTEBOOK ? j->p->ngroups : 0);
  if (!t) return sj_fail(err, SJ_ENOMEM, "out of memory");
  j->tasks[j->ncut++] = t;
  return 0;
}

/* Notebook mode: draws key k whole, into the tasks cut so far and those it
** needs cut after them; `first` is the task holding its first row. */
static int draw_key(df1_job *j, uint64_t k, size_t first, sj_error *err) {
  const gen_params *p = j->p;
  const cutter *c = &j->cut;
  uint64_t s = c->key_start[k], e = c->key_start[k + 1];
  int rc = 0;
  while (!rc && j->tasks[j->ncut - 1]->row0 + j->tasks[j->ncut - 1]->rows < e) rc = cut_one(j, err);
  for (int g = 0; g <= p->ngroups && !rc; g++) {
    for (size_t i = first; i < j->ncut && j->tasks[i]->row0 < e && !rc; i++) {
      gen_task *t = j->tasks[i];
      uint64_t lo = s > t->row0 ? s : t->row0;
      uint64_t hi = e < t->row0 + t->rows ? e : t->row0 + t->rows;
      if (hi <= lo) continue;
      if (g < p->ngroups) {
        np_randint_offsets(j->rng, p->group_bounds[g] - 2, t->codes[g] + (lo - t->row0), hi - lo);
      } else {
        if (!t->value && !(t->value = malloc(t->rows * sizeof(double))))
          rc = sj_fail(err, SJ_ENOMEM, "out of memory");
        else
          np_random_fill(j->rng, t->value + (lo - t->row0), hi - lo);
      }
    }
  }
  return rc;
}

/* Task t's turn: cuts it unless a key drawn earlier already did, and in
** notebook mode draws every key that starts in it. */
static int take_turn(df1_job *j, size_t t, sj_error *err) {
  int rc = t < j->ncut ? 0 : cut_one(j, err);
  if (rc || j->p->rng != GEN_RNG_NOTEBOOK) return rc;
  const cutter *c = &j->cut;
  gen_task *task = j->tasks[t];
  while (!rc && j->drawn < c->df1_keys && c->key_start[j->drawn] < task->row0 + task->rows) {
    if (sj_stop_requested(j->stop)) return sj_fail(err, SJ_EINTR, "interrupted");
    rc = draw_key(j, j->drawn, t, err);
    j->drawn++;
  }
  return rc;
}

/* Parallel mode: every value a pure function of (seed, key, row, column). */
static int fill_parallel(const df1_job *j, gen_task *t, sj_error *err) {
  const gen_params *p = j->p;
  for (int g = 0; g < p->ngroups; g++)
    if (t->rows && !(t->codes[g] = malloc(t->rows * sizeof(uint16_t))))
      return sj_fail(err, SJ_ENOMEM, "out of memory");
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

static int encode_task(const df1_job *j, gen_task *t, worker_scratch *w, sj_error *err) {
  if (t->rows == 0) return 0;
  const gen_params *p = j->p;
  uint64_t at = 0;
  for (size_t r = 0; r < t->nruns; r++) {
    uint64_t b = t->run_offset[r] % p->buckets;
    for (uint64_t i = 0; i < t->runs[r].count; i++) {
      w->bucket[at++] = (int64_t)b + 1; /* np.resize(arange(1, buckets+1), n) */
      if (++b == p->buckets) b = 0;
    }
  }
  pq_vector v[GEN_MAX_GROUPS + 3];
  memset(v, 0, sizeof v);
  v[0] = (pq_vector){.kind = PQ_VEC_RUNS, .runs = t->runs, .run_count = t->nruns};
  v[1] = (pq_vector){.kind = PQ_VEC_I64, .i64 = w->bucket};
  for (int g = 0; g < p->ngroups; g++)
    v[2 + g] = (pq_vector){.kind = PQ_VEC_CODES, .codes = t->codes[g], .dict = j->dict[g],
                           .dict_len = p->group_bounds[g] - 1};
  v[2 + p->ngroups] = (pq_vector){.kind = PQ_VEC_F64, .f64 = t->value};
  return pq_rowgroup_encode(j->specs, j->ncols, v, t->rows, w->pq, &t->encoded, err);
}

/* The window's make: the turn, then filling (parallel mode) and encoding
** beside the next turn. */
static int df1_make(void *ctx, size_t t, int worker, sj_error *err) {
  df1_job *j = ctx;
  pthread_mutex_lock(&j->mu);
  while (j->turn != t) pthread_cond_wait(&j->cv, &j->mu);
  int broken = j->broken;
  pthread_mutex_unlock(&j->mu);
  int rc = broken ? sj_fail(err, SJ_EIO, "an earlier task failed") : take_turn(j, t, err);
  pthread_mutex_lock(&j->mu);
  j->turn = t + 1;
  if (rc) j->broken = 1;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  if (rc) return rc;

  worker_scratch *w = &j->workers[worker];
  if (!w->ready) {
    w->ready = 1;
    w->pq = pq_scratch_new();
    w->bucket = malloc(GEN_RG_ROWS * sizeof(int64_t));
  }
  if (!w->pq || !w->bucket) return sj_fail(err, SJ_ENOMEM, "out of memory");
  gen_task *task = j->tasks[t];
  if (j->p->rng == GEN_RNG_PARALLEL) rc = fill_parallel(j, task, err);
  if (!rc) rc = encode_task(j, task, w, err);
  /* The raw columns are not needed once encoded: free them early. */
  for (int g = 0; g < GEN_MAX_GROUPS; g++) { free(task->codes[g]); task->codes[g] = NULL; }
  free(task->value);
  task->value = NULL;
  return rc;
}

/* The window's write, in task order. */
static int df1_write(void *ctx, size_t i, sj_error *err) {
  df1_job *j = ctx;
  gen_task *t = j->tasks[i];
  int rc = 0;
  if (t->first_in_file) {
    char path[4096];
    gen_df1_path(j->p, j->dir, t->file, path, sizeof path);
    if ((rc = pq_file_open(&j->file, path, j->specs, j->ncols, err))) return rc;
    pq_file_defer_sync(j->file); /* gen_run syncs once, then marks the dataset complete */
    pq_file_mark_dataset(j->file, j->p->layout == GEN_LAYOUT_SINGLE ? PQ_MARKER_HERE : PQ_MARKER_ABOVE);
  }
  if (t->rows && (rc = pq_file_append(j->file, t->encoded, err))) return rc;
  if (t->last_in_file) {
    uint64_t bytes = 0;
    pq_file *f = j->file;
    j->file = NULL;
    if ((rc = pq_file_close(f, &bytes, err))) return rc;
    j->files_done++;
    j->bytes += bytes;
  }
  j->rows_done += t->rows;
  task_free(t);
  j->tasks[i] = NULL;
  if (j->progress) j->progress(j->progress_ctx, j->rows_done, j->cut.total);
  return 0;
}

/* ------------------------------------------------------------------ entry */

int gen_write_df1(const gen_params *p, np_rng *rng, const uint64_t *rows, uint64_t df1_keys,
                  const char *dir, gen_progress_fn progress, void *progress_ctx, const sj_stop *stop,
                  gen_report *report, uint64_t *files_done, sj_error *err) {
  df1_job *j = calloc(1, sizeof *j);
  uint64_t *key_start = malloc((df1_keys + 1) * sizeof *key_start);
  int rc = 0;
  if (!j || !key_start) { free(j); free(key_start); return sj_fail(err, SJ_ENOMEM, "out of memory"); }
  key_start[0] = 0;
  for (uint64_t k = 0; k < df1_keys; k++) key_start[k + 1] = key_start[k] + rows[k];
  uint64_t total = key_start[df1_keys];

  j->p = p;
  j->dir = dir;
  j->progress = progress;
  j->progress_ctx = progress_ctx;
  j->stop = stop;
  j->rng = rng;
  j->cut = (cutter){.p = p, .key_start = key_start, .df1_keys = df1_keys, .total = total,
                    .nfiles = gen_df1_files(p, df1_keys, total)};
  j->specs[0] = (pq_column_spec){"key", PQ_INT64, PQ_ENC_DICTIONARY, p->codec, 0, {0}};
  j->specs[1] = (pq_column_spec){"bucket", PQ_INT64, PQ_ENC_DELTA, p->codec, 0, {0}};
  for (int g = 0; g < p->ngroups; g++) {
    snprintf(j->names[g], sizeof j->names[g], "group%d", g + 1);
    j->specs[2 + g] = (pq_column_spec){j->names[g], PQ_INT64, PQ_ENC_DICTIONARY, p->codec, 0, {0}};
    uint32_t n = p->group_bounds[g] - 1;
    if (!(j->dict[g] = malloc(n * sizeof(int64_t)))) rc = sj_fail(err, SJ_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n && j->dict[g]; i++) j->dict[g][i] = (int64_t)i + 1;
  }
  /* Random doubles do not compress (measured: zstd saves under 4%, see the
  ** README), so value is always stored plain and uncompressed. */
  j->specs[2 + p->ngroups] = (pq_column_spec){"value", PQ_DOUBLE, PQ_ENC_PLAIN, PQ_CODEC_NONE, 0, {0}};
  j->ncols = p->ngroups + 3;
  j->ntasks = count_tasks(&j->cut);
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);

  sj_pool *pool = NULL;
  if (!rc) rc = sj_pool_new(&pool, p->threads, stop, err);
  if (!rc && (!(j->tasks = calloc(j->ntasks, sizeof *j->tasks)) ||
              !(j->workers = calloc((size_t)sj_pool_threads(pool), sizeof *j->workers))))
    rc = sj_fail(err, SJ_ENOMEM, "out of memory");
  sj_window w = {j, df1_make, df1_write};
  if (!rc) rc = sj_pool_ordered(pool, j->ntasks, &w, err);
  assert(rc || (j->ncut == j->ntasks && !cutter_more(&j->cut)));
  for (int i = 0; j->workers && i < sj_pool_threads(pool); i++) {
    pq_scratch_free(j->workers[i].pq);
    free(j->workers[i].bucket);
  }
  sj_pool_free(pool);

  pq_file_abort(j->file);
  for (size_t t = 0; j->tasks && t < j->ncut; t++) task_free(j->tasks[t]);
  report->df1_rows += j->rows_done;
  report->df1_files += j->files_done;
  report->bytes += j->bytes;
  *files_done = j->files_done;
  for (int g = 0; g < GEN_MAX_GROUPS; g++) free(j->dict[g]);
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  free(j->tasks);
  free(j->workers);
  free(j);
  free(key_start);
  return rc;
}
